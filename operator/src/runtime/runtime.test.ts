import { afterEach, describe, expect, jest, test } from '@jest/globals';
import { pino } from 'pino';
import { decideLease, LeaderElector, type LeaseState, type LeaseStore } from './leader.ts';
import { backoffMs, type ReconcileOutcome, TerminalError, WorkQueue } from './queue.ts';

const log = pino({ level: 'silent' });
const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

function recorder() {
  const outcomes: ReconcileOutcome[] = [];
  return { outcomes, observer: { depth: () => {}, outcome: (o: ReconcileOutcome) => outcomes.push(o) } };
}

describe('WorkQueue', () => {
  test('de-duplicates queued keys and never runs one key concurrently; an add during a run re-runs once', async () => {
    const runs: string[] = [];
    let running = 0;
    let maxSameKey = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const q = new WorkQueue(
      async (key) => {
        running++;
        maxSameKey = Math.max(maxSameKey, running);
        runs.push(key);
        if (runs.length === 1) await gate;
        running--;
        return undefined;
      },
      { name: 't', concurrency: 4, log },
    );
    q.add('a');
    await tick();
    q.add('a');
    q.add('a');
    q.add('a');
    release();
    await q.idle();
    expect(runs).toEqual(['a', 'a']);
    expect(maxSameKey).toBe(1);
  });

  test('bounded concurrency', async () => {
    let running = 0;
    let peak = 0;
    const q = new WorkQueue(
      async () => {
        running++;
        peak = Math.max(peak, running);
        await tick(2);
        running--;
        return undefined;
      },
      { name: 't', concurrency: 3, log },
    );
    for (let i = 0; i < 20; i++) q.add(`k${i}`);
    await q.idle();
    expect(peak).toBe(3);
  });

  test('errors retry with per-key backoff until success; terminal errors are not retried', async () => {
    const r = recorder();
    let attempts = 0;
    const q = new WorkQueue(
      async (key) => {
        if (key === 'bad') throw new TerminalError('spec.backends[0]: invalid');
        attempts++;
        if (attempts < 3) throw new Error('apiserver unavailable');
        return undefined;
      },
      { name: 't', baseBackoffMs: 5, log, observer: r.observer },
    );
    q.add('flaky');
    q.add('bad');
    for (let i = 0; i < 100 && attempts < 3; i++) await tick(5);
    await q.idle();
    expect(attempts).toBe(3);
    expect(q.failures('flaky')).toBe(0);
    expect(r.outcomes.sort()).toEqual(['error', 'error', 'success', 'terminal']);
  });

  test('requeue after', async () => {
    const r = recorder();
    let n = 0;
    const q = new WorkQueue(
      async () => {
        n++;
        return n === 1 ? { requeueAfterMs: 10 } : undefined;
      },
      { name: 't', log, observer: r.observer },
    );
    q.add('x');
    for (let i = 0; i < 50 && n < 2; i++) await tick(5);
    expect(r.outcomes).toEqual(['requeue_after', 'success']);
    await q.stop();
  });

  test('backoff doubles and caps', () => {
    expect([1, 2, 3, 4, 20].map((n) => backoffMs(n, 50, 1000))).toEqual([50, 100, 200, 400, 1000]);
  });
});

describe('decideLease', () => {
  const now = new Date('2026-11-23T03:00:00.000Z');
  const held = (holder: string, renewedSecondsAgo: number): LeaseState => ({
    holderIdentity: holder,
    leaseDurationSeconds: 15,
    renewTime: new Date(now.getTime() - renewedSecondsAgo * 1000).toISOString(),
    acquireTime: null,
    leaseTransitions: 2,
    resourceVersion: '7',
  });

  test('creates a missing lease', () => {
    expect(decideLease(null, 'a', now, 15, 0)).toMatchObject({
      action: 'acquire',
      next: { holderIdentity: 'a', leaseTransitions: 0 },
    });
  });
  test('renews its own lease', () => {
    expect(decideLease(held('a', 3), 'a', now, 15, 0)).toMatchObject({
      action: 'renew',
      next: { leaseTransitions: 2, resourceVersion: '7' },
    });
  });
  test('waits while another holder is fresh, takes over once it has seen the lease unchanged for its duration', () => {
    expect(decideLease(held('b', 14), 'a', now, 15, 14_000)).toMatchObject({
      action: 'wait',
      holder: 'b',
      expiresAt: now.getTime() + 1_000,
    });
    expect(decideLease(held('b', 16), 'a', now, 15, 16_000)).toMatchObject({
      action: 'acquire',
      next: { holderIdentity: 'a', leaseTransitions: 3, resourceVersion: '7' },
    });
  });
  test('a renewTime that reads old (the holder clock behind this one) does not expire the lease', () => {
    // b's clock is 11 s behind a's: its renewTime, just written, reads 11 s old here. Judged by it, a would take
    // the lease 4 s later, while b still leads (for its renew deadline, 10 s).
    const renewedJustNow = held('b', 11);
    expect(decideLease(renewedJustNow, 'a', now, 15, 0)).toMatchObject({ action: 'wait', holder: 'b' });
    expect(decideLease(renewedJustNow, 'a', now, 15, 4_500)).toMatchObject({ action: 'wait' });
    expect(decideLease(renewedJustNow, 'a', now, 15, 15_000)).toMatchObject({ action: 'acquire' });
    // 4.5 s later here, the renewTime reads 15.5 s old, past the duration: still b's, for a has seen it for 4.5 s
    // only (judged by renewTime, a took it here).
    expect(decideLease(held('b', 15.5), 'a', now, 15, 4_500)).toMatchObject({ action: 'wait', holder: 'b' });
  });
  test('takes a released lease at once', () => {
    expect(decideLease({ ...held('b', 1), holderIdentity: null }, 'a', now, 15, 0).action).toBe('acquire');
  });
});

