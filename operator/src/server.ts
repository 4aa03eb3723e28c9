// The servers of the control-plane contract (crds/control-plane/README.md): HTTPS (certificates, stream tickets,
// and the config stream over TLS), the sealed config stream on plain TCP, and the plain admin server.
import { randomBytes, X509Certificate } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { Socket } from 'node:net';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import {
  CHALLENGE_BYTES,
  exportSealedMaterial,
  FrameSealer,
  HELLO_BYTES,
  helloAuthentic,
  helloTicket,
  type SealedStreamError,
  type StreamKeys,
  serverHello,
  streamKeys,
} from '../../crds/control-plane/sealed.ts';
import {
  CERTIFICATES_PATH,
  type CertificateResponse,
  CONFIG_PATH,
  CONFIG_STREAM_CONTENT_TYPE,
  CONFIG_STREAM_UPGRADE,
  CONFIG_TICKETS_PATH,
  type ConfigTicketResponse,
  ERROR_STATUS,
  type ErrorResponse,
  IDENTITY_TOKEN_AUDIENCE,
} from '../../crds/control-plane/types.ts';
import { validateCertificateRequest } from '../../crds/control-plane/validate.ts';
import { MAX_TIMER_MS } from '../../crds/duration.ts';
import type { ConfigHub } from './distribution/hub.ts';
import { PacedWriter } from './distribution/paced.ts';
import {
  type CertificateAuthority,
  CsrError,
  IssuanceError,
  parseSpiffeId,
  podBindingOf,
  spiffeIdFor,
  uriSans,
} from './identity/index.ts';
import { authorizeCertificateRequest, type ReviewedToken } from './identity/token.ts';
import type { OperatorMetrics } from './metrics.ts';
import type { PodRecord } from './model/cluster.ts';

const MAX_BODY_BYTES = 64 * 1024;

export interface ControlPlaneDeps {
  ca: CertificateAuthority;
  /** The operator's own serving certificate chain and key (PEM). */
  serving: { certChain: string; key: string };
  hub: ConfigHub;
  pod: (key: string) => PodRecord | undefined;
  reviewToken: (token: string) => Promise<ReviewedToken>;
  metrics: OperatorMetrics;
  log: Logger;
  /**
   * How long a connection may take to finish its TLS handshake, and then to send a request head (defaults
   * 10 s each). Any pod can reach this port without a certificate; Node's own defaults held such connections
   * for 80-120 s.
   */
  timeouts?: { handshakeMs?: number; headersMs?: number };
  /** Caps on open connections (DEFAULT_CONNECTION_LIMITS for what is not given). */
  limits?: Partial<ConnectionLimits>;
  /**
   * The address proxies open the sealed config stream to, named in each ticket: this replica's own (its pod IP),
   * since only the replica that issued a ticket knows it. Unset or null: the host the proxy used for the ticket
   * request (right with one replica, or on loopback).
   */
  advertiseHost?: string | null;
}

/** The control plane's two listeners: HTTPS, and the sealed config stream (plain TCP). */
export interface ControlPlaneServers {
  tls: https.Server;
  sealed: net.Server;
  /**
   * Listens on both (0: a free port each). A null sealedPort serves no sealed stream: ticket requests are answered
   * 404 SealedStreamOff, and proxies follow the stream over TLS at once and ask again only after 10 minutes.
   */
  listen(tlsPort: number, sealedPort: number | null, host: string | undefined): Promise<void>;
  /** The ports listened on (0 before listen, and for the sealed port when it is off). */
  readonly ports: { tls: number; sealed: number };
  /** Stops both listening and closes every connection they hold. */
  close(): Promise<void>;
}

/**
 * server.listen as a promise that rejects with the listen error (a port in use). No host: every address, IPv6
 * and IPv4 (Node's default: "::" dual-stack, or 0.0.0.0 where the host has no IPv6).
 */
