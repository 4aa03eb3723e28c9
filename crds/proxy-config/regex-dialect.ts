// The Weft regex dialect: the subset of ECMAScript regular expressions accepted in route matches
// (HTTPRouteGroup pathRegex and header values). It is part of the proxy config contract so that the
// validating webhook, the compiler and the proxy agree on what is legal without importing each other.
//
// Why a subset: user regexes run on the proxy's hot path against attacker-controlled input, so every
// accepted pattern must run in time linear in the input. The proxy compiles the translated pattern to its own
// automaton (proxy-image/src/core/regex.ts: a Thompson NFA with a lazily built DFA, no backtracking). The
// dialect refuses backreferences and lookaround, which no linear-time engine can run, and rewrites counted
// repetition (`x{2,40}`) into plain copies. It also refuses syntax that silently means something else in RE2, Go or Rust
// (`\z`, `[[:alpha:]]`, `(?i)`, `{,5}`), because users copy route regexes from other meshes.

/** Longest pattern accepted, in UTF-16 code units. */
export const MAX_REGEX_SOURCE_LENGTH = 1024;
/** Largest repetition bound accepted in `{n}`, `{n,}`, `{n,m}` (same as RE2). */
export const MAX_REGEX_REPEAT = 1000;
/** Upper bound on the size of the linear program after counted repetition is expanded. */
export const MAX_REGEX_PROGRAM_SIZE = 4096;
const MAX_GROUP_DEPTH = 32;

export type RegexClassification = { ok: true } | { ok: false; reason: string; position: number };

export type RegexTranslation =
  | { ok: true; linearSource: string; programSize: number }
  | { ok: false; reason: string; position: number };

/** Decides whether `src` is in the Weft regex dialect (and so safe for linear-time matching). */
export function classifyRegex(src: string): RegexClassification {
  const t = translateRegex(src);
  return t.ok ? { ok: true } : { ok: false, reason: t.reason, position: t.position };
}

/**
 * Translates a dialect pattern into an equivalent core source (the proxy's matcher parses it; it is also valid
 * ECMAScript, and `new RegExp` checks that): captures become
 * non-capturing groups, lazy quantifiers become greedy (same language, and the proxy only tests for a
 * match) and counted repetition is expanded. The result is not anchored.
 */
export function translateRegex(src: string): RegexTranslation {
  if (typeof src !== 'string') return fail('pattern must be a string', 0);
  if (src.length > MAX_REGEX_SOURCE_LENGTH) {
    return fail(`pattern is longer than ${MAX_REGEX_SOURCE_LENGTH} characters`, MAX_REGEX_SOURCE_LENGTH);
  }
  const parser = new DialectParser(src);
  try {
    const node = parser.parseDisjunction(0);
    if (parser.pos < src.length) {
      // Only an unbalanced ')' stops the top-level disjunction early.
      throw new DialectError('unmatched ")"', parser.pos);
    }
    const size = programSize(node);
    if (size > MAX_REGEX_PROGRAM_SIZE) {
      return fail(
        `pattern expands to ${size} states after counted repetition, more than ${MAX_REGEX_PROGRAM_SIZE}; use fewer or smaller {n,m} bounds`,
        0,
      );
    }
    const linearSource = emit(node);
    // Backstop: the standard engine must also parse what we accepted and what we produce.
    try {
      new RegExp(src);
      new RegExp(linearSource);
    } catch (e) {
      return fail(`not a valid ECMAScript regular expression: ${(e as Error).message}`, 0);
    }
    return { ok: true, linearSource, programSize: size };
  } catch (e) {
    if (e instanceof DialectError) return fail(e.message, e.position);
    throw e;
  }
}

function fail(reason: string, position: number): { ok: false; reason: string; position: number } {
  return { ok: false, reason, position };
}

class DialectError extends Error {
  readonly position: number;
  constructor(message: string, position: number) {
    super(message);
    this.position = position;
  }
}

// Syntax tree. Leaves keep their source text, which is already valid in the linear engine.
type RegexNode =
  | { type: 'alt'; alternatives: RegexNode[][] }
  | { type: 'leaf'; text: string }
  | { type: 'assertion'; text: string }
  | { type: 'group'; body: RegexNode }
  | { type: 'repeat'; body: RegexNode; min: number; max: number }; // max = Infinity when unbounded

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

function isHex(c: string | undefined): boolean {
  return c !== undefined && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'));
}

