// The proxy runtime: outbound and inbound listeners, protocol detection, and the hand-off of each
// connection to an HTTP/1 session or an opaque pipe, plaintext or mTLS. Holds the current policy
// tables and credentials; both are replaced atomically (connections in flight keep what they started with,
// except inbound TCP connections the new config no longer authorizes, which are closed).

import net from 'node:net';
import type tls from 'node:tls';
import type { Logger } from 'pino';
import type { ProxyConfig } from '../../crds/proxy-config/types.ts';
import { compileTables, type LogicalPort, type OutboundPassthrough, type Tables } from './core/tables.ts';
import { H2Proxy } from './forward/h2-proxy.ts';
import { type Http1Context, Http1Session, peerHeadLimits } from './forward/http1-session.ts';
import type { DataPathObserver, Direction, TrafficLabels } from './forward/observer.ts';
import {
  endpointTarget,
  HeadView,
  type InboundConnection,
  plainTarget,
  routeInbound,
  routeInboundH2,
  routeOutbound,
  routeOutboundH2,
} from './forward/routers.ts';
import { connectRelayed, pipeTcp } from './forward/tcp-pipe.ts';
import {
  isIdentityMismatch,
  type MeshConnector,
  UpstreamPool,
  type UpstreamTarget,
} from './forward/upstream.ts';
import type { HeadLimits, RequestHead } from './http1/head.ts';
import { type Detected, detectProtocol, MAX_DETECT_BYTES } from './listeners/detect.ts';
import { originalDestination } from './net/original-dst.ts';
import {
  type CertificateInfo,
  MESH_ALPN_HTTP1,
  MESH_ALPN_HTTP2,
  MESH_ALPN_OPAQUE,
  type MeshCredentials,
  MeshTls,
} from './tls/mesh-tls.ts';

/** Transparent: the destination comes from SO_ORIGINAL_DST. Explicit: a fixed destination (tests, no iptables). */
export type ListenerMode =
  | { readonly kind: 'transparent' }
  | { readonly kind: 'explicit'; readonly address: string; readonly port: number };

export interface ProxyRuntimeOptions {
  readonly logger: Logger;
  readonly observer: DataPathObserver;
  /** Address the outbound and inbound listeners bind; null: every address, IPv6 and IPv4 (Node's default). */
  readonly bindAddress: string | null;
  /** Port overrides (0 = any free port); default from config.listeners. */
  readonly outboundPort?: number;
  readonly inboundPort?: number;
  readonly outboundMode: ListenerMode;
  /** Explicit inbound mode: the local app's address and port. */
  readonly inboundMode: ListenerMode;
  /**
   * Keep accepting connections for the whole drain (each new HTTP/1 connection closes after one exchange),
   * instead of closing the listeners at once. For a classic sidecar, which gets SIGTERM while the app is still
   * shutting down and making calls (a native sidecar is stopped after the app).
   */
  readonly drainKeepsListening?: boolean;
}

/** Inbound opaque ports still accept mesh mTLS from peer proxies; they wait this long for a ClientHello. */
const INBOUND_OPAQUE_SNIFF_MS = 200;

const TCP_LABELS = new Map<string, TrafficLabels>();
function tcpLabels(
  direction: Direction,
  authority: string,
  tls: boolean,
  peerId: string | null,
  dst?: { namespace: string; service: string },
): TrafficLabels {
  const key = `${direction}|${authority}|${tls}|${peerId ?? ''}|${dst?.namespace ?? ''}/${dst?.service ?? ''}`;
  let l = TCP_LABELS.get(key);
  if (l === undefined) {
    if (TCP_LABELS.size > 50_000) TCP_LABELS.clear();
    l = { direction, authority, tls, peerId, ...(dst === undefined ? {} : { dst }) };
    TCP_LABELS.set(key, l);
  }
  return l;
}

interface Drainable {
  drain(): void;
}

export class ProxyRuntime {
  private readonly opts: ProxyRuntimeOptions;
  private readonly log: Logger;
  private tablesValue: Tables | null = null;
  private mesh: MeshTls | null = null;
  private readonly pool: UpstreamPool;
  private readonly appPool: UpstreamPool;
  private readonly sessions = new Set<Drainable>();
  /** The config's head limits, for clients and for peer proxies (set with the config). */
  private headLimits!: { client: HeadLimits; peer: HeadLimits };
  /**
   * Open opaque pipes, by client socket; inbound ones with what authorized them (the app port and the client's
   * identity), checked again against every new config.
   */
  private readonly pipes = new Map<net.Socket, { port: number; clientId: string | null } | null>();
  /** Open inbound tunnels (HTTP/1 upgrades), with the connection and the request that opened them: as pipes. */
  private readonly tunnels = new Map<Http1Session, { conn: InboundConnection; req: RequestHead }>();
  private outboundServer: net.Server | null = null;
  private inboundServer: net.Server | null = null;
  private drainingValue = false;
  private readonly meshConnector: MeshConnector;

