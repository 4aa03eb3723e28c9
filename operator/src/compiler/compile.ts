// Cluster snapshot -> one ProxyConfig per meshed pod. Pure apart from the injected clock (generatedAt).
// Incremental: per-Service fragments and per-identity inbound sections are memoized on what they read (reads.ts);
// pods with the same profile (namespace, ServiceAccount, ports, overrides) share one compiled config, hashed and
// serialized once. A config that fails validateProxyConfig is never published: the last good one stays.
import { createHash } from 'node:crypto';
import { proxyConfigSchema } from '../../../crds/proxy-config/schema.ts';
import {
  type Backend,
  type PolicyMode,
  type PortProtocol,
  PROXY_CONFIG_API_VERSION,
  type ProxyConfig,
} from '../../../crds/proxy-config/types.ts';
import { validateProxyConfig } from '../../../crds/proxy-config/validate.ts';
import type { ClusterSnapshot, MeshSettings } from '../model/cluster.ts';
import { namespaceMeshed, opaquePortsOf, policyModeOf } from './annotations.ts';
import type { Diagnostic } from './diagnostics.ts';
import { buildInbound, type InboundFragment } from './inbound.ts';
import { buildOutboundFragment, type OutboundFragment } from './outbound.ts';
import { indexSnapshot, Reads, type SnapshotIndex } from './reads.ts';
import { resolveSplit } from './resolve.ts';

const DEFAULT_OPAQUE_PORTS: readonly number[] =
  proxyConfigSchema.properties.listeners.properties.opaquePorts.default;

/** A config ready to send: the document, its content version and the stream line, serialized once. */
export interface CompiledConfig {
  version: string;
  config: ProxyConfig;
  /** `{"type":"config",...}\n`, the control-plane stream message. */
  line: string;
}

export interface CompileStats {
  outboundFragmentsBuilt: number;
  inboundFragmentsBuilt: number;
  configsBuilt: number;
  configsSerialized: number;
}

export interface CompileOutput {
  /** Meshed pods by `<namespace>/<name>`; pods with the same profile share the object. */
  proxies: Map<string, CompiledConfig>;
  diagnostics: Diagnostic[];
}

interface Memo<T> {
  reads: Reads;
  value: T;
}

interface ProfileEntry {
  deps: unknown[];
  compiled: CompiledConfig | null;
  diagnostics: Diagnostic[];
}

interface Profile {
  key: string;
  namespace: string;
  serviceAccount: string;
  policyMode: PolicyMode;
  opaquePorts: number[] | null;
  ports: { port: number; protocol: PortProtocol }[];
  firstPod: string;
}

export class ProxyConfigCompiler {
  readonly stats: CompileStats = {
    outboundFragmentsBuilt: 0,
    inboundFragmentsBuilt: 0,
    configsBuilt: 0,
    configsSerialized: 0,
  };
  readonly #now: () => Date;
  #outbound = new Map<string, Memo<OutboundFragment | null>>();
  #inbound = new Map<string, Memo<InboundFragment>>();
  #profiles = new Map<string, ProfileEntry>();

  constructor(now: () => Date = () => new Date()) {
    this.#now = now;
  }

  compile(snapshot: ClusterSnapshot): CompileOutput {
    const ix = indexSnapshot(snapshot);
    const diagnostics: Diagnostic[] = [];

    // Outbound fragments, one per Service.
    const outbound = new Map<string, Memo<OutboundFragment | null>>();
    const byNamespace = new Map<string, OutboundFragment[]>();
    for (const svcKey of [...snapshot.services.keys()].sort()) {
      let memo = this.#outbound.get(svcKey);
      if (memo === undefined || !memo.reads.stillValid(ix)) {
        const reads = new Reads(ix);
        memo = { reads, value: buildOutboundFragment(svcKey, reads, snapshot.settings) };
        this.stats.outboundFragmentsBuilt++;
      }
      outbound.set(svcKey, memo);
      const f = memo.value;
      if (f === null) continue;
      diagnostics.push(...f.diagnostics);
      const list = byNamespace.get(f.remote.namespace);
      if (list === undefined) byNamespace.set(f.remote.namespace, [f]);
      else list.push(f);
    }
    this.#outbound = outbound;
    // Splits on a root that is not programmed (missing, ExternalName, no ports) are resolved only for status.
    for (const [rootKey, splits] of ix.splitsByRoot) {
      if (outbound.get(rootKey)?.value != null) continue;
      for (const ts of splits) diagnostics.push(...resolveSplit(ts, new Reads(ix)).diagnostics);
    }
    const meshedNamespaces = [...snapshot.namespaces.values()]
      .filter(namespaceMeshed)
      .map((n) => n.name)
      .sort();

    // Profiles of meshed pods.
    const podProfiles = new Map<string, Profile>();
    const profiles = new Map<string, Profile>();
    for (const [podKey, pod] of snapshot.pods) {
      if (!pod.meshed) continue;
      const ns = snapshot.namespaces.get(pod.namespace);
      const policyMode = policyModeOf(pod, ns, snapshot.settings.defaultPolicyMode, diagnostics);
      const opaquePorts = opaquePortsOf(pod, ns, diagnostics);
      const ports = podPorts(
        ix,
        podKey,
        pod.containerPorts,
        opaquePorts ?? DEFAULT_OPAQUE_PORTS,
        snapshot.settings,
      );
      const key = JSON.stringify([pod.namespace, pod.serviceAccountName, policyMode, opaquePorts, ports]);
      let profile = profiles.get(key);
      if (profile === undefined) {
        profile = {
          key,
          namespace: pod.namespace,
          serviceAccount: pod.serviceAccountName,
          policyMode,
          opaquePorts,
          ports,
          firstPod: podKey,
        };
        profiles.set(key, profile);
      }
      podProfiles.set(podKey, profile);
    }

    // Inbound sections and configs, once per profile.
    const inbound = new Map<string, Memo<InboundFragment>>();
    const entries = new Map<string, ProfileEntry>();
    for (const profile of profiles.values()) {
      const inKey = JSON.stringify([profile.namespace, profile.serviceAccount, profile.ports]);
      let memo = inbound.get(inKey) ?? this.#inbound.get(inKey);
      if (memo === undefined || !memo.reads.stillValid(ix)) {
        const reads = new Reads(ix);
        memo = {
          reads,
          value: buildInbound(profile.namespace, profile.serviceAccount, profile.ports, reads),
        };
        this.stats.inboundFragmentsBuilt++;
      }
      if (!inbound.has(inKey)) diagnostics.push(...memo.value.diagnostics);
      inbound.set(inKey, memo);

      const visible = [...new Set([...meshedNamespaces, profile.namespace])].sort();
      const deps: unknown[] = [snapshot.settings, memo.value];
      for (const ns of visible)
        deps.push(ns === profile.namespace ? 'own' : 'other', ...(byNamespace.get(ns) ?? []));
      const prev = this.#profiles.get(profile.key);
      if (prev !== undefined && sameList(prev.deps, deps)) {
        entries.set(profile.key, prev);
        diagnostics.push(...prev.diagnostics);
        continue;
      }
      const entry = this.#build(
        profile,
        snapshot.settings,
        memo.value,
        visible,
        byNamespace,
        prev?.compiled ?? null,
      );
      entries.set(profile.key, { ...entry, deps });
      diagnostics.push(...entry.diagnostics);
    }
    this.#inbound = inbound;
    this.#profiles = entries;

