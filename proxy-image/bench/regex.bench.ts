// Benchmark (not a test): route regex matching stays linear in the input on patterns that make a
// backtracking engine exponential. Run: node proxy-image/bench/regex.bench.ts

import { compilePrefixRegexWith } from '../src/core/regex.ts';

function timeNs(fn: () => void, minMs = 50): number {
  let iterations = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0n;
  do {
    fn();
    iterations++;
    elapsed = process.hrtime.bigint() - start;
  } while (elapsed < BigInt(minMs) * 1_000_000n);
  return Number(elapsed) / iterations;
}

const out = (line: string) => process.stdout.write(`${line}\n`);

out('pattern                 input length   lazy DFA ns/char   NFA ns/char');
for (const src of ['(a*)*b', '(a|aa)+$', '(.*a){20}$', '/api/v[0-9]+/cart(/.*)?$', '.*Android.*']) {
  const dfa = compilePrefixRegexWith(src, 'auto');
  const nfa = compilePrefixRegexWith(src, 'nfa');
  for (const n of [1_000, 4_000, 16_000, 64_000]) {
    const input = src.startsWith('/') ? `/api/v1/cart/${'x'.repeat(n)}` : `${'a'.repeat(n)}!`;
    const d = timeNs(() => dfa.test(input)) / n;
    const f = timeNs(() => nfa.test(input)) / n;
    out(`${src.padEnd(24)}${String(n).padStart(12)}${d.toFixed(1).padStart(19)}${f.toFixed(1).padStart(14)}`);
  }
}

out('\nfor contrast, the backtracking engine on (a|a)*b (exponential):');
const backtracking = /^(?:(a|a)*b)/;
for (const n of [16, 18, 20, 22]) {
  const input = 'a'.repeat(n);
  const ns = timeNs(() => backtracking.test(input), 20);
  out(`(a|a)*b                 ${String(n).padStart(12)}${ns.toFixed(0).padStart(11)}`);
}
