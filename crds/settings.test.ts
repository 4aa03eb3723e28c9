import { expect, test } from '@jest/globals';
import { parseBoolean, parseList, parseWholeNumber } from './settings.ts';

test('whole numbers: digits only, within the range; the error quotes the text as given', () => {
  expect(parseWholeNumber('80', 0, 65535, 'a port')).toEqual({ ok: true, value: 80 });
  expect(parseWholeNumber('65536', 0, 65535, 'a port')).toEqual({
    ok: false,
    error: '"65536" is not a port',
  });
  for (const text of ['1e4', '0x10', '20000.5', '-1', '', ' 80'])
    expect(parseWholeNumber(text, 0, 65535, 'a port').ok).toBe(false);
  expect(parseWholeNumber(' 80 ', 0, 65535, 'a port', true)).toEqual({ ok: true, value: 80 });
  expect(parseWholeNumber(' 1 ', 2, 3600, '2..3600 seconds', true)).toEqual({
    ok: false,
    error: '" 1 " is not 2..3600 seconds',
  });
});

test('booleans: true or 1, false or 0', () => {
  expect(parseBoolean('true')).toEqual({ ok: true, value: true });
  expect(parseBoolean('1')).toEqual({ ok: true, value: true });
  expect(parseBoolean('false')).toEqual({ ok: true, value: false });
  expect(parseBoolean('0')).toEqual({ ok: true, value: false });
  expect(parseBoolean('yes')).toEqual({ ok: false, error: '"yes" is not true or false' });
});

test('lists: comma-separated, trimmed, without empty items', () => {
  expect(parseList(' a , ,b,')).toEqual(['a', 'b']);
  expect(parseList('')).toEqual([]);
});
