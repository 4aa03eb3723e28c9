import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { HeapTrimmer } from './heap-trim.ts';

function setup(
  trim: () => { released: boolean; ms: number } = () => ({ released: true, ms: 1 }),
  sinceStartMs = 10_000,
) {
  const state = { activity: 0, clock: 100_000, trims: 0, gc: () => {} };
  const t = new HeapTrimmer({
    onMajorGc: (cb) => {
      state.gc = cb;
      return () => {
        state.gc = () => {};
      };
    },
    activity: () => state.activity,
    trim: () => {
      state.trims++;
      return trim();
    },
    log: pino({ level: 'silent' }),
    now: () => state.clock,
  });
  t.start();
  // No trim in the first 10 s after start: begin past them, unless the test says otherwise.
  state.clock += sinceStartMs;
  /** A look `ms` after the previous one. */
  const look = (ms = 2_000) => {
    state.clock += ms;
    return t.tick();
  };
  return { state, look, stop: () => t.stop() };
}

describe('HeapTrimmer', () => {
  it('trims once distribution work has stopped, not during it, and not while nothing happens', () => {
    const { state, look } = setup();
    expect(look()).toBe(false);
    // Work under way at two looks in a row: no trim.
    state.activity += 5;
    expect(look()).toBe(false);
    state.activity += 5;
    expect(look()).toBe(false);
    // Quiet since the last look: trim, once.
    expect(look()).toBe(true);
    expect(look()).toBe(false);
    expect(state.trims).toBe(1);
  });

  it('trims at most every 10 s', () => {
    const { state, look } = setup();
    state.activity++;
    look();
    expect(look()).toBe(true);
    state.activity++;
    look();
    // Quiet again 4 s after the trim: too soon.
    expect(look()).toBe(false);
    expect(look(6_000)).toBe(true);
    expect(state.trims).toBe(2);
  });

  it('a major garbage collection since the last trim makes one due (it frees what the burst left)', () => {
    const { state, look, stop } = setup();
    state.activity++;
    look();
    expect(look()).toBe(true);
    expect(look(20_000)).toBe(false);
    state.gc();
    expect(look()).toBe(true);
    expect(look(20_000)).toBe(false);
    stop();
  });

  it('work that never pauses puts the trim off for at most 20 s', () => {
    const { state, look } = setup(undefined, 0);
    let trimmedAt = -1;
    for (let i = 1; i <= 40 && trimmedAt < 0; i++) {
      state.activity++;
      if (look()) trimmedAt = i * 2;
    }
    // Seconds after start: due at the first look (2 s), never quiet, so done 20 s later.
    expect(trimmedAt).toBe(22);
  });

  it('after a long quiet spell, work that starts is not trimmed in its first look: the defer counts from then', () => {
    const { state, look } = setup(undefined, 60_000);
    state.activity++;
    expect(look()).toBe(false);
    state.activity++;
    expect(look()).toBe(false);
    // Quiet: now.
    expect(look()).toBe(true);
  });

  it('stops for good once the trim fails', () => {
    const { state, look } = setup(() => {
      throw new Error('no addon');
    });
    state.activity++;
    look();
    look();
    state.activity++;
    look();
    look(20_000);
    expect(state.trims).toBe(1);
  });
});
