// Hostile byte streams against a running proxy, HTTP/1 on its outbound port: generated mixes of valid
// requests (pipelined, with bodies, chunked), smuggling-shaped heads, truncated and garbage input, cut into
// random pieces and sent with random pauses. Whatever arrives, the proxy answers or closes without an
// internal error (weft_protocol_errors_total{code="internal-error"} stays 0), keeps no connection or
// session behind, and keeps serving other clients. The parser itself is fuzzed in src/http1/fuzz.test.ts;
// this runs the session, the router and the upstream pool around it.

import net from 'node:net';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { startTestApp, type TestApp } from '../../apps/testapp/src/test-app.ts';
import {
  curl,
  metric,
  type ProxyProcess,
  proxyConfig,
  removeTmpDirs,
  startProxyProcess,
  waitFor,
} from './harness.ts';

let app: TestApp;
let proxy: ProxyProcess;

beforeAll(async () => {
  app = await startTestApp({ logLevel: 'silent' });
  proxy = await startProxyProcess({
    config: proxyConfig({
      version: 'fz1',
      sa: 'client',
      trustAnchors: [],
      services: [
        {
          name: 'web',
          clusterIP: '10.96.6.1',
          port: 80,
          endpoints: [{ address: '127.0.0.1', port: app.httpPort, identity: null }],
          defaultRoute: {
            retry: {
              maxRetries: 1,
              retryOn: ['gateway-error', 'reset'],
              backoff: { baseMs: 1, maxMs: 2, jitter: 0 },
            },
          },
        },
        { name: 'empty', clusterIP: '10.96.6.2', port: 80, endpoints: [] },
      ],
      limits: { maxHeaderBytes: 4096, maxHeaderCount: 20, headersTimeoutMs: 400, idleTimeoutMs: 800 },
    }),
    outboundDst: '10.96.6.1:80',
  });
}, 30_000);

afterAll(async () => {
  await proxy?.stop();
  await app?.close();
  removeTmpDirs();
}, 30_000);

const host = fc.constantFrom('web', 'web', 'empty', 'nowhere.example', 'web:80');
const path = fc.constantFrom('/echo', '/healthz', '/status/503', '/delay/50', '/a/../echo', '/%2e%2e/x');
/** Well-formed requests: body framing consistent with the head. */
const valid = fc
  .tuple(
    fc.constantFrom('GET', 'POST', 'PUT', 'HEAD', 'DELETE'),
    path,
    fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0'),
    host,
    fc.constantFrom(
      ['', ''],
      ['Content-Length: 5\r\n', 'hello'],
      ['Transfer-Encoding: chunked\r\n', '5\r\nhello\r\n0\r\n\r\n'],
      ['Expect: 100-continue\r\nContent-Length: 2\r\n', 'hi'],
      ['Connection: close\r\n', ''],
    ),
  )
  .map(([m, p, v, h, [e, b]]) => `${m} ${p} ${v}\r\nHost: ${h}\r\n${e}\r\n${b}`);
/** Malformed or hostile ones: smuggling shapes, bad tokens, oversized heads, truncated bodies. */
const hostile = fc
  .tuple(
    fc.constantFrom('GET', 'POST', 'G ET', 'get', 'CONNECT'),
    fc.constantFrom('/echo', '*', '', '/x y'),
    fc.constantFrom('HTTP/1.1', 'HTTP/2.0', 'HTTP/1.1 ', 'HTTP/9'),
    fc.constantFrom(
      'Host: web\r\nContent-Length: 5\r\nContent-Length: 6\r\n',
      'Host: web\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n',
      'Host: web\r\nTransfer-Encoding: gzip, chunked\r\n',
      'Host: web\r\nX: a\r\n b\r\n',
      'Host: web\r\nX\r\n',
      `Host: web\r\nX-Long: ${'y'.repeat(5000)}\r\n`,
      'Host: web\r\nHost: other\r\n',
      '',
    ),
    fc.constantFrom('hello', '5\r\nhel', 'zz\r\n', '', '\r\n\r\n'),
  )
  .map(([m, p, v, e, b]) => `${m} ${p} ${v}\r\n${e}\r\n${b}`);
const request = fc.oneof({ weight: 3, arbitrary: valid }, { weight: 1, arbitrary: hostile });
const garbage = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 200 }).map((a) => Buffer.from(a).toString('latin1')),
  fc.constantFrom('\r\n\r\n', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', '\x16\x03\x01\x00', 'GET / HTTP/1.1\r\n'),
);
const stream = fc.array(fc.oneof({ weight: 3, arbitrary: request }, { weight: 1, arbitrary: garbage }), {
  minLength: 1,
  maxLength: 6,
});

/** Sends `data` in pieces cut at `cuts` with short pauses, then reads until the proxy closes or goes quiet. */
function send(data: string, cuts: number[], pauseMs: number): Promise<void> {
  const bytes = Buffer.from(data, 'latin1');
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  return new Promise((resolve) => {
    const s = net.connect(proxy.outbound, '127.0.0.1');
    s.on('error', () => undefined);
    s.resume();
    let quiet = setTimeout(() => s.destroy(), 1500);
    s.on('data', () => {
      clearTimeout(quiet);
      quiet = setTimeout(() => s.destroy(), 1500);
    });
    s.on('close', () => {
      clearTimeout(quiet);
      resolve();
    });
    s.once('connect', async () => {
      let at = 0;
      for (const p of [...points, bytes.length]) {
        if (s.destroyed) return;
        s.write(bytes.subarray(at, p));
        at = p;
        if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
      }
    });
  });
}

test('generated hostile streams: no internal error, nothing left open, other clients still served', async () => {
  const runs = fc.sample(
    fc.tuple(stream, fc.array(fc.nat(), { maxLength: 5 }), fc.constantFrom(0, 0, 5, 30)),
    { numRuns: 120, seed: Number(process.env.WEFT_FUZZ_SEED ?? 20261205) },
  );
  // Ten at a time: several sessions in flight at once share the upstream pool.
  for (let i = 0; i < runs.length; i += 10)
    await Promise.all(runs.slice(i, i + 10).map(([parts, cuts, pause]) => send(parts.join(''), cuts, pause)));
  expect(await metric(proxy, 'weft_protocol_errors_total', { code: 'internal-error' })).toBe(0);
  // The mix reached both sides: requests routed, and malformed input refused.
  const requests = await metric(proxy, 'request_total', {});
  const refused = await metric(proxy, 'weft_protocol_errors_total', {});
  expect(requests).toBeGreaterThan(50);
  expect(refused).toBeGreaterThan(10);
  // Every client connection is gone, so the proxy holds no session for any of them.
  const sessions = await waitFor('no HTTP session left', async () => {
    const dump = JSON.parse((await curl([`http://127.0.0.1:${proxy.admin}/config`])).body);
    return dump.connections.httpSessions === 0 ? dump.connections : undefined;
  });
  expect(sessions.tcpPipes).toBe(0);
  const ok = await curl(['-H', 'Host: web', `http://127.0.0.1:${proxy.outbound}/echo`]);
  expect(ok.status).toBe(200);
  expect(proxy.proc.exitCode).toBeNull();
}, 120_000);
