import { describe, expect, test } from '@jest/globals';
import { parseDurationMs } from './duration.ts';

describe('parseDurationMs', () => {
  test.each([
    ['500ms', 500],
    ['10s', 10_000],
    ['1m30s', 90_000],
    ['1.5s', 1500],
    ['2h', 7_200_000],
    ['0.5ms', 1],
    [' 3s ', 3000],
    ['1h0m1s', 3_601_000],
    ['2.007s', 2007],
    ['0.001s', 1],
    ['99.999s', 99_999],
    // 400 fraction digits: read as digits over a power of ten, this was Infinity / Infinity, a NaN that passed
    // every check and made the Service fail the proxy config contract.
    [`0.${'1'.repeat(400)}s`, 112],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDurationMs(text)).toEqual({ ok: true, ms });
  });

  test.each([
    ['', 'empty duration'],
    ['30', 'is not a duration'],
    ['-1s', 'is not a duration'],
    ['1 s', 'is not a duration'],
    ['1d', 'is not a duration'],
    ['1s junk', 'is not a duration'],
    ['0s', 'not a positive duration'],
    ['25h', 'longer than 86400s'],
    [`${'1'.repeat(400)}s`, 'longer than 86400s'],
  ])('"%s" is refused (%s)', (text, message) => {
    const r = parseDurationMs(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain(message);
  });

  test('the bound is the caller’s', () => {
    expect(parseDurationMs('2s', 1000)).toEqual({ ok: false, error: '"2s" is longer than 1s' });
  });
});