function isAsciiLetter(c: string | undefined): boolean {
  return c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
}

// Punctuation that may be escaped to stand for itself. Letters and digits may not: `\z`, `\A`, `\1`
// mean different things in different engines.
function isEscapablePunctuation(c: string): boolean {
  const code = c.charCodeAt(0);
  return (
    c.length === 1 && code >= 0x21 && code <= 0x7e && !isAsciiLetter(c) && !isDigit(c) // '_' is allowed: it is an identity escape everywhere
  );
}

class DialectParser {
  readonly src: string;
  pos = 0;

  constructor(src: string) {
    this.src = src;
  }

  private peek(offset = 0): string | undefined {
    return this.src[this.pos + offset];
  }

  parseDisjunction(depth: number): RegexNode {
    const alternatives: RegexNode[][] = [this.parseAlternative(depth)];
    while (this.peek() === '|') {
      this.pos++;
      alternatives.push(this.parseAlternative(depth));
    }
    return { type: 'alt', alternatives };
  }

  private parseAlternative(depth: number): RegexNode[] {
    const terms: RegexNode[] = [];
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === '|' || c === ')') return terms;
      terms.push(this.parseTerm(depth));
    }
  }

  private parseTerm(depth: number): RegexNode {
    const start = this.pos;
    const c = this.peek()!;
    if (c === '^' || c === '$') {
      this.pos++;
      return this.noQuantifierAfterAssertion({ type: 'assertion', text: c });
    }
    if (c === '\\' && (this.peek(1) === 'b' || this.peek(1) === 'B')) {
      this.pos += 2;
      return this.noQuantifierAfterAssertion({ type: 'assertion', text: this.src.slice(start, this.pos) });
    }
    const atom = this.parseAtom(depth);
    return this.parseQuantifier(atom);
  }

  private noQuantifierAfterAssertion(node: RegexNode): RegexNode {
    const q = this.peek();
    if (q === '*' || q === '+' || q === '?' || q === '{') {
      throw new DialectError('an assertion (^, $, \\b, \\B) cannot be repeated', this.pos);
    }
    return node;
  }

  private parseAtom(depth: number): RegexNode {
    const start = this.pos;
    const c = this.peek()!;
    switch (c) {
      case '.':
        this.pos++;
        return { type: 'leaf', text: '.' };
      case '(':
        return this.parseGroup(depth);
      case '[':
        return this.parseClass();
      case '\\':
        this.parseAtomEscape();
        return { type: 'leaf', text: this.src.slice(start, this.pos) };
      case '*':
      case '+':
      case '?':
        throw new DialectError(`nothing to repeat before "${c}"`, start);
      case '{':
        throw new DialectError('a literal "{" must be escaped as "\\{"', start);
      case '}':
        throw new DialectError('a literal "}" must be escaped as "\\}"', start);
      case ']':
        throw new DialectError('a literal "]" must be escaped as "\\]"', start);
      default:
        return { type: 'leaf', text: this.takeLiteral() };
    }
  }

  private takeLiteral(): string {
    const code = this.src.charCodeAt(this.pos);
    if (code >= 0xd800 && code <= 0xdfff) {
      // Without the `u` flag a surrogate pair is two units; a quantifier would apply to half of it.
      throw new DialectError('characters outside the Basic Multilingual Plane are not supported', this.pos);
    }
    const ch = this.src[this.pos]!;
    this.pos++;
    return ch;
  }

  private parseGroup(depth: number): RegexNode {
    const start = this.pos;
    if (depth >= MAX_GROUP_DEPTH)
      throw new DialectError(`groups nested deeper than ${MAX_GROUP_DEPTH}`, start);
    this.pos++; // '('
    if (this.peek() === '?') {
      const next = this.peek(1);
      if (next === ':') {
        this.pos += 2;
      } else if (next === '=' || next === '!') {
        throw new DialectError('lookahead assertions are not supported (not linear-time)', start);
      } else if (next === '<' && (this.peek(2) === '=' || this.peek(2) === '!')) {
        throw new DialectError('lookbehind assertions are not supported', start);
      } else if (next === '<' || next === 'P') {
        // Named group: (?<name>...) in ECMAScript; (?P<name>...) is the RE2/Python spelling.
        if (next === 'P') throw new DialectError('use (?<name>...) instead of (?P<name>...)', start);
        this.pos += 2;
        const nameStart = this.pos;
        while (this.pos < this.src.length && /[A-Za-z0-9_$]/.test(this.src[this.pos]!)) this.pos++;
        if (this.pos === nameStart || isDigit(this.src[nameStart]) || this.peek() !== '>') {
          throw new DialectError('invalid group name', nameStart);
        }
        this.pos++; // '>'
      } else {
        throw new DialectError('inline flags and modifiers such as (?i) are not supported', start);
      }
    }
    const body = this.parseDisjunction(depth + 1);
    if (this.peek() !== ')') throw new DialectError('unterminated group', start);
    this.pos++;
    return { type: 'group', body };
  }

  private parseQuantifier(atom: RegexNode): RegexNode {
    const start = this.pos;
    const c = this.peek();
    let min: number;
    let max: number;
    if (c === '*') {
      min = 0;
      max = Infinity;
      this.pos++;
    } else if (c === '+') {
      min = 1;
      max = Infinity;
      this.pos++;
    } else if (c === '?') {
      min = 0;
      max = 1;
      this.pos++;
    } else if (c === '{') {
      this.pos++;
      if (this.peek() === ',') {
        throw new DialectError('"{,n}" is not a quantifier in ECMAScript; write "{0,n}"', start);
      }
      min = this.readBound(start);
      max = min;
      if (this.peek() === ',') {
        this.pos++;
        max = this.peek() === '}' ? Infinity : this.readBound(start);
      }
      if (this.peek() !== '}') throw new DialectError('malformed repetition, expected "}"', this.pos);
      this.pos++;
      if (max < min) throw new DialectError(`repetition {${min},${max}} has max below min`, start);
    } else {
      return atom;
    }
    if (this.peek() === '?') this.pos++; // lazy: same language
    const q = this.peek();
    if (q === '*' || q === '+' || q === '?' || q === '{') {
      throw new DialectError('a quantifier cannot follow a quantifier; group the expression first', this.pos);
    }
    return { type: 'repeat', body: atom, min, max };
  }

  private readBound(quantifierStart: number): number {
    const start = this.pos;
    while (isDigit(this.peek())) this.pos++;
    if (this.pos === start) throw new DialectError('malformed repetition, expected a number', start);
    const text = this.src.slice(start, this.pos);
    if (text.length > 4 || Number(text) > MAX_REGEX_REPEAT) {
      throw new DialectError(`repetition bound ${text} is larger than ${MAX_REGEX_REPEAT}`, quantifierStart);
    }
    return Number(text);
  }

  // After '\', outside a class. Leaves pos after the escape.
  private parseAtomEscape(): void {
    const start = this.pos;
    this.pos++; // '\'
    const c = this.peek();
    if (c === undefined) throw new DialectError('pattern ends with "\\"', start);
    if (isDigit(c) && c !== '0') throw new DialectError('backreferences are not supported', start);
    if (c === 'k') throw new DialectError('named backreferences are not supported', start);
    this.parseCommonEscape(start, false);
  }

  // Escapes valid both inside and outside classes (plus \b inside a class). Leaves pos after the escape.
  // Returns the code unit it denotes, or -1 for a class escape (\d \w \s and negations).
  private parseCommonEscape(start: number, inClass: boolean): number {
    const c = this.peek()!;
    this.pos++;
    switch (c) {
      case 'd':
      case 'D':
      case 'w':
      case 'W':
      case 's':
      case 'S':
        return -1;
      case 't':
        return 9;
      case 'n':
        return 10;
      case 'v':
        return 11;
      case 'f':
        return 12;
      case 'r':
        return 13;
      case 'b':
        if (inClass) return 8;
        break;
      case '0':
        if (isDigit(this.peek())) throw new DialectError('octal escapes are not supported', start);
        return 0;
      case 'x': {
        if (!isHex(this.peek()) || !isHex(this.peek(1))) {
          throw new DialectError('\\x must be followed by two hex digits', start);
        }
        this.pos += 2;
        return Number.parseInt(this.src.slice(this.pos - 2, this.pos), 16);
      }
      case 'u': {
        if (this.peek() === '{')
          throw new DialectError('\\u{...} needs the unicode flag; use \\uXXXX', start);
        for (let i = 0; i < 4; i++) {
          if (!isHex(this.peek(i))) throw new DialectError('\\u must be followed by four hex digits', start);
        }
        this.pos += 4;
        const unit = Number.parseInt(this.src.slice(this.pos - 4, this.pos), 16);
        if (unit >= 0xd800 && unit <= 0xdfff) {
          throw new DialectError('surrogate code units are not supported', start);
        }
        return unit;
      }
      case 'c': {
        const letter = this.peek();
        if (!isAsciiLetter(letter)) throw new DialectError('\\c must be followed by a letter', start);
        this.pos++;
        return letter!.charCodeAt(0) % 32;
      }
      case 'p':
      case 'P':
        throw new DialectError('unicode property escapes (\\p{...}) are not supported', start);
      default:
        break;
    }
    if (isEscapablePunctuation(c)) return c.charCodeAt(0);
    throw new DialectError(`unsupported escape "\\${c}"`, start);
  }

  private parseClass(): RegexNode {
    const start = this.pos;
    this.pos++; // '['
    if (this.peek() === '^') this.pos++;
    if (this.peek() === ']') {
      throw new DialectError('empty character class; a literal "]" must be escaped as "\\]"', start);
    }
    for (;;) {
      const c = this.peek();
      if (c === undefined) throw new DialectError('unterminated character class', start);
      if (c === ']') {
        this.pos++;
        return { type: 'leaf', text: this.src.slice(start, this.pos) };
      }
      const lowPos = this.pos;
      const low = this.parseClassAtom();
      if (this.peek() === '-' && this.peek(1) !== ']' && this.peek(1) !== undefined) {
        this.pos++; // '-'
        const high = this.parseClassAtom();
        if (low < 0 || high < 0) {
          throw new DialectError('a class escape (\\d, \\w, \\s) cannot bound a range', lowPos);
        }
        if (high < low) throw new DialectError('range out of order in character class', lowPos);
      }
    }
  }

  // Returns the code unit, or -1 for a class escape.
  private parseClassAtom(): number {
    const start = this.pos;
    const c = this.peek()!;
    if (c === '\\') {
      this.pos++;
      if (this.peek() === undefined) throw new DialectError('pattern ends with "\\"', start);
      if (isDigit(this.peek()) && this.peek() !== '0') {
        throw new DialectError('backreferences and octal escapes are not supported', start);
      }
      return this.parseCommonEscape(start, true);
    }
    if (c === '[' && (this.peek(1) === ':' || this.peek(1) === '=' || this.peek(1) === '.')) {
      throw new DialectError('POSIX classes such as [[:alpha:]] are not supported; use [a-zA-Z]', start);
    }
    const code = this.src.charCodeAt(this.pos);
    if (code >= 0xd800 && code <= 0xdfff) {
      throw new DialectError('characters outside the Basic Multilingual Plane are not supported', start);
    }
    this.pos++;
    return code;
  }
}

