// The sealed config stream (crds/control-plane/README.md, section 3) between the operator's control-plane server
// and the proxy's control-plane client, on real sockets on loopback in this process: a ticket over mTLS, then the
// stream on plain TCP. What a proxy gets, what travels on the wire, and what the operator does with connections
// that do not play by the contract: each is closed, counted by reason, and costs no other stream anything.
// (The TokenReview is a function that approves the pod's token; test/e2e/operator runs the apiserver's.)
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { pino } from 'pino';
import {
  challengeOf,
  exportSealedMaterial,
  FrameOpener,
  FrameSealer,
  helloFor,
  SERVER_HELLO_BYTES,
  type StreamKeys,
  streamKeys,
} from '../../../crds/control-plane/sealed.ts';
import { CONFIG_TICKETS_PATH } from '../../../crds/control-plane/types.ts';
import { ProxyConfigCompiler } from '../../../operator/src/compiler/compile.ts';
import { manyServices, pod, put, rootSplit, snapshot } from '../../../operator/src/compiler/fixtures.ts';
import { ConfigHub } from '../../../operator/src/distribution/hub.ts';
import { keyToPem, spiffeIdFor } from '../../../operator/src/identity/index.ts';
import {
  loopbackServingCert,
  podTokenReview,
  testAuthority,
} from '../../../operator/src/identity/testing.ts';
import { OperatorMetrics } from '../../../operator/src/metrics.ts';
import {
  type ControlPlaneDeps,
  type ControlPlaneServers,
  createControlPlaneServer,
} from '../../../operator/src/server.ts';
import { ControlPlaneClient } from '../../../proxy-image/src/control/client.ts';
import { closedWithin, waitFor } from '../sockets.ts';

const TD = 'cluster.local';
const { ca } = testAuthority(TD);
const OPERATOR_ID = spiffeIdFor(TD, 'weft', 'weft-operator');
const LEAF_MS = 24 * 3600 * 1000;
const HELLO_MS = 1_500;

const s = snapshot();
manyServices(s, 'shop', 40);
put(s.pods, pod('shop', 'frontend-1', 'frontend', '10.250.0.1'));
put(s.pods, pod('shop', 'frontend-2', 'frontend', '10.250.0.2'));
const compiler = new ProxyConfigCompiler();
const weights = (w: number) => {
  rootSplit(s, 'shop', w);
  return compiler.compile(s).proxies;
};

const hub = new ConfigHub({ writeTimeoutMs: 60_000, pingIntervalMs: 60_000 });
const metrics = new OperatorMetrics();
let cp: ControlPlaneServers;
let dir = '';

/** A control-plane server for shop/frontend-1 over `hub`, whose TokenReview approves that pod's token. */
function controlPlane(m: OperatorMetrics, timeouts?: ControlPlaneDeps['timeouts']): ControlPlaneServers {
  return createControlPlaneServer({
    ca,
    serving: loopbackServingCert(ca, TD),
    hub,
    pod: (key) => s.pods.get(key),
    reviewToken: async () => podTokenReview('shop', 'frontend', 'frontend-1'),
    metrics: m,
    log: pino({ level: 'silent' }),
    ...(timeouts === undefined ? {} : { timeouts }),
  });
}

/** The proxy's control-plane client, as shop/frontend-1's proxy runs it, against the server on `tlsPort`. */
function proxyClient(tlsPort: number): ControlPlaneClient {
  return new ControlPlaneClient({
    address: `127.0.0.1:${tlsPort}`,
    serverIdentity: OPERATOR_ID,
    trustAnchorsPem: ca.trustAnchorsPem.join(''),
    tokenPath: join(dir, 'token'),
    pod: { namespace: 'shop', name: 'frontend-1' },
    spiffeId: spiffeIdFor(TD, 'shop', 'frontend'),
    logger: pino({ level: 'silent' }),
  });
}

beforeAll(async () => {
  hub.publish(weights(50));
  cp = controlPlane(metrics, { handshakeMs: HELLO_MS, headersMs: 10_000 });
  await cp.listen(0, 0, '127.0.0.1');
  dir = mkdtempSync(join(tmpdir(), 'weft-sealed-'));
  writeFileSync(join(dir, 'token'), 'a-projected-token\n');
}, 30_000);

