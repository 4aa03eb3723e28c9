// Writes BENCHMARKS.md from what the benchmarks left in bench/results/: the proxy comparison
// (proxy.json, from bench/proxy/run.ts) as a table, then every other result file (*.md) as is.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';

interface Measured {
  rps: number;
  p50_us: number;
  p99_us: number;
  c1_p50_us: number;
  c1_p99_us: number;
  cpu_us_per_req: number;
  cpu_user_us_per_req?: number;
  rss_mb: number;
  rss_idle_mb?: number;
  rss_idle_anon_mb?: number;
  errors: number;
  rps_rounds?: number[];
  /** Latency at fixed offered rates (fortio, rate-paced, 16 connections), keyed by requests per second. */
  fixed_rate?: Record<
    string,
    { p50_us: number; p99_us: number; mean_us?: number; qps: number; errors: number }
  >;
}
interface ProxyResults {
  machine: string;
  seconds: number;
  rounds?: number;
  pinning: string;
  configs: Record<string, Measured>;
  /** Idle RSS of Node alone with the proxy's flags, bare and with a TCP listener and an HTTP server. */
  node_floor?: { bare_mb: number; bare_anon_mb: number; listening_mb: number; listening_anon_mb: number };
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
    `Command: \`make bench-proxy\` (BENCH_SECONDS=${r.seconds}, BENCH_ROUNDS=${r.rounds ?? 1}). Machine: ${r.machine}. Pinning: ${r.pinning}.`,
    'Each config is measured once per round, the rounds interleaved; every figure is the median over the rounds.',
    'Load: wrk, 16 keep-alive connections for throughput and latency under load; 1 connection for the',
    "unloaded latency (c1). CPU per request is the proxy process's user+system time over requests served; the",
    'user column is its user-space part (the rest is the kernel: syscalls and loopback TCP).',
    '',
    '| config | rps | vs nginx | p50 | p99 | c1 p50 | c1 p99 | CPU/req | user | RSS | errors |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const [name, m] of Object.entries(r.configs)) {
    const ratio = nginx ? (m.rps / nginx).toFixed(2) : '';
    parts.push(
      `| ${name} | ${m.rps} | ${ratio} | ${m.p50_us} us | ${m.p99_us} us | ${m.c1_p50_us} us | ${m.c1_p99_us} us | ${m.cpu_us_per_req} us | ${m.cpu_user_us_per_req === undefined ? '' : `${m.cpu_user_us_per_req} us`} | ${m.rss_mb} MB | ${m.errors} |`,
    );
  }
  for (const note of r.notes ?? []) parts.push('', note);
  if (Object.keys(r.configs).some((n) => n.includes('h2')))
    parts.push(
      '',
      'The `*-h2` rows are loaded with h2load (4 connections x 16 streams; c1: 1 connection x 16 streams), which',
      'reports no percentiles: their p50 column is the mean and their p99 column the maximum.',
    );
  parts.push('', ...fixedRates(r), '', ...proxyTargets(r), '');
}

/** Latency at fixed offered rates: one row per config and rate. */
function fixedRates(r: ProxyResults): string[] {
  const measured = Object.entries(r.configs).filter(([, m]) => m.fixed_rate !== undefined);
  const rates = Object.keys(measured[0]?.[1].fixed_rate ?? {});
  if (rates.length === 0) return [];
  return [
    '### Latency at a fixed offered rate',
    '',
    'fortio at a fixed rate over 16 connections, each sending on a schedule with one request in flight (rate-paced;',
    'a slot a late answer missed is skipped, so "rps got" falls short only for a config that cannot keep up), the',
    'same pinning, after the wrk runs of each config. Below saturation, p50 is the latency a hop adds rather than',
    "16 / rps. p50 and p99 come from fortio's histogram (buckets 10 us wide up to 110 us, 20 us up to 200 us, 50 us",
    'up to 500 us; interpolated within a bucket), so differences smaller than a bucket are not resolved; the mean',
    'is exact. `direct` shares one core between fortio and the backend while the other configs have two, so past',
    'about 1,000 rps its latency grows with its own queueing and is no baseline there. At these rates most of what',
    'a hop adds is waking the other core, which every proxy pays alike.',
    '',
    '| config | rps asked | rps got | p50 | p99 | mean |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...rates.flatMap((q) =>
      measured.map(([name, m]) => {
        const f = m.fixed_rate![q]!;
        const mean = f.mean_us === undefined ? '' : `${f.mean_us} us`;
        return `| ${name} | ${q} | ${f.qps} | ${f.p50_us} us | ${f.p99_us} us | ${mean} |`;
      }),
    ),
  ];
}

