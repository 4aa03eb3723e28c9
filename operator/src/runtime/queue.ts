// A keyed work queue for level-based reconciliation (after controller-runtime's workqueue): a key is queued at
// most once; a key being processed is never processed concurrently and is re-run once if it was added meanwhile;
// errors requeue with per-key exponential backoff; terminal errors are counted and dropped; a reconciler may ask
// to be re-run after a delay. Every run gets a reconcile id for its log lines.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';

/** An error that retrying cannot fix (bad input): counted and logged, not requeued. */
export class TerminalError extends Error {
  override name = 'TerminalError';
}

export type ReconcileOutcome = 'success' | 'error' | 'terminal' | 'requeue_after';

export interface ReconcileContext {
  reconcileId: string;
  log: Logger;
  /** Aborted when the queue shuts down. */
  signal: AbortSignal;
}

export type ReconcileResult = undefined | { requeueAfterMs: number };
export type Reconciler = (key: string, ctx: ReconcileContext) => Promise<ReconcileResult>;

export interface QueueObserver {
  depth(n: number): void;
  outcome(outcome: ReconcileOutcome, seconds: number): void;
}

export interface WorkQueueOptions {
  name: string;
  concurrency?: number;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  log: Logger;
  observer?: QueueObserver;
}

export class WorkQueue {
  readonly #reconcile: Reconciler;
  readonly #opts: Required<Omit<WorkQueueOptions, 'observer'>> & { observer?: QueueObserver };
  /** Keys ready to run, in arrival order, each at most once. */
  readonly #ready = new Set<string>();
  readonly #processing = new Set<string>();
  /** Keys added while processing: re-queued when the run ends. */
  readonly #dirty = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  readonly #abort = new AbortController();
  #idleWaiters: (() => void)[] = [];
  #stopped = false;

  constructor(reconcile: Reconciler, opts: WorkQueueOptions) {
    this.#reconcile = reconcile;
    this.#opts = { concurrency: 4, baseBackoffMs: 50, maxBackoffMs: 60_000, ...opts };
  }

  get depth(): number {
    return this.#ready.size;
  }

  /** Queues a key now. Cancels a pending delayed add of the same key. */
  add(key: string): void {
    if (this.#stopped) return;
    const t = this.#timers.get(key);
    if (t !== undefined) {
      clearTimeout(t.timer);
      this.#timers.delete(key);
    }
    if (this.#processing.has(key)) {
      this.#dirty.add(key);
      return;
    }
    this.#ready.add(key);
    this.#opts.observer?.depth(this.#ready.size);
    this.#pump();
  }

  /** Queues a key after a delay; an earlier pending delay for the key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.#stopped) return;
    const at = Date.now() + delayMs;
    const t = this.#timers.get(key);
    if (t !== undefined && t.at <= at) return;
    if (t !== undefined) clearTimeout(t.timer);
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.#timers.set(key, { at, timer });
  }

  /** Number of consecutive failures of a key (0 after a success). */
  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** Resolves when nothing is queued or running (delayed keys are not waited for). */
  idle(): Promise<void> {
    if (this.#ready.size === 0 && this.#processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Stops taking work, cancels delayed keys, aborts and awaits running reconciles. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort();
    for (const t of this.#timers.values()) clearTimeout(t.timer);
    this.#timers.clear();
    this.#ready.clear();
    await this.idle();
  }

  #pump(): void {
    while (!this.#stopped && this.#processing.size < this.#opts.concurrency && this.#ready.size > 0) {
      const key = this.#ready.values().next().value as string;
      this.#ready.delete(key);
      this.#processing.add(key);
      this.#opts.observer?.depth(this.#ready.size);
      void this.#run(key);
    }
  }

  async #run(key: string): Promise<void> {
    const reconcileId = randomUUID();
    const log = this.#opts.log.child({ queue: this.#opts.name, key, reconcileId });
    const started = performance.now();
    let outcome: ReconcileOutcome;
    try {
      const result = await this.#reconcile(key, { reconcileId, log, signal: this.#abort.signal });
      this.#failures.delete(key);
      if (result !== undefined) {
        outcome = 'requeue_after';
        this.addAfter(key, result.requeueAfterMs);
      } else {
        outcome = 'success';
      }
    } catch (err) {
      if (err instanceof TerminalError) {
        outcome = 'terminal';
        this.#failures.delete(key);
        log.error({ err: err.message }, 'reconcile failed permanently');
      } else {
        outcome = 'error';
        const n = (this.#failures.get(key) ?? 0) + 1;
        this.#failures.set(key, n);
        const delay = backoffMs(n, this.#opts.baseBackoffMs, this.#opts.maxBackoffMs);
        log.warn(
          { err: (err as Error).message, failures: n, retryInMs: delay },
          'reconcile failed, will retry',
        );
        this.addAfter(key, delay);
      }
    }
    this.#opts.observer?.outcome(outcome, (performance.now() - started) / 1000);
    this.#processing.delete(key);
    if (this.#dirty.delete(key)) this.add(key);
    this.#pump();
    if (this.#ready.size === 0 && this.#processing.size === 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}

/** Exponential backoff: base * 2^(n-1), capped. */
export function backoffMs(failures: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(failures - 1, 30));
}
