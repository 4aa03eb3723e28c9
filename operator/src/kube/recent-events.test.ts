import { describe, expect, test } from '@jest/globals';
import { eventName, RecentEvents } from './api.ts';

describe('RecentEvents', () => {
  test('the same Event is sent once per period; a changed message at once', () => {
    // Keys as EventRecorder makes them: object, reason and message.
    const r = new RecentEvents(1000);
    expect(r.due('Pod/ns/a/InvalidAnnotation/m1', 0)).not.toBeNull();
    expect(r.due('Pod/ns/a/InvalidAnnotation/m1', 500)).toBeNull();
    expect(r.due('Pod/ns/a/InvalidAnnotation/m2', 600)).not.toBeNull();
    // After the period the same Event may be sent again.
    expect(r.due('Pod/ns/a/InvalidAnnotation/m2', 1600)).not.toBeNull();
  });

  test('a problem that lasts is reported again once per period, in the Event it was first written to', () => {
    const r = new RecentEvents(1000);
    expect(r.due('k', 0)).toEqual({ count: 0 });
    r.wrote('k', 1);
    expect(r.due('k', 999)).toBeNull();
    // Due again: the series to continue (count + 1 on its Event).
    expect(r.due('k', 1000)).toEqual({ count: 1 });
    r.wrote('k', 2);
    expect(r.due('k', 1500)).toBeNull();
    expect(r.due('k', 2000)).toEqual({ count: 2 });
  });

  test('a failed write is tried again, in the same series', () => {
    const r = new RecentEvents(1000);
    expect(r.due('k', 0)).not.toBeNull();
    r.retry('k');
    expect(r.due('k', 1)).not.toBeNull();
    r.wrote('k', 4);
    expect(r.due('k', 2000)).toEqual({ count: 4 });
    // The patch to count 5 failed (a 5xx): the retry continues the series at 4, not a new Event.
    r.retry('k');
    expect(r.due('k', 2001)).toEqual({ count: 4 });
  });

  test('the period is the one given', () => {
    expect(new RecentEvents(2_750_000).periodMs).toBe(2_750_000);
  });

  test('with the period one tick short of the repeat, a gap is at most the repeat plus how late the ticks ran', () => {
    // The operator's timing: repeat 3,300 s, tick 550 s, period 2,750 s; each tick runs up to 50 ms late and
    // the work queue takes up to 20 ms more.
    const repeat = 3_300_000;
    const tick = 550_000;
    /** The longest gap between two reports over 1,000 ticks, with the same jitter sequence on every run. */
    const worstGap = (period: number) => {
      const r = new RecentEvents(period);
      let last = 0;
      let worst = 0;
      expect(r.due('k', 0)).not.toBeNull();
      let seed = 7;
      const jitter = (ms: number) => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return (seed / 2 ** 31) * ms;
      };
      for (let n = 1; n <= 1000; n++) {
        const now = n * tick + jitter(50) + jitter(20);
        if (r.due('k', now) !== null) {
          worst = Math.max(worst, now - last);
          last = now;
        }
      }
      return worst;
    };
    const worst = worstGap(repeat - tick);
    // 3,300 s and a few ms, against the apiserver's 3,600 s Event TTL. With the period equal to the repeat (as
    // first written) the gap was 3,850 s whenever a tick came in a few ms early relative to the last report.
    expect(worst).toBeLessThanOrEqual(repeat + 70);
    expect(worst).toBeGreaterThan(repeat - tick);
    expect(worstGap(repeat)).toBeGreaterThan(3_600_000);
  });

  test('the Event of a series has a name fixed by its problem, a DNS subdomain however long the object name', () => {
    expect(eventName('broken', 'k1')).toBe(eventName('broken', 'k1'));
    expect(eventName('broken', 'k1')).not.toBe(eventName('broken', 'k2'));
    expect(eventName('broken', 'k1')).toMatch(/^broken\.[0-9a-f]{16}$/);
    expect(eventName('x'.repeat(253), 'k').length).toBeLessThanOrEqual(253);
  });

  test('pods that come and go leave nothing behind: entries not reported for two periods are swept', () => {
    const r = new RecentEvents(1000);
    // 100,000 pods of a Deployment with a bad annotation, one per ms: before, every key stayed forever.
    for (let i = 0; i < 100_000; i++) r.due(`Pod/ns/web-${i}/InvalidAnnotation/bad`, i);
    expect(r.size).toBeLessThan(4096);
  });
});
