// The operator against the real apiserver: informers see Services, EndpointSlices, Pods and SMI objects; a
// proxy-like client gets a certificate with a real projected token and CSR, subscribes over mTLS and receives the
// expected config, then a new version when the TrafficSplit weights change; SMI status and Events are written.
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { POLICY_MODE } from '../../../crds/annotations.ts';
import { applyConfigPatch, type PatchMessage } from '../../../crds/control-plane/index.ts';
import type { ProxyConfig } from '../../../crds/proxy-config/types.ts';
import { validateProxyConfig } from '../../../crds/proxy-config/validate.ts';
import {
  generateIssuer,
  generateTrustAnchor,
  keyToPem,
  podBindingOf,
  splitPemCertificates,
} from '../../../operator/src/identity/index.ts';
import { opensslVerify } from '../../../operator/src/identity/testing.ts';
import { createTestNamespace, deleteNamespace, getJson, kubectl, waitFor } from '../kube.ts';
import {
  type ConfigStream,
  openConfigStream,
  type RunningOperator,
  request,
  requestCertificate,
  startOperator,
} from './harness.ts';

let ns = '';
let op: RunningOperator;
let anchors: string[] = [];
const streams: ConfigStream[] = [];

function objects(n: string): string {
  const svc = (name: string, selectorless = true) => `
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${n}}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
${selectorless ? '' : ''}---`;
  const slice = (name: string, pod: string, ip: string) => `
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ${name}-1, namespace: ${n}, labels: {kubernetes.io/service-name: ${name}}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints: [{addresses: ["${ip}"], conditions: {ready: true}, targetRef: {kind: Pod, name: ${pod}, namespace: ${n}}}]
---`;
  // Scheduling gates keep the pods unscheduled: they exist (tokens can be bound to them) without a kubelet.
  const pod = (name: string, sa: string) => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${n}, labels: {weft.dev/meshed: "true"}}
spec:
  serviceAccountName: ${sa}
  schedulingGates: [{name: weft.dev/e2e-never-schedule}]
  containers: [{name: app, image: registry.invalid/none:1, ports: [{containerPort: 8080}]}]
---`;
  return [
    `apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: frontend, namespace: ${n}}\n---`,
    `apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: checkout, namespace: ${n}}\n---`,
    svc('checkout'),
    svc('checkout-v1'),
    svc('checkout-v2'),
    slice('checkout', 'checkout-1', '10.250.0.11'),
    slice('checkout-v1', 'checkout-1', '10.250.0.11'),
    slice('checkout-v2', 'checkout-2', '10.250.0.12'),
    pod('frontend-1', 'frontend'),
    pod('checkout-1', 'checkout'),
    pod('checkout-2', 'checkout'),
  ].join('\n');
}

function smi(n: string, weights: [number, number]): string {
  return `
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: checkout, namespace: ${n}}
spec:
  service: checkout
  backends: [{service: checkout-v1, weight: ${weights[0]}}, {service: checkout-v2, weight: ${weights[1]}}]
---
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: broken, namespace: ${n}}
spec:
  service: checkout-v2
  backends: [{service: checkout-v2, weight: 1}, {service: does-not-exist, weight: 1}]
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {name: all, namespace: ${n}}
spec: {}
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: frontend-to-checkout, namespace: ${n}}
spec:
  destination: {kind: ServiceAccount, name: checkout, namespace: ${n}}
  sources: [{kind: ServiceAccount, name: frontend, namespace: ${n}}]
  rules: [{kind: TCPRoute, name: all}]
