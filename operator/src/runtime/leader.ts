// Leader election on a coordination.k8s.io/v1 Lease. @kubernetes/client-node 2.0.1 ships no leader election,
// so the decision logic is here (pure: decideLease) and the loop drives it through a small LeaseStore (kube layer).
import type { Logger } from 'pino';

export interface LeaseState {
  holderIdentity: string | null;
  leaseDurationSeconds: number;
  /** RFC 3339 with microseconds, as the apiserver stores MicroTime. */
  renewTime: string | null;
  acquireTime: string | null;
  leaseTransitions: number;
  /** Opaque version for optimistic concurrency. */
  resourceVersion: string | null;
}

export interface LeaseStore {
  /** The current lease, or null when it does not exist. */
  get(): Promise<LeaseState | null>;
  /** Creates (resourceVersion null) or replaces (optimistic on resourceVersion); false on conflict. */
  write(next: LeaseState): Promise<boolean>;
}

export type LeaseDecision =
  | { action: 'renew'; next: LeaseState }
  | { action: 'acquire'; next: LeaseState }
  | { action: 'wait'; holder: string; expiresAt: number };

/**
 * What a candidate should do with the lease it observed at `now`. Another holder's lease expires once this
 * replica has seen it as it is (same holder and renewTime) for leaseDurationSeconds: `seenForMs`, measured on
 * its own monotonic clock, as client-go does. The renewTime in the lease is the holder's wall clock, which may be
 * seconds off this one: judged by it, a follower whose clock ran ahead took a lease its holder still led on.
 * `now` only stamps what this replica writes.
 */
export function decideLease(
  observed: LeaseState | null,
  identity: string,
  now: Date,
  durationSeconds: number,
  seenForMs: number,
): LeaseDecision {
  const stamp = microTime(now);
  if (observed === null) {
    return {
      action: 'acquire',
      next: {
        holderIdentity: identity,
        leaseDurationSeconds: durationSeconds,
        renewTime: stamp,
        acquireTime: stamp,
        leaseTransitions: 0,
        resourceVersion: null,
      },
    };
  }
  if (observed.holderIdentity === identity) {
    return {
      action: 'renew',
      next: { ...observed, renewTime: stamp, leaseDurationSeconds: durationSeconds },
    };
  }
  const left = observed.leaseDurationSeconds * 1000 - seenForMs;
  if (observed.holderIdentity !== null && observed.holderIdentity !== '' && left > 0) {
    const expiresAt = now.getTime() + left;
    return { action: 'wait', holder: observed.holderIdentity, expiresAt };
  }
  return {
    action: 'acquire',
    next: {
      ...observed,
      holderIdentity: identity,
      leaseDurationSeconds: durationSeconds,
      renewTime: stamp,
      acquireTime: stamp,
      leaseTransitions: observed.leaseTransitions + 1,
    },
  };
}

export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export interface LeaderElectorOptions {
  identity: string;
  leaseDurationSeconds?: number;
  /** How often the leader renews; must be well under the duration. */
  renewIntervalMs?: number;
  /**
   * How long after its last successful renewal a leader keeps leading without another (default two thirds of
   * the lease duration, as client-go's renewDeadline): leadership ends then, before any other replica may
   * take the lease, whether the renewals failed or never answered.
   */
  renewDeadlineMs?: number;
  /** How often a follower retries, and a leader whose renewal failed. */
  retryIntervalMs?: number;
  /** A lease request that has not answered by then counts as failed (default half the renew deadline). */
  requestTimeoutMs?: number;
  log: Logger;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
}

/** Rejects when `p` has not settled within `ms`; `p` itself is left to finish on its own. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Runs until stopped: acquires, renews, and gives up leadership when a renewal cannot be made in time. */
export class LeaderElector {
  readonly #store: LeaseStore;
  readonly #o: Required<LeaderElectorOptions>;
  #leading = false;
  #stopped = false;
  #timer: NodeJS.Timeout | null = null;
  /** The lease as last read (holder and renewTime), and when it was first read so (performance.now()). */
  #seen: { key: string; at: number } | null = null;
  /** Ends leadership renewDeadlineMs after the renewTime last written, unless a renewal moves it. */
  #deadline: NodeJS.Timeout | null = null;

