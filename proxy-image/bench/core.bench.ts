// Micro-benchmark (not a test) of the per-request policy work: outbound lookup, route, split, endpoint pick
// and feedback; inbound authorization; metrics recording (ours vs prom-client's labelled children).
// Run: node proxy-image/bench/core.bench.ts   (prints ns/op)

import { readFileSync } from 'node:fs';
import { Counter, Histogram, Registry } from 'prom-client';
import type { ProxyConfig } from '../../crds/proxy-config/types.ts';
import { validateProxyConfig } from '../../crds/proxy-config/validate.ts';
import { classifyResponse, grpcStatusOf } from '../src/core/classify.ts';
import { detectProtocol } from '../src/core/detect.ts';
import type { HttpRequestView } from '../src/core/http-request.ts';
import { compilePrefixRegex } from '../src/core/regex.ts';
import { compileTables, type EndpointState, type LogicalPort } from '../src/core/tables.ts';
import { LATENCY_BUCKETS_MS, ProxyMetrics, type TrafficLabels } from '../src/metrics/index.ts';

const out = (line: string) => process.stdout.write(`${line}\n`);

function bench(name: string, fn: () => void, minMs = 300): void {
  for (let i = 0; i < 20_000; i++) fn(); // warm up
  let n = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(minMs) * 1_000_000n;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 1000; i++) fn();
    n += 1000;
    now = process.hrtime.bigint();
  }
  out(`${name.padEnd(58)}${(Number(now - start) / n).toFixed(1).padStart(9)} ns/op`);
}

const doc = JSON.parse(
  readFileSync(new URL('../../crds/proxy-config/examples/enforcing-split.json', import.meta.url), 'utf8'),
);
// A larger mesh: 500 more services with 10 endpoints each, so lookups are not in toy-sized maps.
for (let s = 0; s < 500; s++) {
  const name = `svc-${s}`;
  doc.outbound.services.push({
    name,
    namespace: 'shop',
    clusterIPs: [`10.97.${s >> 8}.${s & 255}`],
    dnsNames: [`${name}.shop.svc.cluster.local`, name],
    ports: [{ port: 80, protocol: 'http1' }],
  });
  doc.outbound.backends.push({
    name,
    namespace: 'shop',
    ports: [
      {
        port: 80,
        endpoints: Array.from({ length: 10 }, (_, i) => ({
          address: `10.245.${s >> 8}.${(s * 10 + i) & 255}`,
          port: 8080 + i,
          identity: 'spiffe://cluster.local/ns/shop/sa/x',
        })),
      },
    ],
  });
}
const v = validateProxyConfig(doc);
if (!v.ok) throw new Error(JSON.stringify(v.errors.slice(0, 3)));
const config: ProxyConfig = v.config;

let clock = 0;
const tables = compileTables(config, { now: () => clock, random: Math.random });
{
  const start = process.hrtime.bigint();
  let t = tables;
  for (let i = 0; i < 20; i++) t = compileTables(config, { now: () => clock, random: Math.random }, t);
  const ms = Number(process.hrtime.bigint() - start) / 20 / 1e6;
  out(
    `compileTables (${config.outbound.services.length} services, 5000 endpoints, keeping state): ${ms.toFixed(2)} ms`,
  );
}

const headers: Record<string, string> = {
  'user-agent': 'Mozilla/5.0 (Linux; Android 14) Mobile',
  cookie: 'a=1',
};
const cartReq: HttpRequestView = { method: 'GET', path: '/api/v2/cart/items?x=1', header: (n) => headers[n] };
const plainReq: HttpRequestView = { method: 'GET', path: '/index.html', header: (n) => headers[n] };

out(`node ${process.version}, ${config.outbound.services.length} services`);

bench('lookupByAddress (cluster IP, port)', () => {
  tables.lookupByAddress('10.97.1.44', 80);
});
bench('lookupByAuthority ("svc-300.shop.svc.cluster.local:80")', () => {
  tables.lookupByAuthority('svc-300.shop.svc.cluster.local:80', 80);
});
bench('lookupByAuthority ("Checkout" + default port)', () => {
  tables.lookupByAuthority('Checkout', 8080);
});

