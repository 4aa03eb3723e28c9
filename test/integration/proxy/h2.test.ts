// HTTP/2 through the proxy under bad input and at shutdown: frames that break the protocol, floods
// (ping, settings, CONTINUATION, rapid reset), heads over the config's limits, sessions that open no
// stream, and a SIGTERM with a stream in flight. Raw frames are written on a socket; the well-behaved
// side is node:http2's client. Every case checks what the client sees, the metric it is counted in, and
// that a session opened before it keeps working.

import http2 from 'node:http2';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import {
  curl,
  listenLoopback,
  metric,
  metricValue,
  type ProxyProcess,
  proxyConfig,
  removeTmpDirs,
  scrape,
  startProxyProcess,
  waitFor,
} from './harness.ts';

const IDLE_MS = 3000;
const SLOW_MS = 2000;
const BIG_BYTES = 8 * 1024 * 1024;
/** The app's /big streams, to see whether the proxy cancelled them. */
const bigStreams: http2.ServerHttp2Stream[] = [];
/** /slow requests the app has received. */
let slowSeen = 0;

let app: http2.Http2Server;
let appPort: number;
/** Sessions the app closed on a protocol error (its own reset limit, for one). */
let appSessionErrors = 0;
let proxy: ProxyProcess;

/**
 * An h2c app: /slow answers after SLOW_MS, /trickle sends its body over 800 ms, /big sends BIG_BYTES, /sized/N
 * N bytes, /trailers echoes the request's body and trailers once it ends, /lazy and /continue (see there) make
 * the client wait longer than IDLE_MS, everything else answers at once; the body names the path.
 */
async function startApp(): Promise<void> {
  // The app's sessions queue whole responses (/big is 8 MiB), so their memory limit is above Node's default 10 MB,
  // past which Node refuses new streams with ENHANCE_YOUR_CALM.
  app = http2.createServer({ maxSessionMemory: 100 });
  app.on('sessionError', () => {
    appSessionErrors++;
  });
  app.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    const answer = () => {
      if (stream.destroyed) return;
      stream.respond({ ':status': 200 });
      stream.end(`app ${headers[':path']}`);
    };
    if (headers[':path'] === '/slow') {
      slowSeen++;
      setTimeout(answer, SLOW_MS);
    } else if (headers[':path'] === '/early') {
      stream.additionalHeaders({ ':status': 103, link: '</style.css>; rel=preload' });
      answer();
    } else if (headers[':path'] === '/trailers') {
      // Answers with the request's body and trailers, once the request has ended.
      let body = '';
      let got: http2.IncomingHttpHeaders = {};
      stream.on('trailers', (t) => {
        got = t;
      });
      stream.on('data', (d: Buffer) => {
        body += d.toString();
      });
      stream.on('end', () => {
        if (stream.destroyed) return;
        stream.respond({ ':status': 200 });
        stream.end(JSON.stringify({ body, trailers: got }));
      });
    } else if (String(headers[':path']).startsWith('/sized/')) {
      stream.respond({ ':status': 200 });
      stream.end(Buffer.alloc(Number(String(headers[':path']).slice('/sized/'.length)), 's'));
    } else if (headers[':path'] === '/lazy' || headers[':path'] === '/continue') {
      // /lazy reads nothing of the body for IDLE_MS + 2 s (past where a cut would fall: IDLE_MS plus up to two
      // sweeps); /continue sends 100 Continue only then. Both answer
      // with the body's length once it has ended.
      const later = () => {
        if (stream.destroyed) return;
        if (headers[':path'] === '/continue') stream.additionalHeaders({ ':status': 100 });
        let n = 0;
        stream.on('data', (d: Buffer) => {
          n += d.length;
        });
        stream.on('end', () => {
          if (stream.destroyed) return;
          stream.respond({ ':status': 200 });
          stream.end(String(n));
        });
        stream.resume();
      };
      stream.pause();
      setTimeout(later, IDLE_MS + 2000);
    } else if (headers[':path'] === '/big') {
      // BIG_BYTES, far more than the flow-control windows between the client and the app hold.
      bigStreams.push(stream);
      stream.respond({ ':status': 200 });
      stream.end(Buffer.alloc(BIG_BYTES, 'b'));
    } else if (headers[':path'] === '/trickle') {
      // The head at once, the body over 800 ms.
      stream.respond({ ':status': 200 });
      stream.write('first ');
      setTimeout(() => stream.destroyed || stream.end('last'), 800);
    } else answer();
  });
  appPort = await listenLoopback(app);
}

/** The proxy's config: service h2app at 10.96.0.30:80, its one endpoint the app (or another server's port). */
function config(version: string, port = appPort, protocol = 'http2'): unknown {
  return proxyConfig({
    version,
    sa: 'client',
    trustAnchors: [],
    services: [
      {
        name: 'h2app',
        clusterIP: '10.96.0.30',
        port: 80,
        protocol,
        endpoints: [{ address: '127.0.0.1', port, identity: null }],
      },
    ],
    limits: { idleTimeoutMs: IDLE_MS, maxHeaderCount: 20, maxHeaderBytes: 2048 },
  });
}

function startProxy(): Promise<ProxyProcess> {
  return startProxyProcess({ config: config('v1'), outboundDst: '10.96.0.30:80' });
}

// ---- raw frames ----

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const DATA = 0x0;
const HEADERS = 0x1;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const PING = 0x6;
const GOAWAY = 0x7;
const CONTINUATION = 0x9;
const END_HEADERS = 0x4;

