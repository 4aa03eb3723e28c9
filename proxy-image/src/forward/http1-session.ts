// One client connection speaking HTTP/1.x, proxied request by request to pooled upstream connections.
// Bytes are framed, never reassembled: heads are parsed and rewritten, bodies are forwarded as the
// slices they arrive in. Requests on a connection are handled one at a time (pipelined requests wait,
// bounded, with the client paused), and every buffer is bounded by pausing the side that fills it.

import type net from 'node:net';
import { normalizeTarget } from '../core/http-request.ts';
import { isIdempotentMethod } from '../core/retry-policy.ts';
import { type BodyFramer, ChunkedFramer, LengthFramer, UntilCloseFramer } from '../http1/body.ts';
import { latin1 } from '../http1/chars.ts';
import {
  type HeadLimits,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  type ResponseFraming,
  type ResponseHead,
  responseFraming,
} from '../http1/head.ts';
import {
  CLIENT_ID_HEADER,
  proxyResponse,
  serializeRequestHead,
  serializeResponseHead,
} from '../http1/serialize.ts';
import type { ExchangeEnd } from './observer.ts';
import { closedByProxy } from './proxy-closed.ts';
import { adoptSocket, type ReadBuffer } from './read-buffer.ts';
import { KEEPALIVE_IDLE_MS } from './tcp-pipe.ts';
import {
  isIdentityMismatch,
  type UpstreamConn,
  type UpstreamOwner,
  type UpstreamPool,
  type UpstreamTarget,
} from './upstream.ts';

/** Stable reasons the proxy answers or fails a request itself (x-weft-reason, metric labels, logs). */
export type ProxyReason =
  | 'no-endpoint'
  | 'no-route'
  | 'forbidden'
  | 'connect-failed'
  | 'upstream-reset'
  | 'bad-response'
  | 'timeout'
  | 'identity-mismatch'
  | 'overloaded'
  | string;

/** How an exchange ended, for the balancer, metrics and logs. */
export interface ExchangeResult {
  readonly status: number;
  /** The proxy produced the status itself (with this reason), or null when it came from upstream. */
  readonly proxyReason: ProxyReason | null;
  readonly latencyMs: number;
  /** Retries sent after the first attempt. */
  readonly retries: number;
  readonly end: ExchangeEnd;
}

export type AttemptFailure = 'connect-failure' | 'reset' | 'response';

/** The routing decision for one request, made by the router when the head arrives. */
export interface ForwardPlan {
  readonly kind: 'forward';
  readonly target: UpstreamTarget;
  /** Whole-request timeout including retries (null for none); expiry answers 504. */
  readonly timeoutMs: number | null;
  /**
   * After a failed attempt: the target of the next attempt and the delay before it, or null to give up.
   * Called only when nothing of the response reached the client and the request can be replayed.
   */
  retry(
    attempt: number,
    failure: AttemptFailure,
    status: number,
    previous: UpstreamTarget,
  ): { target: UpstreamTarget; delayMs: number } | null;
  /** Called for every attempt that reached an endpoint decision (balancer feedback). */
  attemptDone(
    target: UpstreamTarget,
    outcome: 'success' | 'failure' | 'connect-failure' | 'cancelled',
    latencyMs: number,
  ): void;
  /** Called once when the exchange ends. */
  done(result: ExchangeResult): void;
  /** The exchange became a tunnel (an upgrade): counted like an opaque connection, and when it closes. */
  tunnelOpened(): void;
  tunnelClosed(bytesFromClient: number, bytesToClient: number): void;
  /** Time allowed for the attempt about to be sent (per-try timeout), or null for none. */
  attemptTimeoutMs?(): number | null;
}

export interface LocalAnswer {
  readonly kind: 'respond';
  readonly status: number;
  readonly reason: ProxyReason;
  readonly message: string;
  done?(result: ExchangeResult): void;
}

export type RouteDecision = ForwardPlan | LocalAnswer;

/** What the listener that accepted the connection provides. */
export interface Http1Context {
  readonly pool: UpstreamPool;
  readonly limits: HeadLimits;
  readonly headersTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** Inbound: strip incoming x-weft-client-id and set the verified one (or none). */
  readonly inbound: boolean;
  /** Verified SPIFFE ID of the client (inbound mTLS), else null. */
  readonly clientId: string | null;
  /** Host to add for HTTP/1.0 requests without one. */
  readonly defaultAuthority: string;
  /** Request bodies up to this size (Content-Length) are kept so the request can be retried. */
  readonly maxReplayBytes: number;
  route(head: RequestHead): RouteDecision;
  /** Malformed request or other connection-level failure (metrics, logs). */
  onProtocolError(code: string): void;
  /** An unexpected exception while handling this connection (logged; the connection is cut). */
  onInternalError(err: unknown): void;
  /** The session closed (connection accounting). */
  onClose(session: Http1Session): void;
  /**
   * Inbound only (null outbound): tunnels are authorized by the request that opens them, so the proxy checks
   * that request again when the 101 arrives (a config may have revoked it meanwhile; false is counted and logged
   * by the callee) and, through `opened`, against every later config.
   */
  readonly inboundTunnels: {
    allowed(req: RequestHead): boolean;
    opened(session: Http1Session, req: RequestHead): void;
  } | null;
}

