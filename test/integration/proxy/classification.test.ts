// How an exchange that does not end normally is counted: a client that gives up is not the server's failure
// (a success rate computed from response_total, as Flagger's is, must not fall because clients cancel or
// navigate away), while a response the server side cuts after its head (a reset, a truncated body) is a failure
// whatever its status. HTTP/1 (curl-like raw clients) and HTTP/2 (node:http2) through one outbound proxy, to
// real apps on loopback.

import http from 'node:http';
import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import {
  connectCollect,
  endpointState,
  listenLoopback,
  metricValue,
  type ProxyProcess,
  proxyConfig,
  removeTmpDirs,
  scrape,
  startProxyProcess,
  waitFor,
} from './harness.ts';

/** Requests each app has received, by path, and whether the app saw each closed before it answered. */
const seen = new Map<string, { closed: boolean }[]>();
function record(path: string, onClose: (f: () => void) => void): void {
  const entry = { closed: false };
  seen.set(path, [...(seen.get(path) ?? []), entry]);
  onClose(() => {
    entry.closed = true;
  });
}

let app1: http.Server;
let app2: http2.Http2Server;
let proxy1: ProxyProcess;
let proxy2: ProxyProcess;

function config(version: string, port: number, protocol: string): unknown {
  return proxyConfig({
    version,
    sa: 'client',
    trustAnchors: [],
    services: [
      {
        name: 'app',
        clusterIP: '10.96.0.40',
        port: 80,
        protocol,
        endpoints: [{ address: '127.0.0.1', port, identity: null }],
        // /fail's 503 is retried after 3 s: long enough for a client to give up in between.
        defaultRoute: {
          retry: { maxRetries: 1, retryOn: ['5xx'], backoff: { baseMs: 3000, maxMs: 3000, jitter: 0 } },
        },
      },
    ],
  });
}

beforeAll(async () => {
  // HTTP/1 app: /hang never answers; /body sends a 200 head and part of its body, then waits; /cut sends a head
  // announcing 100 bytes, 10 of them, and closes.
  app1 = http.createServer((req, res) => {
    const path = req.url ?? '';
    record(path, (f) => res.on('close', f));
    if (path === '/hang') return;
    if (path === '/fail') {
      res.writeHead(503, { 'content-length': '0' });
      res.end();
      return;
    }
    if (path === '/body') {
      res.writeHead(200, { 'content-length': '100000' });
      res.write('x'.repeat(1000));
      return;
    }
    if (path === '/cut') {
      res.writeHead(200, { 'content-length': '100' });
      res.write('0123456789', () => req.socket.destroy());
      return;
    }
    res.end('ok');
  });
  // h2c app: the same paths; /cut drops its connection after the head and part of the body.
  app2 = http2.createServer();
  app2.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    const path = String(headers[':path']);
    record(`h2${path}`, (f) => stream.on('close', f));
    if (path === '/hang') return;
    if (path === '/fail') {
      stream.respond({ ':status': 503 }, { endStream: true });
      return;
    }
    if (path === '/body') {
      stream.respond({ ':status': 200 });
      stream.write('x'.repeat(1000));
      return;
    }
    if (path === '/rst') {
      // A stream-level reset (RST_STREAM INTERNAL_ERROR) after the head and part of the body.
      stream.respond({ ':status': 200 });
      stream.write('0123456789', () => stream.destroy(new Error('app failed mid-body')));
      return;
    }
    if (path === '/whole-then-stop') {
      // A complete response while the request body is still coming, then RST_STREAM(NO_ERROR) to stop that body
      // (RFC 9113 8.1): the response is whole.
      stream.respond({ ':status': 200, 'content-length': '5' });
      stream.end('whole', () => stream.close(http2.constants.NGHTTP2_NO_ERROR));
      return;
    }
    if (path === '/cut') {
      stream.respond({ ':status': 200 });
      // The connection goes (a crash): stream.close(code) would end the stream cleanly before its reset.
      stream.write('0123456789', () => stream.session?.socket.destroy());
      return;
    }
    stream.respond({ ':status': 200 });
    stream.end('ok');
  });
  const [p1, p2] = await Promise.all([listenLoopback(app1), listenLoopback(app2)]);
  [proxy1, proxy2] = await Promise.all([
    startProxyProcess({ config: config('h1', p1, 'http1'), outboundDst: '10.96.0.40:80' }),
    startProxyProcess({ config: config('h2', p2, 'http2'), outboundDst: '10.96.0.40:80' }),
  ]);
}, 30_000);

