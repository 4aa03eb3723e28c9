import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { parseSpiffeId, validateProxyConfig } from './validate.ts';

const examplesDir = new URL('./examples/', import.meta.url);
const exampleNames = readdirSync(examplesDir).filter((f) => f.endsWith('.json'));
const load = (name: string): Record<string, any> =>
  JSON.parse(readFileSync(new URL(name, examplesDir), 'utf8')) as Record<string, any>;

function errorsOf(doc: unknown): { path: string; message: string }[] {
  const r = validateProxyConfig(doc);
  if (r.ok) throw new Error('expected the document to be invalid');
  return r.errors;
}

function mutated(edit: (doc: Record<string, any>) => void): Record<string, any> {
  const doc = load('enforcing-split.json');
  edit(doc);
  return doc;
}

describe('examples', () => {
  test('there are examples', () => {
    expect(exampleNames.length).toBeGreaterThanOrEqual(2);
  });

  test.each(exampleNames)('%s validates', (name) => {
    const r = validateProxyConfig(load(name));
    expect(r.ok ? [] : r.errors).toEqual([]);
  });
});

describe('defaults', () => {
  test('are filled in without touching the input', () => {
    const input = load('permissive-plaintext.json');
    const before = JSON.stringify(input);
    const r = validateProxyConfig(input);
    expect(JSON.stringify(input)).toBe(before);
    if (!r.ok) throw new Error('invalid');
    const c = r.config;
    expect(c.listeners).toEqual({
      outboundPort: 15101,
      inboundPort: 15106,
      adminPort: 15190,
      adminAddress: '0.0.0.0',
      detectTimeoutMs: 1000,
      opaquePorts: [21, 25, 110, 143, 587, 3306, 4222, 5432, 6379, 11211],
    });
    expect(c.inbound.unauthenticated).toEqual({ permissive: true, enforcing: false });
    expect(c.balancer).toEqual({ decayMs: 10000, defaultRttMs: 30 });
    expect(c.retryBudget).toEqual({
      retryRatio: 0.2,
      minRetriesPerSecond: 10,
      windowMs: 10000,
      maxBufferedBodyBytes: 65536,
    });
    expect(c.circuitBreaker).toEqual({
      consecutiveFailures: 7,
      backoff: { baseMs: 1000, maxMs: 60000, jitter: 0.5 },
    });
    expect(c.limits).toMatchObject({ maxHeaderBytes: 16384, maxHeaderCount: 100, connectTimeoutMs: 1000 });
    const svc = c.outbound.services[0]!;
    expect(svc.ports[0]).toEqual({ port: 80, name: null, protocol: 'detect' });
    expect(svc.routes).toEqual([]);
    expect(svc.defaultRoute).toEqual({ useSplit: true, timeoutMs: null, retry: null });
    expect(c.outbound.backends[1]!.ports[0]!.endpoints[0]).toEqual({
      address: '127.0.0.1',
      port: 18080,
      identity: null,
      ready: true,
      zone: null,
      weight: 1,
    });
  });

  test('nested defaults inside nullable objects (retry policy, inbound http matches)', () => {
    const r = validateProxyConfig(
      mutated((d) => {
        d.outbound.services[0].routes[0].retry = { maxRetries: 1 };
      }),
    );
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(r.config.outbound.services[0]!.routes[0]!.retry).toEqual({
      maxRetries: 1,
      retryOn: ['gateway-error', 'connect-failure'],
      retryNonIdempotent: false,
      perTryTimeoutMs: null,
      backoff: { baseMs: 25, maxMs: 250, jitter: 0.5 },
    });
    expect(r.config.inbound.ports[0]!.authorizations[0]!.httpMatches![0]).toEqual({
      name: null,
      pathRegex: '/(api|static)/',
      methods: ['*'],
      headers: [],
    });
  });
});

describe('schema errors carry precise paths', () => {
  test.each([
    ['missing identity', (d: any) => delete d.identity, '/identity', /required/],
    ['unknown field', (d: any) => (d.listeners.extra = 1), '/listeners', /additional/],
    ['wrong apiVersion', (d: any) => (d.apiVersion = 'proxy.weft.dev/v2'), '/apiVersion', /constant/],
    ['bad policy mode', (d: any) => (d.policyMode = 'strict'), '/policyMode', /allowed values/],
    ['bad spiffe id', (d: any) => (d.identity.spiffeId = 'spiffe://x/sa/y'), '/identity/spiffeId', /pattern/],
    ['port out of range', (d: any) => (d.listeners.adminPort = 70000), '/listeners/adminPort', /<= 65535/],
    [
      'negative weight',
      (d: any) => (d.outbound.services[0].split.backends[1].weight = -1),
      '/outbound/services/0/split/backends/1/weight',
      />= 0/,
    ],
    [
      'fractional weight',
      (d: any) => (d.outbound.services[0].split.backends[0].weight = 0.5),
      '/outbound/services/0/split/backends/0/weight',
      /integer/,
    ],
    [
      'endpoint address not an IP',
      (d: any) => (d.outbound.backends[1].ports[0].endpoints[0].address = 'pod-a'),
      '/outbound/backends/1/ports/0/endpoints/0/address',
      /format/,
    ],
    [
      'unknown source kind',
      (d: any) => (d.inbound.ports[0].authorizations[0].sources[0] = { kind: 'everyone' }),
      '/inbound/ports/0/authorizations/0/sources/0/kind',
      /allowed values|discriminator|tag/,
    ],
    [
      'uppercase header name',
      (d: any) => (d.outbound.services[0].routes[0].matches[1].headers[0].name = 'User-Agent'),
      '/outbound/services/0/routes/0/matches/1/headers/0/name',
      /pattern/,
    ],
    ['bad PEM', (d: any) => (d.trustAnchors[0] = 'not a cert'), '/trustAnchors/0', /pattern/],
    ['bad timestamp', (d: any) => (d.generatedAt = 'yesterday'), '/generatedAt', /date-time/],
  ])('%s', (_name, edit, path, message) => {
    const errors = errorsOf(mutated(edit));
    const hit = errors.find((e) => e.path === path);
    expect(hit).toBeDefined();
    expect(hit!.message).toMatch(message);
  });

  test('not an object, or not JSON data', () => {
    expect(errorsOf(null)[0]).toEqual({ path: '', message: 'must be object' });
    expect(errorsOf({ f: () => 1 })[0]!.message).toMatch(/not plain JSON/);
  });
});

