// The whole mesh on the local cluster, installed the way a user installs it (kubectl apply of
// deploy/base; the operator and webhooks run as pods), with the test app as the workload.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createTestNamespace, deleteNamespace, getJson, kubectl, waitFor } from '../kube.ts';

const run = promisify(execFile);
const SAMPLES = 'samples/mesh';

interface Container {
  name: string;
  restartPolicy?: string;
  securityContext?: Record<string, unknown>;
  startupProbe?: unknown;
}
interface Pod {
  metadata: { name: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: { initContainers?: Container[]; volumes?: { name: string; projected?: unknown }[] };
  status: { podIP?: string; phase?: string };
}
interface Summary {
  calls: number;
  statuses: Record<string, number>;
  errors: Record<string, number>;
  byPod: Record<string, number>;
}
interface SplitDump {
  backends: { service: string; weight: number }[];
}
interface Outcome {
  status: number;
  headers: Record<string, string>;
  body: string;
  error?: { code?: string; message: string };
}

async function install(): Promise<void> {
  await run('deploy/install.sh', [], { env: process.env, timeout: 600_000 });
}

async function uninstall(): Promise<void> {
  // The SMI CRDs stay (conversion switched off): the other suites need them and do not install them.
  await run('deploy/uninstall.sh', [], { env: { ...process.env, KEEP_CRDS: '1' }, timeout: 300_000 });
}

/** The pods of a selector that are not on their way out. */
async function podsOf(ns: string, selector: string): Promise<Pod[]> {
  const pods = (await getJson<{ items: Pod[] }>(['-n', ns, 'pods', '-l', selector])).items;
  return pods.filter((p) => p.metadata.deletionTimestamp === undefined);
}

async function clientIP(ns: string): Promise<string> {
  const [pod] = await podsOf(ns, 'app=client');
  return pod?.status.podIP ?? '';
}

/** The client proxy's config dump, read inside its container: the admin listener serves it on loopback only. */
async function clientConfigDump<T>(ns: string): Promise<T> {
  const [pod] = await podsOf(ns, 'app=client');
  const { stdout } = await kubectl([
    '-n',
    ns,
    'exec',
    pod!.metadata.name,
    '-c',
    'weft-proxy',
    '--',
    '/usr/local/bin/node',
    '-e',
    "fetch('http://127.0.0.1:15190/config').then(async (r) => process.stdout.write(await r.text()))",
  ]);
  return JSON.parse(stdout) as T;
}

async function post<T>(ip: string, body: object, timeoutMs = 120_000): Promise<T> {
  const res = await fetch(`http://${ip}:8080/call`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (res.status !== 200) throw new Error(`/call answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

function versionShares(summary: Summary): { v1: number; v2: number } {
  let v1 = 0;
  let v2 = 0;
  for (const [pod, n] of Object.entries(summary.byPod)) {
    if (pod.startsWith('web-v1-')) v1 += n;
    else if (pod.startsWith('web-v2-')) v2 += n;
  }
  return { v1, v2 };
}

/** A namespace with injection on, the sample app deployed and every pod Ready. */
async function meshedNamespace(prefix: string, policyMode: 'permissive' | 'enforcing'): Promise<string> {
  const ns = await createTestNamespace(prefix);
  await kubectl([
    'annotate',
    'namespace',
    ns,
    'weft.dev/inject=enabled',
    `config.weft.dev/policy-mode=${policyMode}`,
  ]);
  await kubectl(['-n', ns, 'apply', '-f', `${SAMPLES}/app.yaml`]);
  for (const d of ['web-v1', 'web-v2', 'client']) {
    await kubectl(['-n', ns, 'rollout', 'status', `deployment/${d}`, '--timeout=180s']);
  }
  return ns;
}

/** One line per measured scenario on stdout, for the record (closing notes, CI logs). */
function measured(scenario: string, values: Record<string, unknown>): void {
  process.stdout.write(`mesh-e2e ${scenario}: ${JSON.stringify(values)}\n`);
}

let permissive = '';
let enforcing = '';

beforeAll(async () => {
  await install();
  permissive = await meshedNamespace('mesh', 'permissive');
}, 900_000);

afterAll(async () => {
  for (const ns of [permissive, enforcing]) if (ns) await deleteNamespace(ns);
  // Leave the cluster as the other suites expect it: no Weft webhooks or pods.
  await uninstall();
}, 300_000);

describe('injection', () => {
  test('every pod of an annotated namespace runs the proxy as a native sidecar', async () => {
    const pods = await podsOf(permissive, 'app in (web,client)');
    expect(pods).toHaveLength(3);
    for (const pod of pods) {
      expect(pod.spec.initContainers?.map((c) => c.name)).toEqual(['weft-init', 'weft-proxy']);
      const proxy = pod.spec.initContainers![1]!;
      expect(proxy.restartPolicy).toBe('Always');
      expect(proxy.startupProbe).toBeDefined();
      expect(proxy.securityContext).toMatchObject({
        runAsNonRoot: true,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
      });
      expect(pod.spec.volumes?.find((v) => v.name === 'weft-identity-token')?.projected).toBeDefined();
      expect(pod.metadata.labels?.['weft.dev/meshed']).toBe('true');
      // For Prometheus relabeling (docs/metrics.md): the Deployment behind the ReplicaSet.
      expect(pod.metadata.labels?.['weft.dev/workload-kind']).toBe('Deployment');
      expect(pod.metadata.labels?.['weft.dev/workload-name']).toBe(
        pod.metadata.labels?.app === 'client' ? 'client' : `web-${pod.metadata.labels?.version}`,
      );
    }
  });

  test('each proxy, the operator and the webhooks released the start-up pages of their node binary; each proxy follows a sealed config stream', async () => {
    /** The start-up pages line of a log: it says released, and the RSS fell by more than 10 MB across it. */
    const released = (stdout: string) => {
      const line = stdout.split('\n').find((l) => l.includes('start-up pages of the node binary'));
      expect(line).toBeDefined();
      const logged = JSON.parse(line!) as {
        msg: string;
        residentMb: number;
        rssBeforeMb: number;
        rssAfterMb: number;
      };
      // Released, not kept (a missing addon in the image, or /proc unreadable as uid 2102, would say kept).
      expect(logged.msg).toBe('start-up pages of the node binary released');
      expect(logged.rssBeforeMb - logged.rssAfterMb).toBeGreaterThan(10);
      return logged;
    };
    for (const pod of await podsOf(permissive, 'app in (web,client)')) {
      const { stdout } = await kubectl(['-n', permissive, 'logs', pod.metadata.name!, '-c', 'weft-proxy']);
      const { residentMb, rssBeforeMb, rssAfterMb } = released(stdout);
      measured('startup-pages', { pod: pod.metadata.name, residentMb, rssBeforeMb, rssAfterMb });
      // Its config stream is the sealed one (a ticket from a replica, then that replica's pod IP on 15013), not
      // the fallback over TLS: the two replicas and the pod network are what the Deployment ships with.
      const streams = stdout
        .split('\n')
        .filter((l) => l.includes('"config stream established"'))
        .map((l) => (JSON.parse(l) as { transport: string }).transport);
      expect(streams.length).toBeGreaterThan(0);
      expect(new Set(streams)).toEqual(new Set(['sealed']));
    }
    // The controller image carries the addon too: the operator and the webhooks release theirs once serving.
    for (const deployment of ['weft-operator', 'weft-webhooks']) {
      const { stdout } = await kubectl(['-n', 'weft-system', 'logs', `deployment/${deployment}`]);
      const { rssBeforeMb, rssAfterMb } = released(stdout);
      measured('startup-pages', { deployment, rssBeforeMb, rssAfterMb });
    }
  });

  test("the decision is recorded as an Event on the pods' controller", async () => {
    const events = await waitFor('an Injected Event', 30_000, async () => {
      const list = await getJson<{ items: { involvedObject: { kind: string; name: string } }[] }>([
        '-n',
        permissive,
        'events',
        '--field-selector',
        'reason=Injected',
      ]);
      return list.items.length > 0 ? list.items : undefined;
    });
    expect(events.map((e) => e.involvedObject.kind)).toContain('ReplicaSet');
    expect(events.some((e) => e.involvedObject.name.startsWith('web-v1-'))).toBe(true);
  });

  test('pods outside annotated namespaces, and opted-out pods, are left alone', async () => {
    const ns = await createTestNamespace('mesh-plain');
    try {
      const pod = (name: string, annotations: Record<string, string>) => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, annotations },
        spec: {
          containers: [{ name: 'app', image: 'weft.local/testapp:dev', imagePullPolicy: 'Never' }],
        },
      });
      await kubectl(['-n', ns, 'apply', '-f', '-'], JSON.stringify(pod('plain', {})));
      await kubectl(
        ['-n', permissive, 'apply', '-f', '-'],
        JSON.stringify(pod('opt-out', { 'weft.dev/inject': 'disabled' })),
      );
      const plain = await getJson<Pod>(['-n', ns, 'pod', 'plain']);
      const optOut = await getJson<Pod>(['-n', permissive, 'pod', 'opt-out']);
      expect(plain.spec.initContainers ?? []).toEqual([]);
      expect(optOut.spec.initContainers ?? []).toEqual([]);
    } finally {
      await kubectl(['-n', permissive, 'delete', 'pod', 'opt-out', '--wait=false']);
      await deleteNamespace(ns);
    }
  });
});

describe('mTLS', () => {
  test('the server sees the client identity, and the client proxy reports tls and the server identity', async () => {
    const ip = await clientIP(permissive);
    const outcome = await post<Outcome>(ip, { url: 'http://web-v1/echo' });
    expect(outcome.status).toBe(200);
    const echoed = JSON.parse(outcome.body) as { headers: Record<string, string> };
    expect(echoed.headers['x-weft-client-id']).toBe(`spiffe://cluster.local/ns/${permissive}/sa/client`);
    const metrics = await (await fetch(`http://${ip}:15190/metrics`)).text();
    const line = metrics
      .split('\n')
      .find(
        (l) => l.startsWith('response_total{') && l.includes('direction="outbound"') && l.includes('web-v1'),
      );
    expect(line).toContain('tls="true"');
    expect(line).toContain(`server_id="spiffe://cluster.local/ns/${permissive}/sa/web"`);
  });
});

