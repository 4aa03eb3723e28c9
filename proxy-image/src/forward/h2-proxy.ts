// HTTP/2 and gRPC, stream by stream, on node:http2 (measured: see docs/proxy.md). Each accepted
// connection is handed to a non-listening Http2Server; each stream is routed like an HTTP/1 request and
// forwarded on a pooled client session per endpoint (plaintext, or mTLS to a peer proxy with ALPN
// weft.h2). Response headers, data and trailers (grpc-status) pass through; backpressure is stream.pipe's.
// The config's head limits apply per stream (431, as for HTTP/1); a session without open streams for
// idleTimeoutMs is closed with GOAWAY; a stream whose client stalls it for idleTimeoutMs (a request body
// that stops arriving, a response the client stops taking) is answered 408 or reset, as an HTTP/1
// exchange is; a session that breaks the protocol or floods (nghttp2's and Node's defences) is counted by
// cause in weft_protocol_errors_total; drain sends GOAWAY and lets the streams in flight finish.

import type http2 from 'node:http2';
import net from 'node:net';
import type { Logger } from 'pino';
import { classifyResponse, isGrpcContentType, parseGrpcStatus } from '../core/classify.ts';
import { type H2HeadLimits, h2HeadError } from '../core/h2-head.ts';
import type { HttpRequestView } from '../core/http-request.ts';
import { normalizeTarget, requestPath } from '../core/http-request.ts';
import { equalsHeaderName } from '../http1/chars.ts';
import { CLIENT_ID_HEADER, REASON_HEADER } from '../http1/serialize.ts';
import type { AttemptFailure } from './http1-session.ts';
import type { DataPathObserver, ExchangeEnd, TrafficLabels } from './observer.ts';
import { closedByProxy } from './proxy-closed.ts';
import { isIdentityMismatch, type MeshConnector, type UpstreamTarget } from './upstream.ts';

// node:http2 is loaded on the first HTTP/2 connection: loading it (and nghttp2 behind it) costs a proxy
// that never sees HTTP/2 several MB of resident memory.
const h2 = () => process.getBuiltinModule('node:http2');
// Values of nghttp2.h (http2.constants would load the module).
const NGHTTP2_FLAG_END_STREAM = 0x1;
const NGHTTP2_CANCEL = 0x8;
const NGHTTP2_NO_ERROR = 0x0;
const NGHTTP2_REFUSED_STREAM = 0x7;
const NGHTTP2_INTERNAL_ERROR = 0x2;
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
  /**
   * A session with no open stream for this long is closed (GOAWAY); a stream its client stalls for this long
   * (see StallWatch) is answered 408 or reset.
   */
  readonly idleTimeoutMs: number;
}

/**
 * A forwarded stream, as the stall sweeper sees it. What the client is waiting to do for the proxy: send more of a
 * request body the upstream has not answered yet ('body'; not for gRPC, whose streams may rightly wait on the
 * client for long: gRPC deadlines govern those), or take response data the proxy holds for it because its
 * flow-control window is full ('reader', also after the upstream's response has ended). Waiting on the upstream is
 * the route timeout's business, not this.
 */
interface StallWatch {
  readonly session: http2.Http2Session;
  /** A stream from a peer proxy: that proxy watches its own client first, so this one gives it two sweeps more. */
  readonly fromPeer: boolean;
  waitingOn(): 'body' | 'reader' | null;
  /** Grows whenever the client makes progress of that kind: body bytes received, response bytes delivered. */
  progress(kind: 'body' | 'reader'): number;
  /** Ends the stream: 408 body-timeout, or a reset for a slow reader. */
  cut(kind: 'body' | 'reader'): void;
  /** Last resort if cut throws. */
  destroy(): void;
  /** Sweeper state: what it waited on and progress() at the last sweep, and since when (-1: not stalled). */
  lastKind: 'body' | 'reader' | null;
  lastProgress: number;
  stalledSince: number;
}

/** One accepted client connection. */
interface Accepted {
  readonly conn: H2Connection;
  /** The client's socket (closedByProxy tells the proxy's own closes from the client's). */
  readonly socket: net.Socket;
  session: http2.ServerHttp2Session | null;
  open: number;
  idle: NodeJS.Timeout | null;
  /** Streams opened, and of those cancelled by the client prematurely (see PREMATURE_RESET_MS). */
  streams: number;
  cancelled: number;
}

