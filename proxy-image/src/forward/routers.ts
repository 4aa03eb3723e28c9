// Per-request routing decisions for HTTP/1 requests and HTTP/2 streams, on top of the policy tables (src/core/tables.ts):
// outbound goes logical port -> route -> backend (split) -> endpoint (P2C); inbound authorizes and
// forwards to the local app. Thin: every policy decision is the tables'.

import type { HttpRequestView } from '../core/http-request.ts';
import { ambiguousTarget, requestPath } from '../core/http-request.ts';
import type { EndpointState, LogicalPort, RouteTable, Tables } from '../core/tables.ts';
import type { RequestHead } from '../http1/head.ts';
import { MESH_ALPN_HTTP1, MESH_ALPN_HTTP2 } from '../tls/mesh-tls.ts';
import type { H2Decision, H2Forward } from './h2-proxy.ts';
import type { AttemptFailure, ExchangeResult, ForwardPlan, RouteDecision } from './http1-session.ts';
import type { DataPathObserver, TrafficLabels } from './observer.ts';
import type { UpstreamTarget } from './upstream.ts';

/** HttpRequestView over a parsed head, without copying headers. */
export class HeadView implements HttpRequestView {
  private readonly head: RequestHead;
  private pathValue: string | null = null;

  constructor(head: RequestHead) {
    this.head = head;
  }

  get method(): string {
    return this.head.method;
  }

  get path(): string {
    this.pathValue ??= requestPath(this.head.target);
    return this.pathValue;
  }

  header(name: string): string | readonly string[] | undefined {
    const h = this.head.headers;
    let found: string | string[] | undefined;
    for (let i = 0; i < h.length; i += 2) {
      const n = h[i]!;
      if (n.length !== name.length || n.toLowerCase() !== name) continue;
      const v = h[i + 1]!;
      if (found === undefined) found = v;
      else if (typeof found === 'string') found = [found, v];
      else found.push(v);
    }
    return found;
  }
}

const targets = new WeakMap<EndpointState, UpstreamTarget>();

/** The upstream target of an endpoint (cached per endpoint state). */
export function endpointTarget(ep: EndpointState, alpn: string): UpstreamTarget {
  let t = targets.get(ep);
  if (t === undefined || t.alpn !== alpn) {
    t = {
      key: `${ep.address}|${ep.port}|${ep.identity ?? ''}|${alpn}`,
      address: ep.address,
      port: ep.port,
      identity: ep.identity,
      alpn,
    };
    targets.set(ep, t);
  }
  return t;
}

const plainTargets = new Map<string, UpstreamTarget>();

/** A plaintext target (passthrough, local app), interned so pool keys stay stable. */
export function plainTarget(address: string, port: number): UpstreamTarget {
  const key = `${address}|${port}||plain`;
  let t = plainTargets.get(key);
  if (t === undefined) {
    if (plainTargets.size > 10_000) plainTargets.clear();
    t = { key, address, port, identity: null, alpn: '' };
    plainTargets.set(key, t);
  }
  return t;
}

/**
 * Outbound plan for a logical service: retries re-pick through the split and balancer. One class serves an
 * HTTP/1 request (ForwardPlan) and an HTTP/2 stream (H2Forward); they differ in the ALPN to peer proxies and
 * in when the body size is known (HTTP/1: from the head; HTTP/2: once the stream's body has ended).
 */
/** What every plan reports under its labels: the exchange's end, and an upgraded tunnel's life. */
abstract class ObservedPlan {
  readonly labels: TrafficLabels;
  protected readonly observer: DataPathObserver;

  constructor(labels: TrafficLabels, observer: DataPathObserver) {
    this.labels = labels;
    this.observer = observer;
  }

  done(r: ExchangeResult): void {
    this.observer.response(this.labels, r.status, null, r.latencyMs, r.proxyReason, r.end);
  }

  tunnelOpened(): void {
    this.observer.tcpOpen(this.labels);
  }

  tunnelClosed(bytesFromClient: number, bytesToClient: number): void {
    this.observer.tcpClose(this.labels, bytesFromClient, bytesToClient);
  }
}

