// Semantic rules run on the storage version; a finding's path is translated back to the version the client
// wrote (TrafficTarget v1alpha1 has no `spec` and calls rules `specs`; HTTPRouteGroup v1alpha1/v1alpha2 have
// top-level matches). Indexes are the same in every version.
import type { SmiKind } from '../kinds.ts';

const RENAMES: Partial<Record<SmiKind, Record<string, [string, string][]>>> = {
  TrafficTarget: {
    v1alpha1: [
      ['spec.rules', 'specs'],
      ['spec.', ''],
    ],
  },
  HTTPRouteGroup: {
    v1alpha1: [['spec.matches', 'matches']],
    v1alpha2: [['spec.matches', 'matches']],
  },
};

/** The path in `version` of a field the rules found at `storagePath`. */
export function pathInVersion(kind: SmiKind, version: string, storagePath: string): string {
  for (const [from, to] of RENAMES[kind]?.[version] ?? []) {
    if (storagePath === from.replace(/\.$/, '')) return to.replace(/\.$/, '');
    if (storagePath.startsWith(from)) return to + storagePath.slice(from.length);
  }
  return storagePath;
}
