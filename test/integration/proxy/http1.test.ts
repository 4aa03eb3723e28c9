// One proxy, plaintext, explicit mode, in front of the test app: HTTP/1.1 behaviour a client can observe.

import { writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { CountersSnapshot } from '../../apps/testapp/src/counters.ts';
import { startTestApp, type TestApp } from '../../apps/testapp/src/test-app.ts';
import {
  connectCollect,
  curl,
  listenLoopback,
  metric,
  metricValue,
  type ProxyProcess,
  proxyConfig,
  raw,
  removeTmpDirs,
  scrape,
  startProxyProcess,
  tmpDir,
  waitFor,
} from './harness.ts';

let app: TestApp;
let proxy: ProxyProcess;
let ws: http.Server;
let wsPort: number;
/** What the app's /half-close tunnels received before the client's end. */
const halfCloseGot: string[] = [];
let base: string;

const config = (version: string, extra: Partial<Parameters<typeof proxyConfig>[0]> = {}) =>
  proxyConfig({
    version,
    sa: 'client',
    trustAnchors: [],
    services: [
      {
        name: 'web',
        clusterIP: '10.96.0.10',
        port: 80,
        endpoints: [{ address: '127.0.0.1', port: app.httpPort, identity: null }],
      },
      {
        name: 'ws',
        clusterIP: '10.96.0.12',
        port: 80,
        endpoints: [{ address: '127.0.0.1', port: wsPort, identity: null }],
      },
      { name: 'empty', clusterIP: '10.96.0.11', port: 80, endpoints: [] },
    ],
    limits: { maxHeaderBytes: 4096, maxHeaderCount: 20, headersTimeoutMs: 500, idleTimeoutMs: 1500 },
    ...extra,
  });

const BIG = Buffer.alloc(8 * 1048576);
for (let i = 0; i < BIG.length; i += 4) BIG.writeUInt32LE((i * 2654435761) >>> 0, i);

/** GETs path through the proxy reading slowly (pausing often), so the proxy's writes to it queue up. */
function slowGet(path: string, stallMs: number): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port: proxy.outbound, path, headers: { host: 'ws' } },
      (res) => {
        const parts: Buffer[] = [];
        let n = 0;
        // A long stall first (the socket buffers between proxy and client fill up), then short ones.
        res.pause();
        setTimeout(() => res.resume(), stallMs);
        res.on('data', (d: Buffer) => {
          parts.push(d);
          n += 1;
          if (n % 8 === 0) {
            res.pause();
            setTimeout(() => res.resume(), 2);
          }
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
  });
}

beforeAll(async () => {
  app = await startTestApp({ logLevel: 'silent' });
  // A minimal WebSocket-like upgrade server: after 101 it echoes bytes upper-cased.
  ws = http.createServer((req, res) => {
    if (req.url?.startsWith('/big/')) {
      // BIG in 4 KiB writes. /big/length and /big/chunked: as fast as the proxy takes them. /big/paced:
      // one write per millisecond whatever the backpressure, so the proxy keeps reading small chunks
      // while its writes to the stalled client queue up behind each other.
      const paced = req.url === '/big/paced';
      if (req.url !== '/big/chunked') res.setHeader('content-length', BIG.length);
      let at = 0;
      const more = (): void => {
        if (at >= BIG.length) {
          res.end();
          return;
        }
        const piece = BIG.subarray(at, at + 4096);
        at += piece.length;
        const flushed = res.write(piece);
        if (paced) setTimeout(more, 1);
        else if (flushed) setImmediate(more);
        else res.once('drain', more);
      };
      more();
      return;
    }
    if (req.url === '/bytes') {
      // Every byte value, small enough that the proxy writes it together with the head.
      res.setHeader('content-length', 256);
      res.end(Buffer.from(Array.from({ length: 256 }, (_, i) => i)));
      return;
    }
    res.end('no upgrade');
  });
  ws.on('upgrade', (req, socket, head) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    if (req.url === '/half-close') {
      // The app says bye and half-closes at once, then keeps reading until the client half-closes.
      let got = head.toString();
      socket.end('bye');
      socket.on('data', (d: Buffer) => {
        got += d.toString();
      });
      socket.on('end', () => halfCloseGot.push(got));
      return;
    }
    if (head.length) socket.write(head.toString().toUpperCase());
    socket.on('data', (d: Buffer) => socket.write(d.toString().toUpperCase()));
  });
  wsPort = await listenLoopback(ws);
  proxy = await startProxyProcess({ config: config('v1'), outboundDst: '10.96.0.10:80' });
  base = `http://127.0.0.1:${proxy.outbound}`;
}, 30_000);

