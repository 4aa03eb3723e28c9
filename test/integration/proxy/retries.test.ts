// Retries on the wire, HTTP/2 and gRPC next to HTTP/1: what is retried (a 5xx, a trailers-only gRPC
// UNAVAILABLE, a connect failure, a per-try timeout), with the request body replayed byte-exact; what is
// never retried (POST without retryNonIdempotent, a body over maxBufferedBodyBytes, a response already on its
// way to the client, other gRPC codes); and the retry budget, which caps retries per service across
// requests. The apps count what they received: that is what a retry costs them.

import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { loadEchoService } from '../../apps/testapp/src/grpc-echo.ts';
import { startTestApp, type TestApp } from '../../apps/testapp/src/test-app.ts';
import {
  curl,
  listenLoopback,
  metric,
  type ProxyProcess,
  proxyConfig,
  removeTmpDirs,
  type ServiceSpec,
  startProxyProcess,
} from './harness.ts';

/** An h2c app that records every request it receives (path, method, body, trailers). */
interface H2App {
  readonly port: number;
  readonly received: {
    path: string;
    method: string;
    body: Buffer;
    trailers: http2.IncomingHttpHeaders | null;
  }[];
  close(): Promise<void>;
}

async function startH2App(): Promise<H2App> {
  const received: H2App['received'] = [];
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const path = String(headers[':path']);
    const method = String(headers[':method']);
    const chunks: Buffer[] = [];
    let trailers: http2.IncomingHttpHeaders | null = null;
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('trailers', (t) => {
      trailers = t;
    });
    stream.on('error', () => undefined);
    stream.on('end', () => {
      const body = Buffer.concat(chunks);
      received.push({ path, method, body, trailers });
      const seen = received.filter((r) => r.path === path).length;
      if (path.startsWith('/status/')) {
        stream.respond({ ':status': Number(path.slice('/status/'.length)) });
        stream.end('status');
      } else if (path.startsWith('/fail-twice/')) {
        if (seen <= 2) {
          stream.respond({ ':status': 503 });
          stream.end('not yet');
        } else {
          stream.respond({ ':status': 200 });
          stream.end(body);
        }
      } else if (path.startsWith('/delay/')) {
        const t = setTimeout(
          () => {
            if (stream.destroyed) return;
            stream.respond({ ':status': 200 });
            stream.end('late');
          },
          Number(path.slice('/delay/'.length)),
        );
        stream.on('close', () => clearTimeout(t));
      } else if (path === '/reset-after-headers') {
        stream.respond({ ':status': 200 });
        stream.write('partial');
        // destroy() resets at once (RST_STREAM INTERNAL_ERROR); close(code) would end the body cleanly first.
        setTimeout(() => stream.destroy(new Error('reset by the test app')), 50);
      } else {
        stream.respond({ ':status': 200 });
        stream.end(body);
      }
    });
  });
  const port = await listenLoopback(server);
  return {
    port,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sessions) s.destroy();
      }),
  };
}
const sessions: http2.Http2Session[] = [];

interface H2Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  /** The RST_STREAM code the stream ended with, or null when it ended cleanly. */
  reset: string | null;
}

/** One HTTP/2 request (prior knowledge) to 127.0.0.1:port with this :authority (and request trailers). */
function h2(
  port: number,
  authority: string,
  method: string,
  path: string,
  body?: Buffer,
  trailers?: http2.OutgoingHttpHeaders,
): Promise<H2Answer> {
  return new Promise((resolve) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    sessions.push(session);
    session.on('error', () => undefined);
    const req = session.request(
      { ':method': method, ':path': path, ':authority': authority },
      { endStream: body === undefined && trailers === undefined, waitForTrailers: trailers !== undefined },
    );
    if (trailers !== undefined) req.on('wantTrailers', () => req.sendTrailers(trailers));
    let status = 0;
    let headers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('close', () => {
      session.close();
      resolve({
        status,
        headers,
        body: Buffer.concat(chunks),
        reset: req.rstCode === 0 ? null : String(req.rstCode),
      });
    });
    req.on('response', (h) => {
      headers = h;
      status = Number(h[':status']);
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => undefined);
    if (body !== undefined) req.end(body);
    else if (trailers !== undefined) req.end();
  });
}