class OutboundPlan extends ObservedPlan implements ForwardPlan, H2Forward {
  readonly kind = 'forward';
  target: UpstreamTarget;
  readonly timeoutMs: number | null;
  private ep: EndpointState | null;
  /** The endpoint of the last attempt, which a retry avoids when the backend has others. */
  private lastEp: EndpointState;
  private readonly tables: Tables;
  private readonly lp: LogicalPort;
  private readonly route: RouteTable;
  private readonly method: string;
  private readonly bodyBytes: number;
  private readonly alpn: string;
  /** Start of the request on the tables' clock (performance.now()), for per-try timeouts. */
  private readonly startedAt = performance.now();

  constructor(
    tables: Tables,
    lp: LogicalPort,
    route: RouteTable,
    ep: EndpointState,
    method: string,
    bodyBytes: number,
    alpn: string,
    labels: TrafficLabels,
    observer: DataPathObserver,
  ) {
    super(labels, observer);
    this.tables = tables;
    this.lp = lp;
    this.route = route;
    this.ep = ep;
    this.lastEp = ep;
    this.alpn = alpn;
    this.target = endpointTarget(ep, alpn);
    this.timeoutMs = route.timeoutMs;
    this.method = method;
    this.bodyBytes = bodyBytes;
  }

  get maxReplayBytes(): number {
    const p = this.route.retry;
    return p?.requestEligible(this.method, 0) ? p.maxBodyBytes : -1;
  }

  /** HTTP/1: the body size is the head's. */
  retry(
    attempt: number,
    failure: AttemptFailure,
    status: number,
  ): { target: UpstreamTarget; delayMs: number } | null {
    return this.retryStream(attempt, failure, status, -1, this.bodyBytes);
  }

  retryStream(
    attempt: number,
    failure: AttemptFailure,
    status: number,
    grpcStatus: number,
    bodyBytes: number,
  ): { target: UpstreamTarget; delayMs: number } | null {
    const t = this.tables;
    const verdict = t.shouldRetry(
      this.lp,
      this.route,
      this.method,
      bodyBytes,
      attempt,
      failure,
      status,
      grpcStatus,
    );
    if (verdict !== 'retry') {
      if (verdict === 'budget-exhausted') this.observer.retry(this.labels, verdict);
      return null;
    }
    const ep = t.pickEndpoint(t.backend(this.lp, this.route), this.lastEp);
    if (ep.kind !== 'endpoint') return null;
    this.observer.retry(this.labels, 'retried');
    this.ep = ep;
    this.lastEp = ep;
    this.target = endpointTarget(ep, this.alpn);
    return { target: this.target, delayMs: t.retryDelayMs(this.route, attempt) };
  }

  attemptDone(
    _target: UpstreamTarget | null,
    outcome: 'success' | 'failure' | 'connect-failure' | 'cancelled',
    latencyMs: number,
  ): void {
    const ep = this.ep;
    if (ep === null) return; // observed already: exactly once per pick
    this.ep = null;
    this.tables.observe(ep, latencyMs, outcome);
  }

  attemptTimeoutMs(): number | null {
    if (this.route.retry?.perTryTimeoutMs == null) return null;
    return this.tables.attemptTimeoutMs(this.route, this.startedAt);
  }
}

/** A plan to a fixed plaintext target (passthrough or the local app): no balancing, no retries. */
class FixedPlan extends ObservedPlan implements ForwardPlan, H2Forward {
  readonly kind = 'forward';
  readonly target: UpstreamTarget;
  readonly timeoutMs: number | null = null;
  readonly maxReplayBytes = -1;

  constructor(target: UpstreamTarget, labels: TrafficLabels, observer: DataPathObserver) {
    super(labels, observer);
    this.target = target;
  }

  retry(): null {
    return null;
  }

  retryStream(): null {
    return null;
  }

  attemptDone(): void {}

  attemptTimeoutMs(): null {
    return null;
  }
}

export interface OutboundConnection {
  /** The original destination (transparent) or the configured one (explicit mode). */
  readonly dstAddress: string;
  readonly dstPort: number;
}

const labelCache = new Map<string, TrafficLabels>();
/**
 * Traffic labels, interned. `dstService` is the concrete backend that serves the request: under a
 * TrafficSplit that is the leaf (web-v2), while `authority` stays the service the client called (web).
 */
