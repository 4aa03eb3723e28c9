import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import {
  applyConfigPatch,
  type PatchMessage,
  validateStreamMessage,
} from '../../../crds/control-plane/index.ts';
import type { ProxyConfig } from '../../../crds/proxy-config/types.ts';
import { validateProxyConfig } from '../../../crds/proxy-config/validate.ts';
import { compileTables } from '../../../proxy-image/src/core/tables.ts';
import type { ClusterSnapshot, ServiceRecord } from '../model/cluster.ts';
import { type CompiledConfig, ProxyConfigCompiler, patchChunks } from './compile.ts';
import {
  crowdedService,
  type MutableSnapshot,
  namespace,
  pod,
  put,
  routeGroup,
  SHOP_WEIGHTS,
  service,
  settings,
  shop,
  slice,
  snapshot,
  split,
  target,
  tcpRoute,
} from './fixtures.ts';
import { desiredStatuses } from './status.ts';

const clock = () => new Date('2026-11-23T00:00:00.123Z');
const compiler = () => new ProxyConfigCompiler(clock);
const clone = (s: MutableSnapshot): MutableSnapshot => ({
  ...s,
  namespaces: new Map(s.namespaces),
  services: new Map(s.services),
  endpointSlices: new Map(s.endpointSlices),
  pods: new Map(s.pods),
  trafficSplits: new Map(s.trafficSplits),
  trafficTargets: new Map(s.trafficTargets),
  httpRouteGroups: new Map(s.httpRouteGroups),
  tcpRoutes: new Map(s.tcpRoutes),
});

describe('compile: the shop', () => {
  const out = compiler().compile(shop());
  const frontend = out.proxies.get('shop/frontend-1')!;

  test('every meshed pod gets a config that validates, and nothing is reported', () => {
    expect([...out.proxies.keys()].sort()).toEqual(['shop/checkout-1', 'shop/checkout-2', 'shop/frontend-1']);
    for (const c of out.proxies.values()) expect(validateProxyConfig(c.config)).toMatchObject({ ok: true });
    expect(out.diagnostics).toEqual([]);
  });

  test('the frontend sees checkout split 90/10 with endpoints carrying the SPIFFE ID of their pod', () => {
    const checkout = frontend.config.outbound.services.find((s) => s.name === 'checkout')!;
    expect(checkout.dnsNames).toEqual([
      'checkout.shop.svc.cluster.local',
      'checkout.shop.svc',
      'checkout.shop',
      'checkout',
    ]);
    expect(checkout.split).toEqual({
      name: 'checkout',
      backends: [
        { service: 'checkout-v1', weight: 90 },
        { service: 'checkout-v2', weight: 10 },
      ],
    });
    const v2 = frontend.config.outbound.backends.find((b) => b.name === 'checkout-v2')!;
    expect(v2.ports).toEqual([
      {
        port: 80,
        endpoints: [
          {
            address: '10.244.0.12',
            port: 8080,
            identity: 'spiffe://cluster.local/ns/shop/sa/checkout',
            ready: true,
          },
        ],
      },
    ]);
    expect(frontend.config.identity.spiffeId).toBe('spiffe://cluster.local/ns/shop/sa/frontend');
  });

  test('checkout admits frontend on its port through the TCPRoute rule; frontend admits no one', () => {
    const checkout = out.proxies.get('shop/checkout-1')!.config;
    expect(checkout.inbound.ports).toEqual([
      {
        port: 8080,
        protocol: 'detect',
        authorizations: [
          {
            name: 'shop/frontend-to-checkout',
            sources: [{ kind: 'serviceAccount', namespace: 'shop', name: 'frontend' }],
            httpMatches: null,
          },
        ],
      },
    ]);
    expect(frontend.config.inbound.ports).toEqual([]);
  });

  test('pods with the same profile share one compiled config; the stream line holds it', () => {
    expect(out.proxies.get('shop/checkout-1')).toBe(out.proxies.get('shop/checkout-2'));
    const msg = JSON.parse(frontend.chunks.join('')) as {
      type: string;
      version: string;
      config: { version: string };
    };
    expect(msg.type).toBe('config');
    expect(msg.version).toBe(frontend.version);
    expect(msg.config).toEqual(frontend.config);
    expect(frontend.chunks.join('').endsWith('}\n')).toBe(true);
  });
});

