// Propagation through the real apiserver: the operator runs as a host process (operator/src/main.ts) against the
// cluster in KUBECONFIG; N meshed pods (scheduling-gated, so no kubelet work) each get an mTLS config stream in
// this process (patch mode); R times a TrafficSplit weight is merge-patched through the API and the time until the
// last stream has the new version is recorded. Creates and deletes its own namespace.
//   KUBECONFIG=... WEFT_KUBECTL=... node operator/bench/apiserver-propagation.bench.ts [pods] [rounds]
import type { ClientRequest } from 'node:http';
import * as https from 'node:https';
import { CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { createTestNamespace, deleteNamespace, getJson, kubectl } from '../../test/e2e/kube.ts';
import { request, startOperator } from '../../test/e2e/operator/harness.ts';
import { splitPemCertificates } from '../src/identity/index.ts';
import { opensslCsr } from '../src/identity/testing.ts';
import { mergeResults } from './results.ts';

const pods = Number(process.argv[2] ?? 200);
const rounds = Number(process.argv[3] ?? 20);
const accounts = 10;
const ns = await createTestNamespace('operator-bench');
const op = await (async () => {
  await kubectl(['annotate', 'namespace', ns, 'weft.dev/inject=enabled']);
  const docs: string[] = [];
  for (let a = 0; a < accounts; a++)
    docs.push(`apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa${a}, namespace: ${ns}}`);
  for (const s of ['root', 'v1', 'v2']) {
    docs.push(
      `apiVersion: v1\nkind: Service\nmetadata: {name: ${s}, namespace: ${ns}}\nspec: {ports: [{name: http, port: 80, targetPort: 8080}]}`,
    );
    docs.push(
      `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: ${s}-1, namespace: ${ns}, labels: {kubernetes.io/service-name: ${s}}}\naddressType: IPv4\nports: [{name: http, port: 8080, protocol: TCP}]\nendpoints: [{addresses: ["10.251.0.${s.length}"], conditions: {ready: true}}]`,
    );
  }
  for (let p = 0; p < pods; p++) {
    docs.push(
      `apiVersion: v1\nkind: Pod\nmetadata: {name: p${p}, namespace: ${ns}, labels: {weft.dev/meshed: "true"}}\nspec:\n  serviceAccountName: sa${p % accounts}\n  schedulingGates: [{name: weft.dev/bench-never-schedule}]\n  containers: [{name: app, image: registry.invalid/none:1, ports: [{containerPort: 8080}]}]`,
    );
  }
  docs.push(
    `apiVersion: split.smi-spec.io/v1alpha4\nkind: TrafficSplit\nmetadata: {name: root, namespace: ${ns}}\nspec:\n  service: root\n  backends: [{service: v1, weight: 50}, {service: v2, weight: 50}]`,
  );
  await kubectl(['apply', '-f', '-'], docs.join('\n---\n'));
  return startOperator(ns);
})();

try {
  const cm = await getJson<{ data: Record<string, string> }>(['-n', ns, 'configmap', 'weft-trust-anchors']);
  const ca = splitPemCertificates(cm.data['ca.pem']!);
  const certs: { key: string; cert: string }[] = [];
  for (let a = 0; a < accounts; a++) {
    const { stdout } = await kubectl([
      '-n',
      ns,
      'create',
      'token',
      `sa${a}`,
      '--audience',
      'weft.dev/identity',
      '--bound-object-kind',
      'Pod',
      '--bound-object-name',
      `p${a}`,
    ]);
    const { keyPem, csrPem } = opensslCsr();
    const res = await request(op.controlPlanePort, {
      method: 'POST',
      path: '/v1alpha1/certificates',
      ca,
      headers: { authorization: `Bearer ${stdout.trim()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ csr: csrPem, pod: { namespace: ns, name: `p${a}` } }),
    });
    if (res.status !== 200) throw new Error(`certificate for sa${a}: ${res.body}`);
    certs.push({
      key: keyPem,
      cert: (JSON.parse(res.body) as { certificateChain: string }).certificateChain,
    });
  }
  // Last version seen per pod and when.
  const seen = new Map<string, { version: string; at: number }>();
  const VERSION = /"version":"(sha256:[0-9a-f]{64})"/;
  const streams: ClientRequest[] = [];
  for (let p = 0; p < pods; p++) {
    const c = certs[p % accounts]!;
    const req = https.request({
      host: '127.0.0.1',
      port: op.controlPlanePort,
      path: `/v1alpha1/config?pod=${ns}/p${p}&accept=patch`,
      ca,
      key: c.key,
      cert: c.cert,
      servername: 'localhost',
      agent: false,
    });
    req.on('response', (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let nl = buf.indexOf('\n');
        while (nl >= 0) {
          const m = VERSION.exec(buf.slice(0, Math.min(nl, 300)));
          if (m !== null) seen.set(`p${p}`, { version: m[1]!, at: Date.now() });
          buf = buf.slice(nl + 1);
          nl = buf.indexOf('\n');
        }
      });
    });
    req.on('error', () => undefined);
    req.end();
    streams.push(req);
  }
  const waitAll = async (
    pred: (pod: string, v: { version: string; at: number } | undefined) => boolean,
    timeoutMs: number,
  ) => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      let all = true;
      for (let p = 0; p < pods && all; p++) all = pred(`p${p}`, seen.get(`p${p}`));
      if (all) return true;
      await new Promise((r) => setTimeout(r, 5));
    }
    return false;
  };
  if (!(await waitAll((_p, v) => v !== undefined, 120_000)))
    throw new Error('not every stream got a first config');
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const api = kc.makeApiClient(CustomObjectsApi);
  const latencies: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const before = new Map([...seen].map(([k, v]) => [k, v.version]));
    const start = Date.now();
    await api.patchNamespacedCustomObject(
      {
        group: 'split.smi-spec.io',
        version: 'v1alpha4',
        namespace: ns,
        plural: 'trafficsplits',
        name: 'root',
        body: {
          spec: {
            backends: [
              { service: 'v1', weight: 10 + r },
              { service: 'v2', weight: 90 - r },
            ],
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    if (!(await waitAll((p, v) => v !== undefined && v.version !== before.get(p), 30_000))) {
      throw new Error(`round ${r}: not every stream got the new version`);
    }
    let last = 0;
    for (const v of seen.values()) last = Math.max(last, v.at);
    latencies.push(last - start);
    await new Promise((res) => setTimeout(res, 100));
  }
  latencies.sort((a, b) => a - b);
  const q = (x: number) => latencies[Math.min(latencies.length - 1, Math.ceil(x * latencies.length) - 1)]!;
  const result = { p50_ms: q(0.5), p99_ms: q(0.99), max_ms: latencies.at(-1)! };
  process.stdout.write(`${JSON.stringify({ through: 'apiserver', pods, rounds, ...result })}\n`);
  mergeResults(process.env.WEFT_BENCH_OUT, {
    propagation: { [String(pods)]: result },
    notes: {
      [`propagation_${pods}`]: `operator as a host process on the local cluster, ${pods} scheduling-gated meshed pods, one mTLS patch-mode stream each in the bench process, TrafficSplit weight merge-patched through the API ${rounds} times`,
    },
  });
  for (const s of streams) s.destroy();
} finally {
  await op.stop();
  await deleteNamespace(ns);
}
