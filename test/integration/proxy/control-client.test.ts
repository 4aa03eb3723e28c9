// The proxy's control-plane client against a control plane on loopback that speaks the contract
// (crds/control-plane) with real mTLS: the certificate flow, then the config stream, and what happens
// when the stream dies in the ways a real operator dies: cut mid-stream (pod deleted), silence (the
// peer's network namespace vanished), and a clean end (graceful shutdown). Each time the client must
// reconnect, resume with `since`, and receive what changed.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { pino } from 'pino';
import {
  exportSealedMaterial,
  FrameSealer,
  HELLO_BYTES,
  helloAuthentic,
  helloTicket,
  type StreamKeys,
  serverHello,
  streamKeys,
} from '../../../crds/control-plane/sealed.ts';
import {
  CONFIG_STREAM_UPGRADE,
  CONFIG_TICKETS_PATH,
  type ErrorReason,
} from '../../../crds/control-plane/types.ts';
import {
  CertificateAuthority,
  generateIssuer,
  generateTrustAnchor,
  verifyCsr,
} from '../../../operator/src/identity/index.ts';
import { opensslCsr } from '../../../operator/src/identity/testing.ts';
import { ControlPlaneClient } from '../../../proxy-image/src/control/client.ts';
import { listenLoopback } from './harness.ts';

const TRUST_DOMAIN = 'cluster.local';
const OPERATOR_ID = `spiffe://${TRUST_DOMAIN}/ns/weft-system/sa/weft-operator`;
const WORKLOAD_ID = `spiffe://${TRUST_DOMAIN}/ns/shop/sa/web`;

type Behaviour =
  | 'hang'
  | 'reset'
  | 'silent'
  | 'end'
  | 'stay'
  | 'patch'
  | 'bad-patch'
  // Sealed only: the ticket answer comes after the client's request timeout; the ticket names a closed port.
  | 'late-ticket'
  | 'dead-port'
  | 'mute-port';
/** A port nothing listens on (a listener opened and closed in beforeAll). */
let deadPort = 0;
/** A port whose listener accepts and never says anything (a sealed port that never sends its challenge). */
let mutePort = 0;
let muteServer: NetServer;
let server: https.Server;
let port = 0;
let anchorsPem = '';
let dir = '';
/** What the next config connection does after sending its snapshot. */
const plan: Behaviour[] = [];
/** The `since` each config connection asked with. */
const resumes: (string | null)[] = [];
const accepts: (string | null)[] = [];
let version = 1;
const sockets = new Set<Socket>();

/** How the stream's bytes leave: a chunked 200 response, or a socket taken over by 101 Upgrade. */
interface StreamOut {
  write(line: string): void;
  end(): void;
  cut(): void;
}

/** Config connections whose socket is still open (a stopped client must close its stream). */
let openStreams = 0;

/** One config connection, after `start` (response head or 101) unless the plan says 'hang'. */
function serveStream(url: URL, start: () => void, out: StreamOut): void {
  resumes.push(url.searchParams.get('since'));
  accepts.push(url.searchParams.get('accept'));
  // 'hang': the connection is up but no response ever starts (a peer that stopped answering).
  if (plan[0] === 'hang') {
    plan.shift();
    return;
  }
  start();
  const base = `v${version}`;
  const outbound = { services: [{ namespace: 'shop', name: 'a' }], backends: [] };
  out.write(
    `${JSON.stringify({ type: 'config', version: base, config: { version: base, n: version, outbound } })}\n`,
  );
  version++;
  const behaviour = plan.shift() ?? 'stay';
  if (behaviour === 'patch' || behaviour === 'bad-patch') {
    const v = `v${version++}`;
    const patch = {
      type: 'patch',
      version: v,
      base: behaviour === 'patch' ? base : 'v-unknown',
      config: { version: v, n: version - 1 },
      outbound: {
        services: {
          upsert: [{ namespace: 'shop', name: 'b' }],
          remove: [{ namespace: 'shop', name: 'a' }],
        },
        backends: { upsert: [], remove: [] },
      },
    };
    setTimeout(() => out.write(`${JSON.stringify(patch)}\n`), 50);
    // A good patch is followed by a clean end, so the next connection shows what `since` was.
    if (behaviour === 'patch') setTimeout(() => out.end(), 150);
  }
  if (behaviour === 'reset') setTimeout(() => out.cut(), 50);
  if (behaviour === 'end') setTimeout(() => out.end(), 50);
  // 'silent' and 'stay' keep the connection open and say nothing more.
}