describe('traffic split', () => {
  const propagationMs: Record<string, number> = {};
  const share = async (weights: string, n: number) => {
    const applied = Date.now();
    await kubectl(['-n', permissive, 'apply', '-f', `${SAMPLES}/split-${weights}.yaml`]);
    // Programmed when the split reports Ready for its current generation.
    await waitFor(`TrafficSplit web Ready (${weights})`, 60_000, async () => {
      const ts = await getJson<{
        metadata: { generation: number };
        status?: { conditions?: { type: string; status: string; observedGeneration?: number }[] };
      }>(['-n', permissive, 'trafficsplit', 'web']);
      const ready = ts.status?.conditions?.find((c) => c.type === 'Ready');
      return ready?.status === 'True' && ready.observedGeneration === ts.metadata.generation;
    });
    // Ready says the operator pushed it; the client proxy's own config dump says it arrived.
    const ip = await clientIP(permissive);
    const [w1, w2] = weights.split('-').map(Number);
    await waitFor(`the client proxy routes web ${weights}`, 30_000, async () => {
      const dump = await clientConfigDump<{
        config: { outbound: { services: { name: string; namespace: string; split: SplitDump | null }[] } };
      }>(permissive);
      const web = dump.config.outbound.services.find((s) => s.name === 'web' && s.namespace === permissive);
      const weightOf = (name: string) => web?.split?.backends.find((b) => b.service === name)?.weight ?? 0;
      return weightOf('web-v1') === w1 && weightOf('web-v2') === w2;
    });
    // From kubectl apply (including kubectl's own start-up) until the client proxy holds the weights.
    propagationMs[weights] = Date.now() - applied;
    const summary = await post<Summary>(ip, {
      url: 'http://web/echo',
      count: n,
      concurrency: 4,
    });
    expect(summary.statuses['200']).toBe(n);
    return versionShares(summary);
  };

  test('moves traffic by its weights; weight 0 gets none', async () => {
    // n=400, p=0.1: 4.4 standard deviations either side is [0.034, 0.166].
    const s90 = await share('90-10', 400);
    expect(s90.v2 / 400).toBeGreaterThan(0.034);
    expect(s90.v2 / 400).toBeLessThan(0.166);
    const s50 = await share('50-50', 400);
    expect(s50.v2 / 400).toBeGreaterThan(0.39);
    expect(s50.v2 / 400).toBeLessThan(0.61);
    const s100 = await share('100-0', 200);
    expect(s100.v2).toBe(0);
    measured('split', { '90-10': s90, '50-50': s50, '100-0': s100, propagationMs });
  }, 300_000);

  test('the identity volume keeps a copy of the newest config for people and tools (config.json)', async () => {
    const [client] = await podsOf(permissive, 'app=client');
    const ip = await clientIP(permissive);
    // The admin listener serves /metrics to anyone (Prometheus), the config dump only inside the pod.
    expect((await fetch(`http://${ip}:15190/config`)).status).toBe(403);
    expect((await fetch(`http://${ip}:15190/metrics`)).status).toBe(200);
    // The copy is rewritten at most once a second; it catches up with what the data path holds.
    await waitFor('config.json matches the config the proxy holds', 15_000, async () => {
      const held = await clientConfigDump<{
        config: { version: string };
      }>(permissive);
      const { stdout } = await kubectl([
        '-n',
        permissive,
        'exec',
        client!.metadata.name,
        '-c',
        'weft-proxy',
        '--',
        '/usr/local/bin/node',
        '-e',
        "process.stdout.write(require('fs').readFileSync('/var/run/secrets/weft.dev/identity/config.json','utf8'))",
      ]);
      const copy = JSON.parse(stdout) as { version: string; identity: { spiffeId: string } };
      expect(copy.identity.spiffeId).toBe(`spiffe://cluster.local/ns/${permissive}/sa/client`);
      return copy.version === held.config.version;
    });
  }, 60_000);

  test('moving weights while load runs loses no request', async () => {
    const ip = await clientIP(permissive);
    const load = post<Summary>(ip, { url: 'http://web/echo', count: 1500, concurrency: 4 }, 300_000);
    for (const weights of ['50-50', '90-10', '100-0', '50-50']) {
      await kubectl(['-n', permissive, 'apply', '-f', `${SAMPLES}/split-${weights}.yaml`]);
      await new Promise((r) => setTimeout(r, 1500));
    }
    const summary = await load;
    measured('weights moved under load', {
      statuses: summary.statuses,
      errors: summary.errors,
      ...versionShares(summary),
    });
    expect(summary.statuses).toEqual({ '200': 1500 });
    const { v1, v2 } = versionShares(summary);
    expect(v1).toBeGreaterThan(0);
    expect(v2).toBeGreaterThan(0);
  }, 300_000);
});