describe('compile: kubelet probes in enforcing mode', () => {
  // The decision is the proxy's own (its inbound tables), on the config the compiler emits.
  const probed = () => {
    const s = shop();
    s.settings = settings({ defaultPolicyMode: 'enforcing' });
    const base = pod('shop', 'checkout-1', 'checkout', '10.244.0.11', [8080, 5432, 3306]);
    put(s.pods, {
      ...base,
      probes: [
        { kind: 'http', port: 8080, path: '/healthz?verbose=1', scheme: 'HTTP' },
        { kind: 'http', port: 8080, path: 'ready.z', scheme: 'HTTP' },
        { kind: 'http', port: 9090, path: '', scheme: 'HTTP' },
        { kind: 'http', port: 8443, path: '/secure', scheme: 'HTTPS' },
        { kind: 'http', port: 3306, path: '/opaque', scheme: 'HTTP' },
        { kind: 'http', port: 15190, path: '/ready', scheme: 'HTTP' },
        { kind: 'tcp', port: 5432 },
      ],
    });
    return s;
  };
  const tables = (config: ProxyConfig) => {
    const v = validateProxyConfig(JSON.parse(JSON.stringify(config)));
    if (!v.ok) throw new Error(JSON.stringify(v.errors));
    return compileTables(v.config, { now: () => 0, random: () => 0.5 });
  };
  const get = (path: string, method = 'GET') => ({ method, path, header: () => undefined });

  test('kubelet (no identity) may GET exactly the probe paths of the pod; everything else stays denied', () => {
    const out = compiler().compile(probed());
    expect(out.diagnostics).toEqual([]);
    const c = out.proxies.get('shop/checkout-1')!.config;
    expect(c.policyMode).toBe('enforcing');
    const t = tables(c);
    expect(t.authorizeInbound(8080, null, get('/healthz')).authorization).toBe('weft/kubelet-probes');
    expect(t.authorizeInbound(8080, null, get('/healthz?verbose=1')).allowed).toBe(true);
    expect(t.authorizeInbound(8080, null, get('/ready.z')).allowed).toBe(true);
    expect(t.authorizeInbound(9090, null, get('/')).allowed).toBe(true);
    // Not a probe: another path, a prefix of the path, another method, the dot as a wildcard.
    expect(t.authorizeInbound(8080, null, get('/healthz/x')).allowed).toBe(false);
    expect(t.authorizeInbound(8080, null, get('/api')).allowed).toBe(false);
    expect(t.authorizeInbound(8080, null, get('/healthz', 'POST')).allowed).toBe(false);
    expect(t.authorizeInbound(8080, null, get('/readyxz')).allowed).toBe(false);
    expect(t.authorizeInbound(9090, null, get('/x')).allowed).toBe(false);
    // The probe rule never opens a port to plain TCP: not on the HTTP probe port, not on the TCP probe port,
    // not on an opaque port (where HTTP matches cannot apply), not for an HTTPS probe (opaque to the proxy).
    expect(t.authorizeInbound(8080, null, null).allowed).toBe(false);
    expect(t.authorizeInbound(5432, null, null).allowed).toBe(false);
    expect(t.authorizeInbound(3306, null, null).allowed).toBe(false);
    expect(t.authorizeInbound(8443, null, null).allowed).toBe(false);
    // The TrafficTarget rule still admits the frontend on the whole port, and comes first.
    const frontendId = 'spiffe://cluster.local/ns/shop/sa/frontend';
    expect(t.authorizeInbound(8080, frontendId, null).authorization).toBe('shop/frontend-to-checkout');
    expect(t.authorizeInbound(8080, frontendId, get('/healthz')).authorization).toBe(
      'shop/frontend-to-checkout',
    );
    // The proxy's own admin port is never in the inbound section; an HTTPS probe port gets no rule.
    expect(c.inbound.ports.map((p) => p.port)).not.toContain(15190);
    expect(c.inbound.ports.map((p) => p.port)).not.toContain(8443);
    expect(c.inbound.ports.find((p) => p.port === 9090)?.authorizations.map((a) => a.name)).toEqual([
      'shop/frontend-to-checkout',
      'weft/kubelet-probes',
    ]);
  });

  test('a pod without probes keeps its config; probes only change the pods that declare them', () => {
    const enforcing = shop();
    enforcing.settings = settings({ defaultPolicyMode: 'enforcing' });
    const plain = compiler().compile(enforcing);
    const c = compiler();
    const out = c.compile(probed());
    expect(out.proxies.get('shop/checkout-2')!.version).toBe(plain.proxies.get('shop/checkout-2')!.version);
    expect(out.proxies.get('shop/checkout-1')).not.toBe(out.proxies.get('shop/checkout-2'));
    const again = c.compile(probed());
    expect(again.proxies.get('shop/checkout-1')!.version).toBe(out.proxies.get('shop/checkout-1')!.version);
  });
});

