// Where the time goes: self time by function from V8 CPU profiles (.cpuprofile, written by
// `WEFT_BENCH_CPU_PROF=dir make bench-proxy` or node --cpu-prof), and by area (TLS, HTTP parsing, ...).
//   node bench/proxy/profile-summary.ts file.cpuprofile [--top N]
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const top = Number(args[args.indexOf('--top') + 1] ?? 0) || 30;
for (const file of args.filter((a) => a.endsWith('.cpuprofile'))) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byFn = new Map<string, number>();
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame;
    const where = f.url === '' ? '' : ` ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
    const key = `${f.functionName || '(anonymous)'}${where}`;
    byFn.set(key, (byFn.get(key) ?? 0) + us);
  }
  process.stdout.write(`${file}: ${(total / 1e6).toFixed(2)} s sampled\n`);
  for (const [k, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}\n`);
  }
}