function labelsFor(
  direction: 'inbound' | 'outbound',
  authority: string,
  tls: boolean,
  peerId: string | null,
  lp?: LogicalPort,
  dstService?: string,
): TrafficLabels {
  const service = dstService ?? lp?.service.name;
  const key = `${direction}|${authority}|${tls ? 1 : 0}|${peerId ?? ''}|${service ?? ''}`;
  let l = labelCache.get(key);
  if (l === undefined) {
    if (labelCache.size > 50_000) labelCache.clear();
    const dst = lp === undefined ? undefined : { namespace: lp.service.namespace, service: service! };
    l = { direction, authority, tls, peerId, dst };
    labelCache.set(key, l);
  }
  return l;
}

/** Labels per logical port, backend and endpoint identity, so the hot path builds no key strings. */
const serviceLabels = new WeakMap<LogicalPort, Map<string, Map<string | null, TrafficLabels>>>();
function endpointLabels(lp: LogicalPort, backend: string, identity: string | null): TrafficLabels {
  let perLp = serviceLabels.get(lp);
  if (perLp === undefined) {
    perLp = new Map();
    serviceLabels.set(lp, perLp);
  }
  let perBackend = perLp.get(backend);
  if (perBackend === undefined) {
    perBackend = new Map();
    perLp.set(backend, perBackend);
  }
  let labels = perBackend.get(identity);
  if (labels === undefined) {
    labels = labelsFor('outbound', lp.authority, identity !== null, identity, lp, backend);
    perBackend.set(identity, labels);
  }
  return labels;
}

/** The last service lookup of a connection: keep-alive requests mostly repeat the Host of the previous one. */
interface ServiceMemo {
  tables: Tables;
  host: string | null;
  lp: LogicalPort | null;
}
const serviceMemos = new WeakMap<OutboundConnection, ServiceMemo>();

/** The logical service port of a request, by Host and else by original destination; null for passthrough. */
function outboundService(tables: Tables, conn: OutboundConnection, host: string | null): LogicalPort | null {
  const memo = serviceMemos.get(conn);
  if (memo !== undefined && memo.tables === tables && memo.host === host) return memo.lp;
  let lp: LogicalPort | null = null;
  if (host !== null) {
    const byName = tables.lookupByAuthority(host, conn.dstPort);
    if (byName.kind === 'service') lp = byName;
  }
  if (lp === null) {
    const byAddr = tables.lookupByAddress(conn.dstAddress, conn.dstPort);
    if (byAddr.kind === 'service') lp = byAddr;
  }
  if (memo === undefined) serviceMemos.set(conn, { tables, host, lp });
  else {
    memo.tables = tables;
    memo.host = host;
    memo.lp = lp;
  }
  return lp;
}

/** Decides where an outbound HTTP/1 request goes. */
export function routeOutbound(
  tables: Tables,
  conn: OutboundConnection,
  head: RequestHead,
  observer: DataPathObserver,
): RouteDecision {
  const lp = outboundService(tables, conn, head.host);
  if (lp === null) {
    const labels = labelsFor('outbound', 'passthrough', false, null);
    observer.request(labels);
    return new FixedPlan(plainTarget(conn.dstAddress, conn.dstPort), labels, observer);
  }
  const view = new HeadView(head);
  const route = tables.route(lp, view);
  tables.recordRequest(lp);
  const backend = tables.backend(lp, route);
  const ep = tables.pickEndpoint(backend);
  if (ep.kind !== 'endpoint') {
    const labels = labelsFor('outbound', lp.authority, false, null, lp, backend.name);
    observer.request(labels);
    return answer(503, 'no-endpoint', `${lp.authority}: ${ep.reason}`, labels, observer);
  }
  const labels = endpointLabels(lp, backend.name, ep.identity);
  observer.request(labels);
  // Chunked bodies are never kept for replay; Content-Length ones are when small enough.
  const bodyBytes = head.chunked ? Number.POSITIVE_INFINITY : Math.max(0, head.contentLength);
  return new OutboundPlan(tables, lp, route, ep, head.method, bodyBytes, MESH_ALPN_HTTP1, labels, observer);
}

