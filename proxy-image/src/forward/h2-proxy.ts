// HTTP/2 and gRPC, stream by stream, on node:http2 (measured: see docs/proxy.md). Each accepted
// connection is handed to a non-listening Http2Server; each stream is routed like an HTTP/1 request and
// forwarded on a pooled client session per endpoint (plaintext, or mTLS to a peer proxy with ALPN
// weft.h2). Response headers, data and trailers (grpc-status) pass through; backpressure is stream.pipe's.

import type http2 from 'node:http2';
import net from 'node:net';
import type { Logger } from 'pino';
import { classifyResponse, parseGrpcStatus } from '../core/classify.ts';
import type { HttpRequestView } from '../core/http-request.ts';
import { pathOnly } from '../core/http-request.ts';
import { CLIENT_ID_HEADER, REASON_HEADER } from '../http1/serialize.ts';
import type { DataPathObserver, TrafficLabels } from './observer.ts';
import type { MeshConnector, UpstreamTarget } from './upstream.ts';

// node:http2 is loaded on the first HTTP/2 connection: loading it (and nghttp2 behind it) costs a proxy
// that never sees HTTP/2 several MB of resident memory.
const h2 = () => process.getBuiltinModule('node:http2');
// Values of nghttp2.h (http2.constants would load the module).
const NGHTTP2_FLAG_END_STREAM = 0x1;
const NGHTTP2_CANCEL = 0x8;
const NGHTTP2_REFUSED_STREAM = 0x7;

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
  /** Created with the first HTTP/2 connection (see h2()). */
  private serverValue: http2.Http2Server | null = null;
  private readonly sessions = new Map<string, http2.ClientHttp2Session>();
  private readonly connections = new Map<string, H2Connection>();
  private readonly mesh: MeshConnector;
  private readonly observer: DataPathObserver;
  private readonly log: Logger;
  private connectTimeoutMs = 1000;

  constructor(mesh: MeshConnector, observer: DataPathObserver, log: Logger) {
    this.mesh = mesh;
    this.observer = observer;
    this.log = log;
  }

  private get server(): http2.Http2Server {
    if (this.serverValue !== null) return this.serverValue;
    const server = h2().createServer({ peerMaxConcurrentStreams: 1000 });
    server.on('stream', (stream, headers) => {
      try {
        this.onStream(stream, headers);
      } catch (err) {
        this.log.error({ err }, 'internal error on an HTTP/2 stream; stream reset');
        stream.destroy();
      }
    });
    server.on('sessionError', () => undefined);
    this.serverValue = server;
    return server;
  }

  setConnectTimeout(ms: number): void {
    this.connectTimeoutMs = ms;
  }

  /** Takes over an accepted socket whose first bytes (the preface) were already read into `initial`. */
  accept(socket: net.Socket, initial: Buffer | null, conn: H2Connection): void {
    const key = `${socket.remoteAddress}|${socket.remotePort}`;
    this.connections.set(key, conn);
    socket.once('close', () => this.connections.delete(key));
    // Frames are written as they are ready; with Nagle a small frame waits for the peer's delayed ACK (40 ms).
    socket.setNoDelay(true);
    if (initial !== null && initial.length > 0) socket.unshift(initial);
    this.server.emit('connection', socket);
    socket.resume();
  }

  /** Closes pooled upstream sessions (drain). */
  close(): void {
    for (const s of this.sessions.values()) s.close();
    this.sessions.clear();
  }

  private upstream(target: UpstreamTarget): http2.ClientHttp2Session {
    const existing = this.sessions.get(target.key);
    if (existing !== undefined && !existing.closed && !existing.destroyed) return existing;
    const session = h2().connect(
      `http://${net.isIPv6(target.address) ? `[${target.address}]` : target.address}:${target.port}`,
      {
        createConnection: () => {
          const s =
            target.identity !== null
              ? this.mesh.connect(target, this.connectTimeoutMs)
              : net.connect({ host: target.address, port: target.port });
          s.setNoDelay(true);
          return s;
        },
      },
    );
    session.on('error', (err) => this.log.debug({ err, target: target.key }, 'h2 upstream session error'));
    const forget = () => {
      if (this.sessions.get(target.key) === session) this.sessions.delete(target.key);
    };
    session.on('close', forget);
    session.on('goaway', forget);
    session.setTimeout(60_000, () => session.close());
    this.sessions.set(target.key, session);
    return session;
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => undefined);
    const sock = stream.session?.socket;
    const conn =
      sock === undefined ? undefined : this.connections.get(`${sock.remoteAddress}|${sock.remotePort}`);
    if (conn === undefined) {
      stream.close(NGHTTP2_REFUSED_STREAM);
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
    try {
      up = this.upstream(d.target).request(out, { endStream: stream.endAfterHeaders });
    } catch (err) {
      this.log.debug({ err }, 'h2 upstream request failed');
      finish(502, null, 'connect-failed', 'connect-failure');
      if (!stream.destroyed)
        stream.respond({ ':status': 502, [REASON_HEADER]: 'connect-failed' }, { endStream: true });
      return;
    }
    let timer: NodeJS.Timeout | null = null;
    if (d.timeoutMs !== null) {
      timer = setTimeout(() => {
        up.close(NGHTTP2_CANCEL);
        if (!stream.headersSent && !stream.destroyed)
          stream.respond({ ':status': 504, [REASON_HEADER]: 'timeout' }, { endStream: true });
        else stream.close(NGHTTP2_CANCEL);
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
    up.on('error', (err) => {
      this.log.debug({ err }, 'h2 upstream stream error');
      if (!stream.headersSent && !stream.destroyed) {
        const reason = status === 0 ? 'connect-failed' : 'upstream-reset';
        stream.respond({ ':status': 502, [REASON_HEADER]: reason }, { endStream: true });
        finish(502, null, reason, status === 0 ? 'connect-failure' : 'failure');
      } else {
        stream.close(NGHTTP2_CANCEL);
        finish(status, null, 'upstream-reset', 'failure');
      }
    });
    up.on('close', () => {
      if (!finished && !stream.destroyed && stream.headersSent && !stream.writableEnded)
        stream.close(NGHTTP2_CANCEL);
    });
    stream.on('close', () => {
      if (!up.closed) up.close(NGHTTP2_CANCEL);
      finish(status, null, null, 'cancelled');
    });
    if (!stream.endAfterHeaders) stream.pipe(up);
  }
}

function classify(status: number, grpc: string | string[] | undefined): 'success' | 'failure' {
  return classifyResponse(status, parseGrpcStatus(grpc), false);
}
