// Route regexes: a dialect pattern (crds/proxy-config/regex-dialect.ts) compiled to a prefix matcher that
// runs in O(input length * program size) time whatever the pattern and input: a Thompson NFA simulated
// over state sets (no backtracking), so a hostile path cannot make matching exponential.
//
// Hot-path speed comes from a lazily built DFA over the same program (states are sets of NFA states,
// built on first use and cached, at most MAX_DFA_STATES per pattern and a bounded total size). When the
// cache is full, or the pattern uses \b / \B (which need the previous character), matching falls back to
// the NFA simulation: still linear, only slower.
//
// SMI anchors route regexes at the start of the input only ("/api" matches "/api/v1"), so the simulation
// starts one thread at offset 0 and answers true as soon as any thread reaches the end of the program.
//
// The pattern is first put through the dialect's translateRegex, which validates it and rewrites it into a
// small core syntax (no captures, no lazy or counted quantifiers): literals, escapes, classes, ".",
// "^", "$", "\b", "\B", "(?:...)", "|", "*", "+", "?". That core is parsed here. Semantics are ECMAScript's
// without flags: UTF-16 code units, case-sensitive, "." excludes line terminators, "^"/"$" are input
// boundaries.

import { translateRegex } from '../../../crds/proxy-config/regex-dialect.ts';

/** A compiled route regex: true when the pattern matches a prefix of `input`. */
export interface PrefixMatcher {
  readonly source: string;
  test(input: string): boolean;
}

/** Compiled patterns are shared (matchers are synchronous and hold only caches), across config versions too. */
const compiled = new Map<string, PrefixMatcher>();
const MAX_SHARED_PATTERNS = 4096;

/**
 * Compiles a dialect pattern, or returns the matcher already compiled for the same source (so a config
 * update does not recompile unchanged routes, and warm DFA caches survive it). Throws a RangeError naming
 * the pattern when it is not in the dialect.
 */
export function compilePrefixRegex(source: string): PrefixMatcher {
  let m = compiled.get(source);
  if (m === undefined) {
    m = compileUncached(source);
    if (compiled.size >= MAX_SHARED_PATTERNS) compiled.clear();
    compiled.set(source, m);
  }
  return m;
}

function compileUncached(source: string): PrefixMatcher {
  return compilePrefixRegexWith(source, 'auto');
}

/**
 * Compiles without the shared cache and with a chosen engine: "auto" is what compilePrefixRegex uses
 * (literal prefix, else lazy DFA, else NFA for \b / \B); "nfa" forces the NFA simulation. For tests and
 * benchmarks that compare the engines.
 */
export function compilePrefixRegexWith(source: string, engine: 'auto' | 'nfa'): PrefixMatcher {
  const t = translateRegex(source);
  if (!t.ok) throw new RangeError(`regex ${JSON.stringify(source)}: ${t.reason} (at offset ${t.position})`);
  if (engine === 'auto' && /^[^\\^$.|?*+()[\]{}]*$/.test(source)) return new LiteralPrefix(source);
  const node = new CoreParser(t.linearSource).parse();
  const prog = compileProgram(node);
  const nfa = new NfaMatcher(source, prog);
  return engine === 'nfa' || usesWordBoundary(prog) ? nfa : new LazyDfaMatcher(source, prog, nfa);
}

class LiteralPrefix implements PrefixMatcher {
  readonly source: string;
  constructor(source: string) {
    this.source = source;
  }
  test(input: string): boolean {
    return input.startsWith(this.source);
  }
}

// ---------------------------------------------------------------------------------------------------
// Character sets over UTF-16 code units

/** A set of code units: a bitmap for ASCII and sorted disjoint [lo, hi] ranges above it. */
export class CharSet {
  private readonly ascii = new Uint32Array(4);
  /** Flattened [lo0, hi0, lo1, hi1, ...] for code units >= 128. */
  private readonly high: Uint16Array;

  constructor(ranges: readonly (readonly [number, number])[]) {
    const norm = normalizeRanges(ranges);
    const high: number[] = [];
    for (const [lo, hi] of norm) {
      for (let c = lo; c <= Math.min(hi, 127); c++) this.ascii[c >> 5]! |= 1 << (c & 31);
      if (hi >= 128) high.push(Math.max(lo, 128), hi);
    }
    this.high = Uint16Array.from(high);
  }

