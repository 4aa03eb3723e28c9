// Retry budget: over a sliding window, retries may not exceed retryRatio * requests plus
// minRetriesPerSecond * window seconds. The window is a ring of buckets; time comes from the caller.

export interface RetryBudgetSettings {
  retryRatio: number;
  minRetriesPerSecond: number;
  windowMs: number;
}

const BUCKETS = 10;

/** One budget (the proxy keeps one per logical service). Allocation-free after construction. */
export class RetryBudget {
  private readonly ratio: number;
  private readonly reserve: number;
  private readonly bucketMs: number;
  private readonly requests = new Float64Array(BUCKETS);
  private readonly retries = new Float64Array(BUCKETS);
  /** Index of the bucket that holds time `epoch`. */
  private head = 0;
  private epoch: number;
  private requestSum = 0;
  private retrySum = 0;

  constructor(settings: RetryBudgetSettings, nowMs: number) {
    if (!(settings.retryRatio >= 0)) throw new RangeError('retry budget: retryRatio must be >= 0');
    if (!(settings.minRetriesPerSecond >= 0))
      throw new RangeError('retry budget: minRetriesPerSecond must be >= 0');
    if (!(settings.windowMs >= BUCKETS)) throw new RangeError(`retry budget: windowMs must be >= ${BUCKETS}`);
    this.ratio = settings.retryRatio;
    this.reserve = (settings.minRetriesPerSecond * settings.windowMs) / 1000;
    this.bucketMs = settings.windowMs / BUCKETS;
    this.epoch = Math.floor(nowMs / this.bucketMs);
  }

  /** Whether this budget was built from the same settings (so a new config version can keep it). */
  hasSettings(settings: RetryBudgetSettings): boolean {
    return (
      this.ratio === settings.retryRatio &&
      this.reserve === (settings.minRetriesPerSecond * settings.windowMs) / 1000 &&
      this.bucketMs === settings.windowMs / BUCKETS
    );
  }

  /** Records an original (non-retry) request. */
  deposit(nowMs: number): void {
    this.advance(nowMs);
    this.requests[this.head]!++;
    this.requestSum++;
  }

  /** Takes one retry from the budget if there is one left; false means do not retry. */
  tryWithdraw(nowMs: number): boolean {
    this.advance(nowMs);
    if (this.retrySum + 1 > this.ratio * this.requestSum + this.reserve) return false;
    this.retries[this.head]!++;
    this.retrySum++;
    return true;
  }

  /** Retries still allowed now (for the config dump and tests). */
  remaining(nowMs: number): number {
    this.advance(nowMs);
    return Math.max(0, Math.floor(this.ratio * this.requestSum + this.reserve - this.retrySum));
  }

  private advance(nowMs: number): void {
    const e = Math.floor(nowMs / this.bucketMs);
    if (e <= this.epoch) return; // clocks going backwards keep the current bucket
    const steps = Math.min(e - this.epoch, BUCKETS);
    for (let i = 0; i < steps; i++) {
      this.head = (this.head + 1) % BUCKETS;
      this.requestSum -= this.requests[this.head]!;
      this.retrySum -= this.retries[this.head]!;
      this.requests[this.head] = 0;
      this.retries[this.head] = 0;
    }
    this.epoch = e;
  }
}