/** A pooled upstream session (under its target's key), its open streams and the cancellations sent on it. */
interface Pooled {
  readonly key: string;
  readonly session: http2.ClientHttp2Session;
  resets: number;
  open: number;
}

// Streams one pooled upstream session carries before another session to the same target is opened (fewer if
// the peer allows fewer). Beyond the peer's limit Node queues new streams until one ends: one client holding
// streams open would otherwise stall every other client of that endpoint.
const STREAMS_PER_UPSTREAM_SESSION = 250;

/** A stream to forward, with its retry policy (the router's plan; see routers.ts). */
export interface H2Forward {
  readonly kind: 'forward';
  /** Target of the current attempt. */
  readonly target: UpstreamTarget;
  readonly labels: TrafficLabels;
  /** Whole-stream timeout across attempts (null: none); expiry answers 504. */
  readonly timeoutMs: number | null;
  /** Request bodies up to this many bytes are kept so the stream can be retried; -1: never retried. */
  readonly maxReplayBytes: number;
  /**
   * After a failed attempt, nothing of which reached the client: the next attempt's target and delay, or
   * null to give up. `grpcStatus` -1 when absent; `bodyBytes` Infinity when the body cannot be replayed.
   */
  retryStream(
    attempt: number,
    failure: AttemptFailure,
    status: number,
    grpcStatus: number,
    bodyBytes: number,
  ): { target: UpstreamTarget; delayMs: number } | null;
  /** Balancer feedback for the current attempt, at most once per attempt. */
  attemptDone(
    target: UpstreamTarget | null,
    outcome: 'success' | 'failure' | 'connect-failure' | 'cancelled',
    latencyMs: number,
  ): void;
  /** Time allowed for the attempt about to be sent (per-try timeout), or null for none. */
  attemptTimeoutMs(): number | null;
}

/** Where one stream goes, decided by the router. */
export type H2Decision =
  | H2Forward
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
  get target(): string {
    return String(this.h[':path'] ?? '/');
  }
  private pathValue: string | null = null;
  get path(): string {
    this.pathValue ??= requestPath(this.target);
    return this.pathValue;
  }
  header(name: string): string | readonly string[] | undefined {
    return name === 'host' ? (this.h[':authority'] ?? this.h.host) : this.h[name];
  }
}