  constructor(opts: ProxyRuntimeOptions) {
    this.opts = opts;
    this.log = opts.logger;
    this.meshConnector = {
      connect: (target, timeoutMs) => {
        if (this.mesh === null) throw new Error('no mesh certificate');
        return this.mesh.connect(target, timeoutMs);
      },
    };
    const settings = { connectTimeoutMs: 1000, idleTimeoutMs: 60_000, maxIdlePerKey: 256 };
    this.pool = new UpstreamPool(settings, this.meshConnector);
    this.appPool = new UpstreamPool(settings, null);
    this.h2 = new H2Proxy(this.meshConnector, opts.observer, opts.logger);
  }

  private readonly h2: H2Proxy;

  get tables(): Tables | null {
    return this.tablesValue;
  }

  get config(): ProxyConfig | null {
    return this.tablesValue?.config ?? null;
  }

  get certificate(): CertificateInfo | null {
    return this.mesh?.info ?? null;
  }

  get draining(): boolean {
    return this.drainingValue;
  }

  /** Ready: a config, and a valid certificate unless the config is plaintext-only (no trust anchors). */
  ready(): boolean {
    const cfg = this.config;
    if (cfg === null || this.drainingValue) return false;
    if (cfg.trustAnchors.length === 0) return true;
    const cert = this.mesh?.info;
    return cert !== undefined && cert.notAfter.getTime() > Date.now();
  }

  /**
   * Applies a validated config; throws (keeping the current tables) if it cannot be compiled. Returns false,
   * applying nothing, for the version already in use (a version names its content: the operator's is a hash).
   */
  applyConfig(config: ProxyConfig): boolean {
    if (this.tablesValue?.version === config.version) return false;
    const tables = compileTables(
      config,
      { now: () => performance.now(), random: Math.random },
      this.tablesValue ?? undefined,
    );
    const l = config.limits;
    const settings = {
      connectTimeoutMs: l.connectTimeoutMs,
      idleTimeoutMs: l.idleTimeoutMs,
      maxIdlePerKey: 256,
    };
    this.pool.updateSettings(settings);
    this.h2.setLimits({
      connectTimeoutMs: l.connectTimeoutMs,
      idleTimeoutMs: l.idleTimeoutMs,
      maxHeaderBytes: l.maxHeaderBytes,
      maxHeaderCount: l.maxHeaderCount,
    });
    this.appPool.updateSettings(settings);
    const headLimits = { maxHeaderBytes: l.maxHeaderBytes, maxHeaderCount: l.maxHeaderCount };
    this.headLimits = { client: headLimits, peer: peerHeadLimits(headLimits) };
    this.tablesValue = tables;
    this.closeRevoked(tables);
    if (this.outboundServer !== null) this.outboundServer.maxConnections = l.maxOutboundConnections;
    if (this.inboundServer !== null) this.inboundServer.maxConnections = l.maxInboundConnections;
    return true;
  }

  /**
   * Closes the inbound opaque connections a new config no longer authorizes (a TrafficTarget deleted or
   * narrowed): an HTTP request is authorized one by one, but a TCP connection only when it opens, and a database
   * client may hold one for hours.
   */
  private closeRevoked(tables: Tables): void {
    // An upgraded connection (a WebSocket) was authorized by the request that opened it, once. Taken out of the
    // map when closed here, so that a second config before its 'close' does not count it again.
    for (const [session, t] of this.tunnels) {
      if (this.stillAllowed(tables, t.conn.appPort, t.conn.clientId, new HeadView(t.req), 'tunnel')) continue;
      this.tunnels.delete(session);
      session.close();
    }
    for (const [socket, a] of this.pipes) {
      // Closed by an earlier config already (its 'close' comes on a later turn): counted once.
      if (a === null || socket.destroyed) continue;
      if (!this.stillAllowed(tables, a.port, a.clientId, null, 'connection')) socket.destroy();
    }
  }

