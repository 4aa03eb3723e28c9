import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { RetryBudget } from './retry-budget.ts';

describe('RetryBudget', () => {
  test('ratio plus reserve over the window', () => {
    const b = new RetryBudget({ retryRatio: 0.1, minRetriesPerSecond: 1, windowMs: 10_000 }, 0);
    // Reserve: 1/s * 10 s = 10 retries with no traffic.
    let granted = 0;
    while (b.tryWithdraw(0)) granted++;
    expect(granted).toBe(10);
    for (let i = 0; i < 100; i++) b.deposit(100);
    expect(b.remaining(100)).toBe(10);
    expect(b.tryWithdraw(100)).toBe(true);
    // After the window passes everything is forgotten: the reserve is back.
    expect(b.remaining(25_000)).toBe(10);
  });

  test('zero reserve and zero ratio never retries', () => {
    const b = new RetryBudget({ retryRatio: 0, minRetriesPerSecond: 0, windowMs: 1000 }, 0);
    for (let i = 0; i < 50; i++) b.deposit(i);
    expect(b.tryWithdraw(60)).toBe(false);
  });

  test('granted retries never exceed ratio * requests + reserve within any window-long span', () => {
    const step = fc.record({
      dt: fc.integer({ min: 0, max: 700 }),
      deposits: fc.integer({ min: 0, max: 5 }),
      withdrawals: fc.integer({ min: 0, max: 5 }),
    });
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 2, noNaN: true }),
        fc.integer({ min: 0, max: 5 }),
        fc.array(step, { maxLength: 200 }),
        (ratio, perSecond, steps) => {
          const windowMs = 5000;
          const b = new RetryBudget({ retryRatio: ratio, minRetriesPerSecond: perSecond, windowMs }, 0);
          const events: { t: number; kind: 'req' | 'retry' }[] = [];
          let t = 0;
          for (const s of steps) {
            t += s.dt;
            for (let i = 0; i < s.deposits; i++) {
              b.deposit(t);
              events.push({ t, kind: 'req' });
            }
            for (let i = 0; i < s.withdrawals; i++) if (b.tryWithdraw(t)) events.push({ t, kind: 'retry' });
          }
          // The ring keeps between (window - bucket) and window of history; check the retries granted in
          // every span of (window - bucket) against the requests of the surrounding full window.
          const bucket = windowMs / 10;
          for (const e of events) {
            if (e.kind !== 'retry') continue;
            const span = events.filter(
              (x) => x.kind === 'retry' && x.t > e.t - (windowMs - bucket) && x.t <= e.t,
            );
            const reqs = events.filter(
              (x) => x.kind === 'req' && x.t > e.t - windowMs - bucket && x.t <= e.t,
            );
            expect(span.length).toBeLessThanOrEqual(
              ratio * reqs.length + (perSecond * windowMs) / 1000 + 1e-9,
            );
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  test('rejects bad settings', () => {
    expect(() => new RetryBudget({ retryRatio: -1, minRetriesPerSecond: 0, windowMs: 1000 }, 0)).toThrow(
      /retryRatio/,
    );
    expect(() => new RetryBudget({ retryRatio: 0, minRetriesPerSecond: 0, windowMs: 1 }, 0)).toThrow(
      /windowMs/,
    );
  });
});