// Client-side states.
const S_HEAD: number = 0;
const S_BODY: number = 1;
const S_WAIT: number = 2;
const S_TUNNEL: number = 3;
const S_CLOSED: number = 4;
// Response states.
const R_NONE: number = 0;
const R_HEAD: number = 1;
const R_BODY: number = 2;
const R_DONE: number = 3;
// Reasons the client socket is paused (bit set).
const P_CONNECT: number = 1;
const P_UPSTREAM_FULL: number = 2;
const P_PIPELINE: number = 4;
/** The client is not reading what was written to it: the next pipelined request waits for 'drain'. */
const P_CLIENT_FULL: number = 8;

/** Response heads from upstream may be larger than what clients may send. */
const RESPONSE_LIMITS: HeadLimits = { maxHeaderBytes: 65536, maxHeaderCount: 500 };
/**
 * A head a peer proxy sends is one it already accepted, written again: a space after each colon and the fields
 * the proxy adds (Host for HTTP/1.0, Connection and Upgrade) may make it that much longer. Judged by the same
 * limits, a head within them at the first proxy failed at the second (431 or 502).
 */
export function peerHeadLimits(l: HeadLimits): HeadLimits {
  return { maxHeaderBytes: l.maxHeaderBytes + l.maxHeaderCount + 512, maxHeaderCount: l.maxHeaderCount + 3 };
}
const PEER_RESPONSE_LIMITS = peerHeadLimits(RESPONSE_LIMITS);
/**
 * A Content-Length response body up to this size that arrived with its head goes out in the same write,
 * as one latin1 string (byte-exact; Node writes such strings from a stack buffer, no allocation).
 */
const INLINE_BODY_BYTES = 8192;
/**
 * A plain client socket's own read buffer (adoptSocket), held while the connection is open: it spares
 * each read an ArrayBuffer and a stream event. 16 KiB per client connection from the app.
 */
const CLIENT_READ_BYTES = 16 * 1024;

export class Http1Session implements UpstreamOwner {
  private readonly client: net.Socket;
  private readonly ctx: Http1Context;
  /**
   * The client socket's own read buffer when it could be adopted (a plain socket): each read is then a view
   * of it that the next read overwrites (see onClientRead). Null for TLS clients, which read as a stream.
   */
  private readonly reads: ReadBuffer | null;
  private state = S_HEAD;
  private paused = 0;
  private buf: Buffer | null = null;
  private bufStart = 0;
  private headTimer: NodeJS.Timeout | null = null;
  private clientEnded = false;
  private draining = false;
  private processing = false;
  private closeNotified = false;

  // The current exchange.
  private req: RequestHead | null = null;
  private plan: ForwardPlan | null = null;
  private reqFramer: BodyFramer | null = null;
  private reqDone = false;
  private reqBytesSent = 0;
  /** The request body as sent, kept for a retry when it is small enough (Content-Length <= maxReplayBytes). */
  private replay: Buffer[] | null = null;
  private upstream: UpstreamConn | null = null;
  private target: UpstreamTarget | null = null;
  private attempt = 0;
  private startedAt = 0;
  private attemptStartedAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private tryTimer: NodeJS.Timeout | null = null;
  private closeAfter = false;
  private resState = R_NONE;
  private rbuf: Buffer | null = null;
  private rStart = 0;
  private res: ResponseHead | null = null;
  private resFramer: BodyFramer | null = null;
  private framing: ResponseFraming = 'none';
  private dechunk = false;
  private upstreamReusable = true;
  private upstreamPausedForClient = false;
  /** The open tunnel's labels and the client socket's byte counts when it began. */
  private tunnel: { plan: ForwardPlan; read0: number; written0: number } | null = null;
  private readonly onDechunkData = (b: Buffer, s: number, e: number): void => {
    if (!this.client.write(b.subarray(s, e))) this.pauseUpstream();
  };

  constructor(client: net.Socket, ctx: Http1Context, initial: Buffer | null) {
    this.client = client;
    this.ctx = ctx;
    client.setNoDelay(true);
    client.setTimeout(ctx.idleTimeoutMs);
    // A bug in this connection's handling must cost this connection only, never the process.
    const adopted = adoptSocket(client, CLIENT_READ_BYTES);
    this.reads = adopted?.reads ?? null;
    const onChunk = (chunk: Buffer): void => {
      try {
        if (this.reads === null) this.onClientData(chunk);
        else this.onClientRead(chunk);
      } catch (err) {
        this.onBug(err);
      }
    };
    if (this.reads !== null) this.reads.onData = onChunk;
    else client.on('data', onChunk);
    client.on('end', () => {
      try {
        this.onClientEnd();
      } catch (err) {
        this.onBug(err);
      }
    });
    client.on('drain', () => this.onClientDrain());
    client.on('timeout', () => {
      try {
        this.onIdleTimeout();
      } catch (err) {
        this.onBug(err);
      }
    });
    client.on('error', () => undefined);
    client.on('close', () => {
      try {
        this.onClientClose();
      } catch (err) {
        this.ctx.onInternalError(err);
      }
    });
    // What detection read comes first, then what the socket read after it (both fresh buffers).
    if (initial !== null && initial.length > 0) this.onClientData(initial);
    if (adopted?.buffered && this.state !== S_CLOSED) this.onClientData(adopted.buffered);
    // Reading starts here unless the first bytes already paused it (a body waiting for its upstream).
    if (this.paused === 0 && this.state !== S_CLOSED) client.resume();
  }

