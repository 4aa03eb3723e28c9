// HTTP/2 and gRPC, stream by stream, on node:http2 (measured: see docs/proxy.md). Each accepted
// connection is handed to a non-listening Http2Server; each stream is routed like an HTTP/1 request and
// forwarded on a pooled client session per endpoint (plaintext, or mTLS to a peer proxy with ALPN
// weft.h2). Response headers, data and trailers (grpc-status) pass through; backpressure is stream.pipe's.
// The config's head limits apply per stream (431, as for HTTP/1); a session without open streams for
// idleTimeoutMs is closed with GOAWAY; a session that breaks the protocol or floods (nghttp2's and
// Node's defences) is counted by cause in weft_protocol_errors_total; drain sends GOAWAY and lets the
// streams in flight finish.

import type http2 from 'node:http2';
import net from 'node:net';
import type { Logger } from 'pino';
import { classifyResponse, parseGrpcStatus } from '../core/classify.ts';
import { type H2HeadLimits, h2HeadError } from '../core/h2-head.ts';
import type { HttpRequestView } from '../core/http-request.ts';
import { pathOnly } from '../core/http-request.ts';
import { CLIENT_ID_HEADER, REASON_HEADER } from '../http1/serialize.ts';
import type { DataPathObserver, TrafficLabels } from './observer.ts';
import { isIdentityMismatch, type MeshConnector, type UpstreamTarget } from './upstream.ts';

// node:http2 is loaded on the first HTTP/2 connection: loading it (and nghttp2 behind it) costs a proxy
// that never sees HTTP/2 several MB of resident memory.
const h2 = () => process.getBuiltinModule('node:http2');
// Values of nghttp2.h (http2.constants would load the module).
const NGHTTP2_FLAG_END_STREAM = 0x1;
const NGHTTP2_CANCEL = 0x8;
const NGHTTP2_REFUSED_STREAM = 0x7;
const NGHTTP2_ENHANCE_YOUR_CALM = 0xb;
// Rapid reset (CVE-2023-44487): each stream a client opens and cancels is opened and cancelled upstream
// too. A cancellation within PREMATURE_RESET_MS of the stream's start is premature; a client session with
// PREMATURE_RESET_MIN of them, at least half of the streams it opened, is closed (GOAWAY
// ENHANCE_YOUR_CALM; Envoy's defaults are the same: 500 streams, half, 1 s). A pooled upstream session is
// retired after UPSTREAM_RESETS_MAX cancellations, gracefully (its streams in flight finish), so that the
// cancellations of all clients together stay below the peer's reset limit (nghttp2 and Node: a burst of
// 1,000), which would otherwise close the session with the streams of every other client on it.
const PREMATURE_RESET_MS = 1000;
const PREMATURE_RESET_MIN = 500;
const UPSTREAM_RESETS_MAX = 200;
// Errors with which Node destroys a session over what the peer sent: nghttp2's own (ERR_HTTP2_ERROR) and Node's
// invalid-frame limit (ERR_HTTP2_TOO_MANY_INVALID_FRAMES). (ERR_HTTP2_ERROR also covers the rare local failure to
// submit a request; it is counted the same.) A failed connect has a negative errno too, so errno alone does not say.
const PEER_PROTOCOL_ERRORS: ReadonlySet<string | undefined> = new Set([
  'ERR_HTTP2_ERROR',
  'ERR_HTTP2_TOO_MANY_INVALID_FRAMES',
]);
// Their errno -> weft_protocol_errors_total code. -902 is what Node's own defences return: more invalid frames
// or refused streams than its limits allow.
const SESSION_ERROR_CODES: ReadonlyMap<number, string> = new Map([
  [-505, 'h2-protocol-error'],
  [-902, 'h2-stream-abuse'],
  [-904, 'h2-flood'],
  [-905, 'h2-continuation-flood'],
]);
// Streams a client may have open at once on one session, advertised in SETTINGS and enforced by nghttp2 (a stream
// over it is refused with REFUSED_STREAM). Node's default is 2^32-1, which bounds nothing; a peer proxy's pooled
// session carries many clients' streams, so this is well above what one client needs (nginx: 128).
const MAX_CONCURRENT_STREAMS = 1000;
// nghttp2's own per-stream header cap, above the config's (schema maximum 10,000 fields) plus the
// pseudo-headers, so that every request over the configured limit reaches h2HeadError and is answered
// and counted rather than reset silently.
const MAX_HEADER_LIST_PAIRS = 10_016;
// Responses from upstream: the same cap on fields as HTTP/1 responses (RESPONSE_LIMITS in
// http1-session.ts, 500) plus the pseudo-header; nghttp2 resets a stream whose response has more.
const RESPONSE_HEADER_LIST_PAIRS = 501;

