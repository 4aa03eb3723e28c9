// Kubernetes Quantity, exactly: parsing to a decimal (integer mantissa and power of ten) and turning a set of
// Quantity weights into integers with exactly the same ratios.
import { MAX_WEIGHT } from '../schema/openapi.ts';

/** value = mantissa * 10^exponent, exactly. */
export interface DecimalValue {
  mantissa: bigint;
  exponent: number;
}

const QUANTITY = /^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$/;
const DECIMAL_SUFFIX: Record<string, number> = {
  n: -9,
  u: -6,
  m: -3,
  '': 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};
const BINARY_SUFFIX: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const MAX_EXPONENT = 40;

export type QuantityParse = { ok: true; value: DecimalValue } | { ok: false; reason: string };

/** Parses a Quantity as a JSON value: an integer or a string in Kubernetes Quantity syntax. */
export function parseQuantity(q: unknown): QuantityParse {
  if (typeof q === 'number') {
    if (!Number.isSafeInteger(q)) return { ok: false, reason: 'a numeric weight must be an integer' };
    return { ok: true, value: { mantissa: BigInt(q), exponent: 0 } };
  }
  if (typeof q !== 'string') return { ok: false, reason: 'must be an integer or a Quantity string' };
  const m = QUANTITY.exec(q);
  if (m === null) return { ok: false, reason: `"${q}" is not a Kubernetes Quantity` };
  const [, sign, number, suffix = ''] = m as unknown as [string, string, string, string?];
  const [whole, fraction = ''] = number.split('.') as [string, string?];
  let mantissa = BigInt(`${whole || '0'}${fraction}`);
  let exponent = -fraction.length;
  if (suffix in BINARY_SUFFIX) {
    mantissa *= 1n << BigInt(BINARY_SUFFIX[suffix]!);
  } else if (suffix.length > 1) {
    // A decimal exponent (`e3`, `E-2`); a lone `E` is the exa suffix.
    const e = Number(suffix.slice(1));
    if (Math.abs(e) > MAX_EXPONENT) return { ok: false, reason: `exponent of "${q}" is out of range` };
    exponent += e;
  } else {
    exponent += DECIMAL_SUFFIX[suffix]!;
  }
  if (sign === '-') mantissa = -mantissa;
  // A positive exponent goes into the mantissa, so the exponent says how many decimals the user wrote.
  if (exponent > 0) {
    mantissa *= 10n ** BigInt(exponent);
    exponent = 0;
  }
  return { ok: true, value: { mantissa, exponent } };
}

export type WeightNormalisation =
  | { ok: true; weights: number[] }
  | { ok: false; index: number; reason: string };

function gcd(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

/**
 * Turns Quantity weights into integers with the same ratios: all are scaled by the power of ten that makes
 * the most precise one whole (`1` and `500m` become 1000 and 500; plain integers stay as they are), and only
 * if that overflows the integer range are they divided by their common divisor. An absent weight is 0.
 */
export function normaliseQuantityWeights(weights: readonly unknown[]): WeightNormalisation {
  const values: DecimalValue[] = [];
  for (const [index, w] of weights.entries()) {
    if (w === undefined || w === null) {
      values.push({ mantissa: 0n, exponent: 0 });
      continue;
    }
    const p = parseQuantity(w);
    if (!p.ok) return { ok: false, index, reason: p.reason };
    if (p.value.mantissa < 0n) return { ok: false, index, reason: 'weight is negative' };
    values.push(p.value);
  }
  const scale = Math.max(0, ...values.map((v) => -v.exponent));
  let scaled = values.map((v) => v.mantissa * 10n ** BigInt(v.exponent + scale));
  const max = BigInt(MAX_WEIGHT);
  if (scaled.some((s) => s > max)) {
    const divisor = scaled.reduce((g, s) => (s === 0n ? g : gcd(g, s)), 0n);
    if (divisor > 1n) scaled = scaled.map((s) => s / divisor);
    const over = scaled.findIndex((s) => s > max);
    if (over >= 0) {
      return {
        ok: false,
        index: over,
        reason: `weights cannot be expressed as integers up to ${MAX_WEIGHT} with the same ratios`,
      };
    }
  }
  return { ok: true, weights: scaled.map(Number) };
}
