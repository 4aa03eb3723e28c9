// make bench-proxy: direct, nginx, haproxy and Weft measured in one run, pinned the same way
// (load generator and backend on core 0, the proxies under test on core 1). Writes
// bench/results/proxy.json and the proxy table in BENCHMARKS.md.
//   node bench/proxy/run.ts [--seconds N] [--rounds N] [--only name,name]
// Every config is measured --rounds times, interleaved (round 1 measures all configs, then round 2, ...), and
// each figure reported is the median over the rounds: this VM's neighbours move single runs by up to 30%, and
// interleaving spreads that noise over every config instead of landing on one.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PROXY_NODE_FLAGS } from '../../proxy-image/src/node-flags.ts';
import { cpuUs } from '../proc.ts';
import { haproxyConfig, nginxBackend, nginxProxy, type Tls } from './peers.ts';

interface Measured {
  rps: number;
  p50_us: number;
  p99_us: number;
  c1_p50_us: number;
  c1_p99_us: number;
  cpu_us_per_req: number;
  /** The user-space part of cpu_us_per_req (the rest is the kernel: syscalls, loopback TCP). */
  cpu_user_us_per_req: number;
  rss_mb: number;
  rss_idle_mb?: number;
  /** Private (anonymous) part of the idle RSS; the rest is file pages of the node binary, shared host-wide. */
  rss_idle_anon_mb?: number;
  errors: number;
  /** rps of each round, in round order (the reported rps is their median). */
  rps_rounds?: number[];
  /** WEFT_BENCH_SYSCALLS=1: system calls per request under the 16-connection load, by name. */
  syscalls_per_req?: Record<string, number>;
  /** Latency at fixed offered rates (fortio, rate-paced, 16 connections), keyed by requests per second. */
  fixed_rate?: Record<string, FixedRate>;
}
interface Config {
  readonly name: string;
  readonly description: string;
  /** Starts what sits between wrk and the backend; returns the port wrk targets and the processes to measure. */
  start(): Promise<{ port: number; procs: ChildProcess[] }>;
  readonly available?: () => string | undefined;
  /** Load with h2load (HTTP/2 prior knowledge, 4 connections x 16 streams) instead of wrk. */
  readonly h2?: boolean;
}

const args = process.argv.slice(2);
const argValue = (flag: string): string | undefined => {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
};
const seconds = Number(argValue('--seconds') ?? process.env.BENCH_SECONDS ?? 5);
const rounds = Math.max(1, Number(argValue('--rounds') ?? process.env.BENCH_ROUNDS ?? 3));
const only = argValue('--only')?.split(',');
const BACKEND = 28080;
const BACKEND_H2 = 28082;
const cores = os.cpus().length;
const LOAD_CORE = '0';
const PROXY_CORE = cores > 1 ? '1' : '0';
const work = mkdtempSync(path.join(os.tmpdir(), 'weft-bench-'));
const started: ChildProcess[] = [];

function sh(cmd: string, argv: string[]): string {
  return execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** ECDSA P-256 CA, server and client certificates with SPIFFE URI SANs, like the mesh's own. */
function makeTls(): Tls & { pem: { server: string; client: string } } {
  const f = (n: string) => path.join(work, n);
  sh('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', f('ca.key')]);
  sh('openssl', [
    'req',
    '-x509',
    '-new',
    '-key',
    f('ca.key'),
    '-subj',
    '/CN=bench-ca',
    '-days',
    '2',
    '-out',
    f('ca.crt'),
  ]);
  for (const who of ['server', 'client']) {
    sh('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', f(`${who}.key`)]);
    sh('openssl', ['req', '-new', '-key', f(`${who}.key`), '-subj', `/CN=${who}`, '-out', f(`${who}.csr`)]);
    writeFileSync(
      f(`${who}.ext`),
      `subjectAltName=DNS:${who}.weft.test,URI:spiffe://weft.test/ns/bench/sa/${who}\nextendedKeyUsage=serverAuth,clientAuth\n`,
    );
    sh('openssl', [
      'x509',
      '-req',
      '-in',
      f(`${who}.csr`),
      '-CA',
      f('ca.crt'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      f(`${who}.ext`),
      '-out',
      f(`${who}.crt`),
    ]);
    writeFileSync(
      f(`${who}.pem`),
      readFileSync(f(`${who}.crt`), 'utf8') + readFileSync(f(`${who}.key`), 'utf8'),
    );
  }
  return {
    ca: f('ca.crt'),
    serverCert: f('server.crt'),
    serverKey: f('server.key'),
    clientCert: f('client.crt'),
    clientKey: f('client.key'),
    pem: { server: f('server.pem'), client: f('client.pem') },
  };
}