  /** Whether the tables still allow an inbound connection or tunnel; when not, counts it as revoked and logs it. */
  private stillAllowed(
    tables: Tables,
    port: number,
    clientId: string | null,
    req: HeadView | null,
    what: 'connection' | 'tunnel',
  ): boolean {
    const decision = tables.authorizeInbound(port, clientId, req);
    if (decision.allowed) return true;
    this.opts.observer.connectionRefused('inbound', 'revoked');
    this.log.info(
      { port, clientId, reason: decision.reason },
      `closing an inbound ${what} the new config no longer authorizes`,
    );
    return false;
  }

  /** Installs or rotates the mesh certificate; throws (keeping the current one) when it is unusable. */
  setCredentials(creds: MeshCredentials): void {
    if (this.mesh === null) {
      this.mesh = new MeshTls(creds);
      return;
    }
    const closed = this.mesh.update(creds);
    for (const direction of ['inbound', 'outbound'] as const) {
      for (let i = 0; i < closed[direction]; i++)
        this.opts.observer.connectionRefused(direction, 'untrusted');
      if (closed[direction] > 0)
        this.log.info(
          { direction, connections: closed[direction] },
          'closed mesh connections whose peer the new trust anchors do not vouch for',
        );
    }
  }

  /** Starts the outbound and inbound listeners; returns their ports. Needs a config first. */
  async start(): Promise<{ outboundPort: number; inboundPort: number }> {
    const cfg = this.config;
    if (cfg === null) throw new Error('proxy: start() needs a config');
    const guarded = (handle: (s: net.Socket) => void, direction: Direction) => (s: net.Socket) => {
      try {
        handle(s);
      } catch (err) {
        this.log.error({ err, direction }, 'internal error accepting a connection; connection closed');
        s.destroy();
      }
    };
    this.outboundServer = net.createServer(
      { allowHalfOpen: true, pauseOnConnect: true },
      guarded((s) => this.onOutbound(s), 'outbound'),
    );
    this.inboundServer = net.createServer(
      { allowHalfOpen: true, pauseOnConnect: true },
      guarded((s) => this.onInbound(s), 'inbound'),
    );
    this.outboundServer.maxConnections = cfg.limits.maxOutboundConnections;
    this.inboundServer.maxConnections = cfg.limits.maxInboundConnections;
    this.outboundServer.on('drop', () => this.opts.observer.connectionRefused('outbound', 'max-connections'));
    this.inboundServer.on('drop', () => this.opts.observer.connectionRefused('inbound', 'max-connections'));
    const outboundPort = await listen(
      this.outboundServer,
      this.opts.outboundPort ?? cfg.listeners.outboundPort,
      this.opts.bindAddress,
    );
    const inboundPort = await listen(
      this.inboundServer,
      this.opts.inboundPort ?? cfg.listeners.inboundPort,
      this.opts.bindAddress,
    );
    const bind = addressOf(this.outboundServer);
    this.log.info({ outboundPort, inboundPort, bind }, 'proxy listening');
    return { outboundPort, inboundPort };
  }

