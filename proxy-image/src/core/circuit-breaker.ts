// Per-endpoint circuit breaker (failure accrual): opens after N consecutive failures, lets one probe
// through after a backoff, closes on a success, and backs off further when the probe fails.

import { type BackoffSettings, ExponentialBackoff } from './backoff.ts';
import type { RandomSource } from './random.ts';

export type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerSettings {
  consecutiveFailures: number;
  backoff: BackoffSettings;
}

/** Shared, immutable policy; many CircuitBreaker instances use one. */
export class CircuitBreakerPolicy {
  readonly consecutiveFailures: number;
  readonly backoff: ExponentialBackoff;

  constructor(settings: CircuitBreakerSettings) {
    if (!(Number.isInteger(settings.consecutiveFailures) && settings.consecutiveFailures >= 1)) {
      throw new RangeError('consecutiveFailures must be an integer >= 1');
    }
    this.consecutiveFailures = settings.consecutiveFailures;
    this.backoff = new ExponentialBackoff(settings.backoff);
  }
}

/** State of one endpoint's circuit. Time comes from the caller (monotonic milliseconds). */
export class CircuitBreaker {
  private readonly policy: CircuitBreakerPolicy;
  private stateValue: CircuitState = 'closed';
  private failures = 0;
  /** How many times the circuit has opened since it was last closed: the backoff attempt. */
  private openings = 0;
  private reopenAtMs = 0;
  private probeInFlight = false;

  constructor(policy: CircuitBreakerPolicy) {
    this.policy = policy;
  }

  /** The state as of nowMs: an open circuit whose backoff expired reports half-open. */
  state(nowMs: number): CircuitState {
    if (this.stateValue === 'open' && nowMs >= this.reopenAtMs) return 'half-open';
    return this.stateValue;
  }

  /** Whether a request may be sent now. Read-only: call onDispatch when actually sending. */
  canDispatch(nowMs: number): boolean {
    switch (this.stateValue) {
      case 'closed':
        return true;
      case 'open':
        return nowMs >= this.reopenAtMs;
      case 'half-open':
        return !this.probeInFlight;
    }
  }

  /** Records that a request was sent; an expired open circuit becomes half-open with this as its probe. */
  onDispatch(nowMs: number): void {
    if (this.stateValue === 'open' && nowMs >= this.reopenAtMs) this.stateValue = 'half-open';
    if (this.stateValue === 'half-open') this.probeInFlight = true;
  }

  onSuccess(): void {
    this.stateValue = 'closed';
    this.failures = 0;
    this.openings = 0;
    this.probeInFlight = false;
  }

  onFailure(nowMs: number, random: RandomSource): void {
    if (this.stateValue === 'closed') {
      this.failures++;
      if (this.failures >= this.policy.consecutiveFailures) this.open(nowMs, random);
      return;
    }
    if (this.stateValue === 'half-open') {
      this.open(nowMs, random);
    }
    // Failures of requests sent before the circuit opened do not extend the backoff.
  }

  /**
   * Records that a dispatched request ended without an outcome (cancelled by the client, or a retry
   * abandoned). A half-open circuit lets another probe through instead of waiting forever.
   */
  onAbandon(): void {
    if (this.stateValue === 'half-open') this.probeInFlight = false;
  }

  /** Milliseconds until an open circuit lets a probe through (0 when not open). */
  remainingOpenMs(nowMs: number): number {
    return this.stateValue === 'open' ? Math.max(0, this.reopenAtMs - nowMs) : 0;
  }

  private open(nowMs: number, random: RandomSource): void {
    this.stateValue = 'open';
    this.probeInFlight = false;
    this.reopenAtMs = nowMs + this.policy.backoff.delayMs(this.openings, random);
    this.openings++;
  }
}