  /**
   * A read into the client's own buffer: the chunk is processed as any other, then nothing may keep a view of
   * it past this call. A head or body still waiting (incomplete, pipelined, or for its upstream) is copied; a
   * write to the upstream that queued a view pins the buffer, so the next read goes to a new one.
   */
  private onClientRead(chunk: Buffer): void {
    this.onClientData(chunk);
    const buf = this.buf;
    if (buf !== null && buf.buffer === chunk.buffer) {
      this.buf = Buffer.from(buf.subarray(this.bufStart));
      this.bufStart = 0;
    }
    if (this.upstream !== null && this.upstream.socket.writableLength > 0) this.reads!.pin();
  }

  /** Runs a timer's work as the socket events' is run: an exception costs this connection only (onBug). */
  private guard(work: (this: Http1Session) => void): void {
    try {
      work.call(this);
    } catch (err) {
      this.onBug(err);
    }
  }

  /** Cuts both sides after an unexpected exception. */
  onBug(err: unknown): void {
    this.ctx.onInternalError(err);
    // The exchange is abandoned: its plan (which may be what threw) is not asked again when the client closes.
    this.plan = null;
    const up = this.upstream;
    this.upstream = null;
    up?.destroy();
    this.state = S_CLOSED;
    this.client.destroy();
  }

  /** Graceful drain: idle connections close now, busy ones after their current response. */
  drain(): void {
    this.draining = true;
    if (this.state === S_HEAD && this.req === null && this.buf === null) this.closeClient();
    else this.closeAfter = true;
  }

  /** Serves the exchange under way or the next one, then closes (a connection accepted while draining). */
  closeAfterExchange(): void {
    this.draining = true;
    if (this.req !== null) this.closeAfter = true;
  }

  get idle(): boolean {
    return this.req === null && this.state === S_HEAD;
  }

  /** Closes both sides of the connection at once (a tunnel the config no longer authorizes). */
  close(): void {
    this.client.destroy();
  }

  // ---- client side ----

  private onClientData(chunk: Buffer): void {
    if (this.state === S_TUNNEL) {
      if (this.upstream !== null && !this.upstream.socket.write(chunk)) this.pauseClient(P_UPSTREAM_FULL);
      return;
    }
    if (this.state === S_CLOSED) return;
    if (this.buf === null) {
      this.buf = chunk;
      this.bufStart = 0;
    } else {
      this.buf = Buffer.concat([this.buf.subarray(this.bufStart), chunk]);
      this.bufStart = 0;
    }
    this.processClient();
  }

  private processClient(): void {
    const outer = this.processing;
    this.processing = true;
    try {
      this.processClientLoop();
    } finally {
      this.processing = outer;
    }
  }

  private processClientLoop(): void {
    for (;;) {
      const buf = this.buf;
      switch (this.state) {
        case S_HEAD: {
          if (buf === null) return;
          if (this.req !== null) return; // waiting for the previous exchange to finish
          // A client that pipelines requests and does not read the answers would grow this socket's write
          // queue without bound (each answer is written whole): its next request waits until it reads.
          if (this.client.writableNeedDrain) {
            this.pauseClient(P_CLIENT_FULL);
            return;
          }
          const r = parseRequestHead(buf, this.bufStart, this.ctx.limits);
          if (r.kind === 'incomplete') {
            this.headTimer ??= setTimeout(() => this.guard(this.onHeadTimeout), this.ctx.headersTimeoutMs);
            return;
          }
          if (this.headTimer !== null) {
            clearTimeout(this.headTimer);
            this.headTimer = null;
          }
          if (r.kind === 'error') {
            this.ctx.onProtocolError(r.error.code);
            this.answerAndClose(r.error.status, r.error.code, r.error.message);
            return;
          }
          this.bufStart += r.length;
          if (this.bufStart >= buf.length) this.buf = null;
          this.startExchange(r.head);
          if (this.state === S_CLOSED) return; // answered locally and closing
          continue;
        }
        case S_BODY: {
          if (buf === null || (this.paused & P_CONNECT) !== 0 || this.upstream === null) return;
          const framer = this.reqFramer!;
          const end = framer.consume(buf, this.bufStart, buf.length);
          if (end === -2) {
            this.ctx.onProtocolError(framer.error ?? 'bad-body');
            // After the app's response began (an early answer while the body still came), a 400 would be
            // written into the middle of it: both connections are cut instead.
            if (this.res !== null) this.abort('cancelled');
            else this.failExchange(400, 'bad-request-body', 'malformed request body');
            return;
          }
          const sliceEnd = end < 0 ? buf.length : end;
          if (sliceEnd > this.bufStart) {
            const slice =
              this.bufStart === 0 && sliceEnd === buf.length ? buf : buf.subarray(this.bufStart, sliceEnd);
            this.reqBytesSent += slice.length;
            // Reads into the client's own buffer are overwritten by the next read: the replay keeps a copy.
            if (this.replay !== null) this.replay.push(this.reads === null ? slice : Buffer.from(slice));
            if (!this.upstream.socket.write(slice)) this.pauseClient(P_UPSTREAM_FULL);
          }
          this.bufStart = sliceEnd;
          if (sliceEnd >= buf.length) this.buf = null;
          if (!framer.done) return;
          this.state = S_WAIT;
          this.reqDone = true;
          if (this.resState === R_DONE) this.finishExchange();
          continue;
        }
        case S_WAIT:
          if (buf !== null && buf.length - this.bufStart > this.ctx.limits.maxHeaderBytes)
            this.pauseClient(P_PIPELINE);
          return;
        default:
          return;
      }
    }
  }

