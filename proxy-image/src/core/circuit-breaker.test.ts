import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { ExponentialBackoff } from './backoff.ts';
import { CircuitBreaker, CircuitBreakerPolicy } from './circuit-breaker.ts';
import { SeededRandom } from './random.ts';

const noJitter = { baseMs: 100, maxMs: 1000, jitter: 0 };

describe('CircuitBreaker', () => {
  test('opens after N consecutive failures; a success in between resets the count', () => {
    const cb = new CircuitBreaker(new CircuitBreakerPolicy({ consecutiveFailures: 3, backoff: noJitter }));
    const r = new SeededRandom(1);
    cb.onFailure(0, r);
    cb.onFailure(0, r);
    cb.onSuccess();
    cb.onFailure(0, r);
    cb.onFailure(0, r);
    expect(cb.state(0)).toBe('closed');
    cb.onFailure(0, r);
    expect(cb.state(0)).toBe('open');
    expect(cb.canDispatch(99)).toBe(false);
    expect(cb.remainingOpenMs(40)).toBe(60);
  });

  test('half-open lets exactly one probe through; a failed probe doubles the backoff', () => {
    const cb = new CircuitBreaker(new CircuitBreakerPolicy({ consecutiveFailures: 1, backoff: noJitter }));
    const r = new SeededRandom(1);
    cb.onFailure(0, r);
    expect(cb.state(100)).toBe('half-open');
    expect(cb.canDispatch(100)).toBe(true);
    cb.onDispatch(100);
    expect(cb.canDispatch(100)).toBe(false);
    cb.onFailure(150, r);
    expect(cb.state(150)).toBe('open');
    expect(cb.remainingOpenMs(150)).toBe(200);
    cb.onDispatch(350);
    cb.onSuccess();
    expect(cb.state(350)).toBe('closed');
  });

  test('an abandoned probe frees the half-open slot', () => {
    const cb = new CircuitBreaker(new CircuitBreakerPolicy({ consecutiveFailures: 1, backoff: noJitter }));
    cb.onFailure(0, new SeededRandom(2));
    cb.onDispatch(100);
    expect(cb.canDispatch(100)).toBe(false);
    cb.onAbandon();
    expect(cb.canDispatch(100)).toBe(true);
  });

  test('late failures of requests sent before opening do not extend the backoff', () => {
    const cb = new CircuitBreaker(new CircuitBreakerPolicy({ consecutiveFailures: 1, backoff: noJitter }));
    const r = new SeededRandom(3);
    cb.onFailure(0, r);
    cb.onFailure(50, r);
    expect(cb.remainingOpenMs(50)).toBe(50);
  });

  test('rejects bad settings', () => {
    expect(() => new CircuitBreakerPolicy({ consecutiveFailures: 0, backoff: noJitter })).toThrow(
      /consecutiveFailures/,
    );
  });
});

describe('ExponentialBackoff', () => {
  test('delays stay within [ceiling * (1 - jitter), ceiling] and ceilings grow to the cap', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 0, max: 2000 }),
        fc.integer(),
        (base, extra, jitter, attempt, seed) => {
          const b = new ExponentialBackoff({ baseMs: base, maxMs: base + extra, jitter });
          const ceiling = b.ceilingMs(attempt);
          expect(ceiling).toBeLessThanOrEqual(base + extra);
          expect(ceiling).toBeGreaterThanOrEqual(Math.min(base, base + extra));
          expect(b.ceilingMs(attempt + 1)).toBeGreaterThanOrEqual(ceiling);
          const d = b.delayMs(attempt, new SeededRandom(seed));
          expect(d).toBeLessThanOrEqual(ceiling);
          expect(d).toBeGreaterThanOrEqual(ceiling * (1 - jitter) - 1e-9);
        },
      ),
    );
  });

  test('rejects bad settings', () => {
    expect(() => new ExponentialBackoff({ baseMs: 10, maxMs: 5, jitter: 0 })).toThrow(/baseMs/);
    expect(() => new ExponentialBackoff({ baseMs: 1, maxMs: 5, jitter: 2 })).toThrow(/jitter/);
  });
});
