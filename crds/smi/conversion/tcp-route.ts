// TCPRoute: v1alpha1/v1alpha2 (no spec) and v1alpha3 (empty spec) to and from the storage version v1alpha4
// (spec.matches with ports).
import { isObject, type JsonObject, omit } from './json.ts';
import { IDENTITY_MAPPING, type VersionMapping } from './version-mapping.ts';

const withoutSpec: VersionMapping = {
  project: (hub) =>
    hub.spec === undefined ? { object: hub } : { object: omit(hub, 'spec'), storageOnly: { spec: hub.spec } },
  embed: (object) => ({ object }),
  restoreStorageOnly: (hub, stash) =>
    isObject(stash) && isObject(stash.spec) && hub.spec === undefined
      ? { ...hub, spec: stash.spec }
      : undefined,
};

const emptySpec: VersionMapping = {
  project(hub) {
    if (!isObject(hub.spec)) return { object: hub };
    const { matches, ...rest } = hub.spec;
    const object: JsonObject = { ...hub, spec: rest };
    return matches === undefined ? { object } : { object, storageOnly: { matches } };
  },
  embed: (object) => ({ object }),
  restoreStorageOnly: (hub, stash) =>
    isObject(stash) && stash.matches !== undefined && isObject(hub.spec)
      ? { ...hub, spec: { ...hub.spec, matches: stash.matches } }
      : undefined,
};

export const TCP_ROUTE_MAPPINGS: Record<string, VersionMapping> = {
  v1alpha1: withoutSpec,
  v1alpha2: withoutSpec,
  v1alpha3: emptySpec,
  v1alpha4: IDENTITY_MAPPING,
};
