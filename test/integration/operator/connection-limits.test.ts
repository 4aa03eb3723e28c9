// The control-plane port's connection limits (operator/src/server.ts, ConnectionLimits) on real TLS sockets on
// loopback, in this process: past the total or the per-address limit a connection is closed at once, before its
// handshake, and counted; a connection that closes frees its slot. Small limits stand in for the defaults.
// Linux routes all of 127.0.0.0/8 to loopback, so 127.0.0.2 and 127.0.0.3 are other source addresses.
import * as https from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { afterEach, expect, test } from '@jest/globals';
import { pino } from 'pino';
import { CERTIFICATES_PATH, CONFIG_PATH, CONFIG_STREAM_UPGRADE } from '../../../crds/control-plane/types.ts';
import { ConfigHub } from '../../../operator/src/distribution/hub.ts';
import { loopbackServingCert, testAuthority } from '../../../operator/src/identity/testing.ts';
import { OperatorMetrics } from '../../../operator/src/metrics.ts';
import {
  type ConnectionLimits,
  createControlPlaneServer,
  DEFAULT_CONNECTION_LIMITS,
  maxConnectionsForMemory,
  streamReserve,
} from '../../../operator/src/server.ts';
import { waitFor } from '../sockets.ts';

const TD = 'cluster.local';
const { ca } = testAuthority(TD);

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

/** A control-plane server with these limits on loopback; its port and metrics. */
async function serve(limits: ConnectionLimits) {
  const metrics = new OperatorMetrics();
  const hub = new ConfigHub();
  const srv = createControlPlaneServer({
    ca,
    serving: loopbackServingCert(ca, TD),
    hub,
    pod: () => undefined,
    reviewToken: () => Promise.reject(new Error('not used')),
    metrics,
    log: pino({ level: 'silent' }),
    // Long, so that a connection closed within the test was closed by a limit, not by a timeout.
    timeouts: { handshakeMs: 60_000, headersMs: 60_000 },
    limits,
  });
  await srv.listen(0, 0, '127.0.0.1');
  const clients: Socket[] = [];
  cleanup.push(async () => {
    for (const c of clients) c.destroy();
    hub.close();
    await srv.close();
  });
  const port = srv.ports.tls;
  /**
   * What became of a client connection: 'open' once `opened` is emitted, 'refused' if it is closed before, 'held'
   * if neither has happened within 2 s (a refusal is at once; this fails a test expecting one with a clear value).
   */
  const outcome = <S extends Socket>(socket: S, opened: string) =>
    new Promise<{ outcome: 'open' | 'refused' | 'held'; socket: S }>((resolve) => {
      clients.push(socket);
      socket.on('error', () => undefined);
      const held = setTimeout(() => resolve({ outcome: 'held', socket }), 2_000);
      socket.once(opened, () => {
        clearTimeout(held);
        resolve({ outcome: 'open', socket });
      });
      socket.once('close', () => {
        clearTimeout(held);
        resolve({ outcome: 'refused', socket });
      });
    });
  /** A TLS connection from `from`: open once its handshake is done. */
  const connect = (from = '127.0.0.1') =>
    outcome(
      tlsConnect({
        // tls.connect takes no source address of its own: the TCP connection is made with one.
        socket: netConnect({ host: '127.0.0.1', port, localAddress: from }),
        ca: ca.trustAnchorsPem,
        checkServerIdentity: () => undefined,
      }),
      'secureConnect',
    );
  /** A connection to the sealed config-stream port from `from`: open once the server's challenge arrives (it is
   * sent as the connection is admitted). */
  const connectSealed = (from = '127.0.0.1') =>
    outcome(netConnect({ host: '127.0.0.1', port: srv.ports.sealed, localAddress: from }), 'data');
  const closed = (socket: Socket) =>
    new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.destroy();
    });
  const refused = async () =>
    Object.fromEntries((await metrics.connectionsRefused.get()).values.map((v) => [v.labels.limit, v.value]));
  const open = async () => (await metrics.connections.get()).values[0]?.value;
  /** Until the server has seen `n` connections open (a client's close reaches it a moment later). */
  const openAt = (n: number) =>
    waitFor(
      `the server to see ${n} connections open`,
      async () => ((await open()) === n ? n : undefined),
      3_000,
    );
  return { port, connect, connectSealed, closed, refused, openAt };
}

test('past the per-address limit a connection from that address is refused at once and counted; other addresses are not; a closed connection frees its slot', async () => {
  const s = await serve({ maxConnections: 100, maxConnectionsPerAddress: 2 });
  const a = [await s.connect(), await s.connect()];
  expect(a.map((c) => c.outcome)).toEqual(['open', 'open']);
  // Before: a third (and a ten-thousandth) connection from one pod was held like the others.
  expect((await s.connect()).outcome).toBe('refused');
  expect((await s.connect('127.0.0.2')).outcome).toBe('open');
  expect(await s.refused()).toEqual({ per_address: 1 });
  expect(await s.openAt(3)).toBe(3);
  await s.closed(a[0]!.socket);
  expect(await s.openAt(2)).toBe(2);
  expect((await s.connect()).outcome).toBe('open');
  expect(await s.refused()).toEqual({ per_address: 1 });
  expect(await s.openAt(3)).toBe(3);
});

