// The inbound side of a proxy: per port of the pod, who may connect (TrafficTargets naming the pod's
// ServiceAccount as destination) and on which routes.

import { MAX_REGEX_SOURCE_LENGTH } from '../../../crds/proxy-config/regex-dialect.ts';
import {
  MAX_AUTHORIZATIONS_PER_PORT,
  MAX_HTTP_MATCHES_PER_AUTHORIZATION,
} from '../../../crds/proxy-config/schema.ts';
import type { Authorization, InboundPort, PortProtocol } from '../../../crds/proxy-config/types.ts';
import type { Diagnostic } from './diagnostics.ts';
import type { Reads } from './reads.ts';
import { resolveTarget } from './resolve.ts';

/** Name of the authorization that admits kubelet's HTTP probes (logs, metrics, the 403 reason). */
export const PROBE_AUTHORIZATION = 'weft/kubelet-probes';

/** An httpGet probe of the pod: kubelet sends `GET <path>` in plaintext, without mesh identity. */
export interface HttpProbe {
  port: number;
  path: string;
}

export interface InboundFragment {
  ports: InboundPort[];
  diagnostics: Diagnostic[];
}

/**
 * Builds authorizations for the pod ports of a workload identity (namespace + ServiceAccount), plus, last on
 * its port, one that lets any client (kubelet has no mesh identity) `GET` exactly the paths of the pod's own
 * httpGet probes. TCP probes need none: the proxy completes the TCP handshake itself, which is all a
 * tcpSocket probe checks, and an authorization for "any client, whole port" would open the port to everyone.
 */
export function buildInbound(
  namespace: string,
  serviceAccount: string,
  podPorts: { port: number; protocol: PortProtocol }[],
  reads: Reads,
  probes: readonly HttpProbe[] = [],
): InboundFragment {
  const diagnostics: Diagnostic[] = [];
  const targets = reads.targets(`${namespace}/${serviceAccount}`).map((tt) => {
    const r = resolveTarget(tt, reads);
    diagnostics.push(...r.diagnostics);
    const ref = { namespace: tt.metadata.namespace ?? '', name: tt.metadata.name ?? '' };
    return { name: `${ref.namespace}/${ref.name}`, ref, ...r };
  });
  const ports: InboundPort[] = [];
  for (const pp of podPorts) {
    const authorizations: Authorization[] = [];
    for (const t of targets) {
      if (t.sources.length === 0) continue;
      const covers = (ports: number[] | null) => ports === null || ports.includes(pp.port);
      const l4 = t.rules.some((r) =>
        pp.protocol === 'udp' ? r.kind === 'udp' && covers(r.ports) : r.kind === 'tcp' && covers(r.ports),
      );
      let httpMatches: Authorization['httpMatches'] | undefined;
      if (l4) httpMatches = null;
      else if (pp.protocol !== 'udp' && pp.protocol !== 'opaque') {
        const m = t.rules.flatMap((r) => (r.kind === 'http' ? r.matches : []));
        // Past the contract's limit the pod would get no config: the first matches in rule order are
        // programmed (requests matching only the others are denied, failing closed), and the target says so.
        if (m.length > MAX_HTTP_MATCHES_PER_AUTHORIZATION) {
          diagnostics.push({
            kind: 'TrafficTarget',
            ...t.ref,
            reason: 'TooManyMatches',
            message: `spec.rules: ${m.length} HTTP matches on port ${pp.port}; proxies take the first ${MAX_HTTP_MATCHES_PER_AUTHORIZATION} in rule order, requests matching only the others are denied`,
          });
          m.length = MAX_HTTP_MATCHES_PER_AUTHORIZATION;
        }
        if (m.length > 0) httpMatches = m;
      }
      if (httpMatches === undefined) continue;
      authorizations.push({
        name: t.name,
        sources: t.sources.map((s) => ({ kind: 'serviceAccount', namespace: s.namespace, name: s.name })),
        httpMatches,
      });
    }
    // HTTP matches are not allowed on opaque and udp ports (the proxy never parses HTTP there).
    const probeRegexes =
      pp.protocol === 'opaque' || pp.protocol === 'udp'
        ? []
        : [...new Set(probes.filter((p) => p.port === pp.port).map((p) => probePath(p.path)))]
            .sort()
            .map(escapeRegex)
            .filter((escaped) => escaped.length < MAX_REGEX_SOURCE_LENGTH);
    // Past the contract's limit the whole config would be refused and the pod get none: the first rules by
    // TrafficTarget name are programmed (and the probes' rule), and each one left out says so in its status.
    const room = MAX_AUTHORIZATIONS_PER_PORT - (probeRegexes.length > 0 ? 1 : 0);
    for (const dropped of authorizations.splice(room)) {
      const [ns, name] = dropped.name.split('/') as [string, string];
      diagnostics.push({
        kind: 'TrafficTarget',
        namespace: ns,
        name,
        reason: 'TooManyRules',
        message: `not programmed on port ${pp.port} of ${namespace}/${serviceAccount}: a proxy takes at most ${MAX_AUTHORIZATIONS_PER_PORT} rules per port, and those first by name fill it`,
      });
    }
    if (probeRegexes.length > 0) {
      authorizations.push({
        name: PROBE_AUTHORIZATION,
        sources: [{ kind: 'unauthenticated' }],
        httpMatches: probeRegexes.map((escaped) => ({
          name: null,
          pathRegex: `${escaped}$`,
          methods: ['GET'],
          headers: [],
        })),
      });
    }
    if (authorizations.length > 0) ports.push({ port: pp.port, protocol: pp.protocol, authorizations });
  }
  return { ports, diagnostics };
}

/**
 * The path kubelet requests for a probe path: the query string is not part of what the proxy matches, an
 * empty path is "/", and a path without a leading "/" gets one (as Go's URL formatting does).
 */
export function probePath(path: string): string {
  const q = path.search(/[?#]/);
  const p = q === -1 ? path : path.slice(0, q);
  return p.startsWith('/') ? p : `/${p}`;
}

/** Escapes every character that is not a letter, digit, "/", "-" or "_" (the dialect allows `\<punct>`). */
export function escapeRegex(s: string): string {
  return s.replace(/[^A-Za-z0-9/_-]/g, (c) => (/[!-~]/.test(c) ? `\\${c}` : c));
}