describe('cross-field rules', () => {
  test.each([
    [
      'trust domain mismatch',
      (d: any) => (d.identity.trustDomain = 'other.org'),
      '/identity/spiffeId',
      /trust domain/,
    ],
    [
      'listener ports collide',
      (d: any) => (d.listeners.adminPort = 15101),
      '/listeners/adminPort',
      /outboundPort/,
    ],
    ['empty anchors when enforcing', (d: any) => (d.trustAnchors = []), '/trustAnchors', /permissive/],
    [
      'empty anchors with an identity-expecting endpoint',
      (d: any) => {
        d.trustAnchors = [];
        d.policyMode = 'permissive';
      },
      '/outbound/backends/0/ports/0/endpoints/0/identity',
      /trustAnchors is empty/,
    ],
    [
      'root service without backend entry',
      (d: any) => d.outbound.backends.splice(0, 1),
      '/outbound/services/0',
      /root service shop\/checkout/,
    ],
    [
      'split backend without backend entry',
      (d: any) => (d.outbound.services[0].split.backends[0].service = 'checkout-v3'),
      '/outbound/services/0/split/backends/0/service',
      /shop\/checkout-v3/,
    ],
    [
      'duplicate split backend',
      (d: any) => (d.outbound.services[0].split.backends[1].service = 'checkout-canary'),
      '/outbound/services/0/split/backends/1/service',
      /duplicate/,
    ],
    [
      'short DNS name of another namespace',
      (d: any) => d.outbound.services[1].dnsNames.push('payments'),
      '/outbound/services/1/dnsNames/3',
      /only valid in the proxy's namespace "shop"/,
    ],
    [
      'DNS name owned twice',
      (d: any) => d.outbound.services[1].dnsNames.push('checkout.shop'),
      '/outbound/services/1/dnsNames/3',
      /outbound.services\[0\]/,
    ],
    [
      'cluster IP and port owned twice',
      (d: any) => {
        d.outbound.services[1].clusterIPs = ['10.96.12.34'];
        d.outbound.services[1].ports[0].port = 8080;
        d.outbound.backends[3].ports[0].port = 8080;
      },
      '/outbound/services/1/ports/0/port',
      /10.96.12.34:8080/,
    ],
    [
      'non-linear path regex',
      (d: any) => (d.outbound.services[0].routes[0].matches[0].pathRegex = '/(a)\\1'),
      '/outbound/services/0/routes/0/matches/0/pathRegex',
      /backreferences/,
    ],
    [
      'bad header regex in an inbound authorization',
      (d: any) =>
        (d.inbound.ports[0].authorizations[0].httpMatches[0].headers = [{ name: 'x', valueRegex: '(?=a)' }]),
      '/inbound/ports/0/authorizations/0/httpMatches/0/headers/0/valueRegex',
      /lookahead/,
    ],
    [
      'http matches on an opaque port',
      (d: any) => (d.inbound.ports[1].authorizations[0].httpMatches = [{ pathRegex: '/' }]),
      '/inbound/ports/1/authorizations/0/httpMatches',
      /opaque/,
    ],
    [
      'duplicate inbound port',
      (d: any) => (d.inbound.ports[1].port = 8080),
      '/inbound/ports/1/port',
      /duplicate/,
    ],
    [
      'backoff base above max',
      (d: any) => (d.circuitBreaker.backoff.baseMs = 120000),
      '/circuitBreaker/backoff/baseMs',
      /maxMs/,
    ],
    [
      'duplicate route name',
      (d: any) => d.outbound.services[0].routes.push(d.outbound.services[0].routes[0]),
      '/outbound/services/0/routes/1/name',
      /duplicate/,
    ],
    [
      'duplicate endpoint',
      (d: any) =>
        d.outbound.backends[1].ports[0].endpoints.push(d.outbound.backends[1].ports[0].endpoints[0]),
      '/outbound/backends/1/ports/0/endpoints/2',
      /duplicate endpoint/,
    ],
  ])('%s', (_name, edit, path, message) => {
    const errors = errorsOf(mutated(edit));
    const hit = errors.find((e) => e.path === path);
    expect({ errors, hit: hit !== undefined }).toMatchObject({ hit: true });
    expect(hit!.message).toMatch(message);
  });

  test('all-zero split weights are valid (requests go to the root)', () => {
    const r = validateProxyConfig(
      mutated((d) => {
        for (const b of d.outbound.services[0].split.backends) b.weight = 0;
      }),
    );
    expect(r.ok).toBe(true);
  });
});

test('parseSpiffeId', () => {
  expect(parseSpiffeId('spiffe://cluster.local/ns/shop/sa/web')).toEqual({
    trustDomain: 'cluster.local',
    namespace: 'shop',
    serviceAccount: 'web',
  });
  expect(parseSpiffeId('spiffe://cluster.local/ns/shop')).toBeNull();
});