export function listenOn(server: net.Server, port: number, host: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(host === undefined ? { port } : { port, host }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

const portOf = (server: net.Server) => (server.address() as net.AddressInfo | null)?.port ?? 0;

/** Defaults of ControlPlaneDeps.timeouts. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
const HEADERS_TIMEOUT_MS = 10_000;
/** After the operator ends a stream, how long its peer has to close its side before the stream is cut. */
const END_GRACE_MS = 10_000;

/**
 * How many connections the control-plane port holds open at once. The timeouts above bound how long a
 * connection that does nothing lives, not how many there are: each costs the operator about 85 KB of native
 * memory (an mTLS connection after a 16 KiB message, operator/bench/tls-memory.bench.ts), so a client that keeps
 * opening them would exhaust the operator's memory.
 */
export interface ConnectionLimits {
  /**
   * All clients together, in TLS connections: a connection to the sealed config-stream port counts a quarter of
   * one. Past it, a new connection is closed as it is accepted.
   */
  maxConnections: number;
  /** From one source address (a proxy's pod IP). Past it, a new connection from that address is closed. */
  maxConnectionsPerAddress: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  // The documented scale is 5,000+ proxies, each holding one stream, and all of them on one replica once its
  // peer is gone; during a reconnect storm or a renewal wave a proxy briefly has a second connection (its new
  // stream while the old socket closes, a certificate request): 10,000. Twice that leaves room for meshes past
  // the documented scale, and bounds what this port can hold to about 20,000 x 85 KB = 1.7 GB instead of
  // whatever a client can open. Size it with the memory limit (docs/operator.md, "Configuration").
  maxConnections: 20_000,
  // A proxy needs one stream and now and then a certificate request; 64 leaves room for retries and a few
  // proxies behind one address, while one misbehaving pod holds at most 64 x 85 KB = 5.4 MB and cannot take the
  // whole budget. Loopback clients (benchmarks, tests) share one address and raise it.
  maxConnectionsPerAddress: 64,
};

/** Native memory one held control-plane connection costs, rounded up from the 85 KB measured (see above). */
const BYTES_PER_CONNECTION = 100 * 1024;
/** What the operator needs besides its connections: informers, compiled configs (operator RSS without streams). */
const OPERATOR_BASE_BYTES = 256 * 1024 * 1024;

/**
 * The default total connection limit for a container with this memory limit (process.constrainedMemory(), 0 or
 * a huge value when there is none): as many connections as fit beside the operator's own memory, never fewer than
 * 1,000 (a small limit still serves a small mesh) and never more than DEFAULT_CONNECTION_LIMITS. Without it, the
 * 20,000 default would let the shipped 512 MiB limit be reached at about 3,000 connections: an OOM kill, which
 * drops every stream, instead of a refusal, which drops one.
 */
export function maxConnectionsForMemory(memoryLimitBytes: number): number {
  const ceiling = DEFAULT_CONNECTION_LIMITS.maxConnections;
  if (!(memoryLimitBytes > 0) || memoryLimitBytes >= 2 ** 52) return ceiling;
  const fit = Math.floor((memoryLimitBytes - OPERATOR_BASE_BYTES) / BYTES_PER_CONNECTION);
  return Math.min(ceiling, Math.max(1_000, fit));
}

class RequestError extends Error {
  readonly body: ErrorResponse;
  constructor(body: ErrorResponse) {
    super(body.message);
    this.body = body;
  }
}

function sendError(res: http.ServerResponse, e: ErrorResponse): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(e);
  res.writeHead(ERROR_STATUS[e.reason], {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** The same error answer as sendError, written by hand on a socket taken over by 'upgrade'; then closes it. */
function sendErrorOnSocket(socket: Duplex, e: ErrorResponse): void {
  const body = JSON.stringify(e);
  const status = ERROR_STATUS[e.reason];
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY_BYTES) {
      throw new RequestError({
        reason: 'BadRequest',
        message: `body larger than ${MAX_BODY_BYTES} bytes`,
        field: null,
      });
    }
    chunks.push(c as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new RequestError({ reason: 'BadRequest', message: 'body is not JSON', field: null });
  }
}

export function createControlPlaneServer(d: ControlPlaneDeps): ControlPlaneServers {
  const headersMs = d.timeouts?.headersMs ?? HEADERS_TIMEOUT_MS;
  const handshakeMs = d.timeouts?.handshakeMs ?? HANDSHAKE_TIMEOUT_MS;
  const sealed = net.createServer();
  // Filled in below, once the limits are known; requests arrive only after listen().
  let ctx!: HandlerContext;
  const server = https.createServer(
    {
      key: d.serving.key,
      cert: d.serving.certChain,
      ca: d.ca.trustAnchorsPem,
      requestCert: true,
      // The certificate endpoint is reached before a proxy has a certificate; the config endpoint checks
      // req.socket.authorized itself.
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      handshakeTimeout: handshakeMs,
      // The head of every request, and a whole request (a CSR is small): a stream's response may last for
      // days, but its request is done once its head is in.
      headersTimeout: headersMs,
      requestTimeout: 2 * headersMs,
      // How often Node checks those two (its default, 30 s, would let a connection idle that long).
      connectionsCheckingInterval: Math.min(2_000, Math.ceil(headersMs / 2)),
    },
    (req, res) => {
      req.socket.setTimeout(0);
      handle(ctx, req, res).catch((err: unknown) => {
        if (err instanceof RequestError) {
          if (req.url?.startsWith(CERTIFICATES_PATH))
            d.metrics.certificateFailures.inc({ reason: err.body.reason });
          sendError(res, err.body);
          return;
        }
        d.log.error({ err: (err as Error).message, path: req.url }, 'request failed');
        if (req.url?.startsWith(CERTIFICATES_PATH)) d.metrics.certificateFailures.inc({ reason: 'Internal' });
        sendError(res, { reason: 'Internal', message: 'internal error', field: null });
      });
    },
  );
  const limits = { ...DEFAULT_CONNECTION_LIMITS, ...d.limits };
  const connections = limitConnections(
    [
      { server, weight: TLS_WEIGHT },
      { server: sealed, weight: SEALED_WEIGHT },
    ],
    limits,
    d.metrics,
    d.log,
  );
  const maxForStreams = (limits.maxConnections - streamReserve(limits.maxConnections)) * TLS_WEIGHT;
  /** Refuses a new stream (503) when streams would take the connections kept for certificate requests. */
  const checkStreamRoom = () => {
    if (connections.weight() <= maxForStreams) return;
    d.metrics.connectionsRefused.inc({ limit: 'streams' });
    throw new RequestError({
      reason: 'Unavailable',
      message:
        `this replica holds the equivalent of ${connections.weight() / TLS_WEIGHT} TLS connections; past ` +
        `${maxForStreams / TLS_WEIGHT} the rest are kept for certificate requests: retry later, or on another replica`,
      field: null,
    });
  };
  const tickets = new TicketBook(handshakeMs, limits.maxConnections * TLS_WEIGHT);
  ctx = { d, checkStreamRoom, tickets, sealedPort: () => portOf(sealed) };
  const sealedSockets = serveSealedStreams(d, sealed, tickets, handshakeMs, checkStreamRoom);
  // The config stream by HTTP Upgrade: after the 101 the connection is a bare TLS byte stream, so no HTTP
  // parser, request or response object stays attached to it for the stream's life (12-20 KB less per held
  // stream than a chunked response: operator/bench/tls-memory.bench.ts). Node hands every request that carries
  // `Connection: Upgrade` here, whatever its path; the others are refused with an error that says so.
  // Node's headersTimeout starts with the first byte of a request: a connection that never sends one is closed
  // by this timer, which the first request (or upgrade) clears.
  server.on('secureConnection', (socket: TLSSocket) => {
    socket.setTimeout(headersMs, () => socket.destroy());
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex) => {
    req.socket.setTimeout(0);
    // A socket taken over by 'upgrade' is no longer the server's: its errors are ours to absorb ('close'
    // follows and unsubscribes).
    socket.on('error', () => undefined);
    let switched = false;
    try {
      const url = new URL(req.url ?? '/', 'https://operator');
      if (url.pathname !== CONFIG_PATH) {
        const refusal: ErrorResponse = {
          reason: 'BadRequest',
          message: `Upgrade is offered only on ${CONFIG_PATH}; send this request without Connection: Upgrade`,
          field: 'header:upgrade',
        };
        throw new RequestError(refusal);
      }
      if (req.method !== 'GET')
        throw new RequestError({ reason: 'MethodNotAllowed', message: 'use GET', field: null });
      if ((req.headers.upgrade ?? '').toLowerCase() !== CONFIG_STREAM_UPGRADE)
        throw new RequestError({
          reason: 'BadRequest',
          message: `the only upgrade offered is ${CONFIG_STREAM_UPGRADE}`,
          field: 'header:upgrade',
        });
      checkStreamRoom();
      const s = authorizeStream(d, socket as TLSSocket, url);
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${CONFIG_STREAM_UPGRADE}\r\n` +
          `content-type: ${CONFIG_STREAM_CONTENT_TYPE}\r\n\r\n`,
      );
      switched = true;
      subscribeStream(d, s, socket, 'tls');
    } catch (err) {
      if (err instanceof RequestError) {
        if (req.url?.startsWith(CERTIFICATES_PATH))
          d.metrics.certificateFailures.inc({ reason: err.body.reason });
        sendErrorOnSocket(socket, err.body);
      } else {
        d.log.error({ err: (err as Error).message, path: req.url }, 'upgrade failed');
        // Before the 101 the client still expects an HTTP answer: the same 500 the plain path gives.
        if (switched) socket.destroy();
        else sendErrorOnSocket(socket, { reason: 'Internal', message: 'internal error', field: null });
      }
    }
  });
  const closeServer = (x: net.Server) =>
    new Promise<void>((resolve) => (x.listening ? x.close(() => resolve()) : resolve()));
  return {
    tls: server,
    sealed,
    listen: (tlsPort, sealedPort, host) =>
      Promise.all([
        listenOn(server, tlsPort, host),
        sealedPort === null ? undefined : listenOn(sealed, sealedPort, host),
      ]).then(() => undefined),
    get ports() {
      return { tls: portOf(server), sealed: portOf(sealed) };
    },
    close: () => {
      server.closeAllConnections();
      for (const socket of sealedSockets) socket.destroy();
      return Promise.all([closeServer(server), closeServer(sealed)]).then(() => undefined);
    },
  };
}

/**
 * What one connection weighs against ConnectionLimits.maxConnections, which counts TLS connections: a connection
 * to the sealed config-stream port holds a plain socket (about 25 KB of operator memory as a stream, against about
 * 100 KB for a TLS one: docs/operator.md, "Memory per connected proxy"), so it counts a quarter.
 */
const TLS_WEIGHT = 4;
const SEALED_WEIGHT = 1;

/**
 * Enforces ConnectionLimits over the control plane's listeners together, each connection by its listener's weight
 * (in quarters of a TLS connection). A refused connection is closed at once, before its TLS handshake or hello (no
 * work is spent on it), and counted in weft_operator_control_plane_connections_refused_total by the limit it hit.
 */
function limitConnections(
  listeners: readonly { server: net.Server; weight: number }[],
  limits: ConnectionLimits,
  metrics: OperatorMetrics,
  log: Logger,
): { weight(): number } {
  const budget = limits.maxConnections * TLS_WEIGHT;
  let openWeight = 0;
  // A refusal may be a flood, or proxies that share one address (traffic to the operator masqueraded): logged,
  // but at most once a minute, so that a flood does not flood the log too.
  let warnedAt = 0;
  let unlogged = 0;
  const refuse = (limit: 'total' | 'per_address', address: string | undefined) => {
    metrics.connectionsRefused.inc({ limit });
    const now = Date.now();
    if (now - warnedAt < 60_000) {
      unlogged++;
      return;
    }
    log.warn(
      { limit, address, refusedBefore: unlogged, ...limits },
      'control-plane connection refused: connection limit reached',
    );
    warnedAt = now;
    unlogged = 0;
  };
  const byAddress = new Map<string, number>();
  // First among the 'connection' listeners, before the TLS layer's: a refused socket is closed before any
  // handshake starts (the TLS layer then only emits a 'tlsClientError' for it, which nothing here listens to).
  const admit = (socket: Socket, weight: number) => {
    const address = socket.remoteAddress;
    // No address: the socket is already gone.
    if (address === undefined) {
      socket.destroy();
      return;
    }
    // The total over every listener (each one's maxConnections alone would allow it per listener).
    if (openWeight + weight > budget) {
      refuse('total', address);
      socket.destroy();
      return;
    }
    const open = byAddress.get(address) ?? 0;
    if (open >= limits.maxConnectionsPerAddress) {
      refuse('per_address', address);
      socket.destroy();
      return;
    }
    byAddress.set(address, open + 1);
    metrics.connections.inc();
    openWeight += weight;
    socket.once('close', () => {
      metrics.connections.dec();
      openWeight -= weight;
      const left = (byAddress.get(address) ?? 1) - 1;
      if (left > 0) byAddress.set(address, left);
      else byAddress.delete(address);
    });
  };
  for (const { server, weight } of listeners) {
    // Past the total, Node closes the connection as it accepts it (no socket object, no TLS), and says so.
    server.maxConnections = Math.floor(budget / weight);
    server.on('drop', (data?: { remoteAddress?: string }) => refuse('total', data?.remoteAddress));
    server.prependListener('connection', (socket: Socket) => admit(socket, weight));
  }
  return { weight: () => openWeight };
}

/**
 * Connections kept for certificate requests: a config stream holds its connection for good, a certificate request
 * needs a fresh one now and then, so streams may fill the port only up to maxConnections minus this (5%, at least
 * 16). Without it a full port would refuse every renewal too, and its proxies' certificates would run out.
 */
export function streamReserve(maxConnections: number): number {
  return Math.min(maxConnections - 1, Math.max(16, Math.floor(maxConnections / 20)));
}

interface HandlerContext {
  d: ControlPlaneDeps;
  checkStreamRoom: () => void;
  tickets: TicketBook;
  sealedPort: () => number;
}

async function handle(
  ctx: HandlerContext,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  const d = ctx.d;
  const url = new URL(req.url ?? '/', 'https://operator');
  if (url.pathname === CERTIFICATES_PATH) {
    if (req.method !== 'POST')
      throw new RequestError({ reason: 'MethodNotAllowed', message: 'use POST', field: null });
    await issueCertificate(d, req, res);
    return;
  }
  if (url.pathname === CONFIG_PATH) {
    if (req.method !== 'GET')
      throw new RequestError({ reason: 'MethodNotAllowed', message: 'use GET', field: null });
    streamConfig(d, req, res, url);
    return;
  }
  if (url.pathname === CONFIG_TICKETS_PATH) {
    if (req.method !== 'POST')
      throw new RequestError({ reason: 'MethodNotAllowed', message: 'use POST', field: null });
    issueTicket(ctx, req, res, url);
    return;
  }
  throw new RequestError({ reason: 'NotFound', message: `no such path ${url.pathname}`, field: null });
}

async function issueCertificate(
  d: ControlPlaneDeps,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  const auth = req.headers.authorization ?? '';
  const m = /^Bearer\s+(\S+)$/.exec(auth);
  if (m === null) {
    throw new RequestError({
      reason: 'Unauthenticated',
      message: 'missing bearer token',
      field: 'header:authorization',
    });
  }
  const body = validateCertificateRequest(await readJson(req));
  if (!body.ok) {
    const e = body.errors[0]!;
    throw new RequestError({ reason: 'BadRequest', message: `${e.path} ${e.message}`, field: e.path });
  }
  const { csr, pod } = body.value;
  let review: ReviewedToken;
  try {
    review = await d.reviewToken(m[1]!);
  } catch (err) {
    d.log.warn({ err: (err as Error).message }, 'TokenReview failed');
    throw new RequestError({
      reason: 'Unavailable',
      message: 'could not review the token; retry',
      field: null,
    });
  }
  const grant = authorizeCertificateRequest(
    review,
    IDENTITY_TOKEN_AUDIENCE,
    pod,
    d.pod(`${pod.namespace}/${pod.name}`),
  );
  if (!grant.ok) throw new RequestError(grant.error);
  const spiffeId = spiffeIdFor(d.ca.trustDomain, grant.namespace, grant.serviceAccount);
  let issued: ReturnType<CertificateAuthority['issue']>;
  try {
    issued = d.ca.issue(
      csr,
      spiffeId,
      new Date(),
      grant.podUid === null ? null : { namespace: grant.namespace, uid: grant.podUid },
    );
  } catch (err) {
    if (err instanceof CsrError)
      throw new RequestError({ reason: err.code, message: err.message, field: '/csr' });
    if (err instanceof IssuanceError) {
      // The operator's fault, not the proxy's (an issuer that expired): said as such, logged, counted.
      d.log.error({ err: err.message, spiffeId }, 'the mesh issuer cannot sign');
      throw new RequestError({
        reason: 'Unavailable',
        message: `the mesh issuer cannot sign: ${err.message}`,
        field: null,
      });
    }
    throw err;
  }
  d.metrics.certificatesIssued.inc();
  d.log.info(
    { spiffeId, pod: `${pod.namespace}/${pod.name}`, notAfter: issued.notAfter.toISOString() },
    'certificate issued',
  );
  const out: CertificateResponse = {
    spiffeId,
    certificateChain: issued.certificateChain,
    trustAnchors: issued.trustAnchors,
    notBefore: issued.notBefore.toISOString(),
    notAfter: issued.notAfter.toISOString(),
    renewAfter: issued.renewAfter.toISOString(),
  };
  const json = JSON.stringify(out);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
  res.end(json);
}

interface AuthorizedStream {
  podKey: string;
  /** The uid of the pod it was authorized for: a pod created again under that name is another pod. */
  podUid: string;
  cert: X509Certificate;
  since: string | null;
  acceptPatch: boolean;
}

/** Who may follow which pod's config: the verified client certificate's SPIFFE ID must run that pod. */
function authorizeStream(d: ControlPlaneDeps, socket: TLSSocket, url: URL): AuthorizedStream {
  const peer = socket.getPeerCertificate?.();
  if (!socket.authorized || peer === undefined || peer.raw === undefined) {
    throw new RequestError({
      reason: 'Unauthenticated',
      message: 'a mesh client certificate is required',
      field: null,
    });
  }
  const cert = new X509Certificate(peer.raw);
  const ids = uriSans(cert)
    .map(parseSpiffeId)
    .filter((x) => x !== null);
  const id = ids[0];
  if (id === undefined || id.trustDomain !== d.ca.trustDomain) {
    throw new RequestError({
      reason: 'IdentityMismatch',
      message: 'client certificate has no SPIFFE ID of this trust domain',
      field: null,
    });
  }
  const podParam = url.searchParams.get('pod') ?? '';
  const [ns, name, ...rest] = podParam.split('/');
  if (ns === undefined || name === undefined || ns === '' || name === '' || rest.length > 0) {
    throw new RequestError({
      reason: 'BadRequest',
      message: 'pod must be <namespace>/<name>',
      field: 'query:pod',
    });
  }
  const pod = d.pod(`${ns}/${name}`);
  if (pod === undefined)
    throw new RequestError({
      reason: 'PodNotFound',
      message: `pod ${ns}/${name} not found`,
      field: 'query:pod',
    });
  if (pod.namespace !== id.namespace || pod.serviceAccountName !== id.serviceAccount) {
    throw new RequestError({
      reason: 'IdentityMismatch',
      message: `client is ${id.namespace}/${id.serviceAccount}; pod ${ns}/${name} runs as ${pod.serviceAccountName}`,
      field: 'query:pod',
    });
  }
  // A certificate bound to a pod (PodBinding) follows that pod only; the ServiceAccount check above cannot tell
  // two pods of one ServiceAccount apart. One issued without a binding (before bindings existed, or from a token
  // that named no pod uid) is held to the ServiceAccount check alone until it is renewed.
  let bound: ReturnType<typeof podBindingOf>;
  try {
    bound = podBindingOf(cert);
  } catch (err) {
    throw new RequestError({ reason: 'IdentityMismatch', message: (err as Error).message, field: null });
  }
  if (bound !== null && (bound.namespace !== pod.namespace || bound.uid !== pod.uid)) {
    throw new RequestError({
      reason: 'IdentityMismatch',
      message: `client certificate was issued to pod uid ${bound.uid} in ${bound.namespace}; pod ${ns}/${name} is ${pod.uid}`,
      field: 'query:pod',
    });
  }
  const since = url.searchParams.get('since');
  return {
    podKey: `${ns}/${name}`,
    podUid: pod.uid,
    cert,
    since: since === '' ? null : since,
    acceptPatch: url.searchParams.get('accept') === 'patch',
  };
}

/**
 * Where a stream's bytes go: a chunked HTTP response, a socket taken over by Upgrade (both Node streams with exactly
 * these members), or a sealed stream (SealedOut).
 */
interface StreamOut {
  write(piece: string | Buffer, done: (err?: Error | null) => void): boolean;
  end(): unknown;
  destroy(): unknown;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  once(event: 'close', cb: () => void): unknown;
  on(event: 'error', cb: (err: Error) => void): unknown;
}

function subscribeStream(
  d: ControlPlaneDeps,
  s: AuthorizedStream,
  out: StreamOut,
  transport: 'sealed' | 'tls',
): void {
  // Cleanup is registered before subscribing, so nothing stays subscribed whatever happens below.
  let unsubscribe = (): void => {};
  let expiry: NodeJS.Timeout | undefined;
  // Already closed: the client went away before the subscription.
  if (out.destroyed) return;
  d.metrics.streams.inc({ transport });
  out.once('close', () => {
    clearTimeout(expiry);
    unsubscribe();
    d.metrics.streams.dec({ transport });
  });
  // A write after end() would make a chunked response emit an error with no listener, which crashes the
  // process: the writer stops instead (its queue counts as flushed), and late errors are absorbed here.
  out.on('error', (err) => d.log.debug({ pod: s.podKey, err: err.message }, 'config stream error'));
  const paced = new PacedWriter((piece, done) => {
    if (out.writableEnded || out.destroyed) done(new Error('config stream ended'));
    else out.write(piece, done);
  });
  unsubscribe = d.hub.subscribe(
    s.podKey,
    {
      write: (chunks, flushed) => paced.write(chunks, flushed),
      onDrain: (cb) => paced.onDrain(cb),
      close: (reason) => {
        d.log.info({ pod: s.podKey, reason }, 'closing config stream');
        out.destroy();
      },
    },
    { since: s.since, acceptPatch: s.acceptPatch, podUid: s.podUid },
  );
  // The stream ends with the client certificate: the proxy reconnects with its renewed one. The subscription
  // ends first, so no update is queued behind the end; a config still being written is cut (the proxy drops
  // the partial line and resumes from the version it has).
  // A certificate that outlives a timer (MAX_TIMER_MS), say from a supplied issuer, is checked again after that.
  const endAt = Date.parse(s.cert.validTo);
  const armExpiry = () => {
    const left = endAt - Date.now();
    expiry = setTimeout(
      () => {
        if (left > MAX_TIMER_MS) return armExpiry();
        unsubscribe();
        out.end();
        // A peer that never closes its side is cut (nothing reads its FIN); 'close' clears this timer too.
        expiry = setTimeout(() => out.destroy(), END_GRACE_MS);
        expiry.unref();
      },
      Math.min(Math.max(0, left), MAX_TIMER_MS),
    );
    expiry.unref();
  };
  armExpiry();
}

function streamConfig(
  d: ControlPlaneDeps,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: URL,
): void {
  const s = authorizeStream(d, req.socket as TLSSocket, url);
  res.writeHead(200, { 'content-type': CONFIG_STREAM_CONTENT_TYPE, 'cache-control': 'no-store' });
  res.flushHeaders();
  subscribeStream(d, s, res, 'tls');
}

interface Ticket {
  stream: AuthorizedStream;
  keys: StreamKeys;
  expiresAt: number;
  timer: NodeJS.Timeout;
}

/** Unused tickets one pod may hold at once: a proxy needs one per (re)connect. */
const TICKETS_PER_POD = 4;

/**
 * Whose tickets count together: one certificate asking for one pod. By the pod alone, a certificate not bound to a
 * pod (it may follow every pod of its ServiceAccount) could use up a sibling pod's tickets.
 */
const holderOf = (s: AuthorizedStream): string => `${s.podKey} ${s.cert.fingerprint256}`;

/**
 * Tickets to the sealed config stream this replica has issued and not yet seen used: single use, dropped after
 * `ttlMs` (the hello timeout), at most TICKETS_PER_POD per pod and certificate (so a workload that keeps asking
 * holds up only itself, never another pod) and `max` in all.
 */
class TicketBook {
  readonly #byId = new Map<string, Ticket>();
  readonly #perPod = new Map<string, number>();
  readonly #ttlMs: number;
  readonly #max: number;

  constructor(ttlMs: number, max: number) {
    this.#ttlMs = ttlMs;
    this.#max = max;
  }

  issue(
    stream: AuthorizedStream,
    keysFor: (ticket: Buffer) => StreamKeys,
  ): { ticket: Buffer; expiresAt: number } {
    const holder = holderOf(stream);
    const held = this.#perPod.get(holder) ?? 0;
    if (held >= TICKETS_PER_POD || this.#byId.size >= this.#max) {
      throw new RequestError({
        reason: 'Unavailable',
        message:
          held >= TICKETS_PER_POD
            ? `pod ${stream.podKey} holds ${held} unused stream tickets; use one, or retry once they expire`
            : `${this.#byId.size} stream tickets are waiting to be used; retry later`,
        field: null,
      });
    }
    const ticket = randomBytes(16);
    const id = ticket.toString('base64url');
    const expiresAt = Date.now() + this.#ttlMs;
    const timer = setTimeout(() => this.#drop(id), this.#ttlMs);
    timer.unref();
    this.#byId.set(id, { stream, keys: keysFor(ticket), expiresAt, timer });
    this.#perPod.set(holder, held + 1);
    return { ticket, expiresAt };
  }

  /** The ticket's entry without using it (a forged hello must not spend the real client's ticket). */
  peek(ticket: Buffer): Ticket | undefined {
    const t = this.#byId.get(ticket.toString('base64url'));
    return t !== undefined && t.expiresAt > Date.now() ? t : undefined;
  }

  use(ticket: Buffer): void {
    this.#drop(ticket.toString('base64url'));
  }

  #drop(id: string): void {
    const t = this.#byId.get(id);
    if (t === undefined) return;
    clearTimeout(t.timer);
    this.#byId.delete(id);
    const holder = holderOf(t.stream);
    const left = (this.#perPod.get(holder) ?? 1) - 1;
    if (left > 0) this.#perPod.set(holder, left);
    else this.#perPod.delete(holder);
  }
}

/**
 * POST /v1alpha1/config-tickets: the same query and authorization as the config stream; the answer names a ticket
 * whose keys both ends export from this TLS session, so the keys themselves never travel.
 */
function issueTicket(
  ctx: HandlerContext,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: URL,
): void {
  const port = ctx.sealedPort();
  // 404 is what an operator without sealed streams answers: one that predates them (NotFound, no such path), or
  // one that runs with WEFT_CONFIG_STREAM_PORT=off (SealedStreamOff, which tells the client not to ask again soon).
  // The client follows the stream over TLS instead.
  if (port === 0)
    throw new RequestError({
      reason: 'SealedStreamOff',
      message: `this replica serves no sealed config stream: follow the stream over TLS (${CONFIG_PATH})`,
      field: null,
    });
  ctx.checkStreamRoom();
  const socket = req.socket as TLSSocket;
  const s = authorizeStream(ctx.d, socket, url);
  const exported = exportSealedMaterial(socket);
  const { ticket, expiresAt } = ctx.tickets.issue(s, (t) => streamKeys(exported, t));
  const out: ConfigTicketResponse = {
    ticket: ticket.toString('base64url'),
    host: ctx.d.advertiseHost ?? null,
    port,
    expiresAt: new Date(expiresAt).toISOString(),
  };
  const json = JSON.stringify(out);
  res.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(json),
    'cache-control': 'no-store',
  });
  res.end(json);
}

/**
 * The sealed config stream's listener: it sends its challenge, and the connection must answer with a hello
 * (crds/control-plane/sealed.ts) naming a ticket this replica issued and proving its keys on this challenge,
 * within `helloMs` of being accepted (a deadline, not an idle timeout: a byte now and then does not extend it),
 * then send nothing more; it is then a config stream like the others, each slice sealed into one frame. Anything
 * else is closed without an answer (there are no keys to answer with), counted in
 * weft_operator_config_stream_hellos_refused_total.
 */
function serveSealedStreams(
  d: ControlPlaneDeps,
  server: net.Server,
  tickets: TicketBook,
  helloMs: number,
  checkStreamRoom: () => void,
): ReadonlySet<Socket> {
  const open = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    if (socket.destroyed) return;
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    socket.on('error', () => undefined);
    socket.setNoDelay(true);
    const refuse = (reason: string, detail: string) => {
      clearTimeout(deadline);
      d.metrics.sealedHellosRefused.inc({ reason });
      d.log.debug({ reason, detail, address: socket.remoteAddress }, 'sealed config stream refused');
      socket.destroy();
    };
    const deadline = setTimeout(() => refuse('timeout', `no hello within ${helloMs} ms`), helloMs);
    deadline.unref();
    socket.once('close', () => clearTimeout(deadline));
    const challenge = randomBytes(CHALLENGE_BYTES);
    socket.write(serverHello(challenge));
    const got: Buffer[] = [];
    let size = 0;
    const onHello = (chunk: Buffer) => {
      got.push(chunk);
      size += chunk.length;
      if (size < HELLO_BYTES) return;
      socket.off('data', onHello);
      if (size > HELLO_BYTES) return refuse('extra_bytes', 'the client sent more than its hello');
      const hello = Buffer.concat(got);
      let ticket: Buffer;
      try {
        ticket = helloTicket(hello);
      } catch (err) {
        return refuse('malformed', (err as SealedStreamError).message);
      }
      const t = tickets.peek(ticket);
      if (t === undefined) return refuse('unknown_ticket', 'no such ticket: unknown, used or expired');
      if (!helloAuthentic(hello, t.keys, challenge))
        return refuse('forged', 'the hello does not prove the ticket keys on this connection');
      tickets.use(ticket);
      clearTimeout(deadline);
      // Streams may have filled the port since the ticket was issued (a client can gather tickets first).
      try {
        checkStreamRoom();
      } catch {
        d.log.info(
          { pod: t.stream.podKey },
          'sealed config stream refused: connections kept for certificates',
        );
        socket.destroy();
        return;
      }
      // After its hello the client only reads: a byte from it ends the stream.
      socket.on('data', () => {
        d.log.info(
          { pod: t.stream.podKey },
          'closing sealed config stream: the client sent data after its hello',
        );
        socket.destroy();
      });
      const out = new SealedOut(socket, t.keys.serverToClient);
      // A ping first, at once: the client knows the stream was accepted (a resumed stream that holds the current
      // version would otherwise hear nothing until the first keepalive, and could not tell it from a refusal).
      out.write(PING_LINE, () => undefined);
      subscribeStream(d, t.stream, out, 'sealed');
    };
    socket.on('data', onHello);
  });
  return open;
}

