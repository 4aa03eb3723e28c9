import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { compilePrefixRegex, compilePrefixRegexWith } from './regex.ts';

/** Reference: the backtracking engine, anchored at the start only (safe here: short inputs). */
function reference(src: string, input: string): boolean {
  return new RegExp(`^(?:${src})`).test(input);
}

const atom: fc.Arbitrary<string> = fc.constantFrom(
  'a',
  'b',
  'c',
  '1',
  '/',
  '-',
  '_',
  '.',
  '\\.',
  '\\/',
  '\\d',
  '\\D',
  '\\w',
  '\\W',
  '\\s',
  '\\S',
  '[a-c]',
  '[^b]',
  '[\\d_]',
  '[^\\w]',
  '[-a]',
  '[a-]',
  '\\x61',
  '\\u0062',
  '\\t',
  '\\n',
  '[\\b]',
  'é',
  '[à-ÿ]',
);
const assertion = fc.constantFrom('^', '$', '\\b', '\\B');
const quantifier = fc.constantFrom(
  '',
  '',
  '',
  '*',
  '+',
  '?',
  '*?',
  '+?',
  '??',
  '{2}',
  '{0,2}',
  '{1,}',
  '{1,3}?',
);

const pattern: fc.Arbitrary<string> = fc.letrec<{ re: string; term: string; group: string }>((tie) => ({
  re: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.array(tie('term'), { minLength: 0, maxLength: 3 }).map((ts) => ts.join('')),
    fc.tuple(tie('re'), tie('re')).map(([a, b]) => `${a}|${b}`),
  ),
  term: fc.oneof(
    { depthSize: 'small' },
    fc.tuple(atom, quantifier).map(([a, q]) => a + q),
    assertion,
    fc.tuple(tie('group'), quantifier).map(([g, q]) => g + q),
  ),
  group: fc.tuple(fc.constantFrom('(', '(?:', '(?<n>'), tie('re')).map(([o, r]) => `${o}${r})`),
})).re;

// Named groups may appear once per pattern in ECMAScript; rename duplicates.
function uniqueNames(src: string): string {
  let i = 0;
  return src.replaceAll('(?<n>', () => `(?<n${i++}>`);
}

const input = fc
  .array(fc.constantFrom('a', 'b', 'c', '1', '/', '-', '_', ' ', '\n', '\t', 'é', '.', '\b'), {
    maxLength: 12,
  })
  .map((cs) => cs.join(''));

