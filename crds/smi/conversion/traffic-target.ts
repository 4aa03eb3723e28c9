// TrafficTarget: v1alpha1 (top-level fields, `specs`, string ports) and v1alpha2 (integer ports) to and from
// the storage version v1alpha3, which has no ports.
import { isObject, omit } from './json.ts';
import { IDENTITY_MAPPING, type VersionMapping } from './version-mapping.ts';

/** Ports as older versions wrote them; numbers when the text is a plain decimal, else the text. */
interface OriginalPorts {
  ports: { destination?: number | string; sources?: (number | string | null)[] };
}

const PLAIN_DECIMAL = /^(0|[1-9][0-9]{0,8})$/;

function portValue(p: unknown): number | string | undefined {
  if (typeof p === 'number') return p;
  if (typeof p === 'string') return PLAIN_DECIMAL.test(p) ? Number(p) : p;
  return undefined;
}

/** Splits the ports off a destination and its sources. */
function stripPorts(
  destination: unknown,
  sources: unknown,
): {
  destination: unknown;
  sources: unknown;
  originalOnly?: OriginalPorts;
} {
  const ports: OriginalPorts['ports'] = {};
  let any = false;
  let dest = destination;
  if (isObject(destination) && destination.port !== undefined) {
    ports.destination = portValue(destination.port) ?? String(destination.port);
    dest = omit(destination, 'port');
    any = true;
  }
  let srcs = sources;
  if (Array.isArray(sources) && sources.some((s) => isObject(s) && s.port !== undefined)) {
    ports.sources = sources.map((s) => (isObject(s) ? (portValue(s.port) ?? null) : null));
    srcs = sources.map((s) => (isObject(s) ? omit(s, 'port') : s));
    any = true;
  }
  return any
    ? { destination: dest, sources: srcs, originalOnly: { ports } }
    : { destination: dest, sources: srcs };
}

/** Puts ports back; `asText` for v1alpha1 (string ports), else integers only. */
function restorePorts(
  destination: unknown,
  sources: unknown,
  stash: unknown,
  asText: boolean,
): { destination: unknown; sources: unknown } | undefined {
  if (!isObject(stash) || !isObject(stash.ports)) return undefined;
  const { destination: dp, sources: sp } = stash.ports as OriginalPorts['ports'];
  const spell = (p: number | string): number | string | undefined => {
    if (asText) return typeof p === 'number' ? String(p) : p;
    return typeof p === 'number' ? p : undefined;
  };
  let dest = destination;
  if (dp !== undefined) {
    const p = spell(dp);
    if (p === undefined || !isObject(destination)) return undefined;
    dest = { ...destination, port: p };
  }
  let srcs = sources;
  if (sp !== undefined) {
    if (!Array.isArray(sources) || !Array.isArray(sp) || sp.length !== sources.length) return undefined;
    const out: unknown[] = [];
    for (const [i, s] of sources.entries()) {
      const raw = sp[i];
      if (raw === null || raw === undefined) {
        out.push(s);
        continue;
      }
      const p = spell(raw);
      if (p === undefined || !isObject(s)) return undefined;
      out.push({ ...s, port: p });
    }
    srcs = out;
  }
  return { destination: dest, sources: srcs };
}

function defined(entries: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(entries).filter(([, v]) => v !== undefined));
}

const v1alpha2: VersionMapping = {
  project: (hub) => ({ object: hub }),
  embed(object) {
    if (!isObject(object.spec)) return { object };
    const s = stripPorts(object.spec.destination, object.spec.sources);
    const spec = defined({ ...object.spec, destination: s.destination, sources: s.sources });
    return { object: { ...object, spec }, originalOnly: s.originalOnly };
  },
  restoreOriginal(object, stash) {
    if (!isObject(object.spec)) return undefined;
    const r = restorePorts(object.spec.destination, object.spec.sources, stash, false);
    if (r === undefined) return undefined;
    return { ...object, spec: defined({ ...object.spec, destination: r.destination, sources: r.sources }) };
  },
};

const v1alpha1: VersionMapping = {
  project(hub) {
    const spec = isObject(hub.spec) ? hub.spec : {};
    const { rules, ...rest } = spec;
    return { object: defined({ ...omit(hub, 'spec'), ...rest, specs: rules }) };
  },
  embed(object) {
    const { destination, sources, specs, ...top } = object;
    const s = stripPorts(destination, sources);
    const spec = defined({ destination: s.destination, sources: s.sources, rules: specs });
    const hub = Object.keys(spec).length === 0 ? top : { ...top, spec };
    return { object: hub, originalOnly: s.originalOnly };
  },
  restoreOriginal(object, stash) {
    const r = restorePorts(object.destination, object.sources, stash, true);
    if (r === undefined) return undefined;
    return defined({ ...object, destination: r.destination, sources: r.sources });
  },
};

export const TRAFFIC_TARGET_MAPPINGS: Record<string, VersionMapping> = {
  v1alpha1,
  v1alpha2,
  v1alpha3: IDENTITY_MAPPING,
};