const fast = { baseMs: 1, maxMs: 5, jitter: 0 };

let app: H2App;
let echoApp: TestApp;
let deadPort: number;
let proxy: ProxyProcess;

/** weft_retries_total of one destination service and result. */
const retries = (p: ProxyProcess, service: string, result: string) =>
  metric(p, 'weft_retries_total', { dst_service: service, result });

const count = (path: string) => app.received.filter((r) => r.path === path).length;

beforeAll(async () => {
  app = await startH2App();
  echoApp = await startTestApp({ logLevel: 'silent' });
  const s = net.createServer();
  deadPort = await listenLoopback(s);
  await new Promise((r) => s.close(r));
  const h2Ep = { address: '127.0.0.1', port: app.port, identity: null };
  const grpcEp = { address: '127.0.0.1', port: echoApp.grpcPort, identity: null };
  const retryAll = {
    maxRetries: 2,
    retryOn: ['gateway-error', 'reset', 'connect-failure'],
    backoff: fast,
  };
  const services: ServiceSpec[] = [
    {
      name: 'h2-retry',
      clusterIP: '10.96.2.1',
      port: 80,
      endpoints: [h2Ep],
      routes: [
        {
          name: 'slow',
          matches: [{ pathRegex: '/delay/' }],
          retry: { maxRetries: 1, retryOn: ['gateway-error'], perTryTimeoutMs: 150, backoff: fast },
        },
      ],
      defaultRoute: { retry: retryAll },
    },
    {
      name: 'h2-flaky',
      clusterIP: '10.96.2.2',
      port: 80,
      endpoints: [{ address: '127.0.0.1', port: deadPort, identity: null }, h2Ep],
      defaultRoute: { retry: retryAll },
    },
    {
      name: 'grpc-retry',
      clusterIP: '10.96.2.3',
      port: 8081,
      protocol: 'grpc',
      endpoints: [grpcEp],
      defaultRoute: {
        retry: { maxRetries: 2, retryOn: ['grpc-unavailable'], retryNonIdempotent: true, backoff: fast },
      },
    },
    {
      name: 'grpc-noretry',
      clusterIP: '10.96.2.4',
      port: 8081,
      protocol: 'grpc',
      endpoints: [grpcEp],
      defaultRoute: { retry: { maxRetries: 2, retryOn: ['grpc-unavailable'], backoff: fast } },
    },
  ];
  proxy = await startProxyProcess({
    config: proxyConfig({ version: 'r1', sa: 'client', trustAnchors: [], services }),
    outboundDst: '10.96.2.1:80',
  });
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([app?.close(), echoApp?.close()]);
  removeTmpDirs();
}, 30_000);

