// TrafficSplit backend choice by smooth weighted round robin (the nginx algorithm): deterministic, and over
// any run of `total weight` picks each backend gets exactly its weight, so ratios hold even for a few
// dozen requests (the SMI conformance suite counts them). Weight 0 is never chosen.

/** Picks among items by integer weight. Allocation-free per pick; O(n) with n <= 256 backends. */
export class SmoothWeightedRoundRobin<T> {
  readonly items: readonly T[];
  private readonly weights: Float64Array;
  private readonly current: Float64Array;
  readonly totalWeight: number;

  /** Items with weight 0 are kept (for introspection) but never picked. Throws when no weight is positive. */
  constructor(items: readonly T[], weights: readonly number[]) {
    if (items.length !== weights.length)
      throw new RangeError('weighted split: items and weights differ in length');
    let total = 0;
    for (const w of weights) {
      if (!(Number.isSafeInteger(w) && w >= 0))
        throw new RangeError(`weighted split: weight ${w} is not an integer >= 0`);
      total += w;
    }
    if (total <= 0) throw new RangeError('weighted split: no positive weight');
    if (!Number.isSafeInteger(total)) throw new RangeError('weighted split: sum of weights is too large');
    this.items = items;
    this.weights = Float64Array.from(weights);
    this.current = new Float64Array(weights.length);
    this.totalWeight = total;
  }

  /**
   * Continues the rotation of `previous` when it has the same weights in the same order: config updates
   * (endpoint churn) then do not restart the sequence, which would always favour the heaviest backend
   * first and skew the ratio when updates are frequent and traffic is light.
   */
  continueFrom(previous: SmoothWeightedRoundRobin<unknown>): boolean {
    const w = this.weights;
    if (previous.weights.length !== w.length) return false;
    for (let i = 0; i < w.length; i++) if (previous.weights[i] !== w[i]) return false;
    this.current.set(previous.current);
    return true;
  }

  /** The weight of item i. */
  weightOf(i: number): number {
    return this.weights[i] ?? 0;
  }

  /** The next item. */
  pick(): T {
    const n = this.weights.length;
    let best = -1;
    let bestValue = -Infinity;
    for (let i = 0; i < n; i++) {
      const w = this.weights[i]!;
      if (w === 0) continue;
      const v = this.current[i]! + w;
      this.current[i] = v;
      if (v > bestValue) {
        bestValue = v;
        best = i;
      }
    }
    this.current[best]! -= this.totalWeight;
    return this.items[best]!;
  }
}