function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}
/** HPACK: GET, /, http (static table), :authority "h2app" (literal, indexed name). */
const GET_HEADERS = Buffer.concat([Buffer.from([0x82, 0x84, 0x86, 0x41, 5]), Buffer.from('h2app')]);
/** HPACK literal field without indexing, new name (short name and value). */
function literal(name: string, value: string): Buffer {
  return Buffer.concat([
    Buffer.from([0x00, name.length]),
    Buffer.from(name),
    Buffer.from([value.length]),
    Buffer.from(value),
  ]);
}

interface RawResult {
  closed: boolean;
  /** GOAWAY error codes received, in order. */
  goaway: number[];
  /** Milliseconds from connect until the proxy closed the connection. */
  closedAfterMs: number;
}

/** Writes the client preface, an empty SETTINGS and `frames`; collects what comes back until close or waitMs. */
function rawSession(frames: Buffer[], waitMs = 2000): Promise<RawResult> {
  return new Promise((resolve) => {
    const started = Date.now();
    const s = net.connect(proxy.outbound, '127.0.0.1', () => {
      s.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0), ...frames]));
    });
    let got = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
    });
    s.on('error', () => undefined);
    const timer = setTimeout(() => finish(false), waitMs);
    s.once('close', () => finish(true));
    let done = false;
    function finish(closed: boolean): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      const goaway: number[] = [];
      for (let i = 0; i + 9 <= got.length; ) {
        const len = got.readUIntBE(i, 3);
        if (got[i + 3] === GOAWAY && i + 9 + len <= got.length) goaway.push(got.readUInt32BE(i + 9 + 4));
        i += 9 + len;
      }
      resolve({ closed, goaway, closedAfterMs: Date.now() - started });
    }
  });
}

// ---- node:http2 client ----

function connect(port = proxy.outbound): http2.ClientHttp2Session {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  return session;
}

function get(
  session: http2.ClientHttp2Session,
  path: string,
  extra: http2.OutgoingHttpHeaders = {},
): Promise<{ status: number; reason: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': path, ':authority': 'h2app', ...extra }, { endStream: true });
    let status = 0;
    let reason: string | undefined;
    let body = '';
    req.on('response', (h) => {
      status = Number(h[':status']);
      reason = h['x-weft-reason'] as string | undefined;
    });
    req.setEncoding('utf8');
    req.on('data', (d: string) => {
      body += d;
    });
    req.on('end', () => resolve({ status, reason, body }));
    req.on('error', reject);
  });
}

const metrics = (p: ProxyProcess = proxy) => scrape(p);
/** The weft_protocol_errors_total lines of p whose code is an upstream's (upstream-*). */
const upstreamErrors = async (p: ProxyProcess) =>
  (await metrics(p))
    .split('\n')
    .filter((l) => l.startsWith('weft_protocol_errors_total{') && l.includes('code="upstream-'));
const errors = (text: string, code: string) =>
  metricValue(text, 'weft_protocol_errors_total', { direction: 'outbound', code }) ?? 0;

beforeAll(async () => {
  await startApp();
  proxy = await startProxy();
}, 30_000);

afterAll(async () => {
  await proxy?.stop();
  await new Promise((r) => app?.close(r));
  removeTmpDirs();
}, 30_000);

test('a session may have at most 1,000 streams open at once (advertised; nghttp2 refuses more)', async () => {
  const session = connect();
  await new Promise<void>((resolve) => session.once('remoteSettings', () => resolve()));
  // Before: Node's default, 2^32-1.
  expect(session.remoteSettings.maxConcurrentStreams).toBe(1000);
  session.close();
});