afterAll(async () => {
  await Promise.all([proxy1?.stop(), proxy2?.stop()]);
  app1?.closeAllConnections();
  app1?.close();
  app2?.close();
  removeTmpDirs();
});

const outbound = { direction: 'outbound', authority: 'app.test.svc.cluster.local:80' };

/** response_total and request_cancelled_total of the outbound traffic, by classification; its requests and retries. */
async function counts(p: ProxyProcess) {
  const text = await scrape(p);
  return {
    success: metricValue(text, 'response_total', { ...outbound, classification: 'success' }) ?? 0,
    failure: metricValue(text, 'response_total', { ...outbound, classification: 'failure' }) ?? 0,
    erroredFailure:
      metricValue(text, 'response_total', { ...outbound, classification: 'failure', error: 'true' }) ?? 0,
    cancelled: metricValue(text, 'request_cancelled_total', outbound) ?? 0,
    requests: metricValue(text, 'request_total', outbound) ?? 0,
    retried: metricValue(text, 'weft_retries_total', { ...outbound, result: 'retried' }) ?? 0,
  };
}
type Counts = Awaited<ReturnType<typeof counts>>;

/**
 * Waits until exactly one more exchange is counted as `outcome` since `before`; the other outcomes must not have
 * moved (a response cut by the upstream is a failure, so `erroredFailure` moves `failure` too), and `retried`
 * retries were counted.
 */
async function countedOnceAs(
  p: ProxyProcess,
  before: Counts,
  outcome: 'success' | 'cancelled' | 'erroredFailure',
  retried = 0,
): Promise<Counts> {
  const after = await waitFor(`one more ${outcome}`, async () => {
    const c = await counts(p);
    return c[outcome] === before[outcome] + 1 ? c : undefined;
  });
  expect(after.success - before.success).toBe(outcome === 'success' ? 1 : 0);
  expect(after.failure - before.failure).toBe(outcome === 'erroredFailure' ? 1 : 0);
  expect(after.cancelled - before.cancelled).toBe(outcome === 'cancelled' ? 1 : 0);
  expect(after.retried - before.retried).toBe(retried);
  return after;
}

/** Waits until the proxy has counted one retry since `before` (the 503 of /fail): its 3 s backoff has begun. */
async function inBackoff(p: ProxyProcess, before: Counts): Promise<void> {
  await waitFor(
    'the retry of the 503 counted',
    async () => ((await counts(p)).retried === before.retried + 1 ? true : undefined),
    5000,
  );
}

async function appSaw(path: string, n: number): Promise<void> {
  await waitFor(
    `the app to get ${path}`,
    () => ((seen.get(path)?.length ?? 0) >= n ? true : undefined),
    5000,
  );
}

/** Writes a request on a new connection to the proxy; resolves with the socket and what it has read so far. */
async function h1(path: string): ReturnType<typeof connectCollect> {
  const c = await connectCollect(proxy1.outbound);
  c.sock.write(`GET ${path} HTTP/1.1\r\nHost: app.test.svc.cluster.local\r\n\r\n`);
  return c;
}

describe('HTTP/1', () => {
  test('a client gone before the response head: counted as cancelled, not as a failed response', async () => {
    const before = await counts(proxy1);
    const { sock } = await h1('/hang');
    await appSaw('/hang', 1);
    // Gone for good (a reset): a FIN alone may be a half-close, after which an HTTP/1 client still reads.
    sock.resetAndDestroy();
    await waitFor(
      'the app request to be cancelled',
      () => (seen.get('/hang')![0]!.closed ? true : undefined),
      5000,
    );
    const after = await countedOnceAs(proxy1, before, 'cancelled');
    expect(after.requests).toBe(before.requests + 1);
  }, 20_000);

  test('a client gone while a 503 waits for its retry: cancelled, not the 503 it never saw; the retry is never sent', async () => {
    const before = await counts(proxy1);
    const sent = seen.get('/fail')?.length ?? 0;
    const { sock } = await h1('/fail');
    await appSaw('/fail', sent + 1);
    await inBackoff(proxy1, before);
    sock.resetAndDestroy();
    await countedOnceAs(proxy1, before, 'cancelled', 1);
    // The endpoint picked for the retry is released, not left with a request in flight.
    expect(await endpointState(proxy1, 'app')).toMatchObject({ inFlight: 0 });
    // Past the 3 s backoff: the proxy saw the reset at once, so the retry never reached the app. (Before, the client
    // socket waited out the backoff paused, and the retry went out to a client already gone.)
    await new Promise((r) => setTimeout(r, 3500));
    expect(seen.get('/fail')!.length).toBe(sent + 1);
  }, 20_000);

  test('a client gone while reading a 200 body: that 200 is a success', async () => {
    const before = await counts(proxy1);
    const { sock, read } = await h1('/body');
    await waitFor('the head', () => (read().startsWith('HTTP/1.1 200') ? true : undefined), 5000);
    sock.resetAndDestroy();
    await countedOnceAs(proxy1, before, 'success');
  }, 20_000);

  test('an app that cuts its 200 body short: a failure, with error="true"', async () => {
    const before = await counts(proxy1);
    const { read, sock } = await h1('/cut');
    await waitFor(
      'the connection to be cut',
      () => (sock.destroyed || sock.readableEnded ? true : undefined),
      5000,
    );
    expect(read()).toMatch(/^HTTP\/1\.1 200/);
    await countedOnceAs(proxy1, before, 'erroredFailure');
    sock.destroy();
  }, 20_000);
});