afterAll(async () => {
  hub.close();
  await cp.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A client certificate for shop/frontend that expires `inMs` from now. */
function clientCert(inMs = LEAF_MS - 60_000) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const issued = ca.issueVerified(
    { spki: publicKey.export({ type: 'spki', format: 'der' }), publicKey },
    spiffeIdFor(TD, 'shop', 'frontend'),
    new Date(Date.now() - LEAF_MS + inMs),
  );
  return { key: keyToPem(privateKey), cert: issued.certificateChain };
}

/** POST a ticket request; the status, the parsed body, and the keying material the session exported. */
function requestTicket(
  cert: { key: string; cert: string } | null,
  query = 'pod=shop/frontend-1&accept=patch',
  method = 'POST',
  port = cp.ports.tls,
) {
  return new Promise<{ status: number; body: Record<string, unknown>; exported: Buffer }>(
    (resolve, reject) => {
      const req = https.request({
        host: '127.0.0.1',
        port,
        method,
        path: `${CONFIG_TICKETS_PATH}?${query}`,
        ...(cert ?? {}),
        ca: ca.trustAnchorsPem,
        checkServerIdentity: () => undefined,
        agent: false,
      });
      req.on('response', (res) => {
        const exported = exportSealedMaterial(res.socket as TLSSocket);
        let text = '';
        res.on('data', (d: Buffer) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), exported }));
      });
      req.on('error', reject);
      req.end();
    },
  );
}

async function ticketAndKeys(
  cert = clientCert(),
): Promise<{ ticket: Buffer; keys: StreamKeys; port: number }> {
  const t = await requestTicket(cert);
  expect(t.status).toBe(200);
  const ticket = Buffer.from(t.body.ticket as string, 'base64url');
  return { ticket, keys: streamKeys(t.exported, ticket), port: t.body.port as number };
}

/**
 * A raw connection to the sealed port: `challenge` resolves with the server's challenge; `received` keeps every
 * byte after it.
 */
function rawConnection(allowHalfOpen = false): {
  socket: Socket;
  received: Buffer[];
  challenge: Promise<Buffer>;
} {
  const socket = netConnect({ host: '127.0.0.1', port: cp.ports.sealed, allowHalfOpen });
  const received: Buffer[] = [];
  let head: Buffer | null = Buffer.alloc(0);
  const challenge = new Promise<Buffer>((resolve) => {
    socket.on('data', (d: Buffer) => {
      if (head === null) {
        received.push(d);
        return;
      }
      head = Buffer.concat([head, d]);
      if (head.length < SERVER_HELLO_BYTES) return;
      resolve(challengeOf(head.subarray(0, SERVER_HELLO_BYTES)));
      if (head.length > SERVER_HELLO_BYTES) received.push(head.subarray(SERVER_HELLO_BYTES));
      head = null;
    });
  });
  socket.on('error', () => undefined);
  return { socket, received, challenge };
}

/** A raw connection that answers its challenge with a hello for this ticket and these keys. */
async function helloConnection(ticket: Buffer, keys: StreamKeys, allowHalfOpen = false) {
  const c = rawConnection(allowHalfOpen);
  c.socket.write(helloFor(ticket, keys, await c.challenge));
  return c;
}

const refused = async (reason: string) => {
  const m = /weft_operator_config_stream_hellos_refused_total\{reason="(\w+)"\} (\d+)/g;
  const text = await metrics.registry.metrics();
  for (const x of text.matchAll(m)) if (x[1] === reason) return Number(x[2]);
  return 0;
};