  private startExchange(head: RequestHead): void {
    this.req = head;
    const now = performance.now();
    this.startedAt = now;
    this.attempt = 0;
    this.reqDone = false;
    this.reqBytesSent = 0;
    this.replay =
      !head.chunked && head.contentLength > 0 && head.contentLength <= this.ctx.maxReplayBytes ? [] : null;
    this.closeAfter = head.connectionClose || this.draining || this.clientEnded;
    this.resState = R_NONE;
    this.res = null;
    this.resFramer = null;
    this.rbuf = null;
    this.upstreamReusable = true;
    const hasBody = head.chunked || head.contentLength > 0;
    this.reqFramer = head.chunked
      ? new ChunkedFramer(
          this.ctx.limits.maxHeaderBytes,
          this.ctx.limits.maxHeaderCount,
          this.ctx.inbound ? CLIENT_ID_HEADER : null,
        )
      : head.contentLength > 0
        ? new LengthFramer(head.contentLength)
        : null;
    let decision: RouteDecision;
    try {
      decision = this.ctx.route(head);
    } catch {
      decision = { kind: 'respond', status: 500, reason: 'internal', message: 'routing failed' };
    }
    if (decision.kind === 'respond') {
      decision.done?.({
        status: decision.status,
        proxyReason: decision.reason,
        latencyMs: 0,
        retries: 0,
        end: 'complete',
      });
      // The unread body would be taken for the next request: close unless there is none.
      this.answer(decision.status, decision.reason, decision.message, hasBody || this.closeAfter);
      return;
    }
    this.plan = decision;
    if (decision.timeoutMs !== null)
      this.timer = setTimeout(() => this.guard(this.onTimeout), decision.timeoutMs);
    this.state = hasBody ? S_BODY : S_WAIT;
    this.reqDone = !hasBody;
    this.dispatch(decision.target, now);
  }

  private dispatch(target: UpstreamTarget, now: number): void {
    this.target = target;
    this.attemptStartedAt = now;
    const tryMs = this.plan?.attemptTimeoutMs?.() ?? null;
    if (tryMs !== null) {
      this.clearTryTimer();
      this.tryTimer = setTimeout(() => this.guard(this.onTryTimeout), Math.max(1, tryMs));
    }
    const pool = this.ctx.pool;
    const idle = pool.takeIdle(target, this);
    if (idle !== null) {
      this.upstream = idle;
      this.sendHead();
      return;
    }
    this.pauseClient(P_CONNECT);
    try {
      this.upstream = pool.connect(target, this);
    } catch {
      this.upstream = null;
      this.attemptFailed('connect-failure', 0, 'connect-failed');
    }
  }

  private sendHead(): void {
    const req = this.req!;
    const up = this.upstream!;
    const clientId = this.ctx.clientId;
    const head = serializeRequestHead(req, {
      dropClientId: this.ctx.inbound,
      extra: this.ctx.inbound && clientId !== null ? [CLIENT_ID_HEADER, clientId] : null,
      hostFallback: this.ctx.defaultAuthority,
      // Inbound, the app gets the path authorization judged (dot segments removed), so it serves what was
      // allowed. Outbound the request goes as the client wrote it (a signed URL must stay as signed).
      target: this.ctx.inbound ? normalizeTarget(req.target) : null,
    });
    this.resState = R_HEAD;
    const socket = up.socket;
    if (this.reqDone && this.replay === null) {
      socket.write(head, 'latin1'); // no body: one write, nothing to cork
      return;
    }
    socket.cork();
    try {
      socket.write(head, 'latin1');
      // A retry of a request whose body was already read replays the kept copy; otherwise the body streams.
      if (this.reqDone && this.replay !== null) for (const b of this.replay) socket.write(b);
      else this.processClient();
    } finally {
      socket.uncork();
    }
  }

  private onClientEnd(): void {
    this.clientEnded = true;
    if (this.state === S_TUNNEL) {
      this.upstream?.socket.end();
      return;
    }
    // A peer proxy (inbound over mTLS) never half-closes a mesh connection: its end during an exchange is its
    // client going away (cancelled, or cut), so the request to the app is cancelled too, as an HTTP/2 stream's
    // reset is. Plain clients may half-close after a request and still want the answer.
    if (this.ctx.inbound && this.ctx.clientId !== null && this.req !== null) {
      this.client.destroy();
      return;
    }
    if (this.req === null) this.closeClient();
    else this.closeAfter = true;
  }

  private onClientDrain(): void {
    if (this.upstreamPausedForClient) {
      this.upstreamPausedForClient = false;
      this.upstream?.socket.resume();
    }
    if ((this.paused & P_CLIENT_FULL) !== 0) {
      this.resumeClient(P_CLIENT_FULL);
      if (this.state === S_HEAD && this.buf !== null && !this.processing) this.processClient();
    }
  }

