// Routing and policy tables: one immutable compilation of a proxy config (plus the mutable per-endpoint
// and per-service state the algorithms keep), built once per config version and consulted by the data
// path on every connection and request. Nothing here does I/O; time and randomness come from `deps`.
//
// Outbound stages (as in linkerd2-proxy): logical (service port, route) -> concrete (backend chosen by the
// TrafficSplit) -> endpoint (power of two choices over peak-EWMA, skipping open circuits).
// Inbound: port -> authorization (TrafficTarget rules, policy mode).

import type {
  Authorization,
  BackendPort,
  OutboundDefaultRoute,
  OutboundRoute,
  OutboundService,
  PortProtocol,
  ProxyConfig,
} from '../../../crds/proxy-config/types.ts';
import { ExponentialBackoff } from './backoff.ts';
import {
  type EndpointOutcome,
  EndpointState,
  type NoEndpoint,
  P2cBalancer,
  type PeakEwmaSettings,
} from './balancer.ts';
import { CircuitBreakerPolicy } from './circuit-breaker.ts';
import type { HttpRequestView } from './http-request.ts';
import type { RandomSource } from './random.ts';
import { RetryBudget } from './retry-budget.ts';
import { type AttemptFailureKind, CompiledRetryPolicy } from './retry-policy.ts';
import { CompiledHttpMatches } from './route-match.ts';
import { attemptTimeoutMs } from './timeouts.ts';
import { SmoothWeightedRoundRobin } from './weighted-split.ts';

export type { EndpointOutcome, NoEndpoint } from './balancer.ts';
export { EndpointState } from './balancer.ts';
export type { HttpRequestView } from './http-request.ts';
export type { AttemptFailureKind } from './retry-policy.ts';

/** What shouldRetry decided: retry, not retryable, or retryable but over the service's retry budget. */
export type RetryVerdict = 'retry' | 'no' | 'budget-exhausted';

/** Clock and randomness, injected so the tables are deterministic under test. */
export interface TablesDeps {
  /** Monotonic milliseconds (performance.now() in the proxy). */
  now(): number;
  /** Uniform in [0, 1). */
  random(): number;
}

// ---------------------------------------------------------------------------------------------------
// Outbound

/** Traffic to a destination the config does not know: forward as-is to the original destination. */
export interface OutboundPassthrough {
  readonly kind: 'passthrough';
  readonly reason: string;
  /** "opaque" for ports in listeners.opaquePorts (no detection), else "detect". */
  readonly protocol: 'detect' | 'opaque';
}

/** An authority that names no known service (or cannot be parsed): keep the original destination. */
export interface OutboundNone {
  readonly kind: 'none';
  readonly reason: string;
}

export const REASON_UNKNOWN_DESTINATION = 'destination is not a known service';
export const REASON_UNKNOWN_AUTHORITY = 'authority is not a known service';
export const REASON_BAD_AUTHORITY = 'authority is malformed';

const PASSTHROUGH_DETECT: OutboundPassthrough = Object.freeze({
  kind: 'passthrough',
  reason: REASON_UNKNOWN_DESTINATION,
  protocol: 'detect',
});
const PASSTHROUGH_OPAQUE: OutboundPassthrough = Object.freeze({
  kind: 'passthrough',
  reason: REASON_UNKNOWN_DESTINATION,
  protocol: 'opaque',
});
const NONE_UNKNOWN_AUTHORITY: OutboundNone = Object.freeze({
  kind: 'none',
  reason: REASON_UNKNOWN_AUTHORITY,
});
const NONE_BAD_AUTHORITY: OutboundNone = Object.freeze({ kind: 'none', reason: REASON_BAD_AUTHORITY });

/** A route of a logical service port: the first route whose matches hold, or the service's default. */
export class RouteTable {
  /** Route name (<httproutegroup>/<match>), or "default" for requests that match no route. */
  readonly name: string;
  readonly isDefault: boolean;
  /** Whole-request timeout including retries, ms; null for none. Expiry answers 504. */
  readonly timeoutMs: number | null;
  /** Retry policy, or null: never retry. */
  readonly retry: CompiledRetryPolicy | null;
  /** Whether requests of this route use the TrafficSplit (when the service has one) or the root. */
  readonly useSplit: boolean;
  readonly matches: CompiledHttpMatches | null;
  /** Backoff between retries of this route (null without a retry policy). */
  readonly retryBackoff: ExponentialBackoff | null;