function pinned(core: string, cmd: string, argv: string[]): ChildProcess {
  const p = spawn('taskset', ['-c', core, cmd, ...argv], { stdio: ['ignore', 'ignore', 'inherit'] });
  started.push(p);
  return p;
}

async function waitPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${port} did not open`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let nextPort = 29000;
function confFile(name: string, text: string): string {
  const f = path.join(work, name);
  writeFileSync(f, text);
  return f;
}
function startNginx(tag: string, conf: (dir: string) => string, core = PROXY_CORE): ChildProcess {
  const dir = path.join(work, tag);
  sh('mkdir', ['-p', dir]);
  return pinned(core, 'nginx', [
    '-c',
    confFile(`${tag}.nginx.conf`, conf(dir)),
    '-e',
    path.join(dir, 'error.log'),
  ]);
}
function startHaproxy(tag: string, conf: (dir: string) => string): ChildProcess {
  const dir = path.join(work, tag);
  sh('mkdir', ['-p', dir]);
  return pinned(PROXY_CORE, 'haproxy', ['-db', '-f', confFile(`${tag}.haproxy.cfg`, conf(dir))]);
}

/** Every process in the tree under pid (nginx forks its worker). */
function tree(pid: number): number[] {
  const out = [pid];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(...tree(Number(d)));
    } catch {}
  }
  return out;
}
function rssMb(pids: number[], field = 'VmRSS'): number {
  let kb = 0;
  for (const p of pids) {
    try {
      const m = new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      kb += Number(m?.[1] ?? 0);
    } catch {}
  }
  return Math.round((kb / 1024) * 10) / 10;
}

function toUs(v: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v.trim());
  if (!m) throw new Error(`unparsable wrk latency "${v}"`);
  const n = Number(m[1]);
  return Math.round(m[2] === 'us' ? n : m[2] === 'ms' ? n * 1000 : n * 1e6);
}

interface WrkRun {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
}
async function wrk(port: number, connections: number, secs: number): Promise<WrkRun> {
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn(
      'taskset',
      [
        '-c',
        LOAD_CORE,
        'wrk',
        '-t1',
        `-c${connections}`,
        `-d${secs}s`,
        '--latency',
        `http://127.0.0.1:${port}/`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let buf = '';
    p.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
    });
    p.on('close', (code) => (code === 0 ? resolve(buf) : reject(new Error(`wrk exited ${code}: ${buf}`))));
  });
  const pct = (p: string) => toUs(new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out)?.[1] ?? 'NaN');
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const sockErrors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
    p50: pct('50'),
    p99: pct('99'),
    requests,
    errors: non2xx + sockErrors,
  };
}

/** h2load with `connections` connections of 16 concurrent streams each. */
async function h2load(port: number, connections: number, secs: number): Promise<WrkRun> {
  const streams = connections === 1 ? 1 : 16;
  const conns = connections === 1 ? 1 : 4;
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn(
      'taskset',
      [
        '-c',
        LOAD_CORE,
        'h2load',
        '-D',
        String(secs),
        '-c',
        String(conns),
        '-m',
        String(streams),
        `http://127.0.0.1:${port}/`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let buf = '';
    p.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
    });
    p.on('close', (code) => (code === 0 ? resolve(buf) : reject(new Error(`h2load exited ${code}: ${buf}`))));
  });
  const done = Number(/(\d+) done/.exec(out)?.[1] ?? 0);
  const failed = Number(/(\d+) failed/.exec(out)?.[1] ?? 0);
  // "time for request:  min  max  mean  sd  +/- sd": h2load has no percentiles; report mean as p50 and max as p99.
  const t = /time for request:\s+(\S+)\s+(\S+)\s+(\S+)/.exec(out);
  return {
    rps: Number(/finished in [\d.]+s, ([\d.]+) req\/s/.exec(out)?.[1] ?? 0),
    p50: t ? toUs(t[3]!) : 0,
    p99: t ? toUs(t[2]!) : 0,
    requests: done,
    errors: failed,
  };
}

