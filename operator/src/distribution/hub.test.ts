import { describe, expect, jest, test } from '@jest/globals';
import type { Chunk, CompiledConfig } from '../compiler/compile.ts';
import { ConfigHub, type SubscriberSink } from './hub.ts';

const cfg = (v: string): CompiledConfig => ({
  version: v,
  config: {} as never,
  chunks: ['{"type":"config",', `"version":"${v}"}\n`],
  parts: {} as never,
});
const full = { since: null, acceptPatch: false };

class Sink implements SubscriberSink {
  lines: string[] = [];
  closed: string | null = null;
  full = false;
  #drain: () => void = () => {};
  /** Flush callbacks of writes not yet flushed (a test flushes them, as a socket would). */
  unflushed: (() => void)[] = [];
  autoFlush = true;
  write(chunks: readonly Chunk[], flushed: () => void): boolean {
    this.lines.push(chunks.join(''));
    if (this.autoFlush && !this.full) flushed();
    else this.unflushed.push(flushed);
    return !this.full;
  }
  flush(): void {
    for (const f of this.unflushed.splice(0)) f();
  }
  onDrain(cb: () => void): void {
    this.#drain = cb;
  }
  drain(): void {
    this.full = false;
    this.#drain();
    this.flush();
  }
  close(reason: string): void {
    this.closed = reason;
  }
}

