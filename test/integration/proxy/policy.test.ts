// Outbound policy on the wire: split ratios (exactly zero for weight 0), retries of connect failures
// and of 503s (the app counts what it received), per-route timeouts, and TCP with a server-speaks-first
// app on an opaque port.

import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { startTestApp, type TestApp } from '../../apps/testapp/src/test-app.ts';
import {
  curl,
  listenLoopback,
  metricValue,
  type ProxyProcess,
  proxyConfig,
  removeTmpDirs,
  startProxyProcess,
} from './harness.ts';

let a: TestApp;
let b: TestApp;
let c: TestApp;
let proxy: ProxyProcess;
let bannerProxy: ProxyProcess;
let deadPort: number;

const retry = (retryOn: string[]) => ({
  maxRetries: 2,
  retryOn,
  backoff: { baseMs: 1, maxMs: 5, jitter: 0 },
});

beforeAll(async () => {
  const apps = await Promise.all(
    ['pod-a', 'pod-b', 'pod-c'].map((pod) => startTestApp({ logLevel: 'silent', identity: { pod } })),
  );
  a = apps[0]!;
  b = apps[1]!;
  c = apps[2]!;
  // A port nobody listens on: connections to it are refused.
  const s = net.createServer();
  deadPort = await listenLoopback(s);
  await new Promise((r) => s.close(r));
  const ep = (app: TestApp) => ({ address: '127.0.0.1', port: app.httpPort, identity: null });
  const config = proxyConfig({
    version: 'p1',
    sa: 'client',
    trustAnchors: [],
    services: [
      {
        name: 'split',
        clusterIP: '10.96.1.1',
        port: 80,
        endpoints: [ep(a)],
        split: {
          backends: [
            { service: 'split-b', weight: 1 },
            { service: 'split-c', weight: 3 },
            { service: 'split', weight: 0 },
          ],
        },
        extraBackends: [
          { name: 'split-b', endpoints: [ep(b)] },
          { name: 'split-c', endpoints: [ep(c)] },
        ],
      },
      {
        name: 'flaky',
        clusterIP: '10.96.1.2',
        port: 80,
        endpoints: [{ address: '127.0.0.1', port: deadPort, identity: null }, ep(a)],
        defaultRoute: { timeoutMs: 5000, retry: retry(['connect-failure']) },
      },
      {
        name: 'slowtry',
        clusterIP: '10.96.1.4',
        port: 80,
        endpoints: [ep(c)],
        routes: [
          {
            name: 'slow/delay',
            matches: [{ pathRegex: '/delay/' }],
            retry: { ...retry(['gateway-error']), maxRetries: 1, perTryTimeoutMs: 150 },
          },
        ],
      },
      {
        name: 'unavailable',
        clusterIP: '10.96.1.3',
        port: 80,
        endpoints: [ep(b)],
        routes: [{ name: 'slow/delay', matches: [{ pathRegex: '/delay/' }], timeoutMs: 200 }],
        defaultRoute: { retry: retry(['gateway-error']) },
      },
    ],
  });
  proxy = await startProxyProcess({ config, outboundDst: '10.96.1.1:80' });
  bannerProxy = await startProxyProcess({
    config: proxyConfig({
      version: 'b1',
      sa: 'client',
      trustAnchors: [],
      // Detection would wait this long for client bytes; 5432 is opaque by default, so it must not.
      listeners: { detectTimeoutMs: 60_000 },
      services: [
        {
          name: 'db',
          clusterIP: '10.96.1.9',
          port: 5432,
          endpoints: [{ address: '127.0.0.1', port: a.bannerPort, identity: null }],
        },
      ],
    }),
    outboundDst: '10.96.1.9:5432',
  });
}, 60_000);

afterAll(async () => {
  await Promise.all([proxy?.stop(), bannerProxy?.stop()]);
  await Promise.all([a, b, c].map((x) => x?.close()));
  removeTmpDirs();
}, 30_000);

async function getMany(
  host: string,
  path: string,
  n: number,
  parallel = 4,
): Promise<{ status: number; pod: string }[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: parallel });
  const one = () =>
    new Promise<{ status: number; pod: string }>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: proxy.outbound, path, agent, headers: { host } }, (res) => {
          res.resume();
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, pod: String(res.headers['x-weft-pod'] ?? '') }),
          );
        })
        .on('error', reject);
    });
  const out: { status: number; pod: string }[] = [];
  for (let i = 0; i < n; i += parallel)
    out.push(...(await Promise.all(Array.from({ length: parallel }, one))));
  agent.destroy();
  return out;
}