  constructor(
    name: string,
    route: OutboundRoute | OutboundDefaultRoute,
    matches: CompiledHttpMatches | null,
    maxBufferedBodyBytes: number,
  ) {
    this.name = name;
    this.isDefault = matches === null;
    this.timeoutMs = route.timeoutMs ?? null;
    this.retry = route.retry == null ? null : new CompiledRetryPolicy(route.retry, maxBufferedBodyBytes);
    this.retryBackoff = this.retry === null ? null : new ExponentialBackoff(this.retry.backoff);
    this.useSplit = route.useSplit ?? true;
    this.matches = matches;
  }
}

/** A concrete service port (a split backend or the root) and the balancer over its ready endpoints. */
export class ConcreteBackend {
  readonly name: string;
  readonly namespace: string;
  readonly port: number;
  readonly balancer: P2cBalancer;

  constructor(name: string, namespace: string, port: number, balancer: P2cBalancer) {
    this.name = name;
    this.namespace = namespace;
    this.port = port;
    this.balancer = balancer;
  }
}

/** A logical service (root of a possible TrafficSplit). */
export class LogicalService {
  readonly name: string;
  readonly namespace: string;
  /** The first DNS name in the config, or <name>.<namespace>: used for metrics labels. */
  readonly canonicalName: string;
  readonly splitName: string | null;
  /** One budget for all ports and routes of the service. */
  readonly retryBudget: RetryBudget;
  readonly ports = new Map<number, LogicalPort>();

  constructor(s: OutboundService, retryBudget: RetryBudget) {
    this.name = s.name;
    this.namespace = s.namespace;
    this.canonicalName = s.dnsNames[0] ?? `${s.name}.${s.namespace}`;
    this.splitName = s.split?.name ?? null;
    this.retryBudget = retryBudget;
  }
}

/** A port of a logical service: what outbound lookups return for known destinations. */
export class LogicalPort {
  readonly kind = 'service' as const;
  readonly service: LogicalService;
  readonly port: number;
  readonly portName: string | null;
  /** Effective protocol: the port's hint, or "opaque" for a "detect" port in listeners.opaquePorts. */
  readonly protocol: PortProtocol;
  /** "<canonical name>:<port>", the authority label of metrics. */
  readonly authority: string;
  readonly routes: readonly RouteTable[];
  readonly defaultRoute: RouteTable;
  /** The root service's own backend: unsplit traffic and routes with useSplit false go here. */
  readonly root: ConcreteBackend;
  /** Weighted backends, or null when unsplit or when every weight is 0 (all to the root). */
  readonly split: SmoothWeightedRoundRobin<ConcreteBackend> | null;

  constructor(
    service: LogicalService,
    port: number,
    portName: string | null,
    protocol: PortProtocol,
    routes: readonly RouteTable[],
    defaultRoute: RouteTable,
    root: ConcreteBackend,
    split: SmoothWeightedRoundRobin<ConcreteBackend> | null,
  ) {
    this.service = service;
    this.port = port;
    this.portName = portName;
    this.protocol = protocol;
    this.authority = `${service.canonicalName}:${port}`;
    this.routes = routes;
    this.defaultRoute = defaultRoute;
    this.root = root;
    this.split = split;
  }

  /** The route of an HTTP request: first route with a matching match, else the default route. */
  route(req: HttpRequestView): RouteTable {
    const routes = this.routes;
    for (let i = 0; i < routes.length; i++) {
      if (routes[i]!.matches!.matches(req)) return routes[i]!;
    }
    return this.defaultRoute;
  }

  /** The concrete backend for one request of `route` (advances the split; call once per request). */
  backend(route: RouteTable): ConcreteBackend {
    return route.useSplit && this.split !== null ? this.split.pick() : this.root;
  }
}

// ---------------------------------------------------------------------------------------------------
// Inbound

/** Result of an inbound authorization. Objects are shared: do not mutate. */
export interface InboundDecision {
  readonly allowed: boolean;
  /** Why, for the reason header of a 403, logs and metrics. */
  readonly reason: string;
  /** The authorization (<namespace>/<traffictarget>) that matched, or null. */
  readonly authorization: string | null;
}

export const REASON_PERMISSIVE = 'permissive mode';
export const REASON_UNAUTHENTICATED_DENIED = 'unauthenticated clients are not allowed';
export const REASON_PORT_NOT_AUTHORIZED = 'no authorization for this port';
export const REASON_NOT_AUTHORIZED = 'no authorization matches this client and request';

const ALLOW_PERMISSIVE: InboundDecision = Object.freeze({
  allowed: true,
  reason: REASON_PERMISSIVE,
  authorization: null,
});
const DENY_UNAUTHENTICATED: InboundDecision = Object.freeze({
  allowed: false,
  reason: REASON_UNAUTHENTICATED_DENIED,
  authorization: null,
});
const DENY_PORT: InboundDecision = Object.freeze({
  allowed: false,
  reason: REASON_PORT_NOT_AUTHORIZED,
  authorization: null,
});
const DENY_NOT_AUTHORIZED: InboundDecision = Object.freeze({
  allowed: false,
  reason: REASON_NOT_AUTHORIZED,
  authorization: null,
});