describe('ConfigHub', () => {
  test('snapshot on subscribe, then only changed versions; since skips the snapshot', () => {
    const hub = new ConfigHub();
    const a = cfg('v1');
    hub.publish(new Map([['ns/p', a]]));
    const fresh = new Sink();
    const resumed = new Sink();
    hub.subscribe('ns/p', fresh, full);
    hub.subscribe('ns/p', resumed, { since: 'v1', acceptPatch: false });
    hub.publish(new Map([['ns/p', a]]));
    hub.publish(new Map([['ns/p', cfg('v2')]]));
    expect(fresh.lines.map((l) => JSON.parse(l).version)).toEqual(['v1', 'v2']);
    expect(resumed.lines.map((l) => JSON.parse(l).version)).toEqual(['v2']);
    hub.close();
  });

  test('a blocked subscriber gets only the newest queued config; others are not held up', () => {
    const hub = new ConfigHub();
    const slow = new Sink();
    const fast = new Sink();
    hub.subscribe('ns/p', slow, full);
    hub.subscribe('ns/p', fast, full);
    slow.full = true;
    hub.publish(new Map([['ns/p', cfg('v1')]]));
    hub.publish(new Map([['ns/p', cfg('v2')]]));
    hub.publish(new Map([['ns/p', cfg('v3')]]));
    expect(fast.lines.map((l) => JSON.parse(l).version)).toEqual(['v1', 'v2', 'v3']);
    expect(slow.lines.map((l) => JSON.parse(l).version)).toEqual(['v1']);
    slow.drain();
    expect(slow.lines.map((l) => JSON.parse(l).version)).toEqual(['v1', 'v3']);
    hub.close();
  });

  test('a rollback to the config a backed-up subscriber last got drops the newer one queued for it', () => {
    // Blocked on its socket: v3 is queued when v2, which it already has, is published again.
    const hub = new ConfigHub();
    const slow = new Sink();
    hub.subscribe('ns/p', slow, full);
    const v2 = cfg('v2');
    hub.publish(new Map([['ns/p', cfg('v1')]]));
    slow.full = true;
    hub.publish(new Map([['ns/p', v2]]));
    hub.publish(new Map([['ns/p', cfg('v3')]]));
    hub.publish(new Map([['ns/p', v2]]));
    slow.drain();
    expect(slow.lines.map((l) => JSON.parse(l).version)).toEqual(['v1', 'v2']);
    expect(hub.current('ns/p')!.version).toBe('v2');
    // Waiting for a full-config slot: the same.
    const slots = new ConfigHub({ maxFullInFlight: 1 });
    const v1 = cfg('v1');
    slots.publish(new Map([['ns/p', v1]]));
    const a = new Sink();
    const b = new Sink();
    slots.subscribe('ns/p', a, full);
    slots.subscribe('ns/p', b, full);
    a.full = true;
    slots.publish(new Map([['ns/p', cfg('v2')]]));
    slots.publish(new Map([['ns/p', v1]]));
    a.drain();
    expect(a.lines.map((l) => JSON.parse(l).version)).toEqual(['v1', 'v2', 'v1']);
    expect(b.lines.map((l) => JSON.parse(l).version)).toEqual(['v1']);
    hub.close();
    slots.close();
  });

  test('a stream authorized for an earlier pod of its name is closed once the pod is another one', () => {
    const hub = new ConfigHub();
    hub.publish(new Map([['ns/p', cfg('v1')]]));
    const old = new Sink();
    const unbound = new Sink();
    hub.subscribe('ns/p', old, { ...full, podUid: 'u1' });
    hub.subscribe('ns/p', unbound, full);
    hub.publish(new Map([['ns/p', cfg('v1')]]), performance.now(), () => 'u1');
    expect(old.closed).toBeNull();
    // Deleted and created again between two compiles: the same name, the same config even, another pod.
    hub.publish(new Map([['ns/p', cfg('v1')]]), performance.now(), () => 'u2');
    expect(old.closed).toBe('pod was created again under its name');
    expect(unbound.closed).toBeNull();
    expect(hub.subscriberCount).toBe(1);
    hub.close();
  });

  test('a subscriber that does not drain within the write timeout is disconnected', async () => {
    let disconnected = 0;
    const hub = new ConfigHub({
      writeTimeoutMs: 20,
      observer: { subscribers: () => {}, pushed: () => {}, slowDisconnect: () => disconnected++ },
    });
    const slow = new Sink();
    slow.full = true;
    hub.subscribe('ns/p', slow, full);
    hub.publish(new Map([['ns/p', cfg('v1')]]));
    await new Promise((r) => setTimeout(r, 60));
    expect(slow.closed).toContain('slow subscriber');
    expect(disconnected).toBe(1);
    expect(hub.subscriberCount).toBe(0);
    hub.close();
  });

  test('a patch subscriber gets the first config in full, then patches from what it holds', () => {
    const hub = new ConfigHub({
      patch: (base, next) => [`{"type":"patch","version":"${next.version}","base":"${base.version}"}\n`],
    });
    const s = new Sink();
    hub.publish(new Map([['ns/p', cfg('v1')]]));
    hub.subscribe('ns/p', s, { since: null, acceptPatch: true });
    s.full = true;
    hub.publish(new Map([['ns/p', cfg('v2')]]));
    hub.publish(new Map([['ns/p', cfg('v3')]]));
    s.drain();
    expect(s.lines.map((l) => JSON.parse(l))).toEqual([
      { type: 'config', version: 'v1' },
      { type: 'patch', version: 'v2', base: 'v1' },
      { type: 'patch', version: 'v3', base: 'v2' },
    ]);
    hub.close();
  });

  test('at most maxFullInFlight full configs are in socket buffers at once; the others wait their turn', () => {
    const hub = new ConfigHub({ maxFullInFlight: 1 });
    hub.publish(new Map([['ns/p', cfg('v1')]]));
    const a = new Sink();
    const b = new Sink();
    a.full = true;
    b.full = true;
    hub.subscribe('ns/p', a, full);
    hub.subscribe('ns/p', b, full);
    expect(a.lines).toHaveLength(1);
    expect(b.lines).toHaveLength(0);
    hub.publish(new Map([['ns/p', cfg('v2')]]));
    a.drain();
    // a drained: b (waiting first) gets the newest config; a's own next full config now waits for b.
    expect(b.lines.map((l) => JSON.parse(l).version)).toEqual(['v2']);
    expect(a.lines.map((l) => JSON.parse(l).version)).toEqual(['v1']);
    b.drain();
    expect(a.lines.map((l) => JSON.parse(l).version)).toEqual(['v1', 'v2']);
    hub.close();
  });

  test('a full config counts until it is flushed out of the process, even when write() did not push back', () => {
    const hub = new ConfigHub({ maxFullInFlight: 2 });
    hub.publish(new Map([['ns/p', cfg('v1')]]));
    const sinks = Array.from({ length: 5 }, () => {
      const s = new Sink();
      s.autoFlush = false;
      hub.subscribe('ns/p', s, full);
      return s;
    });
    expect(sinks.map((s) => s.lines.length)).toEqual([1, 1, 0, 0, 0]);
    sinks[0]!.flush();
    expect(sinks.map((s) => s.lines.length)).toEqual([1, 1, 1, 0, 0]);
    // A new version waits its turn behind the two unflushed ones and those already waiting (newest wins).
    hub.publish(new Map([['ns/p', cfg('v2')]]));
    expect(sinks.map((s) => s.lines.length)).toEqual([1, 1, 1, 0, 0]);
    for (let i = 0; i < 10; i++) for (const s of sinks) s.flush();
    expect(sinks.map((s) => s.lines.map((l) => JSON.parse(l).version).at(-1))).toEqual([
      'v2',
      'v2',
      'v2',
      'v2',
      'v2',
    ]);
    expect(sinks[1]!.lines.map((l) => JSON.parse(l).version)).toEqual(['v1', 'v2']);
    hub.close();
  });

  test('subscribers that stop reading hold their full-config slots for fullSlotMs, not until they are cut off', () => {
    jest.useFakeTimers();
    try {
      const hub = new ConfigHub({ maxFullInFlight: 2, fullSlotMs: 1_000, writeTimeoutMs: 10_000 });
      hub.publish(new Map([['ns/p', cfg('v1')]]));
      const stalled = [new Sink(), new Sink()];
      for (const st of stalled) {
        st.full = true;
        hub.subscribe('ns/p', st, full);
      }
      const healthy = new Sink();
      hub.subscribe('ns/p', healthy, full);
      expect(healthy.lines).toHaveLength(0);
      jest.advanceTimersByTime(1_000);
      // Before: the newcomer waited for writeTimeoutMs (10 s), until the stalled ones were disconnected.
      expect(healthy.lines.map((l) => JSON.parse(l).version)).toEqual(['v1']);
      expect(stalled.map((st) => st.closed)).toEqual([null, null]);
      // A stalled one that reads again gets the rest, and later versions, in order.
      hub.publish(new Map([['ns/p', cfg('v2')]]));
      stalled[0]!.drain();
      expect(stalled[0]!.lines.map((l) => JSON.parse(l).version)).toEqual(['v1', 'v2']);
      // The other is still cut off at writeTimeoutMs.
      jest.advanceTimersByTime(9_000);
      expect(stalled[1]!.closed).toMatch(/did not drain/);
      hub.close();
    } finally {
      jest.useRealTimers();
    }
  });

  test('a subscriber resuming with the current version gets the next change as a patch', () => {
    const hub = new ConfigHub({
      patch: (base, next) => [`{"type":"patch","version":"${next.version}","base":"${base.version}"}\n`],
    });
    hub.publish(new Map([['ns/p', cfg('v1')]]));
    const s = new Sink();
    hub.subscribe('ns/p', s, { since: 'v1', acceptPatch: true });
    hub.publish(new Map([['ns/p', cfg('v2')]]));
    expect(s.lines.map((l) => JSON.parse(l))).toEqual([{ type: 'patch', version: 'v2', base: 'v1' }]);
    hub.close();
  });

  test('streams of a pod that no longer has a config are closed', () => {
    const hub = new ConfigHub();
    hub.publish(new Map([['ns/p', cfg('v1')]]));
    const s = new Sink();
    hub.subscribe('ns/p', s, full);
    hub.publish(new Map());
    expect(s.closed).toBe('pod no longer has a config');
    expect(hub.subscriberCount).toBe(0);
    hub.close();
  });

  test('idle subscribers get pings', async () => {
    const hub = new ConfigHub({ pingIntervalMs: 30 });
    const s = new Sink();
    hub.subscribe('ns/p', s, full);
    await new Promise((r) => setTimeout(r, 100));
    expect(s.lines).toContain('{"type":"ping"}\n');
    hub.close();
  });
});
