// Cluster snapshot -> one ProxyConfig per meshed pod. Pure apart from the injected clock (generatedAt).
// Incremental: per-Service fragments (serialized and validated once) and per-identity inbound sections are
// memoized on what they read (reads.ts); the outbound section per namespace is a join of fragment strings; pods
// with the same profile (namespace, ServiceAccount, ports, overrides) share one compiled config. A config that fails validateProxyConfig is never published: the last good one stays.
import { createHash } from 'node:crypto';
import { INJECT } from '../../../crds/annotations.ts';
import { proxyConfigSchema } from '../../../crds/proxy-config/schema.ts';
import {
  type Backend,
  type OutboundService,
  type PolicyMode,
  type PortProtocol,
  PROXY_CONFIG_API_VERSION,
  type ProxyConfig,
} from '../../../crds/proxy-config/types.ts';
import { validateProxyConfig } from '../../../crds/proxy-config/validate.ts';
import type {
  ClusterSnapshot,
  MeshSettings,
  NamespaceRecord,
  PodRecord,
  ProbeRecord,
} from '../model/cluster.ts';
import { namespaceMeshed, opaquePortsOf, policyModeOf } from './annotations.ts';
import type { Diagnostic } from './diagnostics.ts';
import { buildInbound, type HttpProbe, type InboundFragment } from './inbound.ts';
import { buildOutboundFragment, type OutboundFragment } from './outbound.ts';
import { meshPorts, takesPortNumber } from './ports.ts';
import { foreignDestination, indexSnapshot, Reads, type SnapshotIndex } from './reads.ts';
import { resolveSplit, resolveTarget } from './resolve.ts';

const DEFAULT_OPAQUE_PORTS: readonly number[] =
  proxyConfigSchema.properties.listeners.properties.opaquePorts.default;

/** A piece of a stream message: large shared pieces are encoded once (Buffer) and written as is to every socket. */
export type Chunk = string | Buffer;

/** A config ready to send: the document, its content version and the stream message, serialized once. */
export interface CompiledConfig {
  version: string;
  config: ProxyConfig;
  /**
   * The control-plane stream message `{"type":"config",...}\n` in pieces: the large outbound section is one
   * string shared by every config of a namespace (built on first use), so it is never copied per proxy.
   */
  readonly chunks: readonly Chunk[];
  /** What patchChunks needs to express this config as a change from another one. */
  readonly parts: ConfigParts;
}

/** Opaque to callers: the serialized pieces a config is made of. */
export interface ConfigParts {
  readonly view: OutboundView;
  /** The document without `outbound`, serialized. */
  readonly headRestJson: string;
  /** The document without header and `outbound` (what the per-profile validation checked). */
  readonly restJson: string;
  /** Patch messages to this config, per base config, encoded once and shared by every subscriber. */
  readonly patches: WeakMap<CompiledConfig, readonly Chunk[]>;
}

export interface CompileStats {
  outboundFragmentsBuilt: number;
  inboundFragmentsBuilt: number;
  outboundViewsBuilt: number;
  configsBuilt: number;
  configsSerialized: number;
}

export interface CompileOutput {
  /** Meshed pods by `<namespace>/<name>`; pods with the same profile share the object. */
  proxies: Map<string, CompiledConfig>;
  diagnostics: Diagnostic[];
}

/** A Service's fragment, serialized and validated once; shared by every view that includes it. */
interface SerializedFragment {
  fragment: OutboundFragment;
  localJson: string;
  remoteJson: string;
  backendJson: string;
  hash: string;
}

interface CheckedFragment {
  /** The fragment in use: the new one, the last good one, or none. */
  sf: SerializedFragment | null;
  diagnostics: Diagnostic[];
}

interface Memo<T> {
  reads: Reads;
  value: T;
}

/** The outbound section as seen from one namespace: every visible Service, joined from fragments. */
export interface OutboundView {
  deps: unknown[];
  outbound: ProxyConfig['outbound'];
  /**
   * The serialized section as UTF-8, built on first use (subscribers that take patches may never need it) and
   * shared by every socket it is written to: no per-subscriber string encoding or copy.
   */
  readonly bytes: Buffer;
  hash: string;
  /** Per `<namespace>/<name>`: the serialized service and backend and a tag that changes with either. */
  entries: Map<string, { tag: string; serviceJson: string; backendJson: string }>;
  /** Outbound patches from earlier views to this one, computed once per pair. */
  patchesFrom: WeakMap<OutboundView, string>;
}

