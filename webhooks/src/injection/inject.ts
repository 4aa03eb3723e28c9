// The injector: a pure function (pod, namespace, mesh config) -> (JSON patch, reason). The mutating
// webhook and `weft inject` both call it; neither adds anything of its own.
import {
  CONTROL_PLANE_LABEL,
  INJECT,
  INJECTED_VERSION,
  MESHED_LABEL,
  WORKLOAD_KIND_LABEL,
  WORKLOAD_NAME_LABEL,
} from '../../../crds/annotations.ts';
import { formatPortRanges } from '../../../crds/net-lists.ts';
import { escapePointer, type JsonPatchOperation } from './json-patch.ts';
import type { MeshConfig } from './mesh-config.ts';
import { type OverrideProblem, type Overrides, readOverrides } from './overrides.ts';

export const PROXY_CONTAINER = 'weft-proxy';
export const INIT_CONTAINER = 'weft-init';
export const TOKEN_VOLUME = 'weft-identity-token';
export const IDENTITY_VOLUME = 'weft-identity';
export const TOKEN_MOUNT_PATH = '/var/run/secrets/weft.dev/token';
export const IDENTITY_MOUNT_PATH = '/var/run/secrets/weft.dev/identity';
/**
 * The proxy image's own command for waiting until the proxy is ready (image layout: node at
 * /usr/local/bin/node, the bundle at /app/proxy.mjs; see proxy-image/Dockerfile and the local recipe).
 */
export const AWAIT_READY_COMMAND = [
  '/usr/local/bin/node',
  '/app/proxy.mjs',
  'await-ready',
  '--timeout-seconds',
  '120',
];

/** Why a pod was or was not injected: constants shared by logs, Events and metrics labels. */
export const InjectReason = {
  Injected: 'Injected',
  NotEnabled: 'NotEnabled',
  Disabled: 'DisabledByAnnotation',
  HostNetwork: 'HostNetwork',
  AlreadyInjected: 'AlreadyInjected',
  MeshPod: 'MeshComponent',
  InvalidOverrides: 'InvalidOverrides',
} as const;
export type InjectReason = (typeof InjectReason)[keyof typeof InjectReason];

// The slices of core/v1 objects the injector reads; callers pass real API objects.
export interface OwnerReference {
  apiVersion?: string;
  kind?: string;
  name?: string;
  uid?: string;
  controller?: boolean;
}