  constructor(store: LeaseStore, opts: LeaderElectorOptions) {
    this.#store = store;
    const durationMs = (opts.leaseDurationSeconds ?? 15) * 1000;
    const renewDeadlineMs = opts.renewDeadlineMs ?? Math.floor((durationMs * 2) / 3);
    this.#o = {
      leaseDurationSeconds: 15,
      renewIntervalMs: 5_000,
      retryIntervalMs: 2_000,
      requestTimeoutMs: Math.max(100, Math.floor(renewDeadlineMs / 2)),
      ...opts,
      renewDeadlineMs,
    };
  }

  get leading(): boolean {
    return this.#leading;
  }

  start(): void {
    void this.#tick();
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    let renewed = false;
    try {
      const t = this.#o.requestTimeoutMs;
      const observed = await within(this.#store.get(), t, 'lease read');
      const now = new Date();
      const key = observed === null ? '' : `${observed.holderIdentity}|${observed.renewTime}`;
      const at = performance.now();
      if (this.#seen?.key !== key) this.#seen = { key, at };
      const d = decideLease(
        observed,
        this.#o.identity,
        now,
        this.#o.leaseDurationSeconds,
        at - this.#seen.at,
      );
      if (d.action === 'wait') {
        this.#lose('another replica holds the lease');
      } else if (await within(this.#store.write(d.next), t, 'lease write')) {
        renewed = true;
        if (!this.#stopped) this.#renewedAt(now.getTime(), d.action);
      } else {
        this.#lose('lease write conflicted');
      }
    } catch (err) {
      this.#o.log.warn({ err: (err as Error).message }, 'lease request failed');
    }
    if (this.#stopped) return;
    // A leader whose renewal failed retries sooner than its renew interval, so that one slow answer does not
    // use up the deadline.
    const o = this.#o;
    const next = !this.#leading
      ? o.retryIntervalMs
      : renewed
        ? o.renewIntervalMs
        : Math.min(o.retryIntervalMs, Math.floor(o.renewIntervalMs / 2));
    this.#timer = setTimeout(() => void this.#tick(), next);
    this.#timer.unref();
  }

  /** The lease was written with renewTime `at` (the time written into it, not when the write answered). */
  #renewedAt(at: number, action: string): void {
    if (this.#deadline !== null) clearTimeout(this.#deadline);
    const left = at + this.#o.renewDeadlineMs - Date.now();
    if (left <= 0) {
      // Written, but the answer came too late to lead on it safely; the next tick renews again.
      this.#lose('could not renew the lease in time');
      return;
    }
    this.#deadline = setTimeout(() => this.#lose('could not renew the lease in time'), left);
    this.#deadline.unref();
    if (!this.#leading) {
      this.#leading = true;
      this.#o.log.info({ identity: this.#o.identity, action }, 'became leader');
      this.#o.onStartedLeading();
    }
  }

  #lose(why: string): void {
    if (this.#deadline !== null) clearTimeout(this.#deadline);
    this.#deadline = null;
    if (!this.#leading) return;
    this.#leading = false;
    this.#o.log.warn({ identity: this.#o.identity, why }, 'lost leadership');
    this.#o.onStoppedLeading();
  }

  /** Stops; releases the lease if held so a successor does not wait for expiry. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    const wasLeading = this.#leading;
    this.#lose('stopping');
    if (!wasLeading) return;
    try {
      const observed = await within(this.#store.get(), this.#o.requestTimeoutMs, 'lease read');
      if (observed?.holderIdentity === this.#o.identity) {
        await within(
          this.#store.write({ ...observed, holderIdentity: null, renewTime: null }),
          this.#o.requestTimeoutMs,
          'lease write',
        );
      }
    } catch (err) {
      this.#o.log.warn({ err: (err as Error).message }, 'could not release the lease');
    }
  }
}
