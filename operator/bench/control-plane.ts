// `make bench-control-plane`: every control-plane benchmark in sequence, each in its own process and bounded in
// time, into bench/results/control-plane.json in the shape of issue 5 (plus `runs`, `notes`, `machine`) and a
// section for BENCHMARKS.md (bench/results/control-plane.md). Needs the local cluster (KUBECONFIG, or the one
// test/cluster/env.sh names). BENCH_ROUNDS (default 20) weight changes per size.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

const OUT = 'bench/results/control-plane.json';
const rounds = Number(process.env.BENCH_ROUNDS ?? 20);
const env = { ...process.env };
if (env.KUBECONFIG === undefined || env.KUBECONFIG === '') {
  const line = execFileSync('test/cluster/env.sh', { encoding: 'utf8' }).trim();
  env.KUBECONFIG = line.replace(/^export KUBECONFIG=/, '');
}
const defaultKubectl = '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';
env.WEFT_KUBECTL ??= existsSync(defaultKubectl) ? defaultKubectl : 'kubectl';
env.WEFT_BENCH_OUT = OUT;
env.NODE_OPTIONS = '';

/**
 * Each bench script runs in a process group of its own, with what it spawns (the operator, simulated proxies), so
 * that a timeout, or this process being stopped (SIGTERM, SIGINT), ends all of them: killing the script alone left
 * its operator running.
 */
let current: ChildProcess | null = null;
const killGroup = (child: ChildProcess) => {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
  } catch {
    // Already gone.
  }
};
for (const signal of ['SIGTERM', 'SIGINT'] as const)
  process.once(signal, () => {
    if (current !== null) killGroup(current);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });

/** Runs one bench script; rejects on failure or after `seconds`. */
function run(args: string[], seconds: number): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stderr.write(`\n$ node ${args.join(' ')}\n`);
    const child = spawn(process.execPath, args, { env, stdio: 'inherit', detached: true });
    current = child;
    const timer = setTimeout(() => {
      killGroup(child);
      reject(new Error(`${args.join(' ')}: timed out after ${seconds} s`));
    }, seconds * 1000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      current = null;
      if (code === 0) resolve();
      else reject(new Error(`${args.join(' ')}: exited with ${code ?? signal}`));
    });
  });
}

