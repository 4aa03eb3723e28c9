// A deterministic simulation of the outbound policy as the data path drives it: route, split, pick,
// observe, retry under the budget, with one endpoint failing. Checks the behaviour the pieces add up to.

import { describe, expect, test } from '@jest/globals';
import type { ProxyConfig } from '../../../crds/proxy-config/types.ts';
import { validateProxyConfig } from '../../../crds/proxy-config/validate.ts';
import type { HttpRequestView } from './http-request.ts';
import { SeededRandom } from './random.ts';
import { compileTables, type EndpointState, type LogicalPort } from './tables.ts';

function config(): ProxyConfig {
  const endpoint = (i: number) => ({ address: `10.0.0.${i}`, port: 8080, identity: null });
  const v = validateProxyConfig({
    apiVersion: 'proxy.weft.dev/v1alpha1',
    version: 'sim',
    generatedAt: '2025-01-01T00:00:00Z',
    identity: { spiffeId: 'spiffe://cluster.local/ns/default/sa/client', trustDomain: 'cluster.local' },
    trustAnchors: [],
    policyMode: 'permissive',
    circuitBreaker: { consecutiveFailures: 5, backoff: { baseMs: 2000, maxMs: 30000, jitter: 0.5 } },
    retryBudget: { retryRatio: 0.2, minRetriesPerSecond: 5, windowMs: 10000, maxBufferedBodyBytes: 65536 },
    outbound: {
      services: [
        {
          name: 'api',
          namespace: 'default',
          clusterIPs: ['10.96.0.10'],
          dnsNames: ['api.default.svc.cluster.local'],
          ports: [{ port: 80, protocol: 'http1' }],
          defaultRoute: {
            useSplit: true,
            timeoutMs: 1000,
            retry: { maxRetries: 2, retryOn: ['5xx', 'connect-failure'] },
          },
        },
      ],
      backends: [
        { name: 'api', namespace: 'default', ports: [{ port: 80, endpoints: [1, 2, 3].map(endpoint) }] },
      ],
    },
    inbound: { ports: [] },
  });
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  return v.config;
}

describe('outbound policy simulation', () => {
  test('a failing endpoint is shunned, retries recover failures within the budget', () => {
    const rng = new SeededRandom(11);
    let now = 0;
    const t = compileTables(config(), { now: () => now, random: () => rng.next() });
    const lp = t.lookupByAuthority('api.default.svc.cluster.local', 80) as LogicalPort;
    const req: HttpRequestView = { method: 'GET', path: '/', header: () => undefined };
    // 10.0.0.3 answers 503 fast; the others answer 200 in 20 ms (10.0.0.1) and 40 ms (10.0.0.2).
    const behaviour = new Map([
      ['10.0.0.1', { status: 200, ms: 20 }],
      ['10.0.0.2', { status: 200, ms: 40 }],
      ['10.0.0.3', { status: 503, ms: 2 }],
    ]);
    const sent = new Map<string, number>();
    let ok = 0;
    let retries = 0;
    const requests = 5000;
    for (let i = 0; i < requests; i++) {
      now += 10; // 100 requests per second
      const route = t.route(lp, req);
      t.recordRequest(lp);
      for (let attempt = 0; ; attempt++) {
        const e = t.pickEndpoint(t.backend(lp, route)) as EndpointState;
        const b = behaviour.get(e.address)!;
        sent.set(e.address, (sent.get(e.address) ?? 0) + 1);
        t.observe(e, b.ms, b.status >= 500 ? 'failure' : 'success');
        if (b.status < 500) {
          ok++;
          break;
        }
        if (t.shouldRetry(lp, route, 'GET', 0, attempt, 'response', b.status, -1) !== 'retry') break;
        retries++;
      }
    }
    // Nearly every request succeeds, retries stay within ratio * requests + reserve.
    expect(ok / requests).toBeGreaterThan(0.99);
    expect(retries).toBeLessThanOrEqual(0.2 * requests + 5 * 10 * (requests / 1000));
    // The failing endpoint gets only circuit probes: a small share of attempts.
    const total = [...sent.values()].reduce((a, b) => a + b, 0);
    expect((sent.get('10.0.0.3') ?? 0) / total).toBeLessThan(0.05);
    // The faster healthy endpoint gets more than the slower one.
    expect(sent.get('10.0.0.1')!).toBeGreaterThan(sent.get('10.0.0.2')!);
    for (const e of lp.root.balancer.endpoints) expect(e.inFlight).toBe(0);
  });
});