  has(c: number): boolean {
    if (c < 128) return ((this.ascii[c >> 5]! >>> (c & 31)) & 1) === 1;
    const h = this.high;
    let lo = 0;
    let hi = (h.length >> 1) - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (c < h[2 * mid]!) hi = mid - 1;
      else if (c > h[2 * mid + 1]!) lo = mid + 1;
      else return true;
    }
    return false;
  }
}

type Ranges = [number, number][];

function normalizeRanges(ranges: readonly (readonly [number, number])[]): Ranges {
  const sorted = ranges.map(([a, b]) => [a, b] as [number, number]).sort((x, y) => x[0] - y[0]);
  const out: Ranges = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else out.push(r);
  }
  return out;
}

function complement(ranges: readonly (readonly [number, number])[]): Ranges {
  const out: Ranges = [];
  let next = 0;
  for (const [lo, hi] of normalizeRanges(ranges)) {
    if (lo > next) out.push([next, lo - 1]);
    next = hi + 1;
  }
  if (next <= 0xffff) out.push([next, 0xffff]);
  return out;
}

const DIGIT: Ranges = [[0x30, 0x39]];
const WORD: Ranges = [
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x5f, 0x5f],
  [0x61, 0x7a],
];
// ECMAScript WhiteSpace and LineTerminator (what \s means).
const SPACE: Ranges = [
  [0x09, 0x0d],
  [0x20, 0x20],
  [0xa0, 0xa0],
  [0x1680, 0x1680],
  [0x2000, 0x200a],
  [0x2028, 0x2029],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
  [0xfeff, 0xfeff],
];
const LINE_TERMINATORS: Ranges = [
  [0x0a, 0x0a],
  [0x0d, 0x0d],
  [0x2028, 0x2029],
];
const DOT = complement(LINE_TERMINATORS);

function isWordUnit(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || (c >= 0x61 && c <= 0x7a);
}

// ---------------------------------------------------------------------------------------------------
// Parser of the core syntax emitted by translateRegex

type Assertion = 'start' | 'end' | 'word' | 'not-word';

type Node =
  | { t: 'set'; ranges: Ranges }
  | { t: 'assert'; kind: Assertion }
  | { t: 'cat'; items: Node[] }
  | { t: 'alt'; items: Node[] }
  | { t: 'star' | 'plus' | 'quest'; body: Node };

class CoreParser {
  private readonly s: string;
  private pos = 0;

  constructor(s: string) {
    this.s = s;
  }

  parse(): Node {
    const n = this.disjunction();
    if (this.pos !== this.s.length) throw this.error('unexpected ")"');
    return n;
  }

  private error(msg: string): Error {
    // Only reachable if translateRegex emitted something outside the core syntax: a bug, not bad input.
    return new Error(`route regex core syntax: ${msg} at offset ${this.pos} of ${JSON.stringify(this.s)}`);
  }

  private disjunction(): Node {
    const items = [this.alternative()];
    while (this.s[this.pos] === '|') {
      this.pos++;
      items.push(this.alternative());
    }
    return items.length === 1 ? items[0]! : { t: 'alt', items };
  }

  private alternative(): Node {
    const items: Node[] = [];
    for (;;) {
      const c = this.s[this.pos];
      if (c === undefined || c === '|' || c === ')') break;
      let atom = this.atom();
      const q = this.s[this.pos];
      if (q === '*' || q === '+' || q === '?') {
        this.pos++;
        atom = { t: q === '*' ? 'star' : q === '+' ? 'plus' : 'quest', body: atom };
      }
      items.push(atom);
    }
    return items.length === 1 ? items[0]! : { t: 'cat', items };
  }

