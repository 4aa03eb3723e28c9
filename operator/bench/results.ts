// Merges bench numbers into a results file shaped as issue 5 asks (bench/results/control-plane.json):
// {"propagation": {"1000": {p50_ms, p99_ms, max_ms}, ...}, "resync_s", "csr_per_second", "operator_rss_mb", "notes"}.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export function mergeResults(file: string | undefined, patch: Record<string, unknown>): void {
  if (file === undefined || file === '') return;
  const current = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  const merged: Record<string, unknown> = { ...current };
  for (const [k, v] of Object.entries(patch)) {
    const old = merged[k];
    merged[k] =
      typeof old === 'object' && old !== null && typeof v === 'object' && v !== null && !Array.isArray(v)
        ? { ...(old as object), ...(v as object) }
        : v;
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(merged, null, 2)}\n`);
}
