import { describe, expect, test } from '@jest/globals';
import { RecentEvents } from './api.ts';

describe('RecentEvents', () => {
  test('the same Event is sent once per period; a changed message at once', () => {
    // Keys as EventRecorder makes them: object, reason and message.
    const r = new RecentEvents(1000);
    expect(r.admit('Pod/ns/a/InvalidAnnotation/m1', 0)).toBe(true);
    expect(r.admit('Pod/ns/a/InvalidAnnotation/m1', 500)).toBe(false);
    expect(r.admit('Pod/ns/a/InvalidAnnotation/m2', 600)).toBe(true);
    // After the period the same Event may be sent again.
    expect(r.admit('Pod/ns/a/InvalidAnnotation/m2', 1600)).toBe(true);
  });

  test('a problem that lasts is reported again once per period, in the Event it was first written to', () => {
    const r = new RecentEvents(1000);
    expect(r.due('k', 0)).toEqual({ series: null });
    r.wrote('k', { name: 'broken.17a', namespace: 'shop', count: 1 });
    expect(r.due('k', 999)).toBeNull();
    // Due again: the series to continue (count + 1 on broken.17a).
    expect(r.due('k', 1000)).toEqual({ series: { name: 'broken.17a', namespace: 'shop', count: 1 } });
    r.wrote('k', { name: 'broken.17a', namespace: 'shop', count: 2 });
    expect(r.due('k', 1500)).toBeNull();
    expect(r.due('k', 2000)).toEqual({ series: { name: 'broken.17a', namespace: 'shop', count: 2 } });
  });

  test('a failed write is forgotten and tried again', () => {
    const r = new RecentEvents(1000);
    expect(r.admit('k', 0)).toBe(true);
    r.forget('k');
    expect(r.admit('k', 1)).toBe(true);
  });

  test('pods that come and go leave nothing behind: entries not reported for two periods are swept', () => {
    const r = new RecentEvents(1000);
    // 100,000 pods of a Deployment with a bad annotation, one per ms: before, every key stayed forever.
    for (let i = 0; i < 100_000; i++) r.admit(`Pod/ns/web-${i}/InvalidAnnotation/bad`, i);
    expect(r.size).toBeLessThan(4096);
  });
});
