// Conversion of any SMI object to any served version of its kind, through the storage version. Pure.
import { SMI_KIND_INFO, type SmiKind, smiKindInfo } from '../kinds.ts';
import { HTTP_ROUTE_GROUP_MAPPINGS } from './http-route-group.ts';
import { isObject, type JsonObject } from './json.ts';
import { TCP_ROUTE_MAPPINGS } from './tcp-route.ts';
import { TRAFFIC_SPLIT_MAPPINGS } from './traffic-split.ts';
import { TRAFFIC_TARGET_MAPPINGS } from './traffic-target.ts';
import { ConversionError, fromHub, IDENTITY_MAPPING, toHub, type VersionMapping } from './version-mapping.ts';

const MAPPINGS: Record<SmiKind, Record<string, VersionMapping>> = {
  TrafficSplit: TRAFFIC_SPLIT_MAPPINGS,
  TrafficTarget: TRAFFIC_TARGET_MAPPINGS,
  HTTPRouteGroup: HTTP_ROUTE_GROUP_MAPPINGS,
  TCPRoute: TCP_ROUTE_MAPPINGS,
  UDPRoute: { v1alpha4: IDENTITY_MAPPING },
};

export type ConversionResult = { ok: true; object: JsonObject } | { ok: false; message: string };

/** Splits "group/version". */
export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.lastIndexOf('/');
  return slash < 0
    ? { group: '', version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

function describe(o: JsonObject): string {
  const meta = isObject(o.metadata) ? o.metadata : {};
  const ns = typeof meta.namespace === 'string' ? `${meta.namespace}/` : '';
  return `${String(o.kind)} ${ns}${String(meta.name ?? '<unnamed>')}`;
}

/**
 * Converts `object` (any served version of an SMI kind) to `desiredApiVersion` of the same group. Never
 * throws: an object that cannot be converted gives a message naming the object and the field.
 */
export function convertSmiObject(object: unknown, desiredApiVersion: string): ConversionResult {
  if (!isObject(object) || typeof object.apiVersion !== 'string' || typeof object.kind !== 'string') {
    return { ok: false, message: 'object has no apiVersion and kind' };
  }
  const from = splitApiVersion(object.apiVersion);
  const to = splitApiVersion(desiredApiVersion);
  const info = smiKindInfo(from.group, object.kind);
  if (info === undefined)
    return { ok: false, message: `${object.apiVersion} ${object.kind} is not an SMI kind Weft serves` };
  if (to.group !== from.group) {
    return {
      ok: false,
      message: `${describe(object)}: cannot convert from group ${from.group} to ${to.group}`,
    };
  }
  const mappings = MAPPINGS[info.kind];
  const source = mappings[from.version];
  const target = mappings[to.version];
  if (source === undefined || target === undefined) {
    const bad = source === undefined ? from.version : to.version;
    return {
      ok: false,
      message: `${describe(object)}: version ${bad} is not served (served: ${info.versions.join(', ')})`,
    };
  }
  if (from.version === to.version) return { ok: true, object };
  try {
    const hub = { ...toHub(source, object), apiVersion: `${info.group}/${info.storageVersion}` };
    const converted = { ...fromHub(target, hub), apiVersion: desiredApiVersion };
    return { ok: true, object: converted };
  } catch (e) {
    if (e instanceof ConversionError)
      return { ok: false, message: `${describe(object)}: ${e.field}: ${e.message}` };
    return { ok: false, message: `${describe(object)}: conversion failed: ${(e as Error).message}` };
  }
}

/** Every served apiVersion of a kind, storage version last. */
export function servedApiVersions(kind: SmiKind): string[] {
  const info = SMI_KIND_INFO[kind];
  return info.versions.map((v) => `${info.group}/${v}`);
}
