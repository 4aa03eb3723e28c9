// Pure policy core of the proxy: routing and policy tables, route matching, split, balancing, retries,
// circuit breaking, timeouts, response classification and protocol detection. No I/O; time and
// randomness are injected.

export { ExponentialBackoff } from './backoff.ts';
export {
  ALL_CIRCUITS_OPEN,
  type EndpointOutcome,
  EndpointState,
  NO_READY_ENDPOINTS,
  type NoEndpoint,
  P2cBalancer,
} from './balancer.ts';
export { CircuitBreaker, CircuitBreakerPolicy, type CircuitState } from './circuit-breaker.ts';
export {
  classifyResponse,
  grpcStatusOf,
  isGrpcContentType,
  parseGrpcStatus,
  type ResponseClass,
} from './classify.ts';
export {
  type Detection,
  detectProtocol,
  MAX_DETECT_BYTES,
  MAX_REQUEST_LINE_BYTES,
  type TlsClientHello,
} from './detect.ts';
export { type HttpRequestView, pathOnly } from './http-request.ts';
export { type RandomSource, SeededRandom } from './random.ts';
export { compilePrefixRegex, type PrefixMatcher } from './regex.ts';
export { RetryBudget } from './retry-budget.ts';
export { type AttemptFailureKind, CompiledRetryPolicy, isIdempotentMethod } from './retry-policy.ts';
export { CompiledHttpMatch, CompiledHttpMatches } from './route-match.ts';
export {
  ConcreteBackend,
  canonicalIp,
  compileTables,
  type InboundDecision,
  InboundPortTable,
  LogicalPort,
  LogicalService,
  type OutboundNone,
  type OutboundPassthrough,
  REASON_BAD_AUTHORITY,
  REASON_NOT_AUTHORIZED,
  REASON_PERMISSIVE,
  REASON_PORT_NOT_AUTHORIZED,
  REASON_UNAUTHENTICATED_DENIED,
  REASON_UNKNOWN_AUTHORITY,
  REASON_UNKNOWN_DESTINATION,
  RouteTable,
  Tables,
  TablesCompileError,
  type TablesDeps,
  type TablesSnapshot,
} from './tables.ts';
export { attemptTimeoutMs, retryFitsDeadline, type TimeoutPolicy } from './timeouts.ts';
export { SmoothWeightedRoundRobin } from './weighted-split.ts';