const SYSCALLS = [
  'read',
  'write',
  'writev',
  'readv',
  'recvfrom',
  'sendto',
  'recvmsg',
  'sendmsg',
  'epoll_wait',
  'epoll_pwait',
  'epoll_pwait2',
  'epoll_ctl',
  'futex',
  'mprotect',
  'madvise',
  'mmap',
  'munmap',
  'brk',
  'getsockopt',
  'setsockopt',
  'accept4',
  'close',
  'io_uring_enter',
];
/**
 * WEFT_BENCH_SYSCALLS=1: system calls of the processes under test while the 16-connection load runs (perf stat).
 * Counting slows the processes a little, so that round's rps and CPU figures are not comparable with a run
 * without it: use it to compare system calls, in a run of its own.
 */
async function countSyscalls(pids: number[], secs: number): Promise<Record<string, number>> {
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn(
      'perf',
      [
        'stat',
        '-x,',
        '-e',
        SYSCALLS.map((c) => `syscalls:sys_enter_${c}`).join(','),
        '-p',
        pids.join(','),
        '--',
        'sleep',
        String(secs),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let buf = '';
    p.stderr.on('data', (d: Buffer) => {
      buf += d.toString();
    });
    p.on('close', (code) =>
      code === 0 ? resolve(buf) : reject(new Error(`perf stat exited ${code}: ${buf}`)),
    );
  });
  const counts: Record<string, number> = {};
  for (const line of out.split('\n')) {
    const [n, , ev] = line.split(',');
    const m = /sys_enter_(\w+)/.exec(ev ?? '');
    if (m && Number(n) > 0) counts[m[1]!] = Number(n);
  }
  return counts;
}

/**
 * Latency at a fixed offered load: fortio at `rate` requests per second over 16 connections, each connection
 * sending on a fixed schedule with one request in flight (rate-paced; -nocatchup skips a slot that a late answer
 * missed, so the rate is met only by a config that keeps up). Every config is measured below saturation, so its
 * p50 is the latency it adds, not 16 / its throughput. BENCH_FIXED_RPS, default 1000 (the rate Istio's mesh
 * benchmarks use) and 10000.
 */
interface FixedRate {
  /** Percentiles from fortio's histogram (buckets 10 us wide up to 110 us, 20 us up to 200, 50 us up to 500). */
  p50_us: number;
  p99_us: number;
  /** The exact mean. */
  mean_us: number;
  /** The rate fortio achieved: below the rate asked for only if the config could not keep up. */
  qps: number;
  errors: number;
}
const FIXED_RATES = (process.env.BENCH_FIXED_RPS ?? '1000,10000')
  .split(',')
  .filter((r) => r !== '')
  .map(Number);
/** Built (or found in the cache) before the first config is measured. */
let fortioBin = '';
async function fortio(port: number, rate: number, secs: number): Promise<FixedRate> {
  const json = path.join(work, 'fortio.json');
  await new Promise<void>((resolve, reject) => {
    const p = spawn(
      'taskset',
      [
        '-c',
        LOAD_CORE,
        fortioBin,
        'load',
        '-quiet',
        '-qps',
        String(rate),
        '-c',
        '16',
        '-t',
        `${secs}s`,
        '-uniform',
        '-nocatchup',
        // Histogram resolution 10 us (the default is 1 ms); fortio widens the buckets above 110 us.
        '-r',
        '0.00001',
        '-p',
        '50,99',
        '-json',
        json,
        `http://127.0.0.1:${port}/`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`fortio exited ${code}: ${err}`))));
  });
  const out = JSON.parse(readFileSync(json, 'utf8')) as {
    ActualQPS: number;
    RetCodes: Record<string, number>;
    ErrorsDurationHistogram?: { Count: number };
    DurationHistogram: { Avg: number; Percentiles: Array<{ Percentile: number; Value: number }> };
  };
  const pct = (p: number) =>
    Math.round(
      (out.DurationHistogram.Percentiles.find((x) => x.Percentile === p)?.Value ?? Number.NaN) * 1e6,
    );
  const ok = out.RetCodes['200'] ?? 0;
  const all = Object.values(out.RetCodes).reduce((a, b) => a + b, 0);
  return {
    p50_us: pct(50),
    p99_us: pct(99),
    mean_us: Math.round(out.DurationHistogram.Avg * 1e6),
    qps: Math.round(out.ActualQPS),
    errors: all - ok,
  };
}