  private onIdleTimeout(): void {
    if (this.req === null && this.state === S_HEAD) {
      this.closeClient();
      return;
    }
    // Slow clients: one that stopped sending its body, or stopped reading its response, for a whole
    // idle period would otherwise hold an upstream connection forever. Waiting for a slow upstream
    // (long polls) is the route timeout's business, not this one's.
    if (this.state === S_BODY || this.client.writableLength > 0) {
      this.ctx.onProtocolError(this.state === S_BODY ? 'body-timeout' : 'slow-reader');
      if (this.res === null && this.state === S_BODY && this.plan !== null) {
        this.failExchange(408, 'body-timeout', 'request body not received in time');
      } else {
        this.abort('cancelled');
      }
    }
  }

  private onHeadTimeout(): void {
    this.headTimer = null;
    if (this.state !== S_HEAD || this.req !== null) return;
    this.ctx.onProtocolError('headers-timeout');
    this.answerAndClose(408, 'headers-timeout', 'request head not received in time');
  }

  private onClientClose(): void {
    this.state = S_CLOSED;
    const t = this.tunnel;
    if (t !== null) {
      this.tunnel = null;
      t.plan.tunnelClosed(this.client.bytesRead - t.read0, this.client.bytesWritten - t.written0);
    }
    if (this.headTimer !== null) clearTimeout(this.headTimer);
    if (this.timer !== null) clearTimeout(this.timer);
    this.clearTryTimer();
    const up = this.upstream;
    this.upstream = null;
    try {
      // Also between two attempts (a retry's backoff: no upstream), or the exchange would never be counted.
      if (this.plan !== null && this.resState !== R_DONE) {
        // With no upstream, a retry in its backoff: its endpoint was picked and is released too (once per pick).
        const target = up?.target ?? this.target;
        if (target !== null)
          this.plan.attemptDone(target, 'cancelled', performance.now() - this.attemptStartedAt);
        // The status the client got: only once a head was relayed (a 5xx being retried never was). Closed by the
        // proxy itself (an untrusted peer), it is the proxy's failure, not the client's cancellation.
        const byProxy = closedByProxy(this.client);
        this.endPlan(
          this.resState === R_BODY ? (this.res?.status ?? 0) : 0,
          byProxy ? 'aborted' : null,
          byProxy ? 'errored' : 'cancelled',
        );
      }
    } finally {
      up?.destroy();
      if (!this.closeNotified) {
        this.closeNotified = true;
        this.ctx.onClose(this);
      }
    }
  }

  // ---- upstream side ----

  onUpstreamConnect(conn: UpstreamConn): void {
    if (conn !== this.upstream) return;
    this.resumeClient(P_CONNECT);
    this.sendHead();
  }

  onUpstreamData(conn: UpstreamConn, chunk: Buffer): void {
    if (conn !== this.upstream) return;
    this.upstreamData(chunk);
    if (conn.reusesReadBuffer) {
      // The chunk is a view of the connection's read buffer, which its next read overwrites: keep a
      // copy of an incomplete head, and move the next read elsewhere if a write still queues a view.
      const rbuf = this.rbuf;
      if (rbuf !== null && rbuf.buffer === chunk.buffer) {
        this.rbuf = Buffer.from(rbuf.subarray(this.rStart));
        this.rStart = 0;
      }
      if (this.client.writableLength > 0) conn.pinReadBuffer();
    }
  }

  private upstreamData(chunk: Buffer): void {
    if (this.state === S_TUNNEL) {
      if (!this.client.write(chunk)) this.pauseUpstream();
      return;
    }
    if (this.resState === R_HEAD) {
      if (this.rbuf === null) {
        this.rbuf = chunk;
        this.rStart = 0;
      } else {
        this.rbuf = Buffer.concat([this.rbuf.subarray(this.rStart), chunk]);
        this.rStart = 0;
      }
      this.processResponseHead();
      return;
    }
    if (this.resState === R_BODY) {
      if (!this.dechunk) {
        this.pumpResponse(chunk, 0);
        return;
      }
      // De-chunking writes each chunk's payload separately: one writev for all of them.
      const client = this.client;
      client.cork();
      try {
        this.pumpResponse(chunk, 0);
      } finally {
        client.uncork();
      }
      return;
    }
    // Bytes after a complete response: the connection cannot be trusted any more.
    this.upstreamReusable = false;
  }