  /**
   * Stops accepting, lets sessions finish their current exchange for up to graceMs, then cuts the rest. With
   * drainKeepsListening the listeners stay open until shortly before graceMs has passed (an app shutting down next
   * to a classic sidecar still gets its calls through: the last quarter, at most 1 s, is left for what they
   * accepted last).
   */
  async drain(graceMs: number): Promise<void> {
    if (this.drainingValue) return;
    this.drainingValue = true;
    for (const s of this.sessions) s.drain();
    this.h2.drain();
    const deadline = Date.now() + graceMs;
    // Kept listening: accept until shortly before the deadline, so what was accepted last still has time.
    if (this.opts.drainKeepsListening === true)
      await new Promise((r) => setTimeout(r, graceMs - Math.min(1000, graceMs / 4)));
    this.outboundServer?.close();
    this.inboundServer?.close();
    const busy = () => this.sessions.size > 0 || this.pipes.size > 0 || this.h2.openSessions > 0;
    while (busy() && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const left = {
      leftSessions: this.sessions.size,
      leftPipes: this.pipes.size,
      leftH2Sessions: this.h2.openSessions,
    };
    for (const p of this.pipes.keys()) p.destroy();
    this.h2.close();
    this.pool.close(true);
    this.appPool.close(true);
    this.log.info(left, 'proxy drained');
  }

  /** Connections and pools, for the config dump. */
  stats(): Record<string, number> {
    return {
      httpSessions: this.sessions.size,
      h2Sessions: this.h2.openSessions,
      tcpPipes: this.pipes.size,
      upstreamConnections: this.pool.size,
      upstreamIdle: this.pool.idleCount(),
      appConnections: this.appPool.size,
    };
  }

  // ---- outbound ----

  /** Draining with the listeners closing: a connection accepted meanwhile is turned away. */
  private get refusingNew(): boolean {
    return this.drainingValue && this.opts.drainKeepsListening !== true;
  }

  private onOutbound(socket: net.Socket): void {
    socket.on('error', () => undefined);
    const tables = this.tablesValue;
    if (tables === null || this.refusingNew) {
      socket.destroy();
      return;
    }
    let dst: { address: string; port: number } | undefined;
    const mode = this.opts.outboundMode;
    if (mode.kind === 'explicit') dst = mode;
    else {
      try {
        dst = originalDestination(socket);
      } catch (err) {
        this.log.warn({ err }, 'outbound: SO_ORIGINAL_DST failed');
      }
    }
    if (dst === undefined) {
      this.opts.observer.connectionRefused('outbound', 'no-original-destination');
      socket.destroy();
      return;
    }
    const target = dst;
    const lp = tables.lookupByAddress(target.address, target.port);
    const protocol = lp.protocol;
    if (protocol === 'opaque' || protocol === 'udp') {
      this.outboundTcp(socket, null, target, lp);
      return;
    }
    if (protocol === 'http1') {
      this.outboundHttp1(socket, null, target);
      return;
    }
    if (protocol === 'http2' || protocol === 'grpc') {
      this.outboundH2(socket, null, target);
      return;
    }
    this.detect(socket, tables.config.listeners.detectTimeoutMs, (kind, initial) => {
      if (kind === 'http1') this.outboundHttp1(socket, initial, target);
      else if (kind === 'http2') this.outboundH2(socket, initial, target);
      else this.outboundTcp(socket, initial, target, lp);
    });
  }

  private outboundHttp1(
    socket: net.Socket,
    initial: Buffer | null,
    dst: { address: string; port: number },
  ): void {
    const tables = this.tablesValue!;
    const observer = this.opts.observer;
    const conn = { dstAddress: dst.address, dstPort: dst.port };
    const ctx = this.httpContext(
      tables,
      false,
      null,
      `${dst.address}:${dst.port}`,
      this.pool,
      (head) => {
        // Each request sees the tables current at its head, so a reload applies to kept-alive connections.
        return routeOutbound(this.tablesValue ?? tables, conn, head, observer);
      },
      'outbound',
      null,
    );
    this.track(new Http1Session(socket, ctx, initial));
  }

  private outboundH2(
    socket: net.Socket,
    initial: Buffer | null,
    dst: { address: string; port: number },
  ): void {
    const conn = { dstAddress: dst.address, dstPort: dst.port };
    const observer = this.opts.observer;
    this.h2.accept(socket, initial, {
      inbound: false,
      clientId: null,
      route: (view) => routeOutboundH2(this.tablesValue!, conn, view, observer),
    });
  }

  private inboundH2(
    socket: net.Socket,
    initial: Buffer | null,
    app: { address: string; port: number },
    clientId: string | null,
  ): void {
    const conn = { appAddress: app.address, appPort: app.port, clientId };
    const observer = this.opts.observer;
    this.h2.accept(socket, initial, {
      inbound: true,
      clientId,
      route: (view) => routeInboundH2(this.tablesValue!, conn, view, observer),
    });
  }

  private outboundTcp(
    socket: net.Socket,
    initial: Buffer | null,
    dst: { address: string; port: number },
    lp: LogicalPort | OutboundPassthrough,
  ): void {
    const tables = this.tablesValue!;
    let target: UpstreamTarget;
    let authority = 'passthrough';
    let ep = null;
    let dstService: { namespace: string; service: string } | undefined;
    if (lp.kind === 'service') {
      authority = lp.authority;
      const backend = tables.tcpBackend(lp);
      dstService = { namespace: lp.service.namespace, service: backend.name };
      const picked = tables.pickEndpoint(backend);
      if (picked.kind !== 'endpoint') {
        this.opts.observer.connectionRefused('outbound', 'no-endpoint');
        socket.destroy();
        return;
      }
      ep = picked;
      target = endpointTarget(picked, MESH_ALPN_OPAQUE);
    } else {
      target = plainTarget(dst.address, dst.port);
    }
    const labels = tcpLabels('outbound', authority, target.identity !== null, target.identity, dstService);
    const started = performance.now();
    let upstream: net.Socket;
    try {
      upstream =
        target.identity !== null
          ? this.meshConnector.connect(target, tables.config.limits.connectTimeoutMs)
          : connectRelayed(target.address, target.port, socket);
    } catch {
      if (ep !== null) tables.observe(ep, 0, 'connect-failure');
      socket.destroy();
      return;
    }
    upstream.setTimeout(tables.config.limits.connectTimeoutMs);
    this.opts.observer.tcpOpen(labels);
    this.pipes.set(socket, null);
    pipeTcp(socket, initial, upstream, target.identity !== null, (r) => {
      this.pipes.delete(socket);
      // The endpoint counts as busy while the connection is open (its in-flight load); its latency sample is
      // the time to connect (and handshake), not the connection's life: a connection open for an hour says
      // nothing about how fast the endpoint answers.
      if (ep !== null)
        tables.observe(
          ep,
          r.connectFailed ? performance.now() - started : r.connectedAt - started,
          r.connectFailed ? 'connect-failure' : 'success',
        );
      // The peer proxy presented another identity: the client's connection is closed, and this says why.
      if (r.connectFailed && isIdentityMismatch(r.error))
        this.opts.observer.connectionRefused('outbound', 'identity-mismatch');
      this.opts.observer.tcpClose(labels, r.bytesUp, r.bytesDown);
    });
  }

  // ---- inbound ----

  private onInbound(socket: net.Socket): void {
    socket.on('error', () => undefined);
    const tables = this.tablesValue;
    if (tables === null || this.refusingNew) {
      socket.destroy();
      return;
    }
    let app: { address: string; port: number } | undefined;
    const mode = this.opts.inboundMode;
    if (mode.kind === 'explicit') app = mode;
    else {
      try {
        const d = originalDestination(socket);
        if (d !== undefined) app = { address: d.family === 6 ? '::1' : '127.0.0.1', port: d.port };
      } catch (err) {
        this.log.warn({ err }, 'inbound: SO_ORIGINAL_DST failed');
      }
    }
    if (app === undefined) {
      this.opts.observer.connectionRefused('inbound', 'no-original-destination');
      socket.destroy();
      return;
    }
    const target = app;
    const protocol = tables.inboundProtocol(target.port);
    const opaque = protocol === 'opaque' || protocol === 'udp';
    const timeout = opaque
      ? Math.min(INBOUND_OPAQUE_SNIFF_MS, tables.config.listeners.detectTimeoutMs)
      : tables.config.listeners.detectTimeoutMs;
    this.detect(socket, timeout, (kind, initial) => {
      if (kind === 'mesh-tls') {
        this.inboundMesh(socket, initial, target);
        return;
      }
      if (kind === 'http1' && !opaque) {
        this.inboundHttp1(socket, initial, target, null);
        return;
      }
      if (kind === 'http2' && !opaque) {
        this.inboundH2(socket, initial, target, null);
        return;
      }
      this.inboundTcp(socket, initial, target, null, false);
    });
  }

  private inboundMesh(socket: net.Socket, initial: Buffer, app: { address: string; port: number }): void {
    const mesh = this.mesh;
    if (mesh === null) {
      this.opts.observer.protocolError('inbound', 'tls-no-certificate');
      socket.destroy();
      return;
    }
    socket.unshift(initial);
    mesh.accept(
      socket,
      (tlsSocket, clientId, alpn) => {
        if (alpn === MESH_ALPN_HTTP1) this.inboundHttp1(tlsSocket, null, app, clientId);
        else if (alpn === MESH_ALPN_HTTP2) this.inboundH2(tlsSocket, null, app, clientId);
        else this.inboundTcp(tlsSocket, null, app, clientId, true);
      },
      (code, detail) => {
        this.log.debug({ code, detail, remote: socket.remoteAddress }, 'inbound mTLS refused');
        this.opts.observer.protocolError('inbound', code);
        socket.destroy();
      },
    );
  }

  private inboundHttp1(
    socket: net.Socket | tls.TLSSocket,
    initial: Buffer | null,
    app: { address: string; port: number },
    clientId: string | null,
  ): void {
    const tables = this.tablesValue!;
    const observer = this.opts.observer;
    const conn: InboundConnection = { appAddress: app.address, appPort: app.port, clientId };
    const ctx = this.httpContext(
      tables,
      true,
      clientId,
      `${app.address}:${app.port}`,
      this.appPool,
      (head) => {
        return routeInbound(this.tablesValue ?? tables, conn, head, observer);
      },
      'inbound',
      {
        allowed: (req) =>
          this.stillAllowed(this.tablesValue ?? tables, conn.appPort, clientId, new HeadView(req), 'tunnel'),
        opened: (session, req) => this.tunnels.set(session, { conn, req }),
      },
    );
    this.track(new Http1Session(socket, ctx, initial));
  }

  private inboundTcp(
    socket: net.Socket,
    initial: Buffer | null,
    app: { address: string; port: number },
    clientId: string | null,
    secure: boolean,
  ): void {
    const tables = this.tablesValue!;
    const decision = tables.authorizeInbound(app.port, clientId, null);
    if (!decision.allowed) {
      this.opts.observer.connectionRefused('inbound', 'forbidden');
      this.log.debug({ port: app.port, clientId, reason: decision.reason }, 'inbound connection denied');
      socket.destroy();
      return;
    }
    const labels = tcpLabels('inbound', `app:${app.port}`, secure, clientId);
    const upstream = connectRelayed(app.address, app.port, socket);
    upstream.setTimeout(tables.config.limits.connectTimeoutMs);
    this.opts.observer.tcpOpen(labels);
    this.pipes.set(socket, { port: app.port, clientId });
    pipeTcp(socket, initial, upstream, false, (r) => {
      this.pipes.delete(socket);
      this.opts.observer.tcpClose(labels, r.bytesUp, r.bytesDown);
    });
  }

  // ---- shared ----

  private httpContext(
    tables: Tables,
    inbound: boolean,
    clientId: string | null,
    defaultAuthority: string,
    pool: UpstreamPool,
    route: Http1Context['route'],
    direction: Direction,
    inboundTunnels: Http1Context['inboundTunnels'],
  ): Http1Context {
    const l = tables.config.limits;
    return {
      pool,
      // A verified client is a peer proxy, whose heads passed these limits once already (peerHeadLimits).
      limits: clientId === null ? this.headLimits.client : this.headLimits.peer,
      headersTimeoutMs: l.headersTimeoutMs,
      // Inbound requests are never retried: nothing to keep.
      maxReplayBytes: inbound ? 0 : tables.config.retryBudget.maxBufferedBodyBytes,
      idleTimeoutMs: l.idleTimeoutMs,
      inbound,
      clientId,
      defaultAuthority,
      route,
      onProtocolError: (code) => this.opts.observer.protocolError(direction, code),
      onInternalError: (err) => {
        this.opts.observer.protocolError(direction, 'internal-error');
        this.log.error({ err, direction }, 'internal error on a connection; connection closed');
      },
      onClose: (s) => {
        this.sessions.delete(s);
        this.tunnels.delete(s);
      },
      inboundTunnels,
    };
  }

  private track(s: Http1Session): void {
    this.sessions.add(s);
    // Accepted while draining (drainKeepsListening): served once, then closed.
    if (this.drainingValue) s.closeAfterExchange();
  }

  /** Reads first bytes until the protocol is known or timeoutMs passes (then opaque: server-first protocols). */
  private detect(
    socket: net.Socket,
    timeoutMs: number,
    done: (kind: Detected, initial: Buffer) => void,
  ): void {
    let buf: Buffer = Buffer.alloc(0);
    let finished = false;
    const finish = (kind: Detected): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onClose);
      socket.pause();
      // A client that reset during detection is gone: connecting upstream for it would leave that
      // connection open with nobody on the other side (and outside the connection limits).
      if (!socket.destroyed) done(kind, buf);
    };
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const d = detectProtocol(buf);
      if (d !== 'need-more') finish(d);
      else if (buf.length >= MAX_DETECT_BYTES) finish('opaque');
    };
    const onEnd = (): void => finish('opaque');
    const onClose = (): void => finish('opaque');
    const timer = setTimeout(() => finish('opaque'), timeoutMs);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onClose);
    socket.resume();
  }
}

/** The address a listening server is bound to ("::" when dual-stack). */
function addressOf(server: net.Server): string | null {
  const a = server.address();
  return typeof a === 'object' && a !== null ? a.address : null;
}

function listen(server: net.Server, port: number, host: string | null): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(host === null ? { port } : { port, host }, () => {
      server.off('error', reject);
      const a = server.address();
      resolve(typeof a === 'object' && a !== null ? a.port : port);
    });
  });
}