async function measure(cfg: Config): Promise<Measured> {
  const { port, procs } = await cfg.start();
  await waitPort(port);
  const pids = procs.flatMap((p) => (p.pid ? tree(p.pid) : []));
  // Idle: after startup settled (the first config applied, listeners up), before any request.
  await new Promise((r) => setTimeout(r, 1000));
  const rssIdle = rssMb(pids);
  const rssIdleAnon = rssMb(pids, 'RssAnon');
  const load = cfg.h2 ? h2load : wrk;
  await load(port, 16, Math.min(2, seconds)); // warm-up: connections, JIT, TLS sessions
  const cpu0 = cpuUs(pids);
  let rssPeak = 0;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, rssMb(pids));
  }, 200);
  const counting = process.env.WEFT_BENCH_SYSCALLS ? countSyscalls(pids, seconds) : undefined;
  const c16 = await load(port, 16, seconds);
  clearInterval(sampler);
  const syscalls = await counting;
  const cpu1 = cpuUs(pids);
  const perReq = (us: number) => (procs.length ? Math.round((us / Math.max(1, c16.requests)) * 10) / 10 : 0);
  const c1 = await load(port, 1, seconds);
  const fixed: Record<string, FixedRate> = {};
  if (!cfg.h2) for (const rate of FIXED_RATES) fixed[rate] = await fortio(port, rate, seconds);
  for (const p of procs) p.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  const r: Measured = {
    rps: Math.round(c16.rps),
    p50_us: c16.p50,
    p99_us: c16.p99,
    c1_p50_us: c1.p50,
    c1_p99_us: c1.p99,
    cpu_us_per_req: perReq(cpu1.total - cpu0.total),
    cpu_user_us_per_req: perReq(cpu1.user - cpu0.user),
    rss_mb: rssPeak,
    errors: c16.errors + c1.errors + Object.values(fixed).reduce((n, f) => n + f.errors, 0),
  };
  if (Object.keys(fixed).length > 0) r.fixed_rate = fixed;
  if (syscalls)
    r.syscalls_per_req = Object.fromEntries(
      Object.entries(syscalls).map(([k, v]) => [k, Math.round((v / Math.max(1, c16.requests)) * 100) / 100]),
    );
  if (cfg.name.startsWith('weft')) {
    r.rss_idle_mb = rssIdle;
    r.rss_idle_anon_mb = rssIdleAnon;
  }
  return r;
}

/** Idle RSS (and its anonymous part) of Node itself with the proxy's flags, MB: the floor under weft's idle figure. */
interface NodeFloor {
  bare_mb: number;
  bare_anon_mb: number;
  /** With what no proxy can do without: a TCP listener (which loads Node's cluster module) and an HTTP server. */
  listening_mb: number;
  listening_anon_mb: number;
}
const FLOOR_SCRIPTS = {
  bare: 'setInterval(() => {}, 1e6);',
  listening:
    "require('node:net').createServer().listen(0, '127.0.0.1'); " +
    "require('node:http').createServer().listen(0, '127.0.0.1'); setInterval(() => {}, 1e6);",
};
async function nodeFloor(): Promise<NodeFloor> {
  const idle = async (script: string) => {
    const p = pinned(PROXY_CORE, process.execPath, [...PROXY_NODE_FLAGS, '-e', script]);
    // As the proxies' idle figure: a second after start-up.
    await new Promise((r) => setTimeout(r, 1000));
    const m = { rss: rssMb([p.pid!]), anon: rssMb([p.pid!], 'RssAnon') };
    p.kill('SIGKILL');
    return m;
  };
  const bare = await idle(FLOOR_SCRIPTS.bare);
  const listening = await idle(FLOOR_SCRIPTS.listening);
  return {
    bare_mb: bare.rss,
    bare_anon_mb: bare.anon,
    listening_mb: listening.rss,
    listening_anon_mb: listening.anon,
  };
}