interface ProfileEntry {
  deps: unknown[];
  compiled: CompiledConfig | null;
  diagnostics: Diagnostic[];
}

/** A pod's share of its profile, with the records it was derived from (valid while they are the same). */
interface PodMemo extends Pick<Profile, 'key' | 'policyMode' | 'opaquePorts' | 'ports' | 'probes'> {
  ns: NamespaceRecord | undefined;
  settings: MeshSettings;
  sliceSig: string;
  diagnostics: Diagnostic[];
}

interface Profile {
  key: string;
  namespace: string;
  serviceAccount: string;
  policyMode: PolicyMode;
  opaquePorts: number[] | null;
  ports: { port: number; protocol: PortProtocol }[];
  /** The pod's plaintext httpGet probes on its own ports (admitted without identity). */
  probes: HttpProbe[];
  firstPod: string;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** A checked fragment's JSON, serialized once for every config that carries it. */
function serialized(f: OutboundFragment): SerializedFragment {
  const localJson = JSON.stringify(f.local);
  const remoteJson = JSON.stringify(f.remote);
  const backendJson = JSON.stringify(f.backend);
  const hash = sha256(`${localJson}\n${remoteJson}\n${backendJson}`);
  return { fragment: f, localJson, remoteJson, backendJson, hash };
}

export class ProxyConfigCompiler {
  readonly stats: CompileStats = {
    outboundFragmentsBuilt: 0,
    inboundFragmentsBuilt: 0,
    outboundViewsBuilt: 0,
    configsBuilt: 0,
    configsSerialized: 0,
  };
  readonly #now: () => Date;
  #outbound = new Map<string, Memo<CheckedFragment>>();
  #inbound = new Map<string, Memo<InboundFragment>>();
  #views = new Map<string, OutboundView>();
  #profiles = new Map<string, ProfileEntry>();
  #settings: MeshSettings | null = null;
  #podMemo = new WeakMap<PodRecord, PodMemo>();

  constructor(now: () => Date = () => new Date()) {
    this.#now = now;
  }

