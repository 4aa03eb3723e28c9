// The cluster state the compiler reads: plain, immutable records made from Kubernetes objects by the kube layer
// (operator/src/kube/convert.ts). An update replaces a record, it never mutates one: the compiler memoizes on
// record identity.
import type {
  HTTPRouteGroup,
  TCPRoute,
  TrafficSplit,
  TrafficTarget,
  UDPRoute,
} from '../../../crds/smi/index.ts';

export type L4Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface NamespaceRecord {
  name: string;
  /** metadata.uid: Events on the namespace name it, so that `kubectl describe` finds them. */
  uid: string;
  annotations: Readonly<Record<string, string>>;
}

export interface ServicePortRecord {
  name: string | null;
  port: number;
  protocol: L4Protocol;
  appProtocol: string | null;
}

export interface ServiceRecord {
  namespace: string;
  name: string;
  /** Empty for headless services. */
  clusterIPs: readonly string[];
  ports: readonly ServicePortRecord[];
  /** ExternalName services have no endpoints and are not part of the mesh. */
  externalName: boolean;
  /** metadata.uid, for Events (see NamespaceRecord.uid). */
  uid: string;
  annotations: Readonly<Record<string, string>>;
}

export interface EndpointRecord {
  addresses: readonly string[];
  ready: boolean;
  zone: string | null;
  /** The pod behind the endpoint, when the targetRef is a Pod. */
  podName: string | null;
}

export interface EndpointSliceRecord {
  namespace: string;
  name: string;
  /** Label kubernetes.io/service-name. */
  serviceName: string;
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  ports: readonly { name: string | null; port: number; protocol: L4Protocol }[];
  endpoints: readonly EndpointRecord[];
}

export interface ContainerPortRecord {
  port: number;
  protocol: L4Protocol;
}

/**
 * A kubelet probe of an app container that reaches the pod over the network, with its port resolved to a
 * number. Exec and gRPC probes, and HTTP probes with a `host` (kubelet connects elsewhere) are not recorded.
 */
export type ProbeRecord =
  | { kind: 'http'; port: number; path: string; scheme: 'HTTP' | 'HTTPS' }
  | { kind: 'tcp'; port: number };

export interface PodRecord {
  namespace: string;
  name: string;
  uid: string;
  serviceAccountName: string;
  podIPs: readonly string[];
  annotations: Readonly<Record<string, string>>;
  labels: Readonly<Record<string, string>>;
  containerPorts: readonly ContainerPortRecord[];
  /** Liveness, readiness and startup probes of every container, in container order, without duplicates. */
  probes: readonly ProbeRecord[];
  /** Whether the pod runs a Weft proxy (injected), and so needs a config. */
  meshed: boolean;
  /**
   * Phase Succeeded or Failed: its containers will not run again. Only this, not the phase itself, so that the
   * usual Pending -> Running update still yields an equal record (and no recompile).
   */
  terminated: boolean;
  /** Shares its node's network namespace: never meshed (the injector skips it, reason HostNetwork). */
  hostNetwork: boolean;
}

export interface ServiceAccountRecord {
  namespace: string;
  name: string;
}

/** Mesh-wide settings the compiler needs; from the operator's flags and the CA. */
export interface MeshSettings {
  trustDomain: string;
  clusterDomain: string;
  /** PEM; empty means plaintext (only with the permissive default). */
  trustAnchors: readonly string[];
  defaultPolicyMode: 'permissive' | 'enforcing';
  outboundPort: number;
  inboundPort: number;
  adminPort: number;
}

export const DEFAULT_MESH_SETTINGS: Omit<MeshSettings, 'trustAnchors'> = {
  trustDomain: 'cluster.local',
  clusterDomain: 'cluster.local',
  defaultPolicyMode: 'permissive',
  outboundPort: 15101,
  inboundPort: 15106,
  adminPort: 15190,
};

/** Everything the compiler reads, keyed `<namespace>/<name>` (namespaces by name). */
export interface ClusterSnapshot {
  settings: MeshSettings;
  namespaces: ReadonlyMap<string, NamespaceRecord>;
  services: ReadonlyMap<string, ServiceRecord>;
  endpointSlices: ReadonlyMap<string, EndpointSliceRecord>;
  pods: ReadonlyMap<string, PodRecord>;
  serviceAccounts: ReadonlyMap<string, ServiceAccountRecord>;
  trafficSplits: ReadonlyMap<string, TrafficSplit>;
  trafficTargets: ReadonlyMap<string, TrafficTarget>;
  httpRouteGroups: ReadonlyMap<string, HTTPRouteGroup>;
  tcpRoutes: ReadonlyMap<string, TCPRoute>;
  udpRoutes: ReadonlyMap<string, UDPRoute>;
}

export function emptySnapshot(settings: MeshSettings): ClusterSnapshot {
  return {
    settings,
    namespaces: new Map(),
    services: new Map(),
    endpointSlices: new Map(),
    pods: new Map(),
    serviceAccounts: new Map(),
    trafficSplits: new Map(),
    trafficTargets: new Map(),
    httpRouteGroups: new Map(),
    tcpRoutes: new Map(),
    udpRoutes: new Map(),
  };
}

export const key = (namespace: string, name: string): string => `${namespace}/${name}`;
