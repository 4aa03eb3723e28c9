// Property tests of compileTables over randomly generated (schema-valid) configs.

import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { validateProxyConfig } from '../../../crds/proxy-config/validate.ts';
import type { HttpRequestView } from './http-request.ts';
import { SeededRandom } from './random.ts';
import { compileTables, type EndpointState, type LogicalPort } from './tables.ts';

interface GenService {
  name: string;
  ports: number[];
  backends: { name: string; weight: number; endpoints: { ready: boolean }[] }[];
  rootEndpoints: { ready: boolean }[];
  useSplit: boolean;
}

const endpointsArb = fc.array(fc.record({ ready: fc.boolean() }), { maxLength: 4 });
const serviceArb = fc.record({
  ports: fc.uniqueArray(fc.integer({ min: 1, max: 65535 }), { minLength: 1, maxLength: 3 }),
  backends: fc.array(fc.record({ weight: fc.integer({ min: 0, max: 5 }), endpoints: endpointsArb }), {
    maxLength: 3,
  }),
  rootEndpoints: endpointsArb,
  useSplit: fc.boolean(),
});

type ServiceSpec = Omit<GenService, 'name' | 'backends'> & {
  backends: { weight: number; endpoints: { ready: boolean }[] }[];
};

function build(services: ServiceSpec[]) {
  let ip = 1;
  const gen: GenService[] = services.map((s, si) => ({
    ...s,
    name: `svc${si}`,
    backends: s.backends.map((b, bi) => ({ ...b, name: `svc${si}-b${bi}` })),
  }));
  const endpoint = (ready: boolean) => ({
    address: `10.1.${ip >> 8}.${ip++ & 255}`,
    port: 8080,
    identity: null,
    ready,
  });
  const backendsJson = gen.flatMap((s) => [
    {
      name: s.name,
      namespace: 'default',
      ports: s.ports.map((p) => ({ port: p, endpoints: s.rootEndpoints.map((e) => endpoint(e.ready)) })),
    },
    ...s.backends.map((b) => ({
      name: b.name,
      namespace: 'default',
      ports: s.ports.map((p) => ({ port: p, endpoints: b.endpoints.map((e) => endpoint(e.ready)) })),
    })),
  ]);
  const doc = {
    apiVersion: 'proxy.weft.dev/v1alpha1',
    version: 'random',
    generatedAt: '2025-01-01T00:00:00Z',
    identity: { spiffeId: 'spiffe://cluster.local/ns/default/sa/client', trustDomain: 'cluster.local' },
    trustAnchors: [],
    policyMode: 'permissive',
    outbound: {
      services: gen.map((s, si) => ({
        name: s.name,
        namespace: 'default',
        clusterIPs: [`10.96.${si >> 8}.${si & 255}`],
        dnsNames: [`${s.name}.default.svc.cluster.local`, s.name],
        ports: s.ports.map((p) => ({ port: p })),
        defaultRoute: { useSplit: s.useSplit },
        split:
          s.backends.length === 0
            ? null
            : { name: s.name, backends: s.backends.map((b) => ({ service: b.name, weight: b.weight })) },
      })),
      backends: backendsJson,
    },
    inbound: { ports: [] },
  };
  const v = validateProxyConfig(doc);
  if (!v.ok) throw new Error(JSON.stringify(v.errors.slice(0, 3)));
  return { config: v.config, gen, backendsJson };
}

const anyReq: HttpRequestView = { method: 'GET', path: '/', header: () => undefined };

describe('compileTables on random configs', () => {
  test('lookups find every service port; picks respect split, weights, readiness and backend membership', () => {
    fc.assert(
      fc.property(fc.array(serviceArb, { minLength: 1, maxLength: 6 }), fc.integer(), (services, seed) => {
        const { config, gen, backendsJson } = build(services);
        const rng = new SeededRandom(seed);
        const t = compileTables(config, { now: () => 0, random: () => rng.next() });
        gen.forEach((s, si) => {
          for (const port of s.ports) {
            const byIp = t.lookupByAddress(`10.96.${si >> 8}.${si & 255}`, port) as LogicalPort;
            expect(byIp.kind).toBe('service');
            expect(byIp.service.name).toBe(s.name);
            expect(t.lookupByAuthority(`${s.name.toUpperCase()}.default.svc.cluster.local.:${port}`, 1)).toBe(
              byIp,
            );
            expect(t.lookupByAuthority(s.name, port)).toBe(byIp);
            const weighted = s.backends.filter((b) => b.weight > 0);
            const allowed = new Set(
              s.useSplit && weighted.length > 0 ? weighted.map((b) => b.name) : [s.name],
            );
            for (let i = 0; i < 20; i++) {
              const backend = t.backend(byIp, t.route(byIp, anyReq));
              expect(allowed.has(backend.name)).toBe(true);
              const ready = new Set(
                backendsJson
                  .find((b) => b.name === backend.name)!
                  .ports.find((p) => p.port === port)!
                  .endpoints.filter((e) => e.ready)
                  .map((e) => e.address),
              );
              const e = t.pickEndpoint(backend);
              if (ready.size === 0) expect(e.kind).toBe('no-endpoint');
              else {
                expect(ready.has((e as EndpointState).address)).toBe(true);
                t.observe(e as EndpointState, 1, 'success');
              }
            }
          }
        });
      }),
      { numRuns: 150 },
    );
  });
});
