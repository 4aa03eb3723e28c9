// JSON Schema validation of every SMI kind and version with ajv, from the same schema source as the CRDs
// (crds/smi/schema). The apiserver already enforces the structural schema; this repeats it so the webhook
// (and the operator, and tests) give the same answer without a cluster, and adds the shape checks a
// structural schema cannot express (HTTPRouteGroup headers: a map or a list of one-key maps).
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { SMI_KIND_INFO, SMI_KINDS, type SmiKind } from '../kinds.ts';
import type { Finding } from './findings.ts';

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
addFormats.default(ajv, ['date-time']);
ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
for (const keyword of [
  'x-kubernetes-int-or-string',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
]) {
  ajv.addKeyword({ keyword });
}

const compiled = new Map<string, ValidateFunction>();
for (const kind of SMI_KINDS) {
  for (const version of SMI_KIND_INFO[kind].versions) {
    compiled.set(`${kind}/${version}`, ajv.compile(SMI_KIND_INFO[kind].schema(version, 'ajv')));
  }
}

const MAX_REPORTED = 20;

/** Turns an ajv instancePath (`/spec/backends/0/weight`) into a field path (`spec.backends[0].weight`). */
export function fieldPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    out = /^[0-9]+$/.test(seg) ? `${out}[${seg}]` : out === '' ? seg : `${out}.${seg}`;
  }
  return out;
}

function toFinding(e: ErrorObject): Finding {
  if (e.keyword === 'required') {
    const missing = String((e.params as { missingProperty: string }).missingProperty);
    return {
      code: 'FieldRequired',
      field: fieldPath(`${e.instancePath}/${missing}`),
      message: 'is required',
    };
  }
  const field = fieldPath(e.instancePath);
  if (e.keyword === 'minimum' && e.instancePath.endsWith('/weight')) {
    return { code: 'NegativeWeight', field, message: `${JSON.stringify(e.data)} is negative` };
  }
  if ((e.keyword === 'minimum' || e.keyword === 'maximum') && /\/ports?(\/[0-9]+)?$/.test(e.instancePath)) {
    return { code: 'PortOutOfRange', field, message: `${JSON.stringify(e.data)} is not a port (1..65535)` };
  }
  return { code: 'SchemaViolation', field, message: e.message ?? 'is invalid' };
}

/** Schema findings for an object of `kind` in `version`; [] when it conforms. */
export function checkSchema(kind: SmiKind, version: string, object: unknown): Finding[] {
  const validate = compiled.get(`${kind}/${version}`);
  if (validate === undefined)
    return [{ code: 'VersionNotServed', field: 'apiVersion', message: `${version} is not served` }];
  if (validate(object)) return [];
  const errors = validate.errors ?? [];
  // anyOf reports each failed branch and then itself; the branches alone say nothing useful.
  const anyOfPaths = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  const findings = errors
    .filter((e) => e.keyword === 'anyOf' || ![...anyOfPaths].some((p) => within(e.instancePath, p)))
    .map((e) => (e.keyword === 'anyOf' ? anyOfFinding(kind, e) : toFinding(e)));
  return findings.slice(0, MAX_REPORTED);
}

function within(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(`${prefix}/`);
}

function isNegative(v: unknown): boolean {
  return (typeof v === 'number' && v < 0) || (typeof v === 'string' && v.trim().startsWith('-'));
}

function anyOfFinding(kind: SmiKind, e: ErrorObject): Finding {
  const field = fieldPath(e.instancePath);
  if (e.instancePath.endsWith('/weight')) {
    if (isNegative(e.data))
      return { code: 'NegativeWeight', field, message: `${JSON.stringify(e.data)} is negative` };
    return {
      code: 'InvalidWeight',
      field,
      message: 'must be a non-negative integer or a Kubernetes Quantity such as "500m"',
    };
  }
  if (e.instancePath.endsWith('/headers')) {
    return {
      code: 'InvalidHeaders',
      field,
      message: 'must be a map of header name to regex, or a list of one-key maps',
    };
  }
  return { code: 'SchemaViolation', field, message: `does not match the ${kind} schema` };
}