/**
 * A Lease kept in memory, as the apiserver would keep it (optimistic on resourceVersion), whose requests can be
 * made to hang or fail: what the elector must survive.
 */
class MemoryLease implements LeaseStore {
  lease: LeaseState | null = null;
  mode: 'ok' | 'hang' | 'fail' = 'ok';
  #version = 0;
  async get(): Promise<LeaseState | null> {
    await this.#request();
    return this.lease === null ? null : { ...this.lease };
  }
  async write(next: LeaseState): Promise<boolean> {
    await this.#request();
    if ((this.lease?.resourceVersion ?? null) !== next.resourceVersion) return false;
    this.lease = { ...next, resourceVersion: String(++this.#version) };
    return true;
  }
  #request(): Promise<void> {
    if (this.mode === 'hang') return new Promise(() => {});
    if (this.mode === 'fail') return Promise.reject(new Error('apiserver unavailable'));
    return Promise.resolve();
  }
}

describe('LeaderElector (15 s lease, renewals every 5 s, renew deadline 10 s)', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  /** An elector on `store` whose leadership changes are recorded with the (fake) time they happened. */
  function elector(store: LeaseStore, identity = 'a') {
    const changes: string[] = [];
    const t0 = Date.now();
    const e = new LeaderElector(store, {
      identity,
      leaseDurationSeconds: 15,
      renewIntervalMs: 5_000,
      log,
      onStartedLeading: () => changes.push(`lead@${Date.now() - t0}`),
      onStoppedLeading: () => changes.push(`stop@${Date.now() - t0}`),
    });
    return { e, changes };
  }

  test('a leader whose lease requests stop answering stops leading at the deadline, before the lease expires', async () => {
    jest.useFakeTimers();
    const store = new MemoryLease();
    const { e, changes } = elector(store);
    e.start();
    await jest.advanceTimersByTimeAsync(1);
    expect(e.leading).toBe(true);
    store.mode = 'hang';
    // The renewal at 5 s never answers; nothing else would ever end the leadership.
    await jest.advanceTimersByTimeAsync(9_990);
    expect(e.leading).toBe(true);
    await jest.advanceTimersByTimeAsync(20);
    expect(e.leading).toBe(false);
    expect(changes).toEqual(['lead@0', 'stop@10000']);
    // Another replica may take the lease only once it expired (15 s after its renewTime).
    const other = elector(store, 'b');
    other.e.start();
    store.mode = 'ok';
    await jest.advanceTimersByTimeAsync(1);
    expect(other.e.leading).toBe(false);
    await e.stop();
    await other.e.stop();
  });

  test('a follower takes a lease only after seeing it unchanged for the lease duration, whatever its renewTime says', async () => {
    jest.useFakeTimers();
    const store = new MemoryLease();
    // Held by b, renewed an hour ago by b's clock (or b's clock is an hour behind): it says nothing of when b
    // last renewed by this replica's clock.
    store.lease = {
      holderIdentity: 'b',
      leaseDurationSeconds: 15,
      renewTime: new Date(Date.now() - 3_600_000).toISOString(),
      acquireTime: null,
      leaseTransitions: 0,
      resourceVersion: null,
    };
    const { e, changes } = elector(store);
    e.start();
    await jest.advanceTimersByTimeAsync(14_000);
    expect(e.leading).toBe(false);
    // b renews (its renewTime still an hour behind): the wait starts again.
    store.lease = { ...store.lease, renewTime: new Date(Date.now() - 3_599_000).toISOString() };
    await jest.advanceTimersByTimeAsync(14_000);
    expect(e.leading).toBe(false);
    // b is gone. This replica first read that renewal at its 16 s poll (every 2 s): at the first poll 15 s after
    // that, it takes over.
    await jest.advanceTimersByTimeAsync(4_000);
    expect(e.leading).toBe(true);
    expect(changes).toEqual(['lead@32000']);
    expect(store.lease?.holderIdentity).toBe('a');
    await e.stop();
  });

  test('failed renewals are retried every 2 s; leadership ends at the deadline and comes back with the apiserver', async () => {
    jest.useFakeTimers();
    const store = new MemoryLease();
    const { e, changes } = elector(store);
    e.start();
    await jest.advanceTimersByTimeAsync(1);
    store.mode = 'fail';
    await jest.advanceTimersByTimeAsync(10_100);
    expect(e.leading).toBe(false);
    expect(changes).toEqual(['lead@0', 'stop@10000']);
    // Still its own lease (no one else took it): the next retry after the apiserver is back renews it.
    store.mode = 'ok';
    await jest.advanceTimersByTimeAsync(2_000);
    expect(e.leading).toBe(true);
    expect(store.lease?.holderIdentity).toBe('a');
    await e.stop();
    expect(e.leading).toBe(false);
    expect(store.lease?.holderIdentity).toBe(null);
  });
});