describe('bad input', () => {
  let good: http2.ClientHttp2Session;
  beforeAll(async () => {
    good = connect();
    expect((await get(good, '/before')).body).toBe('app /before');
  });
  afterAll(() => good.close());

  const rapidReset = (n: number) =>
    Array.from({ length: n }, (_, k) => [
      frame(HEADERS, END_HEADERS, 2 * k + 1, GET_HEADERS),
      frame(RST_STREAM, 0, 2 * k + 1, Buffer.from([0, 0, 0, 8])),
    ]).flat();

  test.each([
    // [case, frames, GOAWAY code the client gets, counted as]
    ['DATA on stream 0', [frame(DATA, 0, 0, Buffer.from('x'))], 0x1, 'h2-protocol-error'],
    [
      'a SETTINGS frame of the wrong length',
      [frame(SETTINGS, 0, 0, Buffer.alloc(5))],
      0x6,
      'h2-protocol-error',
    ],
    [
      'a frame over the maximum frame size',
      [frame(DATA, 0, 1, Buffer.alloc(20_000))],
      0x6,
      'h2-protocol-error',
    ],
    [
      'an undecodable header block',
      [frame(HEADERS, END_HEADERS, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f]))],
      0x9,
      'h2-protocol-error',
    ],
    [
      'a ping flood',
      Array.from({ length: 20_000 }, () => frame(PING, 0, 0, Buffer.alloc(8))),
      0x2,
      'h2-flood',
    ],
    ['a settings flood', Array.from({ length: 20_000 }, () => frame(SETTINGS, 0, 0)), 0x2, 'h2-flood'],
    [
      'a CONTINUATION flood',
      [
        frame(HEADERS, 0, 1, GET_HEADERS),
        ...Array.from({ length: 100 }, (_, k) => frame(CONTINUATION, 0, 1, literal(`y${k}`, 'v'))),
      ],
      0x2,
      'h2-continuation-flood',
    ],
  ])('%s: GOAWAY and close, counted; another session keeps working', async (_name, frames, goaway, code) => {
    const before = errors(await metrics(), code);
    const r = await rawSession(frames);
    expect(r.closed).toBe(true);
    expect(r.goaway).toContain(goaway);
    expect(errors(await metrics(), code)).toBe(before + 1);
    expect((await get(good, '/after')).body).toBe('app /after');
  });

  test('a rapid reset closes that session (GOAWAY ENHANCE_YOUR_CALM), counted; a request in flight from another client completes and the app never has to close a session', async () => {
    const before = errors(await metrics(), 'h2-rapid-reset');
    const appErrors = appSessionErrors;
    const inFlight = get(good, '/slow');
    await new Promise((r) => setTimeout(r, 100));
    const r = await rawSession(rapidReset(3000));
    expect(r.closed).toBe(true);
    expect(r.goaway).toContain(0xb);
    expect(errors(await metrics(), 'h2-rapid-reset')).toBe(before + 1);
    expect((await inFlight).body).toBe('app /slow');
    expect(appSessionErrors).toBe(appErrors);
  }, 15_000);

  test('cancellations spread over many sessions, each under the rapid-reset limit, never reach the app as a flood', async () => {
    const appErrors = appSessionErrors;
    const inFlight = get(good, '/slow');
    await new Promise((r) => setTimeout(r, 100));
    // 20 x 400 = 8,000 streams opened and cancelled through one pooled upstream session: beyond the app's
    // reset burst (1,000), so the proxy must move to fresh upstream sessions on the way.
    const results = await Promise.all(Array.from({ length: 20 }, () => rawSession(rapidReset(400), 800)));
    expect(results.every((r) => !r.goaway.includes(0xb))).toBe(true);
    expect((await inFlight).body).toBe('app /slow');
    expect(appSessionErrors).toBe(appErrors);
    expect((await get(good, '/after')).body).toBe('app /after');
  }, 15_000);

  test('a head over maxHeaderCount or maxHeaderBytes gets 431 with a reason, counted; the session stays usable', async () => {
    const session = connect();
    const before = await metrics();
    const many: http2.OutgoingHttpHeaders = {};
    for (let i = 0; i < 21; i++) many[`x-h${i}`] = 'v';
    expect(await get(session, '/many', many)).toMatchObject({ status: 431, reason: 'too-many-headers' });
    expect(await get(session, '/big', { 'x-big': 'a'.repeat(2100) })).toMatchObject({
      status: 431,
      reason: 'head-too-large',
    });
    // At the limits exactly: forwarded.
    const twenty: http2.OutgoingHttpHeaders = {};
    for (let i = 0; i < 20; i++) twenty[`x-h${i}`] = 'v';
    expect((await get(session, '/twenty', twenty)).body).toBe('app /twenty');
    const after = await metrics();
    expect(errors(after, 'too-many-headers')).toBe(errors(before, 'too-many-headers') + 1);
    expect(errors(after, 'head-too-large')).toBe(errors(before, 'head-too-large') + 1);
    session.close();
  });

  test('after all of it, the proxy holds only the session still open', async () => {
    const dump = async () =>
      JSON.parse((await curl([`http://127.0.0.1:${proxy.admin}/config`])).body).connections
        .h2Sessions as number;
    // The well-behaved session of this block is the one left: nothing of the others stays behind.
    expect(await waitFor('h2 sessions to settle', async () => ((await dump()) === 1 ? 1 : undefined))).toBe(
      1,
    );
  });

  test('a session that opens no stream is closed with GOAWAY(NO_ERROR) after idleTimeoutMs', async () => {
    const r = await rawSession([], IDLE_MS + 3000);
    expect(r.closed).toBe(true);
    // Node sends GOAWAY(NO_ERROR) on close() and again as the session ends.
    expect(r.goaway.length).toBeGreaterThanOrEqual(1);
    expect(new Set(r.goaway)).toEqual(new Set([0]));
    expect(r.closedAfterMs).toBeGreaterThanOrEqual(IDLE_MS - 100);
  }, 15_000);

  test('a stream open longer than idleTimeoutMs is not cut by it', async () => {
    const session = connect();
    // SLOW_MS after the first: the session has a stream open across more than IDLE_MS.
    const first = get(session, '/slow');
    await new Promise((r) => setTimeout(r, SLOW_MS / 2));
    const second = get(session, '/slow');
    expect((await first).body).toBe('app /slow');
    expect((await second).body).toBe('app /slow');
    session.close();
  }, 15_000);
});

