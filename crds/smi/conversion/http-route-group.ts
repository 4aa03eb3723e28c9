// HTTPRouteGroup: v1alpha1 (top-level matches, no headers) and v1alpha2 (top-level matches) to and from the
// storage version v1alpha4 (matches under spec). v1alpha3 has the storage shape.
import { isObject, type JsonObject, omit } from './json.ts';
import { IDENTITY_MAPPING, type VersionMapping } from './version-mapping.ts';

/** Storage fields a flat version cannot show: an empty `spec: {}`, and (v1alpha1) each match's headers. */
interface StorageOnly {
  emptySpec?: true;
  /** Headers of matches, with the match's index and name so they only return to the same match. */
  headers?: { index: number; name?: string; headers: unknown }[];
}

function flatten(hub: JsonObject, dropHeaders: boolean): { object: JsonObject; storageOnly?: StorageOnly } {
  const storageOnly: StorageOnly = {};
  const spec = hub.spec;
  let matches = isObject(spec) ? spec.matches : undefined;
  if (isObject(spec) && matches === undefined) storageOnly.emptySpec = true;
  if (dropHeaders && Array.isArray(matches)) {
    const headers: NonNullable<StorageOnly['headers']> = [];
    matches = matches.map((m: unknown, index) => {
      if (!isObject(m) || m.headers === undefined) return m;
      headers.push({ index, ...(typeof m.name === 'string' ? { name: m.name } : {}), headers: m.headers });
      return omit(m, 'headers');
    });
    if (headers.length > 0) storageOnly.headers = headers;
  }
  const object = omit(hub, 'spec');
  if (matches !== undefined) object.matches = matches;
  return Object.keys(storageOnly).length > 0 ? { object, storageOnly } : { object };
}

function nest(object: JsonObject): { object: JsonObject } {
  if (object.matches === undefined) return { object };
  return { object: { ...omit(object, 'matches'), spec: { matches: object.matches } } };
}

function restore(hub: JsonObject, stash: unknown): JsonObject | undefined {
  if (!isObject(stash)) return undefined;
  const s = stash as StorageOnly;
  let out = hub;
  if (s.emptySpec === true && out.spec === undefined) out = { ...out, spec: {} };
  if (Array.isArray(s.headers) && isObject(out.spec) && Array.isArray(out.spec.matches)) {
    const matches = [...(out.spec.matches as unknown[])];
    for (const h of s.headers) {
      if (!isObject(h) || typeof h.index !== 'number') return undefined;
      const m = matches[h.index];
      // A match that was removed or renamed meanwhile does not get someone else's headers.
      if (!isObject(m) || m.name !== h.name || m.headers !== undefined) continue;
      matches[h.index] = { ...m, headers: h.headers };
    }
    out = { ...out, spec: { ...out.spec, matches } };
  }
  return out;
}

export const HTTP_ROUTE_GROUP_MAPPINGS: Record<string, VersionMapping> = {
  v1alpha1: { project: (hub) => flatten(hub, true), embed: nest, restoreStorageOnly: restore },
  v1alpha2: { project: (hub) => flatten(hub, false), embed: nest, restoreStorageOnly: restore },
  v1alpha3: IDENTITY_MAPPING,
  v1alpha4: IDENTITY_MAPPING,
};