/** The proxy runs as an esbuild bundle, as in the image (no type stripping at startup, smaller heap). */
let weftMain = '';
async function bundleWeft(): Promise<string> {
  if (weftMain !== '') return weftMain;
  const { build } = await import('esbuild');
  weftMain = path.join(work, 'weft-proxy.mjs');
  // The native addon, with which the proxy releases its start-up pages: the loader's WEFT_NATIVE_ADDON, which the
  // proxies inherit.
  process.env.WEFT_NATIVE_ADDON = execFileSync(
    path.join(import.meta.dirname, '../../proxy-image/native/build.sh'),
    {
      encoding: 'utf8',
    },
  ).trim();
  await build({
    entryPoints: [path.join(import.meta.dirname, '../../proxy-image/src/main.ts')],
    outfile: weftMain,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    logLevel: 'warning',
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
  });
  return weftMain;
}
const WEFT_DOMAIN = 'weft.test';
/** A weft proxy config: one service at 10.96.0.10:80 whose single endpoint is (address, port). */
function weftConfig(
  sa: string,
  endpoint: { port: number; identity: string | null },
  protocol: string,
  ca: string | null,
): string {
  const doc = {
    apiVersion: 'proxy.weft.dev/v1alpha1',
    version: `bench-${sa}-${protocol}`,
    generatedAt: new Date().toISOString(),
    identity: { spiffeId: `spiffe://${WEFT_DOMAIN}/ns/bench/sa/${sa}`, trustDomain: WEFT_DOMAIN },
    trustAnchors: ca === null ? [] : [readFileSync(ca, 'utf8')],
    policyMode: 'permissive',
    outbound: {
      services: [
        {
          name: 'backend',
          namespace: 'bench',
          clusterIPs: ['10.96.0.10'],
          dnsNames: [],
          ports: [{ port: 80, protocol }],
        },
      ],
      backends: [
        {
          name: 'backend',
          namespace: 'bench',
          ports: [
            {
              port: 80,
              endpoints: [{ address: '127.0.0.1', port: endpoint.port, identity: endpoint.identity }],
            },
          ],
        },
      ],
    },
    inbound: { ports: [] },
  };
  return confFile(`weft-${sa}-${protocol}.json`, JSON.stringify(doc));
}
function startWeft(
  _tag: string,
  config: string,
  ports: { outbound: number; inbound: number; admin: number },
  extra: string[],
): ChildProcess {
  // WEFT_BENCH_CPU_PROF=dir: each proxy writes a V8 CPU profile there when it exits (where the time goes).
  const prof = process.env.WEFT_BENCH_CPU_PROF;
  // WEFT_BENCH_WEFT_NODE_ARGS="--flag ...": extra node flags for the weft processes only (A/B runs of V8 settings).
  const extraNode = (process.env.WEFT_BENCH_WEFT_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  return pinned(PROXY_CORE, process.execPath, [
    ...PROXY_NODE_FLAGS,
    ...extraNode,
    ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []),
    weftMain,
    '--config',
    config,
    '--bind',
    '127.0.0.1',
    '--outbound-port',
    String(ports.outbound),
    '--inbound-port',
    String(ports.inbound),
    '--admin-port',
    String(ports.admin),
    '--admin-address',
    '127.0.0.1',
    '--outbound-dst',
    '10.96.0.10:80',
    '--log-level',
    'warn',
    ...extra,
  ]);
}