describe('HTTP/2', () => {
  test('a 503 is retried up to maxRetries, each attempt with the whole body, then returned', async () => {
    const body = Buffer.from('replay-me '.repeat(1000));
    const r = await h2(proxy.outbound, 'h2-retry', 'PUT', '/status/503', body);
    expect(r.status).toBe(503);
    expect(r.body.toString()).toBe('status');
    const got = app.received.filter((x) => x.path === '/status/503');
    expect(got.map((x) => x.method)).toEqual(['PUT', 'PUT', 'PUT']);
    for (const x of got) expect(x.body.equals(body)).toBe(true);
    expect(await retries(proxy, 'h2-retry', 'retried')).toBe(2);
  });

  test('a request that fails twice gets the third attempt’s answer, body intact', async () => {
    const body = Buffer.from([0, 1, 2, 255, 13, 10, 0]);
    const r = await h2(proxy.outbound, 'h2-retry', 'PUT', '/fail-twice/a', body);
    expect(r.status).toBe(200);
    expect(r.body.equals(body)).toBe(true);
    expect(count('/fail-twice/a')).toBe(3);
  });

  test('request trailers are sent again with every replay, after the body or with none', async () => {
    const body = Buffer.from('checked '.repeat(100));
    const r = await h2(proxy.outbound, 'h2-retry', 'PUT', '/fail-twice/trailers', body, {
      'x-checksum': 'abc123',
    });
    expect(r.status).toBe(200);
    expect(r.body.equals(body)).toBe(true);
    const got = app.received.filter((x) => x.path === '/fail-twice/trailers');
    expect(got).toHaveLength(3);
    for (const x of got) {
      expect(x.body.equals(body)).toBe(true);
      expect(x.trailers?.['x-checksum']).toBe('abc123');
    }
    // No body at all: HEADERS, then the trailers (HEADERS with END_STREAM), on every attempt.
    const empty = await h2(proxy.outbound, 'h2-retry', 'PUT', '/fail-twice/trailers-only', undefined, {
      'x-checksum': 'none',
    });
    expect(empty.status).toBe(200);
    const bare = app.received.filter((x) => x.path === '/fail-twice/trailers-only');
    expect(bare.map((x) => [x.body.length, x.trailers?.['x-checksum']])).toEqual([
      [0, 'none'],
      [0, 'none'],
      [0, 'none'],
    ]);
  });

  test('POST is not retried without retryNonIdempotent', async () => {
    const r = await h2(proxy.outbound, 'h2-retry', 'POST', '/status/502', Buffer.from('once'));
    expect(r.status).toBe(502);
    expect(count('/status/502')).toBe(1);
  });

  test('a body over maxBufferedBodyBytes (64 KiB) streams through once and is not retried', async () => {
    const body = Buffer.alloc(100_000, 7);
    const r = await h2(proxy.outbound, 'h2-retry', 'PUT', '/status/504', body);
    expect(r.status).toBe(504);
    const got = app.received.filter((x) => x.path === '/status/504');
    expect(got).toHaveLength(1);
    expect(got[0]!.body.equals(body)).toBe(true);
  });

  test('a stream reset after the response started reaches the client as a reset and is not retried', async () => {
    const r = await h2(proxy.outbound, 'h2-retry', 'GET', '/reset-after-headers');
    expect(r.status).toBe(200);
    expect(r.reset).not.toBeNull();
    expect(count('/reset-after-headers')).toBe(1);
  });

  test('a per-try timeout fails the attempt (504) and the retry policy sends one more', async () => {
    const r = await h2(proxy.outbound, 'h2-retry', 'GET', '/delay/3000');
    expect(r.status).toBe(504);
    expect(r.headers['x-weft-reason']).toBe('timeout');
    expect(count('/delay/3000')).toBe(2);
  });

  test('connect failures are retried on the other endpoint', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++)
      statuses.push((await h2(proxy.outbound, 'h2-flaky', 'GET', `/ok/${i}`)).status);
    expect(statuses).toEqual(Array(20).fill(200));
  });
});

describe('gRPC through @grpc/grpc-js', () => {
  // biome-ignore lint/suspicious/noExplicitAny: generated gRPC client
  const clients: any[] = [];
  const call = (service: string, statusCode: number) => {
    const { Client } = loadEchoService();
    // biome-ignore lint/suspicious/noExplicitAny: generated gRPC client
    const c: any = new Client(`127.0.0.1:${proxy.outbound}`, credentials.createInsecure(), {
      'grpc.default_authority': `${service}.test.svc.cluster.local:8081`,
    });
    clients.push(c);
    return new Promise<number>((resolve) =>
      c.Unary({ message: 'm', statusCode }, new Metadata(), (err: ServiceError | null) =>
        resolve(err?.code ?? 0),
      ),
    );
  };
  const unaryCount = async () =>
    JSON.parse((await curl([`http://127.0.0.1:${echoApp.httpPort}/counters`])).body).grpc.unary as number;
  afterAll(() => {
    for (const c of clients) c.close();
  });

  test('UNAVAILABLE is retried (trailers-only) when the route allows it; other codes are not', async () => {
    const before = await unaryCount();
    expect(await call('grpc-retry', 14)).toBe(14);
    expect((await unaryCount()) - before).toBe(3);
    expect(await call('grpc-retry', 7)).toBe(7);
    expect((await unaryCount()) - before).toBe(4);
    expect(await call('grpc-retry', 0)).toBe(0);
    expect((await unaryCount()) - before).toBe(5);
  });

  test('without retryNonIdempotent a gRPC call (a POST) is not retried', async () => {
    const before = await unaryCount();
    expect(await call('grpc-noretry', 14)).toBe(14);
    expect((await unaryCount()) - before).toBe(1);
  });
});

