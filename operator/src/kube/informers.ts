// Informers for every kind the compiler reads, feeding one mutable store of records (model/cluster.ts).
// Each is a RecordInformer (record-informer.ts): it relists on 410 Gone by itself and keeps no copy of the
// objects; on any other error it stops, so we restart it with backoff. A record is replaced only when its
// content changed, so unrelated updates (status, managedFields, resourceVersion) never trigger recompilation.
import {
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  Watch,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { ClusterSnapshot, MeshSettings } from '../model/cluster.ts';
import { emptySnapshot } from '../model/cluster.ts';
import {
  endpointSliceRecord,
  namespaceRecord,
  podRecord,
  sameRecord,
  serviceAccountRecord,
  serviceRecord,
} from './convert.ts';
import { type ListPage, lastWriteTime, objectKey, RecordInformer } from './record-informer.ts';
import { smiRecord } from './smi.ts';

export type WatchedKindName =
  | 'namespaces'
  | 'services'
  | 'endpointSlices'
  | 'pods'
  | 'serviceAccounts'
  | 'trafficSplits'
  | 'trafficTargets'
  | 'httpRouteGroups'
  | 'tcpRoutes'
  | 'udpRoutes';

export interface InformerObserver {
  event(kind: WatchedKindName): void;
  error(kind: WatchedKindName): void;
  /** From an object's last write (lastWriteTime) to its watch event here, seconds. */
  lag(kind: WatchedKindName, seconds: number): void;
}

interface KindSpec {
  kind: WatchedKindName;
  path: string;
  list: ListPage;
  toRecord: (o: KubernetesObject) => unknown;
}

interface InformerEntry {
  spec: KindSpec;
  informer: RecordInformer;
  synced: boolean;
  failures: number;
}

type Store = {
  -readonly [K in keyof ClusterSnapshot]: ClusterSnapshot[K] extends ReadonlyMap<infer A, infer B>
    ? Map<A, B>
    : ClusterSnapshot[K];
};

export interface ClusterWatcherOptions {
  kubeConfig: KubeConfig;
  settings: MeshSettings;
  log: Logger;
  /** Called after every relevant change (kind and `<namespace>/<name>` key). */
  onChange: (kind: WatchedKindName, key: string) => void;
  observer?: InformerObserver;
  maxRestartDelayMs?: number;
}

const SMI = [
  ['trafficSplits', 'split.smi-spec.io', 'v1alpha4', 'trafficsplits'],
  ['trafficTargets', 'access.smi-spec.io', 'v1alpha3', 'traffictargets'],
  ['httpRouteGroups', 'specs.smi-spec.io', 'v1alpha4', 'httproutegroups'],
  ['tcpRoutes', 'specs.smi-spec.io', 'v1alpha4', 'tcproutes'],
  ['udpRoutes', 'specs.smi-spec.io', 'v1alpha4', 'udproutes'],
] as const;

/** Watches the cluster and keeps an always-current snapshot (read it synchronously, do not keep it). */
export class ClusterWatcher {
  readonly #store: Store;
  readonly #o: ClusterWatcherOptions;
  readonly #informers: InformerEntry[] = [];
  #stopped = false;

  constructor(o: ClusterWatcherOptions) {
    this.#o = o;
    this.#store = emptySnapshot(o.settings) as Store;
    const core = o.kubeConfig.makeApiClient(CoreV1Api);
    const discovery = o.kubeConfig.makeApiClient(DiscoveryV1Api);
    const custom = o.kubeConfig.makeApiClient(CustomObjectsApi);
    const specs: KindSpec[] = [
      {
        kind: 'namespaces',
        path: '/api/v1/namespaces',
        list: (p) => core.listNamespace({ limit: p.limit, _continue: p.continue }),
        toRecord: (x) => namespaceRecord(x),
      },
      {
        kind: 'services',
        path: '/api/v1/services',
        list: (p) => core.listServiceForAllNamespaces({ limit: p.limit, _continue: p.continue }),
        toRecord: (x) => serviceRecord(x),
      },
      {
        kind: 'endpointSlices',
        path: '/apis/discovery.k8s.io/v1/endpointslices',
        list: (p) => discovery.listEndpointSliceForAllNamespaces({ limit: p.limit, _continue: p.continue }),
        toRecord: (x) => endpointSliceRecord(x as never),
      },
      {
        kind: 'pods',
        path: '/api/v1/pods',
        list: (p) => core.listPodForAllNamespaces({ limit: p.limit, _continue: p.continue }),
        toRecord: (x) => podRecord(x),
      },
      {
        kind: 'serviceAccounts',
        path: '/api/v1/serviceaccounts',
        list: (p) => core.listServiceAccountForAllNamespaces({ limit: p.limit, _continue: p.continue }),
        toRecord: (x) => serviceAccountRecord(x),
      },
      ...SMI.map(([kind, group, version, plural]) => ({
        kind,
        path: `/apis/${group}/${version}/${plural}`,
        list: (p: { limit: number; continue: string | undefined }) =>
          custom.listClusterCustomObject({
            group,
            version,
            plural,
            limit: p.limit,
            _continue: p.continue,
          }) as Promise<KubernetesListObject<KubernetesObject>>,
        toRecord: (x: KubernetesObject) => smiRecord(x),
      })),
    ];
    const watch = new Watch(o.kubeConfig);
    for (const spec of specs) {
      const map = this.#store[spec.kind] as Map<string, unknown>;
      const upsert = (obj: KubernetesObject, live: boolean) => {
        if (live) {
          const written = lastWriteTime(obj);
          if (written !== null) this.#o.observer?.lag(spec.kind, Math.max(0, Date.now() - written) / 1000);
        }
        const k = objectKey(obj);
        const rec = spec.toRecord(obj);
        const old = map.get(k);
        if (rec === null) {
          if (old !== undefined) {
            map.delete(k);
            this.#changed(spec.kind, k);
          }
          return;
        }
        if (old !== undefined && sameRecord(old, rec)) return;
        map.set(k, rec);
        this.#changed(spec.kind, k);
      };
      const remove = (k: string) => {
        if (map.delete(k)) this.#changed(spec.kind, k);
      };
      const entry: InformerEntry = {
        spec,
        synced: false,
        failures: 0,
        informer: new RecordInformer({
          path: spec.path,
          watch,
          list: spec.list,
          handlers: {
            upsert,
            remove,
            // Deleted while no watch was open (a relist after 410 or a restart): drop their records.
            listed: (keys) => {
              for (const k of [...map.keys()]) if (!keys.has(k)) remove(k);
            },
            error: (err) => this.#restart(entry, err),
          },
        }),
      };
      this.#informers.push(entry);
    }
  }

  #changed(kind: WatchedKindName, key: string): void {
    this.#o.observer?.event(kind);
    this.#o.onChange(kind, key);
  }

  /** Starts every informer; resolves once each has listed (or failed its first list: see synced). */
  async start(): Promise<void> {
    await Promise.all(this.#informers.map((e) => this.#startOne(e)));
  }

  async #startOne(e: InformerEntry): Promise<void> {
    if (this.#stopped) return;
    const watching = await e.informer.start();
    if (e.informer.latestResourceVersion() !== '') {
      if (!e.synced) this.#o.log.info({ kind: e.spec.kind }, 'informer synced');
      e.synced = true;
    }
    // Only an open watch resets the backoff: a kind whose list works but whose watch keeps failing (5xx, RBAC
    // without watch) would otherwise be retried every 500 ms for ever.
    if (watching) e.failures = 0;
  }

  #restart(e: InformerEntry, err: unknown): void {
    if (this.#stopped) return;
    e.failures++;
    this.#o.observer?.error(e.spec.kind);
    const delay = Math.min(this.#o.maxRestartDelayMs ?? 30_000, 500 * 2 ** Math.min(e.failures - 1, 10));
    const message = err instanceof Error ? err.message : String(err);
    this.#o.log.warn({ kind: e.spec.kind, err: message, retryInMs: delay }, 'informer failed; restarting');
    const t = setTimeout(() => {
      this.#startOne(e).catch((startErr: unknown) => this.#restart(e, startErr));
    }, delay);
    t.unref();
  }

  /** Every informer has completed a list (its cache reflects the apiserver as of that list or later). */
  get synced(): boolean {
    return this.#informers.every((e) => e.synced);
  }

  unsynced(): WatchedKindName[] {
    return this.#informers.filter((e) => !e.synced).map((e) => e.spec.kind);
  }

  /** Replaces the mesh settings (trust anchors after a CA rotation); the caller recompiles. */
  setSettings(settings: MeshSettings): void {
    this.#store.settings = settings;
  }

  /** The live snapshot; valid until control returns to the event loop. */
  snapshot(): ClusterSnapshot {
    return this.#store;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const e of this.#informers) e.informer.stop();
  }
}