async function main(): Promise<void> {
  execFileSync(path.join(import.meta.dirname, 'setup.sh'), { stdio: 'inherit' });
  if (FIXED_RATES.length > 0)
    fortioBin = execFileSync(path.join(import.meta.dirname, 'fortio.sh'), { encoding: 'utf8' }).trim();
  const tls = makeTls();
  await bundleWeft();
  const backend = startNginx('backend', (d) => nginxBackend(d, BACKEND), LOAD_CORE);
  const backendH2 = startNginx('backend-h2', (d) => nginxBackend(d, BACKEND_H2, { http2: true }), LOAD_CORE);
  await waitPort(BACKEND);
  await waitPort(BACKEND_H2);
  const port = () => nextPort++;
  /** wrk/h2load -> client proxy =mTLS=> server proxy -> backend; the load targets the client's outbound port. */
  const weftPair = async (tag: string, protocol: 'http1' | 'http2', backend: number) => {
    const srv = { outbound: port(), inbound: port(), admin: port() };
    const cli = { outbound: port(), inbound: port(), admin: port() };
    const serverId = `spiffe://${WEFT_DOMAIN}/ns/bench/sa/server`;
    const srvCfg = weftConfig('server', { port: backend, identity: null }, protocol, tls.ca);
    const cliCfg = weftConfig('client', { port: srv.inbound, identity: serverId }, protocol, tls.ca);
    const server = startWeft(`${tag}-srv`, srvCfg, srv, [
      ...['--cert', tls.serverCert, '--key', tls.serverKey],
      ...['--inbound-app', `127.0.0.1:${backend}`],
    ]);
    const client = startWeft(`${tag}-cli`, cliCfg, cli, ['--cert', tls.clientCert, '--key', tls.clientKey]);
    await waitPort(srv.inbound);
    return { port: cli.outbound, procs: [client, server] };
  };
  const configs: Config[] = [
    { name: 'direct', description: 'wrk -> backend', start: async () => ({ port: BACKEND, procs: [] }) },
    {
      name: 'nginx',
      description: 'wrk -> nginx -> backend',
      start: async () => {
        const p = port();
        return { port: p, procs: [startNginx('nginx', (d) => nginxProxy(d, p, BACKEND))] };
      },
    },
    {
      name: 'haproxy',
      description: 'wrk -> haproxy -> backend',
      start: async () => {
        const p = port();
        return { port: p, procs: [startHaproxy('haproxy', (d) => haproxyConfig(d, p, BACKEND))] };
      },
    },
    {
      name: 'nginx-pair-mtls',
      description: 'wrk -> nginx =mTLS=> nginx -> backend',
      start: async () => {
        const inner = port();
        const outer = port();
        const server = startNginx('nginx-srv', (d) => nginxProxy(d, inner, BACKEND, { tlsIn: tls }));
        const client = startNginx('nginx-cli', (d) => nginxProxy(d, outer, inner, { tlsOut: tls }));
        await waitPort(inner);
        return { port: outer, procs: [client, server] };
      },
    },
    {
      name: 'haproxy-pair-mtls',
      description: 'wrk -> haproxy =mTLS=> haproxy -> backend',
      start: async () => {
        const inner = port();
        const outer = port();
        const server = startHaproxy('ha-srv', (d) =>
          haproxyConfig(d, inner, BACKEND, { tlsIn: tls, pem: tls.pem }),
        );
        const client = startHaproxy('ha-cli', (d) =>
          haproxyConfig(d, outer, inner, { tlsOut: tls, pem: tls.pem }),
        );
        await waitPort(inner);
        return { port: outer, procs: [client, server] };
      },
    },
    {
      name: 'haproxy-tcp',
      description: 'wrk -> haproxy (TCP mode) -> backend',
      start: async () => {
        const p = port();
        return {
          port: p,
          procs: [startHaproxy('ha-tcp', (d) => haproxyConfig(d, p, BACKEND, { mode: 'tcp' }))],
        };
      },
    },
    {
      name: 'weft',
      description: 'wrk -> weft -> backend',
      start: async () => {
        const p = { outbound: port(), inbound: port(), admin: port() };
        const cfg = weftConfig('client', { port: BACKEND, identity: null }, 'http1', null);
        return { port: p.outbound, procs: [startWeft('weft', cfg, p, [])] };
      },
    },
    {
      // The same proxy with the node binary's start-up pages kept (as before the release existed): the
      // release's effect on idle RSS, RSS under load and throughput, in the same run.
      name: 'weft-pages-kept',
      description: 'wrk -> weft (--release-startup-pages false) -> backend',
      start: async () => {
        const p = { outbound: port(), inbound: port(), admin: port() };
        const cfg = weftConfig('client', { port: BACKEND, identity: null }, 'http1', null);
        return {
          port: p.outbound,
          procs: [startWeft('weft-kept', cfg, p, ['--release-startup-pages', 'false'])],
        };
      },
    },
    {
      name: 'weft-pair-mtls',
      description: 'wrk -> weft =mTLS=> weft -> backend',
      start: () => weftPair('weft', 'http1', BACKEND),
    },
    {
      name: 'weft-tcp',
      description: 'wrk -> weft (opaque TCP) -> backend',
      start: async () => {
        const p = { outbound: port(), inbound: port(), admin: port() };
        const cfg = weftConfig('client', { port: BACKEND, identity: null }, 'opaque', null);
        return { port: p.outbound, procs: [startWeft('weft-tcp', cfg, p, [])] };
      },
    },
    {
      name: 'direct-h2',
      description: 'h2load -> backend (h2c)',
      h2: true,
      start: async () => ({ port: BACKEND_H2, procs: [] }),
    },
    {
      name: 'weft-h2',
      description: 'h2load -> weft (http2) -> backend (h2c)',
      h2: true,
      start: async () => {
        const p = { outbound: port(), inbound: port(), admin: port() };
        const cfg = weftConfig('client', { port: BACKEND_H2, identity: null }, 'http2', null);
        return { port: p.outbound, procs: [startWeft('weft-h2', cfg, p, [])] };
      },
    },
    {
      // Issue 4 item 3: what HTTP/2 between proxies costs (the leg HTTP/1 requests would be multiplexed on).
      name: 'weft-h2-pair-mtls',
      description: 'h2load -> weft =mTLS h2=> weft -> backend (h2c)',
      h2: true,
      start: () => weftPair('weft-h2', 'http2', BACKEND_H2),
    },
  ];
  const notes: string[] = [];
  const measured: Record<string, Measured[]> = {};
  const selected = configs.filter((cfg) => {
    if (only && !only.includes(cfg.name)) return false;
    const why = cfg.available?.();
    if (why) notes.push(`${cfg.name}: not measured (${why})`);
    return !why;
  });
  const floors: NodeFloor[] = [];
  for (let round = 1; round <= rounds; round++) {
    floors.push(await nodeFloor());
    for (const cfg of selected) {
      process.stderr.write(`bench-proxy: round ${round}/${rounds}: ${cfg.name} (${cfg.description})...\n`);
      const m = await measure(cfg);
      measured[cfg.name] = [...(measured[cfg.name] ?? []), m];
      process.stderr.write(`  ${JSON.stringify(m)}\n`);
    }
  }
  const results = Object.fromEntries(Object.entries(measured).map(([name, ms]) => [name, medianOf(ms)]));
  backend.kill('SIGTERM');
  backendH2.kill('SIGTERM');
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  const machine = `${os.cpus().length} cores (${cpu}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}`;
  const out = {
    machine,
    seconds,
    rounds,
    pinning: `load+backend on core ${LOAD_CORE}, proxies on core ${PROXY_CORE}`,
    configs: results,
    node_floor: medianFloor(floors),
    notes,
  };
  writeFileSync('bench/results/proxy.json', `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

/** The median of non-empty `values` (the mean of the middle two, to 0.1, for an even count). */
function median(values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid]! : Math.round(((v[mid - 1]! + v[mid]!) / 2) * 10) / 10;
}

function medianFloor(fs: readonly NodeFloor[]): NodeFloor {
  const med = (k: keyof NodeFloor) => median(fs.map((f) => f[k]));
  return {
    bare_mb: med('bare_mb'),
    bare_anon_mb: med('bare_anon_mb'),
    listening_mb: med('listening_mb'),
    listening_anon_mb: med('listening_anon_mb'),
  };
}

/** Per-figure median over the rounds (errors are summed); rps_rounds keeps each round's rps. */
function medianOf(ms: readonly Measured[]): Measured {
  const med = (k: keyof Measured): number | undefined => {
    const v = ms.map((m) => m[k]).filter((x): x is number => typeof x === 'number');
    return v.length === 0 ? undefined : median(v);
  };
  const out: Measured = {
    rps: med('rps')!,
    p50_us: med('p50_us')!,
    p99_us: med('p99_us')!,
    c1_p50_us: med('c1_p50_us')!,
    c1_p99_us: med('c1_p99_us')!,
    cpu_us_per_req: med('cpu_us_per_req')!,
    cpu_user_us_per_req: med('cpu_user_us_per_req') ?? 0,
    rss_mb: med('rss_mb')!,
    errors: ms.reduce((n, m) => n + m.errors, 0),
    rps_rounds: ms.map((m) => m.rps),
  };
  const idle = med('rss_idle_mb');
  if (idle !== undefined) out.rss_idle_mb = idle;
  const anon = med('rss_idle_anon_mb');
  if (anon !== undefined) out.rss_idle_anon_mb = anon;
  const rates = ms[0]?.fixed_rate;
  if (rates)
    out.fixed_rate = Object.fromEntries(
      Object.keys(rates).map((rate) => {
        const fs = ms.map((m) => m.fixed_rate?.[rate]).filter((f): f is FixedRate => f !== undefined);
        const fmed = (k: keyof FixedRate) => median(fs.map((f) => f[k]));
        return [
          rate,
          {
            p50_us: fmed('p50_us'),
            p99_us: fmed('p99_us'),
            mean_us: fmed('mean_us'),
            qps: fmed('qps'),
            errors: fs.reduce((n, f) => n + f.errors, 0),
          },
        ];
      }),
    );
  return out;
}

function cleanup(): void {
  for (const p of started) if (p.exitCode === null) p.kill('SIGKILL');
  if (existsSync(work)) rmSync(work, { recursive: true, force: true });
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));
main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