/** The proxy answers an HTTP/1 request itself (x-weft-reason: reason), counted as its response. */
function answer(
  status: number,
  reason: string,
  message: string,
  labels: TrafficLabels,
  observer: DataPathObserver,
): RouteDecision {
  return {
    kind: 'respond',
    status,
    reason,
    message,
    done: (r) => observer.response(labels, r.status, null, 0, r.proxyReason, 'complete'),
  };
}

export interface InboundConnection {
  /** The app port (original destination port, or the explicit app target's). */
  readonly appPort: number;
  readonly appAddress: string;
  readonly clientId: string | null;
}

/** Labels of an inbound connection, looked up once per connection instead of once per request. */
const connectionLabels = new WeakMap<InboundConnection, TrafficLabels>();
function inboundLabels(conn: InboundConnection): TrafficLabels {
  let labels = connectionLabels.get(conn);
  if (labels === undefined) {
    labels = labelsFor('inbound', `app:${conn.appPort}`, conn.clientId !== null, conn.clientId);
    connectionLabels.set(conn, labels);
  }
  return labels;
}

/** Authorizes an inbound HTTP/1 request and forwards it to the local app. */
export function routeInbound(
  tables: Tables,
  conn: InboundConnection,
  head: RequestHead,
  observer: DataPathObserver,
): RouteDecision {
  const labels = inboundLabels(conn);
  observer.request(labels);
  const ambiguous = ambiguousTarget(head.target, head.method);
  if (ambiguous !== null) return answer(400, 'ambiguous-path', ambiguous, labels, observer);
  const decision = tables.authorizeInbound(conn.appPort, conn.clientId, new HeadView(head));
  if (!decision.allowed) return answer(403, 'forbidden', decision.reason, labels, observer);
  return new FixedPlan(plainTarget(conn.appAddress, conn.appPort), labels, observer);
}

/** Decides where an outbound HTTP/2 stream goes (the same stages and retries as HTTP/1). */
export function routeOutboundH2(
  tables: Tables,
  conn: OutboundConnection,
  view: HttpRequestView,
  observer: DataPathObserver,
): H2Decision {
  const authority = view.header('host');
  const lp = outboundService(tables, conn, typeof authority === 'string' ? authority : null);
  if (lp === null) {
    const labels = labelsFor('outbound', 'passthrough', false, null);
    observer.request(labels);
    return new FixedPlan(plainTarget(conn.dstAddress, conn.dstPort), labels, observer);
  }
  const route = tables.route(lp, view);
  tables.recordRequest(lp);
  const backend = tables.backend(lp, route);
  const ep = tables.pickEndpoint(backend);
  if (ep.kind !== 'endpoint') {
    const labels = labelsFor('outbound', lp.authority, false, null, lp, backend.name);
    observer.request(labels);
    return { kind: 'respond', status: 503, reason: 'no-endpoint', labels };
  }
  const labels = endpointLabels(lp, backend.name, ep.identity);
  observer.request(labels);
  // The body's size is known only once the stream has ended: the proxy passes it to retryStream.
  return new OutboundPlan(
    tables,
    lp,
    route,
    ep,
    view.method,
    Number.POSITIVE_INFINITY,
    MESH_ALPN_HTTP2,
    labels,
    observer,
  );
}

/** Authorizes an inbound HTTP/2 stream and forwards it to the local app (h2c). */
export function routeInboundH2(
  tables: Tables,
  conn: InboundConnection,
  view: HttpRequestView,
  observer: DataPathObserver,
): H2Decision {
  const labels = labelsFor('inbound', `app:${conn.appPort}`, conn.clientId !== null, conn.clientId);
  observer.request(labels);
  const path = view.header(':path');
  if (typeof path === 'string' && ambiguousTarget(path, view.method) !== null)
    return { kind: 'respond', status: 400, reason: 'ambiguous-path', labels };
  const decision = tables.authorizeInbound(conn.appPort, conn.clientId, view);
  if (!decision.allowed) return { kind: 'respond', status: 403, reason: 'forbidden', labels };
  return new FixedPlan(plainTarget(conn.appAddress, conn.appPort), labels, observer);
}
