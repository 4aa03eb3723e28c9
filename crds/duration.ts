// Durations in annotations, written as Kubernetes and Go write them ("500ms", "10s", "1m30s", "1.5s", "2h").
// One parser for every annotation that takes a duration, so they all accept the same spellings.

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /(\d+)(?:\.(\d+))?(ms|s|m|h)/y;

/** The longest delay setTimeout honours (2^31-1 ms, about 24.8 days); Node fires longer ones at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export type DurationResult = { ok: true; ms: number } | { ok: false; error: string };

/**
 * Parses a positive duration of at most `maxMs` into whole milliseconds (rounded up, so "0.5ms" is 1 ms, not
 * none). Units: ms, s, m, h, combined largest first or in any order ("1m30s"); no sign, no spaces, no bare
 * numbers (is "30" seconds or milliseconds?).
 */
export function parseDurationMs(value: string, maxMs = 86_400_000): DurationResult {
  const text = value.trim();
  if (text === '') return { ok: false, error: 'empty duration' };
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const at = PART.lastIndex;
    const m = PART.exec(text);
    if (m === null)
      return {
        ok: false,
        error: `"${value}" is not a duration like 500ms, 10s or 1m30s (at "${text.slice(at)}")`,
      };
    const unit = UNIT_MS[m[3]!]!;
    // The fraction read as one ("0.5"): as digits over a power of ten, 400 of them made Infinity / Infinity.
    total += Number(m[1]) * unit + (m[2] === undefined ? 0 : Number(`0.${m[2]}`) * unit);
  }
  // Binary fractions: 2.007 s is 2007.0000000000002 ms before rounding, which must not become 2008.
  const ms = Math.ceil(Math.round(total * 1e6) / 1e6);
  // Longer first (a 400-digit number is Infinity), then anything that is not at least 1 ms (NaN included).
  if (ms > maxMs) return { ok: false, error: `"${value.slice(0, 64)}" is longer than ${maxMs / 1000}s` };
  if (!(ms >= 1)) return { ok: false, error: `"${value.slice(0, 64)}" is not a positive duration` };
  return { ok: true, ms };
}
