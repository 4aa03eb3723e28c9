import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { SmoothWeightedRoundRobin } from './weighted-split.ts';

const weights = fc
  .array(fc.integer({ min: 0, max: 60 }), { minLength: 1, maxLength: 10 })
  .filter((ws) => ws.some((w) => w > 0));

describe('SmoothWeightedRoundRobin', () => {
  test('over whole cycles each backend gets exactly its weight; weight 0 gets nothing', () => {
    fc.assert(
      fc.property(weights, fc.integer({ min: 1, max: 4 }), (ws, cycles) => {
        const s = new SmoothWeightedRoundRobin(
          ws.map((_, i) => i),
          ws,
        );
        const counts = new Array<number>(ws.length).fill(0);
        for (let k = 0; k < cycles * s.totalWeight; k++) counts[s.pick()]!++;
        expect(counts).toEqual(ws.map((w) => w * cycles));
      }),
    );
  });

  test('at every prefix each count stays within n - 1 of its share (smoothness)', () => {
    fc.assert(
      fc.property(weights, (ws) => {
        const s = new SmoothWeightedRoundRobin(
          ws.map((_, i) => i),
          ws,
        );
        const total = s.totalWeight;
        const counts = new Array<number>(ws.length).fill(0);
        for (let k = 1; k <= 2 * total; k++) {
          counts[s.pick()]!++;
          for (let i = 0; i < ws.length; i++) {
            const deviation = Math.abs(counts[i]! - (k * ws[i]!) / total);
            if (deviation > Math.max(1, ws.length - 1) + 1e-9)
              throw new Error(`backend ${i} off by ${deviation} after ${k}`);
          }
        }
      }),
    );
  });

  test('large weights: chi-square over a sample stays below the 0.999 critical value', () => {
    const ws = [1_000_000_000, 500_000_000, 250_000_000, 0, 1];
    const s = new SmoothWeightedRoundRobin(['a', 'b', 'c', 'zero', 'tiny'], ws);
    const n = 70_000;
    const counts = new Map<string, number>();
    for (let k = 0; k < n; k++) {
      const b = s.pick();
      counts.set(b, (counts.get(b) ?? 0) + 1);
    }
    expect(counts.get('zero')).toBeUndefined();
    let chi = 0;
    for (const [i, name] of ['a', 'b', 'c'].entries()) {
      const expected = (n * ws[i]!) / s.totalWeight;
      chi += ((counts.get(name) ?? 0) - expected) ** 2 / expected;
    }
    expect(chi).toBeLessThan(13.82); // chi-square, 2 degrees of freedom, p = 0.999
  });

  test('continueFrom keeps the rotation only for identical weights', () => {
    const a = new SmoothWeightedRoundRobin(['x', 'y'], [1, 3]);
    const seq = [a.pick(), a.pick()];
    const b = new SmoothWeightedRoundRobin(['x', 'y'], [1, 3]);
    expect(b.continueFrom(a)).toBe(true);
    seq.push(b.pick(), b.pick());
    expect(seq.sort()).toEqual(['x', 'y', 'y', 'y']);
    expect(new SmoothWeightedRoundRobin(['x', 'y'], [1, 2]).continueFrom(a)).toBe(false);
  });

  test('rejects bad weights', () => {
    expect(() => new SmoothWeightedRoundRobin(['a'], [0])).toThrow(/no positive weight/);
    expect(() => new SmoothWeightedRoundRobin(['a'], [-1])).toThrow(/not an integer/);
    expect(() => new SmoothWeightedRoundRobin(['a', 'b'], [1])).toThrow(/differ in length/);
  });
});