  private atom(): Node {
    const c = this.s[this.pos]!;
    switch (c) {
      case '^':
        this.pos++;
        return { t: 'assert', kind: 'start' };
      case '$':
        this.pos++;
        return { t: 'assert', kind: 'end' };
      case '.':
        this.pos++;
        return { t: 'set', ranges: DOT };
      case '(': {
        if (this.s.startsWith('(?:', this.pos)) this.pos += 3;
        else throw this.error('expected "(?:"');
        const body = this.disjunction();
        if (this.s[this.pos] !== ')') throw this.error('expected ")"');
        this.pos++;
        return body;
      }
      case '[':
        return { t: 'set', ranges: this.charClass() };
      case '\\': {
        const next = this.s[this.pos + 1];
        if (next === 'b' || next === 'B') {
          this.pos += 2;
          return { t: 'assert', kind: next === 'b' ? 'word' : 'not-word' };
        }
        return { t: 'set', ranges: this.escape(false) };
      }
      default: {
        const code = this.s.charCodeAt(this.pos);
        this.pos++;
        return { t: 'set', ranges: [[code, code]] };
      }
    }
  }

  /** After "\" (at pos): a class escape's ranges or a single unit. */
  private escape(inClass: boolean): Ranges {
    this.pos++; // '\'
    const c = this.s[this.pos]!;
    this.pos++;
    const unit = (u: number): Ranges => [[u, u]];
    switch (c) {
      case 'd':
        return DIGIT;
      case 'D':
        return complement(DIGIT);
      case 'w':
        return WORD;
      case 'W':
        return complement(WORD);
      case 's':
        return SPACE;
      case 'S':
        return complement(SPACE);
      case 't':
        return unit(9);
      case 'n':
        return unit(10);
      case 'v':
        return unit(11);
      case 'f':
        return unit(12);
      case 'r':
        return unit(13);
      case '0':
        return unit(0);
      case 'b':
        if (inClass) return unit(8);
        throw this.error('\\b outside a class is an assertion');
      case 'x':
        this.pos += 2;
        return unit(Number.parseInt(this.s.slice(this.pos - 2, this.pos), 16));
      case 'u':
        this.pos += 4;
        return unit(Number.parseInt(this.s.slice(this.pos - 4, this.pos), 16));
      case 'c': {
        const letter = this.s.charCodeAt(this.pos);
        this.pos++;
        return unit(letter % 32);
      }
      default:
        return unit(c.charCodeAt(0));
    }
  }

  private charClass(): Ranges {
    this.pos++; // '['
    let negate = false;
    if (this.s[this.pos] === '^') {
      negate = true;
      this.pos++;
    }
    const ranges: Ranges = [];
    for (;;) {
      const c = this.s[this.pos];
      if (c === undefined) throw this.error('unterminated class');
      if (c === ']') {
        this.pos++;
        break;
      }
      const low = this.classAtom();
      if (this.s[this.pos] === '-' && this.s[this.pos + 1] !== ']' && this.s[this.pos + 1] !== undefined) {
        this.pos++;
        const high = this.classAtom();
        ranges.push([low[0]![0], high[0]![0]]);
      } else {
        ranges.push(...low);
      }
    }
    return negate ? complement(ranges) : normalizeRanges(ranges);
  }

  private classAtom(): Ranges {
    if (this.s[this.pos] === '\\') return this.escape(true);
    const code = this.s.charCodeAt(this.pos);
    this.pos++;
    return [[code, code]];
  }
}

// ---------------------------------------------------------------------------------------------------
// Program and simulation

const OP_CHAR = 0;
const OP_SPLIT = 1;
const OP_JMP = 2;
const OP_ASSERT = 3;
const OP_MATCH = 4;

const ASSERT_CODES: Record<Assertion, number> = { start: 0, end: 1, word: 2, 'not-word': 3 };

interface Program {
  op: Uint8Array;
  /** CHAR: index into sets; SPLIT/JMP: first target; ASSERT: assertion code. */
  x: Int32Array;
  /** SPLIT: second target. */
  y: Int32Array;
  sets: CharSet[];
}

