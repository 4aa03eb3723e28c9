// Throughput and latency of SMI conversion and validation: the pure functions, the review handlers (JSON in,
// JSON out), and the whole HTTPS round trip on loopback. Bounded in count; no assertions. Writes
// webhooks/bench/results.md. Run: node webhooks/bench/run.ts
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { convertSmiObject } from '../../crds/smi/conversion/index.ts';
import { validateSmiObject } from '../../crds/smi/validation/index.ts';
import { buildWebhookRouter } from '../src/app.ts';
import { MemoryCaStore } from '../src/certs/ca-store.ts';
import { GeneratedCertificates } from '../src/certs/generated-certificates.ts';
import { reviewConversion } from '../src/conversion/conversion-review.ts';
import { reviewPod } from '../src/injection/admission.ts';
import { INJECT_PATH, injectHandler } from '../src/injection/handler.ts';
import { DEFAULT_MESH_CONFIG } from '../src/injection/mesh-config.ts';
import { startWebhookServer } from '../src/server/https-server.ts';
import { createWebhookMetrics } from '../src/server/metrics.ts';
import { reviewAdmission } from '../src/validation/admission-review.ts';

interface Row {
  name: string;
  ops: number;
  opsPerSec: number;
  p50us: number;
  p99us: number;
  maxUs: number;
}

const meta = { name: 'web', namespace: 'shop', annotations: { team: 'payments' } };
const splitV1 = {
  apiVersion: 'split.smi-spec.io/v1alpha1',
  kind: 'TrafficSplit',
  metadata: meta,
  spec: {
    service: 'web',
    backends: [
      { service: 'web', weight: '1' },
      { service: 'web-canary', weight: '500m' },
      { service: 'web-b', weight: 2 },
    ],
  },
};
const groupV4 = {
  apiVersion: 'specs.smi-spec.io/v1alpha4',
  kind: 'HTTPRouteGroup',
  metadata: meta,
  spec: {
    matches: Array.from({ length: 10 }, (_, i) => ({
      name: `m${i}`,
      pathRegex: `/api/v[0-9]{1,3}/items/${i}/.*`,
      methods: ['GET', 'POST'],
      headers: [{ 'x-tenant': '^(blue|green)$' }, { 'user-agent': '.*Firefox.*' }],
    })),
  },
};
const targetV1 = {
  apiVersion: 'access.smi-spec.io/v1alpha1',
  kind: 'TrafficTarget',
  metadata: meta,
  destination: { kind: 'ServiceAccount', name: 'web', port: '8080' },
  sources: Array.from({ length: 5 }, (_, i) => ({
    kind: 'ServiceAccount',
    name: `client-${i}`,
    namespace: 'shop',
  })),
  specs: [{ kind: 'HTTPRouteGroup', name: 'routes', matches: ['m0', 'm1'] }],
};

function measure(name: string, count: number, fn: () => unknown): Row {
  for (let i = 0; i < Math.min(1000, count); i++) fn(); // warm up
  const samples = new Float64Array(count);
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const t = process.hrtime.bigint();
    fn();
    samples[i] = Number(process.hrtime.bigint() - t) / 1000;
  }
  const total = Number(process.hrtime.bigint() - start) / 1e9;
  return summarise(name, samples, total);
}

async function measureAsync(name: string, count: number, fn: () => Promise<unknown>): Promise<Row> {
  for (let i = 0; i < Math.min(200, count); i++) await fn();
  const samples = new Float64Array(count);
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const t = process.hrtime.bigint();
    await fn();
    samples[i] = Number(process.hrtime.bigint() - t) / 1000;
  }
  return summarise(name, samples, Number(process.hrtime.bigint() - start) / 1e9);
}

function summarise(name: string, samples: Float64Array, seconds: number): Row {
  const sorted = [...samples].sort((a, b) => a - b);
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
  return {
    name,
    ops: samples.length,
    opsPerSec: samples.length / seconds,
    p50us: q(0.5),
    p99us: q(0.99),
    maxUs: sorted.at(-1)!,
  };
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`benchmark input broken: ${what}`);
}

