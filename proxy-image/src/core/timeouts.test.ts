import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { attemptTimeoutMs, retryFitsDeadline } from './timeouts.ts';

describe('timeouts', () => {
  test('per-try and whole-request limits combine', () => {
    expect(attemptTimeoutMs({ timeoutMs: null, retry: null }, 10)).toBeNull();
    expect(attemptTimeoutMs({ timeoutMs: null, retry: { perTryTimeoutMs: 100 } }, 10)).toBe(100);
    expect(attemptTimeoutMs({ timeoutMs: 1000, retry: null }, 300)).toBe(700);
    expect(attemptTimeoutMs({ timeoutMs: 1000, retry: { perTryTimeoutMs: 400 } }, 300)).toBe(400);
    expect(attemptTimeoutMs({ timeoutMs: 1000, retry: { perTryTimeoutMs: 400 } }, 800)).toBe(200);
    expect(attemptTimeoutMs({ timeoutMs: 1000, retry: null }, 1500)).toBe(0);
    expect(retryFitsDeadline({ timeoutMs: 1000, retry: null }, 900, 100)).toBe(false);
    expect(retryFitsDeadline({ timeoutMs: 1000, retry: null }, 850, 100)).toBe(true);
    expect(retryFitsDeadline({ timeoutMs: null, retry: null }, 1e9, 100)).toBe(true);
  });

  test('an attempt never outlives the route deadline nor its per-try limit', () => {
    const opt = fc.option(fc.integer({ min: 1, max: 100_000 }), { nil: null });
    fc.assert(
      fc.property(opt, opt, fc.integer({ min: 0, max: 200_000 }), (timeoutMs, perTry, elapsed) => {
        const t = attemptTimeoutMs({ timeoutMs, retry: { perTryTimeoutMs: perTry } }, elapsed);
        if (timeoutMs === null && perTry === null) return t === null;
        if (t === null) return false;
        if (t < 0) return false;
        if (timeoutMs !== null && elapsed + t > Math.max(timeoutMs, elapsed)) return false;
        return perTry === null || t <= perTry;
      }),
    );
  });
});