export class H2Proxy {
  /** Created with the first HTTP/2 connection (see h2()), again when the limits change. */
  private serverValue: http2.Http2Server | null = null;
  /** Pooled upstream sessions by target key; more than one when streams outgrow one session. */
  private readonly sessions = new Map<string, Pooled[]>();
  private readonly connections = new Map<string, Accepted>();
  /** Set by drain(): sessions accepted from then on are closed after their first stream. */
  private draining = false;
  /** The same entries by their session, for the per-stream and per-error lookups. */
  private readonly bySession = new WeakMap<http2.Http2Session, Accepted>();
  private readonly mesh: MeshConnector;
  private readonly observer: DataPathObserver;
  private readonly log: Logger;
  /** Streams being forwarded, swept for client stalls while any is open (sweepStalls). */
  private readonly watched = new Set<StallWatch>();
  private sweeper: NodeJS.Timeout | null = null;
  private sweepEvery = 0;
  private lastSweep = 0;
  /** Sweeps so far, and the sweep at which one slow reader was cut on a session whose window was shut. */
  private sweeps = 0;
  private readonly shutCuts = new WeakMap<http2.Http2Session, number>();
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
        // A session accepted while draining (the listeners stay open through a classic sidecar's drain): its
        // first stream is served, and GOAWAY tells the client to take the next ones elsewhere.
        const session = stream.session;
        if (this.draining && session !== undefined && !session.closed) session.close();
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
    if (this.sweeper !== null && l.idleTimeoutMs !== limits.idleTimeoutMs) this.startSweeper();
  }

  /** Takes over an accepted socket whose first bytes (the preface) were already read into `initial`. */
  accept(socket: net.Socket, initial: Buffer | null, conn: H2Connection): void {
    const key = `${socket.remoteAddress}|${socket.remotePort}`;
    const accepted: Accepted = { conn, socket, session: null, open: 0, idle: null, streams: 0, cancelled: 0 };
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
    this.draining = true;
    for (const a of this.connections.values()) {
      if (a.session !== null && !a.session.closed) a.session.close();
    }
  }

  /** Cuts the client sessions left and closes the pooled upstream sessions (end of drain). */
  close(): void {
    for (const a of this.connections.values()) a.session?.destroy();
    for (const list of this.sessions.values()) for (const p of list) p.session.close();
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

  /** Watches a stream until it closes; the sweeper runs while any stream is watched. */
  private watch(w: StallWatch): void {
    this.watched.add(w);
    if (this.sweeper === null) this.startSweeper();
  }

  /** A stall is cut between idleTimeoutMs and idleTimeoutMs + one interval after the client's last progress. */
  private startSweeper(): void {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweepEvery = Math.max(100, Math.min(5000, this.limits.idleTimeoutMs / 4));
    this.lastSweep = performance.now();
    this.sweeper = setInterval(() => this.sweepStalls(), this.sweepEvery);
    this.sweeper.unref();
  }

  /**
   * One pass over the watched streams. A stream that waited on its client for the same thing at this sweep and the
   * previous one, with no progress between them, has been stalled at least since the previous sweep; past
   * idleTimeoutMs it is cut. A session whose window toward the client is exhausted is the exception: a client that
   * stops reading one stream can stall the others behind it, which move again once that stream is gone, so of its
   * slow readers only the longest stalled is cut per pass, unless the window stayed shut after the last such cut.
   */
  private sweepStalls(): void {
    const now = performance.now();
    const previous = this.lastSweep;
    this.lastSweep = now;
    const due: StallWatch[] = [];
    for (const w of this.watched) {
      const kind = w.waitingOn();
      const p = kind === null ? 0 : w.progress(kind);
      if (kind === null || kind !== w.lastKind || p !== w.lastProgress) {
        w.lastKind = kind;
        w.lastProgress = p;
        w.stalledSince = -1;
        continue;
      }
      if (w.stalledSince < 0) w.stalledSince = previous;
      const allowed = this.limits.idleTimeoutMs + (w.fromPeer ? 2 * this.sweepEvery : 0);
      if (now - w.stalledSince >= allowed) due.push(w);
    }
    const windowShut = new Map<http2.Http2Session, StallWatch>();
    for (const w of due) {
      if (w.lastKind === 'reader' && (w.session.state.remoteWindowSize ?? 1) <= 0) {
        // Unless a cut on this session at the last sweep left the window shut: the client is not reading the
        // session at all, and one stream per sweep would hold the rest for up to a thousand sweeps.
        if (this.shutCuts.get(w.session) !== this.sweeps - 1) {
          const first = windowShut.get(w.session);
          if (first === undefined || w.stalledSince < first.stalledSince) windowShut.set(w.session, w);
          continue;
        }
      }
      this.cut(w);
    }
    for (const [session, w] of windowShut) {
      this.shutCuts.set(session, this.sweeps);
      this.cut(w);
    }
    this.sweeps++;
    if (this.watched.size === 0 && this.sweeper !== null) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }

  private cut(w: StallWatch): void {
    this.watched.delete(w);
    try {
      w.cut(w.lastKind!);
    } catch (err) {
      this.log.error({ err }, 'internal error cutting a stalled HTTP/2 stream; stream reset');
      w.destroy();
    }
  }

  /**
   * A pooled session to target with room for one more stream (a new one when every pooled session is full
   * or none is open); `inbound` labels what it counts. The caller counts the stream in `open`.
   */
  private upstream(target: UpstreamTarget, inbound: boolean): Pooled {
    const list = this.sessions.get(target.key);
    if (list !== undefined) {
      for (const p of list) {
        const s = p.session;
        if (s.closed || s.destroyed) continue;
        const peerMax = s.remoteSettings?.maxConcurrentStreams ?? STREAMS_PER_UPSTREAM_SESSION;
        if (p.open < Math.min(peerMax, STREAMS_PER_UPSTREAM_SESSION)) return p;
      }
    }
    const session = h2().connect(
      `http://${net.isIPv6(target.address) ? `[${target.address}]` : target.address}:${target.port}`,
      {
        maxHeaderListPairs: RESPONSE_HEADER_LIST_PAIRS,
        createConnection: () => {
          const secure = target.identity !== null;
          const s = secure
            ? this.mesh.connect(target, this.limits.connectTimeoutMs)
            : net.connect({ host: target.address, port: target.port });
          s.setNoDelay(true);
          // Connect and (mesh) TLS handshake within connectTimeoutMs, as for HTTP/1: a peer that accepts
          // and never answers would otherwise hold every stream sent to it until the route timeout, if any.
          s.setTimeout(this.limits.connectTimeoutMs, () =>
            s.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })),
          );
          s.once(secure ? 'secureConnect' : 'connect', () => s.setTimeout(0));
          return s;
        },
      },
    );
    const pooled: Pooled = { key: target.key, session, resets: 0, open: 0 };
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
    if (list === undefined) this.sessions.set(target.key, [pooled]);
    else list.push(pooled);
    return pooled;
  }

  /** Takes a session out of the pool (new streams go to another or a new one). */
  private forget(pooled: Pooled): void {
    const list = this.sessions.get(pooled.key);
    if (list === undefined) return;
    const i = list.indexOf(pooled);
    if (i !== -1) list.splice(i, 1);
    if (list.length === 0) this.sessions.delete(pooled.key);
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
      this.observer.response(decision.labels, decision.status, null, 0, decision.reason, 'complete');
      if (!stream.destroyed)
        stream.respond({ ':status': decision.status, [REASON_HEADER]: decision.reason }, { endStream: true });
      stream.resume();
      return;
    }
    const out: http2.OutgoingHttpHeaders = {};
    for (const name of Object.keys(headers)) {
      // Any spelling an app server may read as the identity header ("x_weft_client_id") is dropped too.
      if (conn.inbound && equalsHeaderName(name, CLIENT_ID_HEADER)) continue;
      out[name] = headers[name];
    }
    if (conn.inbound && conn.clientId !== null) out[CLIENT_ID_HEADER] = conn.clientId;
    // Inbound, the app gets the path authorization judged (dot segments removed), so it serves what was allowed.
    const path = headers[':path'];
    if (conn.inbound && typeof path === 'string') out[':path'] = normalizeTarget(path);
    this.forward(stream, a, decision, out, started);
  }

  /**
   * Forwards one stream under its plan: attempt after attempt while the plan retries and nothing of the
   * response reached the client. A retry replays the request body, which is kept (up to the plan's
   * maxReplayBytes) only for streams the plan may retry; a body still arriving or larger is never replayed.
   */
  private forward(
    stream: http2.ServerHttp2Stream,
    a: Accepted,
    d: H2Forward,
    out: http2.OutgoingHttpHeaders,
    started: number,
  ): void {
    const inbound = a.conn.inbound;
    const replayLimit = d.maxReplayBytes;
    let kept: Buffer[] | null = null;
    let bodyEnded = stream.endAfterHeaders;
    // Request trailers pass through like response ones (kept for a replay: they arrive before the body's end).
    // Inbound, a client identity among them is dropped, as in the head: the app may merge trailers into headers.
    let requestTrailers: http2.OutgoingHttpHeaders | null = null;
    // gRPC has no request trailers: its streams skip the wait (an extra event, and an empty DATA frame, each).
    // Only a stream with a body can have trailers, so only such a stream is looked at.
    const contentType = out['content-type'];
    const grpcRequest = !bodyEnded && typeof contentType === 'string' && isGrpcContentType(contentType);
    if (!bodyEnded && !grpcRequest)
      stream.once('trailers', (t: http2.IncomingHttpHeaders) => {
        requestTrailers = trailerFields(t, inbound);
      });
    // Body bytes received from the client: what a replay sends (while kept), and the client's progress for the
    // stall sweeper (StallWatch), which waits on the body of a stream that is not gRPC.
    const waitsForBody = !bodyEnded && !grpcRequest;
    let awaitingContinue = waitsForBody && String(out.expect ?? '').toLowerCase() === '100-continue';
    let bodyReceived = 0;
    if (replayLimit >= 0 && !bodyEnded) {
      kept = [];
      stream.once('end', () => {
        bodyEnded = true;
      });
    }
    if (kept !== null || waitsForBody)
      stream.on('data', (chunk: Buffer) => {
        bodyReceived += chunk.length;
        // A client that sends its body without waiting for the 100 is judged as any other.
        awaitingContinue = false;
        if (kept === null) return;
        // A copy: a chunk may be a view of a much larger read buffer of the session.
        if (bodyReceived > replayLimit) kept = null;
        else kept.push(Buffer.from(chunk));
      });
    let finished = false;
    /** Retries sent so far. */
    let attempt = 0;
    let attemptStarted = started;
    let up: http2.ClientHttp2Stream | null = null;
    let pooled: Pooled | null = null;
    let tryTimer: NodeJS.Timeout | null = null;
    /** The backoff before the next attempt. */
    let waiting: NodeJS.Timeout | null = null;
    let status = 0;
    let trailers: http2.IncomingHttpHeaders | null = null;
    const clearTry = () => {
      if (tryTimer !== null) clearTimeout(tryTimer);
      tryTimer = null;
    };
    const finish = (
      status: number,
      grpcStatus: number | null,
      reason: string | null,
      outcome: 'success' | 'failure' | 'connect-failure' | 'cancelled',
      /**
       * How the exchange ended for the client, if not as `outcome` says ('cancelled' for a cancellation, else
       * 'complete'): 'errored' when it failed after the response head reached the client, or (with 'cancelled')
       * the proxy closed the client's connection itself, which is neither the endpoint's doing nor the client's;
       * 'complete' for the proxy's own answer to a stalled client, whose endpoint is released ('cancelled').
       */
      end: ExchangeEnd = outcome === 'cancelled' ? 'cancelled' : 'complete',
    ) => {
      if (finished) return;
      finished = true;
      // A retry waiting out its backoff: its endpoint was picked but sent nothing, so it is released (cancelled),
      // not charged with this end's failure (a route timeout) toward opening its circuit.
      const inBackoff = waiting !== null;
      if (timer !== null) clearTimeout(timer);
      if (waiting !== null) clearTimeout(waiting);
      clearTry();
      const now = performance.now();
      d.attemptDone(null, inBackoff ? 'cancelled' : outcome, now - attemptStarted);
      // The client's reset is not the server's failure (ProxyMetrics.response).
      this.observer.response(d.labels, status, grpcStatus, now - started, reason, end);
    };
    // The proxy's own resets of the client's stream; 'aborted' without one is the client's cancellation.
    let resetByProxy = false;
    /**
     * CANCEL for the proxy's own decisions (a timeout, a stalled reader). When the upstream's response breaks off
     * after its head went out: the upstream's own CANCEL or ENHANCE_YOUR_CALM on a live session passes on, anything
     * else (a lost session, a protocol error, a reset with NO_ERROR mid-body) is INTERNAL_ERROR, which gRPC
     * clients read as INTERNAL (before session 18 all of it was CANCEL: CANCELLED).
     */
    const resetClient = (code = NGHTTP2_CANCEL) => {
      resetByProxy = true;
      stream.close(code);
    };
    const answer = (code: number, reason: string) => {
      if (stream.headersSent || stream.destroyed) return;
      stream.respond({ ':status': code, [REASON_HEADER]: reason }, { endStream: true });
      // The proxy's own answer is complete, and a request body still coming is not wanted: RST_STREAM(NO_ERROR)
      // once the response has gone out (RFC 9113 8.1; Node sends it after the response's END_STREAM), so the
      // stream does not stay half open. A request without a body, or whose body has ended, has nothing left to stop.
      if (!stream.endAfterHeaders && !stream.readableEnded) {
        resetByProxy = true;
        stream.close(NGHTTP2_NO_ERROR);
        // Whatever of the body is buffered is dropped, or the stream would wait for it to be read before closing.
        // Unpiped first: a pipe to the upstream, torn down after this (its 'close' handler runs after ours), would
        // pause the stream again.
        kept = null;
        stream.unpipe();
        stream.resume();
      }
    };
    /** The whole stream ran out of time: a 504 if nothing was answered yet, else the client's stream is cut. */
    const timedOut = () => {
      dropAttempt();
      if (!stream.headersSent && !stream.destroyed) answer(504, 'timeout');
      else resetClient();
      finish(504, null, 'timeout', 'failure');
    };
    /** Ends the current attempt without a response to the client. */
    const dropAttempt = () => {
      clearTry();
      const failed = up;
      up = null;
      if (failed === null) return;
      stream.unpipe(failed);
      if (!failed.closed && pooled !== null) this.cancelUpstream(failed, pooled);
    };
    /** After a failed attempt: sends the next one if the plan retries it (true), else false. */
    const retried = (failure: AttemptFailure, code: number, grpcStatus: number): boolean => {
      if (replayLimit < 0 || finished || stream.destroyed || stream.headersSent) return false;
      d.attemptDone(
        null,
        failure === 'connect-failure' ? 'connect-failure' : 'failure',
        performance.now() - attemptStarted,
      );
      // Replayable only once the whole body is here and was kept (kept is dropped when it grows too large).
      const bodyBytes = !bodyEnded || (kept === null && bodyReceived > 0) ? Infinity : bodyReceived;
      const next = d.retryStream(attempt, failure, code, grpcStatus, bodyBytes);
      if (next === null) return false;
      dropAttempt();
      attempt++;
      if (next.delayMs <= 0) send(next.target);
      else
        waiting = setTimeout(() => {
          waiting = null;
          if (!finished && !stream.destroyed) send(next.target);
        }, next.delayMs);
      return true;
    };
    /** A refused stream was sent again (at most once per request). */
    let refusedOnce = false;
    const send = (target: UpstreamTarget): void => {
      attemptStarted = performance.now();
      status = 0;
      trailers = null;
      // A retry, or a refused stream sent again: the body (if any) comes from the copy kept for it.
      const replay = attempt > 0 || refusedOnce;
      let u: http2.ClientHttp2Stream;
      let p: Pooled;
      let waitTrailers = false;
      const endStream = replay ? bodyReceived === 0 && requestTrailers === null : stream.endAfterHeaders;
      try {
        p = this.upstream(target, inbound);
        // With a body, the stream's end waits for the client's trailers, if any ('wantTrailers' below).
        waitTrailers = !endStream && !grpcRequest;
        u = p.session.request(out, { endStream, waitForTrailers: waitTrailers });
      } catch (err) {
        this.log.debug({ err }, 'h2 upstream request failed');
        if (retried('connect-failure', 0, -1)) return;
        finish(502, null, 'connect-failed', 'connect-failure');
        answer(502, 'connect-failed');
        return;
      }
      up = u;
      pooled = p;
      if (waitTrailers)
        u.on('wantTrailers', () => {
          if (u.destroyed) return;
          try {
            // None: Node ends the stream with an empty DATA frame.
            u.sendTrailers(requestTrailers ?? {});
          } catch (err) {
            // Trailers Node will not send (its own checks are stricter than the parser's): the body still ends.
            this.log.debug({ err }, 'request trailers not relayed');
            u.sendTrailers({});
          }
        });
      p.open++;
      u.once('close', () => {
        p.open--;
      });
      const current = () => up === u && !finished;
      /** The upstream's response broke off after its head went out: the client's stream is reset (resetCode). */
      const brokeOff = (reason: 'upstream-reset' | 'bad-response') => {
        resetClient(resetCode(u, p));
        finish(status, null, reason, 'failure', 'errored');
      };
      const perTry = d.attemptTimeoutMs();
      if (perTry !== null)
        tryTimer = setTimeout(() => {
          tryTimer = null;
          if (!current()) return;
          if (!retried('response', 504, -1)) timedOut();
        }, perTry);
      u.on('response', (resHeaders, flags) => {
        if (!current()) return;
        try {
          onResponse(u, resHeaders, flags);
        } catch (err) {
          this.log.error({ err }, 'internal error relaying an HTTP/2 response; stream reset');
          resetClient(NGHTTP2_INTERNAL_ERROR);
          u.destroy();
          // The proxy's failure, not a client's cancellation.
          finish(status, null, 'internal', 'failure', 'errored');
        }
      });
      // Informational responses (100 Continue, 103 Early Hints) pass through, as over HTTP/1.
      u.on('headers', (h) => {
        if (!current() || stream.headersSent || stream.destroyed || stream.closed) return;
        try {
          stream.additionalHeaders(h);
          if (Number(h[':status']) === 100) awaitingContinue = false;
        } catch (err) {
          this.log.debug({ err }, 'informational response not relayed');
        }
      });
      u.on('trailers', (t) => {
        if (current()) trailers = t;
      });
      u.on('end', () => {
        if (!current()) return;
        // Node ends the readable side of a stream its session lost (the upstream connection dropped mid-body) as
        // it does a complete one; only the code tells them apart. Ending the client's stream then would pass a
        // truncated body off as the whole response: the client's stream is reset instead, as over HTTP/1.
        // So is one the upstream reset with NO_ERROR before END_STREAM (cutOff, see onResponse). A client stream
        // already ended (HEAD, 204, 304: respond() ended it) has had its whole response.
        if (stream.headersSent && !stream.writableEnded) {
          if ((u.rstCode ?? NGHTTP2_NO_ERROR) !== NGHTTP2_NO_ERROR || cutOff) {
            brokeOff('upstream-reset');
            return;
          }
          stream.end();
        }
        const g = trailers?.['grpc-status'];
        finish(status, g === undefined ? null : Number(g), null, classify(status, g));
      });
      u.on('error', (err: NodeJS.ErrnoException) => {
        if (!current()) return;
        this.log.debug({ err }, 'h2 upstream stream error');
        // The upstream broke the protocol and Node closed its session (counted there): bad-response, as HTTP/1
        // answers a malformed response. A stream reset on a live connection (a malformed response at stream
        // level, or the app's RST_STREAM) is upstream-reset; connect-failed only if the connection never came up.
        const broken = PEER_PROTOCOL_ERRORS.has(err.code);
        // Refused (REFUSED_STREAM, or past a GOAWAY's last stream: Node reports both so): the upstream never
        // processed it, so it is sent again once, whatever the method and the route's retry policy (after a
        // GOAWAY on a new session: that one has left the pool). Only a stream without a body, or whose whole body
        // is here and was kept for a retry (replayed from that copy): a body piped into the refused stream is gone.
        if (
          u.rstCode === NGHTTP2_REFUSED_STREAM &&
          status === 0 &&
          !refusedOnce &&
          (stream.endAfterHeaders || (bodyEnded && kept !== null)) &&
          !stream.headersSent &&
          !stream.destroyed
        ) {
          refusedOnce = true;
          dropAttempt();
          send(target);
          return;
        }
        if (!stream.headersSent && !stream.destroyed) {
          const neverConnected = !broken && status === 0 && p.session.connecting;
          if (status === 0 && retried(neverConnected ? 'connect-failure' : 'reset', 0, -1)) return;
          const reason = broken
            ? 'bad-response'
            : !neverConnected
              ? 'upstream-reset'
              : isIdentityMismatch(err)
                ? 'identity-mismatch'
                : 'connect-failed';
          answer(502, reason);
          finish(502, null, reason, neverConnected ? 'connect-failure' : 'failure');
        } else {
          brokeOff(broken ? 'bad-response' : 'upstream-reset');
        }
      });
      u.on('close', () => {
        if (!current() || stream.destroyed) return;
        if (stream.headersSent) {
          if (!stream.writableEnded) brokeOff('upstream-reset');
          return;
        }
        // Closed before any response without an error (RST_STREAM CANCEL or NO_ERROR, or the connection
        // gone after connecting): a reset, as 'error' would have said. Before, the client waited forever.
        if (status === 0 && retried('reset', 0, -1)) return;
        answer(502, 'upstream-reset');
        finish(502, null, 'upstream-reset', 'failure');
      });
      if (replay) {
        for (const chunk of kept ?? []) u.write(chunk);
        if (!endStream) u.end();
      } else if (!stream.endAfterHeaders) stream.pipe(u);
    };
    const onResponse = (
      u: http2.ClientHttp2Stream,
      resHeaders: http2.IncomingHttpHeaders,
      flags: number,
    ): void => {
      status = Number(resHeaders[':status'] ?? 0);
      const end = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
      if (stream.destroyed) return;
      const g = resHeaders['grpc-status'];
      // A 5xx, or a trailers-only gRPC error, may be retried: nothing of it has reached the client yet.
      const grpc = end ? (parseGrpcStatus(g) ?? -1) : -1;
      if (replayLimit >= 0 && (status >= 500 || grpc > 0)) {
        if (retried('response', status, grpc)) return;
      }
      clearTry();
      // The route timeout runs from the request head to the response head (as for HTTP/1): a body that streams
      // longer (gRPC server streaming, a download) is not cut.
      if (timer !== null) clearTimeout(timer);
      timer = null;
      // Relayed from here on: no retry is possible any more, so the body kept for one goes.
      kept = null;
      if (end) {
        // Trailers-only response (gRPC errors): grpc-status is in the headers.
        stream.respond(resHeaders, { endStream: true });
        finish(status, g === undefined ? null : Number(g), null, classify(status, g));
        return;
      }
      stream.respond(resHeaders, { waitForTrailers: true });
      // Not ended by the pipe: u's 'end' handler ends the client's stream only if the response was complete.
      u.on('data', (chunk: Buffer) => {
        relayed += chunk.length;
      });
      u.pipe(stream, { end: false });
      // An upstream that resets the stream with NO_ERROR before END_STREAM has cut its response off, but Node ends
      // the readable side then as after END_STREAM, with the same code. The one trace it leaves: closing such a
      // stream, Node adds its own 'end' listener while the readable side has not ended (after END_STREAM the end
      // is always read before the close). Watched from here on, so the listeners above and the pipe's own do not
      // call it.
      u.on('newListener', (event: string | symbol) => {
        if (event === 'end' && u.closed && !readEnded(u)) cutOff = true;
      });
    };
    /** The upstream closed the relayed response's stream before its end (RST_STREAM NO_ERROR; see onResponse). */
    let cutOff = false;
    let timer: NodeJS.Timeout | null = null;
    // Response bytes written toward the client (of which stream.writableLength still wait for its window): its
    // progress as a reader, for the stall sweeper.
    let relayed = 0;
    if (d.timeoutMs !== null) {
      timer = setTimeout(() => {
        timer = null;
        timedOut();
      }, d.timeoutMs);
    }
    stream.on('wantTrailers', () => {
      if (!stream.destroyed) stream.sendTrailers(trailers === null ? {} : trailerFields(trailers, false));
    });
    stream.on('aborted', () => {
      if (!resetByProxy && performance.now() - started < PREMATURE_RESET_MS) this.clientCancelled(a);
    });
    stream.on('close', () => {
      this.watched.delete(watch);
      dropAttempt();
      if (finished) return;
      // The status the client got, if any: a 5xx head being retried was never relayed. A connection the proxy
      // closed itself (an untrusted peer) fails its streams; otherwise the client cancelled.
      const byProxy = closedByProxy(a.socket);
      finish(
        stream.headersSent ? status : 0,
        null,
        byProxy ? 'aborted' : null,
        'cancelled',
        byProxy ? 'errored' : 'cancelled',
      );
    });
    const watch: StallWatch = {
      session: a.session!,
      fromPeer: inbound && a.conn.clientId !== null,
      waitingOn: () => {
        if (stream.destroyed || stream.closed) return null;
        // Also after the upstream's response ended: its tail may still wait for the client's window.
        if (stream.headersSent) return stream.writableLength > 0 ? 'reader' : null;
        // Flowing: the proxy is not holding the body back itself (an upstream that reads slowly, a retry's
        // backoff), so what is missing is the client's. A client that asked for 100-continue waits for it first.
        return !finished &&
          waitsForBody &&
          !awaitingContinue &&
          status === 0 &&
          !stream.readableEnded &&
          stream.readableFlowing === true
          ? 'body'
          : null;
      },
      progress: (kind) => (kind === 'body' ? bodyReceived : relayed - stream.writableLength),
      cut: (kind) => {
        if (stream.destroyed) return;
        const direction = inbound ? 'inbound' : 'outbound';
        dropAttempt();
        // Like the client's reset, not the endpoint's failure: the endpoint is released, not charged.
        if (kind === 'body') {
          this.observer.protocolError(direction, 'body-timeout');
          answer(408, 'body-timeout');
          finish(408, null, 'body-timeout', 'cancelled', 'complete');
        } else {
          this.observer.protocolError(direction, 'slow-reader');
          resetClient();
          // Nothing to record if the upstream's response had ended: the exchange was, as complete.
          finish(status, null, 'aborted', 'cancelled');
        }
      },
      destroy: () => stream.destroy(),
      lastKind: null,
      lastProgress: 0,
      stalledSince: -1,
    };
    this.watch(watch);
    send(d.target);
  }
}

