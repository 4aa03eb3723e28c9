import { setFlagsFromString } from 'node:v8';
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { classifyRegex, MAX_REGEX_SOURCE_LENGTH, translateRegex } from './regex-dialect.ts';

// Lets this worker construct `l` (linear engine) regexps, as the proxy does with the command-line flag.
setFlagsFromString('--enable-experimental-regexp-engine');

function linear(src: string): RegExp {
  const t = translateRegex(src);
  if (!t.ok) throw new Error(t.reason);
  return new RegExp(`^(?:${t.linearSource})`, 'l');
}

describe('classifyRegex accepts the dialect', () => {
  test.each([
    '/metrics',
    '/ping',
    '.*Android.*',
    '^(.*?;)?(type=insider)(;.*)?$',
    '/api/v[0-9]+/users/[^/]+$',
    '/books-bought',
    '.*a-book.*new',
    '(?<version>v[12])/x',
    '[a-zA-Z0-9_-]{1,63}',
    '[0-9a-f]{32}',
    '(a+)+$',
    '\\d\\D\\w\\W\\s\\S\\t\\n\\r\\f\\v\\0',
    '\\x41\\u00e9\\cJ',
    '\\.\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\/\\-\\^\\$\\\\',
    '[\\b\\-\\]]',
    '[-a]',
    '[a-]',
    '\\bword\\B',
    'x{0,0}y{2}z{3,}',
    'a*?b+?c??d{1,2}?',
    '',
    '|',
    '(|a)',
    'é',
  ])('%j', (src) => {
    expect(classifyRegex(src)).toEqual({ ok: true });
    expect(() => linear(src)).not.toThrow();
  });
});

describe('classifyRegex rejects with a reason and position', () => {
  test.each([
    ['(a)\\1', /backreference/, 3],
    ['(?<n>a)\\k<n>', /named backreference/, 7],
    ['(?=a)a', /lookahead/, 0],
    ['x(?!a)', /lookahead/, 1],
    ['(?<=a)b', /lookbehind/, 0],
    ['(?<!a)b', /lookbehind/, 0],
    ['(?i)abc', /inline flags/, 0],
    ['(?i:abc)', /inline flags/, 0],
    ['(?P<n>a)', /\(\?<name>/, 0],
    ['\\z', /unsupported escape/, 0],
    ['\\A', /unsupported escape/, 0],
    ['\\p{L}', /property/, 0],
    ['\\u{1F600}', /unicode flag/, 0],
    ['[[:alpha:]]', /POSIX/, 1],
    ['a{,5}', /\{0,n\}/, 1],
    ['a{1001}', /larger than 1000/, 1],
    ['a{5,2}', /max below min/, 1],
    ['a{2', /expected "\}"/, 3],
    ['{', /escaped/, 0],
    ['}', /escaped/, 0],
    [']', /escaped/, 0],
    ['[]', /empty character class/, 0],
    ['[^]', /empty character class/, 0],
    ['[z-a]', /out of order/, 1],
    ['[\\d-z]', /cannot bound a range/, 1],
    ['(abc', /unterminated group/, 0],
    ['abc)', /unmatched/, 3],
    ['[abc', /unterminated character class/, 0],
    ['*a', /nothing to repeat/, 0],
    ['a**', /cannot follow a quantifier/, 2],
    ['^*', /assertion/, 1],
    ['\\b+', /assertion/, 2],
    ['abc\\', /ends with/, 3],
    ['\\012', /octal/, 0],
    ['\\x4', /two hex digits/, 0],
    ['\\ud83d', /surrogate/, 0],
    ['😀', /Basic Multilingual Plane/, 0],
  ])('%j', (src, reason, position) => {
    const c = classifyRegex(src);
    expect(c.ok).toBe(false);
    if (!c.ok) {
      expect(c.reason).toMatch(reason);
      expect(c.position).toBe(position);
    }
  });

  test('too long', () => {
    const c = classifyRegex('a'.repeat(MAX_REGEX_SOURCE_LENGTH + 1));
    expect(c).toMatchObject({ ok: false, reason: expect.stringMatching(/longer than/) });
  });

  test('too large after expanding counted repetition', () => {
    expect(classifyRegex('((a{100}){100}){100}')).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/expands/),
    });
    expect(classifyRegex('(a{64}){64}')).toEqual({ ok: true });
  });

  test('group nesting is bounded', () => {
    expect(classifyRegex(`${'('.repeat(40)}a${')'.repeat(40)}`)).toMatchObject({ ok: false });
    expect(classifyRegex(`${'('.repeat(30)}a${')'.repeat(30)}`)).toEqual({ ok: true });
  });
});

describe('translation to the linear engine', () => {
  test('expands counted repetition beyond the linear engine limit of 16', () => {
    const t = translateRegex('[0-9a-f]{32}');
    expect(t.ok).toBe(true);
    const re = linear('[0-9a-f]{32}$');
    expect(re.test('0123456789abcdef0123456789abcdef')).toBe(true);
    expect(re.test('0123456789abcdef0123456789abcde')).toBe(false);
    expect(linear('(a{2}b){20}$').test('aab'.repeat(20))).toBe(true);
    expect(linear('(a{2}b){20}$').test('aab'.repeat(19))).toBe(false);
  });

  test('linear source matches exactly what the original means (differential, generated patterns)', () => {
    const atom = fc.constantFrom('a', 'b', '.', '[ab]', '[^a]', '\\d', '1', '/', '\\/', '[a-c1]');
    const quant = fc.constantFrom('', '', '*', '+', '?', '{2}', '{0,3}', '{1,}', '{2,4}?', '*?');
    const regex = fc.letrec((tie) => ({
      term: fc.oneof(
        { weight: 4, arbitrary: fc.tuple(atom, quant).map(([a, q]) => a + q) },
        { weight: 1, arbitrary: fc.tuple(tie('alt'), quant).map(([d, q]) => `(${d})${q}`) },
        { weight: 1, arbitrary: fc.constantFrom('^', '$', '\\b') },
      ),
      seq: fc.array(tie('term'), { minLength: 0, maxLength: 4 }).map((ts) => (ts as string[]).join('')),
      alt: fc.array(tie('seq'), { minLength: 1, maxLength: 3 }).map((ss) => (ss as string[]).join('|')),
    })).alt as fc.Arbitrary<string>;
    const input = fc.string({ unit: fc.constantFrom('a', 'b', 'c', '1', '/', '\n'), maxLength: 12 });
    fc.assert(
      fc.property(regex, fc.array(input, { minLength: 1, maxLength: 8 }), (src, inputs) => {
        expect(classifyRegex(src)).toEqual({ ok: true });
        const reference = new RegExp(`^(?:${src})`);
        const re = linear(src);
        for (const s of inputs) expect(re.test(s)).toBe(reference.test(s));
      }),
      { numRuns: 400, seed: 42 },
    );
  });

  test('random input never throws and everything accepted compiles in both engines', () => {
    const chars = fc.constantFrom(...'ab()[]{}|*+?.^$\\-,:=!<>P0123456789dkuxcpbBzi/'.split(''));
    fc.assert(
      fc.property(fc.string({ unit: chars, maxLength: 24 }), (src) => {
        const t = translateRegex(src);
        if (t.ok) {
          expect(() => new RegExp(src)).not.toThrow();
          expect(() => new RegExp(t.linearSource, 'l')).not.toThrow();
        }
      }),
      { numRuns: 3000, seed: 7 },
    );
  });
});