describe('compile: bad input is reported and never breaks the config', () => {
  test('missing backend, port mismatch and conflicting split', () => {
    const s = shop();
    put(s.services, service('shop', 'checkout-v3', '10.96.0.13', [81]));
    put(
      s.trafficSplits,
      split('shop', 'checkout', 'checkout', [
        ['checkout-v1', 1],
        ['nope', 1],
        ['checkout-v3', 1],
      ]),
    );
    put(s.trafficSplits, { ...split('shop', 'zz-second', 'checkout', [['checkout-v2', 1]]) });
    const out = compiler().compile(s);
    expect(out.diagnostics.map((d) => `${d.kind}/${d.name}:${d.reason}`).sort()).toEqual([
      'TrafficSplit/checkout:BackendNotFound',
      'TrafficSplit/checkout:BackendPortMismatch',
      'TrafficSplit/zz-second:ConflictingSplit',
    ]);
    const svc = out.proxies
      .get('shop/frontend-1')!
      .config.outbound.services.find((x) => x.name === 'checkout')!;
    expect(svc.split?.backends).toEqual([{ service: 'checkout-v1', weight: 1 }]);
  });

  test('an HTTPRouteGroup match with a regex outside the dialect is dropped, the rest applies', () => {
    const s = shop();
    put(
      s.httpRouteGroups,
      routeGroup('shop', 'api', [
        { name: 'good', pathRegex: '/api/.*', methods: ['GET'] },
        { name: 'bad', pathRegex: '(?<=x)y' },
      ]),
    );
    put(
      s.trafficTargets,
      target(
        'shop',
        'frontend-to-checkout',
        'checkout',
        ['frontend'],
        [{ kind: 'HTTPRouteGroup', name: 'api' }],
      ),
    );
    const out = compiler().compile(s);
    expect(out.diagnostics).toEqual([
      expect.objectContaining({ kind: 'HTTPRouteGroup', name: 'api', reason: 'InvalidMatch' }),
    ]);
    const auth = out.proxies.get('shop/checkout-1')!.config.inbound.ports[0]!.authorizations[0]!;
    expect(auth.httpMatches).toEqual([{ name: 'good', pathRegex: '/api/.*', methods: ['GET'], headers: [] }]);
  });

  test('a split whose routes fail the contract: the Service stays, without split and routes, so splits naming it stay valid', () => {
    const s = shop();
    put(s.httpRouteGroups, routeGroup('shop', 'rg', [{ name: 'a', pathRegex: '/a' }]));
    // checkout-v1, a backend of the checkout split, gets a split of its own, with a weight over the contract's
    // maximum (1e9), which the webhook would have denied.
    put(s.trafficSplits, split('shop', 'v1split', 'checkout-v1', [['checkout-v2', 2_000_000_000]], ['rg']));
    const out = compiler().compile(s);
    // Before: checkout-v1 was left out of every config, and every config carrying the checkout split failed
    // validation ("no entry in outbound.backends for shop/checkout-v1").
    for (const c of out.proxies.values()) expect(validateProxyConfig(c.config)).toMatchObject({ ok: true });
    const v1 = out.proxies
      .get('shop/frontend-1')!
      .config.outbound.services.find((x) => x.name === 'checkout-v1')!;
    expect(v1).toMatchObject({ split: null, routes: [] });
    expect(out.diagnostics).toEqual([
      expect.objectContaining({
        kind: 'Service',
        name: 'checkout-v1',
        reason: 'InvalidProxyConfig',
        message: expect.stringContaining('split and routes left out of proxy configs'),
      }),
      expect.objectContaining({ kind: 'TrafficSplit', name: 'v1split', reason: 'InvalidProxyConfig' }),
    ]);
    // And its status does not say programmed.
    const ready = desiredStatuses(s, out.diagnostics)
      .get('TrafficSplit/shop/v1split')!
      .conditions.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'NotProgrammed' });
  });

  test('route names stay unique: a repeated match name, or a name equal to an unnamed index, gets its index', () => {
    const s = shop();
    put(
      s.httpRouteGroups,
      routeGroup('shop', 'rg', [
        { name: 'a', pathRegex: '/a' },
        { name: 'a', pathRegex: '/b' },
        { pathRegex: '/c' },
        { name: '2', pathRegex: '/d' },
        { name: 'a#1', pathRegex: '/e' },
      ]),
    );
    put(s.trafficSplits, split('shop', 'checkout', 'checkout', SHOP_WEIGHTS, ['rg']));
    const out = compiler().compile(s);
    const checkout = out.proxies
      .get('shop/frontend-1')!
      .config.outbound.services.find((x) => x.name === 'checkout')!;
    expect(checkout.routes.map((r) => [r.name, r.matches[0]!.pathRegex])).toEqual([
      ['rg/a', '/a'],
      ['rg/a#1', '/b'],
      ['rg/2', '/c'],
      ['rg/2#3', '/d'],
      ['rg/a#1#4', '/e'],
    ]);
    expect(checkout.split).not.toBeNull();
    for (const c of out.proxies.values()) expect(validateProxyConfig(c.config)).toMatchObject({ ok: true });
  });

  test('a match beyond a limit of the proxy config contract is left out with a diagnostic; the rest is programmed', () => {
    const s = shop();
    const headers = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`x-h${i}`, 'a']));
    put(
      s.httpRouteGroups,
      routeGroup('shop', 'api', [
        { name: 'dup-methods', pathRegex: '/a', methods: ['GET', 'GET', 'POST'] },
        { name: 'many-headers', headers },
        { name: 'long-header', headers: { ['x'.repeat(300)]: 'a' } },
        { name: 'bad-method', methods: ['GET POST'] },
        { name: 'ok', pathRegex: '/ok' },
      ]),
    );
    // An HTTPRouteGroup in a TrafficTarget (inbound) and in a TrafficSplit (outbound); and a TrafficTarget
    // name of 252 characters (its authorization, <namespace>/<name>, is 257).
    s.trafficTargets.clear();
    put(
      s.trafficTargets,
      target('shop', 't'.repeat(252), 'checkout', ['frontend'], [{ kind: 'HTTPRouteGroup', name: 'api' }]),
    );
    put(s.trafficSplits, split('shop', 'checkout', 'checkout', SHOP_WEIGHTS, ['api']));
    const out = compiler().compile(s);
    for (const c of out.proxies.values()) expect(validateProxyConfig(c.config)).toMatchObject({ ok: true });
    const inbound = out.proxies.get('shop/checkout-1')!.config.inbound.ports[0]!.authorizations[0]!;
    expect(inbound.name).toBe(`shop/${'t'.repeat(252)}`);
    expect(inbound.httpMatches!.map((m) => [m.name, m.methods])).toEqual([
      ['dup-methods', ['GET', 'POST']],
      ['ok', []],
    ]);
    const routes = out.proxies
      .get('shop/frontend-1')!
      .config.outbound.services.find((x) => x.name === 'checkout')!.routes;
    expect(routes.map((r) => r.name)).toEqual(['api/dup-methods', 'api/ok']);
    const invalid = out.diagnostics.filter((d) => d.reason === 'InvalidMatch').map((d) => d.message);
    expect(invalid).toEqual(
      expect.arrayContaining([
        'spec.matches[1]: more than 64 headers; match ignored',
        expect.stringMatching(
          /^spec\.matches\[2\]: header name "x+\.\.\." is longer than 256 characters; match ignored$/,
        ),
        'spec.matches[3]: method "GET POST" is not an HTTP token of at most 32 characters; match ignored',
      ]),
    );
  });

  test('a split listing one HTTPRouteGroup twice programs its routes once', () => {
    const s = shop();
    put(s.httpRouteGroups, routeGroup('shop', 'rg', [{ name: 'a', pathRegex: '/a' }]));
    put(s.trafficSplits, split('shop', 'checkout', 'checkout', SHOP_WEIGHTS, ['rg', 'rg']));
    const out = compiler().compile(s);
    expect(out.diagnostics).toEqual([]);
    for (const c of out.proxies.values()) expect(validateProxyConfig(c.config)).toMatchObject({ ok: true });
    const checkout = out.proxies
      .get('shop/frontend-1')!
      .config.outbound.services.find((x) => x.name === 'checkout')!;
    expect(checkout.routes.map((r) => r.name)).toEqual(['rg/a']);
  });

  test('a rule referencing nothing yields no authorization and a diagnostic', () => {
    const s = shop();
    put(
      s.trafficTargets,
      target(
        'shop',
        'frontend-to-checkout',
        'checkout',
        ['frontend'],
        [{ kind: 'HTTPRouteGroup', name: 'ghost' }],
      ),
    );
    const out = compiler().compile(s);
    expect(out.diagnostics.map((d) => d.reason)).toEqual(['RuleReferencesNothing']);
    expect(out.proxies.get('shop/checkout-1')!.config.inbound.ports).toEqual([]);
  });
});