`;
}

const certify = (sa: string, pod: string, asPod = pod, audience?: string) =>
  requestCertificate(op.controlPlanePort, anchors, {
    namespace: ns,
    serviceAccount: sa,
    pod,
    asPod,
    ...(audience === undefined ? {} : { audience }),
  });

const checkoutOf = (c: ProxyConfig) =>
  c.outbound.services.find((s) => s.name === 'checkout' && s.namespace === ns);

beforeAll(async () => {
  ns = await createTestNamespace('operator-e2e');
  await kubectl(['annotate', 'namespace', ns, 'weft.dev/inject=enabled']);
  await kubectl(['apply', '-f', '-'], objects(ns));
  await kubectl(['apply', '-f', '-'], smi(ns, [90, 10]));
  // Lasting problems are reported again every 4 s instead of 55 min, so the Event series can be seen to grow.
  op = await startOperator(ns, { WEFT_EVENT_REPEAT_SECONDS: '4' });
  // What the injector reads: the public anchors the operator published.
  const cm = await getJson<{ data: Record<string, string> }>(['-n', ns, 'configmap', 'weft-trust-anchors']);
  anchors = splitPemCertificates(cm.data['ca.pem']!);
  const secret = await getJson<{ data: Record<string, string> }>(['-n', ns, 'secret', 'weft-identity']);
  expect(anchors.join('')).toBe(Buffer.from(secret.data['ca.crt']!, 'base64').toString('utf8'));
}, 120_000);

afterAll(async () => {
  for (const s of streams) s.close();
  await op?.stop();
  if (ns !== '') await deleteNamespace(ns);
}, 60_000);

describe('operator against the real apiserver', () => {
  let frontendKey = '';
  let frontendChain = '';
  /** A config stream as frontend-1's proxy, with its certificate; closed after the suite. */
  const frontendStream = async (extra: Partial<Parameters<typeof openConfigStream>[1]> = {}) => {
    const stream = await openConfigStream(op.controlPlanePort, {
      pod: `${ns}/frontend-1`,
      ca: anchors,
      key: frontendKey,
      cert: frontendChain,
      ...extra,
    });
    streams.push(stream);
    return stream;
  };

  /** A plain GET of a pod's config stream with a certificate, for refusals (answered at once, no stream). */
  const refusedStream = (pod: string, key: string, cert: string) =>
    request(op.controlPlanePort, {
      method: 'GET',
      path: `/v1alpha1/config?pod=${ns}/${pod}`,
      ca: anchors,
      key,
      cert,
    });

  test('a pod-bound projected token and a CSR get a certificate with the SPIFFE ID; openssl verifies it', async () => {
    const { res, keyPem } = await certify('frontend', 'frontend-1');
    expect(res.status).toBe(200);
    const body = JSON.parse(res.body) as {
      spiffeId: string;
      certificateChain: string;
      trustAnchors: string[];
      notAfter: string;
    };
    expect(body.spiffeId).toBe(`spiffe://cluster.local/ns/${ns}/sa/frontend`);
    const [leaf, issuer] = splitPemCertificates(body.certificateChain);
    expect(opensslVerify(body.trustAnchors.join(''), leaf!, issuer!)).toContain('OK');
    const hours = (Date.parse(body.notAfter) - Date.now()) / 3600_000;
    expect(hours).toBeGreaterThan(23.9);
    expect(hours).toBeLessThanOrEqual(24);
    frontendKey = keyPem;
    frontendChain = body.certificateChain;
  }, 60_000);

  test('a certificate is bound to its pod: it streams the config of that pod and of no other pod of its ServiceAccount', async () => {
    const { res, keyPem } = await certify('checkout', 'checkout-1');
    expect(res.status).toBe(200);
    const chain = (JSON.parse(res.body) as { certificateChain: string }).certificateChain;
    const pod = await getJson<{ metadata: { uid: string } }>(['-n', ns, 'pod', 'checkout-1']);
    expect(podBindingOf(new X509Certificate(splitPemCertificates(chain)[0]!))).toEqual({
      namespace: ns,
      uid: pod.metadata.uid,
    });
    const own = await openConfigStream(op.controlPlanePort, {
      pod: `${ns}/checkout-1`,
      ca: anchors,
      key: keyPem,
      cert: chain,
    });
    streams.push(own);
    expect(own.status).toBe(200);
    const first = await own.waitFor('a config', 10_000, (m) => (m.type === 'config' ? m : undefined));
    expect(validateProxyConfig(first.config)).toMatchObject({ ok: true });
    own.close();
    // checkout-2 runs as the same ServiceAccount, so the SPIFFE ID alone would let this certificate follow it.
    const sibling = await refusedStream('checkout-2', keyPem, chain);
    expect(sibling.status).toBe(403);
    expect(JSON.parse(sibling.body)).toMatchObject({ reason: 'IdentityMismatch', field: 'query:pod' });
    expect(JSON.parse(sibling.body).message).toContain(pod.metadata.uid);
  }, 60_000);

  test('refusals: token bound to another pod, wrong audience, no token', async () => {
    const other = await certify('frontend', 'frontend-1', 'checkout-1');
    expect(other.res.status).toBe(403);
    expect(JSON.parse(other.res.body)).toMatchObject({ reason: 'PodMismatch', field: '/pod/name' });
    const aud = await certify('frontend', 'frontend-1', 'frontend-1', 'some-other-audience');
    expect(aud.res.status).toBe(401);
    expect(JSON.parse(aud.res.body)).toMatchObject({ reason: 'TokenRejected' });
    const none = await request(op.controlPlanePort, {
      method: 'POST',
      path: '/v1alpha1/certificates',
      ca: anchors,
      body: '{}',
    });
    expect(JSON.parse(none.body)).toMatchObject({ reason: 'Unauthenticated', field: 'header:authorization' });
  }, 60_000);

  test('the config stream sends the expected config over mTLS, then a new version when the weights change', async () => {
    const stream = await frontendStream();
    expect(stream.status).toBe(200);
    const first = await stream.waitFor('first config', 20_000, (m) =>
      m.type === 'config' && checkoutOf(m.config as ProxyConfig)?.split
        ? (m as { version: string; config: ProxyConfig })
        : undefined,
    );
    expect(validateProxyConfig(first.config)).toMatchObject({ ok: true });
    expect(first.config.version).toBe(first.version);
    expect(first.config.identity.spiffeId).toBe(`spiffe://cluster.local/ns/${ns}/sa/frontend`);
    expect(checkoutOf(first.config)!.split!.backends).toEqual([
      { service: 'checkout-v1', weight: 90 },
      { service: 'checkout-v2', weight: 10 },
    ]);
    const v2 = first.config.outbound.backends.find((b) => b.name === 'checkout-v2')!;
    expect(v2.ports[0]!.endpoints).toEqual([
      {
        address: '10.250.0.12',
        port: 8080,
        identity: `spiffe://cluster.local/ns/${ns}/sa/checkout`,
        ready: true,
      },
    ]);

    // The patch stream by HTTP Upgrade, as proxies ask for it; the stream above is the chunked 200 that proxies
    // from before the Upgrade path get.
    const patching = await frontendStream({ acceptPatch: true, upgrade: true });
    expect(patching.status).toBe(101);
    const base = await patching.waitFor('full config on the patch stream', 10_000, (m) =>
      m.type === 'config' ? (m.config as ProxyConfig) : undefined,
    );

    const changedAt = Date.now();
    await kubectl([
      '-n',
      ns,
      'patch',
      'trafficsplits.v1alpha4.split.smi-spec.io',
      'checkout',
      '--type=merge',
      '-p',
      '{"spec":{"backends":[{"service":"checkout-v1","weight":50},{"service":"checkout-v2","weight":50}]}}',
    ]);
    const second = await stream.waitFor('config with 50/50', 20_000, (m) =>
      m.type === 'config' && checkoutOf(m.config as ProxyConfig)?.split?.backends[0]?.weight === 50
        ? (m as { version: string; config: ProxyConfig })
        : undefined,
    );
    expect(second.version).not.toBe(first.version);
    // The patch that carries the new weights. Other namespaces (another suite's, still going away) may change
    // meanwhile and send patches of their own: apply every patch in order, as a proxy does.
    const patch = await patching.waitFor('patch with 50/50', 10_000, (m) =>
      m.type === 'patch' &&
      (m as unknown as PatchMessage).outbound.services.upsert.some(
        (x) => x.namespace === ns && x.name === 'checkout' && x.split?.backends[0]?.weight === 50,
      )
        ? (m as unknown as PatchMessage)
        : undefined,
    );
    expect(patch.outbound.services.upsert.filter((x) => x.namespace === ns).map((x) => x.name)).toEqual([
      'checkout',
    ]);
    let patched = base;
    for (const m of patching.messages) {
      if (m.type !== 'patch') continue;
      patched = applyConfigPatch(patched, m as unknown as PatchMessage);
      if (m === (patch as unknown)) break;
    }
    expect(validateProxyConfig(patched)).toMatchObject({ ok: true });
    expect(checkoutOf(patched)!.split!.backends.map((b) => b.weight)).toEqual([50, 50]);
    process.stdout.write(
      `weight change -> new config at the subscriber: ${Date.now() - changedAt} ms (includes kubectl)\n`,
    );
  }, 60_000);

  test('a resumed stream with the current version gets no snapshot; another pod of a different identity is refused', async () => {
    const current = await frontendStream();
    const latest = await current.waitFor('latest', 10_000, (m) =>
      m.type === 'config' ? m.version : undefined,
    );
    current.close();
    const resumed = await frontendStream({ since: latest });
    await new Promise((r) => setTimeout(r, 500));
    // Not the version it already holds. (A newer one may come: other suites' namespaces can still be going away,
    // and the operator watches every namespace.)
    expect(resumed.messages.filter((m) => m.type === 'config' && m.version === latest)).toEqual([]);
    resumed.close();
    const wrong = await refusedStream('checkout-1', frontendKey, frontendChain);
    expect(wrong.status).toBe(403);
    expect(JSON.parse(wrong.body)).toMatchObject({ reason: 'IdentityMismatch' });
    // Refusals on the upgrade path are HTTP errors, no 101: the same identity check as above; an upgrade to
    // anything else; and Connection: Upgrade on another path (Node routes every such request there).
    const upgradeRefusals = [
      {
        method: 'GET',
        path: `/v1alpha1/config?pod=${ns}/checkout-1`,
        upgrade: 'weft-config-stream',
        status: 403,
        reason: 'IdentityMismatch',
        field: 'query:pod',
      },
      {
        method: 'GET',
        path: `/v1alpha1/config?pod=${ns}/frontend-1`,
        upgrade: 'websocket',
        status: 400,
        reason: 'BadRequest',
        field: 'header:upgrade',
      },
      {
        method: 'POST',
        path: '/v1alpha1/certificates',
        upgrade: 'h2c',
        status: 400,
        reason: 'BadRequest',
        field: 'header:upgrade',
      },
    ];
    for (const r of upgradeRefusals) {
      const res = await request(op.controlPlanePort, {
        method: r.method,
        path: r.path,
        ca: anchors,
        key: frontendKey,
        cert: frontendChain,
        headers: { connection: 'Upgrade', upgrade: r.upgrade },
        ...(r.method === 'POST' ? { body: '{}' } : {}),
      });
      expect({
        path: r.path,
        upgrade: r.upgrade,
        status: res.status,
        body: JSON.parse(res.body),
      }).toMatchObject({
        status: r.status,
        body: { reason: r.reason, field: r.field },
      });
    }
    const anonymous = await request(op.controlPlanePort, {
      method: 'GET',
      path: `/v1alpha1/config?pod=${ns}/frontend-1`,
      ca: anchors,
    });
    expect(anonymous.status).toBe(401);
  }, 60_000);

  test('timeout and retry annotations on a Service reach its clients; a bad one is a Warning Event on the Service', async () => {
    const stream = await frontendStream();
    await kubectl([
      '-n',
      ns,
      'annotate',
      'service',
      'checkout',
      'config.weft.dev/timeout=2s',
      'config.weft.dev/retry-on=gateway-error,connect-failure',
      'config.weft.dev/retry-limit=3',
    ]);
    const withPolicy = await stream.waitFor('checkout with a timeout and retries', 20_000, (m) =>
      m.type === 'config' && checkoutOf(m.config as ProxyConfig)?.defaultRoute.retry?.maxRetries === 3
        ? (m.config as ProxyConfig)
        : undefined,
    );
    expect(validateProxyConfig(withPolicy)).toMatchObject({ ok: true });
    expect(checkoutOf(withPolicy)!.defaultRoute).toMatchObject({
      timeoutMs: 2000,
      retry: { maxRetries: 3, retryOn: ['gateway-error', 'connect-failure'], retryNonIdempotent: false },
    });

    await kubectl([
      '-n',
      ns,
      'annotate',
      '--overwrite',
      'service',
      'checkout',
      'config.weft.dev/retry-on=teapot',
    ]);
    const svc = await getJson<{ metadata: { uid: string } }>(['-n', ns, 'service', 'checkout']);
    const event = await waitFor('InvalidAnnotation event on Service checkout', 30_000, async () => {
      const list = await getJson<{
        items: {
          reason: string;
          type: string;
          message: string;
          involvedObject: { kind: string; name: string; uid?: string };
        }[];
      }>(['-n', ns, 'events']);
      return list.items.find(
        (e) =>
          e.reason === 'InvalidAnnotation' &&
          e.involvedObject.kind === 'Service' &&
          e.involvedObject.name === 'checkout' &&
          e.message.includes('teapot'),
      );
    });
    expect(event).toMatchObject({ type: 'Warning', involvedObject: { uid: svc.metadata.uid } });
    expect(event.message).toContain('annotation config.weft.dev/retry-on: unknown condition "teapot"');
    // The bad value is left out (no retries); the timeout, which is fine, still applies.
    const withoutRetries = await stream.waitFor('checkout without retries', 20_000, (m) => {
      const c = m.type === 'config' ? checkoutOf(m.config as ProxyConfig) : undefined;
      return c?.defaultRoute.retry === null && c.defaultRoute.timeoutMs !== null ? c : undefined;
    });
    expect(withoutRetries.defaultRoute.timeoutMs).toBe(2000);
    const seen = stream.messages.length;
    await kubectl([
      '-n',
      ns,
      'annotate',
      'service',
      'checkout',
      'config.weft.dev/timeout-',
      'config.weft.dev/retry-on-',
      'config.weft.dev/retry-limit-',
    ]);
    await stream.waitFor('checkout without a timeout', 20_000, (m) =>
      stream.messages.indexOf(m) >= seen &&
      m.type === 'config' &&
      checkoutOf(m.config as ProxyConfig)?.defaultRoute.timeoutMs === null
        ? m
        : undefined,
    );
  }, 90_000);

  test('SMI status: the healthy split is Ready, the broken one reports its missing backend, with an Event', async () => {
    type Obj = {
      metadata: { generation: number; uid: string };
      status?: {
        observedGeneration?: number;
        conditions?: { type: string; status: string; reason: string; message: string }[];
      };
    };
    const good = await waitFor('checkout split Ready', 30_000, async () => {
      const o = await getJson<Obj>(['-n', ns, 'trafficsplits.v1alpha4.split.smi-spec.io', 'checkout']);
      const ready = o.status?.conditions?.find((c) => c.type === 'Ready');
      return ready?.status === 'True' && o.status?.observedGeneration === o.metadata.generation
        ? o
        : undefined;
    });
    expect(good.status!.conditions!.map((c) => `${c.type}=${c.status}`)).toEqual([
      'Accepted=True',
      'ResolvedRefs=True',
      'Ready=True',
    ]);
    const broken = await waitFor('broken split status', 30_000, async () => {
      const o = await getJson<Obj>(['-n', ns, 'trafficsplits.v1alpha4.split.smi-spec.io', 'broken']);
      return o.status?.conditions?.find((c) => c.type === 'ResolvedRefs');
    });
    expect(broken).toMatchObject({ status: 'False', reason: 'BackendNotFound' });
    expect(broken.message).toContain('does-not-exist');
    type Event = {
      metadata: { name: string };
      reason: string;
      type: string;
      message: string;
      count?: number;
      firstTimestamp?: string;
      lastTimestamp?: string;
      involvedObject: { kind: string; name: string; uid?: string };
    };
    const event = (reason: string, kind: string, name: string) =>
      waitFor(`${reason} event on ${kind} ${name}`, 30_000, async () => {
        const list = await getJson<{ items: Event[] }>(['-n', ns, 'events']);
        return list.items.find(
          (e) => e.reason === reason && e.involvedObject.kind === kind && e.involvedObject.name === name,
        );
      });
    const split = await getJson<Obj>(['-n', ns, 'trafficsplits.v1alpha4.split.smi-spec.io', 'broken']);
    // The operator never writes spec: its only field-manager entries are on the status subresource, and the
    // generation (which a spec write bumps) is the one the user's apply produced.
    const managed = await getJson<{
      metadata: { generation: number; managedFields: { manager: string; subresource?: string }[] };
    }>(['-n', ns, 'trafficsplits.v1alpha4.split.smi-spec.io', 'broken', '--show-managed-fields']);
    const ours = managed.metadata.managedFields.filter((f) => f.manager === 'weft-operator');
    expect(ours.length).toBeGreaterThan(0);
    expect(ours.map((f) => f.subresource)).toEqual(ours.map(() => 'status'));
    expect(managed.metadata.generation).toBe(1);
    // The Event names the object's uid, which is what `kubectl describe` selects Events by.
    expect(await event('BackendNotFound', 'TrafficSplit', 'broken')).toMatchObject({
      type: 'Warning',
      involvedObject: { uid: split.metadata.uid },
    });
    const described = await kubectl([
      '-n',
      ns,
      'describe',
      'trafficsplits.v1alpha4.split.smi-spec.io',
      'broken',
    ]);
    expect(described.stdout).toMatch(/Warning\s+BackendNotFound/);
    // The problem lasts: it is reported again (WEFT_EVENT_REPEAT_SECONDS, 4 s here) in the same Event, count + 1,
    // which renews the Event's time to live in the apiserver; no second Event object.
    const repeated = await waitFor('BackendNotFound reported again', 30_000, async () => {
      const list = await getJson<{ items: Event[] }>(['-n', ns, 'events']);
      const mine = list.items.filter(
        (e) => e.reason === 'BackendNotFound' && e.involvedObject.name === 'broken',
      );
      return mine.length === 1 && (mine[0]!.count ?? 0) >= 2 ? mine[0] : undefined;
    });
    expect(Date.parse(repeated.lastTimestamp!)).toBeGreaterThan(Date.parse(repeated.firstTimestamp!));
    const describedAgain = await kubectl([
      '-n',
      ns,
      'describe',
      'trafficsplits.v1alpha4.split.smi-spec.io',
      'broken',
    ]);
    expect(describedAgain.stdout).toMatch(/Warning\s+BackendNotFound\s+\S+\s+\(x\d+ over/);
    // A diagnostic about a core object (here a pod's bad annotation) is a Warning Event on that object.
    await kubectl(['-n', ns, 'annotate', 'pod', 'checkout-2', `${POLICY_MODE}=bogus`]);
    const pod = await getJson<Obj>(['-n', ns, 'pod', 'checkout-2']);
    const podEvent = await event('InvalidAnnotation', 'Pod', 'checkout-2');
    expect(podEvent).toMatchObject({ type: 'Warning', involvedObject: { uid: pod.metadata.uid } });
    expect(podEvent.message).toContain('"bogus" is not permissive or enforcing');
    await kubectl(['-n', ns, 'annotate', 'pod', 'checkout-2', `${POLICY_MODE}-`]);
    const target = await getJson<Obj>([
      '-n',
      ns,
      'traffictargets.v1alpha3.access.smi-spec.io',
      'frontend-to-checkout',
    ]);
    expect(target.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
  }, 90_000);

  test('CA rotation without restart: add the new anchor, then switch the issuer; old and new leaves both verify', async () => {
    const stream = await frontendStream();
    await stream.waitFor('current config', 10_000, (m) => (m.type === 'config' ? true : undefined));
    const newAnchor = generateTrustAnchor('cluster.local');
    const newIssuer = generateIssuer(newAnchor, 'cluster.local');
    const b64 = (x: string) => Buffer.from(x).toString('base64');
    const bundle = anchors.join('') + newAnchor.cert.toString();
    // Step 1: both anchors, old issuer. Proxies get both anchors; the injector's ConfigMap too.
    await kubectl([
      '-n',
      ns,
      'patch',
      'secret',
      'weft-identity',
      '--type=merge',
      '-p',
      JSON.stringify({ data: { 'ca.crt': b64(bundle) } }),
    ]);
    const twoAnchors = await stream.waitFor('config with two anchors', 20_000, (m) =>
      m.type === 'config' && (m.config as ProxyConfig).trustAnchors.length === 2
        ? (m.config as ProxyConfig)
        : undefined,
    );
    expect(validateProxyConfig(twoAnchors)).toMatchObject({ ok: true });
    await waitFor('ConfigMap with both anchors', 10_000, async () => {
      const cm = await getJson<{ data: Record<string, string> }>([
        '-n',
        ns,
        'configmap',
        'weft-trust-anchors',
      ]);
      return splitPemCertificates(cm.data['ca.pem']!).length === 2;
    });
    // Proxies now trust both anchors (they got them in the config): so does this client.
    anchors = twoAnchors.trustAnchors;
    // Step 2: the new issuer. New leaves chain to the new anchor alone; the old leaf still verifies on the bundle.
    await kubectl([
      '-n',
      ns,
      'patch',
      'secret',
      'weft-identity',
      '--type=merge',
      '-p',
      JSON.stringify({
        data: { 'issuer.crt': b64(newIssuer.cert.toString()), 'issuer.key': b64(keyToPem(newIssuer.key)) },
      }),
    ]);
    const fresh = await waitFor('a leaf from the new issuer', 20_000, async () => {
      const { res } = await certify('frontend', 'frontend-1');
      const body = JSON.parse(res.body) as { certificateChain: string };
      const [leaf, issuer] = splitPemCertificates(body.certificateChain);
      return issuer === newIssuer.cert.toString() ? leaf : undefined;
    });
    expect(opensslVerify(newAnchor.cert.toString(), fresh, newIssuer.cert.toString())).toContain('OK');
    const [oldLeaf, oldIssuer] = splitPemCertificates(frontendChain);
    expect(opensslVerify(bundle, oldLeaf!, oldIssuer!)).toContain('OK');
    // The stream opened with the old leaf keeps working: a later change still arrives on it.
    await kubectl([
      '-n',
      ns,
      'patch',
      'trafficsplits.v1alpha4.split.smi-spec.io',
      'checkout',
      '--type=merge',
      '-p',
      '{"spec":{"backends":[{"service":"checkout-v1","weight":70},{"service":"checkout-v2","weight":30}]}}',
    ]);
    await stream.waitFor('70/30 after the rotation', 20_000, (m) =>
      m.type === 'config' && checkoutOf(m.config as ProxyConfig)?.split?.backends[0]?.weight === 70
        ? true
        : undefined,
    );
  }, 90_000);

  test('readyz, healthz and metrics', async () => {
    const get = async (path: string) => {
      const r = await fetch(`http://127.0.0.1:${op.adminPort}${path}`);
      return { status: r.status, text: await r.text() };
    };
    expect((await get('/healthz')).status).toBe(200);
    expect(await get('/readyz')).toEqual({ status: 200, text: 'ok\n' });
    const m = (await get('/metrics')).text;
    expect(m).toMatch(/weft_operator_certificates_issued_total [1-9]/);
    expect(m).toMatch(/weft_operator_certificate_failures_total\{reason="PodMismatch"\} 1/);
    expect(m).toMatch(/weft_operator_reconcile_total\{queue="compile",outcome="success"\} [1-9]/);
    expect(m).toMatch(/weft_operator_leader 1/);
    // Informer lag: the Services annotated above came through the watch within seconds of being written.
    const value = (name: string) =>
      Number(new RegExp(`^${name}\\{kind="services"\\} (\\S+)$`, 'm').exec(m)?.[1]);
    const count = value('weft_operator_informer_lag_seconds_count');
    expect(count).toBeGreaterThanOrEqual(3);
    expect(value('weft_operator_informer_lag_seconds_sum') / count).toBeLessThan(2);
  }, 30_000);
});