  compile(snapshot: ClusterSnapshot): CompileOutput {
    // Fragments depend on the settings (trust anchors decide endpoint identities): new settings, new fragments.
    if (snapshot.settings !== this.#settings) {
      this.#outbound = new Map();
      this.#views = new Map();
      this.#settings = snapshot.settings;
    }
    const ix = indexSnapshot(snapshot);
    const diagnostics: Diagnostic[] = [];
    const settings = snapshot.settings;

    // Outbound fragments, one per Service.
    const outbound = new Map<string, Memo<CheckedFragment>>();
    const byNamespace = new Map<string, SerializedFragment[]>();
    for (const svcKey of [...snapshot.services.keys()].sort()) {
      let memo = this.#outbound.get(svcKey);
      if (memo === undefined || !memo.reads.stillValid(ix)) {
        const reads = new Reads(ix);
        const built = buildOutboundFragment(svcKey, reads, settings);
        memo = {
          reads,
          value:
            built === null
              ? { sf: null, diagnostics: [] }
              : this.#serializeFragment(built, settings, memo?.value.sf ?? null),
        };
        this.stats.outboundFragmentsBuilt++;
      }
      outbound.set(svcKey, memo);
      diagnostics.push(...memo.value.diagnostics);
      const f = memo.value.sf;
      if (f === null) continue;
      const list = byNamespace.get(f.fragment.remote.namespace);
      if (list === undefined) byNamespace.set(f.fragment.remote.namespace, [f]);
      else list.push(f);
    }
    this.#outbound = outbound;
    // Splits on a root that is not programmed (missing, ExternalName, no ports) are resolved only for status.
    for (const [rootKey, splits] of ix.splitsByRoot) {
      if (outbound.get(rootKey)?.value.sf != null) continue;
      const root = snapshot.services.get(rootKey);
      // The root exists, but is in no config: the split is in effect nowhere, and says why.
      const why =
        root === undefined
          ? null
          : root.externalName
            ? 'is ExternalName, which the mesh does not program'
            : meshPorts(root).length === 0
              ? 'has no TCP or UDP port, so the mesh does not program it'
              : 'is left out of proxy configs (see its InvalidProxyConfig Event)';
      for (const ts of splits) {
        diagnostics.push(...resolveSplit(ts, new Reads(ix)).diagnostics);
        if (why !== null)
          diagnostics.push({
            kind: 'TrafficSplit',
            namespace: ts.metadata.namespace ?? '',
            name: ts.metadata.name ?? '',
            reason: 'RootNotProgrammable',
            message: `spec.service: Service ${rootKey} ${why}; this split applies nowhere`,
          });
      }
    }
    for (const tt of snapshot.trafficTargets.values()) {
      const ns = tt.metadata.namespace ?? '';
      const other = foreignDestination(tt);
      if (other !== null)
        diagnostics.push({
          kind: 'TrafficTarget',
          namespace: ns,
          name: tt.metadata.name ?? '',
          reason: 'InvalidDestination',
          message: `spec.destination.namespace: ${other} is not this TrafficTarget's namespace (${ns}); a TrafficTarget grants access to its own namespace only, so it is not programmed`,
        });
    }
    const meshedNamespaces = [...snapshot.namespaces.values()]
      .filter(namespaceMeshed)
      .map((n) => n.name)
      .sort();

    // Profiles of meshed pods.
    const podProfiles = new Map<string, Profile>();
    const profiles = new Map<string, Profile>();
    const destinations = ix.targetsByDestination.size === 0 ? null : new DestinationTally(ix);
    for (const [podKey, pod] of snapshot.pods) {
      destinations?.count(pod);
      if (!pod.meshed) continue;
      const ns = snapshot.namespaces.get(pod.namespace);
      const slicePorts = ix.slicePortsByPod.get(podKey);
      const sliceSig = slicePorts === undefined ? '' : slicePorts.join(',');
      // What a pod's profile is made of changes rarely: memoized on the records it reads.
      let pm = this.#podMemo.get(pod);
      if (pm === undefined || pm.ns !== ns || pm.settings !== settings || pm.sliceSig !== sliceSig) {
        const podDiagnostics: Diagnostic[] = [];
        const policyMode = policyModeOf(pod, ns, settings.defaultPolicyMode, podDiagnostics);
        const opaquePorts = opaquePortsOf(pod, ns, podDiagnostics);
        const probes = httpProbes(pod.probes, settings);
        const ports = podPorts(
          ix,
          podKey,
          [...pod.containerPorts, ...probes.map((p) => ({ port: p.port, protocol: 'TCP' }))],
          opaquePorts ?? DEFAULT_OPAQUE_PORTS,
          settings,
        );
        pm = {
          ns,
          settings,
          sliceSig,
          key: JSON.stringify([
            pod.namespace,
            pod.serviceAccountName,
            policyMode,
            opaquePorts,
            ports,
            probes,
          ]),
          policyMode,
          opaquePorts,
          ports,
          probes,
          diagnostics: podDiagnostics,
        };
        this.#podMemo.set(pod, pm);
      }
      diagnostics.push(...pm.diagnostics);
      const { key, policyMode, opaquePorts, ports, probes } = pm;
      let profile = profiles.get(key);
      if (profile === undefined) {
        profile = {
          key,
          namespace: pod.namespace,
          serviceAccount: pod.serviceAccountName,
          policyMode,
          opaquePorts,
          ports,
          probes,
          firstPod: podKey,
        };
        profiles.set(key, profile);
      }
      podProfiles.set(podKey, profile);
    }

    // Outbound views, once per namespace with meshed pods.
    const views = new Map<string, OutboundView>();
    for (const profile of profiles.values()) {
      if (views.has(profile.namespace)) continue;
      const visible = [...new Set([...meshedNamespaces, profile.namespace])].sort();
      const deps: unknown[] = [];
      for (const ns of visible)
        deps.push(ns === profile.namespace ? 'own' : 'other', ...(byNamespace.get(ns) ?? []));
      const prev = this.#views.get(profile.namespace);
      views.set(
        profile.namespace,
        prev !== undefined && sameList(prev.deps, deps)
          ? prev
          : this.#buildView(profile.namespace, visible, byNamespace, deps),
      );
    }
    this.#views = views;

    // Inbound sections and configs, once per profile.
    const inbound = new Map<string, Memo<InboundFragment>>();
    const entries = new Map<string, ProfileEntry>();
    for (const profile of profiles.values()) {
      const inKey = JSON.stringify([
        profile.namespace,
        profile.serviceAccount,
        profile.ports,
        profile.probes,
      ]);
      let memo = inbound.get(inKey) ?? this.#inbound.get(inKey);
      if (memo === undefined || !memo.reads.stillValid(ix)) {
        const reads = new Reads(ix);
        memo = {
          reads,
          value: buildInbound(
            profile.namespace,
            profile.serviceAccount,
            profile.ports,
            reads,
            profile.probes,
          ),
        };
        this.stats.inboundFragmentsBuilt++;
      }
      if (!inbound.has(inKey)) diagnostics.push(...memo.value.diagnostics);
      inbound.set(inKey, memo);

      const view = views.get(profile.namespace)!;
      const deps: unknown[] = [settings, memo.value, view];
      const prev = this.#profiles.get(profile.key);
      if (prev !== undefined && sameList(prev.deps, deps)) {
        entries.set(profile.key, prev);
        diagnostics.push(...prev.diagnostics);
        continue;
      }
      const entry = this.#build(profile, settings, memo.value, view, prev?.compiled ?? null);
      entries.set(profile.key, { ...entry, deps });
      diagnostics.push(...entry.diagnostics);
    }
    this.#inbound = inbound;
    this.#profiles = entries;
    // TrafficTargets whose destination runs no meshed pod are programmed nowhere: resolved only for status, so
    // that a rule referencing nothing is reported whether or not the destination is deployed yet.
    const programmedDestinations = new Set(
      [...profiles.values()].map((p) => `${p.namespace}/${p.serviceAccount}`),
    );
    for (const [destination, targets] of ix.targetsByDestination) {
      if (programmedDestinations.has(destination)) continue;
      for (const tt of targets) diagnostics.push(...resolveTarget(tt, new Reads(ix)).diagnostics);
    }
    if (destinations !== null) diagnostics.push(...destinations.diagnostics());

    const proxies = new Map<string, CompiledConfig>();
    for (const [podKey, profile] of podProfiles) {
      const c = entries.get(profile.key)?.compiled;
      if (c != null) proxies.set(podKey, c);
    }
    return { proxies, diagnostics };
  }