function programSize(node: RegexNode): number {
  switch (node.type) {
    case 'leaf':
    case 'assertion':
      return 1;
    case 'group':
      return programSize(node.body);
    case 'alt': {
      let total = 0;
      for (const alt of node.alternatives) for (const term of alt) total += programSize(term);
      return Math.max(total, 1);
    }
    case 'repeat': {
      const copies = node.max === Infinity ? Math.max(node.min, 1) : Math.max(node.max, 1);
      return programSize(node.body) * copies;
    }
  }
}

function emit(node: RegexNode): string {
  switch (node.type) {
    case 'leaf':
    case 'assertion':
      return node.text;
    case 'group':
      return `(?:${emit(node.body)})`;
    case 'alt':
      return node.alternatives.map((alt) => alt.map(emit).join('')).join('|');
    case 'repeat': {
      // Leaves and groups are single atoms, so a quantifier can follow them directly.
      const atom = emit(node.body);
      const { min, max } = node;
      if (min === 0 && max === Infinity) return `${atom}*`;
      if (min === 1 && max === Infinity) return `${atom}+`;
      if (min === 0 && max === 1) return `${atom}?`;
      // Counted repetition: V8's linear engine refuses nested bounds whose product exceeds 16, so spell
      // the copies out: x{2,4} -> xxx?x?, x{3,} -> xxx+. Same language, still a single atom each.
      let out = '';
      if (max === Infinity) {
        for (let i = 0; i < min - 1; i++) out += atom;
        return `(?:${out}${atom}+)`;
      }
      for (let i = 0; i < min; i++) out += atom;
      for (let i = min; i < max; i++) out += `${atom}?`;
      return `(?:${out})`;
    }
  }
}
