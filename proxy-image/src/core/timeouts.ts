// Timeout policy of a request: the route's whole-request timeout (which includes retries and the waits
// between them) and the retry policy's per-attempt timeout. Pure arithmetic on caller-supplied times.

/** The part of a route the timeout policy needs. */
export interface TimeoutPolicy {
  /** Whole request, ms; null for none. */
  readonly timeoutMs: number | null;
  readonly retry: { readonly perTryTimeoutMs: number | null } | null;
}

/**
 * Time allowed for an attempt starting `elapsedMs` after the request began: the smaller of the per-try
 * timeout and what is left of the route timeout. null means no limit; 0 means the request has already
 * timed out (answer 504 without sending).
 */
export function attemptTimeoutMs(policy: TimeoutPolicy, elapsedMs: number): number | null {
  const perTry = policy.retry?.perTryTimeoutMs ?? null;
  if (policy.timeoutMs === null) return perTry;
  const left = Math.max(0, policy.timeoutMs - Math.max(0, elapsedMs));
  return perTry === null ? left : Math.min(perTry, left);
}

/**
 * Whether a retry that would start after waiting `delayMs` still has time to run: a retry that could only
 * start at or after the route deadline is pointless (the client gets 504 either way) and only adds load.
 */
export function retryFitsDeadline(policy: TimeoutPolicy, elapsedMs: number, delayMs: number): boolean {
  if (policy.timeoutMs === null) return true;
  return elapsedMs + delayMs < policy.timeoutMs;
}