test('the proxy client follows its config over the sealed stream: the full config, then a patch; nothing is held on the TLS port', async () => {
  const client = proxyClient(cp.ports.tls);
  const versions: string[] = [];
  client.on('config', (v) => versions.push(v));
  try {
    await client.start();
    const first = hub.current('shop/frontend-1')!.version;
    await waitFor('the first config', () => (versions.includes(first) ? true : undefined));
    const next = weights(30);
    hub.publish(next);
    const second = next.get('shop/frontend-1')!.version;
    await waitFor('the changed config', () => (versions.includes(second) ? true : undefined));
    expect(hub.subscriberCount).toBe(1);
    expect(await metrics.registry.metrics()).toMatch(
      /weft_operator_config_streams\{transport="sealed"\} 1\n/,
    );
    // The stream is on the sealed port; the ticket's TLS connection is gone.
    const held = (srv: { getConnections(cb: (e: Error | null, n: number) => void): void }) =>
      new Promise<number>((r) => srv.getConnections((_e, n) => r(n)));
    await waitFor('the ticket connection to close', async () =>
      (await held(cp.tls)) === 0 ? true : undefined,
    );
    expect(await held(cp.sealed)).toBe(1);
  } finally {
    client.stop();
  }
  await waitFor('the subscriber to leave', () => (hub.subscriberCount === 0 ? true : undefined));
}, 30_000);

test('what crosses the wire is sealed: the plaintext is not in it, and it opens only with the ticket keys', async () => {
  const { ticket, keys } = await ticketAndKeys();
  const { socket, received } = await helloConnection(ticket, keys);
  await waitFor('the full config', () => {
    try {
      const text = Buffer.concat(
        new FrameOpener(keys.serverToClient).push(Buffer.concat(received)),
      ).toString();
      return text.endsWith('\n') && text.includes('"type":"config"') ? text : undefined;
    } catch {
      return undefined;
    }
  });
  const wire = Buffer.concat(received);
  expect(wire.includes('"type"')).toBe(false);
  expect(wire.includes('svc0')).toBe(false);
  expect(() => new FrameOpener(keys.clientToServer).push(wire)).toThrow(/failed authentication/);
  // The ticket was single use.
  const again = await helloConnection(ticket, keys);
  expect(await closedWithin(again.socket, 'a second use of the ticket')).toBe('closed');
  expect(again.received).toHaveLength(0);
  socket.destroy();
}, 30_000);

test('hostile or broken connections to the sealed port are closed without an answer and counted by reason', async () => {
  const before = {
    malformed: await refused('malformed'),
    unknown: await refused('unknown_ticket'),
    forged: await refused('forged'),
    timeout: await refused('timeout'),
    extra: await refused('extra_bytes'),
  };
  const started = Date.now();
  // An HTTP request (60 bytes of it) is not a hello.
  const http = rawConnection();
  http.socket.write(
    'GET / HTTP/1.1\r\nHost: operator\r\nAccept: */*\r\nUser-Agent: curl/8.0\r\n'.slice(0, 60),
  );
  // A well-formed hello naming a ticket nobody issued.
  const made = await helloConnection(randomBytes(16), streamKeys(randomBytes(64), randomBytes(16)));
  // A real ticket (seen on the wire) with a hello sealed under other keys: refused, and the ticket stays usable.
  const real = await ticketAndKeys();
  const forged = await helloConnection(real.ticket, streamKeys(randomBytes(64), real.ticket));
  // The real hello, seen on the wire and copied onto another connection (another challenge): refused too.
  const watched = rawConnection();
  const copy = rawConnection();
  copy.socket.write(helloFor(real.ticket, real.keys, await watched.challenge));
  await copy.challenge;
  // Nothing at all, and a byte every 300 ms: both closed at the hello deadline.
  const silent = rawConnection();
  const drip = rawConnection();
  const dripper = setInterval(() => drip.socket.write('x'), 300);
  // A hello with more after it.
  const extra = await ticketAndKeys();
  const chatty = rawConnection();
  chatty.socket.write(
    Buffer.concat([helloFor(extra.ticket, extra.keys, await chatty.challenge), Buffer.from('more')]),
  );
  for (const [c, what] of [
    [http, 'HTTP bytes'],
    [made, 'an unknown ticket'],
    [forged, 'a forged hello'],
    [copy, 'a copied hello'],
    [chatty, 'a hello with extra bytes'],
  ] as const) {
    expect(await closedWithin(c.socket, what)).toBe('closed');
    expect(c.received).toHaveLength(0);
  }
  // The ticket the forger and the copier saw still works for its holder, on its own connection.
  watched.socket.write(helloFor(real.ticket, real.keys, await watched.challenge));
  await waitFor('a config for the real holder', () => (watched.received.length > 0 ? true : undefined));
  watched.socket.destroy();
  try {
    expect(await closedWithin(silent.socket, 'a silent connection', HELLO_MS + 3_000)).toBe('closed');
    expect(await closedWithin(drip.socket, 'a connection that drips bytes', HELLO_MS + 3_000)).toBe('closed');
  } finally {
    clearInterval(dripper);
  }
  // Closed at the deadline counted from the connection, not from its last byte.
  expect(Date.now() - started).toBeLessThan(HELLO_MS + 2_000);
  expect(await refused('malformed')).toBe(before.malformed + 1);
  expect(await refused('unknown_ticket')).toBe(before.unknown + 1);
  expect(await refused('forged')).toBe(before.forged + 2);
  expect(await refused('timeout')).toBe(before.timeout + 2);
  expect(await refused('extra_bytes')).toBe(before.extra + 1);
  // An unused ticket expires with the hello timeout.
  const late = await ticketAndKeys();
  await new Promise((r) => setTimeout(r, HELLO_MS + 200));
  const tooLate = await helloConnection(late.ticket, late.keys);
  expect(await closedWithin(tooLate.socket, 'an expired ticket')).toBe('closed');
  expect(tooLate.received).toHaveLength(0);
}, 30_000);

