import { describe, expect, test } from '@jest/globals';
import { h2HeadError } from './h2-head.ts';

const base = [':method', 'GET', ':path', '/a', ':scheme', 'http', ':authority', 'web'];

describe('h2HeadError', () => {
  test('a head within both limits passes; pseudo-headers are not counted as fields', () => {
    expect(
      h2HeadError([...base, 'x', '1', 'y', '2'], { maxHeaderBytes: 1024, maxHeaderCount: 2 }),
    ).toBeNull();
  });

  test('one field more than maxHeaderCount is refused as too-many-headers', () => {
    const err = h2HeadError([...base, 'x', '1', 'y', '2', 'z', '3'], {
      maxHeaderBytes: 1024,
      maxHeaderCount: 2,
    });
    expect(err).toEqual({ code: 'too-many-headers', detail: 'more than 2 header fields' });
  });

  test('bytes: pseudo-header values plus 13 (the request line and final CRLF), "name: value\\r\\n" per field', () => {
    const fields = [':method', 'GET', ':path', '/a', ':authority', 'web', 'x', '1'];
    const size = 3 + 2 + 3 + 13 + 6;
    expect(h2HeadError(fields, { maxHeaderBytes: size, maxHeaderCount: 10 })).toBeNull();
    expect(h2HeadError(fields, { maxHeaderBytes: size - 1, maxHeaderCount: 10 })?.code).toBe(
      'head-too-large',
    );
  });
});