describe('compilePrefixRegex', () => {
  test('agrees with the ECMAScript engine on random dialect patterns and inputs', () => {
    fc.assert(
      fc.property(
        pattern.map(uniqueNames),
        fc.array(input, { minLength: 1, maxLength: 8 }),
        (src, inputs) => {
          const m = compilePrefixRegex(src);
          for (const s of inputs) {
            if (m.test(s) !== reference(src, s)) {
              throw new Error(`pattern ${JSON.stringify(src)} input ${JSON.stringify(s)}: got ${m.test(s)}`);
            }
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  test('the lazy DFA agrees with the NFA on long inputs (state reuse, cache bound)', () => {
    const longInput = fc
      .array(fc.constantFrom('a', 'b', '1', '/', '-', ' ', '\n', 'é', '_'), { maxLength: 300 })
      .map((cs) => cs.join(''));
    fc.assert(
      fc.property(
        pattern.map(uniqueNames),
        fc.array(longInput, { minLength: 1, maxLength: 6 }),
        (src, inputs) => {
          const dfa = compilePrefixRegexWith(src, 'auto');
          const nfa = compilePrefixRegexWith(src, 'nfa');
          for (const s of inputs) {
            if (dfa.test(s) !== nfa.test(s))
              throw new Error(`pattern ${JSON.stringify(src)} input ${JSON.stringify(s)}`);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  test('SMI semantics: anchored at the start only', () => {
    const m = compilePrefixRegex('/api');
    expect(m.test('/api/v1')).toBe(true);
    expect(m.test('/x/api')).toBe(false);
    const e = compilePrefixRegex('/api/v[0-9]+/cart(/.*)?$');
    expect(e.test('/api/v12/cart')).toBe(true);
    expect(e.test('/api/v12/cart/items/3')).toBe(true);
    expect(e.test('/api/v12/carts')).toBe(false);
    expect(compilePrefixRegex('.*Android.*').test('Mozilla (Linux; Android 14)')).toBe(true);
    expect(compilePrefixRegex('').test('anything')).toBe(true);
    expect(compilePrefixRegex('^(.*?;)?(type=insider)(;.*)?$').test('a=b;type=insider;c=d')).toBe(true);
  });

  test('classes, escapes and assertions', () => {
    expect(compilePrefixRegex('[^/]+$').test('abc')).toBe(true);
    expect(compilePrefixRegex('[^/]+$').test('ab/c')).toBe(false);
    expect(compilePrefixRegex('a.b').test('a\nb')).toBe(false);
    expect(compilePrefixRegex('a\\sb').test('a\u3000b')).toBe(true);
    expect(compilePrefixRegex('\\bfoo\\b').test('foo bar')).toBe(true);
    expect(compilePrefixRegex('\\bfoo\\b').test('foobar')).toBe(false);
    expect(compilePrefixRegex('x{3}').test('xx')).toBe(false);
    expect(compilePrefixRegex('x{3}').test('xxx')).toBe(true);
  });

  test('refuses patterns outside the dialect with the reason', () => {
    expect(() => compilePrefixRegex('(a)\\1')).toThrow(/backreferences/);
    expect(() => compilePrefixRegex('(?=a)')).toThrow(/lookahead/);
    expect(() => compilePrefixRegex('(?i)a')).toThrow(/inline flags/);
  });

  test('a pattern whose DFA outgrows the state cache falls back to the NFA with the same answers', () => {
    // (a|b)*a(a|b){8}: the DFA needs 2^9 states, far more than MAX_DFA_STATES.
    const src = '(a|b)*a(a|b){8}$';
    const m = compilePrefixRegex(src);
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b'), { maxLength: 40 }), (cs) => {
        const s = cs.join('');
        expect(m.test(s)).toBe(reference(src, s));
      }),
      { numRuns: 500 },
    );
  });

  test('end-of-input assertions in the DFA: $ inside groups, ^ after $, empty input', () => {
    for (const [src, yes, no] of [
      ['(a$|ab)', ['a', 'ab', 'abc'], ['ac', '']],
      ['$^', [''], ['a']],
      ['a*$', ['', 'aaa'], ['ab']],
      ['(?:x|$)+y?', ['', 'x', 'xy', 'xq'], ['q']],
    ] as const) {
      const m = compilePrefixRegex(src);
      for (const s of yes) expect([src, s, m.test(s)]).toEqual([src, s, true]);
      for (const s of no) expect([src, s, m.test(s)]).toEqual([src, s, false]);
      for (const s of [...yes, ...no]) expect(m.test(s)).toBe(reference(src, s));
    }
  });

  test('a large program whose DFA states outgrow the size bound still answers like RegExp', () => {
    const src = '.{0,1000}x$';
    const m = compilePrefixRegex(src);
    for (const n of [10, 300, 999, 1000, 1001, 1500]) {
      for (const s of [`${'a'.repeat(n)}x`, `${'a'.repeat(n)}xy`, 'a'.repeat(n)])
        expect(m.test(s)).toBe(reference(src, s));
    }
  });

  test('many distinct non-ASCII units: same answers past the transition cache bound', () => {
    const src = '[^/]*\u00e9[à-ÿ]+$';
    const m = compilePrefixRegex(src);
    let input = '';
    for (let c = 0x100; c < 0x100 + 600; c++) input += String.fromCharCode(c);
    for (const s of [`${input}éà`, `${input}é`, `${input}é/à`, `x${input}éàá`])
      expect(m.test(s)).toBe(reference(src, s));
  });

  test('pathological patterns answer without backtracking', () => {
    // (a*)*b and (a|a)*b over "aaaa...a" are exponential for a backtracking engine.
    const evil = 'a'.repeat(20_000);
    expect(compilePrefixRegex('(a*)*b').test(evil)).toBe(false);
    expect(compilePrefixRegex('(a|a)*b').test(evil)).toBe(false);
    expect(compilePrefixRegex('(a|aa)+$').test(`${evil}!`)).toBe(false);
    expect(compilePrefixRegex('(.*a){20}$').test(`${evil}!`)).toBe(false);
  });
});