test('a pod holds at most four unused tickets: a workload that keeps asking is refused, and holds up only itself', async () => {
  // Wait out the tickets earlier tests left unused.
  await new Promise((r) => setTimeout(r, HELLO_MS + 200));
  const cert = clientCert();
  // At once: tickets live only as long as the hello timeout (1.5 s here).
  const answers = await Promise.all(Array.from({ length: 5 }, () => requestTicket(cert)));
  expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 503]);
  expect(answers.find((a) => a.status === 503)!.body.message).toMatch(
    /pod shop\/frontend-1 holds 4 unused stream tickets/,
  );
  // Another pod is not held up, nor another certificate for the same pod (a certificate not bound to a pod may
  // ask for any pod of its ServiceAccount: it must not use up theirs).
  const other = await requestTicket(cert, 'pod=shop/frontend-2&accept=patch');
  expect(other.status).toBe(200);
  const otherCert = await requestTicket(clientCert());
  expect(otherCert.status).toBe(200);
  // Once one is used, the pod may ask again.
  const first = answers.find((a) => a.status === 200)!;
  const ticket = Buffer.from(first.body.ticket as string, 'base64url');
  const c = await helloConnection(ticket, streamKeys(first.exported, ticket));
  await waitFor('the first config', () => (c.received.length > 0 ? true : undefined));
  expect((await requestTicket(cert)).status).toBe(200);
  c.socket.destroy();
}, 30_000);

test('a client that sends after its hello loses the stream; a stream ends when its client certificate expires', async () => {
  // Wait out the tickets the test before left unused (a pod may hold four).
  await new Promise((r) => setTimeout(r, HELLO_MS + 200));
  const a = await ticketAndKeys();
  const talker = await helloConnection(a.ticket, a.keys);
  await waitFor('the first config', () => (talker.received.length > 0 ? true : undefined));
  // Past the hello deadline the stream stays (the deadline was for the hello only).
  await new Promise((r) => setTimeout(r, HELLO_MS + 500));
  expect(talker.socket.closed).toBe(false);
  talker.socket.write(new FrameSealer(a.keys.clientToServer).seal('hi'));
  expect(await closedWithin(talker.socket, 'a stream whose client sent data')).toBe('closed');

  const b = await ticketAndKeys(clientCert(HELLO_MS + 2_500));
  const expiring = await helloConnection(b.ticket, b.keys);
  await waitFor('the first config', () => (expiring.received.length > 0 ? true : undefined));
  await new Promise((r) => setTimeout(r, HELLO_MS + 500));
  expect(expiring.socket.closed).toBe(false);
  expect(await closedWithin(expiring.socket, 'a stream past its certificate', 10_000)).toBe('closed');
}, 30_000);