export interface H2Limits extends H2HeadLimits {
  readonly connectTimeoutMs: number;
  /** A session with no open stream for this long is closed (GOAWAY). */
  readonly idleTimeoutMs: number;
}

/** One accepted client connection. */
interface Accepted {
  readonly conn: H2Connection;
  session: http2.ServerHttp2Session | null;
  open: number;
  idle: NodeJS.Timeout | null;
  /** Streams opened, and of those cancelled by the client prematurely (see PREMATURE_RESET_MS). */
  streams: number;
  cancelled: number;
}

/** A pooled upstream session (under its target's key) and the cancellations sent on it. */
interface Pooled {
  readonly key: string;
  readonly session: http2.ClientHttp2Session;
  resets: number;
}

/** Where one stream goes, decided by the router. */
export type H2Decision =
  | {
      readonly kind: 'forward';
      readonly target: UpstreamTarget;
      readonly labels: TrafficLabels;
      readonly timeoutMs: number | null;
      /** Balancer feedback, exactly once. */
      done(outcome: 'success' | 'failure' | 'connect-failure' | 'cancelled', latencyMs: number): void;
    }
  | {
      readonly kind: 'respond';
      readonly status: number;
      readonly reason: string;
      readonly labels: TrafficLabels;
    };

/** Per-connection facts the router needs. */
export interface H2Connection {
  readonly inbound: boolean;
  readonly clientId: string | null;
  route(view: HttpRequestView): H2Decision;
}

class H2HeadersView implements HttpRequestView {
  private readonly h: http2.IncomingHttpHeaders;
  constructor(h: http2.IncomingHttpHeaders) {
    this.h = h;
  }
  get method(): string {
    return String(this.h[':method'] ?? '');
  }
  get path(): string {
    return pathOnly(String(this.h[':path'] ?? '/'));
  }
  header(name: string): string | readonly string[] | undefined {
    return name === 'host' ? (this.h[':authority'] ?? this.h.host) : this.h[name];
  }
}

export class H2Proxy {
  /** Created with the first HTTP/2 connection (see h2()), again when the limits change. */
  private serverValue: http2.Http2Server | null = null;
  private readonly sessions = new Map<string, Pooled>();
  private readonly connections = new Map<string, Accepted>();
  /** The same entries by their session, for the per-stream and per-error lookups. */
  private readonly bySession = new WeakMap<http2.Http2Session, Accepted>();
  private readonly mesh: MeshConnector;
  private readonly observer: DataPathObserver;
  private readonly log: Logger;
  private limits: H2Limits = {
    connectTimeoutMs: 1000,
    idleTimeoutMs: 60_000,
    maxHeaderBytes: 16384,
    maxHeaderCount: 100,
  };

  constructor(mesh: MeshConnector, observer: DataPathObserver, log: Logger) {
    this.mesh = mesh;
    this.observer = observer;
    this.log = log;
  }

  private get server(): http2.Http2Server {
    if (this.serverValue !== null) return this.serverValue;
    const l = this.limits;
    const server = h2().createServer({
      peerMaxConcurrentStreams: 1000,
      maxHeaderListPairs: MAX_HEADER_LIST_PAIRS,
      // Advertised so that well-behaved clients fail locally; larger than any head h2HeadError admits.
      settings: {
        maxHeaderListSize: l.maxHeaderBytes + 32 * (l.maxHeaderCount + 8),
        maxConcurrentStreams: MAX_CONCURRENT_STREAMS,
      },
    });
    server.on('session', (session) => this.onSession(session));
    server.on('stream', (stream, headers, _flags, rawHeaders) => {
      try {
        this.onStream(stream, headers, rawHeaders);
      } catch (err) {
        this.log.error({ err }, 'internal error on an HTTP/2 stream; stream reset');
        stream.destroy();
      }
    });
    server.on('sessionError', (err: NodeJS.ErrnoException, session: http2.ServerHttp2Session) => {
      const a = this.bySession.get(session);
      const code = SESSION_ERROR_CODES.get(Number(err.errno)) ?? 'h2-error';
      this.log.debug({ code, err: err.message }, 'HTTP/2 session closed on a protocol error');
      this.observer.protocolError(a?.conn.inbound ? 'inbound' : 'outbound', code);
    });
    this.serverValue = server;
    return server;
  }

