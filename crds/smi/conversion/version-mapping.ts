// Exact conversion between one version and the storage (hub) version, built from a plain field mapping.
// What the version cannot hold travels in STORAGE_FIELDS_ANNOTATION on the version's object; what the hub
// cannot hold (an original spelling) travels in ORIGINAL_FIELDS_ANNOTATION on the hub object. A restored
// original is only used when converting it back gives exactly the hub object, so a stale annotation (the
// object was changed through another version since) never changes meaning: the plain mapping wins and the
// stale annotation is carried along untouched, which keeps the round trip exact too.
import { isDeepStrictEqual } from 'node:util';
import { ORIGINAL_FIELDS_ANNOTATION, STORAGE_FIELDS_ANNOTATION } from './annotations.ts';
import {
  annotationsOf,
  canonicalJson,
  type JsonObject,
  parseJsonAnnotation,
  withAnnotation,
} from './json.ts';

/** Thrown by a mapping when an object cannot be converted at all (for example weights that overflow). */
export class ConversionError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

/** The plain, lossy mapping between one version and the hub, plus how to restore what it loses. */
export interface VersionMapping {
  /** Hub -> version. `storageOnly` is what the version cannot hold (undefined: nothing). */
  project(hub: JsonObject): { object: JsonObject; storageOnly?: unknown };
  /** Version -> hub. `originalOnly` is a spelling the hub normalises away (undefined: nothing). */
  embed(object: JsonObject): { object: JsonObject; originalOnly?: unknown };
  /** Puts storage-only fields back on a hub object; undefined when the stash does not fit. */
  restoreStorageOnly?(hub: JsonObject, stash: unknown): JsonObject | undefined;
  /** Puts original spellings back on a version object; undefined when the stash does not fit. */
  restoreOriginal?(object: JsonObject, stash: unknown): JsonObject | undefined;
}

/** Converts an object of the mapping's version to the hub version (apiVersion set by the caller). */
export function toHub(m: VersionMapping, object: JsonObject): JsonObject {
  const stashText = annotationsOf(object)?.[STORAGE_FIELDS_ANNOTATION];
  const plain =
    stashText === undefined ? object : withAnnotation(object, STORAGE_FIELDS_ANNOTATION, undefined);
  const { object: embedded, originalOnly } = m.embed(plain);
  let hub = embedded;
  if (stashText !== undefined) {
    const stash = parseJsonAnnotation(stashText);
    const restored = stash === undefined ? undefined : m.restoreStorageOnly?.(hub, stash);
    hub = restored ?? withAnnotation(hub, STORAGE_FIELDS_ANNOTATION, stashText);
  }
  if (originalOnly !== undefined) {
    hub = withAnnotation(hub, ORIGINAL_FIELDS_ANNOTATION, canonicalJson(originalOnly));
  }
  return hub;
}

/** Converts a hub object to the mapping's version (apiVersion set by the caller). */
export function fromHub(m: VersionMapping, hub: JsonObject): JsonObject {
  const originalText = annotationsOf(hub)?.[ORIGINAL_FIELDS_ANNOTATION];
  const plainHub =
    originalText === undefined ? hub : withAnnotation(hub, ORIGINAL_FIELDS_ANNOTATION, undefined);
  const { object: projected, storageOnly } = m.project(plainHub);
  const plain =
    storageOnly === undefined
      ? projected
      : withAnnotation(projected, STORAGE_FIELDS_ANNOTATION, canonicalJson(storageOnly));
  if (originalText === undefined) return plain;
  const stash = parseJsonAnnotation(originalText);
  const restored = stash === undefined ? undefined : m.restoreOriginal?.(plain, stash);
  if (restored !== undefined && sameHub(m, restored, hub)) return restored;
  return withAnnotation(plain, ORIGINAL_FIELDS_ANNOTATION, originalText);
}

function sameHub(m: VersionMapping, candidate: JsonObject, hub: JsonObject): boolean {
  try {
    return isDeepStrictEqual({ ...toHub(m, candidate), apiVersion: hub.apiVersion }, hub);
  } catch {
    return false;
  }
}

/** The mapping of the hub version itself. */
export const IDENTITY_MAPPING: VersionMapping = {
  project: (hub) => ({ object: hub }),
  embed: (object) => ({ object }),
};