describe('retry budget', () => {
  // A reserve of 5 retries over the window and no share of requests: whatever the traffic, 5 retries.
  let budgeted: ProxyProcess;
  let h1App: TestApp;

  beforeAll(async () => {
    h1App = await startTestApp({ logLevel: 'silent' });
    const retry = { maxRetries: 2, retryOn: ['gateway-error'], backoff: fast };
    budgeted = await startProxyProcess({
      config: proxyConfig({
        version: 'b1',
        sa: 'client',
        trustAnchors: [],
        retryBudget: { retryRatio: 0, minRetriesPerSecond: 1, windowMs: 5000 },
        // Every attempt fails here: the circuit breaker (7 in a row by default) would stop them first.
        circuitBreaker: { consecutiveFailures: 1000 },
        services: [
          {
            name: 'budget-h1',
            clusterIP: '10.96.2.10',
            port: 80,
            endpoints: [{ address: '127.0.0.1', port: h1App.httpPort, identity: null }],
            defaultRoute: { retry },
          },
          {
            name: 'budget-h2',
            clusterIP: '10.96.2.11',
            port: 80,
            endpoints: [{ address: '127.0.0.1', port: app.port, identity: null }],
            defaultRoute: { retry },
          },
        ],
      }),
      outboundDst: '10.96.2.10:80',
    });
  }, 30_000);

  afterAll(async () => {
    await budgeted?.stop();
    await h1App?.close();
  });

  const remaining = async (service: string): Promise<number> => {
    const dump = JSON.parse((await curl([`http://127.0.0.1:${budgeted.admin}/config`])).body);
    return dump.tables.services.find((s: { authority: string }) => s.authority.startsWith(`${service}.`))
      .retryBudgetRemaining;
  };

  test('HTTP/1: four failing requests get 2 + 2 + 1 + 0 retries', async () => {
    expect(await remaining('budget-h1')).toBe(5);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 4; i++) {
      const status = await new Promise<number>((resolve, reject) =>
        http
          .get(
            {
              host: '127.0.0.1',
              port: budgeted.outbound,
              path: '/status/503',
              agent,
              headers: { host: 'budget-h1' },
            },
            (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode ?? 0));
            },
          )
          .on('error', reject),
      );
      expect(status).toBe(503);
    }
    agent.destroy();
    const counters = JSON.parse((await curl([`http://127.0.0.1:${h1App.httpPort}/counters`])).body);
    expect(counters.received.byPath['/status/503']).toBe(4 + 5);
    expect(await remaining('budget-h1')).toBe(0);
    // The third request's second failure and the fourth request's first were refused by the budget.
    expect(await retries(budgeted, 'budget-h1', 'retried')).toBe(5);
    expect(await retries(budgeted, 'budget-h1', 'budget-exhausted')).toBe(2);
  });

  test('HTTP/2: the same budget, kept per service', async () => {
    expect(await remaining('budget-h2')).toBe(5);
    const before = count('/status/500');
    for (let i = 0; i < 4; i++)
      expect((await h2(budgeted.outbound, 'budget-h2', 'GET', '/status/500')).status).toBe(500);
    // 500 is not a gateway error: nothing retried, nothing withdrawn.
    expect(count('/status/500') - before).toBe(4);
    expect(await remaining('budget-h2')).toBe(5);
    const before503 = count('/status/503');
    for (let i = 0; i < 4; i++)
      expect((await h2(budgeted.outbound, 'budget-h2', 'GET', '/status/503')).status).toBe(503);
    expect(count('/status/503') - before503).toBe(4 + 5);
    expect(await remaining('budget-h2')).toBe(0);
    expect(await retries(budgeted, 'budget-h2', 'retried')).toBe(5);
    expect(await retries(budgeted, 'budget-h2', 'budget-exhausted')).toBe(2);
  });
});