  /** Applies the config's limits; a change takes effect for connections accepted after it. */
  setLimits(limits: H2Limits): void {
    const l = this.limits;
    if (l.maxHeaderBytes !== limits.maxHeaderBytes || l.maxHeaderCount !== limits.maxHeaderCount)
      this.serverValue = null;
    this.limits = limits;
  }

  /** Takes over an accepted socket whose first bytes (the preface) were already read into `initial`. */
  accept(socket: net.Socket, initial: Buffer | null, conn: H2Connection): void {
    const key = `${socket.remoteAddress}|${socket.remotePort}`;
    const accepted: Accepted = { conn, session: null, open: 0, idle: null, streams: 0, cancelled: 0 };
    this.connections.set(key, accepted);
    socket.once('close', () => {
      if (accepted.idle !== null) clearTimeout(accepted.idle);
      this.connections.delete(key);
    });
    // Frames are written as they are ready; with Nagle a small frame waits for the peer's delayed ACK (40 ms).
    socket.setNoDelay(true);
    // With bytes detection already read, the session feeds itself them (on the next tick) and reads the socket
    // from then on. Resuming here would emit those bytes as 'data' to no one first: the session would then miss
    // the preface and answer GOAWAY(INTERNAL_ERROR), as it did for every HTTP/2 client on a `detect` port.
    const handOver = initial !== null && initial.length > 0;
    if (handOver) socket.unshift(initial);
    this.server.emit('connection', socket);
    if (!handOver) socket.resume();
  }

  /** Client connections still open (each holds one session); what the drain waits for. */
  get openSessions(): number {
    return this.connections.size;
  }

  /** Drain: every client session gets GOAWAY; the streams in flight may finish, new ones are refused. */
  drain(): void {
    for (const a of this.connections.values()) {
      if (a.session !== null && !a.session.closed) a.session.close();
    }
  }

  /** Cuts the client sessions left and closes the pooled upstream sessions (end of drain). */
  close(): void {
    for (const a of this.connections.values()) a.session?.destroy();
    for (const p of this.sessions.values()) p.session.close();
    this.sessions.clear();
  }

  private onSession(session: http2.ServerHttp2Session): void {
    const sock = session.socket;
    const a =
      sock === undefined ? undefined : this.connections.get(`${sock.remoteAddress}|${sock.remotePort}`);
    if (a === undefined) {
      session.destroy();
      return;
    }
    a.session = session;
    this.bySession.set(session, a);
    this.armIdle(a);
  }

  /** While the session has no open stream, it is closed after idleTimeoutMs (a preface and nothing else, or pings only). */
  private armIdle(a: Accepted): void {
    if (a.idle !== null) clearTimeout(a.idle);
    a.idle = setTimeout(() => {
      a.idle = null;
      if (a.open === 0 && a.session !== null && !a.session.closed) a.session.close();
    }, this.limits.idleTimeoutMs);
    a.idle.unref();
  }

  /** The pooled session to target (opened on first use; `inbound` labels what it counts). */
  private upstream(target: UpstreamTarget, inbound: boolean): Pooled {
    const existing = this.sessions.get(target.key);
    if (existing !== undefined && !existing.session.closed && !existing.session.destroyed) return existing;
    const session = h2().connect(
      `http://${net.isIPv6(target.address) ? `[${target.address}]` : target.address}:${target.port}`,
      {
        maxHeaderListPairs: RESPONSE_HEADER_LIST_PAIRS,
        createConnection: () => {
          const s =
            target.identity !== null
              ? this.mesh.connect(target, this.limits.connectTimeoutMs)
              : net.connect({ host: target.address, port: target.port });
          s.setNoDelay(true);
          return s;
        },
      },
    );
    const pooled: Pooled = { key: target.key, session, resets: 0 };
    session.on('error', (err: NodeJS.ErrnoException) => {
      // An upstream that breaks the protocol: Node answered it with GOAWAY and closed the session (its streams
      // get 502 bad-response, see onStream). Counted as upstream-<code>, as HTTP/1 upstreams' malformed
      // responses are. A failed connect is no protocol error: it shows as 502 connect-failed.
      if (PEER_PROTOCOL_ERRORS.has(err.code))
        this.observer.protocolError(
          inbound ? 'inbound' : 'outbound',
          `upstream-${SESSION_ERROR_CODES.get(Number(err.errno)) ?? 'h2-error'}`,
        );
      this.log.debug({ err, target: target.key }, 'h2 upstream session error');
    });
    const forget = () => this.forget(pooled);
    session.on('close', forget);
    session.on('goaway', forget);
    session.setTimeout(60_000, () => session.close());
    this.sessions.set(target.key, pooled);
    return pooled;
  }