    const proxies = new Map<string, CompiledConfig>();
    for (const [podKey, profile] of podProfiles) {
      const c = entries.get(profile.key)?.compiled;
      if (c != null) proxies.set(podKey, c);
    }
    return { proxies, diagnostics };
  }

  #build(
    profile: Profile,
    settings: MeshSettings,
    inbound: InboundFragment,
    visible: string[],
    byNamespace: Map<string, OutboundFragment[]>,
    previous: CompiledConfig | null,
  ): Omit<ProfileEntry, 'deps'> {
    this.stats.configsBuilt++;
    const services = [];
    const backends = new Map<string, Backend>();
    for (const ns of visible) {
      for (const f of byNamespace.get(ns) ?? []) {
        services.push(ns === profile.namespace ? f.local : f.remote);
        for (const b of f.backends) mergeBackend(backends, b);
      }
    }
    const rest = {
      identity: {
        spiffeId: `spiffe://${settings.trustDomain}/ns/${profile.namespace}/sa/${profile.serviceAccount}`,
        trustDomain: settings.trustDomain,
      },
      trustAnchors: [...settings.trustAnchors],
      policyMode: profile.policyMode,
      listeners: {
        outboundPort: settings.outboundPort,
        inboundPort: settings.inboundPort,
        adminPort: settings.adminPort,
        ...(profile.opaquePorts === null ? {} : { opaquePorts: profile.opaquePorts }),
      },
      outbound: { services, backends: [...backends.values()] },
      inbound: { ports: inbound.ports },
    };
    const body = JSON.stringify(rest);
    const version = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    if (previous !== null && previous.version === version) return { compiled: previous, diagnostics: [] };
    const generatedAt = this.#now()
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z');
    const config = {
      apiVersion: PROXY_CONFIG_API_VERSION,
      version,
      generatedAt,
      ...rest,
    } as unknown as ProxyConfig;
    const checked = validateProxyConfig(config);
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
    const head = JSON.stringify({ apiVersion: PROXY_CONFIG_API_VERSION, version, generatedAt });
    const line = `{"type":"config","version":${JSON.stringify(version)},"config":${head.slice(0, -1)},${body.slice(1)}}\n`;
    return { compiled: { version, config, line }, diagnostics: [] };
  }
}

function podPorts(
  ix: SnapshotIndex,
  podKey: string,
  containerPorts: readonly { port: number; protocol: string }[],
  opaque: readonly number[],
  s: MeshSettings,
): { port: number; protocol: PortProtocol }[] {
  const seen = new Map<number, PortProtocol>();
  const add = (port: number, l4: string) => {
    if (l4 === 'SCTP' || seen.has(port)) return;
    if (port === s.inboundPort || port === s.outboundPort || port === s.adminPort) return;
    seen.set(port, l4 === 'UDP' ? 'udp' : opaque.includes(port) ? 'opaque' : 'detect');
  };
  for (const p of containerPorts) add(p.port, p.protocol);
  for (const pp of ix.slicePortsByPod.get(podKey) ?? []) {
    const [port, proto] = pp.split('/');
    add(Number(port), proto ?? 'TCP');
  }
  return [...seen].sort((a, b) => a[0] - b[0]).map(([port, protocol]) => ({ port, protocol }));
}

function mergeBackend(into: Map<string, Backend>, b: Backend): void {
  const k = `${b.namespace}/${b.name}`;
  const have = into.get(k);
  if (have === undefined) {
    into.set(k, b);
    return;
  }
  const missing = b.ports.filter((p) => !have.ports.some((q) => q.port === p.port));
  if (missing.length > 0) {
    into.set(k, { ...have, ports: [...have.ports, ...missing].sort((x, y) => x.port - y.port) });
  }
}

function sameList(a: unknown[], b: unknown[]): boolean {
  return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}