describe('a client that stalls its stream (idleTimeoutMs)', () => {
  const post = (session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders = {}) => {
    const req = session.request({
      ':method': 'POST',
      ':path': '/trailers',
      ':authority': 'h2app',
      ...headers,
    });
    req.on('error', () => undefined);
    const started = Date.now();
    const answered = new Promise<Answered>((resolve) => {
      let status = 0;
      let reason: unknown;
      let body = '';
      req.on('response', (h) => {
        status = Number(h[':status']);
        reason = h['x-weft-reason'];
      });
      req.setEncoding('utf8');
      req.on('data', (d: string) => {
        body += d;
      });
      req.on('close', () =>
        resolve({ status, reason, afterMs: Date.now() - started, body, rstCode: req.rstCode }),
      );
    });
    return { req, answered };
  };
  interface Answered {
    status: number;
    reason: unknown;
    afterMs: number;
    body: string;
    rstCode: number | undefined;
  }
  /** Requests `path`, takes the response head and then reads nothing; resolves when the stream closes. */
  const unread = async (session: http2.ClientHttp2Session, path: string) => {
    const req = session.request({ ':path': path, ':authority': 'h2app' }, { endStream: true });
    req.on('error', () => undefined);
    const started = Date.now();
    const closed = new Promise<{ rstCode: number | undefined; afterMs: number }>((resolve) =>
      req.on('close', () => resolve({ rstCode: req.rstCode, afterMs: Date.now() - started })),
    );
    await new Promise((r) => req.once('response', r));
    req.pause();
    return closed;
  };

  test('one that stops sending its request body gets 408 body-timeout after idleTimeoutMs, then RST_STREAM(NO_ERROR); counted; the session stays usable', async () => {
    const before = errors(await metrics(), 'body-timeout');
    const session = connect();
    try {
      const { req, answered } = post(session);
      req.write('only a bit');
      const r = await answered;
      expect(r).toMatchObject({
        status: 408,
        reason: 'body-timeout',
        rstCode: http2.constants.NGHTTP2_NO_ERROR,
      });
      expect(r.afterMs).toBeGreaterThanOrEqual(IDLE_MS - 100);
      expect(errors(await metrics(), 'body-timeout')).toBe(before + 1);
      expect(await get(session, '/after')).toMatchObject({ status: 200, body: 'app /after' });
    } finally {
      session.close();
    }
  }, 15_000);

  test('one that sends its body slowly but steadily is not cut, nor is a gRPC stream waiting on its client', async () => {
    const session = connect();
    try {
      // A chunk every IDLE_MS / 3, over twice IDLE_MS.
      const steady = post(session);
      for (let i = 0; i < 6; i++) {
        steady.req.write(`${i}`);
        await new Promise((r) => setTimeout(r, IDLE_MS / 3));
      }
      steady.req.end();
      // gRPC: a client stream may rightly wait on its client (its deadline governs it); nothing for IDLE_MS + 2 s
      // (past the cut and the sweep after it).
      const grpc = post(session, { 'content-type': 'application/grpc' });
      grpc.req.write('first');
      await new Promise((r) => setTimeout(r, IDLE_MS + 2000));
      grpc.req.end('last');
      expect(await steady.answered).toMatchObject({ status: 200, body: '{"body":"012345","trailers":{}}' });
      expect(await grpc.answered).toMatchObject({ status: 200, body: '{"body":"firstlast","trailers":{}}' });
    } finally {
      session.close();
    }
  }, 20_000);

  test('a body the proxy holds back itself (the app reads nothing for longer than idleTimeoutMs) is not cut', async () => {
    const session = connect();
    try {
      const { req, answered } = post(session);
      // /lazy, and far more than the windows between the client and the app hold.
      const lazy = session.request({ ':method': 'POST', ':path': '/lazy', ':authority': 'h2app' });
      req.end();
      lazy.on('error', () => undefined);
      lazy.end(Buffer.alloc(1024 * 1024, 'l'));
      let body = '';
      lazy.setEncoding('utf8');
      lazy.on('data', (d: string) => {
        body += d;
      });
      const status = new Promise((r) => lazy.once('response', (h) => r(h[':status'])));
      await new Promise((r) => lazy.once('end', r));
      expect(await status).toBe(200);
      expect(body).toBe(String(1024 * 1024));
      expect((await answered).status).toBe(200);
    } finally {
      session.close();
    }
  }, 20_000);

  test('a client waiting for 100-continue is not cut while the app takes its time to send it', async () => {
    const session = connect();
    try {
      const req = session.request({
        ':method': 'POST',
        ':path': '/continue',
        ':authority': 'h2app',
        expect: '100-continue',
      });
      req.on('error', () => undefined);
      // The body goes once the 100 arrives (IDLE_MS + 2 s after the request).
      req.once('continue', () => req.end('after the continue'));
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => {
        body += d;
      });
      const status = new Promise((r) => req.once('response', (h) => r(h[':status'])));
      await new Promise((r) => req.once('close', r));
      expect(await status).toBe(200);
      expect(body).toBe(String('after the continue'.length));
    } finally {
      session.close();
    }
  }, 20_000);

  test('one that asked for 100-continue but sent part of its body without waiting, then stopped, gets 408', async () => {
    const session = connect();
    try {
      // /trailers never sends 100 Continue.
      const { req, answered } = post(session, { expect: '100-continue' });
      req.write('did not wait');
      expect(await answered).toMatchObject({ status: 408, reason: 'body-timeout' });
    } finally {
      session.close();
    }
  }, 15_000);

  test('one that stops reading a response is reset (slow-reader) after idleTimeoutMs, counted, and the app stream cancelled', async () => {
    const before = errors(await metrics(), 'slow-reader');
    const session = connect();
    try {
      const r = await unread(session, '/big');
      expect(r.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
      expect(r.afterMs).toBeGreaterThanOrEqual(IDLE_MS - 100);
      expect(errors(await metrics(), 'slow-reader')).toBe(before + 1);
      const app = bigStreams.at(-1)!;
      await waitFor('the app stream to close', () => (app.closed ? true : undefined), 5000);
      expect(app.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
      expect(await get(session, '/after')).toMatchObject({ status: 200, body: 'app /after' });
    } finally {
      session.close();
    }
  }, 15_000);

  test('several streams a client stops reading on one session are cut in the same sweep, each counted', async () => {
    const before = errors(await metrics(), 'slow-reader');
    const session = connect();
    try {
      // 256 KiB each, more than the windows between the client and the app hold.
      const rs = await Promise.all(Array.from({ length: 5 }, () => unread(session, `/sized/${256 * 1024}`)));
      for (const r of rs) expect(r.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
      // One pass cuts them all (the session's window toward the client is open: a Node client frees it as data
      // arrives); one per pass would spread them over four more sweeps (3 s).
      const after = rs.map((r) => r.afterMs);
      expect(Math.max(...after) - Math.min(...after)).toBeLessThan(500);
      expect(errors(await metrics(), 'slow-reader')).toBe(before + 5);
    } finally {
      session.close();
    }
  }, 20_000);

  test('a client that returns no window at all: the longest-stalled stream goes first, the rest at the next sweep', async () => {
    // Raw frames: five GETs of 256 KiB and never a WINDOW_UPDATE, so the session's window toward the client (65,535)
    // runs out and every stream waits behind it.
    const path = `/sized/${256 * 1024}`;
    const get = (id: number) =>
      frame(
        HEADERS,
        END_HEADERS | 0x1,
        id,
        Buffer.concat([
          Buffer.from([0x82, 0x86, 0x44, path.length]),
          Buffer.from(path),
          Buffer.from([0x41, 5]),
          Buffer.from('h2app'),
        ]),
      );
    const ids = [1, 3, 5, 7, 9];
    const resets = new Map<number, { code: number; at: number }>();
    const s = net.connect(proxy.outbound, '127.0.0.1', () => {
      s.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0), ...ids.map(get)]));
    });
    s.on('error', () => undefined);
    let got = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      while (got.length >= 9 && got.length >= 9 + got.readUIntBE(0, 3)) {
        const len = got.readUIntBE(0, 3);
        const id = got.readUInt32BE(5) & 0x7fffffff;
        if (got[3] === RST_STREAM && !resets.has(id))
          resets.set(id, { code: got.readUInt32BE(9), at: Date.now() });
        got = got.subarray(9 + len);
      }
    });
    try {
      await waitFor('every stream reset', () => (resets.size === ids.length ? true : undefined), 12_000);
      expect([...resets.values()].map((r) => r.code)).toEqual(ids.map(() => http2.constants.NGHTTP2_CANCEL));
      const at = [...resets.values()].map((r) => r.at).sort((a, b) => a - b);
      // One first (a sweep is 750 ms), the four others together at the next sweep: the first cut did not reopen
      // the window. Cutting one per sweep would spread them over 3 s more.
      expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(400);
      expect(at[4]! - at[1]!).toBeLessThan(300);
    } finally {
      s.destroy();
    }
  }, 20_000);

  test('so is one that stops reading when only the tail of a response the app has finished waits for it', async () => {
    const before = errors(await metrics(), 'slow-reader');
    const session = connect();
    try {
      // The client's stream window (65,535) plus 4,000 bytes: the app's stream ends, the proxy holds the tail.
      const r = await unread(session, `/sized/${65_535 + 4000}`);
      expect(r.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
      expect(r.afterMs).toBeGreaterThanOrEqual(IDLE_MS - 100);
      expect(errors(await metrics(), 'slow-reader')).toBe(before + 1);
    } finally {
      session.close();
    }
  }, 15_000);

  test('one that reads a large response slowly, in bursts with pauses shorter than idleTimeoutMs, gets all of it', async () => {
    const session = connect();
    try {
      const req = session.request({ ':path': '/big', ':authority': 'h2app' }, { endStream: true });
      let got = 0;
      let burst = 0;
      // 2 MiB at a time, then 1.5 s of nothing: longer than two sweeps (750 ms each), shorter than IDLE_MS.
      req.on('data', (d: Buffer) => {
        got += d.length;
        burst += d.length;
        if (burst < 2 * 1024 * 1024) return;
        burst = 0;
        req.pause();
        setTimeout(() => req.resume(), 1500);
      });
      await new Promise<void>((resolve, reject) => {
        req.on('end', resolve);
        req.on('error', reject);
      });
      expect(got).toBe(BIG_BYTES);
    } finally {
      session.close();
    }
  }, 30_000);
});