class CompiledAuthorization {
  readonly name: string;
  /** Has a source of kind "unauthenticated": any client, with or without identity. */
  readonly anyClient: boolean;
  readonly identities: ReadonlySet<string>;
  /** null: the whole port (TCP and every HTTP request). */
  readonly matches: CompiledHttpMatches | null;
  readonly allow: InboundDecision;

  constructor(a: Authorization, trustDomain: string) {
    this.name = a.name;
    let anyClient = false;
    const ids = new Set<string>();
    for (const s of a.sources) {
      if (s.kind === 'unauthenticated') anyClient = true;
      else if (s.kind === 'spiffeId') ids.add(s.spiffeId);
      else ids.add(`spiffe://${trustDomain}/ns/${s.namespace}/sa/${s.name}`);
    }
    this.anyClient = anyClient;
    this.identities = ids;
    this.matches = a.httpMatches === null ? null : new CompiledHttpMatches(a.httpMatches);
    this.allow = Object.freeze({ allowed: true, reason: `authorized by ${a.name}`, authorization: a.name });
  }

  /** Port and route part: a rule with HTTP matches never authorizes a non-HTTP connection. */
  coversRequest(req: HttpRequestView | null): boolean {
    if (this.matches === null) return true;
    return req !== null && this.matches.matches(req);
  }
}

/** Authorizations of one inbound port. */
export class InboundPortTable {
  readonly port: number;
  /** Effective protocol ("opaque" for a "detect" port in listeners.opaquePorts). */
  readonly protocol: PortProtocol;
  private readonly authorizations: readonly CompiledAuthorization[];

  constructor(port: number, protocol: PortProtocol, authorizations: readonly CompiledAuthorization[]) {
    this.port = port;
    this.protocol = protocol;
    this.authorizations = authorizations;
  }

  /** The first authorization that allows this client and covers the request, or null. */
  allowing(clientId: string | null, req: HttpRequestView | null): CompiledAuthorization | null {
    const auths = this.authorizations;
    for (let i = 0; i < auths.length; i++) {
      const a = auths[i]!;
      if ((a.anyClient || (clientId !== null && a.identities.has(clientId))) && a.coversRequest(req))
        return a;
    }
    return null;
  }

  /** The first authorization that covers the request, whatever its sources, or null. */
  covering(req: HttpRequestView | null): CompiledAuthorization | null {
    const auths = this.authorizations;
    for (let i = 0; i < auths.length; i++) if (auths[i]!.coversRequest(req)) return auths[i]!;
    return null;
  }
}

// ---------------------------------------------------------------------------------------------------
// Tables

/** See Tables.snapshot(). */
export interface TablesSnapshot {
  version: string;
  services: {
    authority: string;
    protocol: PortProtocol;
    routes: string[];
    split: { backend: string; weight: number }[] | null;
    retryBudgetRemaining: number;
    backends: {
      name: string;
      port: number;
      endpoints: {
        address: string;
        port: number;
        identity: string | null;
        inFlight: number;
        estimateMs: number;
        circuit: string;
      }[];
    }[];
  }[];
  inboundPorts: { port: number; protocol: PortProtocol }[];
}

/** Everything the data path looks up, compiled from one config version. */
export class Tables {
  /** The config's content version. */
  readonly version: string;
  readonly config: ProxyConfig;
  private readonly deps: TablesDeps;
  private readonly randomSource: RandomSource;
  private readonly ewma: PeakEwmaSettings;
  private readonly opaquePorts: ReadonlySet<number>;
  /** address -> port -> logical port. Addresses canonical (lowercase IPv6, IPv4 without ::ffff:). */
  private readonly byAddress: Map<string, Map<number, LogicalPort>>;
  /** lowercase DNS name without trailing dot -> port -> logical port. */
  private readonly byName: Map<string, Map<number, LogicalPort>>;
  private readonly inboundPorts: Map<number, InboundPortTable>;
  /** Endpoint state by key, handed to the next compilation so estimates and circuits survive updates. */
  readonly endpointStates: Map<string, EndpointState>;
  readonly services: readonly LogicalService[];
  private servicesByKey: Map<string, LogicalService> | null = null;
  /** Traffic sent straight to an endpoint (pod IP, headless service): see lookupByAddress. */
  private readonly directEndpoint: (address: string, port: number) => LogicalPort | null;