/** Issue 4's targets, each computed from this run against its reference in the same run. */
function proxyTargets(r: ProxyResults): string[] {
  const c = r.configs;
  const rows: string[] = [];
  /** One target row; `bound` gives both the target text and the check (null: shown for information). */
  const row = (
    what: string,
    got: number | undefined,
    unit: 'x' | 'MB',
    bound: ['>=' | '<=', number] | null,
    detail = '',
  ) => {
    if (got === undefined || !Number.isFinite(got)) return;
    const value = unit === 'x' ? `${got.toFixed(2)}x` : `${got.toFixed(1)} MB`;
    const target = bound === null ? '' : `${bound[0]} ${bound[1]}${unit === 'MB' ? ' MB' : ''}`;
    const met =
      bound === null ? '' : (bound[0] === '>=' ? got >= bound[1] : got <= bound[1]) ? 'met' : 'not met';
    rows.push(`| ${what} | ${target} | ${value}${detail} | ${met} |`);
  };
  const ratio = (a?: Measured, b?: Measured) => (a && b ? a.rps / b.rps : undefined);
  /** The same ratio round by round, as " (rounds: 0.61, 0.66, 0.70)". */
  const byRound = (a?: Measured, b?: Measured) => {
    const x = a?.rps_rounds;
    const y = b?.rps_rounds;
    if (!x || !y || x.length < 2 || x.length !== y.length) return '';
    return ` (rounds: ${x.map((v, i) => (v / y[i]!).toFixed(2)).join(', ')})`;
  };
  const added = (m: Measured | undefined, k: 'p50_us' | 'c1_p50_us', hops = 1) =>
    m && c.direct ? (m[k] - c.direct[k]) / hops : undefined;
  const per = (w?: number, n?: number) => (w !== undefined && n ? w / n : undefined);
  const pair = c['weft-pair-mtls'];
  const rpsRow = (what: string, a: Measured | undefined, b: Measured | undefined, min: number) =>
    row(what, ratio(a, b), 'x', ['>=', min], byRound(a, b));
  rpsRow('single hop HTTP/1.1 rps, weft / nginx', c.weft, c.nginx, 0.5);
  rpsRow('mTLS pair rps, weft / nginx pair', pair, c['nginx-pair-mtls'], 0.5);
  rpsRow('opaque TCP rps, weft / haproxy TCP', c['weft-tcp'], c['haproxy-tcp'], 0.8);
  rpsRow('opaque TCP rps, weft / nginx (HTTP)', c['weft-tcp'], c.nginx, 0.8);
  // Throughput per core, from CPU time: requests per CPU-second of the proxies under test. Unlike rps, it does not
  // depend on whether the proxy or the load generator's core was the bottleneck in that run.
  const perCore = (what: string, a: Measured | undefined, b: Measured | undefined, min: number) =>
    row(what, a && b && a.cpu_us_per_req > 0 ? b.cpu_us_per_req / a.cpu_us_per_req : undefined, 'x', [
      '>=',
      min,
    ]);
  perCore('single hop, requests per CPU-second, weft / nginx', c.weft, c.nginx, 0.5);
  perCore('mTLS pair, requests per CPU-second, weft / nginx pair', pair, c['nginx-pair-mtls'], 0.5);
  perCore('opaque TCP, requests per CPU-second, weft / haproxy TCP', c['weft-tcp'], c['haproxy-tcp'], 0.8);
  row(
    'added p50 per hop, 1 connection, weft / nginx',
    per(added(c.weft, 'c1_p50_us'), added(c.nginx, 'c1_p50_us')),
    'x',
    ['<=', 2],
  );
  // At the lowest fixed rate every config, direct included, runs far below saturation.
  const low = Object.keys(c.direct?.fixed_rate ?? {})
    .map(Number)
    .sort((a, b) => a - b)[0];
  const addedAt = (m: Measured | undefined, hops = 1) => {
    const f = low === undefined ? undefined : m?.fixed_rate?.[low];
    const d = low === undefined ? undefined : c.direct?.fixed_rate?.[low];
    return f && d ? (f.p50_us - d.p50_us) / hops : undefined;
  };
  if (low !== undefined) {
    const rate = low.toLocaleString('en-US');
    row(
      `added p50 per hop, 16 connections at a fixed ${rate} rps, weft / nginx`,
      per(addedAt(c.weft), addedAt(c.nginx)),
      'x',
      ['<=', 2],
    );
    row(
      `added p50 per hop in the mTLS pair, 16 connections at a fixed ${rate} rps, weft / nginx`,
      per(addedAt(pair, 2), addedAt(c['nginx-pair-mtls'], 2)),
      'x',
      ['<=', 2],
    );
  }
  row(
    'added p50 per hop, 16 connections at saturation (wrk), weft / nginx',
    per(added(c.weft, 'p50_us'), added(c.nginx, 'p50_us')),
    'x',
    ['<=', 2],
  );
  const pairAdded = per(added(pair, 'c1_p50_us', 2), added(c['nginx-pair-mtls'], 'c1_p50_us', 2));
  row('added p50 per hop in the mTLS pair, 1 connection, weft / nginx', pairAdded, 'x', ['<=', 2]);
  row('weft RSS idle', c.weft?.rss_idle_mb, 'MB', ['<=', 50]);
  row('weft RSS idle, private (anonymous) part', c.weft?.rss_idle_anon_mb, 'MB', null);
  const kept = c['weft-pages-kept'];
  row('reference: weft keeping its start-up pages, idle', kept?.rss_idle_mb, 'MB', null);
  const f = r.node_floor;
  if (f) {
    row(
      'reference: Node alone, idle (anonymous part)',
      f.bare_mb,
      'MB',
      null,
      ` (${f.bare_anon_mb.toFixed(1)} MB)`,
    );
    row(
      'reference: Node with a TCP listener and an HTTP server, idle (anonymous part)',
      f.listening_mb,
      'MB',
      null,
      ` (${f.listening_anon_mb.toFixed(1)} MB)`,
    );
  }
  row('weft RSS under load (16 connections)', c.weft?.rss_mb, 'MB', ['<=', 80]);
  row('reference: weft keeping its start-up pages, under load', kept?.rss_mb, 'MB', null);
  row('weft RSS under load, per proxy of the mTLS pair', per(pair?.rss_mb, 2), 'MB', ['<=', 80]);
  row('weft RSS under HTTP/2 load (h2load, 4 connections x 16 streams)', c['weft-h2']?.rss_mb, 'MB', [
    '<=',
    80,
  ]);
  row(
    'weft RSS under HTTP/2 load, per proxy of the mTLS pair',
    per(c['weft-h2-pair-mtls']?.rss_mb, 2),
    'MB',
    ['<=', 80],
  );
  if (rows.length === 0) return [];
  return [
    '### Against the targets (issue 4), from this run',
    '',
    'Added latency per hop is p50 minus the direct p50 (for the pair, half of it). It is measured three ways: with one',
    "connection; with 16 connections at a fixed rate below everyone's saturation (fortio, above), the way mesh",
    'benchmarks measure it; and with 16 connections at saturation (wrk), where every proxy runs its core flat out',
    'and p50 follows from throughput (Little: 16 / rps) rather than from what one hop adds.',
    'Once it listens, the proxy releases its mappings of the node binary, so that only the pages it touches again',
    'stay resident (docs/proxy.md, "Start-up pages"); `weft-pages-kept` is the same proxy with',
    '`--release-startup-pages false`, in the same run.',
    'The rest of the idle RSS is its private part, listed below it, and file pages of the node binary that it uses',
    '(shared by every proxy on a node). Node alone with the same flags is measured in the same run: bare, and',
    'with what every proxy needs (a TCP listener, which makes Node load its cluster module, and the admin HTTP server),',
    'both as CommonJS `node -e` scripts (the ESM loader the proxy bundle runs under adds about 0.4 MB).',
    '',
    '| what | target | measured | |',
    '| --- | --- | ---: | --- |',
    ...rows,
  ];
}

const others = existsSync('bench/results')
  ? readdirSync('bench/results')
      .filter((f) => f.endsWith('.md'))
      .sort()
  : [];
for (const f of others) parts.push(readFileSync(`bench/results/${f}`, 'utf8').trim(), '');

writeFileSync('BENCHMARKS.md', `${parts.join('\n').trimEnd()}\n`);
// Tables padded the way the repository's formatter (biome, which formats Markdown) keeps them, so lint passes.
execFileSync('node_modules/.bin/biome', ['format', '--write', 'BENCHMARKS.md'], { stdio: 'ignore' });
console.log(`BENCHMARKS.md: proxy table${others.length ? ` + ${others.join(', ')}` : ''}`);
