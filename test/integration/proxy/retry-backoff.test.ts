// A route timeout while a retry waits out its backoff: the endpoint picked for the retry was never sent anything,
// so it must not be charged with a failure (its circuit breaker and latency estimate), and must not keep a request
// in flight. Before, the timeout counted a failure on it (HTTP/1 and HTTP/2). Read from the admin config dump
// (inFlight and circuit state per endpoint).
import http from 'node:http';
import http2 from 'node:http2';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import {
  connectCollect,
  endpointState,
  listenLoopback,
  type ProxyProcess,
  proxyConfig,
  removeTmpDirs,
  startProxyProcess,
  waitFor,
} from './harness.ts';

/** An app that answers every request with a 503 after `delayMs`, over HTTP/1 and h2c; counts them. */
let received = 0;
let app1: http.Server;
let app2: http2.Http2Server;
let proxy: ProxyProcess;
/** The proxy's config; its circuit opens after this many failures in a row; `route` replaces the default one. */
let config: (consecutiveFailures: number, route?: unknown) => unknown;

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
  const defaultRoute = {
    timeoutMs: 400,
    retry: { maxRetries: 1, retryOn: ['5xx'], backoff: { baseMs: 3000, maxMs: 3000, jitter: 0 } },
  };
  config = (consecutiveFailures: number, route: unknown = defaultRoute) =>
    proxyConfig({
      version: 'b1',
      sa: 'client',
      trustAnchors: [],
      circuitBreaker: { consecutiveFailures, backoff: { baseMs: 60_000, maxMs: 60_000, jitter: 0 } },
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
    });
  proxy = await startProxyProcess({ config: config(2), outboundDst: '10.96.4.1:80' });
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

test('HTTP/1: after a route timeout in the backoff, the next request on the same connection is not sent again by the stale backoff timer', async () => {
  // A proxy of its own, whose circuit does not open on these 503s (the other tests' proxy opens it after two).
  const p = await startProxyProcess({ config: config(100), outboundDst: '10.96.4.1:80' });
  const before = received;
  const c = await connectCollect(p.outbound);
  const started = Date.now();
  const request = async (n: number) => {
    c.sock.write('GET / HTTP/1.1\r\nHost: one\r\n\r\n');
    await new Promise<void>((resolve, reject) => {
      const deadline = Date.now() + 5000;
      const poll = () => {
        if ((c.read().match(/HTTP\/1\.1 504 /g) ?? []).length >= n) return resolve();
        if (Date.now() > deadline) return reject(new Error(`no 504 #${n}: ${c.read()}`));
        setTimeout(poll, 20);
      };
      poll();
    });
  };
  try {
    // 503, then its retry waits 3 s; the route timeout answers 504 at 400 ms.
    await request(1);
    // The second exchange is in its own backoff when the first one's timer (3 s after the first 503) fires.
    await new Promise((r) => setTimeout(r, 2800 - (Date.now() - started)));
    await request(2);
    await new Promise((r) => setTimeout(r, 3600 - (Date.now() - started)));
    // One request per exchange reached the app; before, the stale timer sent the second one again.
    expect(received - before).toBe(2);
    expect(await endpointState(p, 'one')).toMatchObject({ inFlight: 0 });
  } finally {
    c.sock.destroy();
    await p.stop();
  }
}, 20_000);

test('HTTP/1: a per-try timeout shorter than the backoff does not fire in the backoff: the retry goes out and its answer is relayed', async () => {
  // No route timeout; each attempt may take 300 ms; the retry waits 1 s.
  const route = {
    retry: {
      maxRetries: 1,
      retryOn: ['5xx'],
      perTryTimeoutMs: 300,
      backoff: { baseMs: 1000, maxMs: 1000, jitter: 0 },
    },
  };
  const p = await startProxyProcess({ config: config(100, route), outboundDst: '10.96.4.1:80' });
  try {
    const before = received;
    const c = await connectCollect(p.outbound);
    c.sock.write('GET / HTTP/1.1\r\nHost: one\r\nConnection: close\r\n\r\n');
    await waitFor('the answer', () => (c.sock.readableEnded || c.sock.destroyed ? true : undefined), 5000);
    // Before, the first attempt's per-try timer fired in the backoff: a 504 timeout at 300 ms, the retry unsent.
    expect(c.read()).toMatch(/^HTTP\/1\.1 503 /);
    expect(received - before).toBe(2);
    c.sock.destroy();
  } finally {
    await p.stop();
  }
}, 20_000);