  constructor(args: {
    config: ProxyConfig;
    deps: TablesDeps;
    ewma: PeakEwmaSettings;
    byAddress: Map<string, Map<number, LogicalPort>>;
    byName: Map<string, Map<number, LogicalPort>>;
    inboundPorts: Map<number, InboundPortTable>;
    endpointStates: Map<string, EndpointState>;
    services: LogicalService[];
    directEndpoint: (address: string, port: number) => LogicalPort | null;
  }) {
    this.version = args.config.version;
    this.config = args.config;
    this.deps = args.deps;
    this.randomSource = { next: args.deps.random };
    this.ewma = args.ewma;
    this.opaquePorts = new Set(args.config.listeners?.opaquePorts ?? []);
    this.byAddress = args.byAddress;
    this.byName = args.byName;
    this.inboundPorts = args.inboundPorts;
    this.endpointStates = args.endpointStates;
    this.services = args.services;
    this.directEndpoint = args.directEndpoint;
  }

  // --- outbound lookup ---

  /**
   * The logical service port for an original destination, or passthrough with a reason and whether the port
   * is opaque. A cluster IP and service port find the service. An endpoint's own address and port (a pod IP,
   * as a headless service's DNS or a StatefulSet pod name resolves to) find that endpoint's service port
   * pinned to the endpoint: no split and no balancing (the client chose the pod), but mTLS with the identity
   * the config expects for it, so enforcing servers accept it. IPv6 in any textual form and IPv4-mapped IPv6
   * are accepted.
   */
  lookupByAddress(ip: string, port: number): LogicalPort | OutboundPassthrough {
    let ports = this.byAddress.get(ip);
    let canonical = ip;
    if (ports === undefined && ip.includes(':')) {
      canonical = canonicalIp(ip) ?? ip;
      ports = this.byAddress.get(canonical);
    }
    const lp = ports?.get(port) ?? this.directEndpoint(canonical, port);
    if (lp !== null) return lp;
    return this.opaquePorts.has(port) ? PASSTHROUGH_OPAQUE : PASSTHROUGH_DETECT;
  }

  /**
   * The logical service port for a Host / :authority value ("name", "name:port", "NAME.ns.svc.", "[v6]:port",
   * "10.0.0.1:80"), case-insensitive, trailing dot ignored. Without a port in the authority `defaultPort`
   * is used (the original destination port, or 80/443 by scheme). Returns kind "none" when unknown.
   */
  lookupByAuthority(authority: string, defaultPort: number): LogicalPort | OutboundNone {
    let host: string;
    let port = defaultPort;
    let portStart = -1;
    if (authority.charCodeAt(0) === 0x5b /* [ */) {
      const close = authority.indexOf(']');
      if (close < 0) return NONE_BAD_AUTHORITY;
      host = authority.slice(1, close);
      if (close + 1 < authority.length) {
        if (authority.charCodeAt(close + 1) !== 0x3a /* : */) return NONE_BAD_AUTHORITY;
        portStart = close + 2;
      }
    } else {
      const colon = authority.indexOf(':');
      if (colon >= 0 && authority.indexOf(':', colon + 1) >= 0) {
        host = authority; // bare IPv6 without brackets
      } else if (colon >= 0) {
        host = authority.slice(0, colon);
        portStart = colon + 1;
      } else {
        host = authority;
      }
    }
    if (portStart >= 0) {
      port = parsePort(authority, portStart);
      if (port < 0) return NONE_BAD_AUTHORITY;
    }
    if (host.length === 0) return NONE_BAD_AUTHORITY;
    if (host.charCodeAt(host.length - 1) === 0x2e /* . */) host = host.slice(0, -1);
    if (isIpLiteral(host)) {
      const r = this.lookupByAddress(host, port);
      return r.kind === 'service' ? r : NONE_UNKNOWN_AUTHORITY;
    }
    const byPort = this.byName.get(host) ?? this.byName.get(host.toLowerCase());
    return byPort?.get(port) ?? NONE_UNKNOWN_AUTHORITY;
  }

  /** Protocol handling for a passthrough destination port. */
  passthroughProtocol(port: number): 'detect' | 'opaque' {
    return this.opaquePorts.has(port) ? 'opaque' : 'detect';
  }

  // --- outbound request path ---

  /** Route for an HTTP request to a logical port (see LogicalPort.route). */
  route(lp: LogicalPort, req: HttpRequestView): RouteTable {
    return lp.route(req);
  }

  /** Concrete backend for one request on `route` (weights of the split, or the root). */
  backend(lp: LogicalPort, route: RouteTable): ConcreteBackend {
    return lp.backend(route);
  }