  private processResponseHead(): void {
    for (;;) {
      const rbuf = this.rbuf;
      if (rbuf === null) return;
      const r = parseResponseHead(
        rbuf,
        this.rStart,
        // A mesh upstream (an expected identity) is a peer proxy.
        this.upstream !== null && this.upstream.target.identity !== null
          ? PEER_RESPONSE_LIMITS
          : RESPONSE_LIMITS,
      );
      if (r.kind === 'incomplete') return;
      if (r.kind === 'error') {
        this.ctx.onProtocolError(`upstream-${r.error.code}`);
        this.upstreamReusable = false;
        this.attemptFailed('reset', 0, 'bad-response');
        return;
      }
      const head = r.head;
      this.rStart += r.length;
      const req = this.req!;
      if (head.status < 200 && head.status !== 101) {
        // Interim responses (100 Continue, 103 Early Hints) go to HTTP/1.1 clients as they come.
        if (req.versionMinor === 1) {
          const written = this.client.write(
            serializeResponseHead(head, { close: false, keepAlive10: false, dechunk: false }),
            'latin1',
          );
          // An upstream that floods interim responses to a client that does not read them waits, as a body
          // would (resumed on the client's 'drain').
          if (!written) this.pauseUpstream();
        }
        continue;
      }
      if (head.status === 101) {
        if (req.upgrade === null) {
          this.upstreamReusable = false;
          this.attemptFailed('reset', 0, 'bad-response');
          return;
        }
        this.startTunnel(head);
        return;
      }
      const plan = this.plan!;
      if (this.canRetry() && head.status >= 500) {
        plan.attemptDone(this.target!, 'failure', performance.now() - this.attemptStartedAt);
        const next = plan.retry(this.attempt, 'response', head.status, this.target!);
        if (next !== null) {
          this.retryWith(next.target, next.delayMs);
          return;
        }
      }
      this.clearTryTimer();
      this.res = head;
      this.framing = responseFraming(req.method, head);
      if (this.framing === 'tunnel') {
        // A 2xx to CONNECT: from here on both directions are opaque bytes.
        this.startTunnel(head);
        return;
      }
      this.dechunk = req.versionMinor === 0 && this.framing === 'chunked';
      if (!this.reqDone || this.framing === 'close' || this.dechunk) this.closeAfter = true;
      if (head.connectionClose || this.framing === 'close' || !this.reqDone) this.upstreamReusable = false;
      const keepAlive10 = req.versionMinor === 0 && !this.closeAfter;
      const headText = serializeResponseHead(head, {
        close: this.closeAfter,
        keepAlive10,
        dechunk: this.dechunk,
      });
      if (this.timer !== null) {
        clearTimeout(this.timer);
        this.timer = null;
      }
      const now = performance.now();
      plan.attemptDone(this.target!, head.status >= 500 ? 'failure' : 'success', now - this.attemptStartedAt);
      const rest = this.rStart;
      if (this.framing === 'none') {
        this.client.write(headText, 'latin1');
        if (rest < rbuf.length) this.upstreamReusable = false;
        this.rbuf = null;
        this.responseDone(now);
        return;
      }
      if (
        this.framing === 'length' &&
        head.contentLength <= INLINE_BODY_BYTES &&
        rbuf.length - rest >= head.contentLength
      ) {
        // The whole (small) body came with the head: one write for both.
        const end = rest + head.contentLength;
        this.client.write(end > rest ? headText + latin1(rbuf, rest, end) : headText, 'latin1');
        if (end < rbuf.length) this.upstreamReusable = false;
        this.rbuf = null;
        this.responseDone(now);
        return;
      }
      this.resFramer =
        this.framing === 'length'
          ? new LengthFramer(head.contentLength)
          : this.framing === 'chunked'
            ? new ChunkedFramer(RESPONSE_LIMITS.maxHeaderBytes, RESPONSE_LIMITS.maxHeaderCount)
            : new UntilCloseFramer();
      this.resState = R_BODY;
      this.rbuf = null;
      // Head and the first body bytes in one writev.
      const client = this.client;
      client.cork();
      try {
        client.write(headText, 'latin1');
        if (rest < rbuf.length) this.pumpResponse(rbuf, rest);
        else if (this.resFramer.done) this.responseDone();
      } finally {
        client.uncork();
      }
      return;
    }
  }

  private pumpResponse(buf: Buffer, start: number): void {
    const framer = this.resFramer!;
    const end = framer.consume(buf, start, buf.length, this.dechunk ? this.onDechunkData : undefined);
    if (end === -2) {
      this.ctx.onProtocolError(`upstream-${framer.error ?? 'bad-body'}`);
      this.abort('errored');
      return;
    }
    const sliceEnd = end < 0 ? buf.length : end;
    if (!this.dechunk && sliceEnd > start) {
      if (!this.client.write(start === 0 && sliceEnd === buf.length ? buf : buf.subarray(start, sliceEnd))) {
        this.pauseUpstream();
      }
    }
    if (framer.done) {
      if (sliceEnd < buf.length) this.upstreamReusable = false;
      this.responseDone();
    }
  }

  onUpstreamEnd(conn: UpstreamConn): void {
    if (conn !== this.upstream) return;
    if (this.state === S_TUNNEL) {
      this.client.end();
      return;
    }
    this.upstreamReusable = false;
    if (this.resState === R_BODY && this.framing === 'close') {
      this.responseDone();
      return;
    }
    conn.socket.destroy();
  }

  onUpstreamClose(conn: UpstreamConn, error: Error | null): void {
    if (conn !== this.upstream) return;
    this.upstream = null;
    if (this.state === S_TUNNEL) {
      this.client.destroy();
      return;
    }
    if (this.resState === R_DONE || this.state === S_CLOSED) return;
    if (this.resState === R_BODY) {
      if (this.framing === 'close') this.responseDone();
      else this.abort('errored'); // truncated response: the client must see the connection fail
      return;
    }
    if (!conn.connected) {
      this.attemptFailed(
        'connect-failure',
        0,
        isIdentityMismatch(error) ? 'identity-mismatch' : 'connect-failed',
      );
    } else {
      this.attemptFailed('reset', 0, 'upstream-reset', conn.uses > 0);
    }
  }

