// The inbound side of a proxy: per port of the pod, who may connect (TrafficTargets naming the pod's
// ServiceAccount as destination) and on which routes.
import type { Authorization, InboundPort, PortProtocol } from '../../../crds/proxy-config/types.ts';
import type { Diagnostic } from './diagnostics.ts';
import type { Reads } from './reads.ts';
import { resolveTarget } from './resolve.ts';

export interface InboundFragment {
  ports: InboundPort[];
  diagnostics: Diagnostic[];
}

/** Builds authorizations for the pod ports of a workload identity (namespace + ServiceAccount). */
export function buildInbound(
  namespace: string,
  serviceAccount: string,
  podPorts: { port: number; protocol: PortProtocol }[],
  reads: Reads,
): InboundFragment {
  const diagnostics: Diagnostic[] = [];
  const targets = reads.targets(`${namespace}/${serviceAccount}`).map((tt) => {
    const r = resolveTarget(tt, reads);
    diagnostics.push(...r.diagnostics);
    return { name: `${tt.metadata.namespace}/${tt.metadata.name}`, ...r };
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
        if (m.length > 0) httpMatches = m;
      }
      if (httpMatches === undefined) continue;
      authorizations.push({
        name: t.name,
        sources: t.sources.map((s) => ({ kind: 'serviceAccount', namespace: s.namespace, name: s.name })),
        httpMatches,
      });
    }
    if (authorizations.length > 0) ports.push({ port: pp.port, protocol: pp.protocol, authorizations });
  }
  return { ports, diagnostics };
}
