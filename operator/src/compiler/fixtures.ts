// Builders of cluster records for compiler tests (pure data, no fakes of behaviour).
import type {
  HTTPRouteGroup,
  TCPRoute,
  TrafficSplit,
  TrafficTarget,
  UDPRoute,
} from '../../../crds/smi/index.ts';
import {
  type ClusterSnapshot,
  DEFAULT_MESH_SETTINGS,
  type EndpointSliceRecord,
  emptySnapshot,
  type MeshSettings,
  type NamespaceRecord,
  type PodRecord,
  type ServiceRecord,
} from '../model/cluster.ts';

export const ANCHOR =
  '-----BEGIN CERTIFICATE-----\nMIIBhTCCASugAwIBAgIQIRi6zePL6mKjOipn+dNuaTAKBggqhkjOPQQDAjASMRAw\n-----END CERTIFICATE-----\n';

export function settings(over: Partial<MeshSettings> = {}): MeshSettings {
  return { ...DEFAULT_MESH_SETTINGS, trustAnchors: [ANCHOR], ...over };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends ReadonlyMap<infer A, infer B> ? Map<A, B> : T[K] };
export type MutableSnapshot = Mutable<ClusterSnapshot>;

export function snapshot(s: MeshSettings = settings()): MutableSnapshot {
  return emptySnapshot(s) as MutableSnapshot;
}

export function namespace(name: string, inject = true): NamespaceRecord {
  return { name, uid: `uid-${name}`, annotations: inject ? { 'weft.dev/inject': 'enabled' } : {} };
}

export function service(ns: string, name: string, ip: string, ports: number[] = [80]): ServiceRecord {
  return {
    namespace: ns,
    name,
    clusterIPs: [ip],
    ports: ports.map((port) => ({ name: `p${port}`, port, protocol: 'TCP', appProtocol: null })),
    externalName: false,
    uid: `uid-${ns}-${name}`,
    annotations: {},
  };
}

/** An EndpointSlice for `svc` with one endpoint per pod (`[podName, ip]`), target port = service port + 8000. */
export function slice(svc: ServiceRecord, pods: [string, string][]): EndpointSliceRecord {
  return {
    namespace: svc.namespace,
    name: `${svc.name}-abc`,
    serviceName: svc.name,
    addressType: 'IPv4',
    ports: svc.ports.map((p) => ({ name: p.name, port: p.port + 8000, protocol: 'TCP' })),
    endpoints: pods.map(([podName, ip]) => ({ addresses: [ip], ready: true, zone: null, podName })),
  };
}

/** Puts Service `name` (10.96.0.99) into `s` with `count` endpoints in one slice, 10.100.0.0 upwards. */
export function crowdedService(s: MutableSnapshot, ns: string, name: string, count: number): ServiceRecord {
  const svc = service(ns, name, '10.96.0.99');
  put(s.services, svc);
  const pods: [string, string][] = [];
  for (let i = 0; i < count; i++) pods.push([`p${i}`, `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`]);
  put(s.endpointSlices, slice(svc, pods));
  return svc;
}

export function pod(ns: string, name: string, sa: string, ip: string, ports: number[] = [8080]): PodRecord {
  return {
    namespace: ns,
    name,
    uid: `uid-${ns}-${name}`,
    serviceAccountName: sa,
    podIPs: [ip],
    annotations: {},
    labels: {},
    containerPorts: ports.map((port) => ({ port, protocol: 'TCP' })),
    probes: [],
    meshed: true,
    terminated: false,
    hostNetwork: false,
  };
}

export function split(
  ns: string,
  name: string,
  root: string,
  backends: [string, number][],
  matches?: string[],
): TrafficSplit {
  return {
    apiVersion: 'split.smi-spec.io/v1alpha4',
    kind: 'TrafficSplit',
    metadata: { namespace: ns, name, generation: 1 },
    spec: {
      service: root,
      backends: backends.map(([service, weight]) => ({ service, weight })),
      ...(matches === undefined
        ? {}
        : { matches: matches.map((m) => ({ kind: 'HTTPRouteGroup', name: m })) }),
    },
  };
}

export function target(
  ns: string,
  name: string,
  dest: string,
  sources: string[],
  rules: TrafficTarget['spec']['rules'],
): TrafficTarget {
  return {
    apiVersion: 'access.smi-spec.io/v1alpha3',
    kind: 'TrafficTarget',
    metadata: { namespace: ns, name, generation: 1 },
    spec: {
      destination: { kind: 'ServiceAccount', name: dest, namespace: ns },
      sources: sources.map((s) => ({ kind: 'ServiceAccount', name: s, namespace: ns })),
      ...(rules === undefined ? {} : { rules }),
    },
  };
}