describe('protocols through the mesh', () => {
  test('gRPC and a server-speaks-first TCP protocol work', async () => {
    const ip = await clientIP(permissive);
    const grpc = await post<Summary>(ip, { url: 'grpc://web-v1:8081', count: 10, concurrency: 2 });
    expect(grpc.statuses).toEqual({ '200': 10 });
    const banner = await post<Outcome>(ip, { url: 'tcp://web-v1:9001' });
    expect(banner.body).toMatch(/^WEFT-BANNER web-v1-/);
    const echo = await post<Outcome>(ip, { url: 'tcp://web-v1:9000', body: 'through the mesh' });
    expect(echo.body).toBe('through the mesh');
  });
});

describe('timeouts and retries from Service annotations', () => {
  test('retries reach the app as extra attempts and are counted; a timeout answers 504', async () => {
    const ip = await clientIP(permissive);
    const policy = [
      'config.weft.dev/retry-on=5xx',
      'config.weft.dev/retry-limit=2',
      'config.weft.dev/timeout=500ms',
    ];
    await kubectl(['-n', permissive, 'annotate', 'service', 'web-v1', ...policy]);
    try {
      await waitFor('the client proxy holds the retry policy of web-v1', 60_000, async () => {
        const dump = await clientConfigDump<{
          config: {
            outbound: {
              services: { name: string; defaultRoute: { retry: { maxRetries: number } | null } }[];
            };
          };
        }>(permissive);
        return (
          dump.config.outbound.services.find((x) => x.name === 'web-v1')?.defaultRoute.retry?.maxRetries === 2
        );
      });
      const [web] = await podsOf(permissive, 'app=web,version=v1');
      const appCounters = async () =>
        (await (await fetch(`http://${web!.status.podIP}:8080/counters`)).json()) as {
          received: { byPath: Record<string, number> };
        };
      const before = (await appCounters()).received.byPath['/status/503'] ?? 0;
      // Two calls, three attempts each: below the circuit breaker's 7 failures in a row for the one pod.
      const failing = await post<Summary>(ip, { url: 'http://web-v1/status/503', count: 2, concurrency: 1 });
      expect(failing.statuses).toEqual({ '503': 2 });
      expect((await appCounters()).received.byPath['/status/503']! - before).toBe(6);
      const metrics = await (await fetch(`http://${ip}:15190/metrics`)).text();
      const retried = metrics
        .split('\n')
        .filter(
          (l) =>
            l.startsWith('weft_retries_total{') &&
            l.includes('dst_service="web-v1"') &&
            l.includes('result="retried"'),
        )
        .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
      expect(retried).toBe(4);
      // A success resets the pod's run of failures: with the timeout below it would reach 7 and open the
      // circuit, and a later test's first requests to web-v1 would find its only endpoint open.
      expect((await post<Outcome>(ip, { url: 'http://web-v1/echo' })).status).toBe(200);
      const slow = await post<Outcome>(ip, { url: 'http://web-v1/delay/3000' });
      expect(slow.status).toBe(504);
      expect(slow.headers['x-weft-reason']).toBe('timeout');
      measured('retries', { attempts: 6, retried, timeout: slow.status });
      expect((await post<Outcome>(ip, { url: 'http://web-v1/echo' })).status).toBe(200);
    } finally {
      const removals = policy.map((a) => `${a.slice(0, a.indexOf('='))}-`);
      await kubectl(['-n', permissive, 'annotate', 'service', 'web-v1', ...removals]);
    }
  }, 180_000);
});

