// TypeScript view of the proxy config contract (proxy.weft.dev/v1alpha1). Mirrors schema.ts field by
// field; the schema's descriptions are the reference documentation. These types describe a document
// after validateProxyConfig, that is with every default filled in.

export const PROXY_CONFIG_API_VERSION = 'proxy.weft.dev/v1alpha1';
export const PROXY_CONFIG_SCHEMA_ID = 'https://weft.dev/schemas/proxy-config/v1alpha1.json';

export type PolicyMode = 'permissive' | 'enforcing';

/** How the proxy treats a port's traffic: `detect` sniffs the first bytes, the others are declared. */
export type PortProtocol = 'detect' | 'http1' | 'http2' | 'grpc' | 'opaque' | 'udp';

export interface ProxyConfig {
  apiVersion: typeof PROXY_CONFIG_API_VERSION;
  version: string;
  generatedAt: string;
  identity: ProxyIdentity;
  trustAnchors: string[];
  policyMode: PolicyMode;
  listeners: Listeners;
  outbound: Outbound;
  inbound: Inbound;
  balancer: BalancerSettings;
  retryBudget: RetryBudgetSettings;
  circuitBreaker: CircuitBreakerSettings;
  limits: Limits;
}

export interface ProxyIdentity {
  spiffeId: string;
  trustDomain: string;
}

export interface Listeners {
  outboundPort: number;
  inboundPort: number;
  adminPort: number;
  adminAddress: string;
  detectTimeoutMs: number;
  opaquePorts: number[];
}

export interface Outbound {
  services: OutboundService[];
  backends: Backend[];
}

export interface OutboundService {
  name: string;
  namespace: string;
  clusterIPs: string[];
  dnsNames: string[];
  ports: ServicePort[];
  routes: OutboundRoute[];
  defaultRoute: OutboundDefaultRoute;
  split: TrafficSplitConfig | null;
}

export interface ServicePort {
  port: number;
  name: string | null;
  protocol: PortProtocol;
}

export interface HeaderMatch {
  name: string;
  valueRegex: string;
}

export interface HttpMatch {
  name: string | null;
  pathRegex: string | null;
  methods: string[];
  headers: HeaderMatch[];
}

export interface RetryPolicy {
  maxRetries: number;
  retryOn: RetryCondition[];
  retryNonIdempotent: boolean;
  perTryTimeoutMs: number | null;
  backoff: BackoffSettings;
}

/** The failures a retry policy may name (schema, proxy and the operator's annotations share this list). */
export const RETRY_CONDITIONS = [
  '5xx',
  'gateway-error',
  'connect-failure',
  'reset',
  'grpc-unavailable',
] as const;
export type RetryCondition = (typeof RETRY_CONDITIONS)[number];
/** What a retry policy that leaves them out retries on, and how it backs off (the schema's defaults). */
export const DEFAULT_RETRY_ON: readonly RetryCondition[] = ['gateway-error', 'connect-failure'];
export const DEFAULT_RETRY_BACKOFF: Readonly<BackoffSettings> = { baseMs: 25, maxMs: 250, jitter: 0.5 };

export interface OutboundRoute {
  name: string;
  matches: HttpMatch[];
  useSplit: boolean;
  timeoutMs: number | null;
  retry: RetryPolicy | null;
}

export interface OutboundDefaultRoute {
  useSplit: boolean;
  timeoutMs: number | null;
  retry: RetryPolicy | null;
}

export interface TrafficSplitConfig {
  name: string;
  backends: SplitBackend[];
}

export interface SplitBackend {
  service: string;
  weight: number;
}

export interface Backend {
  name: string;
  namespace: string;
  ports: BackendPort[];
}

export interface BackendPort {
  port: number;
  endpoints: Endpoint[];
}

export interface Endpoint {
  address: string;
  port: number;
  identity: string | null;
  ready: boolean;
  zone: string | null;
  weight: number;
}

export interface Inbound {
  unauthenticated: UnauthenticatedAccess;
  ports: InboundPort[];
}

export interface UnauthenticatedAccess {
  permissive: boolean;
  enforcing: boolean;
}

export interface InboundPort {
  port: number;
  protocol: PortProtocol;
  authorizations: Authorization[];
}

export type AuthorizationSource =
  | { kind: 'spiffeId'; spiffeId: string }
  | { kind: 'serviceAccount'; namespace: string; name: string }
  | { kind: 'unauthenticated' };

export interface Authorization {
  name: string;
  sources: AuthorizationSource[];
  httpMatches: HttpMatch[] | null;
}

export interface BackoffSettings {
  baseMs: number;
  maxMs: number;
  jitter: number;
}

export interface BalancerSettings {
  decayMs: number;
  defaultRttMs: number;
}

export interface RetryBudgetSettings {
  retryRatio: number;
  minRetriesPerSecond: number;
  windowMs: number;
  maxBufferedBodyBytes: number;
}

export interface CircuitBreakerSettings {
  consecutiveFailures: number;
  backoff: BackoffSettings;
}

export interface Limits {
  maxInboundConnections: number;
  maxOutboundConnections: number;
  maxHeaderBytes: number;
  maxHeaderCount: number;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  drainTimeoutMs: number;
}