describe('HTTP/2', () => {
  let session: http2.ClientHttp2Session;
  beforeAll(async () => {
    session = http2.connect(`http://127.0.0.1:${proxy2.outbound}`);
    session.on('error', () => undefined);
    await new Promise((r) => session.once('connect', r));
  });
  afterAll(() => session?.destroy());

  const open = (path: string) => {
    const s = session.request({ ':path': path, ':authority': 'app.test.svc.cluster.local' });
    s.on('error', () => undefined);
    return s;
  };
  /** Opens `path`, reads it, and expects a 200 head and then a reset (not a clean end) of the client's stream. */
  const expectResetAfterHead = async (path: string) => {
    const s = open(path);
    s.resume(); // read the body, so that the stream can end
    const status = await new Promise<number>((r) => s.once('response', (h) => r(Number(h[':status']))));
    expect(status).toBe(200);
    await new Promise((r) => s.once('close', r));
    // INTERNAL_ERROR, which a gRPC client reads as INTERNAL (CANCEL would tell it the call was cancelled).
    expect(s.rstCode).toBe(http2.constants.NGHTTP2_INTERNAL_ERROR);
  };

  test('a stream the client resets before the response head: cancelled, not a failed response', async () => {
    const before = await counts(proxy2);
    const s = open('/hang');
    await appSaw('h2/hang', 1);
    s.close(http2.constants.NGHTTP2_CANCEL);
    await waitFor(
      'the app stream to be cancelled',
      () => (seen.get('h2/hang')![0]!.closed ? true : undefined),
      5000,
    );
    await countedOnceAs(proxy2, before, 'cancelled');
  }, 20_000);

  test('a stream the client resets while a 503 waits for its retry: cancelled, not the 503 it never saw', async () => {
    const before = await counts(proxy2);
    const s = open('/fail');
    await appSaw('h2/fail', 1);
    await inBackoff(proxy2, before);
    s.close(http2.constants.NGHTTP2_CANCEL);
    await countedOnceAs(proxy2, before, 'cancelled', 1);
  }, 20_000);

  test('a stream the client resets while reading a 200 body: that 200 is a success', async () => {
    const before = await counts(proxy2);
    const s = open('/body');
    await new Promise((r) => s.once('response', r));
    s.close(http2.constants.NGHTTP2_CANCEL);
    await countedOnceAs(proxy2, before, 'success');
  }, 20_000);

  test('an app that resets its stream after a 200 head: a failure, with error="true", and the client stream reset', async () => {
    const before = await counts(proxy2);
    await expectResetAfterHead('/rst');
    await countedOnceAs(proxy2, before, 'erroredFailure');
  }, 20_000);

  test('an app whose connection drops after a 200 head: a failure, with error="true"', async () => {
    const before = await counts(proxy2);
    await expectResetAfterHead('/cut');
    await countedOnceAs(proxy2, before, 'erroredFailure');
  }, 20_000);

  test('an app that answers in full, then stops the request body with RST_STREAM(NO_ERROR): a success, the client gets the whole body', async () => {
    const before = await counts(proxy2);
    const s = session.request(
      { ':path': '/whole-then-stop', ':authority': 'app.test.svc.cluster.local', ':method': 'POST' },
      { endStream: false },
    );
    s.on('error', () => undefined);
    s.write('part of a body that never ends');
    let body = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      body += d;
    });
    const status = await new Promise<number>((r) => s.once('response', (h) => r(Number(h[':status']))));
    await new Promise((r) => s.once('end', r));
    expect({ status, body }).toEqual({ status: 200, body: 'whole' });
    await countedOnceAs(proxy2, before, 'success');
    s.close();
  }, 20_000);
});