const PING_LINE = '{"type":"ping"}\n';

/** A sealed stream seen as a StreamOut: every piece written becomes one frame. */
class SealedOut implements StreamOut {
  readonly #socket: Socket;
  readonly #sealer: FrameSealer;

  constructor(socket: Socket, key: Buffer) {
    this.#socket = socket;
    this.#sealer = new FrameSealer(key);
  }

  write(piece: string | Buffer, done: (err?: Error | null) => void): boolean {
    return this.#socket.write(this.#sealer.seal(piece), done);
  }
  end(): unknown {
    return this.#socket.end();
  }
  destroy(): unknown {
    return this.#socket.destroy();
  }
  get destroyed(): boolean {
    return this.#socket.destroyed;
  }
  get writableEnded(): boolean {
    return this.#socket.writableEnded;
  }
  once(event: 'close', cb: () => void): unknown {
    return this.#socket.once(event, cb);
  }
  on(event: 'error', cb: (err: Error) => void): unknown {
    return this.#socket.on(event, cb);
  }
}

export interface AdminDeps {
  metrics: OperatorMetrics;
  /** Empty when ready; otherwise what is missing. */
  notReady: () => string[];
}

export function createAdminServer(d: AdminDeps): http.Server {
  return http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://admin').pathname;
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const missing = d.notReady();
      res.writeHead(missing.length === 0 ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(missing.length === 0 ? 'ok\n' : `not ready: ${missing.join(', ')}\n`);
    } else if (path === '/metrics') {
      d.metrics.registry
        .metrics()
        .then((text) => res.writeHead(200, { 'content-type': d.metrics.registry.contentType }).end(text))
        .catch(() => res.writeHead(500).end());
    } else {
      res.writeHead(404).end();
    }
  });
}
