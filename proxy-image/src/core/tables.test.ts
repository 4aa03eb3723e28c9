import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import type { ProxyConfig } from '../../../crds/proxy-config/types.ts';
import { validateProxyConfig } from '../../../crds/proxy-config/validate.ts';
import type { HttpRequestView } from './http-request.ts';
import { SeededRandom } from './random.ts';
import {
  compileTables,
  type EndpointState,
  isIpLiteral,
  type LogicalPort,
  REASON_BAD_AUTHORITY,
  REASON_NOT_AUTHORIZED,
  REASON_PERMISSIVE,
  REASON_PORT_NOT_AUTHORIZED,
  REASON_UNAUTHENTICATED_DENIED,
  REASON_UNKNOWN_AUTHORITY,
  REASON_UNKNOWN_DESTINATION,
  type Tables,
} from './tables.ts';

// biome-ignore lint/suspicious/noExplicitAny: fixtures are edited as free-form JSON before validation
type Json = Record<string, any>;

function example(name: string): Json {
  return JSON.parse(
    readFileSync(new URL(`../../../crds/proxy-config/examples/${name}`, import.meta.url), 'utf8'),
  ) as Json;
}

function validated(doc: unknown): ProxyConfig {
  const v = validateProxyConfig(doc);
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  return v.config;
}

function fakeDeps(seed = 1) {
  const rng = new SeededRandom(seed);
  const clock = { t: 1000 };
  return { clock, deps: { now: () => clock.t, random: () => rng.next() } };
}

function req(method: string, path: string, headers: Record<string, string | string[]> = {}): HttpRequestView {
  return { method, path, header: (n) => headers[n] };
}

function asService(
  x: ReturnType<Tables['lookupByAddress']> | ReturnType<Tables['lookupByAuthority']>,
): LogicalPort {
  if (x.kind !== 'service') throw new Error(`expected a service, got ${x.kind}: ${x.reason}`);
  return x;
}

