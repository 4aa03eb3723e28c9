// proxy-init as the injector renders it, in a real pod: it runs under its restrictive security
// context (root with NET_ADMIN/NET_RAW only, read-only root filesystem) and redirects the pod's
// traffic. No proxy runs here, so redirected connections are refused: that is the observable.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { initContainer } from '../../webhooks/src/injection/inject.ts';
import { DEFAULT_MESH_CONFIG } from '../../webhooks/src/injection/mesh-config.ts';
import { readOverrides } from '../../webhooks/src/injection/overrides.ts';
import { createTestNamespace, deleteNamespace, getJson, kubectl } from './kube.ts';

interface Pod {
  status: {
    podIP?: string;
    initContainerStatuses?: { name: string; state: { terminated?: { exitCode: number } } }[];
  };
}
interface CallOutcome {
  status: number;
  error?: { code?: string; message: string };
}

let ns = '';
const ips: Record<string, string> = {};

function testappPod(name: string, init: unknown[]): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: name } },
    spec: {
      terminationGracePeriodSeconds: 2,
      initContainers: init,
      containers: [
        {
          name: 'testapp',
          image: 'weft.local/testapp:dev',
          imagePullPolicy: 'Never',
          env: [{ name: 'POD_NAME', value: name }],
          readinessProbe: { httpGet: { path: '/readyz', port: 8080 }, periodSeconds: 1 },
        },
      ],
    },
  };
}

async function call(from: string, url: string): Promise<CallOutcome> {
  const res = await fetch(`http://${ips[from]}:8080/call`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ url, timeoutMs: 3000 }),
    signal: AbortSignal.timeout(10_000),
  });
  return (await res.json()) as CallOutcome;
}

beforeAll(async () => {
  ns = await createTestNamespace('init');
  const mesh = {
    ...DEFAULT_MESH_CONFIG,
    proxyInitImage: 'weft.local/proxy:dev',
    imagePullPolicy: 'Never' as const,
  };
  const init = initContainer(mesh, readOverrides({}, {}, mesh).overrides);
  // Health probes and these calls come from the host (the node), through the pod bridge: let the
  // test app's port through inbound so the pod can become Ready, as an annotation would.
  const args = (init.args as string[]).map((a) => (a.startsWith('--skip-inbound-ports=') ? `${a},8080` : a));
  const manifests = [testappPod('meshed', [{ ...init, args }]), testappPod('plain', [])];
  await kubectl(
    ['-n', ns, 'apply', '-f', '-'],
    JSON.stringify({ apiVersion: 'v1', kind: 'List', items: manifests }),
  );
  await kubectl(['-n', ns, 'wait', '--for=condition=Ready', 'pod/meshed', 'pod/plain', '--timeout=120s']);
  for (const name of ['meshed', 'plain']) {
    ips[name] = (await getJson<Pod>(['-n', ns, 'pod', name])).status.podIP ?? '';
  }
}, 180_000);

afterAll(async () => {
  if (ns) await deleteNamespace(ns);
});

describe('proxy-init in a pod', () => {
  test('completes under its restrictive security context', async () => {
    const pod = await getJson<Pod>(['-n', ns, 'pod', 'meshed']);
    const status = pod.status.initContainerStatuses?.find((s) => s.name === 'weft-init');
    expect(status?.state.terminated?.exitCode).toBe(0);
  });

  test("redirects the pod's outbound connections; an unmeshed pod connects directly", async () => {
    const direct = await call('plain', `http://${ips.plain}:8080/echo`);
    expect(direct.status).toBe(200);
    // Redirected to the outbound port, where no proxy listens in this test.
    const redirected = await call('meshed', `http://${ips.plain}:8080/echo`);
    expect(redirected.status).toBe(0);
    expect(redirected.error?.code).toBe('ECONNREFUSED');
  });

  test('leaves loopback alone', async () => {
    expect((await call('meshed', 'http://127.0.0.1:8080/echo')).status).toBe(200);
  });

  test('redirects inbound connections except the skipped ports', async () => {
    // 9000 (TCP echo) is not skipped: redirected to the inbound port, refused there.
    const toEcho = await call('plain', `http://${ips.meshed}:9000/`);
    expect(toEcho.error?.code).toBe('ECONNREFUSED');
    expect((await call('plain', `http://${ips.meshed}:8080/echo`)).status).toBe(200);
  });
});