afterAll(async () => {
  await proxy?.stop();
  await app?.close();
  ws?.close();
  removeTmpDirs();
}, 30_000);

describe('forwarding', () => {
  test('routes by Host and by original destination, headers unchanged', async () => {
    const byHost = await curl([
      '-H',
      'Host: web.test.svc.cluster.local',
      '-H',
      'X-Custom: a b',
      `${base}/echo?q=1`,
    ]);
    expect(byHost.status).toBe(200);
    const echo = JSON.parse(byHost.body);
    expect(echo.headers['x-custom']).toBe('a b');
    expect(echo.query).toEqual({ q: '1' });
    const byAddr = await curl(['-H', 'Host: somewhere.example', `${base}/healthz`]);
    expect(byAddr.status).toBe(200);
  });

  test('keep-alive reuses the client connection across requests', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const reused: boolean[] = [];
    for (let i = 0; i < 5; i++) {
      await new Promise<void>((resolve, reject) => {
        const req = http.get(
          { host: '127.0.0.1', port: proxy.outbound, path: '/healthz', agent, headers: { host: 'web' } },
          (res) => {
            res.resume();
            res.on('end', () => resolve());
            expect(res.statusCode).toBe(200);
          },
        );
        req.on('error', reject);
        req.on('socket', () => reused.push(req.reusedSocket));
      });
    }
    agent.destroy();
    expect(reused).toEqual([false, true, true, true, true]);
  });

  test('chunked and large request bodies arrive intact', async () => {
    const dir = tmpDir();
    writeFileSync(path.join(dir, 'big'), 'x'.repeat(900_000));
    writeFileSync(path.join(dir, 'huge'), 'y'.repeat(1_200_000));
    const chunked = await curl([
      '-H',
      'Host: web',
      '-H',
      'Transfer-Encoding: chunked',
      '--data-binary',
      `@${dir}/big`,
      `${base}/echo`,
    ]);
    expect(chunked.status).toBe(200);
    const echo = JSON.parse(chunked.body);
    expect(echo.headers['transfer-encoding']).toBe('chunked');
    expect(echo.bodyTruncated).toBe(true);
    const tooLarge = await curl(['-H', 'Host: web', '--data-binary', `@${dir}/huge`, `${base}/echo`]);
    expect(tooLarge.status).toBe(413);
  });

  test('pipelined requests are answered in order', async () => {
    const one = 'GET /status/201 HTTP/1.1\r\nHost: web\r\n\r\n';
    const two = 'GET /status/202 HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n';
    const out = await raw(proxy.outbound, one + two);
    const statuses = [...out.matchAll(/HTTP\/1\.1 (\d+)/g)].map((m) => m[1]);
    expect(statuses).toEqual(['201', '202']);
  });

  test('large responses reach a slow reader byte-exact (Content-Length, chunked, paced)', async () => {
    const [length, chunked, paced] = await Promise.all([
      slowGet('/big/length', 400),
      slowGet('/big/chunked', 400),
      slowGet('/big/paced', 1500),
    ]);
    for (const r of [length, chunked, paced]) {
      expect(r.status).toBe(200);
      expect(r.body.length).toBe(BIG.length);
      expect(r.body.equals(BIG)).toBe(true);
    }
  });

  test('small binary bodies pass byte-exact, also pipelined', async () => {
    const get = 'GET /bytes HTTP/1.1\r\nHost: ws\r\n\r\n';
    const out = Buffer.from(
      await raw(proxy.outbound, `${get}${get}${get.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')}`),
      'latin1',
    );
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const bodies: Buffer[] = [];
    for (let at = out.indexOf('\r\n\r\n'); at >= 0; at = out.indexOf('\r\n\r\n', at + 4 + 256)) {
      bodies.push(out.subarray(at + 4, at + 4 + 256));
    }
    expect(bodies).toEqual([all, all, all]);
  });

  test('Expect: 100-continue gets the interim response from the app', async () => {
    const out = await raw(
      proxy.outbound,
      'POST /echo HTTP/1.1\r\nHost: web\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n',
      300,
    );
    expect(out).toMatch(/^HTTP\/1\.1 100 Continue/);
  });

  test('upgrade: after 101 the connection is an opaque tunnel', async () => {
    const out = await raw(
      proxy.outbound,
      'GET /chat HTTP/1.1\r\nHost: ws\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nhello tunnel',
      500,
    );
    expect(out).toMatch(/^HTTP\/1\.1 101 /);
    expect(out).toContain('HELLO TUNNEL');
  });

  test('upgrade: the tunnel is counted like an opaque connection (tcp_open_total, tcp_close_total, bytes both ways)', async () => {
    const labels = { direction: 'outbound', authority: 'ws.test.svc.cluster.local:80' };
    const before = await scrape(proxy);
    const v = (text: string, name: string) => metricValue(text, name, labels) ?? 0;
    const { sock, read } = await connectCollect(proxy.outbound);
    sock.write('GET /chat HTTP/1.1\r\nHost: ws\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nhello');
    await waitFor('the echo', () => (read().endsWith('HELLO') ? true : undefined), 5000);
    sock.write('0123456789');
    await waitFor('the second echo', () => (read().endsWith('0123456789') ? true : undefined), 5000);
    const open = await scrape(proxy);
    expect(v(open, 'tcp_open_total') - v(before, 'tcp_open_total')).toBe(1);
    // Gone (a reset): a FIN alone would leave the tunnel half open until the app ends too.
    sock.resetAndDestroy();
    const after = await waitFor('the tunnel to be counted closed', async () => {
      const t = await scrape(proxy);
      return v(t, 'tcp_close_total') - v(before, 'tcp_close_total') === 1 ? t : undefined;
    });
    // 15 bytes from the client past the upgrade request (5 with it, 10 after), 15 echoed after the 101 head.
    expect(v(after, 'tcp_read_bytes_total') - v(before, 'tcp_read_bytes_total')).toBe(15);
    expect(v(after, 'tcp_write_bytes_total') - v(before, 'tcp_write_bytes_total')).toBe(15);
  });

  test('upgrade: the tunnel keeps half-close both ways (the app ends first; what the client sends after still arrives)', async () => {
    const sock = net.connect({ port: proxy.outbound, host: '127.0.0.1', allowHalfOpen: true });
    sock.write(
      'GET /half-close HTTP/1.1\r\nHost: ws\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nhello',
    );
    let seen = '';
    sock.on('data', (d: Buffer) => {
      seen += d.toString();
    });
    await new Promise<void>((resolve) => sock.once('end', () => resolve()));
    expect(seen).toMatch(/^HTTP\/1\.1 101 [\s\S]*bye$/);
    // The app's end reached the client; the client may still send, and then end its side.
    sock.end('-late');
    expect(await waitFor('the app to see the client end', () => halfCloseGot[0], 5000)).toBe('hello-late');
    sock.destroy();
  });

  test('no endpoint answers 503 with x-weft-reason', async () => {
    const r = await curl(['-H', 'Host: empty', `${base}/`]);
    expect(r.status).toBe(503);
    expect(r.headers['x-weft-reason']).toBe('no-endpoint');
  });
});