  /** Takes a session out of the pool (new streams get a new one), if it is still the pooled one. */
  private forget(pooled: Pooled): void {
    if (this.sessions.get(pooled.key) === pooled) this.sessions.delete(pooled.key);
  }

  /** Cancels an upstream stream; retires its session (gracefully) once it carried UPSTREAM_RESETS_MAX. */
  private cancelUpstream(up: http2.ClientHttp2Stream, pooled: Pooled): void {
    up.close(NGHTTP2_CANCEL);
    if (++pooled.resets < UPSTREAM_RESETS_MAX) return;
    this.forget(pooled);
    if (!pooled.session.closed) pooled.session.close();
  }

  /** Counts a client's premature cancellation; closes its session when they make a rapid reset. */
  private clientCancelled(a: Accepted): void {
    a.cancelled++;
    if (a.cancelled < PREMATURE_RESET_MIN || a.cancelled * 2 < a.streams) return;
    const session = a.session;
    if (session === null || session.destroyed) return;
    this.observer.protocolError(a.conn.inbound ? 'inbound' : 'outbound', 'h2-rapid-reset');
    this.log.debug({ streams: a.streams, cancelled: a.cancelled }, 'HTTP/2 session closed: rapid reset');
    session.goaway(NGHTTP2_ENHANCE_YOUR_CALM);
    session.destroy();
  }