// The numbers are only worth something on a quiet cluster: pods left by `make demo` or a test (an in-cluster
// operator, a load-generating client) share the two cores with the bench, and once gave p99 722 ms instead of
// 252 at 5,000 proxies. An earlier bench run's own namespaces (operator-bench-*, still terminating, or left by a
// run that was killed) are deleted and waited for; anything else makes it refuse to measure.
const busy = () =>
  execFileSync(
    env.WEFT_KUBECTL!,
    [
      'get',
      'pods',
      '--all-namespaces',
      '--field-selector=status.phase!=Succeeded,status.phase!=Failed',
      '-o',
      'jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}{"\\n"}{end}',
    ],
    { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  )
    .split('\n')
    .filter((p) => p !== '' && !p.startsWith('kube-system/'));
const ours = [...new Set(busy().map((p) => p.split('/')[0]!))].filter((n) => n.startsWith('operator-bench-'));
if (ours.length > 0) {
  process.stderr.write(`bench-control-plane: deleting what earlier bench runs left: ${ours.join(', ')}\n`);
  execFileSync(env.WEFT_KUBECTL!, ['delete', 'namespace', ...ours, '--wait=true', '--timeout=300s'], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}
const running = busy();
if (running.length > 0 && process.env.BENCH_ALLOW_BUSY_CLUSTER !== '1') {
  process.stderr.write(
    `bench-control-plane: the cluster is not quiet: ${running.length} pods outside kube-system (${running
      .slice(0, 5)
      .join(
        ', ',
      )}${running.length > 5 ? ', ...' : ''}). Run it on a fresh cluster (make cluster-down cluster-up), ` +
      'or remove them (after make demo: make uninstall and kubectl delete namespace weft-demo); ' +
      'BENCH_ALLOW_BUSY_CLUSTER=1 measures anyway.\n',
  );
  process.exit(2);
}

const machine = `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
mkdirSync('bench/results', { recursive: true });
writeFileSync(OUT, `${JSON.stringify({ machine, date: new Date().toISOString() }, null, 2)}\n`);

// The SMI CRDs the benches write through (a fresh cluster has none), as the e2e runner applies them.
execFileSync(
  env.WEFT_KUBECTL,
  ['apply', '--server-side', '--force-conflicts', '--field-manager=weft-bench', '-f', 'crds/manifests/'],
  { env, stdio: ['ignore', 'ignore', 'inherit'] },
);
execFileSync(env.WEFT_KUBECTL, ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all'], {
  env,
  stdio: ['ignore', 'ignore', 'inherit'],
});

await run(['operator/bench/csr.bench.ts', '3'], 60);
await run(['operator/bench/csr-apiserver.bench.ts', '50', '2000', '16'], 300);
await run(['operator/bench/apiserver-propagation.bench.ts', '1000', '200', String(rounds)], 600);
await run(['operator/bench/apiserver-propagation.bench.ts', '5000', '1000', String(rounds)], 900);

interface Run {
  pods: number;
  services: number;
  rounds: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  resync_s: number;
  initial_distribution_s: number;
  operator_ready: { rss_mb: number; peak_rss_mb: number };
  operator: { rss_mb: number; peak_rss_mb: number };
  operator_settled: { rss_mb: number; peak_rss_mb: number };
  transport: string;
  round_ms: number[];
  apiserver_ms: number[];
  compile_ms: number[];
  publish_ms: number[];
  sent_ms: number[];
  warmup_ms: number;
}
const r = JSON.parse(readFileSync(OUT, 'utf8')) as {
  machine: string;
  csr_per_second: number;
  csr_end_to_end: {
    per_second: number;
    requests: number;
    concurrency: number;
    pods: number;
    p50_ms: number;
    p99_ms: number;
    operator_cpu_ms_per_request: number;
    apiserver_cpu_ms_per_request: number | null;
  };
  propagation: Record<string, { p50_ms: number; p99_ms: number; max_ms: number }>;
  runs: Record<string, Run>;
};
const big = r.runs['5000']!;
const final = {
  ...r,
  resync_s: big.resync_s,
  operator_rss_mb: big.operator_settled.rss_mb,
  operator_rss_detail_mb: {
    ready_5000_pods_1000_services_no_streams: big.operator_ready.rss_mb,
    with_5000_streams_right_after_rounds: big.operator.rss_mb,
    with_5000_streams_12s_later: big.operator_settled.rss_mb,
    peak: big.operator_settled.peak_rss_mb,
  },
  notes: {
    propagation:
      'Through the real apiserver of the local cluster: the operator as its own host process; N scheduling-gated meshed pods behind N/5 Services (one EndpointSlice each) in one meshed namespace; one config stream per pod (accept=patch), with its own certificate bound to that pod (the first from a real token and CSR, the rest signed with the issuer of the operator), each as proxies do it: a ticket over mTLS, then the sealed stream on a plain TCP connection (AES-256-GCM frames), opened by the bench process on the same machine (the sealed frames and a version scan per message, no HTTP client); a TrafficSplit weight merge-patched through the API; time from the PATCH call until the last of the N streams has the new version, over 20 changes after one unmeasured warm-up change (warmup_ms). Every pod sees the split, so all N are affected.',
    resync_s:
      'Operator process start until /readyz (CA loaded, every informer listed, every config compiled) with 5,000 pods and 1,000 services.',
    csr_per_second:
      'CSR verify + leaf signing, one thread (= per core), through the CertificateAuthority without HTTP and TokenReview.',
    csr_end_to_end:
      'Certificate requests as proxies make them, against the operator process: a new TLS connection each, a CSR with a pod-bound projected token (TokenRequest, 50 scheduling-gated pods), the TokenReview through the real apiserver, the pod match and the signature; 2,000 requests 16 at a time after 200 unmeasured ones; CPU per request of the operator and of the kube-apiserver from /proc. The bench client (TLS handshakes) shares the 2 cores.',
    operator_rss_mb:
      'VmRSS of the operator process with 5,000 sealed streams, 12 s after the last round (past its native heap trim, operator/src/heap-trim.ts); operator_rss_detail_mb: without streams, right after the rounds, and peak VmHWM.',
    load: 'The simulated proxies (a ticket request over mTLS each, then opening the sealed frames of every message) share the 2 cores with the operator and the cluster. Their process runs with 32 MiB semi-spaces (since 2026-12-05; before, its own full collections were measured as propagation) and collects on its own thread (--single-threaded-gc, since 2026-12-06; before, the helper threads of its collections could take the core of the operator in the middle of a publish).',
  },
};
writeFileSync(OUT, `${JSON.stringify(final, null, 2)}\n`);

const row = (n: string) => {
  const p = r.propagation[n]!;
  const x = r.runs[n]!;
  return `| ${n} | ${x.services} | ${x.rounds} | ${p.p50_ms} ms | ${p.p99_ms} ms | ${p.max_ms} ms | ${x.initial_distribution_s} s | ${x.resync_s} s | ${x.operator_ready.rss_mb} MB | ${x.operator.rss_mb} MB | ${x.operator_settled.rss_mb} MB | ${x.operator_settled.peak_rss_mb} MB |`;
};
/** Medians per round of where a change's time went; delivery is what is left (the simulated proxies reading). */
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const split = (n: string) => {
  const x = r.runs[n]!;
  const rest = x.round_ms.map(
    (t, i) => t - Math.max(0, x.apiserver_ms[i]!) - x.compile_ms[i]! - x.publish_ms[i]! - x.sent_ms[i]!,
  );
  return `| ${n} | ${median(x.apiserver_ms)} ms | ${median(x.compile_ms)} ms | ${median(x.publish_ms)} ms | ${median(x.sent_ms)} ms | ${Math.max(0, median(rest))} ms | ${x.warmup_ms} ms |`;
};
writeFileSync(
  'bench/results/control-plane.md',
  [
    '## Control plane: config propagation, resync, CSR signing, operator memory',
    '',
    `Command: \`make bench-control-plane\` (operator/bench/control-plane.ts; numbers in bench/results/control-plane.json). Machine: ${machine}, shared with the local cluster; the simulated proxies run on the same cores, in one process with 32 MiB semi-spaces and \`--single-threaded-gc\` (so that its own garbage collection is not measured as propagation).`,
    'A TrafficSplit weight is merge-patched through the apiserver; the time is until the last subscribed proxy has the new config version.',
    '',
    '| proxies | services | changes | p50 | p99 | max | first config at all | resync | operator RSS, no streams | streaming, after the rounds | 12 s later | peak |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    row('1000'),
    row('5000'),
    '',
    "Where a change spends its time (medians over the rounds): from the PATCH call to the operator's informer event",
    '(apiserver, etcd, watch), compiling every proxy config, publishing (a patch per subscriber, written to its',
    'stream: sealing its frame (AES-256-GCM) and write(2) itself, and on loopback write(2) also runs',
    "the receiver's TCP path), sending (whatever writes were left for the next turn of the event loop), and the rest",
    'until the last simulated proxy has read it (delivery, on the same two cores). Each size starts with one',
    'unmeasured warm-up change (the first patch after start-up runs cold code), shown last.',
    '',
    '| proxies | apiserver | compile | publish | send | delivery | warm-up change |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    split('1000'),
    split('5000'),
    '',
    `CSR verify + sign: ${r.csr_per_second}/s on one core. End to end (operator/bench/csr-apiserver.bench.ts: a new TLS connection per request, a pod-bound token, the TokenReview through the apiserver, 16 at a time; the bench client on the same 2 cores): ${r.csr_end_to_end.per_second}/s, p50 ${r.csr_end_to_end.p50_ms} ms, p99 ${r.csr_end_to_end.p99_ms} ms, operator CPU ${r.csr_end_to_end.operator_cpu_ms_per_request} ms and apiserver CPU ${r.csr_end_to_end.apiserver_cpu_ms_per_request ?? '?'} ms per request. Targets (issue 5): p99 <= 100 ms at 1,000 and <= 500 ms at 5,000; >= 300 CSR/s per core; operator RSS <= 300 MB at 5,000 pods.`,
    '',
  ].join('\n'),
);
process.stdout.write(`${JSON.stringify(final)}\n`);