  /**
   * Serializes a fragment and validates it inside a minimal document (the schema and the cross-field rules
   * that concern one service). A fragment that fails is retried without its split and routes: the Service
   * stays in every config with its own endpoints (a split elsewhere may name it as a backend, and that
   * config would fail without it), and the diagnostic says what was left out. Only if that fails too is
   * the previous good fragment kept, or the Service left out.
   */
  #serializeFragment(
    f: OutboundFragment,
    settings: MeshSettings,
    previous: SerializedFragment | null,
  ): CheckedFragment {
    const diag = (message: string): Diagnostic => ({
      kind: 'Service',
      namespace: f.local.namespace,
      name: f.local.name,
      reason: 'InvalidProxyConfig',
      message,
    });
    const problem = this.#fragmentProblem(f, settings);
    if (problem === null) return { sf: serialized(f), diagnostics: f.diagnostics };
    if (f.local.split !== null || f.local.routes.length > 0) {
      const plain = (s: OutboundService): OutboundService => ({
        ...s,
        split: null,
        routes: [],
        defaultRoute: { ...s.defaultRoute, useSplit: true },
      });
      const reduced: OutboundFragment = { ...f, local: plain(f.local), remote: plain(f.remote) };
      if (this.#fragmentProblem(reduced, settings) === null) {
        // The split says so too: its status must not read "programmed" while no proxy routes by it.
        const onSplit: Diagnostic[] =
          f.local.split === null
            ? []
            : [
                {
                  kind: 'TrafficSplit',
                  namespace: f.local.namespace,
                  name: f.local.split.name,
                  reason: 'InvalidProxyConfig',
                  message: `not programmed: its routes or backends fail the proxy config contract: ${problem}`,
                },
              ];
        return {
          sf: serialized(reduced),
          diagnostics: [
            ...f.diagnostics,
            diag(
              `split and routes left out of proxy configs (the service and its endpoints stay): ${problem}`,
            ),
            ...onSplit,
          ],
        };
      }
    }
    return {
      sf: previous,
      diagnostics: [
        ...f.diagnostics,
        diag(`service left out of proxy configs${previous ? ' (last good kept)' : ''}: ${problem}`),
      ],
    };
  }