  private onStream(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    rawHeaders: readonly string[],
  ): void {
    stream.on('error', () => undefined);
    const a = stream.session === undefined ? undefined : this.bySession.get(stream.session);
    if (a === undefined) {
      stream.close(NGHTTP2_REFUSED_STREAM);
      return;
    }
    const conn = a.conn;
    a.open++;
    a.streams++;
    if (a.idle !== null) {
      clearTimeout(a.idle);
      a.idle = null;
    }
    stream.once('close', () => {
      if (--a.open === 0) this.armIdle(a);
    });
    const headErr = h2HeadError(rawHeaders, this.limits);
    if (headErr !== null) {
      this.observer.protocolError(conn.inbound ? 'inbound' : 'outbound', headErr.code);
      if (!stream.destroyed)
        stream.respond({ ':status': 431, [REASON_HEADER]: headErr.code }, { endStream: true });
      stream.resume();
      return;
    }
    const started = performance.now();
    let decision: H2Decision;
    try {
      decision = conn.route(new H2HeadersView(headers));
    } catch (err) {
      this.log.error({ err }, 'h2 routing failed');
      stream.close(NGHTTP2_REFUSED_STREAM);
      return;
    }
    if (decision.kind === 'respond') {
      this.observer.response(decision.labels, decision.status, null, 0, decision.reason);
      if (!stream.destroyed)
        stream.respond({ ':status': decision.status, [REASON_HEADER]: decision.reason }, { endStream: true });
      stream.resume();
      return;
    }
    const out: http2.OutgoingHttpHeaders = {};
    for (const name of Object.keys(headers)) {
      if (name === CLIENT_ID_HEADER && conn.inbound) continue;
      out[name] = headers[name];
    }
    if (conn.inbound && conn.clientId !== null) out[CLIENT_ID_HEADER] = conn.clientId;
    const d = decision;
    let finished = false;
    const finish = (
      status: number,
      grpcStatus: number | null,
      reason: string | null,
      outcome: 'success' | 'failure' | 'connect-failure' | 'cancelled',
    ) => {
      if (finished) return;
      finished = true;
      if (timer !== null) clearTimeout(timer);
      const latency = performance.now() - started;
      d.done(outcome, latency);
      this.observer.response(d.labels, status, grpcStatus, latency, reason);
    };
    let up: http2.ClientHttp2Stream;
    let pooled: Pooled;
    try {
      pooled = this.upstream(d.target, conn.inbound);
      up = pooled.session.request(out, { endStream: stream.endAfterHeaders });
    } catch (err) {
      this.log.debug({ err }, 'h2 upstream request failed');
      finish(502, null, 'connect-failed', 'connect-failure');
      if (!stream.destroyed)
        stream.respond({ ':status': 502, [REASON_HEADER]: 'connect-failed' }, { endStream: true });
      return;
    }
    // The proxy's own resets of the client's stream; 'aborted' without one is the client's cancellation.
    let resetByProxy = false;
    const resetClient = () => {
      resetByProxy = true;
      stream.close(NGHTTP2_CANCEL);
    };
    let timer: NodeJS.Timeout | null = null;
    if (d.timeoutMs !== null) {
      timer = setTimeout(() => {
        this.cancelUpstream(up, pooled);
        if (!stream.headersSent && !stream.destroyed)
          stream.respond({ ':status': 504, [REASON_HEADER]: 'timeout' }, { endStream: true });
        else resetClient();
        finish(504, null, 'timeout', 'failure');
      }, d.timeoutMs);
    }
    let status = 0;
    let trailers: http2.IncomingHttpHeaders | null = null;
    up.on('response', (resHeaders, flags) => {
      try {
        onResponse(resHeaders, flags);
      } catch (err) {
        this.log.error({ err }, 'internal error relaying an HTTP/2 response; stream reset');
        stream.destroy();
        up.destroy();
      }
    });
    const onResponse = (resHeaders: http2.IncomingHttpHeaders, flags: number): void => {
      status = Number(resHeaders[':status'] ?? 0);
      const end = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
      if (stream.destroyed) return;
      if (end) {
        // Trailers-only response (gRPC errors): grpc-status is in the headers.
        stream.respond(resHeaders, { endStream: true });
        const g = resHeaders['grpc-status'];
        finish(status, g === undefined ? null : Number(g), null, classify(status, g));
        return;
      }
      stream.respond(resHeaders, { waitForTrailers: true });
      up.pipe(stream);
    };
    up.on('trailers', (t) => {
      trailers = t;
    });
    stream.on('wantTrailers', () => {
      const t: http2.OutgoingHttpHeaders = {};
      if (trailers !== null)
        for (const k of Object.keys(trailers)) if (!k.startsWith(':')) t[k] = trailers[k];
      if (!stream.destroyed) stream.sendTrailers(t);
    });
    up.on('end', () => {
      const g = trailers?.['grpc-status'];
      finish(status, g === undefined ? null : Number(g), null, classify(status, g));
    });
    up.on('error', (err: NodeJS.ErrnoException) => {
      this.log.debug({ err }, 'h2 upstream stream error');
      // The upstream broke the protocol and Node closed its session (counted there): bad-response, as HTTP/1
      // answers a malformed response. A stream reset on a live connection (a malformed response at stream
      // level, or the app's RST_STREAM) is upstream-reset; connect-failed only if the connection never came up.
      const broken = PEER_PROTOCOL_ERRORS.has(err.code);
      if (!stream.headersSent && !stream.destroyed) {
        const neverConnected = !broken && status === 0 && pooled.session.connecting;
        const reason = broken
          ? 'bad-response'
          : !neverConnected
            ? 'upstream-reset'
            : isIdentityMismatch(err)
              ? 'identity-mismatch'
              : 'connect-failed';
        stream.respond({ ':status': 502, [REASON_HEADER]: reason }, { endStream: true });
        finish(502, null, reason, neverConnected ? 'connect-failure' : 'failure');
      } else {
        resetClient();
        finish(status, null, broken ? 'bad-response' : 'upstream-reset', 'failure');
      }
    });
    up.on('close', () => {
      if (!finished && !stream.destroyed && stream.headersSent && !stream.writableEnded) resetClient();
    });
    stream.on('aborted', () => {
      if (!resetByProxy && performance.now() - started < PREMATURE_RESET_MS) this.clientCancelled(a);
    });
    stream.on('close', () => {
      if (!up.closed) this.cancelUpstream(up, pooled);
      finish(status, null, null, 'cancelled');
    });
    if (!stream.endAfterHeaders) stream.pipe(up);
  }
}

function classify(status: number, grpc: string | string[] | undefined): 'success' | 'failure' {
  return classifyResponse(status, parseGrpcStatus(grpc), false);
}
