// References from an SMI object to other objects. Missing targets are legal (they may be created later), so
// they give warnings, never denials. The validator lists references; a lookup (the webhook's view of the
// cluster) answers them.
import type { Finding } from './findings.ts';

export type ReferencedKind = 'Service' | 'ServiceAccount' | 'HTTPRouteGroup' | 'TCPRoute' | 'UDPRoute';

export interface Reference {
  kind: ReferencedKind;
  namespace: string;
  name: string;
  /** Field (in the client's version) holding the reference. */
  field: string;
  /** Match names the referencing object expects the route to have, with their fields. */
  matchNames?: { name: string; field: string }[];
}

/** What a lookup knows about one referenced object; undefined when it could not tell (no warning then). */
export type LookupAnswer = { found: false } | { found: true; matchNames?: string[] } | undefined;

/** Answers whether referenced objects exist. The webhook implements it against the apiserver. */
export interface ReferenceLookup {
  lookup(ref: { kind: ReferencedKind; namespace: string; name: string }): Promise<LookupAnswer>;
}

/** Warnings for references, given the lookup's answer for each (same order). Pure. */
export function referenceWarnings(refs: readonly Reference[], answers: readonly LookupAnswer[]): Finding[] {
  const out: Finding[] = [];
  for (const [i, ref] of refs.entries()) {
    const a = answers[i];
    if (a === undefined) continue;
    if (!a.found) {
      out.push({
        code: 'ReferenceNotFound',
        field: ref.field,
        message: `${ref.kind} ${ref.namespace}/${ref.name} does not exist (yet); traffic that needs it is not routed until it does`,
      });
      continue;
    }
    if (ref.matchNames === undefined || a.matchNames === undefined) continue;
    for (const m of ref.matchNames) {
      if (!a.matchNames.includes(m.name)) {
        out.push({
          code: 'MatchNotFound',
          field: m.field,
          message: `${ref.kind} ${ref.namespace}/${ref.name} has no match named "${m.name}"`,
        });
      }
    }
  }
  return out;
}

/** Resolves every reference with the lookup (concurrently) and returns the warnings. */
export async function checkReferences(
  refs: readonly Reference[],
  lookup: ReferenceLookup,
): Promise<Finding[]> {
  const answers = await Promise.all(
    refs.map(async (r) => {
      try {
        return await lookup.lookup({ kind: r.kind, namespace: r.namespace, name: r.name });
      } catch {
        return undefined;
      }
    }),
  );
  return referenceWarnings(refs, answers);
}

/** Match names of a storage-version route object, for lookups that fetched it. */
export function routeMatchNames(kind: string, route: Record<string, unknown>): string[] {
  const spec = route.spec as { matches?: unknown } | undefined;
  const matches = spec?.matches;
  if (kind === 'HTTPRouteGroup' && Array.isArray(matches)) {
    return matches.flatMap((m) => (typeof m?.name === 'string' ? [m.name as string] : []));
  }
  if (
    matches !== null &&
    typeof matches === 'object' &&
    typeof (matches as { name?: unknown }).name === 'string'
  ) {
    return [(matches as { name: string }).name];
  }
  return [];
}