describe('compile: ports, endpoints and targets the cluster may hold', () => {
  test('a port number that is both TCP and UDP (DNS) is programmed once, as TCP, on the Service and on the pod', () => {
    const s = shop();
    const dns: ServiceRecord = {
      ...service('shop', 'dns', '10.96.0.53'),
      ports: [
        { name: 'dns-udp', port: 53, protocol: 'UDP', appProtocol: null },
        { name: 'dns-tcp', port: 53, protocol: 'TCP', appProtocol: null },
      ],
    };
    put(s.services, dns);
    put(s.endpointSlices, {
      ...slice(dns, [['dns-1', '10.244.0.53']]),
      ports: [
        { name: 'dns-udp', port: 5353, protocol: 'UDP' },
        { name: 'dns-tcp', port: 5354, protocol: 'TCP' },
      ],
    });
    const checkout = s.pods.get('shop/checkout-1')!;
    put(s.pods, {
      ...checkout,
      containerPorts: [
        { port: 53, protocol: 'UDP' },
        { port: 53, protocol: 'TCP' },
      ],
    });
    const out = compiler().compile(s);
    for (const c of out.proxies.values()) expect(validateProxyConfig(c.config)).toMatchObject({ ok: true });
    const config = out.proxies.get('shop/frontend-1')!.config;
    // Before: "duplicate port 53", and the Service was left out of every config.
    expect(config.outbound.services.find((x) => x.name === 'dns')!.ports).toEqual([
      { port: 53, name: 'dns-tcp', protocol: 'detect' },
    ]);
    expect(config.outbound.backends.find((b) => b.name === 'dns')!.ports[0]!.endpoints).toEqual([
      expect.objectContaining({ address: '10.244.0.53', port: 5354 }),
    ]);
    const inbound = out.proxies.get('shop/checkout-1')!.config.inbound.ports;
    expect(inbound.find((p) => p.port === 53)).toMatchObject({ protocol: 'detect' });
  });

  test('an endpoint listed in two EndpointSlices is ready when either says so', () => {
    const s = shop();
    const svc = s.services.get('shop/checkout')!;
    put(s.endpointSlices, {
      ...slice(svc, [['checkout-1', '10.244.0.11']]),
      name: 'checkout-aaaa',
      endpoints: [{ addresses: ['10.244.0.11'], ready: false, zone: null, podName: 'checkout-1' }],
    });
    put(s.endpointSlices, { ...slice(svc, [['checkout-1', '10.244.0.11']]), name: 'checkout-zzzz' });
    const backend = compiler()
      .compile(s)
      .proxies.get('shop/frontend-1')!
      .config.outbound.backends.find((b) => b.name === 'checkout')!;
    expect(backend.ports[0]!.endpoints.filter((e) => e.address === '10.244.0.11')).toEqual([
      expect.objectContaining({ ready: true }),
    ]);
  });

  test('an invalid pod annotation falls back to its namespace, not the mesh default: a typo never opens enforcing', () => {
    const s = shop();
    s.namespaces.set('shop', {
      ...s.namespaces.get('shop')!,
      annotations: {
        ...s.namespaces.get('shop')!.annotations,
        'config.weft.dev/policy-mode': 'enforcing',
        'config.weft.dev/opaque-ports': '5432',
      },
    });
    const checkout = s.pods.get('shop/checkout-1')!;
    put(s.pods, {
      ...checkout,
      annotations: { 'config.weft.dev/policy-mode': 'Enforcing', 'config.weft.dev/opaque-ports': 'db' },
    });
    const out = compiler().compile(s);
    const c = out.proxies.get('shop/checkout-1')!.config;
    expect(c.policyMode).toBe('enforcing');
    expect(c.listeners.opaquePorts).toEqual([5432]);
    expect(out.diagnostics.filter((d) => d.kind === 'Pod').map((d) => d.message)).toEqual([
      expect.stringContaining(`"Enforcing" is not permissive or enforcing; trying the namespace's value`),
      expect.stringContaining(`trying the namespace's value`),
    ]);
  });

  test('a split whose root is left out of every config says why: ExternalName, or failing the contract', () => {
    const s = shop();
    put(
      s.services,
      service(
        'shop',
        'wide',
        '10.96.0.77',
        Array.from({ length: 300 }, (_, i) => 1000 + i),
      ),
    );
    put(s.trafficSplits, split('shop', 'wide-split', 'wide', SHOP_WEIGHTS));
    const out = compiler().compile(s);
    const ready = desiredStatuses(s, out.diagnostics)
      .get('TrafficSplit/shop/wide-split')!
      .conditions.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({
      status: 'False',
      reason: 'NotProgrammed',
      message: expect.stringContaining('Service shop/wide is left out of proxy configs'),
    });
  });

  test('a split whose root is ExternalName is not Ready: it applies nowhere', () => {
    const s = shop();
    put(s.services, { ...service('shop', 'ext', ''), clusterIPs: [], externalName: true });
    put(s.trafficSplits, split('shop', 'ext-split', 'ext', SHOP_WEIGHTS));
    const out = compiler().compile(s);
    const ready = desiredStatuses(s, out.diagnostics)
      .get('TrafficSplit/shop/ext-split')!
      .conditions.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({
      status: 'False',
      reason: 'NotProgrammed',
      message: expect.stringContaining('Service shop/ext is ExternalName'),
    });
  });

  test('a TrafficTarget whose destination is in another namespace is not programmed, and not Accepted', () => {
    const s = shop();
    s.namespaces.set('tenant', namespace('tenant'));
    const grab = target('tenant', 'grab', 'checkout', ['intruder'], [{ kind: 'TCPRoute', name: 'all' }]);
    grab.spec.destination.namespace = 'shop';
    put(s.trafficTargets, grab);
    put(s.tcpRoutes, tcpRoute('tenant', 'all'));
    const out = compiler().compile(s);
    const names = out.proxies
      .get('shop/checkout-1')!
      .config.inbound.ports.flatMap((p) => p.authorizations.map((a) => a.name));
    expect(names).not.toContain('tenant/grab');
    expect(names).toContain('shop/frontend-to-checkout');
    const accepted = desiredStatuses(s, out.diagnostics)
      .get('TrafficTarget/tenant/grab')!
      .conditions.find((c) => c.type === 'Accepted');
    expect(accepted).toMatchObject({ status: 'False', reason: 'InvalidDestination' });
  });
});