  /** Why a fragment fails validation (its first errors), or null when it passes. */
  #fragmentProblem(f: OutboundFragment, settings: MeshSettings): string | null {
    const splitTargets = (f.local.split?.backends ?? [])
      .filter((b) => b.service !== f.local.name)
      .map((b) => ({ name: b.service, namespace: f.local.namespace, ports: [] }));
    const doc = {
      apiVersion: PROXY_CONFIG_API_VERSION,
      version: 'fragment-check',
      generatedAt: '1970-01-01T00:00:00Z',
      ...skeleton(settings, f.local.namespace, 'fragment-check', 'permissive', null, []),
      outbound: { services: [f.local], backends: [f.backend, ...splitTargets] },
    };
    const checked = validateProxyConfig(doc);
    if (checked.ok) return null;
    return checked.errors
      .slice(0, 3)
      .map((e) => `${e.path} ${e.message}`)
      .join('; ');
  }

  #buildView(
    namespace: string,
    visible: string[],
    byNamespace: Map<string, SerializedFragment[]>,
    deps: unknown[],
  ): OutboundView {
    this.stats.outboundViewsBuilt++;
    const services: OutboundService[] = [];
    const backends: Backend[] = [];
    const sJson: string[] = [];
    const bJson: string[] = [];
    const hashes: string[] = [];
    const entries: OutboundView['entries'] = new Map();
    for (const ns of visible) {
      const own = ns === namespace;
      for (const f of byNamespace.get(ns) ?? []) {
        const serviceJson = own ? f.localJson : f.remoteJson;
        const tag = `${own ? 'L' : 'R'}${f.hash}`;
        services.push(own ? f.fragment.local : f.fragment.remote);
        sJson.push(serviceJson);
        backends.push(f.fragment.backend);
        bJson.push(f.backendJson);
        hashes.push(tag);
        entries.set(`${f.fragment.local.namespace}/${f.fragment.local.name}`, {
          tag,
          serviceJson,
          backendJson: f.backendJson,
        });
      }
    }
    let bytes: Buffer | null = null;
    return {
      deps,
      outbound: { services, backends },
      get bytes() {
        bytes ??= Buffer.from(`{"services":[${sJson.join(',')}],"backends":[${bJson.join(',')}]}`);
        return bytes;
      },
      hash: sha256(hashes.join(',')),
      entries,
      patchesFrom: new WeakMap(),
    };
  }

  #build(
    profile: Profile,
    settings: MeshSettings,
    inbound: InboundFragment,
    view: OutboundView,
    previous: CompiledConfig | null,
  ): Omit<ProfileEntry, 'deps'> {
    this.stats.configsBuilt++;
    const rest = skeleton(
      settings,
      profile.namespace,
      profile.serviceAccount,
      profile.policyMode,
      profile.opaquePorts,
      inbound.ports,
    );
    const restJson = JSON.stringify(rest);
    const version = `sha256:${sha256(`${restJson}\n${view.hash}`)}`;
    if (previous !== null && previous.version === version) return { compiled: previous, diagnostics: [] };
    const generatedAt = this.#now()
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z');
    const head = { apiVersion: PROXY_CONFIG_API_VERSION, version, generatedAt };
    // Everything but the outbound section is checked here; the outbound section is made of fragments each
    // checked once (#serializeFragment), and no cross-field rule relates two services with distinct names.
    // When only the outbound view changed, the rest was already checked with the previous version.
    const checked =
      previous !== null && previous.parts.restJson === restJson
        ? ({ ok: true } as const)
        : validateProxyConfig({ ...head, ...rest, outbound: { services: [], backends: [] } });
    if (!checked.ok) {
      const [ns, name] = profile.firstPod.split('/') as [string, string];
      const first = checked.errors
        .slice(0, 3)
        .map((e) => `${e.path} ${e.message}`)
        .join('; ');
      return {
        compiled: previous,
        diagnostics: [
          {
            kind: 'Pod',
            namespace: ns,
            name,
            reason: 'InvalidProxyConfig',
            message: `compiled config rejected, last good kept: ${first}`,
          },
        ],
      };
    }
    this.stats.configsSerialized++;
    const config = { ...head, ...rest, outbound: view.outbound } as unknown as ProxyConfig;
    const headJson = JSON.stringify(head);
    const headRestJson = `${headJson.slice(0, -1)},${restJson.slice(1)}`;
    const first = `{"type":"config","version":${JSON.stringify(version)},"config":${headRestJson.slice(0, -1)},"outbound":`;
    return {
      compiled: {
        version,
        config,
        get chunks() {
          return [first, view.bytes, '}}\n'];
        },
        parts: { view, headRestJson, restJson, patches: new WeakMap() },
      },
      diagnostics: [],
    };
  }
}