describe('access policy (enforcing)', () => {
  beforeAll(async () => {
    enforcing = await meshedNamespace('mesh-enforce', 'enforcing');
  }, 600_000);

  const get = async (path: string, method = 'GET') =>
    post<Outcome>(await clientIP(enforcing), { url: `http://web-v1${path}`, method });

  test('no TrafficTarget: 403 with a reason', async () => {
    const denied = await get('/echo');
    expect(denied.status).toBe(403);
    expect(denied.headers['x-weft-reason']).toBeTruthy();
  });

  test('an HTTPRouteGroup TrafficTarget allows exactly the matching paths and methods', async () => {
    await kubectl(['-n', enforcing, 'apply', '-f', `${SAMPLES}/http-policy.yaml`]);
    await waitFor('GET /echo allowed', 60_000, async () => (await get('/echo/a')).status === 200);
    expect((await get('/echo/a', 'POST')).status).toBe(403);
    expect((await get('/status/200')).status).toBe(403);
  }, 120_000);

  test('a pod addressed by its own IP gets mTLS and the same policy as through its Service', async () => {
    // As a headless service or a StatefulSet pod name resolves: the client dials the pod IP itself.
    const [web] = await podsOf(enforcing, 'app=web,version=v1');
    const direct = (path: string, method = 'GET') =>
      clientIP(enforcing).then((ip) =>
        post<Outcome>(ip, { url: `http://${web!.status.podIP}:8080${path}`, method }),
      );
    const allowed = await direct('/echo/direct');
    expect(allowed.status).toBe(200);
    expect(JSON.parse(allowed.body).headers['x-weft-client-id']).toMatch(/\/ns\/[^/]+\/sa\/client$/);
    const denied = await direct('/echo/direct', 'POST');
    expect(denied.status).toBe(403);
    measured('pod IP in enforcing mode', { get: allowed.status, post: denied.status });
  }, 60_000);

  test('a TCPRoute TrafficTarget allows the connection; deleting it denies again', async () => {
    const ip = await clientIP(enforcing);
    const tcp = () => post<Outcome>(ip, { url: 'tcp://web-v1:9000', body: 'x', timeoutMs: 3000 });
    expect((await tcp()).status).toBe(0);
    await kubectl(['-n', enforcing, 'apply', '-f', `${SAMPLES}/tcp-policy.yaml`]);
    await waitFor('TCP allowed', 60_000, async () => (await tcp()).status === 200);
    await kubectl(['-n', enforcing, 'delete', '-f', `${SAMPLES}/tcp-policy.yaml`]);
    await waitFor('TCP denied again', 60_000, async () => (await tcp()).status === 0);
  }, 180_000);
});