  /** Concrete backend for an opaque TCP connection: the default route decides whether the split applies. */
  tcpBackend(lp: LogicalPort): ConcreteBackend {
    return lp.backend(lp.defaultRoute);
  }

  /**
   * Picks an endpoint of a backend and marks it dispatched (in flight, circuit probe). Every endpoint
   * returned must later be passed to observe() exactly once. Returns NoEndpoint with a reason (503).
   * On a retry pass the endpoint that just failed as `avoid`: it is chosen again only if no other
   * endpoint of the backend is admissible.
   */
  pickEndpoint(backend: ConcreteBackend, avoid: EndpointState | null = null): EndpointState | NoEndpoint {
    const now = this.deps.now();
    const e = backend.balancer.pick(now, this.deps.random, avoid);
    if (e.kind === 'endpoint') e.dispatched(now);
    return e;
  }

  /**
   * Feedback for an endpoint returned by pickEndpoint: latency of the response (or of the failed attempt)
   * and its outcome. "failure" is a response classified as failure (classifyResponse), "connect-failure"
   * a connection that could not be made, "cancelled" a request abandoned without an outcome.
   */
  observe(endpoint: EndpointState, latencyMs: number, outcome: EndpointOutcome): void {
    endpoint.observe(this.deps.now(), latencyMs, outcome, this.ewma, this.randomSource);
  }

  // --- retries ---

  /** Counts an original request of a service against its retry budget (call once per request). */
  recordRequest(lp: LogicalPort): void {
    lp.service.retryBudget.deposit(this.deps.now());
  }

  /**
   * Whether to retry after a failed attempt: "retry" when the route has a policy that covers this failure
   * and has attempts left, the request is eligible (idempotent or allowed, body within
   * maxBufferedBodyBytes; pass Infinity when the body could not be buffered), and the service's budget has
   * a retry left (consumed); "budget-exhausted" when all but the budget allowed it; "no" otherwise.
   * `status` is 0 without a response; `grpcStatus` -1 when absent.
   */
  shouldRetry(
    lp: LogicalPort,
    route: RouteTable,
    method: string,
    bodyBytes: number,
    retriesDone: number,
    kind: AttemptFailureKind,
    status: number,
    grpcStatus: number,
  ): RetryVerdict {
    const p = route.retry;
    if (p === null) return 'no';
    if (!p.requestEligible(method, bodyBytes)) return 'no';
    if (!p.failureRetryable(retriesDone, kind, status, grpcStatus)) return 'no';
    return lp.service.retryBudget.tryWithdraw(this.deps.now()) ? 'retry' : 'budget-exhausted';
  }

  /**
   * Time allowed for the next attempt of a request on `route` that started at `startedAtMs` (deps.now()
   * time): min(per-try timeout, what is left of the route timeout); null = no limit, 0 = already expired.
   */
  attemptTimeoutMs(route: RouteTable, startedAtMs: number): number | null {
    return attemptTimeoutMs(route, this.deps.now() - startedAtMs);
  }

  /** Delay before retry number `retriesDone` (0-based) of a route, ms. */
  retryDelayMs(route: RouteTable, retriesDone: number): number {
    return route.retryBackoff === null ? 0 : route.retryBackoff.delayMs(retriesDone, this.randomSource);
  }

  /** The logical service namespace/name, if the config has it. */
  serviceByKey(namespace: string, name: string): LogicalService | undefined {
    this.servicesByKey ??= new Map(this.services.map((s) => [`${s.namespace}/${s.name}`, s]));
    return this.servicesByKey.get(`${namespace}/${name}`);
  }

  // --- introspection ---

  /**
   * JSON-ready state for the admin config dump: per logical port its routes and split, per backend its
   * endpoints with latency estimate, requests in flight and circuit state. Not for the hot path.
   */
  snapshot(): TablesSnapshot {
    const now = this.deps.now();
    const backend = (b: ConcreteBackend) => ({
      name: `${b.namespace}/${b.name}`,
      port: b.port,
      endpoints: b.balancer.endpoints.map((e) => ({
        address: e.address,
        port: e.port,
        identity: e.identity,
        inFlight: e.inFlight,
        estimateMs: Math.round(e.estimate(now, this.ewma.decayMs) * 1000) / 1000,
        circuit: e.circuit.state(now),
      })),
    });
    return {
      version: this.version,
      services: this.services.flatMap((s) =>
        [...s.ports.values()].map((lp) => ({
          authority: lp.authority,
          protocol: lp.protocol,
          routes: lp.routes.map((r) => r.name),
          split:
            lp.split === null
              ? null
              : lp.split.items.map((b, i) => ({ backend: b.name, weight: lp.split!.weightOf(i) })),
          retryBudgetRemaining: s.retryBudget.remaining(now),
          backends: [lp.root, ...(lp.split?.items.filter((b) => b !== lp.root) ?? [])].map(backend),
        })),
      ),
      inboundPorts: [...this.inboundPorts.values()].map((p) => ({ port: p.port, protocol: p.protocol })),
    };
  }