  onUpstreamDrain(conn: UpstreamConn): void {
    if (conn === this.upstream) this.resumeClient(P_UPSTREAM_FULL);
  }

  // ---- outcomes ----

  /** The request may be resent without the client asking (idempotent, no response byte seen). */
  private resendable(): boolean {
    return this.rbuf === null && isIdempotentMethod(this.req!.method);
  }

  /** Nothing of the response reached the client and the request can be sent again. */
  private canRetry(): boolean {
    const req = this.req!;
    if (req.upgrade !== null) return false;
    if (!(req.chunked || req.contentLength > 0)) return true;
    return this.replay !== null && this.reqDone;
  }

  private attemptFailed(
    failure: AttemptFailure,
    status: number,
    reason: ProxyReason,
    reusedConn = false,
  ): void {
    this.clearTryTimer();
    const plan = this.plan;
    const target = this.target;
    if (plan === null || target === null) return;
    const up = this.upstream;
    this.upstream = null;
    up?.destroy();
    // The connect (if this attempt was one) is over: the client is read again, as while any response is awaited. A
    // retry replays only a whole request (canRetry), so in its backoff a client's reset is seen at once and the
    // retry is never sent (before, the socket waited out the backoff paused, and the retry went to a client gone).
    this.resumeClient(P_CONNECT);
    if (this.canRetry()) {
      // A pooled connection the server closed while idle: resend at once, not counted as a retry. Only
      // idempotent methods: the server might have acted on the request before the connection broke.
      if (reusedConn && failure === 'reset' && this.resendable()) {
        this.retryWith(target, 0, false);
        return;
      }
      plan.attemptDone(
        target,
        failure === 'connect-failure' ? 'connect-failure' : 'failure',
        performance.now() - this.attemptStartedAt,
      );
      const next = plan.retry(this.attempt, failure, status, target);
      if (next !== null) {
        this.retryWith(next.target, next.delayMs);
        return;
      }
    } else {
      plan.attemptDone(
        target,
        failure === 'connect-failure' ? 'connect-failure' : 'failure',
        performance.now() - this.attemptStartedAt,
      );
    }
    this.failExchange(
      reason === 'timeout' ? 504 : 502,
      reason,
      `upstream ${target.address}:${target.port}: ${reason}`,
    );
  }

  private retryWith(target: UpstreamTarget, delayMs: number, counted = true): void {
    // The failed attempt's per-try timer goes with it: left running, it would fail the next pick in the backoff.
    this.clearTryTimer();
    const up = this.upstream;
    this.upstream = null;
    up?.destroy();
    if (counted) this.attempt++;
    // The old upstream may have been paused for the client (interim responses): the new one starts unpaused.
    this.upstreamPausedForClient = false;
    this.resState = R_NONE;
    this.rbuf = null;
    this.upstreamReusable = true;
    if (delayMs <= 0) {
      this.dispatch(target, performance.now());
      return;
    }
    // The timer belongs to this exchange: a route timeout in the backoff ends it (504) and the connection may carry
    // the next request, which the stale timer must not send.
    const plan = this.plan;
    setTimeout(
      () =>
        this.guard(() => {
          if (this.state === S_CLOSED || this.plan !== plan) return;
          this.dispatch(target, performance.now());
        }),
      delayMs,
    );
  }

  private clearTryTimer(): void {
    if (this.tryTimer !== null) {
      clearTimeout(this.tryTimer);
      this.tryTimer = null;
    }
  }

  /** The per-try timeout expired before a final response head: a failed attempt (504), maybe retried. */
  private onTryTimeout(): void {
    this.tryTimer = null;
    if (this.plan === null || this.res !== null || this.state === S_TUNNEL || this.state === S_CLOSED) return;
    this.upstreamReusable = false;
    this.attemptFailed('response', 504, 'timeout');
  }

  private onTimeout(): void {
    this.timer = null;
    if (this.plan === null) return;
    if (this.target !== null && this.resState !== R_DONE) {
      // No upstream: a retry waiting out its backoff. Its endpoint was picked but sent nothing, so it is released
      // (cancelled), not charged with a failure that would count toward opening its circuit.
      const outcome = this.upstream === null ? 'cancelled' : 'failure';
      this.plan.attemptDone(this.target, outcome, performance.now() - this.attemptStartedAt);
    }
    if (this.res !== null) {
      this.abort('errored');
      return;
    }
    this.failExchange(504, 'timeout', 'upstream did not answer in time');
  }

  /** The proxy answers the current exchange itself (nothing was sent to the client yet), then closes if the request body is unread. */
  private failExchange(status: number, reason: ProxyReason, message: string): void {
    const up = this.upstream;
    this.upstream = null;
    up?.destroy();
    const close = !this.reqDone || this.closeAfter;
    this.endPlan(status, reason, 'complete');
    this.answer(status, reason, message, close);
  }

  private endPlan(
    status: number,
    reason: ProxyReason | null,
    end: ExchangeEnd,
    now = performance.now(),
  ): void {
    this.clearTryTimer();
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const plan = this.plan;
    this.plan = null;
    plan?.done({
      status,
      proxyReason: reason,
      latencyMs: now - this.startedAt,
      retries: this.attempt,
      end,
    });
  }

