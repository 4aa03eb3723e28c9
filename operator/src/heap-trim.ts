// Gives the pages glibc holds free back to the kernel after the operator has been busy distributing configs.
// Why: a reconnect storm or a round of changes allocates and frees a great deal of short-lived native memory (the
// TLS connections of ticket and certificate requests, the frames of thousands of configs); glibc returns memory
// on its own only from the top of its heap, so the freed pages below live data stay resident. Measured at 5,000
// sealed streams (docs/operator.md, "Memory per connected proxy"): 390 MB RSS before malloc_trim(0), 287 MB after,
// in a few milliseconds. A trim is due after distribution work, or after a major garbage collection (much of what a
// burst leaves is freed only by one: the backing stores of the Buffers it wrote). It waits for a quiet look (no
// work since the one before), so that it does not hand back pages a burst under way would fault in again at once,
// but not longer than maxDeferMs from when it became due (a storm must not take the operator past its memory limit
// with pages it has already freed), and runs at most every minIntervalMs. Pure policy here; the trim itself is the
// native addon's.
import { constants, PerformanceObserver } from 'node:perf_hooks';
import type { Logger } from 'pino';

export interface HeapTrimmerOptions {
  /** A count that grows while there is distribution work (ConfigHub.messagesSent). */
  activity: () => number;
  /** malloc_trim(0) (the native addon's trimNativeHeap). */
  trim: () => { released: boolean; ms: number };
  log: Logger;
  /** How often to look (default 2 s). A trim runs at a look that finds no work since the one before. */
  lookMs?: number;
  /** At most one trim per this long (default 10 s). */
  minIntervalMs?: number;
  /** Work that never pauses for a look does not put a due trim off longer than this (default 20 s). */
  maxDeferMs?: number;
  now?: () => number;
  /** Calls back after each major (mark-compact) garbage collection; returns an unsubscribe. Default: perf_hooks. */
  onMajorGc?: (cb: () => void) => () => void;
}

function observeMajorGc(cb: () => void): () => void {
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const detail = (e as { detail?: { kind?: number } }).detail;
      if (detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) cb();
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}

export class HeapTrimmer {
  readonly #o: HeapTrimmerOptions;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | null = null;
  /** The activity count at the last look, and at the last trim. */
  #looked = 0;
  #trimmedAt = 0;
  #trimmedActivity = 0;
  #off = false;
  /** A major GC ran since the last trim (it may have freed what the last burst left). */
  #gcSinceTrim = false;
  /** When the trim became due (the first look that found work or a major GC since the last trim); 0: not due. */
  #dueSince = 0;
  #unobserve: (() => void) | null = null;

  constructor(o: HeapTrimmerOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  start(): void {
    this.#looked = this.#trimmedActivity = this.#o.activity();
    this.#trimmedAt = this.#now();
    this.#timer = setInterval(() => this.tick(), this.#o.lookMs ?? 2_000);
    this.#timer.unref();
    this.#unobserve = (this.#o.onMajorGc ?? observeMajorGc)(() => {
      this.#gcSinceTrim = true;
    });
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#unobserve?.();
    this.#unobserve = null;
  }

  /** One look; returns whether it trimmed. */
  tick(): boolean {
    if (this.#off) return false;
    const activity = this.#o.activity();
    const quiet = activity === this.#looked;
    this.#looked = activity;
    const now = this.#now();
    if (activity === this.#trimmedActivity && !this.#gcSinceTrim) return false;
    if (this.#dueSince === 0) this.#dueSince = now;
    if (now - this.#trimmedAt < (this.#o.minIntervalMs ?? 10_000)) return false;
    if (!quiet && now - this.#dueSince < (this.#o.maxDeferMs ?? 20_000)) return false;
    this.#dueSince = 0;
    this.#trimmedAt = now;
    this.#trimmedActivity = activity;
    this.#gcSinceTrim = false;
    const before = process.memoryUsage.rss();
    try {
      const { released, ms } = this.#o.trim();
      this.#o.log.debug(
        {
          released,
          ms: Math.round(ms * 10) / 10,
          rssBeforeMb: mb(before),
          rssAfterMb: mb(process.memoryUsage.rss()),
        },
        'native heap trimmed',
      );
    } catch (err) {
      // The addon failed once: it will not do better later.
      this.#off = true;
      this.stop();
      this.#o.log.info({ reason: (err as Error).message }, 'native heap trimming off');
    }
    return true;
  }
}

const mb = (bytes: number): number => Math.round(bytes / 1048576);