function compileProgram(root: Node): Program {
  const op: number[] = [];
  const x: number[] = [];
  const y: number[] = [];
  const sets: CharSet[] = [];
  const setIndex = new Map<Ranges, number>();
  const emit = (o: number, a = 0, b = 0): number => {
    op.push(o);
    x.push(a);
    y.push(b);
    return op.length - 1;
  };
  const gen = (n: Node): void => {
    switch (n.t) {
      case 'set': {
        let i = setIndex.get(n.ranges);
        if (i === undefined) {
          i = sets.length;
          sets.push(new CharSet(n.ranges));
          setIndex.set(n.ranges, i);
        }
        emit(OP_CHAR, i);
        return;
      }
      case 'assert':
        emit(OP_ASSERT, ASSERT_CODES[n.kind]);
        return;
      case 'cat':
        for (const item of n.items) gen(item);
        return;
      case 'alt': {
        const jumps: number[] = [];
        for (let k = 0; k < n.items.length - 1; k++) {
          const split = emit(OP_SPLIT);
          x[split] = op.length;
          gen(n.items[k]!);
          jumps.push(emit(OP_JMP));
          y[split] = op.length;
        }
        gen(n.items[n.items.length - 1]!);
        for (const j of jumps) x[j] = op.length;
        return;
      }
      case 'star': {
        const split = emit(OP_SPLIT);
        x[split] = op.length;
        gen(n.body);
        emit(OP_JMP, split);
        y[split] = op.length;
        return;
      }
      case 'plus': {
        const start = op.length;
        gen(n.body);
        const split = emit(OP_SPLIT, start);
        y[split] = op.length;
        return;
      }
      case 'quest': {
        const split = emit(OP_SPLIT);
        x[split] = op.length;
        gen(n.body);
        y[split] = op.length;
        return;
      }
    }
  };
  gen(root);
  emit(OP_MATCH);
  return { op: Uint8Array.from(op), x: Int32Array.from(x), y: Int32Array.from(y), sets };
}

/**
 * Thompson simulation: each input unit is looked at once per live state, and each state is added at most
 * once per position (a sparse set), so time is O(n * m) and memory O(m). Not reentrant, which is fine:
 * test() is synchronous.
 */
class NfaMatcher implements PrefixMatcher {
  readonly source: string;
  private readonly prog: Program;
  private cur: Int32Array;
  private next: Int32Array;
  private curLen = 0;
  private nextLen = 0;
  /** Generation stamp per state: a state is in the list being built when mark[pc] === gen. */
  private readonly mark: Uint32Array;
  private gen = 0;
  private readonly stack: Int32Array;

  constructor(source: string, prog: Program) {
    this.source = source;
    this.prog = prog;
    const m = prog.op.length;
    this.cur = new Int32Array(m);
    this.next = new Int32Array(m);
    this.mark = new Uint32Array(m);
    this.stack = new Int32Array(m * 2 + 2);
  }

  test(input: string): boolean {
    const { op, x, sets } = this.prog;
    this.newGeneration();
    this.nextLen = 0;
    if (this.addClosure(0, input, 0)) return true;
    this.swap();
    const n = input.length;
    for (let i = 0; i < n && this.curLen > 0; i++) {
      const c = input.charCodeAt(i);
      this.newGeneration();
      this.nextLen = 0;
      const cur = this.cur;
      for (let k = 0; k < this.curLen; k++) {
        const pc = cur[k]!;
        if (op[pc] === OP_CHAR && sets[x[pc]!]!.has(c)) {
          if (this.addClosure(pc + 1, input, i + 1)) return true;
        }
      }
      this.swap();
    }
    return false;
  }

  private newGeneration(): void {
    this.gen++;
    if (this.gen === 0xffffffff) {
      this.mark.fill(0);
      this.gen = 1;
    }
  }

  private swap(): void {
    const t = this.cur;
    this.cur = this.next;
    this.next = t;
    this.curLen = this.nextLen;
  }

  /** Adds pc and everything reachable from it without consuming input; true when MATCH is reached. */
  private addClosure(start: number, input: string, pos: number): boolean {
    const { op, x, y } = this.prog;
    const mark = this.mark;
    const stack = this.stack;
    const gen = this.gen;
    let sp = 0;
    stack[sp++] = start;
    while (sp > 0) {
      const pc = stack[--sp]!;
      if (mark[pc] === gen) continue;
      mark[pc] = gen;
      switch (op[pc]) {
        case OP_MATCH:
          return true;
        case OP_CHAR:
          this.next[this.nextLen++] = pc;
          break;
        case OP_JMP:
          stack[sp++] = x[pc]!;
          break;
        case OP_SPLIT:
          // Pushed in reverse so the preferred branch is explored first (order does not change the answer).
          stack[sp++] = y[pc]!;
          stack[sp++] = x[pc]!;
          break;
        case OP_ASSERT:
          if (assertionHolds(x[pc]!, input, pos)) stack[sp++] = pc + 1;
          break;
      }
    }
    return false;
  }
}

