// Validation of any SMI object in any served version: the version's JSON Schema, then the semantic rules on
// the storage version, with every finding's path given in the client's version. Pure; references to other
// objects are listed for an optional lookup (see references.ts).
import { convertSmiObject, splitApiVersion } from '../conversion/convert.ts';
import { normaliseQuantityWeights } from '../conversion/quantity.ts';
import { type SmiKind, smiKindInfo } from '../kinds.ts';
import type { HTTPRouteGroupV1alpha4, TCPRouteV1alpha4 } from '../types/traffic-specs.ts';
import type { TrafficSplitV1alpha4 } from '../types/traffic-split.ts';
import type { TrafficTargetV1alpha3 } from '../types/traffic-target.ts';
import { pathInVersion } from './field-paths.ts';
import { at, type Finding, type ObjectIdentity } from './findings.ts';
import { checkReferences, type Reference, type ReferenceLookup } from './references.ts';
import { httpRouteGroupRules, l4RouteRules } from './route-rules.ts';
import { checkSchema } from './schema-check.ts';
import { trafficSplitRules } from './traffic-split-rules.ts';
import { trafficTargetRules } from './traffic-target-rules.ts';

export interface SmiValidation {
  object: ObjectIdentity;
  /** Non-empty: refuse the object. */
  denials: Finding[];
  /** Legal but suspicious: admit with these warnings. */
  warnings: Finding[];
  /** Other objects this one names; missing ones become warnings through a lookup. */
  references: Reference[];
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function identify(object: Json, namespace: string | undefined): ObjectIdentity {
  const meta = isObject(object.metadata) ? object.metadata : {};
  const ns = typeof meta.namespace === 'string' ? meta.namespace : namespace;
  return {
    kind: typeof object.kind === 'string' ? object.kind : '<no kind>',
    ...(ns !== undefined ? { namespace: ns } : {}),
    ...(typeof meta.name === 'string' ? { name: meta.name } : {}),
  };
}

const V1ALPHA1_PORT = /^[1-9][0-9]{0,4}$/;

/** Checks only a version can fail, before conversion normalises them away. */
function versionChecks(kind: SmiKind, version: string, object: Json): Finding[] {
  const out: Finding[] = [];
  if (kind === 'TrafficSplit' && version === 'v1alpha1') {
    const backends = (object.spec as { backends: Json[] }).backends;
    const n = normaliseQuantityWeights(backends.map((b) => b.weight));
    if (!n.ok) {
      const code = n.reason === 'weight is negative' ? 'NegativeWeight' : 'InvalidWeight';
      out.push({ code, field: at(at('spec.backends', n.index), 'weight'), message: n.reason });
    }
  }
  if (kind === 'TrafficTarget' && version === 'v1alpha1') {
    const subjects: [unknown, string][] = [[object.destination, 'destination']];
    if (Array.isArray(object.sources))
      for (const [i, s] of object.sources.entries()) subjects.push([s, at('sources', i)]);
    for (const [s, field] of subjects) {
      const p = isObject(s) ? s.port : undefined;
      if (typeof p === 'string' && !(V1ALPHA1_PORT.test(p) && Number(p) <= 65535)) {
        out.push({
          code: 'PortOutOfRange',
          field: at(field, 'port'),
          message: `"${p}" is not a port (1..65535)`,
        });
      }
    }
  }
  return out;
}

function storageRules(kind: SmiKind, hub: Json, namespace: string): Omit<SmiValidation, 'object'> {
  switch (kind) {
    case 'TrafficSplit':
      return trafficSplitRules(hub as unknown as TrafficSplitV1alpha4, namespace);
    case 'TrafficTarget':
      return trafficTargetRules(hub as unknown as TrafficTargetV1alpha3, namespace);
    case 'HTTPRouteGroup':
      return { ...httpRouteGroupRules(hub as unknown as HTTPRouteGroupV1alpha4), references: [] };
    case 'TCPRoute':
    case 'UDPRoute':
      return { ...l4RouteRules((hub as unknown as TCPRouteV1alpha4).spec), references: [] };
  }
}

/**
 * Validates an SMI object of any served version. `namespace` is the request's namespace, used when the
 * object does not carry one (a create with generateName, or a test).
 */
export function validateSmiObject(object: unknown, namespace?: string): SmiValidation {
  if (!isObject(object) || typeof object.apiVersion !== 'string' || typeof object.kind !== 'string') {
    return {
      object: { kind: '<unknown>' },
      denials: [{ code: 'NotAnObject', field: '', message: 'must be an object with apiVersion and kind' }],
      warnings: [],
      references: [],
    };
  }
  const id = identify(object, namespace);
  const { group, version } = splitApiVersion(object.apiVersion);
  const info = smiKindInfo(group, object.kind);
  const none = { warnings: [], references: [] };
  if (info === undefined) {
    return {
      object: id,
      denials: [
        {
          code: 'NotAnSmiKind',
          field: 'kind',
          message: `${object.apiVersion} ${object.kind} is not an SMI kind Weft serves`,
        },
      ],
      ...none,
    };
  }
  const schemaFindings = checkSchema(info.kind, version, object);
  if (schemaFindings.length > 0) return { object: id, denials: schemaFindings, ...none };
  const early = versionChecks(info.kind, version, object);
  if (early.length > 0) return { object: id, denials: early, ...none };
  const hub = convertSmiObject(object, `${info.group}/${info.storageVersion}`);
  if (!hub.ok)
    return { object: id, denials: [{ code: 'NotConvertible', field: '', message: hub.message }], ...none };
  const r = storageRules(info.kind, hub.object, id.namespace ?? 'default');
  const path = (p: string) => pathInVersion(info.kind, version, p);
  const translate = (f: Finding): Finding => ({ ...f, field: path(f.field) });
  return {
    object: id,
    denials: r.denials.map(translate),
    warnings: r.warnings.map(translate),
    references: r.references.map((ref) => ({
      ...ref,
      field: path(ref.field),
      ...(ref.matchNames ? { matchNames: ref.matchNames.map((m) => ({ ...m, field: path(m.field) })) } : {}),
    })),
  };
}

/** validateSmiObject plus warnings for references the lookup reports missing (only for admitted objects). */
export async function validateSmiObjectWithLookup(
  object: unknown,
  lookup: ReferenceLookup | undefined,
  namespace?: string,
): Promise<SmiValidation> {
  const v = validateSmiObject(object, namespace);
  if (lookup === undefined || v.denials.length > 0 || v.references.length === 0) return v;
  return { ...v, warnings: [...v.warnings, ...(await checkReferences(v.references, lookup))] };
}
