// Settings from environment variables, as the operator and the webhooks (one image) read them. Pure parsers of
// the raw text: each returns the value or an error message that quotes the text but not the variable, which the
// caller names in its own error type. What an unset or empty variable means stays with the caller.

export type SettingResult<T> = { ok: true; value: T } | { ok: false; error: string };

/**
 * A whole number from min to max; `what` names the range in the error (`"<raw>" is not <what>`). Digits only:
 * Number() would also take 1e4, 0x10 or 20000.5. `trim`: spaces around the digits are allowed (the error still
 * quotes the text as given).
 */
export function parseWholeNumber(
  raw: string,
  min: number,
  max: number,
  what: string,
  trim = false,
): SettingResult<number> {
  const text = trim ? raw.trim() : raw;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) return { ok: false, error: `"${raw}" is not ${what}` };
  return { ok: true, value: n };
}

/** true or 1, false or 0. */
export function parseBoolean(raw: string): SettingResult<boolean> {
  if (raw === 'true' || raw === '1') return { ok: true, value: true };
  if (raw === 'false' || raw === '0') return { ok: true, value: false };
  return { ok: false, error: `"${raw}" is not true or false` };
}

/** A comma-separated list: items trimmed, empty ones left out. */
export function parseList(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