  // --- inbound ---

  /** The effective protocol of an inbound (container) port. */
  inboundProtocol(port: number): PortProtocol {
    const p = this.inboundPorts.get(port);
    if (p !== undefined) return p.protocol;
    return this.opaquePorts.has(port) ? 'opaque' : 'detect';
  }

  /**
   * Authorizes a connection (req null) or an HTTP request on an inbound port for a client identity (the
   * verified SPIFFE ID, or null for a client without mesh identity). Policy modes as the schema says:
   * permissive allows every client (unauthenticated ones if inbound.unauthenticated.permissive); enforcing
   * allows only what an authorization of the port covers. A source of kind "unauthenticated" allows any
   * client in both modes. Rules with HTTP matches never cover a non-HTTP connection (req null).
   */
  authorizeInbound(port: number, clientId: string | null, req: HttpRequestView | null): InboundDecision {
    const table = this.inboundPorts.get(port);
    const unauth = this.config.inbound.unauthenticated;
    const allowedBy = table === undefined ? null : table.allowing(clientId, req);
    if (allowedBy !== null) return allowedBy.allow;
    if (this.config.policyMode === 'permissive') {
      if (clientId !== null || (unauth?.permissive ?? true)) return ALLOW_PERMISSIVE;
      return DENY_UNAUTHENTICATED;
    }
    if (table === undefined) return DENY_PORT;
    if (clientId === null) {
      const covering = unauth?.enforcing === true ? table.covering(req) : null;
      if (covering !== null) return covering.allow;
      return DENY_UNAUTHENTICATED;
    }
    return DENY_NOT_AUTHORIZED;
  }
}

// ---------------------------------------------------------------------------------------------------
// Compilation

/** Error in a config the tables cannot compile, with the JSON Pointer of the offending field. */
export class TablesCompileError extends Error {
  readonly path: string;
  constructor(path: string, message: string) {
    super(`proxy config ${path}: ${message}`);
    this.name = 'TablesCompileError';
    this.path = path;
  }
}

/**
 * Compiles a validated config (validateProxyConfig output) into lookup tables. Pass the previous tables
 * to keep per-endpoint state (latency estimates, circuits, requests in flight) across config versions.
 * Throws TablesCompileError naming the field when something cannot be compiled.
 */