describe('an upstream that breaks HTTP/2', () => {
  /** An h2c "app" that answers the proxy's preface with its SETTINGS and what comes next with `reply`. */
  async function brokenApp(reply: Buffer[]): Promise<{ port: number; close: () => Promise<unknown> }> {
    const server = net.createServer((s) => {
      s.on('error', () => undefined);
      let reads = 0;
      s.on('data', () => {
        reads++;
        if (reads === 1) s.write(frame(SETTINGS, 0, 0));
        else if (reads === 2) s.write(Buffer.concat(reply));
      });
    });
    const port = await listenLoopback(server);
    return { port, close: () => new Promise((r) => server.close(r)) };
  }
  const HEADERS_200 = frame(HEADERS, END_HEADERS, 1, Buffer.from([0x88])); // :status 200 (static table)
  /** Runs `check` against a proxy whose one endpoint is brokenApp(reply), with a client session; stops all three. */
  async function withBrokenUpstream(
    version: string,
    reply: readonly Buffer[],
    check: (p: ProxyProcess, session: http2.ClientHttp2Session) => Promise<void>,
  ): Promise<void> {
    const app = await brokenApp([...reply]);
    const p = await startProxyProcess({ config: config(version, app.port), outboundDst: '10.96.0.30:80' });
    const session = connect(p.outbound);
    try {
      await check(p, session);
    } finally {
      session.destroy();
      await p.stop();
      await app.close();
    }
  }

  test.each([
    // [case, reason the client gets (null: the response head had gone out, so its stream is reset), counted as,
    // what the app sends after the request]
    ['DATA on stream 0', 'bad-response', 'upstream-h2-protocol-error', [frame(DATA, 0, 0, Buffer.from('x'))]],
    [
      'more invalid (empty) DATA frames than Node allows, after the response head',
      null,
      'upstream-h2-stream-abuse',
      [HEADERS_200, ...Array.from({ length: 1100 }, () => frame(DATA, 0, 1))],
    ],
    [
      'RST_STREAM on the request',
      'upstream-reset',
      null,
      [frame(RST_STREAM, 0, 1, Buffer.from([0, 0, 0, 1]))],
    ],
  ] as const)(
    '%s: the client gets %s, counted as %s',
    (_case, reason, counted, reply) =>
      withBrokenUpstream('broken', reply, async (p, session) => {
        const res = await get(session, '/').catch(() => null);
        if (reason === null) expect(res).toBeNull();
        else expect(res).toMatchObject({ status: 502, reason });
        if (counted === null) {
          // A stream reset on a live connection is no protocol error of the session.
          await new Promise((r) => setTimeout(r, 500));
          expect(await upstreamErrors(p)).toEqual([]);
        } else {
          const lines = await waitFor('the upstream protocol error counted', async () => {
            const l = await upstreamErrors(p);
            return l.length > 0 ? l : undefined;
          });
          expect(lines).toHaveLength(1);
          expect(lines[0]).toContain(`code="${counted}"`);
          expect(lines[0]).toMatch(/ 1$/);
        }
        // The client's own session with the proxy stays open.
        expect(session.closed || session.destroyed).toBe(false);
      }),
    30_000,
  );

  test.each([
    // [case, RST_STREAM code the app sends after part of the body, code the client's stream is reset with,
    // whether Node's client emits 'end' all the same (it does for a CANCEL it receives: only the code tells)]
    // NO_ERROR: Node's client ends such a stream as after END_STREAM, with the same code (0); before session 18 the
    // client got a clean end of the truncated body.
    ['NO_ERROR before END_STREAM (a cut-off)', 0, http2.constants.NGHTTP2_INTERNAL_ERROR, false],
    // The app's own cancellation passes on, as without the mesh (gRPC: CANCELLED).
    ['CANCEL', 8, http2.constants.NGHTTP2_CANCEL, true],
  ])(
    'a response the upstream resets mid-body with %s: the client stream is reset with the code it should get, not ended cleanly; a failure, with error="true"',
    (_case, sent, expected, endedToo) =>
      withBrokenUpstream(
        'reset-mid-body',
        [
          HEADERS_200,
          frame(DATA, 0, 1, Buffer.from('part of it')),
          frame(RST_STREAM, 0, 1, Buffer.from([0, 0, 0, sent])),
        ],
        async (p, session) => {
          const req = session.request({ ':path': '/', ':authority': 'h2app' }, { endStream: true });
          req.on('error', () => undefined);
          let body = '';
          let ended = false;
          req.setEncoding('utf8');
          req.on('data', (d: string) => {
            body += d;
          });
          req.on('end', () => {
            ended = true;
          });
          const status = await new Promise<number>((r) =>
            req.once('response', (h) => r(Number(h[':status']))),
          );
          await new Promise((r) => req.once('close', r));
          expect({ status, body, ended, rstCode: req.rstCode }).toEqual({
            status: 200,
            body: 'part of it',
            ended: endedToo,
            rstCode: expected,
          });
          const failures = await waitFor('the response counted', async () =>
            metricValue(await metrics(p), 'response_total', { classification: 'failure', error: 'true' }),
          );
          expect(failures).toBe(1);
          expect(metricValue(await metrics(p), 'response_total', { classification: 'success' }) ?? 0).toBe(0);
        },
      ),
    30_000,
  );
});