describe('hostile input', () => {
  test.each([
    [
      'both Content-Length and Transfer-Encoding',
      'POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
    ],
    [
      'differing Content-Length',
      'POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde',
      400,
    ],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: web\r\nX: a\r\n b\r\n\r\n', 400],
    // The proxy drops the fields Connection names at the next hop: without its framing, this body would reach
    // the app as a second request (smuggling past authorization, or poisoning a pooled connection).
    [
      'Connection naming Content-Length',
      'POST / HTTP/1.1\r\nHost: web\r\nConnection: content-length\r\nContent-Length: 34\r\n\r\nGET /admin HTTP/1.1\r\nHost: web\r\n\r\n',
      400,
    ],
    [
      'Connection naming Transfer-Encoding',
      'POST / HTTP/1.1\r\nHost: web\r\nConnection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n22\r\nGET /admin HTTP/1.1\r\nHost: web\r\n\r\n\r\n0\r\n\r\n',
      400,
    ],
    ['Connection naming Host', 'GET / HTTP/1.1\r\nHost: web\r\nConnection: host\r\n\r\n', 400],
    ['too many headers', `GET / HTTP/1.1\r\nHost: web\r\n${'X: 1\r\n'.repeat(30)}\r\n`, 431],
    ['oversized head', `GET / HTTP/1.1\r\nHost: web\r\nX: ${'a'.repeat(5000)}\r\n\r\n`, 431],
  ])('%s is refused and the connection closed', async (_name, input, status) => {
    const out = await raw(proxy.outbound, input);
    expect(out.split('\r\n')[0]).toBe(
      `HTTP/1.1 ${status} ${status === 400 ? 'Bad Request' : 'Request Header Fields Too Large'}`,
    );
    expect(out).toMatch(/x-weft-reason: [a-z-]+/);
  });

  test('a slow client gets 408 after the header timeout', async () => {
    const out = await raw(proxy.outbound, 'GET / HTTP/1.1\r\nHost: web\r\n', 2000);
    expect(out).toMatch(/^HTTP\/1\.1 408 /);
  });

  test('a client trickling its head (slowloris) gets 408 when the header timeout runs out, bytes or not', async () => {
    // One header line every 100 ms: each read is new data, but the 500 ms is for the whole head.
    const lines = [
      'GET / HTTP/1.1\r\n',
      'Host: web\r\n',
      ...Array.from({ length: 15 }, (_, i) => `X-${i}: y\r\n`),
      '\r\n',
    ];
    const out = await raw(proxy.outbound, lines, 1500, 100);
    // A timer reset by each read would have let the head complete (after 1.7 s) and be forwarded.
    expect(out).toMatch(/^HTTP\/1\.1 408 /);
    expect(out.match(/HTTP\/1\.1 /g)).toHaveLength(1);
  });

  test('a client that stops sending its body gets 408 after the idle timeout', async () => {
    const out = await raw(
      proxy.outbound,
      'POST /echo HTTP/1.1\r\nHost: web\r\nContent-Length: 100\r\n\r\nonly a bit',
      3000,
    );
    expect(out).toMatch(/^HTTP\/1\.1 408 /);
    expect(out).toContain('x-weft-reason: body-timeout');
  });

  test('malformed input is counted in metrics and the proxy keeps serving', async () => {
    const metrics = (await curl([`http://127.0.0.1:${proxy.admin}/metrics`])).body;
    const errors = (code: string) =>
      metricValue(metrics, 'weft_protocol_errors_total', { direction: 'outbound', code });
    expect(errors('content-length-with-transfer-encoding')).toBeGreaterThanOrEqual(1);
    expect(errors('headers-timeout')).toBeGreaterThanOrEqual(1);
    expect((await curl(['-H', 'Host: web', `${base}/healthz`])).status).toBe(200);
  });
});

