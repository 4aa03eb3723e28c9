// Wiring: informers -> compile queue -> compiler -> hub (every replica); status queue -> SMI status and Events
// (leader only); HTTPS control-plane server and admin server.
import { generateKeyPairSync } from 'node:crypto';
import type * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ApiException,
  CoreV1Api,
  type KubeConfig,
  ListWatch,
  type V1Secret,
  Watch,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  DEFAULT_CONFIG_STREAM_PORT,
  DEFAULT_CONTROL_PLANE_PORT,
  IDENTITY_TOKEN_AUDIENCE,
} from '../../crds/control-plane/types.ts';
import { MAX_TIMER_MS } from '../../crds/duration.ts';
import { ProxyConfigCompiler } from './compiler/compile.ts';
import {
  type CoreWarnings,
  conditionsEqual,
  coreWarnings,
  type DesiredStatus,
  desiredStatuses,
  mergeConditions,
  type SmiKind,
} from './compiler/status.ts';
import { ConfigHub } from './distribution/hub.ts';
import { HeapTrimmer } from './heap-trim.ts';
import {
  CertificateAuthority,
  type IssuerMaterial,
  keyToPem,
  loadIssuer,
  spiffeIdFor,
} from './identity/index.ts';
import { EventRecorder, KubeLeaseStore, reviewToken, SmiStatusClient } from './kube/api.ts';
import {
  loadOrCreateIssuer,
  publishTrustAnchors,
  renewGeneratedIssuer,
  secretData,
} from './kube/ca-secret.ts';
import { ClusterWatcher } from './kube/informers.ts';
import { OperatorMetrics } from './metrics.ts';
import { DEFAULT_MESH_SETTINGS, type MeshSettings } from './model/cluster.ts';
import { LeaderElector } from './runtime/leader.ts';
import { type ReconcileContext, TerminalError, WorkQueue } from './runtime/queue.ts';
import {
  type ConnectionLimits,
  type ControlPlaneServers,
  createAdminServer,
  createControlPlaneServer,
  listenOn,
} from './server.ts';

export interface OperatorOptions {
  kubeConfig: KubeConfig;
  /** Namespace of the CA Secret and the leader Lease. */
  namespace: string;
  /** This replica's name in the Lease (pod name in a cluster). */
  identity: string;
  trustDomain?: string;
  clusterDomain?: string;
  defaultPolicyMode?: MeshSettings['defaultPolicyMode'];
  listenAddress?: string;
  /** 0 picks a free port. */
  controlPlanePort?: number;
  /**
   * The sealed config stream's plain TCP port (default DEFAULT_CONFIG_STREAM_PORT); 0 picks a free port, null
   * serves none (proxies then follow their stream over TLS).
   */
  configStreamPort?: number | null;
  /**
   * This replica's address as proxies reach it (its pod IP), named in config-stream tickets; unset: proxies use
   * the host they asked the ticket from (server.ts, ControlPlaneDeps.advertiseHost).
   */
  advertiseAddress?: string;
  /**
   * malloc_trim(0) (the native addon's), run after distribution work (heap-trim.ts); unset (tests, no addon):
   * glibc keeps what it keeps.
   */
  trimNativeHeap?: () => { released: boolean; ms: number };
  /** Caps on open connections to the control-plane ports (server.ts, DEFAULT_CONNECTION_LIMITS). */
  controlPlaneLimits?: Partial<ConnectionLimits>;
  adminPort?: number;
  servingDnsNames?: string[];
  servingIps?: string[];
  caSecretName?: string;
  leaseName?: string;
  leaseDurationSeconds?: number;
  /**
   * A problem that lasts is reported again this often, in its Event (count + 1), which keeps the Event alive past
   * the apiserver's Event TTL (1 h by default). Default DEFAULT_EVENT_REPEAT_SECONDS.
   */
  eventRepeatSeconds?: number;
  log: Logger;
}

/** How often a problem that lasts is reported again by default: 3,300 s (55 min), within the Event TTL. */
export const DEFAULT_EVENT_REPEAT_SECONDS = 3300;

const API_VERSIONS: Record<SmiKind, string> = {
  TrafficSplit: 'split.smi-spec.io/v1alpha4',
  TrafficTarget: 'access.smi-spec.io/v1alpha3',
  HTTPRouteGroup: 'specs.smi-spec.io/v1alpha4',
  TCPRoute: 'specs.smi-spec.io/v1alpha4',
  UDPRoute: 'specs.smi-spec.io/v1alpha4',
};

