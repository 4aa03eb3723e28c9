// Dependency tracking for memoized compilation: a build records every lookup it makes; a cached result is
// reused only while every recorded lookup still returns the same value (records are immutable, so identity
// equality is enough; index entries are arrays compared element by element).
import type {
  HTTPRouteGroup,
  TCPRoute,
  TrafficSplit,
  TrafficTarget,
  UDPRoute,
} from '../../../crds/smi/index.ts';
import { foreignDestinationNamespace } from '../../../crds/smi/types/traffic-target.ts';
import type {
  ClusterSnapshot,
  EndpointSliceRecord,
  NamespaceRecord,
  PodRecord,
  ServiceAccountRecord,
  ServiceRecord,
} from '../model/cluster.ts';

/** Indexes over a snapshot, built once per compile. Index values are arrays sorted for determinism. */
export interface SnapshotIndex {
  snapshot: ClusterSnapshot;
  slicesByService: Map<string, EndpointSliceRecord[]>;
  /** Every TrafficSplit naming a root, the one in effect first (oldest creationTimestamp, then name). */
  splitsByRoot: Map<string, TrafficSplit[]>;
  /** TrafficTargets by destination `<namespace>/<serviceaccount>`, by name. */
  targetsByDestination: Map<string, TrafficTarget[]>;
  /** `<port>/<protocol>` values of EndpointSlices that point at a pod. */
  slicePortsByPod: Map<string, string[]>;
}

const EMPTY: readonly never[] = [];

type Source =
  | 'service'
  | 'slices'
  | 'pod'
  | 'splits'
  | 'targets'
  | 'hrg'
  | 'tcp'
  | 'udp'
  | 'namespace'
  | 'serviceAccount';

export class Reads {
  readonly #entries: { source: Source; key: string; value: unknown }[] = [];
  readonly #index: SnapshotIndex;

  constructor(index: SnapshotIndex) {
    this.#index = index;
  }

  #read<T>(source: Source, key: string): T {
    const value = lookup(this.#index, source, key) as T;
    this.#entries.push({ source, key, value });
    return value;
  }

  service = (k: string) => this.#read<ServiceRecord | undefined>('service', k);
  slices = (k: string) => this.#read<readonly EndpointSliceRecord[]>('slices', k);
  pod = (k: string) => this.#read<PodRecord | undefined>('pod', k);
  splits = (k: string) => this.#read<readonly TrafficSplit[]>('splits', k);
  targets = (k: string) => this.#read<readonly TrafficTarget[]>('targets', k);
  httpRouteGroup = (k: string) => this.#read<HTTPRouteGroup | undefined>('hrg', k);
  tcpRoute = (k: string) => this.#read<TCPRoute | undefined>('tcp', k);
  udpRoute = (k: string) => this.#read<UDPRoute | undefined>('udp', k);
  namespace = (k: string) => this.#read<NamespaceRecord | undefined>('namespace', k);
  serviceAccount = (k: string) => this.#read<ServiceAccountRecord | undefined>('serviceAccount', k);

  /** Whether every lookup made so far still answers the same in `index`. */
  stillValid(index: SnapshotIndex): boolean {
    for (const e of this.#entries) {
      if (!same(lookup(index, e.source, e.key), e.value)) return false;
    }
    return true;
  }
}

function lookup(ix: SnapshotIndex, source: Source, key: string): unknown {
  const s = ix.snapshot;
  switch (source) {
    case 'service':
      return s.services.get(key);
    case 'slices':
      return ix.slicesByService.get(key) ?? EMPTY;
    case 'pod':
      return s.pods.get(key);
    case 'splits':
      return ix.splitsByRoot.get(key) ?? EMPTY;
    case 'targets':
      return ix.targetsByDestination.get(key) ?? EMPTY;
    case 'hrg':
      return s.httpRouteGroups.get(key);
    case 'tcp':
      return s.tcpRoutes.get(key);
    case 'udp':
      return s.udpRoutes.get(key);
    case 'namespace':
      return s.namespaces.get(key);
    case 'serviceAccount':
      return s.serviceAccounts.get(key);
  }
}

function same(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

const byName = (a: { metadata: { name?: string } }, b: { metadata: { name?: string } }) =>
  (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');

/** Builds the indexes of a snapshot. O(objects). */
export function indexSnapshot(snapshot: ClusterSnapshot): SnapshotIndex {
  const slicesByService = new Map<string, EndpointSliceRecord[]>();
  const slicePortsByPod = new Map<string, string[]>();
  for (const sl of snapshot.endpointSlices.values()) {
    push(slicesByService, `${sl.namespace}/${sl.serviceName}`, sl);
    for (const ep of sl.endpoints) {
      if (ep.podName === null) continue;
      for (const p of sl.ports)
        push(slicePortsByPod, `${sl.namespace}/${ep.podName}`, `${p.port}/${p.protocol}`);
    }
  }
  for (const list of slicesByService.values()) list.sort((a, b) => a.name.localeCompare(b.name));
  for (const [k, list] of slicePortsByPod) slicePortsByPod.set(k, [...new Set(list)].sort());

  const splitsByRoot = new Map<string, TrafficSplit[]>();
  for (const ts of snapshot.trafficSplits.values()) {
    push(splitsByRoot, `${ts.metadata.namespace}/${ts.spec.service}`, ts);
  }
  for (const list of splitsByRoot.values()) {
    list.sort((a, b) => {
      const ta = String(a.metadata.creationTimestamp ?? '');
      const tb = String(b.metadata.creationTimestamp ?? '');
      return ta === tb ? byName(a, b) : ta < tb ? -1 : 1;
    });
  }

  const targetsByDestination = new Map<string, TrafficTarget[]>();
  for (const tt of snapshot.trafficTargets.values()) {
    const d = tt.spec.destination;
    if (d.kind !== 'ServiceAccount' || foreignDestination(tt) !== null) continue;
    push(targetsByDestination, `${tt.metadata.namespace}/${d.name}`, tt);
  }
  for (const list of targetsByDestination.values()) {
    list.sort((a, b) =>
      `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(
        `${b.metadata.namespace}/${b.metadata.name}`,
      ),
    );
  }
  return { snapshot, slicesByService, splitsByRoot, targetsByDestination, slicePortsByPod };
}

/**
 * The other namespace a TrafficTarget's destination names, or null. A TrafficTarget grants access to its own
 * namespace's workloads only (SMI; the webhook denies others, but objects may predate it): one naming another
 * namespace is never programmed, and the compiler reports it.
 */
export function foreignDestination(tt: TrafficTarget): string | null {
  const d = tt.spec.destination;
  return d.kind === 'ServiceAccount' ? foreignDestinationNamespace(d, tt.metadata.namespace ?? '') : null;
}

function push<V>(m: Map<string, V[]>, k: string, v: V): void {
  const list = m.get(k);
  if (list === undefined) m.set(k, [v]);
  else list.push(v);
}
