// Runs a slow write with only the newest value: at most one write in flight, at most one per interval; values
// that arrive meanwhile replace each other. The config copy in the identity volume uses it: serializing a
// large config (hundreds of KiB at thousands of pods) for every update of a burst would cost each proxy CPU
// for a file nobody waits on, while the data path takes every config in-process anyway.

export interface LatestOnlyClock {
  /** Monotonic milliseconds. */
  now(): number;
  /** Runs fn after ms (need not keep the process alive). */
  schedule(fn: () => void, ms: number): void;
}

const REAL_CLOCK: LatestOnlyClock = {
  now: () => performance.now(),
  schedule: (fn, ms) => {
    setTimeout(fn, ms).unref();
  },
};

export class LatestOnly<T> {
  readonly #write: (value: T) => Promise<void>;
  readonly #intervalMs: number;
  readonly #clock: LatestOnlyClock;
  #pending: { value: T } | null = null;
  /** A write is scheduled or running. */
  #busy = false;
  #lastStart = Number.NEGATIVE_INFINITY;

  constructor(write: (value: T) => Promise<void>, intervalMs: number, clock: LatestOnlyClock = REAL_CLOCK) {
    this.#write = write;
    this.#intervalMs = intervalMs;
    this.#clock = clock;
  }

  /** Offers a value; it is written unless a newer one arrives before its turn. */
  push(value: T): void {
    this.#pending = { value };
    if (!this.#busy) this.#next();
  }

  #next(): void {
    if (this.#pending === null) {
      this.#busy = false;
      return;
    }
    this.#busy = true;
    const wait = this.#lastStart + this.#intervalMs - this.#clock.now();
    if (wait > 0) {
      this.#clock.schedule(() => this.#run(), wait);
      return;
    }
    this.#run();
  }

  #run(): void {
    const p = this.#pending!;
    this.#pending = null;
    this.#lastStart = this.#clock.now();
    // A failed write is the writer's to report; the next value is still written.
    this.#write(p.value)
      .catch(() => undefined)
      .finally(() => this.#next());
  }
}