export class Operator {
  readonly metrics = new OperatorMetrics();
  readonly #o: OperatorOptions;
  readonly #log: Logger;
  #watcher: ClusterWatcher | null = null;
  #ca: CertificateAuthority | null = null;
  #hub: ConfigHub | null = null;
  #trimmer: HeapTrimmer | null = null;
  #compileQueue: WorkQueue | null = null;
  #statusQueue: WorkQueue | null = null;
  #elector: LeaderElector | null = null;
  #cp: ControlPlaneServers | null = null;
  #adminServer: http.Server | null = null;
  #compiler = new ProxyConfigCompiler();
  #desired = new Map<string, DesiredStatus>();
  #statusSig = new Map<string, string>();
  #compiledOnce = false;

  constructor(o: OperatorOptions) {
    this.#o = o;
    this.#log = o.log;
  }

  get controlPlanePort(): number {
    return this.#cp?.ports.tls ?? 0;
  }

  /** The sealed config stream's port; null when it is off (configStreamPort: null), 0 before start. */
  get configStreamPort(): number | null {
    if (this.#o.configStreamPort === null) return null;
    return this.#cp?.ports.sealed ?? 0;
  }

  get adminPort(): number {
    return (this.#adminServer?.address() as AddressInfo | null)?.port ?? 0;
  }

  get isLeader(): boolean {
    return this.#elector?.leading ?? false;
  }

  get trustAnchorsPem(): string[] {
    return this.#ca?.trustAnchorsPem ?? [];
  }

  notReady(): string[] {
    const missing: string[] = [];
    if (this.#ca === null) missing.push('ca');
    const unsynced = this.#watcher?.unsynced() ?? ['informers'];
    if (unsynced.length > 0) missing.push(`informers(${unsynced.join(',')})`);
    if (!this.#compiledOnce) missing.push('first compile');
    return missing;
  }

  async start(): Promise<void> {
    const o = this.#o;
    const trustDomain = o.trustDomain ?? DEFAULT_MESH_SETTINGS.trustDomain;
    const material = await loadOrCreateIssuer(
      o.kubeConfig,
      o.namespace,
      o.caSecretName ?? 'weft-identity',
      trustDomain,
      this.#log,
    );
    const ca = new CertificateAuthority(material, { trustDomain });
    this.#ca = ca;
    this.metrics.issuerExpiry.set(Date.parse(material.issuer.cert.validTo) / 1000);
    this.#caFingerprint = caFingerprint(material);
    // Every replica publishes the same content; a conflict with another replica's write is retried by the next
    // start, and the content is identical anyway.
    try {
      if (await publishTrustAnchors(o.kubeConfig, o.namespace, ca.trustAnchorsPem.join(''))) {
        this.#log.info({ configMap: `${o.namespace}/weft-trust-anchors` }, 'published trust anchors');
      }
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'could not publish the trust anchors ConfigMap');
    }
    const settings: MeshSettings = {
      ...DEFAULT_MESH_SETTINGS,
      trustDomain,
      clusterDomain: o.clusterDomain ?? DEFAULT_MESH_SETTINGS.clusterDomain,
      defaultPolicyMode: o.defaultPolicyMode ?? DEFAULT_MESH_SETTINGS.defaultPolicyMode,
      trustAnchors: ca.trustAnchorsPem,
    };
    this.#settings = settings;

    this.#hub = new ConfigHub({ observer: this.metrics.hubObserver() });
    const hub = this.#hub;
    if (o.trimNativeHeap !== undefined) {
      this.#trimmer = new HeapTrimmer({
        activity: () => hub.messagesSent,
        trim: o.trimNativeHeap,
        log: this.#log,
      });
      this.#trimmer.start();
    }
    this.#compileQueue = new WorkQueue((_key, ctx) => this.#compile(ctx), {
      name: 'compile',
      concurrency: 1,
      log: this.#log,
      observer: this.metrics.queueObserver('compile'),
    });
    this.#statusQueue = new WorkQueue((key, ctx) => this.#writeStatus(key, ctx), {
      name: 'status',
      concurrency: 4,
      log: this.#log,
      observer: this.metrics.queueObserver('status'),
    });
    this.#watcher = new ClusterWatcher({
      kubeConfig: o.kubeConfig,
      settings,
      log: this.#log,
      observer: this.metrics.informerObserver(),
      onChange: () => {
        // The first change not yet compiled: how long a change waits in the queue, in the compile log line.
        if (this.#changedAt === 0) this.#changedAt = Date.now();
        this.#compileQueue?.add('mesh');
      },
    });

    const serving = this.#issueServing();
    this.#serving = serving;
    this.#cp = createControlPlaneServer({
      ca,
      serving: { certChain: serving.certChain, key: serving.key },
      hub: this.#hub,
      pod: (k) => this.#watcher?.snapshot().pods.get(k),
      reviewToken: (t) => reviewToken(o.kubeConfig, t, [IDENTITY_TOKEN_AUDIENCE]),
      metrics: this.metrics,
      log: this.#log,
      ...(o.controlPlaneLimits === undefined ? {} : { limits: o.controlPlaneLimits }),
      advertiseHost: o.advertiseAddress ?? null,
    });
    this.#adminServer = createAdminServer({ metrics: this.metrics, notReady: () => this.notReady() });
    // Unset: every address, IPv6 and IPv4 (listenOn), so IPv6-only and dual-stack clusters reach it.
    const host = o.listenAddress;
    await Promise.all([
      this.#cp.listen(
        o.controlPlanePort ?? DEFAULT_CONTROL_PLANE_PORT,
        o.configStreamPort === undefined ? DEFAULT_CONFIG_STREAM_PORT : o.configStreamPort,
        host,
      ),
      listenOn(this.#adminServer, o.adminPort ?? 15014, host),
    ]);
    this.#log.info(
      {
        controlPlanePort: this.controlPlanePort,
        configStreamPort: this.configStreamPort,
        adminPort: this.adminPort,
      },
      'listening',
    );
    this.#scheduleServingRenewal(serving.renewAfter);

    this.#elector = new LeaderElector(
      new KubeLeaseStore(o.kubeConfig, o.namespace, o.leaseName ?? 'weft-operator-leader'),
      {
        identity: o.identity,
        leaseDurationSeconds: o.leaseDurationSeconds ?? 15,
        renewIntervalMs: Math.floor(((o.leaseDurationSeconds ?? 15) * 1000) / 3),
        log: this.#log,
        onStartedLeading: () => {
          this.metrics.leader.set(1);
          this.#statusSig.clear();
          this.#compileQueue?.add('mesh');
        },
        onStoppedLeading: () => this.metrics.leader.set(0),
      },
    );
    this.#elector.start();
    await this.#watcher.start();
    this.#compileQueue.add('mesh');
    this.#watchIdentitySecret();
    this.#renewTimer = setInterval(() => this.#renewIssuer(), ISSUER_CHECK_MS);
    this.#renewTimer.unref();
    // The status writer goes over objects when their status changes; a problem that lasts changes nothing, so
    // this goes over every object with a warning a few times per repeat period (the recorder writes only what
    // is due).
    this.#repeatTimer = setInterval(() => this.#repeatEvents(), this.#eventTiming().tickMs);
    this.#repeatTimer.unref();
  }

  #repeatTimer: NodeJS.Timeout | null = null;

  /**
   * The recorder's period is one tick short of the repeat: a tick finds a problem due at most one tick after its
   * period, so the gap between two reports stays within eventRepeatSeconds (and below the apiserver's Event TTL).
   */
  #eventTiming(): { tickMs: number; periodMs: number } {
    const repeatMs = (this.#o.eventRepeatSeconds ?? DEFAULT_EVENT_REPEAT_SECONDS) * 1000;
    const tickMs = Math.max(1000, Math.floor(repeatMs / 6));
    return { tickMs, periodMs: Math.max(1000, repeatMs - tickMs) };
  }

  /** Queues the status writer for every object the last compile had warnings about; leader only. */
  #repeatEvents(): void {
    if (!this.#elector?.leading || this.#stopping) return;
    for (const [k, st] of this.#desired)
      if (st.warnings.length > 0) this.#statusQueue!.add(`${EVENTS_KEY}${k}`);
    for (const k of this.#coreWarnings.keys()) this.#statusQueue!.add(`${CORE_KEY}${k}`);
  }

  #renewTimer: NodeJS.Timeout | null = null;

  /** The leader renews a generated issuer when it is due; every replica picks it up from the Secret. */
  #renewIssuer(): void {
    if (!this.#elector?.leading || this.#stopping) return;
    const o = this.#o;
    renewGeneratedIssuer(
      o.kubeConfig,
      o.namespace,
      o.caSecretName ?? 'weft-identity',
      o.trustDomain ?? DEFAULT_MESH_SETTINGS.trustDomain,
      this.#log,
    ).catch((err: unknown) =>
      this.#log.error({ err: (err as Error).message }, 'renewing the generated issuer failed; retried later'),
    );
  }

  /**
   * Follows the CA Secret: a changed anchors bundle or issuer is loaded, checked (loadIssuer) and swapped in
   * without a restart. Rotation is done in steps by whoever owns the Secret: add the new anchor to ca.crt (every
   * proxy gets both anchors), then switch issuer.crt/issuer.key to an issuer of the new anchor, then drop the old
   * anchor once every leaf of the old issuer has expired (24 h).
   */
  #watchIdentitySecret(): void {
    const o = this.#o;
    const name = o.caSecretName ?? 'weft-identity';
    const core = o.kubeConfig.makeApiClient(CoreV1Api);
    const fieldSelector = `metadata.name=${name}`;
    const lw = new ListWatch<V1Secret>(
      `/api/v1/namespaces/${o.namespace}/secrets`,
      new Watch(o.kubeConfig),
      () => core.listNamespacedSecret({ namespace: o.namespace, fieldSelector }),
      false,
      undefined,
      fieldSelector,
    );
    const onSecret = (secret: V1Secret) => {
      this.#applyIdentitySecret(secret).catch((err: unknown) =>
        this.#log.error({ err: (err as Error).message }, 'applying the CA Secret failed'),
      );
    };
    lw.on('add', onSecret);
    lw.on('update', onSecret);
    lw.on('error', (err) => {
      if (this.#stopping) return;
      this.#log.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'CA Secret watch failed; restarting',
      );
      setTimeout(() => {
        if (!this.#stopping) lw.start().catch(() => undefined);
      }, 5_000).unref();
    });
    this.#secretWatch = lw;
    lw.start().catch((err: unknown) =>
      this.#log.warn({ err: (err as Error).message }, 'CA Secret watch did not start'),
    );
  }

  async #applyIdentitySecret(secret: V1Secret): Promise<void> {
    const ca = this.#ca!;
    let material: IssuerMaterial;
    try {
      material = loadIssuer(secretData(secret));
    } catch (err) {
      this.#log.error(
        { err: (err as Error).message },
        'CA Secret content is invalid; keeping the current CA',
      );
      return;
    }
    if (this.#caFingerprint === caFingerprint(material)) return;
    this.#caFingerprint = caFingerprint(material);
    ca.rotate(material);
    this.metrics.issuerExpiry.set(Date.parse(material.issuer.cert.validTo) / 1000);
    this.#settings = { ...this.#settings!, trustAnchors: ca.trustAnchorsPem };
    this.#watcher?.setSettings(this.#settings);
    this.#refreshServing();
    // Proxies get the new anchors with their next config whatever happens to the ConfigMap below (before, a
    // failed publish skipped this recompile, and the fingerprint above kept it from being retried).
    this.#compileQueue?.add('mesh');
    this.#log.info(
      { anchors: material.anchors.length, issuerNotAfter: material.issuer.cert.validTo },
      'CA material changed: anchors and issuer swapped in',
    );
    await publishTrustAnchors(this.#o.kubeConfig, this.#o.namespace, ca.trustAnchorsPem.join(''));
  }

  #refreshServing(): void {
    const next = this.#issueServing();
    this.#serving = next;
    this.#cp?.tls.setSecureContext({
      key: next.key,
      cert: next.certChain,
      ca: this.#ca!.trustAnchorsPem,
      minVersion: 'TLSv1.2',
    });
  }

  #settings: MeshSettings | null = null;
  #changedAt = 0;
  #serving: { certChain: string; key: string; renewAfter: Date } | null = null;
  #secretWatch: ListWatch<V1Secret> | null = null;
  #caFingerprint = '';
  #stopping = false;

  /** A fresh key and a leaf of the mesh CA for the operator's own identity (never written anywhere). */
  #issueServing(): { certChain: string; key: string; renewAfter: Date } {
    const o = this.#o;
    const ca = this.#ca!;
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const issued = ca.issueServing(
      { spki: publicKey.export({ type: 'spki', format: 'der' }), publicKey },
      spiffeIdFor(ca.trustDomain, o.namespace, 'weft-operator'),
      o.servingDnsNames ?? ['localhost'],
      o.servingIps ?? ['127.0.0.1'],
    );
    return { certChain: issued.certificateChain, key: keyToPem(privateKey), renewAfter: issued.renewAfter };
  }

  /** Renews the serving certificate at 70% of its life; open connections keep theirs. */
  #scheduleServingRenewal(at: Date): void {
    // Leaves live 24 h by default; a longer one is renewed no later than a timer allows.
    const delay = Math.min(Math.max(1_000, at.getTime() - Date.now()), MAX_TIMER_MS);
    this.#servingTimer = setTimeout(() => {
      try {
        this.#refreshServing();
        const next = this.#serving!;
        this.#log.info({ renewAfter: next.renewAfter.toISOString() }, 'serving certificate renewed');
        this.#scheduleServingRenewal(next.renewAfter);
      } catch (err) {
        this.#log.error(
          { err: (err as Error).message },
          'serving certificate renewal failed; retrying in 1 min',
        );
        this.#scheduleServingRenewal(new Date(Date.now() + 60_000));
      }
    }, delay);
    this.#servingTimer.unref();
  }

  #servingTimer: NodeJS.Timeout | null = null;

  async #compile(ctx?: ReconcileContext): Promise<{ requeueAfterMs: number } | undefined> {
    const watcher = this.#watcher!;
    // Never publish from a partial cache: a config built before every kind listed would drop services.
    if (!watcher.synced) return { requeueAfterMs: 250 };
    const changedAt = this.#changedAt;
    this.#changedAt = 0;
    const startedAt = Date.now();
    const started = performance.now();
    const snapshot = watcher.snapshot();
    const out = this.#compiler.compile(snapshot);
    const compiled = performance.now();
    this.#hub!.publish(out.proxies, started, (k) => snapshot.pods.get(k)?.uid);
    const published = performance.now();
    // Statuses from the snapshot this compile read, now: it is the live store, which watch events change once
    // control returns to the event loop (an object added meanwhile got a status the compile never judged).
    const desired = desiredStatuses(snapshot, out.diagnostics);
    const warnings = coreWarnings(snapshot, out.diagnostics);
    // The HTTP layer hands the new messages to the sockets (TLS, write) on the next tick: let that happen before
    // the status bookkeeping below, which no proxy waits for.
    await new Promise((r) => setImmediate(r));
    ctx?.log.info(
      {
        proxies: out.proxies.size,
        // Epoch ms of the first informer event this compile covers (0: none, e.g. a resync).
        changedAt,
        queuedMs: changedAt === 0 ? 0 : startedAt - changedAt,
        compileMs: Math.round(compiled - started),
        publishMs: Math.round(published - compiled),
        // From the end of publish until the sockets had every message (encrypted and written).
        sentMs: Math.round(performance.now() - published),
      },
      'compiled and published',
    );
    this.#compiledOnce = true;
    this.metrics.proxies.set(out.proxies.size);
    this.metrics.distinctConfigs.set(new Set(out.proxies.values()).size);
    this.#desired = desired;
    this.#coreWarnings = warnings;
    this.metrics.coreWarnings.set(this.#coreWarnings.size);
    if (this.#elector?.leading) {
      for (const [k, st] of this.#desired) {
        // With the uid: an object deleted and created again under its name (kubectl replace --force) between two
        // compiles is a new object, whose status is still to be written.
        const sig = JSON.stringify([st.uid, st.generation, st.conditions]);
        if (this.#statusSig.get(k) === sig) continue;
        this.#statusSig.set(k, sig);
        this.#statusQueue!.add(k);
      }
      for (const [k, w] of this.#coreWarnings) {
        const key = `${CORE_KEY}${k}`;
        // With the uid, as for SMI objects: a Pod created again under its name (a StatefulSet's) with the same
        // problem is another object, whose Events are still to be written.
        const sig = JSON.stringify([w.uid, ...w.diagnostics.map((d) => [d.reason, d.message])]);
        if (this.#statusSig.get(key) === sig) continue;
        this.#statusSig.set(key, sig);
        this.#statusQueue!.add(key);
      }
      // Objects gone, or without warnings any more: their entries go too (pods come and go by the thousand).
      for (const k of this.#statusSig.keys()) {
        const live = k.startsWith(CORE_KEY)
          ? this.#coreWarnings.has(k.slice(CORE_KEY.length))
          : this.#desired.has(k);
        if (!live) this.#statusSig.delete(k);
      }
    }
    return undefined;
  }

  /** Warning Events on a core object (Service, Pod, Namespace) the compiler reported on; leader only. */
  async #writeCoreEvents(key: string): Promise<undefined> {
    const w = this.#coreWarnings.get(key.slice(CORE_KEY.length));
    if (w === undefined) return undefined;
    const events = this.#eventRecorder();
    // The uid the compile saw: the store may hold another pod of that name by now.
    const uid = w.uid;
    for (const d of w.diagnostics) {
      await events.warn(
        { apiVersion: 'v1', kind: d.kind, namespace: d.namespace, name: d.name, ...(uid ? { uid } : {}) },
        d.reason,
        d.message,
        d.eventKey,
      );
    }
    return undefined;
  }

  #eventRecorder(): EventRecorder {
    if (this.#events === null)
      this.#events = new EventRecorder(this.#o.kubeConfig, this.#eventTiming().periodMs);
    return this.#events;
  }

  #coreWarnings = new Map<string, CoreWarnings>();

  async #writeStatus(key: string, ctx: ReconcileContext): Promise<undefined> {
    // Writers run on the leader only; a replica that lost the lease mid-queue drops the key (the new leader
    // recomputes every status when it starts leading).
    if (!this.#elector?.leading) return undefined;
    if (key.startsWith(CORE_KEY)) return this.#writeCoreEvents(key);
    if (key.startsWith(EVENTS_KEY)) {
      const desired = this.#desired.get(key.slice(EVENTS_KEY.length));
      return desired === undefined ? undefined : this.#writeEvents(desired);
    }
    const desired = this.#desired.get(key);
    if (desired === undefined) return undefined;
    const client = new SmiStatusClient(this.#o.kubeConfig);
    const current = await client.getStatus(desired.kind, desired.namespace, desired.name);
    if (current === null) return undefined;
    const next = mergeConditions(current.conditions, desired.conditions, new Date());
    if (!conditionsEqual(current.conditions, next)) {
      // The lease may have moved while the status was read.
      if (!this.#elector?.leading) return undefined;
      try {
        await client.patchStatus(
          desired.kind,
          desired.namespace,
          desired.name,
          { observedGeneration: desired.generation, conditions: next },
          current.resourceVersion,
        );
      } catch (err) {
        // The apiserver refusing our status (schema) will refuse it again: do not retry forever.
        if (err instanceof ApiException && (err.code === 400 || err.code === 422)) {
          throw new TerminalError(`status of ${key} rejected: ${err.message.slice(0, 300)}`);
        }
        throw err;
      }
      ctx.log.info(
        { kind: desired.kind, conditions: next.map((c) => `${c.type}=${c.status}:${c.reason}`) },
        'status written',
      );
    }
    return this.#writeEvents(desired);
  }

  /** The Warning Events of an SMI object's diagnostics (the recorder writes what is new or due again). */
  async #writeEvents(desired: DesiredStatus): Promise<undefined> {
    const events = this.#eventRecorder();
    for (const w of desired.warnings) {
      await events.warn(
        {
          apiVersion: API_VERSIONS[desired.kind],
          kind: desired.kind,
          namespace: desired.namespace,
          name: desired.name,
          ...(desired.uid === '' ? {} : { uid: desired.uid }),
        },
        w.reason,
        w.message,
        w.eventKey,
      );
    }
    return undefined;
  }

  #events: EventRecorder | null = null;

  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#secretWatch?.stop();
    if (this.#servingTimer !== null) clearTimeout(this.#servingTimer);
    if (this.#renewTimer !== null) clearInterval(this.#renewTimer);
    if (this.#repeatTimer !== null) clearInterval(this.#repeatTimer);
    await this.#elector?.stop();
    this.#trimmer?.stop();
    this.#hub?.close();
    await Promise.all([this.#compileQueue?.stop(), this.#statusQueue?.stop(), this.#watcher?.stop()]);
    await Promise.all([this.#cp?.close(), close(this.#adminServer)]);
  }
}

/** How often the leader looks whether a generated issuer is due for renewal (it is due months ahead). */
const ISSUER_CHECK_MS = 3600_000;

/** Status-queue keys of core objects that get Warning Events (the rest are SMI objects' status keys). */
const CORE_KEY = 'core:';
/** Status-queue keys that write an SMI object's Warning Events again, without its status (#repeatEvents). */
const EVENTS_KEY = 'events:';

function caFingerprint(m: IssuerMaterial): string {
  return [...m.anchors.map((a) => a.fingerprint256), m.issuer.cert.fingerprint256].join(',');
}

function close(server: http.Server | null): Promise<void> {
  if (server === null) return Promise.resolve();
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
