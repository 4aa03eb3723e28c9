// Kubernetes objects (as client-node lists them, or as watch events deliver them) -> the compiler's records.
// Pure. Reads only what the compiler needs, so an update that touches nothing relevant yields an equal record.
import type {
  V1Container,
  V1EndpointSlice,
  V1Namespace,
  V1Pod,
  V1Service,
  V1ServiceAccount,
} from '@kubernetes/client-node';
import { INJECTED_VERSION, MESHED_LABEL } from '../../../crds/annotations.ts';
import type {
  EndpointSliceRecord,
  L4Protocol,
  NamespaceRecord,
  PodRecord,
  ProbeRecord,
  ServiceAccountRecord,
  ServiceRecord,
} from '../model/cluster.ts';

const l4 = (p: string | undefined): L4Protocol => (p === 'UDP' ? 'UDP' : p === 'SCTP' ? 'SCTP' : 'TCP');

export function namespaceRecord(ns: V1Namespace): NamespaceRecord {
  return {
    name: ns.metadata?.name ?? '',
    uid: ns.metadata?.uid ?? '',
    annotations: { ...(ns.metadata?.annotations ?? {}) },
  };
}

export function serviceRecord(s: V1Service): ServiceRecord {
  const spec = s.spec ?? {};
  const ips = spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : []);
  return {
    namespace: s.metadata?.namespace ?? '',
    name: s.metadata?.name ?? '',
    clusterIPs: ips.filter((ip) => ip !== 'None' && ip !== ''),
    ports: (spec.ports ?? []).map((p) => ({
      name: p.name ?? null,
      port: p.port,
      protocol: l4(p.protocol),
      appProtocol: p.appProtocol ?? null,
    })),
    externalName: spec.type === 'ExternalName',
    uid: s.metadata?.uid ?? '',
    annotations: { ...(s.metadata?.annotations ?? {}) },
  };
}

export function endpointSliceRecord(es: V1EndpointSlice): EndpointSliceRecord | null {
  const serviceName = es.metadata?.labels?.['kubernetes.io/service-name'];
  if (serviceName === undefined) return null;
  const ns = es.metadata?.namespace ?? '';
  return {
    namespace: ns,
    name: es.metadata?.name ?? '',
    serviceName,
    addressType: es.addressType as EndpointSliceRecord['addressType'],
    ports: (es.ports ?? [])
      .filter((p) => p.port !== undefined)
      .map((p) => ({ name: p.name ?? null, port: p.port!, protocol: l4(p.protocol) })),
    endpoints: (es.endpoints ?? []).map((e) => ({
      addresses: [...e.addresses],
      // Unknown readiness means ready (discovery.k8s.io/v1 semantics).
      ready: e.conditions?.ready ?? true,
      zone: e.zone ?? null,
      podName:
        e.targetRef?.kind === 'Pod' && (e.targetRef.namespace ?? ns) === ns
          ? (e.targetRef.name ?? null)
          : null,
    })),
  };
}

export function podRecord(p: V1Pod): PodRecord {
  const annotations = p.metadata?.annotations ?? {};
  const labels = p.metadata?.labels ?? {};
  const ports: PodRecord['containerPorts'][number][] = [];
  for (const c of p.spec?.containers ?? []) {
    for (const cp of c.ports ?? []) ports.push({ port: cp.containerPort, protocol: l4(cp.protocol) });
  }
  return {
    namespace: p.metadata?.namespace ?? '',
    name: p.metadata?.name ?? '',
    uid: p.metadata?.uid ?? '',
    serviceAccountName: p.spec?.serviceAccountName ?? 'default',
    podIPs: (p.status?.podIPs ?? []).map((i) => i.ip),
    annotations: { ...annotations },
    labels: { ...labels },
    containerPorts: ports,
    probes: probesOf([...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])]),
    meshed: labels[MESHED_LABEL] === 'true' || annotations[INJECTED_VERSION] !== undefined,
    terminated: p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed',
    hostNetwork: p.spec?.hostNetwork === true,
  };
}

/**
 * The probes kubelet sends over the network (httpGet, tcpSocket), ports resolved as kubelet does: a number, or
 * the name of a port of the same container. A probe whose named port does not exist, or an httpGet probe with a
 * `host` (kubelet then connects to that host, not to the pod), is left out. Restartable init containers (native
 * sidecars) are probed like containers.
 */
export function probesOf(containers: readonly V1Container[]): ProbeRecord[] {
  const out: ProbeRecord[] = [];
  const seen = new Set<string>();
  for (const c of containers) {
    for (const probe of [c.startupProbe, c.readinessProbe, c.livenessProbe]) {
      if (probe === undefined) continue;
      const target = probe.httpGet ?? probe.tcpSocket;
      if (target === undefined) continue;
      const port =
        typeof target.port === 'number'
          ? target.port
          : /^\d+$/.test(target.port)
            ? Number(target.port)
            : c.ports?.find((p) => p.name === target.port)?.containerPort;
      if (port === undefined || !Number.isInteger(port) || port < 1 || port > 65535) continue;
      let record: ProbeRecord;
      if (probe.httpGet !== undefined) {
        if (probe.httpGet.host !== undefined && probe.httpGet.host !== '') continue;
        record = {
          kind: 'http',
          port,
          path: probe.httpGet.path ?? '',
          scheme: probe.httpGet.scheme === 'HTTPS' ? 'HTTPS' : 'HTTP',
        };
      } else record = { kind: 'tcp', port };
      const k = JSON.stringify(record);
      if (seen.has(k)) continue;
      seen.add(k);
      out.push(record);
    }
  }
  return out;
}

export function serviceAccountRecord(sa: V1ServiceAccount): ServiceAccountRecord {
  return { namespace: sa.metadata?.namespace ?? '', name: sa.metadata?.name ?? '' };
}

/** Deep equality of plain JSON-like records: lets the store keep the old record (and its identity). */
export function sameRecord(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!sameRecord((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}
