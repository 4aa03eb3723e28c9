// Small helpers over untyped Kubernetes objects (JSON), private to conversion.
export type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function annotationsOf(o: JsonObject): Record<string, string> | undefined {
  const meta = o.metadata;
  if (!isObject(meta) || !isObject(meta.annotations)) return undefined;
  return meta.annotations as Record<string, string>;
}

/** Returns a copy of `o` with annotation `key` set (string) or removed (undefined); drops an emptied map. */
export function withAnnotation(o: JsonObject, key: string, value: string | undefined): JsonObject {
  const meta: JsonObject = isObject(o.metadata) ? { ...o.metadata } : {};
  const annotations: Record<string, string> = { ...(annotationsOf(o) ?? {}) };
  if (value === undefined) delete annotations[key];
  else annotations[key] = value;
  if (Object.keys(annotations).length === 0) delete meta.annotations;
  else meta.annotations = annotations;
  return { ...o, metadata: meta };
}

/** Parses an annotation value as JSON; undefined when it is absent or not JSON. */
export function parseJsonAnnotation(value: string | undefined): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return undefined;
  }
}

/** Object `o` without the listed keys. */
export function omit(o: JsonObject, ...keys: string[]): JsonObject {
  const out: JsonObject = { ...o };
  for (const k of keys) delete out[k];
  return out;
}

/** JSON with object keys sorted at every level, so an annotation does not depend on the input's key order. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_key, value: unknown) =>
    isObject(value)
      ? Object.fromEntries(
          Object.keys(value)
            .sort()
            .map((k) => [k, value[k]]),
        )
      : value,
  );
}