describe('lifecycle', () => {
  test('a Job with the proxy completes', async () => {
    const job = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'once' },
      spec: {
        backoffLimit: 0,
        template: {
          spec: {
            restartPolicy: 'Never',
            containers: [
              {
                name: 'once',
                image: 'weft.local/testapp:dev',
                imagePullPolicy: 'Never',
                command: ['/usr/local/bin/node', '-e'],
                args: [
                  "fetch('http://web-v1/echo').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(2))",
                ],
              },
            ],
          },
        },
      },
    };
    await kubectl(['-n', permissive, 'apply', '-f', '-'], JSON.stringify(job));
    await kubectl(['-n', permissive, 'wait', '--for=condition=Complete', 'job/once', '--timeout=120s']);
  }, 180_000);

  test('a rolling restart under steady load loses no request', async () => {
    await kubectl(['-n', permissive, 'apply', '-f', `${SAMPLES}/split-50-50.yaml`]);
    const ip = await clientIP(permissive);
    const load = post<Summary>(ip, { url: 'http://web/echo', count: 2000, concurrency: 4 }, 300_000);
    await kubectl(['-n', permissive, 'rollout', 'restart', 'deployment/web-v1']);
    await kubectl(['-n', permissive, 'rollout', 'status', 'deployment/web-v1', '--timeout=180s']);
    const summary = await load;
    measured('rolling restart under load', { statuses: summary.statuses, errors: summary.errors });
    expect(summary.statuses).toEqual({ '200': 2000 });
  }, 360_000);

  test('traffic keeps flowing without the operator, and new pods are served once it is back', async () => {
    const ip = await clientIP(permissive);
    await kubectl(['-n', 'weft-system', 'scale', 'deployment/weft-operator', '--replicas=0']);
    await waitFor(
      'operator pods gone',
      60_000,
      async () => (await podsOf('weft-system', 'weft.dev/control-plane=weft-operator')).length === 0,
    );
    const during = await post<Summary>(ip, { url: 'http://web/echo', count: 100, concurrency: 4 });
    measured('operator absent', { statuses: during.statuses });
    expect(during.statuses).toEqual({ '200': 100 });
    await kubectl(['-n', 'weft-system', 'scale', 'deployment/weft-operator', '--replicas=2']);
    await kubectl(['-n', 'weft-system', 'rollout', 'status', 'deployment/weft-operator', '--timeout=180s']);
    const back = Date.now();
    await kubectl(['-n', permissive, 'scale', 'deployment/web-v2', '--replicas=2']);
    await kubectl(['-n', permissive, 'rollout', 'status', 'deployment/web-v2', '--timeout=180s']);
    const newPodReady = Date.now();
    // The proxies reconnect to the operator (backoff at most 10 s, jittered) and learn the new endpoint.
    await waitFor('the new web-v2 pod is served', 90_000, async () => {
      const after = await post<Summary>(ip, { url: 'http://web-v2/echo', count: 20, concurrency: 2 });
      expect(after.statuses).toEqual({ '200': 20 });
      return Object.keys(after.byPod).length === 2;
    });
    measured('operator back', { newPodReadyAfterMs: newPodReady - back, servedAfterMs: Date.now() - back });
  }, 420_000);
});
