// config.weft.dev/* overrides: read from the pod, else the namespace, parsed strictly. Every problem
// names the object and the annotation so `kubectl apply` shows the user exactly what to fix.
import {
  CONFIG_KEYS,
  CONFIG_PREFIX,
  type ConfigKey,
  OPAQUE_PORTS,
  POLICY_MODE,
  PROXY_CPU_LIMIT,
  PROXY_CPU_REQUEST,
  PROXY_LOG_LEVEL,
  PROXY_MEMORY_LIMIT,
  PROXY_MEMORY_REQUEST,
  SKIP_INBOUND_PORTS,
  SKIP_INBOUND_SUBNETS,
  SKIP_OUTBOUND_PORTS,
  SKIP_OUTBOUND_SUBNETS,
} from '../../../crds/annotations.ts';
import { type ListResult, type PortRange, parsePortRanges, parseSubnets } from '../../../crds/net-lists.ts';
import type { MeshConfig } from './mesh-config.ts';

export interface Overrides {
  skipInboundPorts: PortRange[];
  skipOutboundPorts: PortRange[];
  skipInboundSubnets: string[];
  skipOutboundSubnets: string[];
  opaquePorts: number[];
  resources: MeshConfig['resources'];
  logLevel: MeshConfig['logLevel'];
  policyMode: MeshConfig['policyMode'];
}

export interface OverrideProblem {
  /** e.g. `metadata.annotations["config.weft.dev/skip-inbound-ports"]` on the pod or the namespace. */
  field: string;
  object: 'pod' | 'namespace';
  message: string;
}

type Annotations = Readonly<Record<string, string>> | undefined;

const LOG_LEVELS: readonly MeshConfig['logLevel'][] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];
const POLICY_MODES: readonly MeshConfig['policyMode'][] = ['permissive', 'enforcing'];
// Kubernetes resource.Quantity, as the apiserver accepts it.
const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)(([KMGTPE]i)|[numkMGTPE]|[eE][+-]?\d+)?$/;

/** Pod value, else namespace value, with where it came from. */
function lookup(
  key: ConfigKey,
  pod: Annotations,
  namespace: Annotations,
): { value: string; object: 'pod' | 'namespace' } | undefined {
  const fromPod = pod?.[key];
  if (fromPod !== undefined) return { value: fromPod, object: 'pod' };
  const fromNs = namespace?.[key];
  if (fromNs !== undefined) return { value: fromNs, object: 'namespace' };
  return undefined;
}

export function readOverrides(
  podAnnotations: Annotations,
  namespaceAnnotations: Annotations,
  mesh: MeshConfig,
): { overrides: Overrides; problems: OverrideProblem[] } {
  const problems: OverrideProblem[] = [];
  const field = (key: string) => `metadata.annotations["${key}"]`;
  const report = (key: string, object: 'pod' | 'namespace', message: string) =>
    problems.push({ field: field(key), object, message });

  for (const [object, annotations] of [
    ['pod', podAnnotations],
    ['namespace', namespaceAnnotations],
  ] as const) {
    for (const key of Object.keys(annotations ?? {})) {
      if (key.startsWith(`${CONFIG_PREFIX}/`) && !(CONFIG_KEYS as readonly string[]).includes(key)) {
        report(key, object, `unknown Weft annotation; known: ${CONFIG_KEYS.join(', ')}`);
      }
    }
  }

  // Lists parse to their values or to an error message; enums must be one of their values.
  const parsed = <T>(key: ConfigKey, parse: (value: string) => ListResult<T>, fallback: T[]): T[] => {
    const found = lookup(key, podAnnotations, namespaceAnnotations);
    if (found === undefined) return fallback;
    const result = parse(found.value);
    if (result.ok) return result.value;
    report(key, found.object, result.error);
    return fallback;
  };
  const enumValue = <T extends string>(key: ConfigKey, allowed: readonly T[], fallback: T): T => {
    const found = lookup(key, podAnnotations, namespaceAnnotations);
    if (found === undefined) return fallback;
    if ((allowed as readonly string[]).includes(found.value)) return found.value as T;
    report(key, found.object, `"${found.value}" must be one of ${allowed.join(', ')}`);
    return fallback;
  };
  const quantity = (key: ConfigKey, fallback: string | undefined): string | undefined => {
    const found = lookup(key, podAnnotations, namespaceAnnotations);
    if (found === undefined) return fallback;
    if (!QUANTITY.test(found.value)) {
      report(key, found.object, `"${found.value}" is not a Kubernetes quantity such as 100m, 0.5 or 64Mi`);
      return fallback;
    }
    return found.value;
  };

  const opaque = parsed(OPAQUE_PORTS, parsePortRanges, [] as PortRange[]);
  const opaquePorts: number[] = [...mesh.opaquePorts];
  for (const r of opaque) {
    if (r.to - r.from > 1024) {
      const found = lookup(OPAQUE_PORTS, podAnnotations, namespaceAnnotations);
      report(OPAQUE_PORTS, found?.object ?? 'pod', `range ${r.from}-${r.to} is wider than 1024 ports`);
      continue;
    }
    for (let p = r.from; p <= r.to; p++) if (!opaquePorts.includes(p)) opaquePorts.push(p);
  }

  const resource = (
    requestKey: ConfigKey,
    limitKey: ConfigKey,
    name: 'cpu' | 'memory',
  ): { request?: string; limit?: string } => {
    const out: { request?: string; limit?: string } = {};
    const request = quantity(requestKey, mesh.resources.requests[name]);
    const limit = quantity(limitKey, mesh.resources.limits[name]);
    if (request !== undefined) out.request = request;
    if (limit !== undefined) out.limit = limit;
    return out;
  };
  const cpu = resource(PROXY_CPU_REQUEST, PROXY_CPU_LIMIT, 'cpu');
  const memory = resource(PROXY_MEMORY_REQUEST, PROXY_MEMORY_LIMIT, 'memory');
  const requests: MeshConfig['resources']['requests'] = {};
  const limits: MeshConfig['resources']['limits'] = {};
  if (cpu.request !== undefined) requests.cpu = cpu.request;
  if (memory.request !== undefined) requests.memory = memory.request;
  if (cpu.limit !== undefined) limits.cpu = cpu.limit;
  if (memory.limit !== undefined) limits.memory = memory.limit;

  return {
    overrides: {
      skipInboundPorts: parsed(SKIP_INBOUND_PORTS, parsePortRanges, [] as PortRange[]),
      skipOutboundPorts: parsed(SKIP_OUTBOUND_PORTS, parsePortRanges, [] as PortRange[]),
      skipInboundSubnets: parsed(SKIP_INBOUND_SUBNETS, parseSubnets, [] as string[]),
      skipOutboundSubnets: parsed(SKIP_OUTBOUND_SUBNETS, parseSubnets, [] as string[]),
      opaquePorts: opaquePorts.sort((a, b) => a - b),
      resources: { requests, limits },
      logLevel: enumValue(PROXY_LOG_LEVEL, LOG_LEVELS, mesh.logLevel),
      policyMode: enumValue(POLICY_MODE, POLICY_MODES, mesh.policyMode),
    },
    problems,
  };
}