describe('outbound lookup', () => {
  const { deps } = fakeDeps();
  const t = compileTables(validated(example('enforcing-split.json')), deps);

  test('by original destination, IPv4 and IPv6 in any textual form', () => {
    expect(asService(t.lookupByAddress('10.96.12.34', 8080)).service.name).toBe('checkout');
    expect(asService(t.lookupByAddress('::ffff:10.96.12.34', 8080)).service.name).toBe('checkout');
    expect(asService(t.lookupByAddress('fd00:10:96::28', 9090)).service.name).toBe('payments');
    expect(asService(t.lookupByAddress('FD00:10:96:0:0:0:0:28', 9090)).service.name).toBe('payments');
  });

  test('unknown address or port is passthrough, opaque on opaque ports', () => {
    expect(t.lookupByAddress('10.96.12.34', 8081)).toEqual({
      kind: 'passthrough',
      reason: REASON_UNKNOWN_DESTINATION,
      protocol: 'detect',
    });
    expect(t.lookupByAddress('10.1.1.1', 5432)).toMatchObject({ kind: 'passthrough', protocol: 'opaque' });
  });

  test('by authority: with and without port, case, trailing dot, IP literal', () => {
    const lp = asService(t.lookupByAuthority('checkout.shop.svc.cluster.local:8080', 80));
    expect(lp.port).toBe(8080);
    expect(lp.authority).toBe('checkout.shop.svc.cluster.local:8080');
    expect(asService(t.lookupByAuthority('Checkout.Shop.SVC.cluster.local.:8080', 80))).toBe(lp);
    expect(asService(t.lookupByAuthority('checkout', 8080))).toBe(lp);
    expect(asService(t.lookupByAuthority('10.96.12.34:8080', 80))).toBe(lp);
    expect(asService(t.lookupByAuthority('[fd00:10:96::28]:9090', 80)).service.name).toBe('payments');
    expect(t.lookupByAuthority('checkout', 80)).toEqual({ kind: 'none', reason: REASON_UNKNOWN_AUTHORITY });
    expect(t.lookupByAuthority('example.com', 80).kind).toBe('none');
  });

  test('IP literal detection (per request, without a regex) matches its definition', () => {
    const definition = (h: string) => h.includes(':') || /^\d{1,3}(\.\d{1,3}){3}$/.test(h);
    const piece = fc.constantFrom('1', '12', '123', '1234', '.', '..', 'a', ':', '');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 9 }), (parts) => {
        const h = parts.join('');
        expect(isIpLiteral(h)).toBe(definition(h));
      }),
      { numRuns: 3000 },
    );
  });

  test('malformed authorities are refused with a reason', () => {
    for (const a of [
      '',
      'checkout:',
      'checkout:0',
      'checkout:65536',
      'checkout:80x',
      '[::1',
      '[::1]x',
      ':80',
    ]) {
      expect(t.lookupByAuthority(a, 80)).toEqual({ kind: 'none', reason: REASON_BAD_AUTHORITY });
    }
  });

  test("an endpoint's own address and port: its service port, pinned to that endpoint (pod IP, headless)", () => {
    const pick = (lp: LogicalPort) => {
      const e = t.pickEndpoint(t.backend(lp, t.route(lp, req('GET', '/api/v1/cart'))));
      if (e.kind !== 'endpoint') throw new Error(e.reason);
      t.observe(e, 1, 'success');
      return e;
    };
    // A pod of the split root: the service's routes and metrics authority, no split (the client chose the pod).
    const root = asService(t.lookupByAddress('10.244.1.17', 8080));
    expect(root.service.name).toBe('checkout');
    expect(root.authority).toBe('checkout.shop.svc.cluster.local:8080');
    expect(root.routes.map((r) => r.name)).toEqual(['checkout-routes/cart-api']);
    expect(root.split).toBeNull();
    expect(root.protocol).toBe('http1');
    for (let i = 0; i < 20; i++) {
      expect(pick(root)).toMatchObject({
        address: '10.244.1.17',
        port: 8080,
        identity: 'spiffe://cluster.local/ns/shop/sa/checkout',
      });
    }
    // A canary pod (its backend is no service of this config), and a pod that is not ready: still that pod.
    const canary = asService(t.lookupByAddress('10.244.3.4', 8080));
    expect(canary.service.name).toBe('checkout-canary');
    expect(pick(canary)).toMatchObject({
      address: '10.244.3.4',
      identity: 'spiffe://cluster.local/ns/shop/sa/checkout',
    });
    expect(pick(asService(t.lookupByAddress('10.244.2.9', 8080))).address).toBe('10.244.2.9');
    // An unmeshed endpoint keeps identity null (plaintext); an IP-literal authority finds the same port.
    const payments = asService(t.lookupByAddress('10.244.5.21', 9090));
    expect(payments.protocol).toBe('grpc');
    expect(pick(payments).identity).toBeNull();
    expect(asService(t.lookupByAuthority('10.244.3.4:8080', 80))).toBe(canary);
    expect(t.lookupByAddress('10.244.3.4', 8080)).toBe(canary);
    // Another port of a known pod, or an address nobody lists: passthrough as before.
    expect(t.lookupByAddress('10.244.3.4', 9999)).toMatchObject({ kind: 'passthrough', protocol: 'detect' });
    expect(t.lookupByAddress('10.244.9.9', 8080)).toMatchObject({ kind: 'passthrough' });
  });

  test('endpoint addresses: IPv6 in any form; one address listed with two identities is passthrough', () => {
    const doc = example('enforcing-split.json');
    const backends = doc.outbound.backends as Json[];
    backends[2]!.ports[0].endpoints.push({
      address: 'fd00:244::5',
      port: 8080,
      identity: 'spiffe://cluster.local/ns/shop/sa/checkout',
    });
    // The payments pod's address and port listed again under another identity.
    backends[2]!.ports[0].endpoints.push({
      address: '10.244.5.21',
      port: 9090,
      identity: 'spiffe://cluster.local/ns/shop/sa/impostor',
    });
    const t6 = compileTables(validated(doc), fakeDeps().deps);
    expect(
      asService(t6.lookupByAddress('FD00:244:0:0:0:0:0:5', 8080)).root.balancer.endpoints[0]!.address,
    ).toBe('fd00:244::5');
    expect(t6.lookupByAddress('10.244.5.21', 9090)).toMatchObject({ kind: 'passthrough' });
  });

  test('effective protocol: declared hint kept', () => {
    expect(asService(t.lookupByAddress('10.96.40.2', 9090)).protocol).toBe('grpc');
    expect(asService(t.lookupByAddress('10.96.12.34', 8080)).protocol).toBe('http1');
  });
});

