// What the injector needs to know about the installed mesh. The installer renders it into the
// webhook's configuration; `weft inject` takes the same document (or these defaults).

export interface ResourceList {
  cpu?: string;
  memory?: string;
}

export interface MeshConfig {
  /** Version written into the pod's weft.dev/proxy-version annotation. */
  proxyVersion: string;
  proxyImage: string;
  proxyInitImage: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  /** Namespace the mesh runs in: its pods are never injected. */
  meshNamespace: string;
  /** host:port of the operator's identity and config endpoint. */
  controlPlaneAddress: string;
  trustDomain: string;
  /**
   * PEM bundle the proxy trusts before it has anything else, to verify the operator. Set at injection
   * time (like Linkerd's trust-anchor env); after that, rotations reach running proxies in their config.
   */
  trustAnchorsPem: string;
  /** SPIFFE ID of the operator's serving certificate. */
  controlPlaneIdentity: string;
  /** Audience of the projected ServiceAccount token the proxy presents with its CSR. */
  identityAudience: string;
  tokenExpirationSeconds: number;
  proxyUid: number;
  ports: { outbound: number; inbound: number; admin: number };
  policyMode: 'permissive' | 'enforcing';
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  /** Opaque ports appended to the proxy's own defaults. */
  opaquePorts: number[];
  resources: { requests: ResourceList; limits: ResourceList };
  /**
   * Native sidecars (an init container with restartPolicy Always; Kubernetes >= 1.29 by default).
   * false injects a classic sidecar container, for older clusters.
   */
  nativeSidecar: boolean;
}

export const DEFAULT_MESH_CONFIG: MeshConfig = {
  proxyVersion: 'dev',
  proxyImage: 'weft.local/proxy:dev',
  proxyInitImage: 'weft.local/proxy-init:dev',
  imagePullPolicy: 'IfNotPresent',
  meshNamespace: 'weft-system',
  controlPlaneAddress: 'weft-operator.weft-system.svc:15012',
  trustDomain: 'cluster.local',
  trustAnchorsPem: '',
  controlPlaneIdentity: 'spiffe://cluster.local/ns/weft-system/sa/weft-operator',
  identityAudience: 'weft.dev/identity',
  tokenExpirationSeconds: 3600,
  proxyUid: 2102,
  ports: { outbound: 15101, inbound: 15106, admin: 15190 },
  policyMode: 'permissive',
  logLevel: 'info',
  opaquePorts: [],
  resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '256Mi' } },
  nativeSidecar: true,
};