export function routeGroup(
  ns: string,
  name: string,
  matches: NonNullable<HTTPRouteGroup['spec']>['matches'],
): HTTPRouteGroup {
  return {
    apiVersion: 'specs.smi-spec.io/v1alpha4',
    kind: 'HTTPRouteGroup',
    metadata: { namespace: ns, name },
    spec: { matches },
  };
}

export function tcpRoute(ns: string, name: string, ports?: number[]): TCPRoute {
  return { ...l4Route(ns, name, ports), kind: 'TCPRoute' };
}

export function udpRoute(ns: string, name: string, ports?: number[]): UDPRoute {
  return { ...l4Route(ns, name, ports), kind: 'UDPRoute' };
}

function l4Route(ns: string, name: string, ports: number[] | undefined) {
  return {
    apiVersion: 'specs.smi-spec.io/v1alpha4' as const,
    metadata: { namespace: ns, name },
    spec: ports === undefined ? {} : { matches: { ports } },
  };
}

export function put<V>(
  m: Map<string, V>,
  v: V & ({ namespace: string; name: string } | { metadata: { namespace?: string; name?: string } }),
): void {
  const meta = 'metadata' in v ? v.metadata : v;
  m.set(`${meta.namespace}/${meta.name}`, v);
}

/** A small shop: frontend calls checkout, split into v1/v2, with a TrafficTarget frontend -> checkout. */
/** The shop's checkout split: 90 to checkout-v1, 10 to checkout-v2. */
export const SHOP_WEIGHTS: [string, number][] = [
  ['checkout-v1', 90],
  ['checkout-v2', 10],
];

export function shop(): MutableSnapshot {
  const s = snapshot();
  s.namespaces.set('shop', namespace('shop'));
  const checkout = service('shop', 'checkout', '10.96.0.10', [80]);
  const v1 = service('shop', 'checkout-v1', '10.96.0.11', [80]);
  const v2 = service('shop', 'checkout-v2', '10.96.0.12', [80]);
  const frontend = service('shop', 'frontend', '10.96.0.20', [80]);
  for (const svc of [checkout, v1, v2, frontend]) put(s.services, svc);
  put(
    s.endpointSlices,
    slice(checkout, [
      ['checkout-1', '10.244.0.11'],
      ['checkout-2', '10.244.0.12'],
    ]),
  );
  put(s.endpointSlices, slice(v1, [['checkout-1', '10.244.0.11']]));
  put(s.endpointSlices, slice(v2, [['checkout-2', '10.244.0.12']]));
  put(s.endpointSlices, slice(frontend, [['frontend-1', '10.244.0.20']]));
  put(s.pods, pod('shop', 'checkout-1', 'checkout', '10.244.0.11', [8080]));
  put(s.pods, pod('shop', 'checkout-2', 'checkout', '10.244.0.12', [8080]));
  put(s.pods, pod('shop', 'frontend-1', 'frontend', '10.244.0.20', [8080]));
  for (const sa of ['checkout', 'frontend'])
    s.serviceAccounts.set(`shop/${sa}`, { namespace: 'shop', name: sa });
  put(s.trafficSplits, split('shop', 'checkout', 'checkout', SHOP_WEIGHTS));
  put(
    s.trafficTargets,
    target('shop', 'frontend-to-checkout', 'checkout', ['frontend'], [{ kind: 'TCPRoute', name: 'all' }]),
  );
  put(s.tcpRoutes, tcpRoute('shop', 'all'));
  return s;
}

/**
 * `count` services svc0, svc1, ... in `ns`, each with one endpoint (pod p<i>): a mesh sized by its number of
 * services, as the config-stream tests use. IPs from i: the service's from 10.96.0.0 on, the pod's 10.244.x.y.
 */
export function manyServices(s: MutableSnapshot, ns: string, count: number): void {
  for (let i = 0; i < count; i++) {
    const svc = service(ns, `svc${i}`, `10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`);
    put(s.services, svc);
    put(s.endpointSlices, slice(svc, [[`p${i}`, `10.244.${(i >> 8) & 255}.${i & 255}`]]));
  }
}

/** The TrafficSplit `root` of svc0 in `ns`, weight w to svc0 and 100 - w to svc1 (see manyServices). */
export function rootSplit(s: MutableSnapshot, ns: string, w: number): void {
  put(
    s.trafficSplits,
    split(ns, 'root', 'svc0', [
      ['svc0', w],
      ['svc1', 100 - w],
    ]),
  );
}
