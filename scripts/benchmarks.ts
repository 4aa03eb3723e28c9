// Writes BENCHMARKS.md from what the benchmarks left in bench/results/: the proxy comparison
// (proxy.json, from bench/proxy/run.ts) as a table, then every other result file (*.md) as is.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';

interface Measured {
  rps: number;
  p50_us: number;
  p99_us: number;
  c1_p50_us: number;
  c1_p99_us: number;
  cpu_us_per_req: number;
  rss_mb: number;
  errors: number;
}
interface ProxyResults {
  machine: string;
  seconds: number;
  pinning: string;
  configs: Record<string, Measured>;
  notes?: string[];
}

const parts: string[] = [
  '# Benchmarks',
  '',
  'Written by `make bench` (`node scripts/benchmarks.ts` assembles this file from `bench/results/`). Every',
  'number below was measured on the machine it names, with every compared system measured in the same run.',
  '',
];

if (existsSync('bench/results/proxy.json')) {
  const r = JSON.parse(readFileSync('bench/results/proxy.json', 'utf8')) as ProxyResults;
  const nginx = r.configs.nginx?.rps;
  parts.push(
    '## Proxy: HTTP/1.1 and TCP through one proxy, against nginx and haproxy',
    '',
    `Command: \`make bench-proxy\` (BENCH_SECONDS=${r.seconds}). Machine: ${r.machine}. Pinning: ${r.pinning}.`,
    'Load: wrk, 16 keep-alive connections for throughput and latency under load; 1 connection for the',
    "unloaded latency (c1). CPU per request is the proxy process's user+system time over requests served.",
    '',
    '| config | rps | vs nginx | p50 | p99 | c1 p50 | c1 p99 | CPU/req | RSS | errors |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const [name, m] of Object.entries(r.configs)) {
    const ratio = nginx ? (m.rps / nginx).toFixed(2) : '';
    parts.push(
      `| ${name} | ${m.rps} | ${ratio} | ${m.p50_us} us | ${m.p99_us} us | ${m.c1_p50_us} us | ${m.c1_p99_us} us | ${m.cpu_us_per_req} us | ${m.rss_mb} MB | ${m.errors} |`,
    );
  }
  for (const note of r.notes ?? []) parts.push('', note);
  parts.push('');
}

const others = existsSync('bench/results')
  ? readdirSync('bench/results')
      .filter((f) => f.endsWith('.md'))
      .sort()
  : [];
for (const f of others) parts.push(readFileSync(`bench/results/${f}`, 'utf8').trim(), '');

writeFileSync('BENCHMARKS.md', `${parts.join('\n').trimEnd()}\n`);
console.log(`BENCHMARKS.md: proxy table${others.length ? ` + ${others.join(', ')}` : ''}`);
