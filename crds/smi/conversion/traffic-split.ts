// TrafficSplit: v1alpha1 (Quantity weights) and v1alpha2 (no matches) to and from the storage version v1alpha4.
import { isObject, type JsonObject } from './json.ts';
import { normaliseQuantityWeights } from './quantity.ts';
import { ConversionError, IDENTITY_MAPPING, type VersionMapping } from './version-mapping.ts';

function specOf(o: JsonObject): JsonObject {
  return isObject(o.spec) ? o.spec : {};
}

function backendsOf(spec: JsonObject): JsonObject[] {
  return Array.isArray(spec.backends) ? (spec.backends as JsonObject[]) : [];
}

/** v1alpha2 and v1alpha1 have no `matches`: keep them aside. */
function projectMatches(hub: JsonObject): { spec: JsonObject; storageOnly?: unknown } {
  const { matches, ...spec } = specOf(hub);
  return matches === undefined ? { spec } : { spec, storageOnly: { matches } };
}

function restoreMatches(hub: JsonObject, stash: unknown): JsonObject | undefined {
  if (!isObject(stash) || !Array.isArray(stash.matches) || !isObject(hub.spec)) return undefined;
  return { ...hub, spec: { ...hub.spec, matches: stash.matches } };
}

const v1alpha2: VersionMapping = {
  project(hub) {
    const { spec, storageOnly } = projectMatches(hub);
    return { object: { ...hub, spec }, storageOnly };
  },
  embed: (object) => ({ object }),
  restoreStorageOnly: restoreMatches,
};

/** The weights exactly as a v1alpha1 client wrote them (null: absent), when the integers differ. */
interface OriginalWeights {
  weights: (number | string | null)[];
}

const v1alpha1: VersionMapping = {
  project(hub) {
    const { spec, storageOnly } = projectMatches(hub);
    return { object: { ...hub, spec }, storageOnly };
  },
  embed(object) {
    const spec = specOf(object);
    const backends = backendsOf(spec);
    const originals = backends.map((b) => b.weight);
    const n = normaliseQuantityWeights(originals);
    if (!n.ok) throw new ConversionError(`spec.backends[${n.index}].weight`, n.reason);
    const hubBackends = backends.map((b, i) => ({ ...b, weight: n.weights[i]! }));
    const exact = originals.every((w, i) => typeof w === 'number' && w === n.weights[i]);
    const converted = isObject(object.spec)
      ? { ...object, spec: { ...spec, backends: hubBackends } }
      : object;
    if (exact) return { object: converted };
    const originalOnly: OriginalWeights = {
      weights: originals.map((w) => (typeof w === 'number' || typeof w === 'string' ? w : null)),
    };
    return { object: converted, originalOnly };
  },
  restoreStorageOnly: restoreMatches,
  restoreOriginal(object, stash) {
    if (!isObject(stash) || !Array.isArray(stash.weights) || !isObject(object.spec)) return undefined;
    const weights = stash.weights as unknown[];
    const backends = backendsOf(object.spec);
    if (weights.length !== backends.length) return undefined;
    const restored = backends.map((b, i) => {
      const w = weights[i];
      const { weight: _, ...rest } = b;
      return w === null ? rest : { ...rest, weight: w };
    });
    return { ...object, spec: { ...object.spec, backends: restored } };
  },
};

export const TRAFFIC_SPLIT_MAPPINGS: Record<string, VersionMapping> = {
  v1alpha1,
  v1alpha2,
  v1alpha3: IDENTITY_MAPPING,
  v1alpha4: IDENTITY_MAPPING,
};
