// Whether a failed attempt may be retried: the route's retry policy (conditions, attempts), the request's
// method and body size. The retry budget is checked separately, last, because withdrawing consumes it.

import {
  DEFAULT_RETRY_BACKOFF,
  DEFAULT_RETRY_ON,
  type RetryCondition,
  type RetryPolicy,
} from '../../../crds/proxy-config/types.ts';

/** How an attempt failed. "response" carries a status code (and gRPC status when there is one). */
export type AttemptFailureKind = 'response' | 'connect-failure' | 'reset';

const ON_5XX = 1;
const ON_GATEWAY = 2;
const ON_CONNECT = 4;
const ON_RESET = 8;
const ON_GRPC_UNAVAILABLE = 16;

const CONDITION_BITS: Record<RetryCondition, number> = {
  '5xx': ON_5XX,
  'gateway-error': ON_GATEWAY,
  'connect-failure': ON_CONNECT,
  reset: ON_RESET,
  'grpc-unavailable': ON_GRPC_UNAVAILABLE,
};

const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** RFC 9110 idempotent methods. */
export function isIdempotentMethod(method: string): boolean {
  return IDEMPOTENT_METHODS.has(method);
}

/** A route's retry policy, compiled once per config. */
export class CompiledRetryPolicy {
  readonly maxRetries: number;
  readonly perTryTimeoutMs: number | null;
  readonly retryNonIdempotent: boolean;
  readonly backoff: RetryPolicy['backoff'];
  readonly maxBodyBytes: number;
  private readonly mask: number;

  constructor(policy: RetryPolicy, maxBufferedBodyBytes: number) {
    this.maxRetries = policy.maxRetries;
    this.perTryTimeoutMs = policy.perTryTimeoutMs ?? null;
    this.retryNonIdempotent = policy.retryNonIdempotent ?? false;
    this.backoff = policy.backoff ?? DEFAULT_RETRY_BACKOFF;
    this.maxBodyBytes = maxBufferedBodyBytes;
    let mask = 0;
    for (const c of policy.retryOn ?? DEFAULT_RETRY_ON) mask |= CONDITION_BITS[c];
    this.mask = mask;
  }

  /**
   * Whether a request is eligible for retries at all: idempotent method (or retryNonIdempotent) and a body
   * of at most maxBufferedBodyBytes. `bodyBytes` is the full body length; pass Infinity when the body is
   * larger than the buffer or of unknown length that could not be buffered.
   */
  requestEligible(method: string, bodyBytes: number): boolean {
    if (this.maxRetries === 0) return false;
    if (bodyBytes > this.maxBodyBytes) return false;
    return this.retryNonIdempotent || isIdempotentMethod(method);
  }

  /**
   * Whether attempt number `retriesDone + 1` may be sent after this failure. `status` is the HTTP status
   * (0 when there is no response) and `grpcStatus` the grpc-status (-1 when absent).
   */
  failureRetryable(
    retriesDone: number,
    kind: AttemptFailureKind,
    status: number,
    grpcStatus: number,
  ): boolean {
    if (retriesDone >= this.maxRetries) return false;
    const m = this.mask;
    switch (kind) {
      case 'connect-failure':
        return (m & ON_CONNECT) !== 0;
      case 'reset':
        return (m & ON_RESET) !== 0;
      case 'response':
        if (status >= 500 && status <= 599 && (m & ON_5XX) !== 0) return true;
        if ((status === 502 || status === 503 || status === 504) && (m & ON_GATEWAY) !== 0) return true;
        return grpcStatus === 14 && (m & ON_GRPC_UNAVAILABLE) !== 0;
    }
  }
}