/** The operator's Upgrade path (101, then bare NDJSON): installed for the second pass of the tests. */
function onUpgrade(req: IncomingMessage, socket: Duplex): void {
  socket.on('error', () => undefined);
  upgrades++;
  openStreams++;
  socket.on('close', () => openStreams--);
  serveStream(
    new URL(req.url ?? '/', 'https://x'),
    () =>
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${CONFIG_STREAM_UPGRADE}\r\n\r\n`,
      ),
    { write: (line) => socket.write(line), end: () => socket.end(), cut: () => socket.destroy() },
  );
}
let upgrades = 0;

/** The sealed stream (third pass): tickets issued over mTLS, then streams on a plain TCP port. */
let sealedEnabled = false;
let sealedStreams = 0;
/** Ticket requests received, answered or not (404 when sealed streams are off). */
let ticketAsks = 0;
/**
 * How a ticket request is refused while sealedEnabled is false: 404 NotFound, as an operator that predates sealed
 * streams answers an unknown path, or 404 SealedStreamOff, as one with WEFT_CONFIG_STREAM_PORT=off answers.
 */
let ticketRefusal: 'old' | 'off' = 'old';
let sealedServer: NetServer;
const tickets = new Map<string, { url: URL; keys: StreamKeys }>();

/** A 404 with the operator's error body (crds/control-plane/README.md). */
function notFound(res: ServerResponse, reason: ErrorReason, message: string): void {
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ reason, message, field: null }));
}

function onTicket(url: URL, req: IncomingMessage, res: ServerResponse): void {
  // 'hang' here: the ticket request gets no answer (the request timeout must retry it).
  if (plan[0] === 'hang') {
    plan.shift();
    resumes.push(url.searchParams.get('since'));
    return;
  }
  const late = plan[0] === 'late-ticket';
  const dead = plan[0] === 'dead-port' ? deadPort : plan[0] === 'mute-port' ? mutePort : 0;
  if (late || dead > 0) plan.shift();
  if (late) {
    // Slowly: a byte of the answer every 400 ms (the request is never idle for its timeout), all of it at 1.6 s.
    lateTickets++;
    res.writeHead(200, { 'content-type': 'application/json' });
    const drip = setInterval(() => res.write(' '), 400);
    setTimeout(() => {
      clearInterval(drip);
      answerTicket(req, res, url, 0);
    }, 1_600);
    return;
  }
  answerTicket(req, res, url, dead);
}

let lateTickets = 0;

function answerTicket(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  /** A port to name instead of the sealed server's, or 0. */
  otherPort: number,
): void {
  if (res.destroyed) return;
  if (!res.headersSent) res.writeHead(200, { 'content-type': 'application/json' });
  const ticket = randomBytes(16);
  tickets.set(ticket.toString('base64url'), {
    url,
    keys: streamKeys(exportSealedMaterial(req.socket as TLSSocket), ticket),
  });
  const port = otherPort > 0 ? otherPort : (sealedServer.address() as { port: number }).port;
  res.end(JSON.stringify({ ticket: ticket.toString('base64url'), host: null, port, expiresAt: '' }));
}

function onSealedConnection(socket: Socket): void {
  socket.on('error', () => undefined);
  const challenge = randomBytes(16);
  socket.write(serverHello(challenge));
  let got = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    got = Buffer.concat([got, chunk]);
    if (got.length < HELLO_BYTES) return;
    socket.removeAllListeners('data');
    const id = helloTicket(got).toString('base64url');
    const t = tickets.get(id);
    tickets.delete(id);
    if (t === undefined || !helloAuthentic(got, t.keys, challenge)) {
      socket.destroy();
      return;
    }
    sealedStreams++;
    openStreams++;
    socket.on('close', () => openStreams--);
    const sealer = new FrameSealer(t.keys.serverToClient);
    // As the contract says: a ping frame at once, when the hello is accepted.
    socket.write(sealer.seal('{"type":"ping"}\n'));
    serveStream(t.url, () => undefined, {
      write: (line) => socket.write(sealer.seal(line)),
      end: () => socket.end(),
      cut: () => socket.destroy(),
    });
  });
}

beforeAll(async () => {
  const anchor = generateTrustAnchor(TRUST_DOMAIN);
  const ca = new CertificateAuthority(
    { anchors: [anchor.cert], issuer: generateIssuer(anchor, TRUST_DOMAIN) },
    { trustDomain: TRUST_DOMAIN },
  );
  anchorsPem = ca.trustAnchorsPem.join('');
  const { keyPem, csrPem } = opensslCsr();
  const serving = ca.issueServing(verifyCsr(csrPem), OPERATOR_ID, ['localhost'], ['127.0.0.1']);
  server = https.createServer(
    {
      key: keyPem,
      cert: serving.certificateChain,
      ca: anchorsPem,
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      const url = new URL(req.url ?? '/', 'https://x');
      if (req.method === 'POST' && url.pathname === '/v1alpha1/certificates') {
        let body = '';
        req.on('data', (c: Buffer) => {
          body += c.toString();
        });
        req.on('end', () => {
          const { csr } = JSON.parse(body) as { csr: string };
          const issued = ca.issue(csr, WORKLOAD_ID);
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({ certificateChain: issued.certificateChain, trustAnchors: issued.trustAnchors }),
          );
        });
        return;
      }
      const ticketRequest = req.method === 'POST' && url.pathname === CONFIG_TICKETS_PATH;
      if (ticketRequest) ticketAsks++;
      if (ticketRequest && sealedEnabled) {
        onTicket(url, req, res);
        return;
      }
      if (ticketRequest && ticketRefusal === 'off') {
        notFound(res, 'SealedStreamOff', 'serves no sealed config stream');
        return;
      }
      if (req.method === 'GET' && url.pathname === '/v1alpha1/config') {
        openStreams++;
        res.on('close', () => openStreams--);
        serveStream(url, () => res.writeHead(200, { 'content-type': 'application/x-ndjson' }), {
          write: (line) => res.write(line),
          end: () => res.end(),
          cut: () => req.socket.destroy(),
        });
        return;
      }
      // What an operator that predates sealed streams answers the ticket request (and any unknown path).
      notFound(res, 'NotFound', `no such path ${url.pathname}`);
    },
  );
  server.on('secureConnection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  port = await listenLoopback(server);
  sealedServer = createNetServer(onSealedConnection);
  sealedServer.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await listenLoopback(sealedServer);
  const closed = createNetServer();
  deadPort = await listenLoopback(closed);
  await new Promise((r) => closed.close(r));
  muteServer = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  mutePort = await listenLoopback(muteServer);
  dir = mkdtempSync(join(tmpdir(), 'weft-control-'));
  writeFileSync(join(dir, 'token'), 'a-projected-token\n');
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
  await new Promise((r) => sealedServer.close(r));
  await new Promise((r) => muteServer.close(r));
  rmSync(dir, { recursive: true, force: true });
});

function client(silenceTimeoutMs: number, requestTimeoutMs?: number): ControlPlaneClient {
  return new ControlPlaneClient({
    address: `127.0.0.1:${port}`,
    serverIdentity: OPERATOR_ID,
    trustAnchorsPem: anchorsPem,
    tokenPath: join(dir, 'token'),
    pod: { namespace: 'shop', name: 'web-0' },
    spiffeId: WORKLOAD_ID,
    logger: pino({ level: 'silent' }),
    silenceTimeoutMs,
    ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }),
  });
}

function nextConfigs(
  c: ControlPlaneClient,
  n: number,
  timeoutMs: number,
  docs: unknown[] = [],
): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const seen: string[] = [];
    const timer = setTimeout(
      () => reject(new Error(`only ${seen.join(',')} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const on = (v: string, doc: unknown) => {
      seen.push(v);
      docs.push(doc);
      if (seen.length === n) {
        clearTimeout(timer);
        c.off('config', on);
        resolve(seen);
      }
    };
    c.on('config', on);
  });
}

