// What validation reports: denials (the object is refused) and warnings (admitted, kubectl prints them).
// Each names the field by its path in the version the client wrote, and carries a stable code.

export interface Finding {
  /** Stable, CamelCase: usable as a metric label and in tests. */
  code: string;
  /** Path in the client's version, e.g. `spec.backends[1].weight`; "" for the whole object. */
  field: string;
  message: string;
}

/** Identity of the object a finding is about, as kubectl prints it. */
export interface ObjectIdentity {
  kind: string;
  namespace?: string;
  name?: string;
}

export function describeObject(id: ObjectIdentity): string {
  const ns = id.namespace ? `${id.namespace}/` : '';
  return `${id.kind} ${ns}${id.name ?? '<generated name>'}`;
}

/** One line per finding: `TrafficSplit shop/web: spec.backends[1].service: ...`. */
export function formatFinding(id: ObjectIdentity, f: Finding): string {
  return `${describeObject(id)}: ${f.field === '' ? '' : `${f.field}: `}${f.message}`;
}

/** Appends `.name` or `[i]` to a path. */
export function at(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path === '' ? key : `${path}.${key}`;
}
