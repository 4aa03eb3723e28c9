// Certificate requests end to end, as proxies make them: a new TLS connection to the operator, a CSR with a
// pod-bound projected ServiceAccount token, the operator's TokenReview through the real apiserver, the match against
// the pod, and the signature. The operator runs as its own host process (the bundle, as it ships) against the
// cluster in KUBECONFIG; P scheduling-gated pods each get a bound token (TokenRequest) first; then R requests go out
// C at a time, cycling over the tokens and over a few CSRs made with openssl. Reported: requests per second, the
// operator's and the apiserver's CPU per request (/proc, utime + stime; the apiserver's includes whatever else it did
// meanwhile, and is left out when no local kube-apiserver process is found), and p50/p99 of one request.
// csr.bench.ts measures the signing alone.
//   KUBECONFIG=... WEFT_KUBECTL=... node operator/bench/csr-apiserver.bench.ts [pods] [requests] [concurrency]
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { CoreV1Api } from '@kubernetes/client-node';
import { cpuUs } from '../../bench/proc.ts';
import { IDENTITY_TOKEN_AUDIENCE } from '../../crds/control-plane/types.ts';
import { loadKubeConfig } from '../../crds/kube-client.ts';
import { createTestNamespace, deleteNamespace, getJson, kubectl } from '../../test/e2e/kube.ts';
import { OPERATOR_BUNDLE, request, startOperator } from '../../test/e2e/operator/harness.ts';
import { splitPemCertificates } from '../src/identity/index.ts';
import { opensslCsr } from '../src/identity/testing.ts';
import { mergeResults } from './results.ts';

const pods = Number(process.argv[2] ?? 50);
const requests = Number(process.argv[3] ?? 2000);
const concurrency = Number(process.argv[4] ?? 16);
const log = (m: string) => process.stderr.write(`[csr e2e] ${m}\n`);

/** CPU time (user + system) of a process so far, ms. */
const cpuMs = (pid: number): number => cpuUs([pid]).total / 1000;

/** The kube-apiserver of the local cluster (a host process here), or null. */
function apiserverPid(): number | null {
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'kube-apiserver') return Number(p);
    } catch {
      // Gone meanwhile.
    }
  }
  return null;
}

const q = (sorted: number[], x: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(x * sorted.length) - 1)]!;

const kc = loadKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const ns = await createTestNamespace('operator-bench-csr');
let op: Awaited<ReturnType<typeof startOperator>> | null = null;
try {
  await kubectl(['annotate', 'namespace', ns, 'weft.dev/inject=enabled']);
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'app' } } });
  const uids: string[] = [];
  for (let p = 0; p < pods; p++) {
    const created = await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: `p${p}`, labels: { 'weft.dev/control-plane': 'operator-bench' } },
        spec: {
          serviceAccountName: 'app',
          schedulingGates: [{ name: 'weft.dev/bench-never-schedule' }],
          containers: [{ name: 'app', image: 'registry.invalid/none:1' }],
        },
      },
    });
    uids.push(created.metadata!.uid!);
  }
  const tokens = await Promise.all(
    uids.map(async (uid, p) => {
      const r = await core.createNamespacedServiceAccountToken({
        namespace: ns,
        name: 'app',
        body: {
          spec: {
            audiences: [IDENTITY_TOKEN_AUDIENCE],
            expirationSeconds: 3600,
            boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: `p${p}`, uid },
          },
        },
      });
      return r.status!.token;
    }),
  );
  const csrs = Array.from({ length: 8 }, () => opensslCsr().csrPem);

  execFileSync(process.execPath, ['scripts/bundle.ts', 'operator'], {
    stdio: 'ignore',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const addon = execFileSync('proxy-image/native/build.sh', { encoding: 'utf8' }).trim();
  // WEFT_BENCH_OPERATOR_NODE_ARGS (e.g. "--cpu-prof") go to the operator's node only.
  const nodeArgs = (process.env.WEFT_BENCH_OPERATOR_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  op = await startOperator(ns, { WEFT_NATIVE_ADDON: addon }, nodeArgs, OPERATOR_BUNDLE);
  const started = Date.now();
  while ((await fetch(`http://127.0.0.1:${op.adminPort}/readyz`).catch(() => null))?.status !== 200) {
    if (Date.now() - started > 120_000) throw new Error('operator not ready after 120 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  const cm = await getJson<{ data: Record<string, string> }>(['-n', ns, 'configmap', 'weft-trust-anchors']);
  const ca = splitPemCertificates(cm.data['ca.pem']!);

  let sent = 0;
  let failed = 0;
  const latencies: number[] = [];
  /** Sends `n` requests, `concurrency` at a time, each on a connection of its own (as proxies do). */
  const run = async (n: number) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < n) {
          const i = next++;
          const p = sent++ % pods;
          const t0 = performance.now();
          const res = await request(op!.controlPlanePort, {
            method: 'POST',
            path: '/v1alpha1/certificates',
            ca,
            headers: { authorization: `Bearer ${tokens[p]}`, 'content-type': 'application/json' },
            body: JSON.stringify({ csr: csrs[i % csrs.length], pod: { namespace: ns, name: `p${p}` } }),
          });
          latencies.push(performance.now() - t0);
          if (res.status !== 200) {
            failed++;
            if (failed <= 3) log(`request for p${p}: ${res.status} ${res.body.slice(0, 200)}`);
          }
        }
      }),
    );
  };
  await run(Math.min(200, requests)); // warm-up: cold code, first connections
  latencies.length = 0;
  failed = 0;
  const api = apiserverPid();
  const opCpu0 = cpuMs(op.pid);
  const apiCpu0 = api === null ? 0 : cpuMs(api);
  const t0 = performance.now();
  await run(requests);
  const seconds = (performance.now() - t0) / 1000;
  const opCpu = cpuMs(op.pid) - opCpu0;
  const apiCpu = api === null ? null : cpuMs(api) - apiCpu0;
  if (failed > 0) throw new Error(`${failed} of ${requests} certificate requests failed`);
  latencies.sort((a, b) => a - b);
  const result = {
    per_second: Math.round(requests / seconds),
    requests,
    concurrency,
    pods,
    p50_ms: Math.round(q(latencies, 0.5) * 10) / 10,
    p99_ms: Math.round(q(latencies, 0.99) * 10) / 10,
    operator_cpu_ms_per_request: Math.round((opCpu / requests) * 100) / 100,
    apiserver_cpu_ms_per_request: apiCpu === null ? null : Math.round((apiCpu / requests) * 100) / 100,
  };
  log(JSON.stringify(result));
  process.stdout.write(`${JSON.stringify(result)}\n`);
  mergeResults(process.env.WEFT_BENCH_OUT, { csr_end_to_end: result });
} finally {
  // Each step even if the one before failed: the namespace must go whatever happened.
  await op?.stop().catch((e: Error) => log(`operator stop: ${e.message}`));
  await kc.close();
  await deleteNamespace(ns);
}
