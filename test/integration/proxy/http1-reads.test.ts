// The HTTP/1 client side reads into a buffer of its own that every read overwrites (adoptSocket in
// Http1Session). These are the three ways a view of it could outlive its read, each made to happen: a head
// split across reads, an upload queued behind a slow upstream, and a body kept for a retry that arrived in
// several reads. Each must reach the upstream byte-exact; each test fails if its copy or pin is removed.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import {
  listenLoopback,
  type ProxyProcess,
  proxyConfig,
  raw,
  removeTmpDirs,
  startProxyProcess,
} from './harness.ts';

let upstream: http.Server;
let proxy: ProxyProcess;
const attempts = new Map<string, number>();
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/**
 * Answers the sha256 of the request body. /slow reads it slowly (a 300 ms stall, then pauses), so the
 * proxy's writes queue up; /flaky/ID answers 503 to the first two attempts of ID (each read in full).
 */
function startUpstream(): Promise<number> {
  upstream = http.createServer((req, res) => {
    const hash = createHash('sha256');
    let n = 0;
    if (req.url === '/slow') {
      req.pause();
      setTimeout(() => req.resume(), 300);
    }
    req.on('data', (d: Buffer) => {
      hash.update(d);
      if (req.url === '/slow' && ++n % 8 === 0) {
        req.pause();
        setTimeout(() => req.resume(), 2);
      }
    });
    req.on('end', () => {
      const id = req.url?.startsWith('/flaky/') ? req.url : null;
      const seen = id === null ? 0 : (attempts.get(id) ?? 0) + 1;
      if (id !== null) attempts.set(id, seen);
      res.statusCode = id !== null && seen <= 2 ? 503 : 200;
      res.end(hash.digest('hex'));
    });
  });
  return listenLoopback(upstream);
}

beforeAll(async () => {
  const port = await startUpstream();
  proxy = await startProxyProcess({
    config: proxyConfig({
      version: 'r1',
      sa: 'client',
      trustAnchors: [],
      services: [
        {
          name: 'hash',
          clusterIP: '10.96.3.1',
          port: 80,
          endpoints: [{ address: '127.0.0.1', port, identity: null }],
          defaultRoute: {
            retry: { maxRetries: 2, retryOn: ['gateway-error'], backoff: { baseMs: 1, maxMs: 5, jitter: 0 } },
          },
        },
      ],
    }),
    outboundDst: '10.96.3.1:80',
  });
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await new Promise((r) => upstream?.close(r));
  removeTmpDirs();
}, 30_000);

/** Writes the parts to the proxy 80 ms apart (separate reads), returns all it answered. */
const sendInParts = (parts: Array<string | Buffer>) => raw(proxy.outbound, parts, 800, 80);

const bodies = (answer: string) =>
  [...answer.matchAll(/HTTP\/1\.1 (\d+)[\s\S]*?\r\n\r\n([0-9a-f]{64})/g)].map((m) => [m[1], m[2]]);

test('a keep-alive request whose head is split across reads arrives intact', async () => {
  const body = randomBytes(200).toString('hex');
  const first = 'GET /a HTTP/1.1\r\nHost: hash\r\n\r\n';
  const second = `POST /b HTTP/1.1\r\nHost: hash\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  // The first read of a connection is protocol detection's (a fresh buffer); the second, the start of the
  // next head, waits for the rest, and the third (longer than it) lands in the same buffer.
  const answer = await sendInParts([first, second.slice(0, 20), second.slice(20)]);
  expect(bodies(answer)).toEqual([
    ['200', sha('')],
    ['200', sha(body)],
  ]);
});

test('an upload to an upstream that reads slowly arrives byte-exact', async () => {
  const upload = randomBytes(4 * 1024 * 1024);
  const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: proxy.outbound,
        method: 'POST',
        path: '/slow',
        headers: { host: 'hash', 'content-length': upload.length },
      },
      (res) => {
        let b = '';
        res.on('data', (d) => {
          b += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
      },
    );
    req.on('error', reject);
    // In 16 KiB writes: many reads, most of them while earlier ones still wait in the proxy's writes.
    for (let at = 0; at < upload.length; at += 16384) req.write(upload.subarray(at, at + 16384));
    req.end();
  });
  expect(answer).toEqual({ status: 200, body: sha(upload) });
}, 60_000);

test('a body kept for a retry is replayed as sent, also when it arrived in several reads', async () => {
  const body = randomBytes(3000);
  const head = `PUT /flaky/replay HTTP/1.1\r\nHost: hash\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n`;
  // Three reads; the first two attempts get 503 and the third is sent from the kept copy.
  const answer = await sendInParts([
    Buffer.concat([Buffer.from(head), body.subarray(0, 1000)]),
    body.subarray(1000, 2000),
    body.subarray(2000),
  ]);
  expect(attempts.get('/flaky/replay')).toBe(3);
  expect(bodies(answer)).toEqual([['200', sha(body)]]);
});