describe('outbound routing and split', () => {
  test('matching route uses the split with exact weights; others go to the root', () => {
    const { deps } = fakeDeps();
    const t = compileTables(validated(example('enforcing-split.json')), deps);
    const lp = asService(t.lookupByAddress('10.96.12.34', 8080));
    const cart = req('GET', '/api/v2/cart?x=1');
    const route = t.route(lp, cart);
    expect(route.name).toBe('checkout-routes/cart-api');
    expect(route.timeoutMs).toBe(3000);
    expect(route.retry?.maxRetries).toBe(2);
    const counts = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const b = t.backend(lp, route).name;
      counts.set(b, (counts.get(b) ?? 0) + 1);
    }
    expect(Object.fromEntries(counts)).toEqual({ 'checkout-canary': 100, 'checkout-primary': 300 });

    const other = t.route(lp, req('GET', '/other'));
    expect(other.isDefault).toBe(true);
    expect(other.timeoutMs).toBe(10000);
    for (let i = 0; i < 20; i++) expect(t.backend(lp, other).name).toBe('checkout');
    // Method outside the match falls to the default route.
    expect(t.route(lp, req('DELETE', '/api/v1/cart')).isDefault).toBe(true);
    // Header match ORed with the path match.
    const android = req('PUT', '/x', { 'user-agent': 'Mozilla Android 14', cookie: 'a=b;type=insider' });
    expect(t.route(lp, android).name).toBe('checkout-routes/cart-api');
  });

  test('weight 0 is never chosen; all-zero weights go to the root', () => {
    const { deps } = fakeDeps();
    const doc = example('permissive-plaintext.json');
    const t = compileTables(validated(doc), deps);
    const lp = asService(t.lookupByAuthority('echo', 80));
    for (let i = 0; i < 1000; i++) expect(t.backend(lp, t.route(lp, req('GET', '/'))).name).toBe('echo-v1');
    doc.outbound.services[0].split.backends[0].weight = 0;
    const t2 = compileTables(validated(doc), deps);
    const lp2 = asService(t2.lookupByAuthority('echo', 80));
    expect(lp2.split).toBeNull();
    expect(t2.tcpBackend(lp2).name).toBe('echo');
  });

  test('endpoint pick: address, identity, protocol; not-ready skipped; empty backend has a reason', () => {
    const { deps } = fakeDeps();
    const t = compileTables(validated(example('enforcing-split.json')), deps);
    const lp = asService(t.lookupByAddress('10.96.12.34', 8080));
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const b = lp.root;
      const e = t.pickEndpoint(b);
      if (e.kind !== 'endpoint') throw new Error(e.reason);
      expect(e.identity).toBe('spiffe://cluster.local/ns/shop/sa/checkout');
      expect(e.protocol).toBe('http1');
      seen.add(`${e.address}:${e.port}`);
      t.observe(e, 5, 'success');
    }
    expect([...seen]).toEqual(['10.244.1.17:8080']);
    const primary = lp.split!.items.find((b) => b.name === 'checkout-primary')!;
    expect(primary.balancer.endpoints.map((e) => e.address)).toEqual(['10.244.1.17']);

    const doc = example('permissive-plaintext.json');
    const t2 = compileTables(validated(doc), deps);
    const e = t2.pickEndpoint(asService(t2.lookupByAuthority('echo', 80)).root);
    expect(e).toEqual({ kind: 'no-endpoint', reason: 'no ready endpoints' });
    const v1 = t2.pickEndpoint(
      t2.backend(
        asService(t2.lookupByAuthority('echo', 80)),
        t2.route(asService(t2.lookupByAuthority('echo', 80)), req('GET', '/')),
      ),
    );
    expect(v1).toMatchObject({ kind: 'endpoint', address: '127.0.0.1', port: 18080, identity: null });
  });

  test('circuit opens after consecutive failures and the endpoint is skipped, then probed', () => {
    const { deps, clock } = fakeDeps();
    const doc = example('permissive-plaintext.json');
    doc.outbound.backends[1].ports[0].endpoints.push({ address: '127.0.0.2', port: 18080, identity: null });
    doc.circuitBreaker = { consecutiveFailures: 3, backoff: { baseMs: 1000, maxMs: 1000, jitter: 0 } };
    const t = compileTables(validated(doc), deps);
    const b = asService(t.lookupByAuthority('echo', 80)).split!.items[0]!;
    const bad = b.balancer.endpoints.find((e) => e.address === '127.0.0.2')!;
    for (let i = 0; i < 3; i++) {
      bad.dispatched(clock.t);
      t.observe(bad, 1, 'failure');
    }
    expect(bad.circuit.state(clock.t)).toBe('open');
    for (let i = 0; i < 100; i++) {
      const e = t.pickEndpoint(b) as EndpointState;
      expect(e.address).toBe('127.0.0.1');
      t.observe(e, 1, 'success');
    }
    clock.t += 1000;
    expect(bad.circuit.state(clock.t)).toBe('half-open');
    bad.dispatched(clock.t);
    t.observe(bad, 1, 'success');
    expect(bad.circuit.state(clock.t)).toBe('closed');
  });

  test('snapshot shows routes, split, endpoints with estimate, in-flight and circuit', () => {
    const { deps } = fakeDeps();
    const t = compileTables(validated(example('enforcing-split.json')), deps);
    const lp = asService(t.lookupByAddress('10.96.12.34', 8080));
    const e = t.pickEndpoint(lp.root) as EndpointState;
    const snap = t.snapshot();
    const checkout = snap.services.find((s) => s.authority === 'checkout.shop.svc.cluster.local:8080')!;
    expect(checkout.routes).toEqual(['checkout-routes/cart-api']);
    expect(checkout.split).toEqual([
      { backend: 'checkout-canary', weight: 25 },
      { backend: 'checkout-primary', weight: 75 },
    ]);
    expect(checkout.backends.map((b) => b.name)).toEqual([
      'shop/checkout',
      'shop/checkout-canary',
      'shop/checkout-primary',
    ]);
    expect(checkout.backends[0]!.endpoints[0]).toEqual({
      address: '10.244.1.17',
      port: 8080,
      identity: 'spiffe://cluster.local/ns/shop/sa/checkout',
      inFlight: 1,
      estimateMs: 30,
      circuit: 'closed',
    });
    t.observe(e, 1, 'success');
    expect(JSON.parse(JSON.stringify(snap)).version).toBe(t.version);
  });

  test('split rotation and retry budget survive recompilation (endpoint churn between requests)', () => {
    const { deps } = fakeDeps();
    const doc = example('enforcing-split.json');
    doc.retryBudget = { retryRatio: 0, minRetriesPerSecond: 1, windowMs: 10000, maxBufferedBodyBytes: 100 };
    let t = compileTables(validated(doc), deps);
    const counts = new Map<string, number>();
    let retries = 0;
    for (let i = 0; i < 400; i++) {
      doc.version = `v${i}`;
      t = compileTables(validated(doc), deps, t);
      const lp = asService(t.lookupByAddress('10.96.12.34', 8080));
      const route = t.route(lp, req('GET', '/api/v1/cart'));
      const b = t.backend(lp, route).name;
      counts.set(b, (counts.get(b) ?? 0) + 1);
      if (t.shouldRetry(lp, route, 'GET', 0, 0, 'connect-failure', 0, -1) === 'retry') retries++;
    }
    expect(Object.fromEntries(counts)).toEqual({ 'checkout-canary': 100, 'checkout-primary': 300 });
    expect(retries).toBe(10); // the reserve of one window, not 10 per config version
    // Changed weights start a new rotation.
    doc.outbound.services[0].split.backends[0].weight = 1;
    t = compileTables(validated(doc), deps, t);
    expect(asService(t.lookupByAddress('10.96.12.34', 8080)).split!.weightOf(0)).toBe(1);
  });

  test('endpoint state survives a recompilation', () => {
    const { deps } = fakeDeps();
    const doc = example('permissive-plaintext.json');
    const t1 = compileTables(validated(doc), deps);
    const e1 = t1.pickEndpoint(t1.tcpBackend(asService(t1.lookupByAuthority('echo', 80)))) as EndpointState;
    doc.version = 'test-2';
    const t2 = compileTables(validated(doc), deps, t1);
    const e2 = t2.pickEndpoint(t2.tcpBackend(asService(t2.lookupByAuthority('echo', 80)))) as EndpointState;
    expect(e2).toBe(e1);
    expect(e2.inFlight).toBe(2);
    t1.observe(e1, 3, 'success');
    t2.observe(e2, 3, 'success');
    expect(e2.inFlight).toBe(0);
  });

  test('retries: policy, method, body size and budget', () => {
    const { deps, clock } = fakeDeps();
    const doc = example('enforcing-split.json');
    doc.retryBudget = { retryRatio: 0.5, minRetriesPerSecond: 0, windowMs: 10000, maxBufferedBodyBytes: 100 };
    const t = compileTables(validated(doc), deps);
    const lp = asService(t.lookupByAddress('10.96.12.34', 8080));
    const route = t.route(lp, req('GET', '/api/v1/cart'));
    for (let i = 0; i < 4; i++) t.recordRequest(lp);
    expect(t.shouldRetry(lp, route, 'POST', 0, 0, 'response', 503, -1)).toBe('no'); // not idempotent
    expect(t.shouldRetry(lp, route, 'GET', 101, 0, 'response', 503, -1)).toBe('no'); // body too large
    expect(t.shouldRetry(lp, route, 'GET', 0, 0, 'response', 500, -1)).toBe('no'); // not a gateway error
    expect(t.shouldRetry(lp, route, 'GET', 0, 2, 'response', 503, -1)).toBe('no'); // attempts used up
    expect(t.shouldRetry(lp, route, 'GET', 0, 0, 'response', 503, -1)).toBe('retry');
    expect(t.shouldRetry(lp, route, 'GET', 0, 0, 'connect-failure', 0, -1)).toBe('retry');
    expect(t.shouldRetry(lp, route, 'GET', 0, 0, 'response', 502, -1)).toBe('budget-exhausted'); // budget: 0.5 * 4 = 2
    clock.t += 20_000;
    expect(t.shouldRetry(lp, route, 'GET', 0, 0, 'response', 502, -1)).toBe('budget-exhausted'); // window emptied
    expect(t.shouldRetry(lp, t.route(lp, req('GET', '/x')), 'GET', 0, 0, 'response', 503, -1)).toBe('no');
    const d = t.retryDelayMs(route, 1);
    expect(d).toBeGreaterThan(25);
    expect(d).toBeLessThanOrEqual(50);
  });
});