describe('admin and config', () => {
  test('live, ready, config dump, metrics', async () => {
    const admin = `http://127.0.0.1:${proxy.admin}`;
    expect((await curl([`${admin}/live`])).status).toBe(200);
    expect((await curl([`${admin}/ready`])).status).toBe(200);
    const dump = JSON.parse((await curl([`${admin}/config`])).body);
    expect(dump.config.version).toBe('v1');
    const metrics = (await curl([`${admin}/metrics`])).body;
    const web = {
      direction: 'outbound',
      authority: 'web.test.svc.cluster.local:80',
      tls: 'false',
      dst_service: 'web',
    };
    expect(metricValue(metrics, 'request_total', web)).toBeGreaterThanOrEqual(1);
    expect(
      metricValue(metrics, 'response_total', { ...web, status_code: '200', classification: 'success' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      metricValue(metrics, 'response_total', { status_code: '503', weft_reason: 'no-endpoint' }),
    ).toBeGreaterThanOrEqual(1);
    expect(metricValue(metrics, 'response_latency_ms_count', web)).toBeGreaterThanOrEqual(1);
  });

  test('hot reload applies a new config and keeps the last good one on a bad update', async () => {
    const admin = `http://127.0.0.1:${proxy.admin}`;
    // v2: "empty" gets an endpoint.
    const v2 = config('v2') as {
      outbound: { backends: { name: string; ports: { endpoints: unknown[] }[] }[] };
    };
    v2.outbound.backends
      .find((b) => b.name === 'empty')!
      .ports[0]!.endpoints.push({ address: '127.0.0.1', port: app.httpPort, identity: null });
    proxy.writeConfig(v2);
    await waitFor('v2 applied', async () =>
      JSON.parse((await curl([`${admin}/config`])).body).config.version === 'v2' ? true : undefined,
    );
    expect((await curl(['-H', 'Host: empty', `${base}/healthz`])).status).toBe(200);
    // A document that fails the schema: the error path is reported, v2 stays.
    proxy.writeConfig({ ...(v2 as object), version: 'v3', policyMode: 'sometimes' });
    const dump = await waitFor('bad config reported', async () => {
      const d = JSON.parse((await curl([`${admin}/config`])).body);
      return d.lastConfigError !== null ? d : undefined;
    });
    expect(dump.config.version).toBe('v2');
    expect(dump.lastConfigError.errors[0].path).toBe('/policyMode');
    expect(proxy.logs()).toContain('keeping the last good config');
    expect((await curl(['-H', 'Host: empty', `${base}/healthz`])).status).toBe(200);
    // Each outcome is counted: the rejected document, and v2 written again (in use: nothing applied).
    const reloads = async (result: string) =>
      metricValue((await curl([`${admin}/metrics`])).body, 'weft_config_reloads_total', { result });
    expect(await reloads('invalid')).toBe(1);
    const applied = await reloads('applied');
    proxy.writeConfig(v2);
    await waitFor('v2 again counted as unchanged', async () =>
      (await reloads('unchanged')) === 1 ? true : undefined,
    );
    expect(await reloads('applied')).toBe(applied);
    expect(JSON.parse((await curl([`${admin}/config`])).body).lastConfigError).toBeNull();
  });

  test('POST /shutdown is refused from a non-loopback address and needs POST', async () => {
    expect((await curl([`http://127.0.0.1:${proxy.admin}/shutdown`])).status).toBe(405);
  });
});

/** Requests for `path` the app has received (counted on arrival, before it answers). */
async function appReceived(path: string): Promise<number> {
  const counters = (await (
    await fetch(`http://127.0.0.1:${app.httpPort}/counters`)
  ).json()) as CountersSnapshot;
  return counters.received.byPath[path] ?? 0;
}

test('limits.maxOutboundConnections: one connection over the limit is closed at once and counted; the rest are served', async () => {
  const limits = {
    maxHeaderBytes: 4096,
    maxHeaderCount: 20,
    headersTimeoutMs: 5000,
    maxOutboundConnections: 2,
  };
  const p = await startProxyProcess({ config: config('maxconn', { limits }), outboundDst: '10.96.0.10:80' });
  const held: net.Socket[] = [];
  try {
    const open = () =>
      new Promise<net.Socket>((resolve) => {
        const c = net.connect(p.outbound, '127.0.0.1', () => resolve(c));
        c.on('error', () => undefined);
      });
    held.push(await open(), await open());
    const refused = () =>
      metric(p, 'weft_connections_refused_total', { direction: 'outbound', reason: 'max-connections' });
    // Accepted in the order they connected: the third finds two open.
    const third = await open();
    const answered = await new Promise<string>((resolve) => {
      let out = '';
      third.on('data', (d) => {
        out += d;
      });
      third.on('close', () => resolve(out));
      third.write('GET /healthz HTTP/1.1\r\nhost: web\r\n\r\n');
    });
    expect(answered).toBe('');
    expect(await refused()).toBe(1);
    // A held connection is served, and once one closes a new one is too.
    held[0]!.write('GET /healthz HTTP/1.1\r\nhost: web\r\n\r\n');
    const first = await new Promise<string>((resolve) => held[0]!.once('data', (d) => resolve(String(d))));
    expect(first).toMatch(/^HTTP\/1\.1 200/);
    held.shift()!.destroy();
    await waitFor('a new connection served', async () => {
      const r = await curl(['-H', 'Host: web', `http://127.0.0.1:${p.outbound}/healthz`]).catch(() => null);
      return r?.status === 200 ? true : undefined;
    });
  } finally {
    for (const c of held) c.destroy();
    await p.stop();
  }
}, 30_000);

test('SIGTERM with a request longer than drainTimeoutMs: /ready turns 503, new connections are refused, the request is cut at the deadline, exit 0', async () => {
  const limits = { maxHeaderBytes: 4096, maxHeaderCount: 20, headersTimeoutMs: 5000, drainTimeoutMs: 1000 };
  const p = await startProxyProcess({ config: config('deadline', { limits }), outboundDst: '10.96.0.10:80' });
  const delayed = () => appReceived('/delay/5000');
  const before = await delayed();
  const inflight = new Promise<string>((resolve) => {
    http
      .get({ host: '127.0.0.1', port: p.outbound, path: '/delay/5000', headers: { host: 'web' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(`status ${res.statusCode}`));
        res.on('error', () => resolve('cut'));
      })
      .on('error', () => resolve('cut'));
  });
  await waitFor('the app has the request', async () => ((await delayed()) > before ? true : undefined));
  const sigterm = Date.now();
  const exited = p.stop();
  // Draining: not ready, and the listener no longer takes connections.
  const ready = await waitFor('/ready 503', async () => {
    const r = await fetch(`http://127.0.0.1:${p.admin}/ready`).catch(() => null);
    return r?.status === 503 ? r.status : undefined;
  });
  expect(ready).toBe(503);
  const refused = await new Promise<boolean>((resolve) => {
    const c = net.connect(p.outbound, '127.0.0.1');
    c.on('error', () => resolve(true));
    c.on('connect', () => {
      c.write('GET /healthz HTTP/1.1\r\nhost: web\r\n\r\n');
      c.on('data', () => resolve(false));
      c.on('close', () => resolve(true));
    });
  });
  expect(refused).toBe(true);
  // The request is cut at the deadline, not answered after 5 s; the proxy exits 0 right after.
  expect(await inflight).toBe('cut');
  expect(await exited).toBe(0);
  const tookMs = Date.now() - sigterm;
  expect(tookMs).toBeGreaterThanOrEqual(900);
  expect(tookMs).toBeLessThan(4000);
}, 20_000);

test('SIGTERM with drain-keep-listening (a classic sidecar): new connections are still served through the drain, each closed after its exchange, then exit 0', async () => {
  const limits = { maxHeaderBytes: 4096, maxHeaderCount: 20, headersTimeoutMs: 5000, drainTimeoutMs: 1500 };
  const p = await startProxyProcess({
    config: config('keep', { limits }),
    outboundDst: '10.96.0.10:80',
    env: { WEFT_PROXY_DRAIN_KEEP_LISTENING: 'true' },
  });
  const exited = p.stop();
  const ready = await waitFor('/ready 503', async () => {
    const r = await fetch(`http://127.0.0.1:${p.admin}/ready`).catch(() => null);
    return r?.status === 503 ? r.status : undefined;
  });
  expect(ready).toBe(503);
  // Draining, and a new connection still gets its answer (the app shutting down next to a classic sidecar is
  // still making calls), told the connection closes.
  const out = await raw(p.outbound, 'GET /healthz HTTP/1.1\r\nhost: web\r\n\r\n');
  expect(out.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
  expect(out.toLowerCase()).toContain('connection: close');
  // HTTP/2 as well: the new session's stream is routed and answered (the app here speaks HTTP/1 only, so a
  // service without endpoints: the proxy's own 503), then GOAWAY sends the client's next streams elsewhere.
  const session = http2.connect(`http://127.0.0.1:${p.outbound}`);
  session.on('error', () => undefined);
  const goaway = new Promise<boolean>((resolve) => {
    session.once('goaway', () => resolve(true));
    session.once('close', () => resolve(false));
  });
  const answer = await new Promise<string>((resolve, reject) => {
    const s = session.request({ ':path': '/healthz', ':authority': 'empty' });
    s.on('response', (h) => resolve(`${h[':status']} ${h['x-weft-reason']}`));
    s.on('error', reject);
    s.resume();
    s.end();
  });
  expect(answer).toBe('503 no-endpoint');
  expect(await goaway).toBe(true);
  // Told at once, not cut at the deadline: the session is gone while the proxy still drains.
  const h2Sessions = await waitFor('the drained HTTP/2 session closed', async () => {
    const dump = (await (await fetch(`http://127.0.0.1:${p.admin}/config`)).json()) as {
      connections: { h2Sessions: number };
    };
    return dump.connections.h2Sessions === 0 ? 0 : undefined;
  });
  expect(h2Sessions).toBe(0);
  session.destroy();
  expect(await exited).toBe(0);
}, 20_000);

test('SIGTERM drains: an in-flight request completes, then the proxy exits 0', async () => {
  const p = await startProxyProcess({ config: config('drain'), outboundDst: '10.96.0.10:80' });
  const delayed = () => appReceived('/delay/500');
  const before = await delayed();
  const inflight = new Promise<{ status: number; body: string }>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: p.outbound, path: '/delay/500', headers: { host: 'web' } }, (res) => {
        let body = '';
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
  // In flight: the app has it (a fixed sleep here could stop the proxy before it had accepted the request).
  await waitFor('the app has the request', async () => ((await delayed()) > before ? true : undefined));
  const exited = p.stop();
  const r = await inflight;
  expect(r.status).toBe(200);
  expect(JSON.parse(r.body).delayedMs).toBe(500);
  expect(await exited).toBe(0);
}, 20_000);
