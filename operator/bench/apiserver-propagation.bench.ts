// Propagation through the real apiserver: the operator runs as its own host process (the bundle of operator/src/main.ts) against
// the cluster in KUBECONFIG, so its memory is measured apart from the simulated proxies. N meshed pods
// (scheduling-gated, so no kubelet work) behind S Services (one EndpointSlice each, endpoints naming their pods)
// in one meshed namespace; every pod gets an mTLS config stream (patch mode) from this process; R times a
// TrafficSplit weight is merge-patched through the API and the time until the last stream has the new version is
// recorded. Also measured: resync (operator start until /readyz: CA loaded, every informer listed, every config
// compiled), the time until every stream has its first config, and the operator's RSS (VmRSS, peak VmHWM).
// Creates and deletes its own namespace. Bench pods carry weft.dev/control-plane so an installed injector skips them.
//   KUBECONFIG=... WEFT_KUBECTL=... node operator/bench/apiserver-propagation.bench.ts [pods] [services] [rounds]
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import {
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1Secret,
} from '@kubernetes/client-node';
import { exportSealedMaterial, SealedClient, streamKeys } from '../../crds/control-plane/sealed.ts';
import { CONFIG_STREAM_UPGRADE, CONFIG_TICKETS_PATH } from '../../crds/control-plane/types.ts';
import { loadKubeConfig } from '../../crds/kube-client.ts';
import { createTestNamespace, deleteNamespace, getJson, kubectl, waitFor } from '../../test/e2e/kube.ts';
import { OPERATOR_BUNDLE, requestCertificate, startOperator } from '../../test/e2e/operator/harness.ts';
import {
  CertificateAuthority,
  keyToPem,
  loadIssuer,
  spiffeIdFor,
  splitPemCertificates,
} from '../src/identity/index.ts';
import { secretData } from '../src/kube/ca-secret.ts';
import { DEFAULT_MESH_SETTINGS } from '../src/model/cluster.ts';
import { DEFAULT_CONNECTION_LIMITS } from '../src/server.ts';
import { mergeResults } from './results.ts';
import { versionScanner } from './stream-versions.ts';

// This process stands in for every simulated proxy, so its own pauses must not be measured as propagation. With
// V8's default young generation, what it allocates reading 1,000 streams survived into the old generation and a
// full collection ran every other round (6-21 ms pauses plus up to 25 ms of marking steps, --trace-gc; p99 93 ms),
// and in a full run four rounds ended 25-52 ms after the operator's last write (p99 122 ms, 2026-12-05). With 32
// MiB semi-spaces it ran none during the rounds (p99 73 ms, the same hour).
// Its collections also run on V8's helper threads, one per core, which can take the operator's core: the
// operator's publish (~17 ms of CPU at 1,000 proxies) took 24-89 ms of wall time per round, and five runs at 1,000
// proxies on 2026-12-06 gave p99 91, 111, 94, 72 and 143 ms. With --single-threaded-gc (this process's
// collections on its own thread) three runs right after gave 69, 58 and 53 ms, publish 24-43 ms; full runs later
// that day 87-112 ms at 1,000 (docs/operator.md). Real proxies run on other machines.
// The operator keeps its shipped flags (OPERATOR_NODE_FLAGS). Started without a semi-space size of its own, the
// bench runs itself again with these.
const SIMULATED_PROXIES_FLAGS = ['--max-semi-space-size=32', '--single-threaded-gc'];
if (!process.execArgv.some((a) => a.startsWith('--max-semi-space-size'))) {
  const again = spawnSync(
    process.execPath,
    [...process.execArgv, ...SIMULATED_PROXIES_FLAGS, ...process.argv.slice(1)],
    { stdio: 'inherit' },
  );
  if (again.error !== undefined) throw again.error;
  if (again.signal !== null) process.kill(process.pid, again.signal);
  process.exit(again.status ?? 1);
}

const pods = Number(process.argv[2] ?? 200);
const services = Math.max(2, Number(process.argv[3] ?? Math.ceil(pods / 5)));
const rounds = Number(process.argv[4] ?? 20);
const accounts = 10;
/** The operator's default trust domain (WEFT_TRUST_DOMAIN unset). */
const TRUST_DOMAIN = DEFAULT_MESH_SETTINGS.trustDomain;
const perService = Math.ceil(pods / services);
const log = (m: string) => process.stderr.write(`[bench ${pods}] ${m}\n`);

// Pooled, as the operator's own client and kubectl keep their connection: each round's PATCH is then not a new
// TLS connection to the apiserver inside the measured time (client-node 2.0.1 opens one per call otherwise).
const kc = loadKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const discovery = kc.makeApiClient(DiscoveryV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);