describe('inbound authorization', () => {
  const { deps } = fakeDeps();
  const gateway = 'spiffe://cluster.local/ns/ingress/sa/gateway';
  const admin = 'spiffe://cluster.local/ns/shop/sa/admin-tools';
  const stranger = 'spiffe://cluster.local/ns/other/sa/x';

  test('enforcing: sources, routes, unauthenticated rule, unknown port, TCP ports', () => {
    const t = compileTables(validated(example('enforcing-split.json')), deps);
    expect(t.authorizeInbound(8080, gateway, req('GET', '/api/x'))).toEqual({
      allowed: true,
      reason: 'authorized by shop/frontend-from-gateway',
      authorization: 'shop/frontend-from-gateway',
    });
    expect(t.authorizeInbound(8080, admin, req('POST', '/static/a')).allowed).toBe(true);
    expect(t.authorizeInbound(8080, gateway, req('GET', '/admin'))).toMatchObject({
      allowed: false,
      reason: REASON_NOT_AUTHORIZED,
    });
    expect(t.authorizeInbound(8080, stranger, req('GET', '/api/x')).allowed).toBe(false);
    // Probes: unauthenticated source on its routes only.
    expect(t.authorizeInbound(8080, null, req('GET', '/healthz')).authorization).toBe('weft/kubelet-probes');
    expect(t.authorizeInbound(8080, stranger, req('GET', '/readyz')).allowed).toBe(true);
    expect(t.authorizeInbound(8080, null, req('GET', '/healthz/x')).reason).toBe(
      REASON_UNAUTHENTICATED_DENIED,
    );
    expect(t.authorizeInbound(8080, null, req('POST', '/healthz')).allowed).toBe(false);
    expect(t.authorizeInbound(8080, null, req('GET', '/api/x')).allowed).toBe(false);
    // HTTP rules never cover a TCP connection.
    expect(t.authorizeInbound(8080, gateway, null).allowed).toBe(false);
    // TCP port rules.
    expect(t.authorizeInbound(6379, 'spiffe://cluster.local/ns/shop/sa/checkout', null).allowed).toBe(true);
    expect(t.authorizeInbound(6379, gateway, null).allowed).toBe(false);
    expect(t.authorizeInbound(9999, gateway, req('GET', '/'))).toMatchObject({
      allowed: false,
      reason: REASON_PORT_NOT_AUTHORIZED,
    });
    expect(t.inboundProtocol(6379)).toBe('opaque');
    expect(t.inboundProtocol(5432)).toBe('opaque');
    expect(t.inboundProtocol(8080)).toBe('detect');
  });

  test('enforcing with unauthenticated.enforcing: any client wherever a rule covers the request', () => {
    const doc = example('enforcing-split.json');
    doc.inbound.unauthenticated = { permissive: true, enforcing: true };
    const t = compileTables(validated(doc), deps);
    expect(t.authorizeInbound(8080, null, req('GET', '/api/x'))).toMatchObject({
      allowed: true,
      authorization: 'shop/frontend-from-gateway',
    });
    expect(t.authorizeInbound(8080, null, req('GET', '/nope')).allowed).toBe(false);
    // Authenticated but unlisted clients are still denied.
    expect(t.authorizeInbound(8080, stranger, req('GET', '/api/x')).allowed).toBe(false);
  });

  test('permissive: everyone allowed, matching authorization still reported; unauthenticated per setting', () => {
    const doc = example('enforcing-split.json');
    doc.policyMode = 'permissive';
    let t = compileTables(validated(doc), deps);
    expect(t.authorizeInbound(8080, stranger, req('GET', '/admin'))).toEqual({
      allowed: true,
      reason: REASON_PERMISSIVE,
      authorization: null,
    });
    expect(t.authorizeInbound(8080, gateway, req('GET', '/api/')).authorization).toBe(
      'shop/frontend-from-gateway',
    );
    expect(t.authorizeInbound(1234, null, null).allowed).toBe(true);
    doc.inbound.unauthenticated = { permissive: false, enforcing: false };
    t = compileTables(validated(doc), deps);
    expect(t.authorizeInbound(1234, null, null).reason).toBe(REASON_UNAUTHENTICATED_DENIED);
    expect(t.authorizeInbound(8080, null, req('GET', '/healthz')).allowed).toBe(true);
    expect(t.authorizeInbound(1234, stranger, null).allowed).toBe(true);
  });
});

