import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { equalsLower } from './chars.ts';

const latin1Char = fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c));
const latin1String = fc.array(latin1Char, { maxLength: 20 }).map((a) => a.join(''));
const asciiLower = fc
  .array(
    fc.integer({ min: 0, max: 127 }).map((c) => String.fromCharCode(c).toLowerCase()),
    { maxLength: 20 },
  )
  .map((a) => a.join(''));

describe('equalsLower', () => {
  test('is toLowerCase() equality for latin1 input against a lowercase ASCII literal', () => {
    fc.assert(
      fc.property(latin1String, asciiLower, (s, lower) => {
        expect(equalsLower(s, lower)).toBe(s.toLowerCase() === lower);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(asciiLower, fc.array(fc.boolean()), (lower, upper) => {
        const mixed = [...lower].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join('');
        expect(equalsLower(mixed, lower)).toBe(true);
      }),
    );
  });

  test('examples', () => {
    expect(equalsLower('Content-Length', 'content-length')).toBe(true);
    expect(equalsLower('CONTENT-LENGTH', 'content-length')).toBe(true);
    expect(equalsLower('content_length', 'content-length')).toBe(false);
    expect(equalsLower('Hos', 'host')).toBe(false);
    expect(equalsLower('@', '`')).toBe(false);
  });
});
