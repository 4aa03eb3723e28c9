// The shared cluster's kube-apiserver is stopped and started again (same argv, environment and working directory)
// while the operator runs with a proxy-like subscriber connected. Expected: the operator stays ready on its caches,
// counts informer errors, pushes nothing while the apiserver is away and nothing bogus after it is back (no config
// from a partial cache), its informers recover, and a change made after the restart reaches the subscriber.
// The apiserver is down only for the seconds it needs to stop and start; afterAll restarts it whatever happened.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import type { ProxyConfig } from '../../../crds/proxy-config/types.ts';
import { validateProxyConfig } from '../../../crds/proxy-config/validate.ts';
import { splitPemCertificates } from '../../../operator/src/identity/index.ts';
import { createTestNamespace, deleteNamespace, getJson, kubectl, waitFor } from '../kube.ts';
import {
  type ApiserverLaunch,
  currentLaunch,
  ensureApiserverRunning,
  startApiserver,
  stopApiserver,
  waitApiserverReady,
} from './apiserver.ts';
import {
  type ConfigStream,
  openConfigStream,
  type RunningOperator,
  requestCertificate,
  startOperator,
} from './harness.ts';

let ns = '';
let op: RunningOperator | null = null;
let stream: ConfigStream | null = null;
let launch: ApiserverLaunch | null = null;

const objects = (n: string) =>
  [
    `apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: frontend, namespace: ${n}}`,
    ...['checkout', 'checkout-v1', 'checkout-v2'].flatMap((s, i) => [
      `apiVersion: v1\nkind: Service\nmetadata: {name: ${s}, namespace: ${n}}\nspec: {ports: [{name: http, port: 80, targetPort: 8080}]}`,
      `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: ${s}-1, namespace: ${n}, labels: {kubernetes.io/service-name: ${s}}}\naddressType: IPv4\nports: [{name: http, port: 8080, protocol: TCP}]\nendpoints: [{addresses: ["10.250.1.${i + 1}"], conditions: {ready: true}}]`,
    ]),
    `apiVersion: v1\nkind: Pod\nmetadata: {name: frontend-1, namespace: ${n}, labels: {weft.dev/meshed: "true"}}\nspec:\n  serviceAccountName: frontend\n  schedulingGates: [{name: weft.dev/e2e-never-schedule}]\n  containers: [{name: app, image: registry.invalid/none:1, ports: [{containerPort: 8080}]}]`,
    split(n, 50, 50),
  ].join('\n---\n');

const split = (n: string, a: number, b: number) =>
  `apiVersion: split.smi-spec.io/v1alpha4\nkind: TrafficSplit\nmetadata: {name: checkout, namespace: ${n}}\nspec:\n  service: checkout\n  backends: [{service: checkout-v1, weight: ${a}}, {service: checkout-v2, weight: ${b}}]`;

/**
 * The weights of the checkout split in a config, or throws when the config does not hold this test's namespace
 * completely. Other suites' meshed namespaces (possibly still terminating) share the cluster, so only this
 * namespace's services are compared.
 */
function weightsOf(c: ProxyConfig): number[] {
  const mine = c.outbound.services.filter((s) => s.namespace === ns);
  expect(mine.map((s) => s.name).sort()).toEqual(['checkout', 'checkout-v1', 'checkout-v2']);
  for (const b of c.outbound.backends.filter((b) => b.namespace === ns)) {
    expect(b.ports[0]?.endpoints.length).toBe(1);
  }
  return mine.find((s) => s.name === 'checkout')!.split!.backends.map((b) => b.weight);
}

/** weft_operator_informer_errors_total summed over kinds. */
async function informerErrors(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${op!.adminPort}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('weft_operator_informer_errors_total{'))
    .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
}

const configs = () =>
  stream!.messages.filter((m) => m.type === 'config') as { version: string; config: ProxyConfig }[];