describe('compile errors', () => {
  test('name the field', () => {
    const config = validated(example('enforcing-split.json'));
    (config.outbound.services[0]!.routes[0]!.matches[0] as { pathRegex: string }).pathRegex = '(a';
    expect(() => compileTables(config, fakeDeps().deps)).toThrow(
      /\/outbound\/services\/0\/routes\/0.*unterminated group/,
    );
  });
});

describe('properties', () => {
  const { deps } = fakeDeps();
  const t = compileTables(validated(example('enforcing-split.json')), deps);
  const checkout = asService(t.lookupByAddress('10.96.12.34', 8080));

  test('authority lookup ignores case and a trailing dot, with or without the port', () => {
    const names = ['checkout.shop.svc.cluster.local', 'checkout.shop.svc', 'checkout.shop', 'checkout'];
    fc.assert(
      fc.property(
        fc.constantFrom(...names),
        fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
        fc.boolean(),
        fc.boolean(),
        (name, upper, dot, withPort) => {
          const cased = [...name].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join('');
          const authority = `${cased}${dot ? '.' : ''}${withPort ? ':8080' : ''}`;
          expect(t.lookupByAuthority(authority, withPort ? 1 : 8080)).toBe(checkout);
        },
      ),
    );
  });

  test('arbitrary authorities and addresses never throw', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), fc.integer({ min: 0, max: 70000 }), (a, port) => {
        const r = t.lookupByAuthority(a, port);
        expect(['service', 'none']).toContain(r.kind);
        expect(['service', 'passthrough']).toContain(t.lookupByAddress(a, port).kind);
      }),
      { numRuns: 2000 },
    );
  });

  test('enforcing never allows what permissive denies; permissive allows every authenticated client', () => {
    const doc = example('enforcing-split.json');
    const enforcing = compileTables(validated(doc), deps);
    doc.policyMode = 'permissive';
    const permissive = compileTables(validated(doc), deps);
    const client = fc.constantFrom(
      null,
      'spiffe://cluster.local/ns/ingress/sa/gateway',
      'spiffe://cluster.local/ns/shop/sa/admin-tools',
      'spiffe://cluster.local/ns/shop/sa/checkout',
      'spiffe://cluster.local/ns/x/sa/y',
    );
    const request = fc.option(
      fc.record({
        method: fc.constantFrom('GET', 'POST', 'DELETE'),
        path: fc.constantFrom('/', '/api/x', '/static/', '/healthz', '/readyz', '/admin', '/healthz/x'),
      }),
      { nil: null },
    );
    fc.assert(
      fc.property(fc.constantFrom(8080, 6379, 9999), client, request, (port, id, r) => {
        const view = r === null ? null : req(r.method, r.path);
        const e = enforcing.authorizeInbound(port, id, view);
        const p = permissive.authorizeInbound(port, id, view);
        if (e.allowed) expect(p.allowed).toBe(true);
        if (id !== null) expect(p.allowed).toBe(true);
        expect(e.reason.length).toBeGreaterThan(0);
      }),
    );
  });

  test('split counts over whole cycles are exact, through the tables', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 20 }), (canary, primary) => {
        const doc = example('enforcing-split.json');
        doc.outbound.services[0].split.backends = [
          { service: 'checkout-canary', weight: canary },
          { service: 'checkout-primary', weight: primary },
        ];
        const tt = compileTables(validated(doc), deps);
        const lp = asService(tt.lookupByAddress('10.96.12.34', 8080));
        const route = tt.route(lp, req('GET', '/api/v1/cart'));
        const total = canary + primary;
        const counts = new Map<string, number>();
        for (let i = 0; i < 3 * Math.max(total, 1); i++) {
          const b = tt.backend(lp, route).name;
          counts.set(b, (counts.get(b) ?? 0) + 1);
        }
        if (total === 0) expect(Object.fromEntries(counts)).toEqual({ checkout: 3 });
        else {
          expect(counts.get('checkout-canary') ?? 0).toBe(3 * canary);
          expect(counts.get('checkout-primary') ?? 0).toBe(3 * primary);
        }
      }),
      { numRuns: 60 },
    );
  });
});