test('on a detect port (the default protocol), HTTP/2 with prior knowledge is detected and proxied, body and all', async () => {
  // An app that answers with the number of body bytes it received.
  const counting = http2.createServer();
  counting.on('stream', (stream) => {
    let n = 0;
    stream.on('data', (d: Buffer) => {
      n += d.length;
    });
    stream.on('end', () => {
      stream.respond({ ':status': 200 });
      stream.end(`got ${n}`);
    });
  });
  const port = await listenLoopback(counting);
  const p = await startProxyProcess({
    config: config('detect', port, 'detect'),
    outboundDst: '10.96.0.30:80',
  });
  try {
    const session = connect(p.outbound);
    const body = await new Promise<string>((resolve, reject) => {
      const req = session.request({ ':path': '/upload', ':method': 'POST', ':authority': 'h2app' });
      let text = '';
      req.on('data', (d: Buffer) => {
        text += d;
      });
      req.on('end', () => resolve(text));
      req.on('error', reject);
      // The body goes out after detection has handed the connection over: the session must read on.
      setTimeout(() => req.end(Buffer.alloc(100_000, 1)), 200);
    });
    // Before: GOAWAY(INTERNAL_ERROR) at once; the bytes detection had read were lost on the way to the session.
    expect(body).toBe('got 100000');
    session.close();
  } finally {
    await p.stop();
    counting.close();
  }
}, 30_000);

