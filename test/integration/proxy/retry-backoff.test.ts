// A route timeout while a retry waits out its backoff: the endpoint picked for the retry was never sent anything,
// so it must not be charged with a failure (its circuit breaker and latency estimate), and must not keep a request
// in flight. Before, the timeout counted a failure on it (HTTP/1 and HTTP/2). Read from the admin config dump
// (inFlight and circuit state per endpoint).
import http from 'node:http';
import http2 from 'node:http2';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import {
  endpointState,
  listenLoopback,
  type ProxyProcess,
  proxyConfig,
  removeTmpDirs,
  startProxyProcess,
} from './harness.ts';

/** An app that answers every request with a 503 after `delayMs`, over HTTP/1 and h2c; counts them. */
let received = 0;
let app1: http.Server;
let app2: http2.Http2Server;
let proxy: ProxyProcess;

beforeAll(async () => {
  app1 = http.createServer((_req, res) => {
    received++;
    res.writeHead(503).end('unavailable');
  });
  app2 = http2.createServer();
  app2.on('stream', (stream) => {
    received++;
    stream.on('error', () => undefined);
    stream.respond({ ':status': 503 });
    stream.end('unavailable');
  });
  const [p1, p2] = await Promise.all([listenLoopback(app1), listenLoopback(app2)]);
  // One endpoint each, so the retry picks the endpoint that just failed; two failures in a row open its circuit,
  // so a phantom failure charged in the backoff shows as an open circuit. The backoff (3 s) outlasts the route
  // timeout (400 ms).
  const route = {
    timeoutMs: 400,
    retry: { maxRetries: 1, retryOn: ['5xx'], backoff: { baseMs: 3000, maxMs: 3000, jitter: 0 } },
  };
  proxy = await startProxyProcess({
    config: proxyConfig({
      version: 'b1',
      sa: 'client',
      trustAnchors: [],
      circuitBreaker: { consecutiveFailures: 2, backoff: { baseMs: 60_000, maxMs: 60_000, jitter: 0 } },
      services: [
        // Detected (HTTP/1 and HTTP/2 with prior knowledge both arrive on the one explicit destination); each
        // service has its own endpoint state.
        {
          name: 'one',
          clusterIP: '10.96.4.1',
          port: 80,
          endpoints: [{ address: '127.0.0.1', port: p1, identity: null }],
          defaultRoute: route,
        },
        {
          name: 'two',
          clusterIP: '10.96.4.2',
          port: 80,
          protocol: 'http2',
          endpoints: [{ address: '127.0.0.1', port: p2, identity: null }],
          defaultRoute: route,
        },
      ],
    }),
    outboundDst: '10.96.4.1:80',
  });
}, 30_000);

afterAll(async () => {
  await proxy?.stop();
  app1?.closeAllConnections();
  await new Promise((r) => app1?.close(r));
  await new Promise((r) => app2?.close(r));
  removeTmpDirs();
}, 30_000);

function get1(): Promise<{ status: number; reason: string }> {
  return new Promise((resolve, reject) =>
    http
      .get({ host: '127.0.0.1', port: proxy.outbound, path: '/', headers: { host: 'one' } }, (res) => {
        res.resume();
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, reason: String(res.headers['x-weft-reason'] ?? '') }),
        );
      })
      .on('error', reject),
  );
}

function get2(): Promise<{ status: number; reason: string }> {
  return new Promise((resolve) => {
    const session = http2.connect(`http://127.0.0.1:${proxy.outbound}`);
    session.on('error', () => undefined);
    const req = session.request({ ':path': '/', ':authority': 'two' });
    let status = 0;
    let reason = '';
    req.on('response', (h) => {
      status = Number(h[':status']);
      reason = String(h['x-weft-reason'] ?? '');
    });
    req.on('error', () => undefined);
    req.resume();
    req.on('close', () => {
      session.close();
      resolve({ status, reason });
    });
  });
}

test('HTTP/1: a route timeout in the backoff answers 504 and charges nothing to the endpoint picked for the retry', async () => {
  const before = received;
  expect(await get1()).toEqual({ status: 504, reason: 'timeout' });
  expect(received - before).toBe(1);
  // One failure (the 503), not two: the circuit stays closed, and nothing is left in flight.
  expect(await endpointState(proxy, 'one')).toMatchObject({ inFlight: 0, circuit: 'closed' });
});

test('HTTP/2: the same', async () => {
  const before = received;
  expect(await get2()).toEqual({ status: 504, reason: 'timeout' });
  expect(received - before).toBe(1);
  expect(await endpointState(proxy, 'two')).toMatchObject({ inFlight: 0, circuit: 'closed' });
});
