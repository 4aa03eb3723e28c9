// Exponential backoff with jitter, shared by retries and circuit breakers.

import type { RandomSource } from './random.ts';

export interface BackoffSettings {
  /** Delay before the first retry (attempt 0), in milliseconds. */
  baseMs: number;
  /** Cap on the delay, in milliseconds. */
  maxMs: number;
  /** Fraction of the delay that is randomized: 0 = none, 1 = anywhere in (0, delay]. */
  jitter: number;
}

/** Computes delays min(maxMs, baseMs * 2^attempt), each scaled by a random factor in (1 - jitter, 1]. */
export class ExponentialBackoff {
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly jitter: number;

  constructor(settings: BackoffSettings) {
    if (!(settings.baseMs >= 0 && settings.maxMs >= settings.baseMs)) {
      throw new RangeError('backoff needs 0 <= baseMs <= maxMs');
    }
    if (!(settings.jitter >= 0 && settings.jitter <= 1))
      throw new RangeError('backoff jitter must be in [0, 1]');
    this.baseMs = settings.baseMs;
    this.maxMs = settings.maxMs;
    this.jitter = settings.jitter;
  }

  /** The un-jittered delay of an attempt (0-based): the upper bound of delayMs. */
  ceilingMs(attempt: number): number {
    if (!(attempt > 0)) return this.baseMs; // also NaN and negatives
    // 2^1024 is Infinity and 0 * Infinity is NaN: cap the exponent (2^1023 already exceeds any maxMs).
    if (this.baseMs === 0) return 0;
    return Math.min(this.maxMs, this.baseMs * 2 ** Math.min(attempt, 1023));
  }

  /** The delay before retry number `attempt` (0-based). Always within [ceiling * (1 - jitter), ceiling]. */
  delayMs(attempt: number, random: RandomSource): number {
    const ceiling = this.ceilingMs(attempt);
    if (this.jitter === 0) return ceiling;
    // random.next() is in [0, 1), so the factor is in (1 - jitter, 1].
    return ceiling * (1 - this.jitter * random.next());
  }
}