describe('compile: timeouts and retries from Service annotations', () => {
  const checkoutIn = (out: ReturnType<ProxyConfigCompiler['compile']>) =>
    out.proxies.get('shop/frontend-1')!.config.outbound.services.find((x) => x.name === 'checkout')!;
  const annotate = (s: MutableSnapshot, name: string, annotations: Record<string, string>) => {
    const svc = s.services.get(`shop/${name}`)!;
    put(s.services, { ...svc, annotations });
  };

  test('timeout and retry annotations program every route to the Service, on every client', () => {
    const s = shop();
    annotate(s, 'checkout', {
      'config.weft.dev/timeout': '2s',
      'config.weft.dev/retry-on': 'gateway-error, grpc-unavailable',
      'config.weft.dev/retry-limit': '3',
      'config.weft.dev/retry-timeout': '250ms',
      'config.weft.dev/retry-non-idempotent': 'true',
    });
    put(
      s.httpRouteGroups,
      routeGroup('shop', 'api', [{ name: 'read', pathRegex: '/api/.*', methods: ['GET'] }]),
    );
    put(s.trafficSplits, split('shop', 'checkout', 'checkout', SHOP_WEIGHTS, ['api']));
    const out = compiler().compile(s);
    expect(out.diagnostics).toEqual([]);
    const checkout = checkoutIn(out);
    const retry = {
      maxRetries: 3,
      retryOn: ['gateway-error', 'grpc-unavailable'],
      retryNonIdempotent: true,
      perTryTimeoutMs: 250,
      backoff: { baseMs: 25, maxMs: 250, jitter: 0.5 },
    };
    expect(checkout.defaultRoute).toEqual({ useSplit: false, timeoutMs: 2000, retry });
    expect(checkout.routes.map((r) => [r.name, r.timeoutMs, r.retry])).toEqual([['api/read', 2000, retry]]);
    // The split's backends are Services of their own: their annotations, not the root's, apply to them.
    const v1 = out.proxies
      .get('shop/frontend-1')!
      .config.outbound.services.find((x) => x.name === 'checkout-v1')!;
    expect(v1.defaultRoute).toEqual({ useSplit: true, timeoutMs: null, retry: null });
    for (const c of out.proxies.values()) expect(validateProxyConfig(c.config)).toMatchObject({ ok: true });
  });

  test('retry-on alone retries gateway errors twice by default; retry-limit 0 turns retries off', () => {
    const s = shop();
    annotate(s, 'checkout', { 'config.weft.dev/retry-limit': '2' });
    expect(checkoutIn(compiler().compile(s)).defaultRoute.retry).toMatchObject({
      maxRetries: 2,
      retryOn: ['gateway-error', 'connect-failure'],
      retryNonIdempotent: false,
      perTryTimeoutMs: null,
    });
    annotate(s, 'checkout', { 'config.weft.dev/retry-on': '5xx', 'config.weft.dev/retry-limit': '0' });
    expect(checkoutIn(compiler().compile(s)).defaultRoute.retry).toBeNull();
  });

  test('each bad value is reported naming the Service and annotation, and left out; the rest applies', () => {
    const s = shop();
    annotate(s, 'checkout', {
      'config.weft.dev/timeout': '30',
      'config.weft.dev/retry-on': 'gateway-error,teapot',
      'config.weft.dev/retry-timeout': '100ms',
      'config.weft.dev/retry-non-idempotent': 'yes',
      'config.weft.dev/opaque-ports': '5432',
    });
    annotate(s, 'frontend', { 'config.weft.dev/retry-limit': '11', 'config.weft.dev/timeout': '1m' });
    const out = compiler().compile(s);
    expect(
      out.diagnostics.map((d) => `${d.kind}/${d.namespace}/${d.name}:${d.reason}: ${d.message}`).sort(),
    ).toEqual([
      'Service/shop/checkout:InvalidAnnotation: annotation config.weft.dev/opaque-ports: not read on a Service (Service keys: config.weft.dev/timeout, config.weft.dev/retry-on, config.weft.dev/retry-limit, config.weft.dev/retry-timeout, config.weft.dev/retry-non-idempotent); ignored',
      'Service/shop/checkout:InvalidAnnotation: annotation config.weft.dev/retry-non-idempotent: "yes" is not true or false; using false',
      'Service/shop/checkout:InvalidAnnotation: annotation config.weft.dev/retry-on: unknown condition "teapot" (conditions: 5xx, gateway-error, connect-failure, reset, grpc-unavailable); no retries',
      'Service/shop/checkout:InvalidAnnotation: annotation config.weft.dev/timeout: "30" is not a duration like 500ms, 10s or 1m30s (at "30"); ignored',
      'Service/shop/frontend:InvalidAnnotation: annotation config.weft.dev/retry-limit: "11" is not a whole number from 0 to 10; no retries',
    ]);
    expect(checkoutIn(out).defaultRoute).toEqual({ useSplit: true, timeoutMs: null, retry: null });
    const frontend = out.proxies
      .get('shop/checkout-1')!
      .config.outbound.services.find((x) => x.name === 'frontend')!;
    expect(frontend.defaultRoute).toEqual({ useSplit: true, timeoutMs: 60_000, retry: null });
    for (const c of out.proxies.values()) expect(validateProxyConfig(c.config)).toMatchObject({ ok: true });
  });

  test('retry-timeout without retry-on or retry-limit is reported as having no effect', () => {
    const s = shop();
    annotate(s, 'checkout', { 'config.weft.dev/retry-timeout': '1s' });
    const out = compiler().compile(s);
    expect(out.diagnostics.map((d) => d.message)).toEqual([
      'annotation config.weft.dev/retry-timeout: has no effect without config.weft.dev/retry-on or config.weft.dev/retry-limit',
    ]);
    expect(checkoutIn(out).defaultRoute.retry).toBeNull();
  });

  test('changing an annotation gives the Service’s clients a new config version with the new timeout', () => {
    const c = compiler();
    const s1 = shop();
    const before = c.compile(s1);
    const s2 = clone(s1);
    annotate(s2, 'checkout', { 'config.weft.dev/timeout': '5s' });
    const after = c.compile(s2);
    expect(checkoutIn(after).defaultRoute.timeoutMs).toBe(5000);
    expect(after.proxies.get('shop/frontend-1')!.version).not.toBe(
      before.proxies.get('shop/frontend-1')!.version,
    );
  });
});