export function compileTables(config: ProxyConfig, deps: TablesDeps, previous?: Tables): Tables {
  const now = deps.now();
  const ewma: PeakEwmaSettings = {
    decayMs: config.balancer?.decayMs ?? 10_000,
    defaultRttMs: config.balancer?.defaultRttMs ?? 30,
  };
  const circuitPolicy = new CircuitBreakerPolicy(
    config.circuitBreaker ?? {
      consecutiveFailures: 7,
      backoff: { baseMs: 1000, maxMs: 60_000, jitter: 0.5 },
    },
  );
  const budgetSettings = config.retryBudget ?? {
    retryRatio: 0.2,
    minRetriesPerSecond: 10,
    windowMs: 10_000,
    maxBufferedBodyBytes: 65_536,
  };
  const opaquePorts = new Set(config.listeners?.opaquePorts ?? []);
  const oldStates = previous?.endpointStates;
  const endpointStates = new Map<string, EndpointState>();

  const backendPorts = new Map<string, Map<number, BackendPort>>();
  for (const b of config.outbound.backends) {
    const ports = new Map<number, BackendPort>();
    for (const p of b.ports) ports.set(p.port, p);
    backendPorts.set(`${b.namespace}/${b.name}`, ports);
  }

  const endpointState = (e: BackendPort['endpoints'][number], protocol: string): EndpointState => {
    const key = `${e.address}|${e.port}|${e.identity ?? ''}|${protocol}`;
    let s = endpointStates.get(key);
    if (s === undefined) {
      s = oldStates?.get(key);
      if (s === undefined) {
        s = new EndpointState(
          {
            address: e.address,
            port: e.port,
            identity: e.identity,
            zone: e.zone ?? null,
            weight: e.weight ?? 1,
          },
          protocol,
          circuitPolicy,
          ewma,
          now,
        );
      } else {
        s.weight = e.weight ?? 1;
      }
      endpointStates.set(key, s);
    }
    return s;
  };

  const concreteCache = new Map<string, ConcreteBackend>();
  const concrete = (namespace: string, name: string, port: number, protocol: string): ConcreteBackend => {
    const key = `${namespace}/${name}|${port}|${protocol}`;
    let c = concreteCache.get(key);
    if (c === undefined) {
      const bp = backendPorts.get(`${namespace}/${name}`)?.get(port);
      const ready: EndpointState[] = [];
      for (const e of bp?.endpoints ?? []) if (e.ready ?? true) ready.push(endpointState(e, protocol));
      c = new ConcreteBackend(name, namespace, port, new P2cBalancer(ready, ewma));
      concreteCache.set(key, c);
    }
    return c;
  };

  const byAddress = new Map<string, Map<number, LogicalPort>>();
  const byName = new Map<string, Map<number, LogicalPort>>();
  const services: LogicalService[] = [];
  const maxBody = budgetSettings.maxBufferedBodyBytes;

  config.outbound.services.forEach((s, si) => {
    const base = `/outbound/services/${si}`;
    // Keep the retry budget's window across config versions: updates are frequent exactly when endpoints
    // fail, and a fresh budget would grant the full reserve again each time.
    const oldBudget = previous?.serviceByKey(s.namespace, s.name)?.retryBudget;
    const budget =
      oldBudget?.hasSettings(budgetSettings) === true ? oldBudget : new RetryBudget(budgetSettings, now);
    const service = new LogicalService(s, budget);
    services.push(service);
    const routes = (s.routes ?? []).map((r, ri) => {
      try {
        return new RouteTable(r.name, r, new CompiledHttpMatches(r.matches), maxBody);
      } catch (e) {
        throw new TablesCompileError(`${base}/routes/${ri}`, (e as Error).message);
      }
    });
    const defaultRoute = new RouteTable(
      'default',
      s.defaultRoute ?? { useSplit: true, timeoutMs: null, retry: null },
      null,
      maxBody,
    );
    for (const sp of s.ports) {
      const protocol: PortProtocol =
        (sp.protocol ?? 'detect') === 'detect' && opaquePorts.has(sp.port)
          ? 'opaque'
          : (sp.protocol ?? 'detect');
      const root = concrete(s.namespace, s.name, sp.port, protocol);
      let split: SmoothWeightedRoundRobin<ConcreteBackend> | null = null;
      if (s.split?.backends.some((b) => b.weight > 0)) {
        split = new SmoothWeightedRoundRobin(
          s.split.backends.map((b) => concrete(s.namespace, b.service, sp.port, protocol)),
          s.split.backends.map((b) => b.weight),
        );
        const old = previous?.serviceByKey(s.namespace, s.name)?.ports.get(sp.port)?.split;
        if (old != null && sameBackendNames(old.items, split.items)) split.continueFrom(old);
      }
      const lp = new LogicalPort(
        service,
        sp.port,
        sp.name ?? null,
        protocol,
        routes,
        defaultRoute,
        root,
        split,
      );
      service.ports.set(sp.port, lp);
      for (const ip of s.clusterIPs) addPort(byAddress, canonicalIp(ip) ?? ip, lp);
      for (const n of s.dnsNames) addPort(byName, stripDot(n.toLowerCase()), lp);
    }
  });

  // Traffic to one endpoint: its service port (routes, timeouts, retry budget, metrics authority) with the
  // endpoint as the only backend. A backend that is not a service of the config gets a plain default route.
  const directDefaultSpec = { useSplit: false, timeoutMs: null, retry: null };
  const directDefault = new RouteTable('default', directDefaultSpec, null, maxBody);
  const pinEndpoint = (ref: EndpointRef): LogicalPort => {
    let service = tables.serviceByKey(ref.namespace, ref.name);
    const of = service?.ports.get(ref.servicePort);
    const protocol: PortProtocol = of?.protocol ?? (opaquePorts.has(ref.endpoint.port) ? 'opaque' : 'detect');
    service ??= new LogicalService(
      {
        name: ref.name,
        namespace: ref.namespace,
        clusterIPs: [],
        dnsNames: [],
        ports: [],
        routes: [],
        defaultRoute: directDefaultSpec,
        split: null,
      },
      new RetryBudget(budgetSettings, now),
    );
    const state = endpointState(ref.endpoint, protocol);
    const root = new ConcreteBackend(
      ref.name,
      ref.namespace,
      ref.servicePort,
      new P2cBalancer([state], ewma),
    );
    return new LogicalPort(
      service,
      ref.servicePort,
      of?.portName ?? null,
      protocol,
      of?.routes ?? [],
      of?.defaultRoute ?? directDefault,
      root,
      null,
    );
  };

  const trustDomain = config.identity.trustDomain;
  const inboundPorts = new Map<number, InboundPortTable>();
  config.inbound.ports.forEach((p, pi) => {
    const auths = p.authorizations.map((a, ai) => {
      try {
        return new CompiledAuthorization(a, trustDomain);
      } catch (e) {
        throw new TablesCompileError(`/inbound/ports/${pi}/authorizations/${ai}`, (e as Error).message);
      }
    });
    const declared = p.protocol ?? 'detect';
    const protocol: PortProtocol = declared === 'detect' && opaquePorts.has(p.port) ? 'opaque' : declared;
    inboundPorts.set(p.port, new InboundPortTable(p.port, protocol, auths));
  });

  const tables: Tables = new Tables({
    config,
    deps,
    ewma,
    byAddress,
    byName,
    inboundPorts,
    endpointStates,
    services,
    directEndpoint: directEndpoints(config, pinEndpoint),
  });
  return tables;
}