async function main(): Promise<void> {
  check(convertSmiObject(splitV1, 'split.smi-spec.io/v1alpha4').ok, 'split converts');
  check(validateSmiObject(groupV4).denials.length === 0, 'group is valid');
  const rows: Row[] = [];
  const N = 20_000;
  rows.push(
    measure('convert TrafficSplit v1alpha1 (Quantity) -> v1alpha4', N, () =>
      convertSmiObject(splitV1, 'split.smi-spec.io/v1alpha4'),
    ),
  );
  const splitV4 = (
    convertSmiObject(splitV1, 'split.smi-spec.io/v1alpha4') as { object: Record<string, unknown> }
  ).object;
  rows.push(
    measure('convert TrafficSplit v1alpha4 -> v1alpha1 (restores originals)', N, () =>
      convertSmiObject(splitV4, 'split.smi-spec.io/v1alpha1'),
    ),
  );
  rows.push(
    measure('convert HTTPRouteGroup v1alpha4 (10 matches) -> v1alpha1', N, () =>
      convertSmiObject(groupV4, 'specs.smi-spec.io/v1alpha1'),
    ),
  );
  rows.push(
    measure('convert TrafficTarget v1alpha1 -> v1alpha3', N, () =>
      convertSmiObject(targetV1, 'access.smi-spec.io/v1alpha3'),
    ),
  );
  const list = JSON.stringify({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'ConversionReview',
    request: {
      uid: 'u',
      desiredAPIVersion: 'split.smi-spec.io/v1alpha1',
      objects: Array.from({ length: 100 }, () => splitV4),
    },
  });
  rows.push(
    measure('ConversionReview of 100 TrafficSplits (parse + convert + serialise)', 2_000, () =>
      JSON.stringify(reviewConversion(JSON.parse(list))),
    ),
  );
  rows.push(measure('validate TrafficSplit v1alpha1', N, () => validateSmiObject(splitV1)));
  rows.push(measure('validate HTTPRouteGroup v1alpha4 (30 regexes)', N, () => validateSmiObject(groupV4)));
  rows.push(measure('validate TrafficTarget v1alpha1', N, () => validateSmiObject(targetV1)));
  const admission = JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'u', operation: 'CREATE', namespace: 'shop', object: groupV4 },
  });
  rows.push(
    await measureAsync('AdmissionReview HTTPRouteGroup (parse + validate + serialise)', N, async () =>
      JSON.stringify(await reviewAdmission(JSON.parse(admission))),
    ),
  );

  // Injection: a pod as a Deployment creates it (the sample's web pod), namespace annotated.
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'web-v1-7c9d-', labels: { app: 'web', version: 'v1' } },
    spec: {
      serviceAccountName: 'web',
      containers: [
        {
          name: 'testapp',
          image: 'weft.local/testapp:dev',
          ports: [
            { name: 'http', containerPort: 8080 },
            { name: 'grpc', containerPort: 8081 },
          ],
          readinessProbe: { httpGet: { path: '/readyz', port: 'http' } },
          resources: { requests: { cpu: '10m', memory: '32Mi' } },
        },
      ],
    },
  };
  const podReview = JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'u',
      operation: 'CREATE',
      namespace: 'shop',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      object: pod,
    },
  });
  const shop = { metadata: { name: 'shop', annotations: { 'weft.dev/inject': 'enabled' } } };

  // The HTTPS round trip on loopback, one keep-alive connection, sequential requests.
  const logger = pino({ level: 'silent' });
  const metrics = createWebhookMetrics();
  const certs = new GeneratedCertificates({
    store: new MemoryCaStore(),
    names: { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] },
    logger,
    onCertificate: () => undefined,
  });
  const certificate = await certs.refresh();
  const mesh = { ...DEFAULT_MESH_CONFIG, trustAnchorsPem: certs.caBundle };
  const injected = reviewPod(JSON.parse(podReview), shop, mesh);
  check(injected.reason === 'Injected', `the bench pod is injected (got ${injected.reason})`);
  rows.push(
    await measureAsync('AdmissionReview Pod (parse + inject + JSON patch + serialise)', N, async () =>
      JSON.stringify(reviewPod(JSON.parse(podReview), shop, mesh).review),
    ),
  );
  const router = buildWebhookRouter(metrics, { ready: () => ({ ok: true }) });
  // The namespace lookup is an in-memory cache in the real process (KubeNamespaces, 5 s TTL).
  router.register(
    INJECT_PATH,
    ['POST'],
    injectHandler({ get: async () => shop }, () => mesh, logger),
  );
  const server = await startWebhookServer({
    router,
    certificate,
    metrics,
    logger,
    host: '127.0.0.1',
    port: 0,
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: certs.caBundle });
  const post = (path: string, body: string) =>
    new Promise<void>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: server.port,
          path,
          method: 'POST',
          agent,
          servername: 'localhost',
          headers: { 'content-type': 'application/json' },
        },
        (res) => {
          res.resume();
          res.on('end', () =>
            res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`)),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const one = JSON.stringify({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'ConversionReview',
    request: { uid: 'u', desiredAPIVersion: 'split.smi-spec.io/v1alpha4', objects: [splitV1] },
  });
  rows.push(
    await measureAsync('HTTPS /convert, 1 TrafficSplit (loopback, keep-alive)', 5_000, () =>
      post('/convert', one),
    ),
  );
  rows.push(
    await measureAsync('HTTPS /validate, HTTPRouteGroup (loopback, keep-alive)', 5_000, () =>
      post('/validate', admission),
    ),
  );
  rows.push(
    await measureAsync('HTTPS /inject, Deployment pod (loopback, keep-alive)', 5_000, () =>
      post(INJECT_PATH, podReview),
    ),
  );
  agent.destroy();
  certs.stop();
  await server.close();

  const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));
  const lines = [
    '# Webhook benchmark (conversion, validation and injection)',
    '',
    `Generated by \`node webhooks/bench/run.ts\` on ${new Date().toISOString()}; Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}).`,
    'Single thread, sequential calls, after warm-up. Latency per call in microseconds. Numbers vary with the machine; they are a trend, not a contract.',
    '',
    '| case | calls | calls/s | p50 µs | p99 µs | max µs |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${r.ops} | ${fmt(r.opsPerSec)} | ${fmt(r.p50us)} | ${fmt(r.p99us)} | ${fmt(r.maxUs)} |`,
    ),
    '',
  ];
  const out = new URL('./results.md', import.meta.url);
  writeFileSync(out, lines.join('\n'));
  // Keep the committed file in the repository's markdown format (biome aligns tables).
  execFileSync('node_modules/.bin/biome', ['format', '--write', fileURLToPath(out)], { stdio: 'ignore' });
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