test('the first frame is a ping, at once, also for a stream resumed at the current version (nothing else to send)', async () => {
  const current = hub.current('shop/frontend-1')!.version;
  const t = await requestTicket(
    clientCert(),
    `pod=shop/frontend-1&accept=patch&since=${encodeURIComponent(current)}`,
  );
  expect(t.status).toBe(200);
  const ticket = Buffer.from(t.body.ticket as string, 'base64url');
  const keys = streamKeys(t.exported, ticket);
  const c = await helloConnection(ticket, keys);
  const started = Date.now();
  const first = await waitFor('a first frame', () => {
    try {
      const frames = new FrameOpener(keys.serverToClient).push(Buffer.concat(c.received));
      return frames.length > 0 ? frames.map(String) : undefined;
    } catch {
      return undefined;
    }
  });
  expect(Date.now() - started).toBeLessThan(2_000);
  expect(first).toEqual(['{"type":"ping"}\n']);
  c.socket.destroy();
}, 30_000);

test('a client that keeps its side open after the stream ended at certificate expiry is cut 10 s later', async () => {
  // Wait out the tickets earlier tests left unused (a pod may hold four).
  await new Promise((r) => setTimeout(r, HELLO_MS + 200));
  const held = () => new Promise<number>((r) => cp.sealed.getConnections((_e, n) => r(n)));
  const t = await ticketAndKeys(clientCert(2_000));
  // Half-open allowed: this client reads the operator's FIN and never closes its own side.
  const c = await helloConnection(t.ticket, t.keys, true);
  const ended = await new Promise<number>((resolve) => c.socket.once('end', () => resolve(Date.now())));
  expect(c.socket.closed).toBe(false);
  // The operator's side: the socket stays until its grace of 10 s (END_GRACE_MS) is over, then goes; without the
  // grace it stayed for good.
  await waitFor(
    'the operator to cut the half-open stream',
    async () => ((await held()) === 0 ? true : undefined),
    15_000,
  );
  expect(Date.now() - ended).toBeGreaterThanOrEqual(9_000);
  c.socket.destroy();
}, 30_000);

test('a ticket needs a mesh certificate for the pod, asked with POST', async () => {
  const none = await requestTicket(null);
  expect(none.status).toBe(401);
  expect(none.body).toMatchObject({ reason: 'Unauthenticated' });
  const missing = await requestTicket(clientCert(), 'pod=shop/nobody');
  expect(missing.status).toBe(403);
  expect(missing.body).toMatchObject({ reason: 'PodNotFound', field: 'query:pod' });
  const get = await requestTicket(clientCert(), 'pod=shop/frontend-1', 'GET');
  expect(get.status).toBe(405);
}, 30_000);

test('with the sealed port off (WEFT_CONFIG_STREAM_PORT=off), a ticket request gets 404 and the proxy follows its stream over TLS at once', async () => {
  const offMetrics = new OperatorMetrics();
  const off = controlPlane(offMetrics);
  await off.listen(0, null, '127.0.0.1');
  const client = proxyClient(off.ports.tls);
  const versions: string[] = [];
  client.on('config', (v) => versions.push(v));
  try {
    expect(off.ports.sealed).toBe(0);
    expect(off.sealed.listening).toBe(false);
    const answer = await requestTicket(clientCert(), undefined, undefined, off.ports.tls);
    expect(answer.status).toBe(404);
    expect(answer.body).toMatchObject({
      reason: 'SealedStreamOff',
      message: expect.stringContaining('serves no sealed config stream'),
    });

    await client.start();
    const first = hub.current('shop/frontend-1')!.version;
    await waitFor('the first config', () => (versions.includes(first) ? true : undefined));
    const gauge = await offMetrics.registry.metrics();
    expect(gauge).toMatch(/weft_operator_config_streams\{transport="tls"\} 1\n/);
    expect(gauge).not.toMatch(/weft_operator_config_streams\{transport="sealed"\} [1-9]/);
  } finally {
    client.stop();
    await off.close();
  }
  await waitFor('the subscriber to leave', () => (hub.subscriberCount === 0 ? true : undefined));
}, 30_000);
