import { describe, expect, test } from '@jest/globals';
import { LatestOnly, type LatestOnlyClock } from './latest-only.ts';

/** A clock whose time moves only when told; scheduled work runs when its time is reached. */
function manualClock() {
  let t = 0;
  const due: { at: number; fn: () => void }[] = [];
  const clock: LatestOnlyClock = {
    now: () => t,
    schedule: (fn, ms) => {
      due.push({ at: t + ms, fn });
    },
  };
  const advance = async (ms: number) => {
    t += ms;
    for (const d of due.filter((x) => x.at <= t)) {
      due.splice(due.indexOf(d), 1);
      d.fn();
    }
    await flush();
  };
  return { clock, advance, scheduled: () => due.length };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('LatestOnly', () => {
  test('writes the first value at once, then only the newest value of a burst, one interval later', async () => {
    const { clock, advance } = manualClock();
    const written: number[] = [];
    const w = new LatestOnly(
      async (v: number) => {
        written.push(v);
      },
      1000,
      clock,
    );
    w.push(1);
    await flush();
    expect(written).toEqual([1]);
    for (let v = 2; v <= 50; v++) w.push(v);
    await advance(999);
    expect(written).toEqual([1]);
    await advance(1);
    expect(written).toEqual([1, 50]);
    // Quiet for longer than the interval: the next value goes at once again.
    await advance(5000);
    w.push(51);
    await flush();
    expect(written).toEqual([1, 50, 51]);
  });

  test('one write at a time: a value pushed during a slow write waits for it and for the interval', async () => {
    const { clock, advance } = manualClock();
    const events: string[] = [];
    let release: () => void = () => undefined;
    const w = new LatestOnly(
      (v: string) => {
        events.push(`start ${v}`);
        return new Promise<void>((r) => {
          release = () => {
            events.push(`end ${v}`);
            r();
          };
        });
      },
      100,
      clock,
    );
    w.push('a');
    w.push('b');
    w.push('c');
    await advance(500); // the interval has passed, but "a" is still being written
    expect(events).toEqual(['start a']);
    release();
    await flush();
    expect(events).toEqual(['start a', 'end a', 'start c']);
    release();
    await flush();
    expect(events).toEqual(['start a', 'end a', 'start c', 'end c']);
  });

  test('a failed write does not stop later ones', async () => {
    const { clock, advance } = manualClock();
    const written: number[] = [];
    const w = new LatestOnly(
      async (v: number) => {
        if (v === 1) throw new Error('disk full');
        written.push(v);
      },
      10,
      clock,
    );
    w.push(1);
    w.push(2);
    await advance(10);
    expect(written).toEqual([2]);
  });
});