const checkout = tables.lookupByAddress('10.96.12.34', 8080) as LogicalPort;
bench('route (regex path match, split route)', () => {
  tables.route(checkout, cartReq);
});
bench('route (no match: path + header regexes tried, default)', () => {
  tables.route(checkout, plainReq);
});

const svc = tables.lookupByAddress('10.97.1.44', 80) as LogicalPort;
bench('full outbound: lookup+route+backend+pick+observe (10 eps)', () => {
  clock += 0.01;
  const lp = tables.lookupByAuthority('svc-300.shop.svc.cluster.local:80', 80) as LogicalPort;
  const route = tables.route(lp, plainReq);
  tables.recordRequest(lp);
  const e = tables.pickEndpoint(tables.backend(lp, route)) as EndpointState;
  tables.observe(e, 3, 'success');
});
bench('full outbound on the split service (cart route)', () => {
  clock += 0.01;
  const route = tables.route(checkout, cartReq);
  tables.recordRequest(checkout);
  const e = tables.pickEndpoint(tables.backend(checkout, route)) as EndpointState;
  tables.observe(e, 3, 'success');
});
void svc;

bench('authorizeInbound (enforcing, HTTP rule with path regex)', () => {
  tables.authorizeInbound(8080, 'spiffe://cluster.local/ns/ingress/sa/gateway', cartReq);
});

const re = compilePrefixRegex('/api/v[0-9]+/cart(/.*)?$');
bench('regex /api/v[0-9]+/cart(/.*)?$ on a 22-char path', () => {
  re.test('/api/v2/cart/items/1234');
});

const requestLine = Buffer.from('GET /api/v2/cart/items?x=1 HTTP/1.1\r\nHost: checkout\r\n\r\n', 'latin1');
bench('detectProtocol (HTTP/1 request line)', () => {
  detectProtocol(requestLine);
});
const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
bench('detectProtocol (h2 preface)', () => {
  detectProtocol(preface);
});
bench('classifyResponse(200, grpcStatusOf(head, trailer))', () => {
  classifyResponse(200, grpcStatusOf(undefined, '0'), false);
});

// Metrics.
const metrics = new ProxyMetrics({ version: 'bench' });
const labels: TrafficLabels = {
  direction: 'outbound',
  authority: 'checkout.shop.svc.cluster.local:8080',
  tls: true,
  peerId: 'spiffe://cluster.local/ns/shop/sa/checkout',
  dst: { namespace: 'shop', service: 'checkout' },
};
bench('metrics: request + response(200) + latency via labels object', () => {
  metrics.request(labels);
  metrics.response(labels, 200, null, 3.5, null, 'complete');
});
const t = metrics.traffic(labels);
bench('metrics: request + response(200) + latency via series handle', () => {
  t.requestStarted();
  t.responded(200, null, 3.5, null, false);
});

const reg = new Registry();
const base = ['direction', 'authority', 'tls', 'server_id', 'dst_namespace', 'dst_service'];
const pc = new Counter({ name: 'request_total', help: 'h', labelNames: base, registers: [reg] });
const pr = new Counter({
  name: 'response_total',
  help: 'h',
  labelNames: [...base, 'status_code', 'classification'],
  registers: [reg],
});
const ph = new Histogram({
  name: 'response_latency_ms',
  help: 'h',
  labelNames: [...base, 'status_code'],
  buckets: [...LATENCY_BUCKETS_MS],
  registers: [reg],
});
const lv = {
  direction: 'outbound',
  authority: 'checkout.shop.svc.cluster.local:8080',
  tls: 'true',
  server_id: 'spiffe://cluster.local/ns/shop/sa/checkout',
  dst_namespace: 'shop',
  dst_service: 'checkout',
};
const c1 = pc.labels(lv);
const c2 = pr.labels({ ...lv, status_code: '200', classification: 'success' });
const h1 = ph.labels({ ...lv, status_code: '200' });
bench('reference: prom-client cached children (same three records)', () => {
  c1.inc();
  c2.inc();
  h1.observe(3.5);
});