/**
 * The stream message turning `base` into `next` (crds/control-plane README, "patch"): the whole document but
 * `outbound`, plus the services and backends that differ. Only the outbound part is large; it is computed once
 * per pair of outbound views and shared by every subscriber that moves between them.
 */
export function patchChunks(base: CompiledConfig, next: CompiledConfig): readonly Chunk[] {
  const cached = next.parts.patches.get(base);
  if (cached !== undefined) return cached;
  const from = base.parts.view;
  const to = next.parts.view;
  let outbound = to.patchesFrom.get(from);
  if (outbound === undefined) {
    const upS: string[] = [];
    const upB: string[] = [];
    const removed: string[] = [];
    for (const [k, e] of to.entries) {
      if (from.entries.get(k)?.tag === e.tag) continue;
      upS.push(e.serviceJson);
      upB.push(e.backendJson);
    }
    for (const k of from.entries.keys()) {
      if (to.entries.has(k)) continue;
      const [namespace, name] = k.split('/') as [string, string];
      removed.push(JSON.stringify({ namespace, name }));
    }
    const rm = removed.join(',');
    outbound = `{"services":{"upsert":[${upS.join(',')}],"remove":[${rm}]},"backends":{"upsert":[${upB.join(',')}],"remove":[${rm}]}}`;
    to.patchesFrom.set(from, outbound);
  }
  const head = `{"type":"patch","version":${JSON.stringify(next.version)},"base":${JSON.stringify(base.version)},"config":`;
  const message = [Buffer.from(`${head}${next.parts.headRestJson},"outbound":${outbound}}\n`)];
  next.parts.patches.set(base, message);
  return message;
}

/** Everything of a config but the header and the outbound section, in a fixed key order. */
function skeleton(
  settings: MeshSettings,
  namespace: string,
  serviceAccount: string,
  policyMode: PolicyMode,
  opaquePorts: number[] | null,
  inboundPorts: InboundFragment['ports'],
) {
  return {
    identity: {
      spiffeId: `spiffe://${settings.trustDomain}/ns/${namespace}/sa/${serviceAccount}`,
      trustDomain: settings.trustDomain,
    },
    trustAnchors: [...settings.trustAnchors],
    policyMode,
    listeners: {
      outboundPort: settings.outboundPort,
      inboundPort: settings.inboundPort,
      adminPort: settings.adminPort,
      ...(opaquePorts === null ? {} : { opaquePorts }),
    },
    inbound: { ports: inboundPorts },
  };
}

function podPorts(
  ix: SnapshotIndex,
  podKey: string,
  containerPorts: readonly { port: number; protocol: string }[],
  opaque: readonly number[],
  s: MeshSettings,
): { port: number; protocol: PortProtocol }[] {
  const seen = new Map<number, string>();
  const add = (port: number, l4: string) => {
    if (port === s.inboundPort || port === s.outboundPort || port === s.adminPort) return;
    if (takesPortNumber(seen.get(port), l4)) seen.set(port, l4);
  };
  for (const p of containerPorts) add(p.port, p.protocol);
  for (const pp of ix.slicePortsByPod.get(podKey) ?? []) {
    const [port, proto] = pp.split('/');
    add(Number(port), proto ?? 'TCP');
  }
  return [...seen]
    .sort((a, b) => a[0] - b[0])
    .map(([port, l4]): { port: number; protocol: PortProtocol } => ({
      port,
      protocol: l4 === 'UDP' ? 'udp' : opaque.includes(port) ? 'opaque' : 'detect',
    }));
}

/**
 * The probes that need an authorization: plaintext httpGet on a port the proxy intercepts, sorted. HTTPS probes
 * are left out: kubelet's TLS is not mesh TLS, so the proxy sees an opaque connection without identity, which
 * only a whole-port authorization could admit (see docs/operator.md).
 */
