// Http1Session (proxy-image/src/forward/http1-session.ts) on real loopback sockets, with a router whose plan
// throws: a bug in the proxy's own code, reached from a timer rather than from a socket event, must cost that
// connection only (counted as an internal error), never the process.
import net from 'node:net';
import { afterAll, expect, test } from '@jest/globals';
import { type Http1Context, Http1Session } from '../../../proxy-image/src/forward/http1-session.ts';
import { UpstreamPool } from '../../../proxy-image/src/forward/upstream.ts';
import { listenLoopback } from './harness.ts';

const servers: net.Server[] = [];
const sockets: net.Socket[] = [];
afterAll(() => {
  for (const s of sockets) s.destroy();
  for (const s of servers) s.close();
});

test.each([
  ['the route timeout', { timeoutMs: 50, attemptTimeoutMs: null }],
  ['the per-try timeout', { timeoutMs: null, attemptTimeoutMs: 50 }],
])(
  'a plan that throws when %s fires: the connection is cut and counted, the process lives on',
  async (_name, t) => {
    // An upstream that accepts and never answers.
    const silent = net.createServer((s) => sockets.push(s));
    servers.push(silent);
    const upstreamPort = await listenLoopback(silent);
    const bugs: unknown[] = [];
    const pool = new UpstreamPool({ connectTimeoutMs: 1000, idleTimeoutMs: 5000, maxIdlePerKey: 4 }, null);
    const ctx: Http1Context = {
      pool,
      limits: { maxHeaderBytes: 8192, maxHeaderCount: 100 },
      headersTimeoutMs: 5000,
      idleTimeoutMs: 5000,
      inbound: false,
      clientId: null,
      defaultAuthority: 'x',
      maxReplayBytes: 0,
      route: () => ({
        kind: 'forward',
        target: {
          key: `127.0.0.1:${upstreamPort}`,
          address: '127.0.0.1',
          port: upstreamPort,
          identity: null,
          alpn: '',
        },
        timeoutMs: t.timeoutMs,
        tunnelOpened: () => undefined,
        tunnelClosed: () => undefined,
        retry: () => null,
        attemptDone: () => {
          throw new Error('a bug in the plan');
        },
        done: () => {
          throw new Error('a bug in the plan');
        },
        attemptTimeoutMs: () => t.attemptTimeoutMs,
      }),
      onProtocolError: () => undefined,
      onInternalError: (err) => bugs.push(err),
      onClose: () => undefined,
      inboundTunnels: null,
    };
    const proxy = net.createServer(
      { allowHalfOpen: true, pauseOnConnect: true },
      (s) => new Http1Session(s, ctx, null),
    );
    servers.push(proxy);
    const port = await listenLoopback(proxy);
    const closed = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => c.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n'));
      c.on('data', () => undefined);
      c.on('error', () => undefined);
      c.on('close', () => resolve(true));
      setTimeout(() => resolve(false), 3000);
    });
    expect(closed).toBe(true);
    expect(bugs.map((e) => (e as Error).message)).toEqual(['a bug in the plan']);
  },
);
