import { describe, expect, test } from '@jest/globals';
import { CompiledRetryPolicy, isIdempotentMethod } from './retry-policy.ts';

const policy = (
  retryOn: ('5xx' | 'gateway-error' | 'connect-failure' | 'reset' | 'grpc-unavailable')[],
  extra = {},
) =>
  new CompiledRetryPolicy(
    {
      maxRetries: 2,
      retryOn,
      retryNonIdempotent: false,
      perTryTimeoutMs: null,
      backoff: { baseMs: 1, maxMs: 2, jitter: 0 },
      ...extra,
    },
    1000,
  );

describe('CompiledRetryPolicy', () => {
  test('each retryOn condition covers exactly its failures', () => {
    expect(policy(['5xx']).failureRetryable(0, 'response', 500, -1)).toBe(true);
    expect(policy(['5xx']).failureRetryable(0, 'response', 429, -1)).toBe(false);
    expect(policy(['gateway-error']).failureRetryable(0, 'response', 500, -1)).toBe(false);
    for (const s of [502, 503, 504])
      expect(policy(['gateway-error']).failureRetryable(0, 'response', s, -1)).toBe(true);
    expect(policy(['connect-failure']).failureRetryable(0, 'connect-failure', 0, -1)).toBe(true);
    expect(policy(['connect-failure']).failureRetryable(0, 'reset', 0, -1)).toBe(false);
    expect(policy(['reset']).failureRetryable(0, 'reset', 0, -1)).toBe(true);
    expect(policy(['grpc-unavailable']).failureRetryable(0, 'response', 200, 14)).toBe(true);
    expect(policy(['grpc-unavailable']).failureRetryable(0, 'response', 200, 13)).toBe(false);
    expect(policy(['5xx']).failureRetryable(2, 'response', 500, -1)).toBe(false); // maxRetries used
  });

  test('request eligibility: idempotent methods, body size, opt-in for others', () => {
    expect(policy(['5xx']).requestEligible('GET', 0)).toBe(true);
    expect(policy(['5xx']).requestEligible('PUT', 1000)).toBe(true);
    expect(policy(['5xx']).requestEligible('PUT', 1001)).toBe(false);
    expect(policy(['5xx']).requestEligible('GET', Number.POSITIVE_INFINITY)).toBe(false);
    expect(policy(['5xx']).requestEligible('POST', 0)).toBe(false);
    expect(policy(['5xx'], { retryNonIdempotent: true }).requestEligible('POST', 0)).toBe(true);
    expect(policy(['5xx'], { maxRetries: 0 }).requestEligible('GET', 0)).toBe(false);
    for (const m of ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])
      expect(isIdempotentMethod(m)).toBe(true);
    for (const m of ['POST', 'PATCH', 'CONNECT', 'get']) expect(isIdempotentMethod(m)).toBe(false);
  });
});