/** The pod's controlling owner (the first owner when none is marked controller), if any. */
export function controllerOf(pod: Pod | undefined): OwnerReference | undefined {
  const owners = pod?.metadata?.ownerReferences ?? [];
  return owners.find((o) => o.controller === true) ?? owners[0];
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  ownerReferences?: OwnerReference[];
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
export interface Container {
  name: string;
  [key: string]: unknown;
}
export interface PodSpec {
  hostNetwork?: boolean;
  initContainers?: Container[];
  containers: Container[];
  volumes?: { name: string; [key: string]: unknown }[];
  serviceAccountName?: string;
  [key: string]: unknown;
}
export interface Pod {
  metadata?: ObjectMeta;
  spec?: PodSpec;
}
export interface Namespace {
  metadata?: ObjectMeta;
}

export interface InjectResult {
  injected: boolean;
  reason: InjectReason;
  /** Human-readable detail for logs and Events. */
  message: string;
  patch: JsonPatchOperation[];
  /** Non-empty only with reason InvalidOverrides: the webhook denies the pod with these. */
  problems: OverrideProblem[];
}

function podLabel(pod: Pod, namespace: Namespace | undefined): string {
  const ns = pod.metadata?.namespace ?? namespace?.metadata?.name ?? '';
  const name = pod.metadata?.name ?? (pod.metadata?.generateName ? `${pod.metadata.generateName}*` : '');
  return ns ? `${ns}/${name}` : name;
}

function skip(reason: InjectReason, message: string): InjectResult {
  return { injected: false, reason, message, patch: [], problems: [] };
}

/**
 * The workload a pod belongs to, from its controller: a ReplicaSet made by a Deployment (its name is the
 * Deployment's plus `-<pod-template-hash>`) counts as the Deployment. Null for bare pods or names too long
 * for a label value.
 */
export function workloadOf(pod: Pod): { kind: string; name: string } | null {
  const owner = controllerOf(pod);
  if (!owner?.kind || !owner.name) return null;
  let { kind, name } = owner as { kind: string; name: string };
  const hash = pod.metadata?.labels?.['pod-template-hash'];
  if (kind === 'ReplicaSet' && hash && name.endsWith(`-${hash}`)) {
    kind = 'Deployment';
    name = name.slice(0, -(hash.length + 1));
  }
  return name.length <= 63 && kind.length <= 63 ? { kind, name } : null;
}

/** The decision alone, before any patch is built. */
export function injectionDecision(
  pod: Pod,
  namespace: Namespace | undefined,
  mesh: MeshConfig,
): { inject: boolean; reason: InjectReason; message: string } {
  const label = podLabel(pod, namespace);
  const all = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  if (all.some((c) => c.name === PROXY_CONTAINER) || pod.metadata?.annotations?.[INJECTED_VERSION]) {
    return {
      inject: false,
      reason: InjectReason.AlreadyInjected,
      message: `pod ${label} already has the proxy`,
    };
  }
  const podValue = pod.metadata?.annotations?.[INJECT];
  const nsValue = namespace?.metadata?.annotations?.[INJECT];
  const value = podValue ?? nsValue;
  const from = podValue !== undefined ? 'pod' : 'namespace';
  if (value === 'disabled') {
    return { inject: false, reason: InjectReason.Disabled, message: `${INJECT}=disabled on the ${from}` };
  }
  if (value !== 'enabled') {
    const detail = value === undefined ? 'not set' : `"${value}" (expected enabled or disabled)`;
    return {
      inject: false,
      reason: InjectReason.NotEnabled,
      message: `${INJECT} ${detail} on pod or namespace`,
    };
  }
  const podNamespace = pod.metadata?.namespace ?? namespace?.metadata?.name;
  if (podNamespace === mesh.meshNamespace || pod.metadata?.labels?.[CONTROL_PLANE_LABEL] !== undefined) {
    return {
      inject: false,
      reason: InjectReason.MeshPod,
      message: `pod ${label} is part of the mesh itself`,
    };
  }
  if (pod.spec?.hostNetwork === true) {
    return {
      inject: false,
      reason: InjectReason.HostNetwork,
      message: `pod ${label} uses the host network; redirecting its traffic would capture the node's`,
    };
  }
  return { inject: true, reason: InjectReason.Injected, message: `injecting the proxy into pod ${label}` };
}

function fieldRef(path: string) {
  return { valueFrom: { fieldRef: { fieldPath: path } } };
}

function restrictiveSecurityContext(uid: number) {
  return {
    runAsUser: uid,
    runAsGroup: uid,
    runAsNonRoot: true,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    privileged: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

export function proxyContainer(mesh: MeshConfig, o: Overrides, native: boolean): Record<string, unknown> {
  const admin = mesh.ports.admin;
  const probe = (path: string, extra: Record<string, number>) => ({
    httpGet: { path, port: admin },
    ...extra,
  });
  const resources: Record<string, unknown> = {};
  if (Object.keys(o.resources.requests).length > 0) resources.requests = o.resources.requests;
  if (Object.keys(o.resources.limits).length > 0) resources.limits = o.resources.limits;
  const container: Record<string, unknown> = {
    name: PROXY_CONTAINER,
    image: mesh.proxyImage,
    imagePullPolicy: mesh.imagePullPolicy,
    args: ['proxy'],
    ports: [{ name: 'weft-admin', containerPort: admin, protocol: 'TCP' }],
    env: [
      { name: 'WEFT_POD_NAME', ...fieldRef('metadata.name') },
      { name: 'WEFT_POD_NAMESPACE', ...fieldRef('metadata.namespace') },
      { name: 'WEFT_POD_UID', ...fieldRef('metadata.uid') },
      { name: 'WEFT_POD_IP', ...fieldRef('status.podIP') },
      { name: 'WEFT_SERVICE_ACCOUNT', ...fieldRef('spec.serviceAccountName') },
      { name: 'WEFT_NODE_NAME', ...fieldRef('spec.nodeName') },
      { name: 'WEFT_CONTROL_PLANE', value: mesh.controlPlaneAddress },
      { name: 'WEFT_TRUST_DOMAIN', value: mesh.trustDomain },
      { name: 'WEFT_CONTROL_PLANE_IDENTITY', value: mesh.controlPlaneIdentity },
      { name: 'WEFT_TRUST_ANCHORS', value: mesh.trustAnchorsPem },
      { name: 'WEFT_TOKEN_PATH', value: `${TOKEN_MOUNT_PATH}/token` },
      { name: 'WEFT_IDENTITY_DIR', value: IDENTITY_MOUNT_PATH },
      { name: 'WEFT_LOG_LEVEL', value: o.logLevel },
      { name: 'WEFT_POLICY_MODE', value: o.policyMode },
      { name: 'WEFT_OUTBOUND_PORT', value: String(mesh.ports.outbound) },
      { name: 'WEFT_INBOUND_PORT', value: String(mesh.ports.inbound) },
      { name: 'WEFT_ADMIN_PORT', value: String(admin) },
      { name: 'WEFT_OPAQUE_PORTS', value: o.opaquePorts.join(',') },
      // A classic sidecar gets SIGTERM with the app, not after it: its listeners stay open through the drain, so
      // the app's own calls while it shuts down still go out (and late inbound requests are still served).
      ...(native ? [] : [{ name: 'WEFT_DRAIN_KEEP_LISTENING', value: 'true' }]),
    ],
    resources,
    volumeMounts: [
      { name: TOKEN_VOLUME, mountPath: TOKEN_MOUNT_PATH, readOnly: true },
      { name: IDENTITY_VOLUME, mountPath: IDENTITY_MOUNT_PATH },
    ],
    // Startup gates the app (native sidecar) until the proxy has a certificate and a config.
    startupProbe: probe('/ready', { periodSeconds: 1, failureThreshold: 120, timeoutSeconds: 1 }),
    readinessProbe: probe('/ready', { periodSeconds: 5, failureThreshold: 3, timeoutSeconds: 1 }),
    livenessProbe: probe('/live', { periodSeconds: 10, failureThreshold: 3, timeoutSeconds: 1 }),
    securityContext: restrictiveSecurityContext(mesh.proxyUid),
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
  if (native) container.restartPolicy = 'Always';
  // Classic sidecar: kubelet starts the next container only after this hook returns, so the app waits
  // for a ready proxy here as it does behind a native sidecar's startup probe.
  else container.lifecycle = { postStart: { exec: { command: AWAIT_READY_COMMAND } } };
  return container;
}

export function initContainer(mesh: MeshConfig, o: Overrides): Record<string, unknown> {
  const args = [
    'init',
    `--outbound-port=${mesh.ports.outbound}`,
    `--inbound-port=${mesh.ports.inbound}`,
    `--proxy-uid=${mesh.proxyUid}`,
    // The admin port is scraped and probed directly, never through the proxy.
    `--skip-inbound-ports=${formatPortRanges([{ from: mesh.ports.admin, to: mesh.ports.admin }, ...o.skipInboundPorts])}`,
  ];
  if (o.skipOutboundPorts.length > 0)
    args.push(`--skip-outbound-ports=${formatPortRanges(o.skipOutboundPorts)}`);
  if (o.skipInboundSubnets.length > 0) args.push(`--skip-inbound-subnets=${o.skipInboundSubnets.join(',')}`);
  if (o.skipOutboundSubnets.length > 0)
    args.push(`--skip-outbound-subnets=${o.skipOutboundSubnets.join(',')}`);
  return {
    name: INIT_CONTAINER,
    image: mesh.proxyInitImage,
    imagePullPolicy: mesh.imagePullPolicy,
    args,
    resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '64Mi' } },
    // iptables needs root and NET_ADMIN/NET_RAW in the pod's network namespace; nothing else.
    securityContext: {
      runAsUser: 0,
      runAsNonRoot: false,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

function volumes(mesh: MeshConfig) {
  return [
    {
      name: TOKEN_VOLUME,
      projected: {
        sources: [
          {
            serviceAccountToken: {
              audience: mesh.identityAudience,
              expirationSeconds: mesh.tokenExpirationSeconds,
              path: 'token',
            },
          },
        ],
      },
    },
    // The private key lives here, in memory only.
    { name: IDENTITY_VOLUME, emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
  ];
}

/** Adds each item at the front of an array field, creating the field when absent. */
function prepend(path: string, existing: unknown[] | undefined, items: unknown[]): JsonPatchOperation[] {
  if (existing === undefined) return [{ op: 'add', path, value: items }];
  return items.map((value, i) => ({ op: 'add', path: `${path}/${i}`, value }));
}

function append(path: string, existing: unknown[] | undefined, items: unknown[]): JsonPatchOperation[] {
  if (existing === undefined) return [{ op: 'add', path, value: items }];
  return items.map((value) => ({ op: 'add', path: `${path}/-`, value }));
}

function setMapEntry(
  path: string,
  existing: Record<string, string> | undefined,
  key: string,
  value: string,
): JsonPatchOperation {
  if (existing === undefined) return { op: 'add', path, value: { [key]: value } };
  return { op: 'add', path: `${path}/${escapePointer(key)}`, value };
}

export function inject(pod: Pod, namespace: Namespace | undefined, mesh: MeshConfig): InjectResult {
  const decision = injectionDecision(pod, namespace, mesh);
  if (!decision.inject) return skip(decision.reason, decision.message);
  const { overrides, problems } = readOverrides(
    pod.metadata?.annotations,
    namespace?.metadata?.annotations,
    mesh,
  );
  if (problems.length > 0) {
    const label = podLabel(pod, namespace);
    const message = problems.map((p) => `${p.object} ${p.field}: ${p.message}`).join('; ');
    return {
      injected: false,
      reason: InjectReason.InvalidOverrides,
      message: `pod ${label}: ${message}`,
      patch: [],
      problems,
    };
  }
  const spec = pod.spec ?? { containers: [] };
  const patch: JsonPatchOperation[] = [];
  const proxy = proxyContainer(mesh, overrides, mesh.nativeSidecar);
  const init = initContainer(mesh, overrides);
  // Order: iptables first, then the native sidecar, then the app's own init containers, so those
  // already run with the proxy in place. The classic fallback puts the proxy first among containers.
  if (mesh.nativeSidecar) {
    patch.push(...prepend('/spec/initContainers', spec.initContainers, [init, proxy]));
  } else {
    patch.push(...prepend('/spec/initContainers', spec.initContainers, [init]));
    patch.push(...prepend('/spec/containers', spec.containers, [proxy]));
  }
  patch.push(...append('/spec/volumes', spec.volumes, volumes(mesh)));
  patch.push(
    setMapEntry('/metadata/annotations', pod.metadata?.annotations, INJECTED_VERSION, mesh.proxyVersion),
    setMapEntry('/metadata/labels', pod.metadata?.labels, MESHED_LABEL, 'true'),
  );
  const workload = workloadOf(pod);
  if (workload !== null) {
    // After the meshed label, so the labels map exists for these two.
    const labels = { ...pod.metadata?.labels, [MESHED_LABEL]: 'true' };
    patch.push(
      setMapEntry('/metadata/labels', labels, WORKLOAD_KIND_LABEL, workload.kind),
      setMapEntry('/metadata/labels', labels, WORKLOAD_NAME_LABEL, workload.name),
    );
  }
  return { injected: true, reason: InjectReason.Injected, message: decision.message, patch, problems: [] };
}