/**
 * A client whose stream the plan cuts, silences and ends: four connections, the last one staying; resumes and
 * ticketAsks count from here.
 */
function fourConnections(): { c: ControlPlaneClient; configs: Promise<string[]> } {
  plan.push('reset', 'silent', 'end', 'stay');
  resumes.length = 0;
  ticketAsks = 0;
  const c = client(1_000);
  return { c, configs: nextConfigs(c, 4, 20_000) };
}

test('an operator with sealed streams off (404 SealedStreamOff) is asked for a ticket once, not at every reconnect, and the stream follows over TLS', async () => {
  plan.length = 0;
  ticketRefusal = 'off';
  const { c, configs } = fourConnections();
  try {
    await c.start();
    expect(await configs).toHaveLength(4);
    // Four connections (the first and three resumed), over TLS (chunked: this pass has no Upgrade), one ask.
    expect(resumes).toHaveLength(4);
    expect(ticketAsks).toBe(1);
  } finally {
    c.stop();
    ticketRefusal = 'old';
  }
}, 30_000);

// Current operators issue a ticket to the sealed stream; operators without it answer the ticket request 404 and
// the client asks for the stream over TLS: by Upgrade (101), which operators before that ignore, answering a
// chunked 200.
describe.each([
  ['a chunked 200 response (an operator without Upgrade or sealed streams)', 'chunked'],
  ['101 Upgrade to a bare NDJSON stream (an operator without sealed streams)', 'upgrade'],
  ['a sealed stream on plain TCP', 'sealed'],
] as const)('config stream as %s', (_what, transport) => {
  beforeAll(() => {
    upgrades = 0;
    sealedStreams = 0;
    if (transport !== 'chunked') server.on('upgrade', onUpgrade);
    sealedEnabled = transport === 'sealed';
  });
  afterAll(() => {
    server.off('upgrade', onUpgrade);
    sealedEnabled = false;
    // The client tries the sealed stream first, then asks for the upgrade: each pass uses only its own.
    expect(upgrades > 0).toBe(transport === 'upgrade');
    expect(sealedStreams > 0).toBe(transport === 'sealed');
  });

  test('a stream that is cut, goes silent or ends is resumed with since, and later versions arrive', async () => {
    const { c, configs } = fourConnections();
    try {
      await c.start();
      expect(c.identity?.facts.spiffeIds).toEqual([WORKLOAD_ID]);
      const seen = await configs;
      expect(seen).toHaveLength(4);
      // First connection starts fresh; each reconnection resumes from the version it last received.
      expect(resumes[0]).toBeNull();
      expect(resumes.slice(1, 4)).toEqual(seen.slice(0, 3));
      // A ticket before every sealed connection; an operator that predates sealed streams (404 NotFound) is asked
      // again at each connection: during a rollout, the next one may reach a current operator.
      if (transport === 'sealed') expect(ticketAsks).toBeGreaterThanOrEqual(4);
      else expect(ticketAsks).toBe(resumes.length);
    } finally {
      c.stop();
    }
  }, 30_000);

  test('patches apply to the config held; a patch against another base starts over with a full document', async () => {
    plan.length = 0;
    plan.push('patch', 'bad-patch', 'stay');
    resumes.length = 0;
    accepts.length = 0;
    const c = client(30_000);
    const docs: unknown[] = [];
    const configs = nextConfigs(c, 4, 20_000, docs);
    try {
      await c.start();
      const seen = await configs;
      expect(accepts.every((a) => a === 'patch')).toBe(true);
      // full, patched, then (bad patch dropped) full again without since, then the next full.
      const [full, patched] = docs as {
        version: string;
        n: number;
        outbound: { services: { name: string }[] };
      }[];
      expect(patched!.version).toBe(seen[1]);
      expect(patched!.n).toBe(full!.n + 1);
      expect(patched!.outbound.services.map((s) => s.name)).toEqual(['b']);
      expect(resumes[0]).toBeNull();
      expect(resumes[1]).toBe(seen[1]);
      expect(resumes[2]).toBeNull();
    } finally {
      c.stop();
    }
  }, 30_000);

  test('a config request that never gets an answer is retried after the request timeout, not the silence allowance', async () => {
    plan.length = 0;
    plan.push('hang', 'stay');
    resumes.length = 0;
    const c = client(60_000, 1_000);
    // Well inside the 60 s silence allowance: only the 1 s request timeout can get the snapshot here in time.
    const configs = nextConfigs(c, 1, 15_000);
    try {
      await c.start();
      await configs;
      // Two config requests: the one left hanging, then the retry that got the snapshot.
      expect(resumes).toHaveLength(2);
    } finally {
      c.stop();
    }
  }, 30_000);
  test('stop() closes the stream it follows, and no config arrives after it', async () => {
    plan.length = 0;
    plan.push('stay');
    const c = client(30_000);
    const first = nextConfigs(c, 1, 10_000);
    await c.start();
    await first;
    expect(openStreams).toBe(1);
    let after = 0;
    c.on('config', () => after++);
    c.stop();
    const deadline = Date.now() + 5_000;
    while (openStreams > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(openStreams).toBe(0);
    // Longer than the client's reconnect delay (500 ms base, jitter 0.5): a client that only lost its stream
    // would be back with a new one, and every new stream starts with a config.
    await new Promise((r) => setTimeout(r, 1500));
    expect(openStreams).toBe(0);
    expect(after).toBe(0);
  }, 30_000);
});

/**
 * A client (request timeout 1 s) against an operator that follows `steps`, until its first config; then `check`
 * runs while it is still up, and it is stopped.
 */
async function untilFirstConfig(steps: Behaviour[], check: () => Promise<void>): Promise<void> {
  plan.length = 0;
  plan.push(...steps);
  const c = client(60_000, 1_000);
  const first = nextConfigs(c, 1, 15_000);
  try {
    await c.start();
    await first;
    await check();
  } finally {
    c.stop();
  }
}

describe('sealed stream faults', () => {
  beforeAll(() => {
    sealedEnabled = true;
    server.on('upgrade', onUpgrade);
  });
  afterAll(() => {
    sealedEnabled = false;
    server.off('upgrade', onUpgrade);
  });

  test("a ticket that arrives after the request timeout opens no stream: the retry's stream is the only one", async () => {
    sealedStreams = 0;
    lateTickets = 0;
    await untilFirstConfig(['late-ticket', 'stay'], async () => {
      // The late answer (1.6 s after its request) has come and gone by now.
      await new Promise((r) => setTimeout(r, 2_000));
      expect(lateTickets).toBe(1);
      expect(sealedStreams).toBe(1);
      expect(openStreams).toBe(1);
    });
  }, 30_000);

  test.each([
    ['refuses the connection', 'dead-port'],
    ['never answers (only the request timeout ends the attempt)', 'mute-port'],
  ] as const)(
    'a ticket whose address %s: after two tries the stream is followed over TLS',
    async (_what, port) => {
      sealedStreams = 0;
      upgrades = 0;
      await untilFirstConfig([port, port, 'stay'], async () => {
        expect(sealedStreams).toBe(0);
        expect(upgrades).toBe(1);
      });
    },
    30_000,
  );
});