test('past the total limit every new connection is refused at once and counted; a closed connection frees its slot; accepted ones are served', async () => {
  const s = await serve({ maxConnections: 3, maxConnectionsPerAddress: 100 });
  const held = [await s.connect('127.0.0.1'), await s.connect('127.0.0.2'), await s.connect('127.0.0.3')];
  expect(held.map((c) => c.outcome)).toEqual(['open', 'open', 'open']);
  expect((await s.connect('127.0.0.1')).outcome).toBe('refused');
  expect((await s.connect('127.0.0.4')).outcome).toBe('refused');
  expect(await s.refused()).toEqual({ total: 2 });
  expect(await s.openAt(3)).toBe(3);
  await s.closed(held[1]!.socket);
  expect(await s.openAt(2)).toBe(2);
  // The freed slot serves a request (a certificate request without a token: 401 Unauthenticated).
  const status = await new Promise<number | undefined>((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1',
      port: s.port,
      method: 'POST',
      path: CERTIFICATES_PATH,
      ca: ca.trustAnchorsPem,
      checkServerIdentity: () => undefined,
      agent: false,
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', reject);
    req.end('{}');
  });
  expect(status).toBe(401);
  expect(await s.refused()).toEqual({ total: 2 });
});

test('both ports share the limits: a connection to the sealed stream port counts a quarter of a TLS one in the total, one in the per-address count', async () => {
  // A total of 2 TLS connections: 8 sealed ones, or 1 TLS and 4 sealed.
  const s = await serve({ maxConnections: 2, maxConnectionsPerAddress: 100 });
  const tls = await s.connect('127.0.0.1');
  const sealed = [];
  for (let i = 0; i < 4; i++) sealed.push(await s.connectSealed(`127.0.0.${i + 2}`));
  expect([tls, ...sealed].map((c) => c.outcome)).toEqual(['open', 'open', 'open', 'open', 'open']);
  expect((await s.connectSealed('127.0.0.9')).outcome).toBe('refused');
  expect((await s.connect('127.0.0.9')).outcome).toBe('refused');
  expect(await s.refused()).toEqual({ total: 2 });
  // A sealed connection closed frees room for one sealed connection, not for a TLS one.
  await s.closed(sealed[0]!.socket);
  expect(await s.openAt(4)).toBe(4);
  expect((await s.connect('127.0.0.9')).outcome).toBe('refused');
  expect((await s.connectSealed('127.0.0.9')).outcome).toBe('open');
  // The TLS connection closed frees room for four sealed ones.
  await s.closed(tls.socket);
  expect(await s.openAt(4)).toBe(4);
  for (let i = 0; i < 4; i++) expect((await s.connectSealed(`127.0.1.${i + 1}`)).outcome).toBe('open');
  expect((await s.connectSealed('127.0.1.9')).outcome).toBe('refused');

  const p = await serve({ maxConnections: 100, maxConnectionsPerAddress: 2 });
  expect((await p.connect()).outcome).toBe('open');
  expect((await p.connectSealed()).outcome).toBe('open');
  expect((await p.connectSealed()).outcome).toBe('refused');
  expect((await p.connect()).outcome).toBe('refused');
  expect(await p.refused()).toEqual({ per_address: 2 });
});

test('config streams leave connections for certificate requests: past the total minus the reserve an upgrade gets 503, a certificate request still its answer', async () => {
  // 20 in total, 16 kept: a stream is taken while at most 4 connections are open.
  expect(streamReserve(20)).toBe(16);
  const s = await serve({ maxConnections: 20, maxConnectionsPerAddress: 100 });
  const held = [await s.connect(), await s.connect(), await s.connect(), await s.connect()];
  expect(held.map((c) => c.outcome)).toEqual(['open', 'open', 'open', 'open']);
  const ask = (socket: TLSSocket, request: string) =>
    new Promise<string>((resolve) => {
      let got = '';
      socket.on('data', (d: Buffer) => {
        got += d.toString();
      });
      socket.once('close', () => resolve(got));
      socket.write(request);
    });
  // The fifth: its upgrade is refused before any authentication (a stream could not be held anyway).
  const fifth = await s.connect();
  const upgrade = await ask(
    fifth.socket,
    `GET ${CONFIG_PATH} HTTP/1.1\r\nhost: operator\r\nconnection: Upgrade\r\nupgrade: ${CONFIG_STREAM_UPGRADE}\r\n\r\n`,
  );
  expect(upgrade).toMatch(/^HTTP\/1\.1 503 /);
  expect(upgrade).toContain('kept for certificate requests');
  expect(await s.refused()).toEqual({ streams: 1 });
  // A certificate request on a sixth connection is served (401: no token), not refused.
  const sixth = await s.connect();
  const cert = await ask(
    sixth.socket,
    `POST ${CERTIFICATES_PATH} HTTP/1.1\r\nhost: operator\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}`,
  );
  expect(cert).toMatch(/^HTTP\/1\.1 401 /);
});

test('the default total follows the container memory limit: what fits beside the operator, 1,000 to 20,000', () => {
  const MiB = 1024 * 1024;
  // The shipped Deployment: 512Mi, 256 MiB for the operator, 100 KB per connection.
  expect(maxConnectionsForMemory(512 * MiB)).toBe(2621);
  expect(maxConnectionsForMemory(2048 * MiB)).toBe(18350);
  // A small limit still serves a small mesh; a large one stops at the default.
  expect(maxConnectionsForMemory(128 * MiB)).toBe(1000);
  expect(maxConnectionsForMemory(64 * 1024 * MiB)).toBe(DEFAULT_CONNECTION_LIMITS.maxConnections);
  // No limit: Node reports 0 or 2^64 - 1.
  expect(maxConnectionsForMemory(0)).toBe(DEFAULT_CONNECTION_LIMITS.maxConnections);
  expect(maxConnectionsForMemory(2 ** 64)).toBe(DEFAULT_CONNECTION_LIMITS.maxConnections);
});