test('a route timeout: a stream the app does not answer in time gets 504 timeout, and is counted; a body streaming past it is not cut', async () => {
  const doc = config('route-timeout') as { outbound: { services: { defaultRoute?: unknown }[] } };
  doc.outbound.services[0]!.defaultRoute = { timeoutMs: 300 };
  const p = await startProxyProcess({ config: doc, outboundDst: '10.96.0.30:80' });
  try {
    const session = connect(p.outbound);
    // /slow answers after SLOW_MS (2 s); / at once.
    expect(await get(session, '/slow')).toMatchObject({ status: 504, reason: 'timeout' });
    expect(await get(session, '/')).toMatchObject({ status: 200 });
    // The timeout ends at the response head: a body that streams for longer is not cut (it was reset).
    expect(await get(session, '/trickle')).toEqual({ status: 200, reason: undefined, body: 'first last' });
    expect(await metric(p, 'response_total', { status_code: '504', weft_reason: 'timeout' })).toBe(1);
    session.close();
  } finally {
    await p.stop();
  }
}, 30_000);

test('informational responses (103 Early Hints) from the app reach the client before the response', async () => {
  const session = connect(proxy.outbound);
  try {
    const interim = await new Promise<http2.IncomingHttpHeaders[]>((resolve, reject) => {
      const seen: http2.IncomingHttpHeaders[] = [];
      const req = session.request({ ':path': '/early', ':authority': 'h2app' }, { endStream: true });
      req.on('headers', (h) => seen.push(h));
      req.on('response', () => resolve(seen));
      req.on('error', reject);
      req.resume();
    });
    expect(interim).toEqual([expect.objectContaining({ ':status': 103, link: '</style.css>; rel=preload' })]);
  } finally {
    session.close();
  }
});

test('an upstream that refuses the connection: 502 connect-failed, no protocol error counted', async () => {
  const dead = net.createServer();
  const port = await listenLoopback(dead);
  await new Promise((r) => dead.close(r));
  const p = await startProxyProcess({ config: config('refused', port), outboundDst: '10.96.0.30:80' });
  try {
    const session = connect(p.outbound);
    expect(await get(session, '/')).toMatchObject({ status: 502, reason: 'connect-failed' });
    expect(await upstreamErrors(p)).toEqual([]);
    session.close();
  } finally {
    await p.stop();
  }
}, 30_000);

test('SIGTERM: the client gets GOAWAY(NO_ERROR), the stream in flight completes, the proxy exits 0', async () => {
  const p = await startProxy();
  const session = connect(p.outbound);
  const goaway = new Promise<number>((r) => session.once('goaway', (code) => r(code)));
  expect((await get(session, '/')).status).toBe(200);
  const seen = slowSeen;
  const slow = get(session, '/slow');
  // In flight: the app has it (a fixed sleep here could stop the proxy before it had taken the stream).
  await waitFor('the app has /slow', async () => (slowSeen > seen ? true : undefined));
  const exited = p.stop();
  expect(await goaway).toBe(0);
  expect(await slow).toMatchObject({ status: 200, body: 'app /slow' });
  expect(await exited).toBe(0);
  session.destroy();
}, 30_000);

test('one client holding streams open on an endpoint does not stall the other clients of that endpoint', async () => {
  // An app that allows 100 concurrent streams per connection and answers only once a request body ends.
  const app = http2.createServer({ settings: { maxConcurrentStreams: 100 } });
  app.on('stream', (stream) => {
    stream.on('error', () => undefined);
    stream.resume();
    stream.on('end', () => {
      if (!stream.destroyed) stream.respond({ ':status': 200 });
      stream.end('done');
    });
  });
  const port = await listenLoopback(app);
  const p = await startProxyProcess({ config: config('held', port), outboundDst: '10.96.0.30:80' });
  const hog = connect(p.outbound);
  const held: http2.ClientHttp2Stream[] = [];
  try {
    // 150 uploads that never end: more than one upstream connection to the app may carry at once.
    for (let i = 0; i < 150; i++) {
      const s = hog.request({ ':method': 'POST', ':path': `/upload/${i}`, ':authority': 'h2app' });
      s.on('error', () => undefined);
      s.write('partial');
      held.push(s);
    }
    await waitFor('the app holds the uploads', async () => {
      const sessions = await new Promise<number>((r) => app.getConnections((_e, n) => r(n)));
      return sessions >= 1 ? true : undefined;
    });
    // Before: this request queued behind the hog's streams on the one pooled session and was never sent.
    const other = connect(p.outbound);
    const answer = await Promise.race([
      get(other, '/'),
      new Promise((r) => setTimeout(() => r('no answer within 5 s'), 5000)),
    ]);
    expect(answer).toMatchObject({ status: 200, body: 'done' });
    other.close();
  } finally {
    for (const s of held) s.close();
    hog.destroy();
    await p.stop();
    await new Promise((r) => app.close(r));
  }
}, 30_000);

test('an upstream that closes a stream quietly (RST_STREAM CANCEL) before answering: 502 upstream-reset, not a hang', async () => {
  const app = http2.createServer();
  app.on('stream', (stream) => {
    stream.on('error', () => undefined);
    stream.close(http2.constants.NGHTTP2_CANCEL);
  });
  const port = await listenLoopback(app);
  const p = await startProxyProcess({ config: config('cancel', port), outboundDst: '10.96.0.30:80' });
  const session = connect(p.outbound);
  try {
    const answer = await Promise.race([
      get(session, '/'),
      new Promise((r) => setTimeout(() => r('no answer within 5 s'), 5000)),
    ]);
    // Before: Node reports no error for CANCEL, so the client stream waited forever.
    expect(answer).toMatchObject({ status: 502, reason: 'upstream-reset' });
  } finally {
    session.destroy();
    await p.stop();
    await new Promise((r) => app.close(r));
  }
}, 30_000);