function assertionHolds(code: number, input: string, pos: number): boolean {
  switch (code) {
    case 0:
      return pos === 0;
    case 1:
      return pos === input.length;
    default: {
      const before = pos > 0 && isWordUnit(input.charCodeAt(pos - 1));
      const after = pos < input.length && isWordUnit(input.charCodeAt(pos));
      return code === 2 ? before !== after : before === after;
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Lazy DFA

/** Cached DFA states per pattern; each costs ~200 bytes plus its transitions. */
export const MAX_DFA_STATES = 64;
const MAX_NON_ASCII_TRANSITIONS = 256;
/** Bound on the NFA states stored across one pattern's cached DFA states (~64 KiB of Int32). */
const MAX_DFA_CACHED_NFA_STATES = 16_384;

function usesWordBoundary(prog: Program): boolean {
  for (let pc = 0; pc < prog.op.length; pc++) {
    if (prog.op[pc] === OP_ASSERT && prog.x[pc]! >= 2) return true;
  }
  return false;
}

class DfaState {
  /** Sorted NFA states: CHAR states and "$" assertions waiting for the end of input. */
  readonly pcs: Int32Array;
  /** The closure reached MATCH: any input from here matches (prefix semantics). */
  readonly matched: boolean;
  /** No NFA state left: nothing from here can match. */
  readonly dead: boolean;
  /** Built at offset 0 (so "^" holds when evaluating "$" for the empty input). */
  readonly initial: boolean;
  /** Next state per non-ASCII unit (ASCII transitions live in the matcher's flat table). */
  other: Map<number, number> | null = null;
  /** Whether the input may end here: -1 not computed, 0 no, 1 yes. */
  endAccept = -1;

  constructor(pcs: Int32Array, matched: boolean, initial: boolean) {
    this.pcs = pcs;
    this.matched = matched;
    this.dead = !matched && pcs.length === 0;
    this.initial = initial;
  }
}

/**
 * Subset construction on demand: each (state, input unit) transition is computed once, by the same
 * closure as the NFA, then looked up. Per input unit the steady-state cost is one array read.
 */
class LazyDfaMatcher implements PrefixMatcher {
  readonly source: string;
  private readonly prog: Program;
  private readonly nfa: NfaMatcher;
  private readonly states: DfaState[] = [];
  /** ASCII transitions of all states, 128 per state (-1 = not computed yet); grows with the states. */
  private trans = new Int16Array(8 * 128).fill(-1);
  /** Per state: 1 matched (answer true), 2 dead (answer false), 0 undecided. */
  private readonly flags = new Uint8Array(MAX_DFA_STATES);
  private readonly byKey = new Map<string, number>();
  /** Sum of the NFA state sets held by cached DFA states (bounds memory for large programs). */
  private cachedUnits = 0;
  private readonly mark: Uint32Array;
  private gen = 0;
  private readonly stack: Int32Array;
  private readonly scratch: Int32Array;

  constructor(source: string, prog: Program, nfa: NfaMatcher) {
    this.source = source;
    this.prog = prog;
    this.nfa = nfa;
    const m = prog.op.length;
    this.mark = new Uint32Array(m);
    this.stack = new Int32Array(m * 2 + 2);
    this.scratch = new Int32Array(m);
    // State 0: the closure of the start at offset 0.
    this.newGeneration();
    const r = this.closure(0, true, false, 0);
    this.intern(r.len, r.matched, true);
  }

  test(input: string): boolean {
    const flags = this.flags;
    if (flags[0] !== 0) return flags[0] === 1;
    let trans = this.trans;
    let s = 0;
    const n = input.length;
    for (let i = 0; i < n; i++) {
      const c = input.charCodeAt(i);
      let next = c < 128 ? trans[(s << 7) | c]! : (this.states[s]!.other?.get(c) ?? -1);
      if (next < 0) {
        next = this.step(s, c);
        if (next < 0) return this.nfa.test(input); // cache full
        trans = this.trans;
      }
      s = next;
      const f = flags[s]!;
      if (f !== 0) return f === 1;
    }
    const last = this.states[s]!;
    if (last.endAccept < 0) last.endAccept = this.acceptsAtEnd(last) ? 1 : 0;
    return last.endAccept === 1;
  }

  /** Computes and caches the transition of state s on unit c; -1 when the cache is full. */
  private step(s: number, c: number): number {
    const { op, x, sets } = this.prog;
    const st = this.states[s]!;
    this.newGeneration();
    let len = 0;
    let matched = false;
    for (let k = 0; k < st.pcs.length && !matched; k++) {
      const pc = st.pcs[k]!;
      if (op[pc] === OP_CHAR && sets[x[pc]!]!.has(c)) {
        const r = this.closure(pc + 1, false, false, len);
        len = r.len;
        matched = r.matched;
      }
    }
    const next = this.intern(matched ? 0 : len, matched, false);
    if (next < 0) return -1;
    if (c < 128) this.trans[(s << 7) | c] = next;
    else {
      // Non-ASCII transitions are cached up to a bound per state (inputs could use any of 65536 units);
      // past it they are recomputed each time, which stays linear.
      st.other ??= new Map();
      if (st.other.size < MAX_NON_ASCII_TRANSITIONS) st.other.set(c, next);
    }
    return next;
  }

  /** Whether some pending "$" of the state leads to MATCH when the input ends there. */
  private acceptsAtEnd(st: DfaState): boolean {
    const { op, x } = this.prog;
    this.newGeneration();
    for (let k = 0; k < st.pcs.length; k++) {
      const pc = st.pcs[k]!;
      if (op[pc] === OP_ASSERT && x[pc] === ASSERT_CODES.end) {
        if (this.closure(pc + 1, st.initial, true, 0).matched) return true;
      }
    }
    return false;
  }

  /** Finds or creates the state for scratch[0..len); -1 when the cache is full. */
  private intern(len: number, matched: boolean, initial: boolean): number {
    const pcs = this.scratch.slice(0, len).sort();
    const key = `${initial ? 'i' : ''}${matched ? 'm' : pcs.join(',')}`;
    const found = this.byKey.get(key);
    if (found !== undefined) return found;
    if (this.states.length >= MAX_DFA_STATES || this.cachedUnits + len > MAX_DFA_CACHED_NFA_STATES) return -1;
    this.cachedUnits += len;
    const state = new DfaState(pcs, matched, initial);
    const index = this.states.length;
    this.states.push(state);
    this.byKey.set(key, index);
    this.flags[index] = state.matched ? 1 : state.dead ? 2 : 0;
    if ((index + 1) * 128 > this.trans.length) {
      const grown = new Int16Array(Math.min(MAX_DFA_STATES, (index + 1) * 2) * 128).fill(-1);
      grown.set(this.trans);
      this.trans = grown;
    }
    return index;
  }

  private newGeneration(): void {
    this.gen++;
    if (this.gen === 0xffffffff) {
      this.mark.fill(0);
      this.gen = 1;
    }
  }

  /**
   * Adds the closure of `start` to scratch from `len` on: CHAR states, plus "$" assertions kept pending
   * unless `atEnd`. "^" holds only when `atStart`. Word-boundary patterns never get here.
   */
  private closure(
    start: number,
    atStart: boolean,
    atEnd: boolean,
    len: number,
  ): { len: number; matched: boolean } {
    const { op, x, y } = this.prog;
    const mark = this.mark;
    const stack = this.stack;
    const gen = this.gen;
    let sp = 0;
    stack[sp++] = start;
    while (sp > 0) {
      const pc = stack[--sp]!;
      if (mark[pc] === gen) continue;
      mark[pc] = gen;
      switch (op[pc]) {
        case OP_MATCH:
          return { len, matched: true };
        case OP_CHAR:
          if (!atEnd) this.scratch[len++] = pc;
          break;
        case OP_JMP:
          stack[sp++] = x[pc]!;
          break;
        case OP_SPLIT:
          stack[sp++] = y[pc]!;
          stack[sp++] = x[pc]!;
          break;
        case OP_ASSERT:
          if (x[pc] === ASSERT_CODES.start) {
            if (atStart) stack[sp++] = pc + 1;
          } else if (atEnd) {
            stack[sp++] = pc + 1;
          } else {
            this.scratch[len++] = pc; // "$": decided when the input ends
          }
          break;
      }
    }
    return { len, matched: false };
  }
}