/**
 * The code a client's stream is reset with when its upstream stream broke off after the response head: the
 * upstream's own CANCEL or ENHANCE_YOUR_CALM on a live session passes on (gRPC: CANCELLED, RESOURCE_EXHAUSTED, as
 * without the mesh); anything else (a lost session, for which Node also reports CANCEL; a protocol error; a reset
 * with NO_ERROR mid-body) is INTERNAL_ERROR (gRPC: INTERNAL).
 */
function resetCode(u: http2.ClientHttp2Stream, p: { session: http2.ClientHttp2Session }): number {
  const code = u.rstCode;
  return !p.session.destroyed && (code === NGHTTP2_CANCEL || code === NGHTTP2_ENHANCE_YOUR_CALM)
    ? code
    : NGHTTP2_INTERNAL_ERROR;
}

/** Whether the end of a stream's readable side has been read from the wire (emitted or not yet: `ended`). */
function readEnded(s: http2.ClientHttp2Stream): boolean {
  return (s as unknown as { _readableState: { ended: boolean } })._readableState.ended;
}

/** Trailer fields to send on: no pseudo-header, and inbound no client identity (the proxy sets that in the head). */
function trailerFields(t: http2.IncomingHttpHeaders, dropClientId: boolean): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (const k of Object.keys(t))
    if (!k.startsWith(':') && !(dropClientId && equalsHeaderName(k, CLIENT_ID_HEADER))) out[k] = t[k];
  return out;
}

function classify(status: number, grpc: string | string[] | undefined): 'success' | 'failure' {
  return classifyResponse(status, parseGrpcStatus(grpc), false);
}