  private responseDone(now = performance.now()): void {
    this.resState = R_DONE;
    this.endPlan(this.res?.status ?? 0, null, 'complete', now);
    if (this.closeAfter && this.framing === 'close') {
      this.upstream?.destroy();
      this.upstream = null;
      this.closeClient();
      return;
    }
    if (this.reqDone) this.finishExchange();
    else {
      // Early response: the rest of the request body is not wanted; the client is closed (announced).
      this.upstream?.destroy();
      this.upstream = null;
      this.closeClient();
    }
  }

  private finishExchange(): void {
    const up = this.upstream;
    this.upstream = null;
    if (up !== null) {
      if (this.upstreamReusable) this.ctx.pool.release(up);
      else up.destroy();
    }
    this.upstreamPausedForClient = false;
    this.req = null;
    this.plan = null;
    this.target = null;
    this.reqFramer = null;
    this.resFramer = null;
    this.res = null;
    this.resState = R_NONE;
    if (this.closeAfter) {
      this.closeClient();
      return;
    }
    this.state = S_HEAD;
    this.resumeClient(P_PIPELINE | P_UPSTREAM_FULL | P_CONNECT);
    // Inside processClient the loop picks up the next request itself (no recursion per pipelined request).
    if (this.buf !== null && !this.processing) this.processClient();
  }

  private startTunnel(head: ResponseHead): void {
    // Authorized when its request came; a config that arrived while the app was answering may have revoked it
    // (the proxy re-checks open tunnels only): the 101 is not relayed.
    const inbound = this.ctx.inboundTunnels;
    if (inbound !== null && !inbound.allowed(this.req!)) {
      this.upstreamReusable = false;
      this.closeAfter = true;
      this.failExchange(403, 'forbidden', 'the upgrade is no longer authorized');
      return;
    }
    const up = this.upstream!;
    this.plan?.attemptDone(this.target!, 'success', performance.now() - this.attemptStartedAt);
    this.client.write(
      serializeResponseHead(head, { close: false, keepAlive10: false, dechunk: false }),
      'latin1',
    );
    if (this.plan !== null) {
      // Counted like an opaque connection from here: bytes after the 101 head, both ways (what the client sent
      // past the upgrade request's head is the tunnel's too).
      const early = this.buf === null ? 0 : this.buf.length - this.bufStart;
      this.tunnel = {
        plan: this.plan,
        read0: this.client.bytesRead - early,
        written0: this.client.bytesWritten,
      };
      this.plan.tunnelOpened();
    }
    inbound?.opened(this, this.req!);
    this.res = head;
    this.resState = R_DONE;
    this.endPlan(101, null, 'complete');
    this.state = S_TUNNEL;
    this.client.setTimeout(0);
    // Like an opaque pipe, a tunnel has no idle timeout and may wait half-closed for the other side's end: the
    // kernel's keepalive probes find a peer that vanished.
    this.client.setKeepAlive(true, KEEPALIVE_IDLE_MS);
    up.socket.setKeepAlive(true, KEEPALIVE_IDLE_MS);
    const rbuf = this.rbuf;
    this.rbuf = null;
    if (rbuf !== null && this.rStart < rbuf.length) this.client.write(rbuf.subarray(this.rStart));
    const buf = this.buf;
    this.buf = null;
    if (buf !== null && this.bufStart < buf.length) up.socket.write(buf.subarray(this.bufStart));
    this.paused = 0;
    this.client.resume();
    if (this.clientEnded) up.socket.end();
  }

  /** Cuts both connections mid-exchange; `end` says whose doing it was. */
  private abort(end: 'errored' | 'cancelled'): void {
    this.endPlan(this.res?.status ?? 0, 'aborted', end);
    const up = this.upstream;
    this.upstream = null;
    up?.destroy();
    this.state = S_CLOSED;
    this.client.destroy();
  }

  private answer(status: number, reason: ProxyReason, message: string, close: boolean): void {
    this.client.write(proxyResponse(status, reason, close, message));
    this.resState = R_DONE;
    this.res = null;
    this.framing = 'none';
    this.closeAfter ||= close;
    if (close) {
      this.req = null;
      this.closeClient();
      return;
    }
    this.reqDone = true;
    this.finishExchange();
  }

  private answerAndClose(status: number, reason: ProxyReason, message: string): void {
    this.client.write(proxyResponse(status, reason, true, message));
    this.closeClient();
  }

  private closeClient(): void {
    if (this.state === S_CLOSED) return;
    this.state = S_CLOSED;
    this.buf = null;
    if (this.headTimer !== null) {
      clearTimeout(this.headTimer);
      this.headTimer = null;
    }
    this.client.end();
    // A client that never reads would keep the socket forever: cut it after a short linger.
    setTimeout(() => this.client.destroy(), 5000).unref();
  }

  private pauseClient(reason: number): void {
    if (this.paused === 0) this.client.pause();
    this.paused |= reason;
  }

  private resumeClient(reason: number): void {
    if (this.paused === 0) return;
    this.paused &= ~reason;
    if (this.paused === 0 && this.state !== S_CLOSED) this.client.resume();
  }

  private pauseUpstream(): void {
    if (this.upstream !== null && !this.upstreamPausedForClient) {
      this.upstreamPausedForClient = true;
      this.upstream.socket.pause();
    }
  }
}