describe('compile: huge objects', () => {
  test('a Service with more endpoints than the contract allows gets the first 10,000 by address and a diagnostic; a split to it stays valid', () => {
    const s = shop();
    crowdedService(s, 'shop', 'big', 10_001);
    // Before: the Service was left out of every config, so the full config of a proxy whose split named it
    // referenced a backend it did not carry, and failed validation at the proxy (which kept its last good one).
    put(
      s.trafficSplits,
      split('shop', 'checkout', 'checkout', [
        ['checkout-v1', 1],
        ['big', 1],
      ]),
    );
    const out = compiler().compile(s);
    expect(out.diagnostics).toEqual([
      expect.objectContaining({
        kind: 'Service',
        name: 'big',
        reason: 'EndpointsTruncated',
        message: 'port 80: 10001 endpoints; proxies get the first 10000 by address',
      }),
    ]);
    for (const [pod, c] of out.proxies) {
      const checked = validateProxyConfig(JSON.parse(JSON.stringify(c.config)));
      expect({ pod, ok: checked.ok }).toEqual({ pod, ok: true });
    }
    const cfg = out.proxies.get('shop/frontend-1')!.config;
    expect(cfg.outbound.services.map((x) => x.name)).toEqual([
      'big',
      'checkout',
      'checkout-v1',
      'checkout-v2',
      'frontend',
    ]);
    const programmed = cfg.outbound.backends.find((b) => b.name === 'big')!.ports[0]!.endpoints;
    expect(programmed.length).toBe(10_000);
    expect(programmed[0]!.address).toBe('10.100.0.0');
  });
});