/** Runs fn over items with at most `width` in flight. */
async function pool<T>(items: T[], width: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** Resident and peak resident memory of a process, MB. */
function memoryOf(pid: number): { rss_mb: number; peak_rss_mb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { rss_mb: Math.round(kb('VmRSS') / 1024), peak_rss_mb: Math.round(kb('VmHWM') / 1024) };
}

/** Where the operator's memory is, MB, from its own metrics (prom-client's default ones): V8's heap (total and
 * used), memory outside it that V8 accounts for (external: Buffers and the like), and the rest of RSS (native). */
async function heapOf(adminPort: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const metric = (name: string) =>
    Number(new RegExp(`^weft_operator_${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN) / 1048576;
  const rss = metric('process_resident_memory_bytes');
  const heapTotal = metric('nodejs_heap_size_total_bytes');
  const external = metric('nodejs_external_memory_bytes');
  const r = (x: number) => Math.round(x);
  return {
    heap_total_mb: r(heapTotal),
    heap_used_mb: r(metric('nodejs_heap_size_used_bytes')),
    external_mb: r(external),
    rest_mb: r(rss - heapTotal - external),
  };
}

const q = (sorted: number[], x: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(x * sorted.length) - 1)]!;

// A previous run's namespace still terminating would add its pods and services to this run's cache.
await waitFor('earlier bench namespaces gone', 300_000, async () => {
  const list = await getJson<{ items: { metadata: { name: string } }[] }>(['namespaces']);
  return !list.items.some((n) => n.metadata.name.startsWith('operator-bench-'));
});
const ns = await createTestNamespace('operator-bench');
const streams: net.Socket[] = [];
let op: Awaited<ReturnType<typeof startOperator>> | null = null;
try {
  await kubectl(['annotate', 'namespace', ns, 'weft.dev/inject=enabled']);
  const ip = (i: number) =>
    `10.${250 + Math.floor(i / 65_000)}.${Math.floor((i % 65_000) / 250)}.${(i % 250) + 1}`;
  const t0 = Date.now();
  await pool(
    Array.from({ length: accounts }, (_, a) => a),
    8,
    (a) => core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: `sa${a}` } } }),
  );
  await pool(
    Array.from({ length: services }, (_, s) => s),
    16,
    async (s) => {
      await core.createNamespacedService({
        namespace: ns,
        body: {
          metadata: { name: `svc${s}` },
          spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
        },
      });
      const members = Array.from({ length: perService }, (_, j) => s * perService + j).filter(
        (p) => p < pods,
      );
      await discovery.createNamespacedEndpointSlice({
        namespace: ns,
        body: {
          metadata: { name: `svc${s}-1`, labels: { 'kubernetes.io/service-name': `svc${s}` } },
          addressType: 'IPv4',
          ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
          endpoints: members.map((p) => ({
            addresses: [ip(p)],
            conditions: { ready: true },
            targetRef: { kind: 'Pod', name: `p${p}`, namespace: ns },
          })),
        },
      });
    },
  );
  const podUids: string[] = new Array(pods);
  await pool(
    Array.from({ length: pods }, (_, p) => p),
    16,
    async (p) => {
      const created = await core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: {
            name: `p${p}`,
            labels: { 'weft.dev/meshed': 'true', 'weft.dev/control-plane': 'operator-bench' },
          },
          spec: {
            serviceAccountName: `sa${p % accounts}`,
            schedulingGates: [{ name: 'weft.dev/bench-never-schedule' }],
            containers: [{ name: 'app', image: 'registry.invalid/none:1', ports: [{ containerPort: 8080 }] }],
          },
        },
      });
      podUids[p] = created.metadata!.uid!;
    },
  );
  await custom.createNamespacedCustomObject({
    group: 'split.smi-spec.io',
    version: 'v1alpha4',
    namespace: ns,
    plural: 'trafficsplits',
    body: {
      apiVersion: 'split.smi-spec.io/v1alpha4',
      kind: 'TrafficSplit',
      metadata: { name: 'root' },
      spec: {
        service: 'svc0',
        backends: [
          { service: 'svc0', weight: 50 },
          { service: 'svc1', weight: 50 },
        ],
      },
    },
  });
  log(`created ${pods} pods, ${services} services and slices in ${Date.now() - t0} ms`);

  const spawned = Date.now();
  // WEFT_BENCH_OPERATOR_NODE_ARGS (e.g. "--cpu-prof --trace-gc") go to the operator's node only.
  const nodeArgs = (process.env.WEFT_BENCH_OPERATOR_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  // The operator runs as it ships: the esbuild bundle (built just before the run), not the TypeScript sources,
  // whose type stripping and per-module sources cost the process memory the image never has.
  execFileSync(process.execPath, ['scripts/bundle.ts', 'operator'], {
    stdio: 'ignore',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  // With the native addon, as in the controller image (the operator releases its start-up pages): the one
  // build.sh made, named by WEFT_NATIVE_ADDON.
  const addon = execFileSync('proxy-image/native/build.sh', { encoding: 'utf8' }).trim();
  // Every stream comes from loopback, one address for all of them: the per-address limit must hold them all, and
  // the total must leave them room past the reserve kept for certificate requests (streamReserve).
  const limit = String(Math.max(2 * pods + 100, DEFAULT_CONNECTION_LIMITS.maxConnections));
  op = await startOperator(
    ns,
    {
      WEFT_NATIVE_ADDON: addon,
      WEFT_CONTROL_PLANE_MAX_CONNECTIONS: limit,
      WEFT_CONTROL_PLANE_MAX_CONNECTIONS_PER_ADDRESS: limit,
      // WEFT_BENCH_OPERATOR_LOG_LEVEL=debug: e.g. to see the native heap trims (with WEFT_BENCH_OPERATOR_LOG).
      ...(process.env.WEFT_BENCH_OPERATOR_LOG_LEVEL
        ? { WEFT_LOG_LEVEL: process.env.WEFT_BENCH_OPERATOR_LOG_LEVEL }
        : {}),
    },
    nodeArgs,
    OPERATOR_BUNDLE,
  );
  const admin = op.adminPort;
  for (;;) {
    const r = await fetch(`http://127.0.0.1:${admin}/readyz`).catch(() => null);
    if (r?.status === 200) break;
    if (Date.now() - spawned > 300_000) throw new Error('operator not ready after 300 s');
    await new Promise((res) => setTimeout(res, 20));
  }
  const resyncS = (Date.now() - spawned) / 1000;
  const readyMemory = memoryOf(op.pid);
  log(
    `operator ready (resync) after ${resyncS} s; ${JSON.stringify(readyMemory)} ${JSON.stringify(await heapOf(admin))}`,
  );

  const cm = await getJson<{ data: Record<string, string> }>(['-n', ns, 'configmap', 'weft-trust-anchors']);
  const ca = splitPemCertificates(cm.data['ca.pem']!);
  // One certificate per pod, as every proxy has, bound to its pod (a certificate follows only the pod it was
  // issued for). The real flow (a pod-bound token and a CSR) for the first pod; the rest signed here with the
  // operator's issuer, read from its Secret: 5,000 TokenReviews are not what this bench measures.
  const first = await requestCertificate(op.controlPlanePort, ca, {
    namespace: ns,
    serviceAccount: 'sa0',
    pod: 'p0',
  });
  if (first.res.status !== 200) throw new Error(`certificate for p0: ${first.res.body}`);
  const secret = await getJson<V1Secret>(['-n', ns, 'secret', 'weft-identity']);
  const issuer = new CertificateAuthority(loadIssuer(secretData(secret)), { trustDomain: TRUST_DOMAIN });
  const contexts = podUids.map((uid, p) => {
    if (p === 0)
      return tls.createSecureContext({
        ca,
        key: first.keyPem,
        cert: (JSON.parse(first.res.body) as { certificateChain: string }).certificateChain,
      });
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const chain = issuer.issueVerified(
      { spki: publicKey.export({ type: 'spki', format: 'der' }), publicKey },
      spiffeIdFor(TRUST_DOMAIN, ns, `sa${p % accounts}`),
      new Date(),
      { pod: { namespace: ns, uid } },
    ).certificateChain;
    return tls.createSecureContext({ ca, key: keyToPem(privateKey), cert: chain });
  });

  // Last version seen per pod and when.
  const seen: ({ version: string; at: number } | undefined)[] = new Array(pods);
  let errors = 0;
  // WEFT_BENCH_STREAM picks the transport: `sealed` (default, as proxies do: a ticket over mTLS, then the stream
  // on a plain TCP connection), `upgrade` (the stream on the TLS connection after 101, as proxies did before), or
  // `response` (a plain 200 response, HTTP/1.0 so the body is unframed, as proxies before the Upgrade path did);
  // for comparing the transports.
  const transport = process.env.WEFT_BENCH_STREAM ?? 'sealed';
  if (!['sealed', 'upgrade', 'response'].includes(transport))
    throw new Error(`WEFT_BENCH_STREAM=${transport}: sealed, upgrade or response`);
  // Each simulated proxy does only what measuring needs: TLS, the sealed frames, and the version scan, no HTTP
  // client. One process stands in for 1,000 proxies on other machines.
  const scanner = (p: number) =>
    versionScanner((version) => {
      seen[p] = { version, at: Date.now() };
    });
  const failed = (p: number, resolve: () => void) => (err: Error) => {
    errors++;
    log(`stream p${p}: ${err.message}`);
    resolve();
  };
  /** An mTLS connection to the operator with pod p's certificate. */
  const tlsTo = (p: number) =>
    tls.connect({
      host: '127.0.0.1',
      port: op!.controlPlanePort,
      secureContext: contexts[p]!,
      servername: 'localhost',
    });
  /** Pod p's stream over the TLS connection; resolves once its TLS handshake is done (or failed: counted). */
  const openTls = (p: number) =>
    new Promise<void>((resolve) => {
      const socket = tlsTo(p);
      socket.write(
        transport === 'response'
          ? `GET /v1alpha1/config?pod=${ns}/p${p}&accept=patch HTTP/1.0\r\nHost: localhost\r\n\r\n`
          : `GET /v1alpha1/config?pod=${ns}/p${p}&accept=patch HTTP/1.1\r\nHost: localhost\r\n` +
              `Connection: Upgrade\r\nUpgrade: ${CONFIG_STREAM_UPGRADE}\r\n\r\n`,
      );
      socket.on('data', scanner(p));
      socket.once('secureConnect', resolve);
      socket.on('error', failed(p, resolve));
      streams.push(socket);
    });
  /** Pod p's sealed stream: resolves once the plain connection is up (or something failed: counted). */
  const openSealed = (p: number) =>
    new Promise<void>((resolve) => {
      const fail = failed(p, resolve);
      const socket = tlsTo(p);
      socket.write(
        `POST ${CONFIG_TICKETS_PATH}?pod=${ns}/p${p}&accept=patch HTTP/1.1\r\nHost: localhost\r\n` +
          'Content-Length: 0\r\nConnection: close\r\n\r\n',
      );
      let exported: Buffer | undefined;
      socket.once('secureConnect', () => {
        exported = exportSealedMaterial(socket);
      });
      const answer: Buffer[] = [];
      socket.on('data', (d: Buffer) => answer.push(d));
      socket.on('error', fail);
      socket.on('end', () => {
        const text = Buffer.concat(answer).toString();
        if (!text.startsWith('HTTP/1.1 200') || exported === undefined) {
          fail(new Error(`ticket: ${text.slice(0, 200)}`));
          return;
        }
        const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { ticket: string; port: number };
        const ticket = Buffer.from(body.ticket, 'base64url');
        const keys = streamKeys(exported, ticket);
        const plain = net.connect({ host: '127.0.0.1', port: body.port });
        const sealed = new SealedClient(ticket, keys, (hello) => plain.write(hello));
        const scan = scanner(p);
        plain.on('data', (d: Buffer) => {
          for (const x of sealed.push(d)) scan(x);
        });
        plain.once('connect', resolve);
        plain.on('error', fail);
        streams.push(plain);
      });
    });
  const open = transport === 'sealed' ? openSealed : openTls;
  const streamsStart = Date.now();
  // A hundred handshakes at a time: thousands at once overflow the listen backlog (connections reset).
  for (let p = 0; p < pods; p += 100) {
    await Promise.all(Array.from({ length: Math.min(100, pods - p) }, (_, k) => open(p + k)));
  }
  if (errors > 0) throw new Error(`${errors} of ${pods} streams failed to open`);
  const waitAll = async (pred: (p: number) => boolean, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      let all = true;
      for (let p = 0; p < pods && all; p++) all = pred(p);
      if (all) return true;
      await new Promise((r) => setTimeout(r, 5));
    }
    return false;
  };
  if (!(await waitAll((p) => seen[p] !== undefined, 300_000)))
    throw new Error(`not every stream got a first config (${errors} stream errors)`);
  const initialS = (Date.now() - streamsStart) / 1000;
  log(
    `first config at all ${pods} streams after ${initialS} s; ${JSON.stringify(memoryOf(op.pid))} ${JSON.stringify(await heapOf(admin))}`,
  );
  await new Promise((r) => setTimeout(r, 1000));

  const latencies: number[] = [];
  const starts: number[] = [];
  // Round -1 is a warm-up, reported apart (warmup_ms): the first weight change after start-up runs the patch
  // path through cold (unoptimized) code; the 20 measured changes are those of an operator already running.
  let warmupMs = -1;
  for (let r = -1; r < rounds; r++) {
    const before = seen.map((v) => v!.version);
    const start = Date.now();
    if (r >= 0) starts.push(start);
    // 10..89 and round again: each round differs from the one before, for any number of rounds (a weight
    // that went below 0 was refused by the CRD's validation past 90 rounds).
    const w = 10 + ((r + 80) % 80);
    await custom.patchNamespacedCustomObject(
      {
        group: 'split.smi-spec.io',
        version: 'v1alpha4',
        namespace: ns,
        plural: 'trafficsplits',
        name: 'root',
        body: {
          spec: {
            backends: [
              { service: 'svc0', weight: w },
              { service: 'svc1', weight: 100 - w },
            ],
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    if (!(await waitAll((p) => seen[p]!.version !== before[p], 60_000)))
      throw new Error(`round ${r}: not every stream got the new version (${errors} stream errors)`);
    let last = 0;
    for (const v of seen) last = Math.max(last, v!.at);
    if (r >= 0) latencies.push(last - start);
    else warmupMs = last - start;
    log(`${r < 0 ? 'warm-up round' : `round ${r}`}: last of ${pods} streams after ${last - start} ms`);
    await new Promise((res) => setTimeout(res, 200));
  }
  const memory = memoryOf(op.pid);
  const heapAfter = await heapOf(admin);
  // And once settled: past the operator's native heap trim (operator/src/heap-trim.ts, every 10 s after
  // distribution work), which hands back what the burst freed.
  await new Promise((res) => setTimeout(res, 12_000));
  const settled = memoryOf(op.pid);
  log(
    `operator memory after the rounds ${JSON.stringify(memory)} ${JSON.stringify(heapAfter)}, 12 s later ${JSON.stringify(settled)} ${JSON.stringify(await heapOf(admin))}`,
  );
  // WEFT_BENCH_HOLD_S=<s>: keep the operator and every stream up that long (to inspect the process).
  const holdS = Number(process.env.WEFT_BENCH_HOLD_S ?? 0);
  if (holdS > 0) {
    log(`holding for ${holdS} s: operator pid ${op.pid}`);
    await new Promise((res) => setTimeout(res, holdS * 1000));
  }
  // The operator's own share of each round: compile and publish (hand every patch to its socket).
  const timings = op.logs
    .filter((l) => l.includes('"compiled and published"'))
    .slice(-rounds)
    .map(
      (l) =>
        JSON.parse(l) as {
          changedAt: number;
          queuedMs: number;
          compileMs: number;
          publishMs: number;
          sentMs: number;
        },
    );
  // Same host, same clock: from the PATCH request to the operator's informer event is the apiserver's share.
  const watchMs = timings.map((t, i) => (t.changedAt > 0 ? t.changedAt - starts[i]! : -1));
  log(`apiserver (patch -> informer event) ms: ${watchMs.join(' ')}`);
  log(`operator queue ms: ${timings.map((t) => t.queuedMs).join(' ')}`);
  log(`operator compile ms: ${timings.map((t) => t.compileMs).join(' ')}`);
  log(`operator publish ms: ${timings.map((t) => t.publishMs).join(' ')}`);
  log(`operator sent ms: ${timings.map((t) => t.sentMs).join(' ')}`);
  const roundMs = [...latencies];
  latencies.sort((a, b) => a - b);
  const result = { p50_ms: q(latencies, 0.5), p99_ms: q(latencies, 0.99), max_ms: latencies.at(-1)! };
  const summary = {
    through: 'apiserver',
    transport,
    pods,
    services,
    rounds,
    ...result,
    resync_s: resyncS,
    initial_distribution_s: initialS,
    operator_ready: readyMemory,
    operator: memory,
    operator_settled: settled,
    warmup_ms: warmupMs,
    round_ms: roundMs,
    apiserver_ms: watchMs,
    queue_ms: timings.map((t) => t.queuedMs),
    compile_ms: timings.map((t) => t.compileMs),
    publish_ms: timings.map((t) => t.publishMs),
    sent_ms: timings.map((t) => t.sentMs),
    stream_errors: errors,
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  mergeResults(process.env.WEFT_BENCH_OUT, {
    propagation: { [String(pods)]: result },
    runs: { [String(pods)]: summary },
  });
} finally {
  for (const s of streams) s.destroy();
  await op?.stop();
  // WEFT_BENCH_OPERATOR_LOG=<file> keeps the operator's output (its logs, and e.g. --trace-gc lines).
  if (process.env.WEFT_BENCH_OPERATOR_LOG && op)
    writeFileSync(process.env.WEFT_BENCH_OPERATOR_LOG, `${op.logs.join('\n')}\n`);
  await deleteNamespace(ns);
}
