// Smoke test of the local cluster itself: a 2-replica Deployment behind a Service, reached from
// another pod by ClusterIP and by DNS name; kubectl logs and exec work.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createTestNamespace, deleteNamespace, getJson, kubectl, waitFor } from './kube.ts';

interface Pod {
  status: { podIP?: string; phase?: string };
  metadata: { name: string };
}
interface CallSummary {
  calls: number;
  statuses: Record<string, number>;
  byPod: Record<string, number>;
  errors: Record<string, number>;
}

let ns = '';
let clientIP = '';

async function callFromClient(url: string, count: number): Promise<CallSummary> {
  const res = await fetch(`http://${clientIP}:8080/call`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    // A new connection per call: kube-proxy balances connections, not requests.
    body: JSON.stringify({ url, count, concurrency: 4, timeoutMs: 5000, headers: { connection: 'close' } }),
    signal: AbortSignal.timeout(60_000),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as CallSummary;
}

beforeAll(async () => {
  ns = await createTestNamespace('smoke');
  await kubectl([
    '-n',
    ns,
    'apply',
    '-f',
    'samples/testapp/testapp.yaml',
    '-f',
    'samples/testapp/client.yaml',
  ]);
  await kubectl(['-n', ns, 'rollout', 'status', 'deployment/testapp', '--timeout=120s']);
  await kubectl(['-n', ns, 'wait', '--for=condition=Ready', 'pod/client', '--timeout=120s']);
  const client = await getJson<Pod>(['-n', ns, 'pod', 'client']);
  clientIP = client.status.podIP ?? '';
  expect(clientIP).not.toBe('');
}, 180_000);

afterAll(async () => {
  if (ns) await deleteNamespace(ns);
});

describe('local cluster smoke', () => {
  test('both replicas answer through the ClusterIP', async () => {
    const svc = await getJson<{ spec: { clusterIP: string } }>(['-n', ns, 'service', 'testapp']);
    const pods = await getJson<{ items: Pod[] }>(['-n', ns, 'pods', '-l', 'app=testapp']);
    const want = pods.items.map((p) => p.metadata.name).sort();
    // kube-proxy programs new endpoints a moment after the rollout reports ready: call until every
    // replica has answered, and require every call to succeed on the way.
    const seen = new Set<string>();
    const deadline = Date.now() + 30_000;
    while (seen.size < want.length && Date.now() < deadline) {
      const summary = await callFromClient(`http://${svc.spec.clusterIP}/echo`, 40);
      expect(summary.statuses['200']).toBe(40);
      for (const pod of Object.keys(summary.byPod)) seen.add(pod);
    }
    expect([...seen].sort()).toEqual(want);
  }, 60_000);

  test('the Service resolves by its cluster DNS name', async () => {
    // kube-proxy may need a moment after the Service appears; DNS is what this test is about.
    const summary = await waitFor('DNS name to answer', 30_000, async () => {
      const s = await callFromClient(`http://testapp.${ns}.svc.cluster.local/echo`, 10);
      return s.statuses['200'] === 10 ? s : undefined;
    });
    expect(summary.calls).toBe(10);
    const short = await callFromClient('http://testapp/echo', 5);
    expect(short.statuses['200']).toBe(5);
  }, 60_000);

  test('kubectl logs shows the app started', async () => {
    const { stdout } = await kubectl(['-n', ns, 'logs', 'deployment/testapp']);
    expect(stdout).toMatch(/listening/i);
  });

  test('kubectl exec runs in the pod', async () => {
    const { stdout } = await kubectl([
      '-n',
      ns,
      'exec',
      'client',
      '--',
      '/usr/local/bin/node',
      '-e',
      'console.log(process.env.POD_NAME + "@" + process.env.POD_NAMESPACE)',
    ]);
    expect(stdout.trim()).toBe(`client@${ns}`);
  });
});