test('TrafficSplit: weights 1:3 within statistical bounds, weight 0 gets nothing', async () => {
  const results = await getMany('split', '/healthz', 400);
  const count = (pod: string) => results.filter((r) => r.pod === pod).length;
  expect(results.every((r) => r.status === 200)).toBe(true);
  expect(count('pod-a')).toBe(0);
  // 400 draws at p = 0.25: mean 100; smooth weighted round robin is far tighter than +-30.
  expect(count('pod-b')).toBeGreaterThanOrEqual(70);
  expect(count('pod-b')).toBeLessThanOrEqual(130);
  expect(count('pod-b') + count('pod-c')).toBe(400);
  // Metrics name the backend that served (the leaf), while authority stays the service called.
  const metrics = await (await fetch(`http://127.0.0.1:${proxy.admin}/metrics`)).text();
  const leaf = (service: string) =>
    metricValue(metrics, 'response_total', {
      direction: 'outbound',
      dst_service: service,
      status_code: '200',
    });
  expect(leaf('split-b')).toBe(count('pod-b'));
  expect(leaf('split-c')).toBe(count('pod-c'));
  expect(leaf('split')).toBeUndefined();
});

test('connect failures are retried on another endpoint', async () => {
  // One at a time: with concurrent requests P2C may prefer the idle dead endpoint on a retry too (see
  // NOTES-data.md: a retry should avoid the endpoint that just failed).
  const results = await getMany('flaky', '/healthz', 40, 1);
  expect(results.map((r) => r.status)).toEqual(Array(40).fill(200));
});

test('a 503 is retried up to maxRetries, then returned', async () => {
  await curl(['-X', 'DELETE', `http://127.0.0.1:${b.httpPort}/counters`]);
  const r = await curl(['-H', 'Host: unavailable', `http://127.0.0.1:${proxy.outbound}/status/503`]);
  expect(r.status).toBe(503);
  const counters = JSON.parse((await curl([`http://127.0.0.1:${b.httpPort}/counters`])).body);
  expect(counters.received.byPath['/status/503']).toBe(3);
});

test('a route timeout answers 504 with x-weft-reason', async () => {
  const r = await curl(['-H', 'Host: unavailable', `http://127.0.0.1:${proxy.outbound}/delay/2000`]);
  expect(r.status).toBe(504);
  expect(r.headers['x-weft-reason']).toBe('timeout');
});

test('server-speaks-first on an opaque port is not stalled by detection', async () => {
  const banner = await new Promise<string>((resolve, reject) => {
    const s = net.connect(bannerProxy.outbound, '127.0.0.1');
    s.once('data', (d) => {
      resolve(d.toString());
      s.destroy();
    });
    s.on('error', reject);
  });
  expect(banner).toContain('pod-a');
});

test('a per-try timeout fails the attempt (504) and the retry policy sends one more', async () => {
  await curl(['-X', 'DELETE', `http://127.0.0.1:${c.httpPort}/counters`]);
  const r = await curl(['-H', 'Host: slowtry', `http://127.0.0.1:${proxy.outbound}/delay/3000`]);
  expect(r.status).toBe(504);
  expect(r.headers['x-weft-reason']).toBe('timeout');
  const counters = JSON.parse((await curl([`http://127.0.0.1:${c.httpPort}/counters`])).body);
  expect(counters.received.byPath['/delay/3000']).toBe(2);
});

test('a small request body is replayed on retry', async () => {
  await curl(['-X', 'DELETE', `http://127.0.0.1:${b.httpPort}/counters`]);
  const r = await curl([
    '-X',
    'PUT',
    '-H',
    'Host: unavailable',
    '--data-binary',
    'replay-me',
    `http://127.0.0.1:${proxy.outbound}/status/503`,
  ]);
  expect(r.status).toBe(503);
  const counters = JSON.parse((await curl([`http://127.0.0.1:${b.httpPort}/counters`])).body);
  expect(counters.received.byPath['/status/503']).toBe(3);
  // Each attempt got its answer, so each carried the whole declared body: the app reads the body before
  // answering and would have waited on a short one. (Three 503s in a row here also open b's circuit after
  // the earlier test's three: later requests to this service get 503 no-endpoint.)
});