/** An endpoint address and port, and the backend service port that lists it. */
export interface EndpointRef {
  readonly namespace: string;
  readonly name: string;
  readonly servicePort: number;
  readonly endpoint: BackendPort['endpoints'][number];
}

/**
 * The lookup for traffic addressed to an endpoint itself. The index (every endpoint of every backend, ready or
 * not: the client picked it, the config only says who it is) is built on the first such lookup and each pinned
 * port once, so proxies that only ever talk to cluster IPs pay nothing. An address and port listed with two
 * different identities is left out (passthrough): there is no telling which one to expect.
 */
function directEndpoints(
  config: ProxyConfig,
  pin: (ref: EndpointRef) => LogicalPort,
): (address: string, port: number) => LogicalPort | null {
  let index: Map<string, EndpointRef | null> | null = null;
  // Only endpoints of the config are remembered (misses are one Map lookup): destinations outside the mesh,
  // however many an app dials, add nothing.
  const pinned = new Map<string, LogicalPort>();
  return (address, port) => {
    const key = `${address}|${port}`;
    const known = pinned.get(key);
    if (known !== undefined) return known;
    if (index === null) {
      index = new Map();
      for (const b of config.outbound.backends) {
        for (const bp of b.ports) {
          for (const endpoint of bp.endpoints) {
            const k = `${canonicalIp(endpoint.address) ?? endpoint.address}|${endpoint.port}`;
            const seen = index.get(k);
            if (seen === undefined) {
              index.set(k, { namespace: b.namespace, name: b.name, servicePort: bp.port, endpoint });
            } else if (seen !== null && seen.endpoint.identity !== endpoint.identity) {
              index.set(k, null);
            }
          }
        }
      }
    }
    const ref = index.get(key);
    if (ref == null) return null;
    const lp = pin(ref);
    pinned.set(key, lp);
    return lp;
  };
}

function sameBackendNames(a: readonly ConcreteBackend[], b: readonly ConcreteBackend[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i]!.name !== b[i]!.name) return false;
  return true;
}

function addPort(index: Map<string, Map<number, LogicalPort>>, key: string, lp: LogicalPort): void {
  let ports = index.get(key);
  if (ports === undefined) {
    ports = new Map();
    index.set(key, ports);
  }
  ports.set(lp.port, lp);
}

function stripDot(name: string): string {
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

/** Decimal port 1..65535 from `s` at `start` to the end, or -1. */
function parsePort(s: string, start: number): number {
  const len = s.length - start;
  if (len < 1 || len > 5) return -1;
  let v = 0;
  for (let i = start; i < s.length; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v >= 1 && v <= 65535 ? v : -1;
}

/**
 * IPv6 (any colon) or dotted-quad digits (four groups of 1-3 digits): DNS names never contain ':' and never
 * end in a digit-only TLD. No regex, it runs per request.
 */
export function isIpLiteral(host: string): boolean {
  if (host.includes(':')) return true;
  let groups = 1;
  let digits = 0;
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (++digits > 3) return false;
    } else if (c === 0x2e && digits > 0 && groups < 4) {
      groups++;
      digits = 0;
    } else return false;
  }
  return groups === 4 && digits > 0;
}

/** Canonical text of an IP address: IPv6 compressed lowercase, IPv4-mapped IPv6 as IPv4; null if invalid. */
export function canonicalIp(ip: string): string | null {
  if (!ip.includes(':')) return /^\d{1,3}(\.\d{1,3}){3}$/.test(ip) ? ip : null;
  let host: string;
  try {
    host = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return null;
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (mapped !== null) {
    const hi = Number.parseInt(mapped[1]!, 16);
    const lo = Number.parseInt(mapped[2]!, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return host;
}