test('request trailers reach the app; inbound, a client identity among them is dropped', async () => {
  // The same app behind an inbound proxy too (plaintext clients are unauthenticated, permissive).
  const inbound = await startProxyProcess({
    config: proxyConfig({
      version: 'in',
      sa: 'server',
      trustAnchors: [],
      inboundPorts: [{ port: appPort, protocol: 'http2', authorizations: [] }],
    }),
    inboundApp: `127.0.0.1:${appPort}`,
  });
  const send = async (port: number) => {
    const session = connect(port);
    try {
      const s = session.request(
        { ':method': 'POST', ':path': '/trailers', ':authority': 'h2app' },
        { waitForTrailers: true },
      );
      s.on('wantTrailers', () =>
        s.sendTrailers({
          'x-checksum': 'abc123',
          'x-weft-client-id': 'spiffe://evil/ns/x/sa/y',
          x_weft_client_id: 'spiffe://evil/ns/x/sa/z',
        }),
      );
      s.end('the body');
      let text = '';
      s.on('data', (d: Buffer) => {
        text += d.toString();
      });
      await new Promise((r) => s.once('end', r));
      return JSON.parse(text) as { body: string; trailers: Record<string, string> };
    } finally {
      session.close();
    }
  };
  try {
    const out = await send(proxy.outbound);
    expect(out.body).toBe('the body');
    expect(out.trailers).toMatchObject({ 'x-checksum': 'abc123' });
    const into = await send(inbound.inbound);
    expect(into.body).toBe('the body');
    expect(into.trailers['x-checksum']).toBe('abc123');
    expect(into.trailers['x-weft-client-id']).toBeUndefined();
    expect(into.trailers.x_weft_client_id).toBeUndefined();
    // Outbound the app's own fields pass as they are.
    expect(out.trailers.x_weft_client_id).toBe('spiffe://evil/ns/x/sa/z');
  } finally {
    await inbound.stop();
  }
}, 30_000);

test.each([
  ['without a body, without a retry policy', 'GET', null],
  ['with a body kept for a retry (PUT, a route that retries only connect failures)', 'PUT', 'the payload'],
] as const)(
  'a stream the upstream refuses unprocessed (past its GOAWAY) is sent again once: %s',
  async (_what, method, payload) => {
    // The app's first session holds /a; when /b comes on it, it sends GOAWAY(last stream: /a) and answers /a. /b
    // was not processed, and Node refuses it (REFUSED_STREAM). Later sessions answer normally, with the body they got.
    const goaway = http2.createServer();
    let sessions = 0;
    const served: string[] = [];
    /** The streams the first session holds (/a). */
    const held: http2.ServerHttp2Stream[] = [];
    goaway.on('session', (session) => {
      const n = ++sessions;
      session.on('error', () => undefined);
      session.on('stream', (stream, headers) => {
        stream.on('error', () => undefined);
        const path = String(headers[':path']);
        if (n === 1 && path === '/a') {
          held.push(stream);
          return;
        }
        if (n === 1 && path === '/b') {
          session.goaway(http2.constants.NGHTTP2_NO_ERROR, held[0]!.id);
          for (const h of held) {
            h.respond({ ':status': 200 });
            h.end('a');
          }
          return;
        }
        let body = '';
        stream.setEncoding('utf8');
        stream.on('data', (d: string) => {
          body += d;
        });
        stream.on('end', () => {
          served.push(`${headers[':method']} ${path} ${body}`);
          stream.respond({ ':status': 200 });
          stream.end('served');
        });
      });
    });
    const port = await listenLoopback(goaway);
    const doc = config('goaway', port) as { outbound: { services: { defaultRoute?: unknown }[] } };
    if (payload !== null)
      doc.outbound.services[0]!.defaultRoute = { retry: { maxRetries: 1, retryOn: ['connect-failure'] } };
    const p = await startProxyProcess({ config: doc, outboundDst: '10.96.0.30:80' });
    const session = connect(p.outbound);
    try {
      const a = get(session, '/a');
      // /a first on the upstream session.
      await waitFor('the app to hold /a', () => (held.length === 1 ? true : undefined), 5000);
      const b = new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = session.request(
          { ':method': method, ':path': '/b', ':authority': 'h2app' },
          { endStream: payload === null },
        );
        if (payload !== null) req.end(payload);
        let status = 0;
        let body = '';
        req.on('response', (h) => {
          status = Number(h[':status']);
        });
        req.setEncoding('utf8');
        req.on('data', (d: string) => {
          body += d;
        });
        req.on('end', () => resolve({ status, body }));
        req.on('error', reject);
      });
      expect(await a).toMatchObject({ status: 200, body: 'a' });
      expect(await b).toEqual({ status: 200, body: 'served' });
      expect(served).toEqual([`${method} /b ${payload ?? ''}`]);
      expect(sessions).toBe(2);
      // Not a retry: the upstream never processed it.
      expect((await metrics(p)).includes('weft_retries_total{')).toBe(false);
    } finally {
      session.close();
      await p.stop();
      await new Promise((r) => goaway.close(r));
    }
  },
  30_000,
);