describe('compile: incremental', () => {
  test('changing one weight rebuilds one fragment and keeps unrelated proxies byte-identical', () => {
    const s = shop();
    // A namespace that did not opt in: its services are visible only to its own (individually meshed) pods.
    s.namespaces.set('lab', namespace('lab', false));
    const exp = service('lab', 'exp', '10.96.1.1');
    put(s.services, exp);
    put(s.services, service('lab', 'exp-b', '10.96.1.2'));
    put(s.endpointSlices, slice(exp, [['lab-1', '10.244.1.1']]));
    put(s.pods, pod('lab', 'lab-1', 'lab', '10.244.1.1'));
    put(
      s.trafficSplits,
      split('lab', 'exp', 'exp', [
        ['exp', 1],
        ['exp-b', 1],
      ]),
    );
    const c = compiler();
    const before = c.compile(s);
    const built = { ...c.stats };
    const s2 = clone(s);
    put(
      s2.trafficSplits,
      split('lab', 'exp', 'exp', [
        ['exp', 3],
        ['exp-b', 1],
      ]),
    );
    const after = c.compile(s2);
    expect(c.stats.outboundFragmentsBuilt - built.outboundFragmentsBuilt).toBe(1);
    expect(c.stats.configsSerialized - built.configsSerialized).toBe(1);
    expect(after.proxies.get('lab/lab-1')!.version).not.toBe(before.proxies.get('lab/lab-1')!.version);
    for (const p of ['shop/frontend-1', 'shop/checkout-1'])
      expect(after.proxies.get(p)).toBe(before.proxies.get(p));
  });

  test('recompiling an unchanged snapshot builds nothing', () => {
    const s = shop();
    const c = compiler();
    c.compile(s);
    const built = { ...c.stats };
    c.compile(clone(s));
    expect(c.stats).toEqual(built);
  });
});

// ---- properties ----

interface World {
  namespaces: { name: string; meshed: boolean }[];
  services: { ns: number; name: number; ports: number[] }[];
  pods: { ns: number; sa: number; backs: number[] }[];
  splits: { ns: number; root: number; backends: [number, number][] }[];
}

const worldArb: fc.Arbitrary<World> = fc.record({
  namespaces: fc.uniqueArray(fc.record({ name: fc.constantFrom('a', 'b', 'c', 'd'), meshed: fc.boolean() }), {
    minLength: 1,
    maxLength: 4,
    selector: (n) => n.name,
  }),
  services: fc.array(
    fc.record({
      ns: fc.nat(3),
      name: fc.nat(5),
      ports: fc.uniqueArray(fc.constantFrom(80, 81, 9090), { minLength: 1, maxLength: 2 }),
    }),
    { maxLength: 12 },
  ),
  pods: fc.array(fc.record({ ns: fc.nat(3), sa: fc.nat(2), backs: fc.array(fc.nat(5), { maxLength: 2 }) }), {
    minLength: 1,
    maxLength: 10,
  }),
  splits: fc.array(
    fc.record({
      ns: fc.nat(3),
      root: fc.nat(5),
      backends: fc.array(fc.tuple(fc.nat(5), fc.nat(100)), { minLength: 1, maxLength: 3 }),
    }),
    { maxLength: 4 },
  ),
});

