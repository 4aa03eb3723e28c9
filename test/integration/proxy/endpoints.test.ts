// Endpoint choice on the wire: power of two choices over peak-EWMA latency sends most requests to the
// faster endpoint, and a per-endpoint circuit breaker stops sending to an endpoint after consecutive
// failures, lets one probe through after its backoff, and closes on the probe's success. The apps count
// what they received.

import http from 'node:http';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import {
  endpointState,
  listenLoopback,
  type ProxyProcess,
  proxyConfig,
  removeTmpDirs,
  startProxyProcess,
} from './harness.ts';

/** An HTTP app that counts requests and answers after `delayMs` with `status`. */
interface App {
  port: number;
  received: number;
  delayMs: number;
  status: number;
  close(): Promise<void>;
}

async function startApp(delayMs: number, status = 200): Promise<App> {
  const server = http.createServer((req, res) => {
    app.received++;
    req.resume();
    setTimeout(() => {
      res.statusCode = app.status;
      res.end(String(app.port));
    }, app.delayMs);
  });
  server.keepAliveTimeout = 60_000;
  const app: App = {
    port: 0,
    received: 0,
    delayMs,
    status,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  app.port = await listenLoopback(server);
  return app;
}

let fast: App;
let slow: App;
let flaky: App;
let proxy: ProxyProcess;

beforeAll(async () => {
  [fast, slow, flaky] = await Promise.all([startApp(0), startApp(150), startApp(0, 503)]);
  const ep = (a: App) => ({ address: '127.0.0.1', port: a.port, identity: null });
  proxy = await startProxyProcess({
    config: proxyConfig({
      version: 'e1',
      sa: 'client',
      trustAnchors: [],
      // Three failures in a row open a circuit for 1 s (no jitter), then one probe.
      circuitBreaker: { consecutiveFailures: 3, backoff: { baseMs: 1000, maxMs: 8000, jitter: 0 } },
      services: [
        { name: 'pair', clusterIP: '10.96.3.1', port: 80, endpoints: [ep(fast), ep(slow)] },
        { name: 'flaky', clusterIP: '10.96.3.2', port: 80, endpoints: [ep(flaky)] },
      ],
    }),
    outboundDst: '10.96.3.1:80',
  });
}, 30_000);

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([fast, slow, flaky].map((a) => a?.close()));
  removeTmpDirs();
}, 30_000);

/** `n` requests to `service`, `parallel` at a time on keep-alive connections; the statuses. */
async function send(service: string, n: number, parallel = 1): Promise<{ status: number; reason: string }[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: parallel });
  const one = () =>
    new Promise<{ status: number; reason: string }>((resolve, reject) =>
      http
        .get(
          { host: '127.0.0.1', port: proxy.outbound, path: '/', agent, headers: { host: service } },
          (res) => {
            res.resume();
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, reason: String(res.headers['x-weft-reason'] ?? '') }),
            );
          },
        )
        .on('error', reject),
    );
  const out: { status: number; reason: string }[] = [];
  for (let i = 0; i < n; i += parallel)
    out.push(...(await Promise.all(Array.from({ length: parallel }, one))));
  agent.destroy();
  return out;
}

/** The circuit state of the flaky endpoint, from the config dump. */
const circuit = async (): Promise<string> => (await endpointState(proxy, 'flaky')).circuit;

test('latency-aware choice: an endpoint 150 ms slower gets a small share of the requests', async () => {
  const results = await send('pair', 100, 2);
  expect(results.every((r) => r.status === 200)).toBe(true);
  expect(fast.received + slow.received).toBe(100);
  // Round robin would give the slow one 50. P2C over two endpoints compares both each time: the slow one
  // gets requests before its first response is in and when the fast one's cost (a latency peak, which
  // decays over decayMs, times its requests in flight) is above the slow one's.
  expect(slow.received).toBeLessThan(15);
});

test('circuit breaker: opens after 3 failures in a row, probes once after its backoff, closes on success', async () => {
  const first = await send('flaky', 10);
  // Three 503s from the app, then the circuit is open: the proxy answers without sending.
  expect(first.slice(0, 3).map((r) => [r.status, r.reason])).toEqual(Array(3).fill([503, '']));
  expect(first.slice(3).map((r) => [r.status, r.reason])).toEqual(Array(7).fill([503, 'no-endpoint']));
  expect(flaky.received).toBe(3);
  expect(await circuit()).toBe('open');

  // After the backoff the next request is the probe; it fails, so the circuit opens again (for 2 s now).
  await new Promise((r) => setTimeout(r, 1100));
  expect(await circuit()).toBe('half-open');
  const probe = await send('flaky', 3);
  expect(probe.map((r) => r.reason)).toEqual(['', 'no-endpoint', 'no-endpoint']);
  expect(flaky.received).toBe(4);
  expect(await circuit()).toBe('open');
  await new Promise((r) => setTimeout(r, 1100));
  expect(await circuit()).toBe('open');

  // The app recovers; once the doubled backoff is over, one successful probe closes the circuit.
  flaky.status = 200;
  await new Promise((r) => setTimeout(r, 1000));
  const after = await send('flaky', 5);
  expect(after.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
  expect(flaky.received).toBe(9);
  expect(await circuit()).toBe('closed');
});
