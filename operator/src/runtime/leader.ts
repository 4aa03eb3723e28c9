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

/** What a candidate should do with the lease it observed at `now`. */
export function decideLease(
  observed: LeaseState | null,
  identity: string,
  now: Date,
  durationSeconds: number,
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
  const renewed = observed.renewTime === null ? 0 : Date.parse(observed.renewTime);
  const expiresAt = renewed + observed.leaseDurationSeconds * 1000;
  if (observed.holderIdentity !== null && observed.holderIdentity !== '' && now.getTime() < expiresAt) {
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
  /** How often a follower retries. */
  retryIntervalMs?: number;
  log: Logger;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
}

/** Runs until stopped: acquires, renews, and gives up leadership when a renewal cannot be made in time. */
export class LeaderElector {
  readonly #store: LeaseStore;
  readonly #o: Required<LeaderElectorOptions>;
  #leading = false;
  #lastRenew = 0;
  #stopped = false;
  #timer: NodeJS.Timeout | null = null;

  constructor(store: LeaseStore, opts: LeaderElectorOptions) {
    this.#store = store;
    this.#o = { leaseDurationSeconds: 15, renewIntervalMs: 5_000, retryIntervalMs: 2_000, ...opts };
  }

  get leading(): boolean {
    return this.#leading;
  }

  start(): void {
    void this.#tick();
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    try {
      const observed = await this.#store.get();
      const d = decideLease(observed, this.#o.identity, new Date(), this.#o.leaseDurationSeconds);
      if (d.action === 'wait') {
        this.#lose('another replica holds the lease');
      } else if (await this.#store.write(d.next)) {
        this.#lastRenew = Date.now();
        if (!this.#leading) {
          this.#leading = true;
          this.#o.log.info({ identity: this.#o.identity, action: d.action }, 'became leader');
          this.#o.onStartedLeading();
        }
      } else {
        this.#lose('lease write conflicted');
      }
    } catch (err) {
      this.#o.log.warn({ err: (err as Error).message }, 'lease request failed');
      // Keep leading only while the last successful renewal is still inside the lease duration (minus margin).
      if (this.#leading && Date.now() - this.#lastRenew > this.#o.leaseDurationSeconds * 1000 * 0.8) {
        this.#lose('could not renew the lease in time');
      }
    }
    if (this.#stopped) return;
    this.#timer = setTimeout(
      () => void this.#tick(),
      this.#leading ? this.#o.renewIntervalMs : this.#o.retryIntervalMs,
    );
    this.#timer.unref();
  }

  #lose(why: string): void {
    if (!this.#leading) return;
    this.#leading = false;
    this.#o.log.warn({ identity: this.#o.identity, why }, 'lost leadership');
    this.#o.onStoppedLeading();
  }

  /** Stops; releases the lease if held so a successor does not wait for expiry. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (!this.#leading) return;
    this.#lose('stopping');
    try {
      const observed = await this.#store.get();
      if (observed?.holderIdentity === this.#o.identity) {
        await this.#store.write({ ...observed, holderIdentity: null, renewTime: null });
      }
    } catch (err) {
      this.#o.log.warn({ err: (err as Error).message }, 'could not release the lease');
    }
  }
}