function build(w: World): MutableSnapshot {
  const s = snapshot();
  const nsName = (i: number) => w.namespaces[i % w.namespaces.length]!.name;
  for (const n of w.namespaces) s.namespaces.set(n.name, namespace(n.name, n.meshed));
  let ip = 1;
  for (const sv of w.services) {
    const svc = service(nsName(sv.ns), `svc${sv.name}`, `10.96.0.${ip++}`, sv.ports);
    if (!s.services.has(`${svc.namespace}/${svc.name}`)) put(s.services, svc);
  }
  w.pods.forEach((p, i) => {
    const ns = nsName(p.ns);
    const podIp = `10.244.0.${i + 1}`;
    put(s.pods, pod(ns, `pod${i}`, `sa${p.sa}`, podIp));
    for (const b of p.backs) {
      const svc = s.services.get(`${ns}/svc${b}`);
      if (svc === undefined) continue;
      const sl = slice(svc, [[`pod${i}`, podIp]]);
      put(s.endpointSlices, { ...sl, name: `svc${b}-pod${i}` });
    }
  });
  w.splits.forEach((sp, i) => {
    put(
      s.trafficSplits,
      split(
        nsName(sp.ns),
        `split${i}`,
        `svc${sp.root}`,
        sp.backends.map(([b, wt]) => [`svc${b}`, wt] as [string, number]),
      ),
    );
  });
  return s;
}

const versions = (snap: ClusterSnapshot, c = compiler()) =>
  new Map([...c.compile(snap).proxies].map(([k, v]) => [k, v.version]));

const parsed = (c: CompiledConfig) => (JSON.parse(c.chunks.join('')) as { config: ProxyConfig }).config;
const byKey = (c: ProxyConfig) => ({
  ...c,
  outbound: {
    services: c.outbound.services.toSorted((a, b) =>
      `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`),
    ),
    backends: c.outbound.backends.toSorted((a, b) =>
      `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`),
    ),
  },
});

describe('compile: patches', () => {
  test('a weight change is a patch of one service; applying it to the base gives the new document', () => {
    const s = shop();
    const c = compiler();
    const before = c.compile(s).proxies.get('shop/frontend-1')!;
    const s2 = clone(s);
    put(
      s2.trafficSplits,
      split('shop', 'checkout', 'checkout', [
        ['checkout-v1', 50],
        ['checkout-v2', 50],
      ]),
    );
    const after = c.compile(s2).proxies.get('shop/frontend-1')!;
    const msg = JSON.parse(patchChunks(before, after).join('')) as PatchMessage;
    expect(validateStreamMessage(msg)).toMatchObject({ ok: true });
    expect(msg.outbound.services.upsert.map((x) => x.name)).toEqual(['checkout']);
    expect(msg.outbound.services.remove).toEqual([]);
    expect(byKey(applyConfigPatch(parsed(before), msg))).toEqual(byKey(parsed(after)));
    expect(() => applyConfigPatch(parsed(after), msg)).toThrow('patch is against');
  });
});

describe('compile: properties', () => {
  test('deterministic: two compilers agree byte for byte, and every config validates', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const a = compiler().compile(build(w));
        const b = compiler().compile(build(w));
        expect([...a.proxies.keys()]).toEqual([...b.proxies.keys()]);
        for (const [k, v] of a.proxies) {
          expect(b.proxies.get(k)!.chunks.join('')).toBe(v.chunks.join(''));
          // The composed document (fragments validated one by one) passes the full validation.
          expect(validateProxyConfig(JSON.parse(v.chunks.join('')).config)).toMatchObject({ ok: true });
        }
        expect(a.diagnostics.filter((d) => d.reason === 'InvalidProxyConfig')).toEqual([]);
        expect(a.proxies.size).toBe([...build(w).pods.values()].length);
      }),
      { numRuns: 150 },
    );
  });

  test('one changed split: incremental result equals a full recompile, and only proxies that see its namespace change', () => {
    fc.assert(
      fc.property(worldArb, fc.nat(), fc.nat(1000), (w, which, weight) => {
        fc.pre(w.splits.length > 0);
        const s1 = build(w);
        const inc = compiler();
        const v1 = new Map([...inc.compile(s1).proxies].map(([k, v]) => [k, v.version]));
        const s2 = clone(s1);
        const ts = [...s2.trafficSplits.values()][which % s2.trafficSplits.size]!;
        const changed = {
          ...ts,
          spec: { ...ts.spec, backends: ts.spec.backends.map((b, i) => (i === 0 ? { ...b, weight } : b)) },
        };
        put(s2.trafficSplits, changed);
        const out1 = inc.compile(s1);
        const out2 = inc.compile(s2);
        const v2 = new Map([...out2.proxies].map(([k, v]) => [k, v.version]));
        for (const [k, next] of out2.proxies) {
          const base = out1.proxies.get(k)!;
          const applied = applyConfigPatch(
            parsed(base),
            JSON.parse(patchChunks(base, next).join('')) as PatchMessage,
          );
          expect(validateProxyConfig(applied)).toMatchObject({ ok: true });
          expect(byKey(applied)).toEqual(byKey(parsed(next)));
        }
        expect(v2).toEqual(versions(s2));
        const splitNs = ts.metadata.namespace!;
        const nsMeshed = s2.namespaces.get(splitNs)?.annotations['weft.dev/inject'] === 'enabled';
        for (const [podKey, v] of v2) {
          const seesIt = nsMeshed || podKey.startsWith(`${splitNs}/`);
          if (!seesIt) expect(v).toBe(v1.get(podKey));
        }
      }),
      { numRuns: 150 },
    );
  });
});
