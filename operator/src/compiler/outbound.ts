// One Service as the proxies see it: its logical entry (ports, names, split, routes) and its own concrete backend
// with endpoints (split backends are Services with fragments of their own). Built once per change of anything it read, shared by every proxy that sees the service.

import { MAX_ENDPOINTS_PER_PORT } from '../../../crds/proxy-config/schema.ts';
import type {
  Backend,
  BackendPort,
  Endpoint,
  OutboundService,
  PortProtocol,
} from '../../../crds/proxy-config/types.ts';
import type { MeshSettings, ServicePortRecord, ServiceRecord } from '../model/cluster.ts';
import { servicePolicyOf } from './annotations.ts';
import type { Diagnostic } from './diagnostics.ts';
import { meshPorts } from './ports.ts';
import type { Reads } from './reads.ts';
import { resolveSplit } from './resolve.ts';

export interface OutboundFragment {
  /** Service as seen from its own namespace (with the short name) and from elsewhere. */
  local: OutboundService;
  remote: OutboundService;
  backend: Backend;
  diagnostics: Diagnostic[];
}

const APP_PROTOCOLS: Record<string, PortProtocol> = {
  http: 'http1',
  'http/1.1': 'http1',
  http2: 'http2',
  h2c: 'http2',
  'kubernetes.io/h2c': 'http2',
  grpc: 'grpc',
  tcp: 'opaque',
  opaque: 'opaque',
};

export function portProtocol(p: ServicePortRecord): PortProtocol {
  if (p.protocol === 'UDP') return 'udp';
  if (p.appProtocol !== null) return APP_PROTOCOLS[p.appProtocol.toLowerCase()] ?? 'detect';
  return 'detect';
}

/** Returns null for services the mesh does not program (ExternalName, no TCP/UDP ports). */
export function buildOutboundFragment(
  svcKey: string,
  reads: Reads,
  settings: MeshSettings,
): OutboundFragment | null {
  const svc = reads.service(svcKey);
  if (svc === undefined || svc.externalName) return null;
  const ports = meshPorts(svc);
  if (ports.length === 0) return null;
  const diagnostics: Diagnostic[] = [];
  const backend = buildBackend(svc, ports, reads, settings, diagnostics);
  // Timeouts and retries the Service asks of its clients, on every route to it (the root's, under a split).
  const policy = servicePolicyOf(svc, diagnostics);

  let split: OutboundService['split'] = null;
  let routes: OutboundService['routes'] = [];
  let defaultUseSplit = true;
  const splits = reads.splits(svcKey);
  splits.slice(1).forEach((other) => {
    diagnostics.push({
      kind: 'TrafficSplit',
      namespace: svc.namespace,
      name: other.metadata.name ?? '',
      reason: 'ConflictingSplit',
      message: `spec.service: ${svc.namespace}/${svc.name} is already split by TrafficSplit ${splits[0]!.metadata.name}; this one is ignored`,
    });
  });
  const active = splits[0];
  if (active !== undefined) {
    const r = resolveSplit(active, reads);
    diagnostics.push(...r.diagnostics);
    if (r.backends.length > 0) {
      split = {
        name: active.metadata.name ?? '',
        backends: r.backends.map((b) => ({ service: b.service.name, weight: b.weight })),
      };
      if (r.hasMatches) {
        routes = r.routes.map((rt) => ({
          name: rt.name,
          matches: rt.matches,
          useSplit: true,
          timeoutMs: policy.timeoutMs,
          retry: policy.retry,
        }));
        defaultUseSplit = false;
      }
    }
  }
  const fqdn = `${svc.name}.${svc.namespace}.svc`;
  const remote: OutboundService = {
    name: svc.name,
    namespace: svc.namespace,
    clusterIPs: [...svc.clusterIPs],
    dnsNames: [`${fqdn}.${settings.clusterDomain}`, fqdn, `${svc.name}.${svc.namespace}`],
    ports: ports.map((p) => ({ port: p.port, name: p.name, protocol: portProtocol(p) })),
    routes,
    defaultRoute: { useSplit: defaultUseSplit, timeoutMs: policy.timeoutMs, retry: policy.retry },
    split,
  };
  const local = { ...remote, dnsNames: [...remote.dnsNames, svc.name] };
  return { local, remote, backend, diagnostics };
}

function buildBackend(
  svc: ServiceRecord,
  servicePorts: readonly ServicePortRecord[],
  reads: Reads,
  settings: MeshSettings,
  diagnostics: Diagnostic[],
): Backend {
  const slices = reads.slices(`${svc.namespace}/${svc.name}`);
  const ports: BackendPort[] = [];
  for (const sp of servicePorts) {
    const endpoints = new Map<string, Endpoint>();
    for (const slice of slices) {
      if (slice.addressType === 'FQDN') continue;
      const slicePort = slice.ports.find((p) => (p.name ?? '') === (sp.name ?? ''));
      if (slicePort === undefined) continue;
      for (const ep of slice.endpoints) {
        let identity: string | null = null;
        if (ep.podName !== null && settings.trustAnchors.length > 0) {
          const pod = reads.pod(`${slice.namespace}/${ep.podName}`);
          if (pod?.meshed) {
            identity = `spiffe://${settings.trustDomain}/ns/${pod.namespace}/sa/${pod.serviceAccountName}`;
          }
        }
        for (const address of ep.addresses) {
          const k = `${address}|${slicePort.port}`;
          // The same endpoint in two slices (one stale while the controller moves it): ready wins.
          const had = endpoints.get(k);
          if (had !== undefined && (had.ready || !ep.ready)) continue;
          const e: Endpoint = { address, port: slicePort.port, identity, ready: ep.ready } as Endpoint;
          if (ep.zone !== null) e.zone = ep.zone;
          endpoints.set(k, e);
        }
      }
    }
    const list = [...endpoints.values()].sort((a, b) =>
      a.address === b.address ? a.port - b.port : a.address < b.address ? -1 : 1,
    );
    // Past the contract's limit the config would be refused as a whole, and with it every split that names this
    // Service: the first MAX_ENDPOINTS_PER_PORT by address are programmed instead, and the rest is reported.
    if (list.length > MAX_ENDPOINTS_PER_PORT) {
      diagnostics.push({
        kind: 'Service',
        namespace: svc.namespace,
        name: svc.name,
        reason: 'EndpointsTruncated',
        message: `port ${sp.port}: ${list.length} endpoints; proxies get the first ${MAX_ENDPOINTS_PER_PORT} by address`,
      });
      list.length = MAX_ENDPOINTS_PER_PORT;
    }
    ports.push({ port: sp.port, endpoints: list });
  }
  return { name: svc.name, namespace: svc.namespace, ports };
}