function httpProbes(probes: readonly ProbeRecord[], s: MeshSettings): HttpProbe[] {
  const out = new Map<string, HttpProbe>();
  for (const p of probes) {
    if (p.kind !== 'http' || p.scheme !== 'HTTP') continue;
    if (p.port === s.inboundPort || p.port === s.outboundPort || p.port === s.adminPort) continue;
    out.set(`${p.port} ${p.path}`, { port: p.port, path: p.path });
  }
  return [...out.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([, p]) => p);
}

/**
 * TrafficTargets whose destination ServiceAccount runs pods without a proxy. Nothing enforces a TrafficTarget on
 * such a pod (any client reaches it), so the target must not read as Ready while one runs: Ready means enforced
 * on every running destination pod. Pods that finished (Succeeded, Failed) run nothing and do not count; pending
 * ones do (they will run as they were created); a ServiceAccount without pods has nothing to enforce yet (its pods
 * get the rules as they come). Counted in the compile's pass over the pods (count), not memoized, so a pod added,
 * removed, finished or re-created meshed changes the verdict with the compile its informer event triggers.
 */
class DestinationTally {
  readonly #ix: SnapshotIndex;
  /**
   * Per destination: running pods, unmeshed ones, and the first two unmeshed names (sorted, so that the message,
   * and the status written from it, does not change with the order pods were listed in).
   */
  readonly #tally = new Map<
    string,
    { pods: number; unmeshed: number; hostNetwork: number; examples: string[] }
  >();

  constructor(ix: SnapshotIndex) {
    this.#ix = ix;
  }

  count(pod: PodRecord): void {
    if (pod.terminated) return;
    const destination = `${pod.namespace}/${pod.serviceAccountName}`;
    if (!this.#ix.targetsByDestination.has(destination)) return;
    let t = this.#tally.get(destination);
    if (t === undefined) {
      t = { pods: 0, unmeshed: 0, hostNetwork: 0, examples: [] };
      this.#tally.set(destination, t);
    }
    t.pods++;
    if (pod.meshed) return;
    t.unmeshed++;
    if (pod.hostNetwork) t.hostNetwork++;
    t.examples.push(pod.name);
    t.examples.sort();
    t.examples.length = Math.min(t.examples.length, 2);
  }

  diagnostics(): Diagnostic[] {
    const ix = this.#ix;
    const out: Diagnostic[] = [];
    for (const [destination, t] of this.#tally) {
      if (t.unmeshed === 0) continue;
      const more = t.unmeshed > t.examples.length ? ', ...' : '';
      const head =
        `${t.unmeshed} of ${t.pods} running pods of ServiceAccount ${destination} are not meshed ` +
        `(${t.examples.join(', ')}${more}): no proxy runs in front of them, so nothing enforces this ` +
        'TrafficTarget there. ';
      // A hostNetwork pod shares its node's network: no proxy can be put in front of it, and re-creating it
      // changes nothing, so the advice differs.
      const hostNetworkAdvice =
        'hostNetwork pods are never meshed (they share their node network): run them without hostNetwork, or ' +
        'under a ServiceAccount no TrafficTarget names';
      const injectAdvice =
        `Set the annotation ${INJECT}: enabled on their pod template or namespace (and not disabled on the ` +
        'pods), then re-create the pods (e.g. kubectl rollout restart): the proxy is injected only when a pod ' +
        'is created';
      const advice = t.hostNetwork === t.unmeshed ? 'hostNetwork' : t.hostNetwork > 0 ? 'mixed' : 'inject';
      const message =
        advice === 'hostNetwork'
          ? `${head}${hostNetworkAdvice}`
          : advice === 'mixed'
            ? `${head}${injectAdvice}; ${t.hostNetwork} of them use hostNetwork: ${hostNetworkAdvice}`
            : `${head}${injectAdvice}`;
      for (const tt of ix.targetsByDestination.get(destination) ?? [])
        out.push({
          kind: 'TrafficTarget',
          namespace: tt.metadata.namespace ?? '',
          name: tt.metadata.name ?? '',
          reason: 'DestinationNotMeshed',
          message,
          // The counts and examples move with every pod of a rollout; the Event is one per destination and advice.
          eventKey: `${destination} ${advice}`,
        });
    }
    return out;
  }
}

function sameList(a: unknown[], b: unknown[]): boolean {
  return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}