beforeAll(async () => {
  launch = currentLaunch();
  ns = await createTestNamespace('operator-restart');
  await kubectl(['annotate', 'namespace', ns, 'weft.dev/inject=enabled']);
  await kubectl(['apply', '-f', '-'], objects(ns));
  op = await startOperator(ns);
  await waitFor('operator ready', 60_000, async () => {
    const r = await fetch(`http://127.0.0.1:${op!.adminPort}/readyz`);
    return r.status === 200;
  });
  const cm = await getJson<{ data: Record<string, string> }>(['-n', ns, 'configmap', 'weft-trust-anchors']);
  const ca = splitPemCertificates(cm.data['ca.pem']!);
  const { res, keyPem } = await requestCertificate(op.controlPlanePort, ca, {
    namespace: ns,
    serviceAccount: 'frontend',
    pod: 'frontend-1',
  });
  expect(res.status).toBe(200);
  const cert = (JSON.parse(res.body) as { certificateChain: string }).certificateChain;
  stream = await openConfigStream(op.controlPlanePort, { pod: `${ns}/frontend-1`, ca, key: keyPem, cert });
}, 120_000);

afterAll(async () => {
  // First and unconditionally: the apiserver must be running when this file is done.
  if (launch !== null) await ensureApiserverRunning(launch);
  stream?.close();
  await op?.stop();
  if (ns !== '') await deleteNamespace(ns);
}, 180_000);

test('apiserver restart: operator stays ready, pushes nothing bogus, recovers, and delivers a later change', async () => {
  const first = await stream!.waitFor('first config', 30_000, (m) =>
    m.type === 'config' ? (m as { version: string; config: ProxyConfig }) : undefined,
  );
  expect(weightsOf(first.config)).toEqual([50, 50]);
  const errorsBefore = await informerErrors();

  const stoppedAt = Date.now();
  // Graceful first, but not for long: the outage is shared with everyone using the cluster.
  await stopApiserver(5_000);
  const stopMs = Date.now() - stoppedAt;
  // The operator notices (its watches end, relists fail) but keeps serving from its caches.
  await waitFor(
    'informer errors counted',
    15_000,
    async () => (await informerErrors()) > errorsBefore,
  ).finally(() => {
    // Never leave the apiserver down longer than this check: start it again even if the check failed.
    startApiserver(launch!);
  });
  const downMs = Date.now() - stoppedAt;
  expect((await fetch(`http://127.0.0.1:${op!.adminPort}/readyz`)).status).toBe(200);
  const readyAfterMs = await waitApiserverReady(120_000);
  process.stdout.write(
    `apiserver: stopped in ${stopMs} ms, down ${downMs} ms until restarted, ready ${readyAfterMs} ms after start\n`,
  );

  // A change made after the restart arrives once the informers are back (restart backoff <= 30 s).
  await kubectl(['apply', '-f', '-'], split(ns, 20, 80));
  const changed = await stream!.waitFor('config with the new weights', 60_000, (m) => {
    const c = m as { type: string; config?: ProxyConfig };
    return c.type === 'config' &&
      c.config?.outbound.services.some((s) => s.namespace === ns && s.split?.backends[0]?.weight === 20)
      ? (m as { version: string; config: ProxyConfig })
      : undefined;
  });
  expect(weightsOf(changed.config)).toEqual([20, 80]);

  // Every config the subscriber ever received is a valid, complete mesh (weightsOf checks this namespace's
  // services and endpoints): the first state, possibly re-sent, then the change. Nothing in between (no empty
  // or partial config from a relist). Other namespaces may change meanwhile (another suite's meshed namespaces
  // still terminating), so versions can differ for reasons of their own; this namespace's content cannot.
  const seen = configs();
  for (const m of seen) expect(validateProxyConfig(m.config)).toMatchObject({ ok: true });
  const states = seen
    .map((m) => weightsOf(m.config).join('/'))
    .filter((w, i, a) => i === 0 || a[i - 1] !== w);
  expect(states).toEqual(['50/50', '20/80']);
  expect(stream!.messages.some((m) => m.type === 'error')).toBe(false);
}, 240_000);
