// Reading Weft annotations from pods and namespaces (pod wins over namespace), with precise errors.
import { INJECT, OPAQUE_PORTS, POLICY_MODE } from '../../../crds/annotations.ts';
import type { PolicyMode } from '../../../crds/proxy-config/types.ts';
import type { NamespaceRecord, PodRecord } from '../model/cluster.ts';
import type { Diagnostic } from './diagnostics.ts';

/** Parses "80,8000-8010" into sorted unique ports; returns an error message for a bad list. */
export function parsePortList(value: string): { ports: number[] } | { error: string } {
  const out = new Set<number>();
  for (const raw of value.split(',')) {
    const part = raw.trim();
    if (part === '') continue;
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(part);
    if (m === null) return { error: `"${part}" is not a port or a port range` };
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (from < 1 || to > 65535 || from > to) return { error: `"${part}" is outside 1-65535 or reversed` };
    if (to - from > 1024) return { error: `"${part}" spans more than 1024 ports` };
    for (let p = from; p <= to; p++) out.add(p);
  }
  return { ports: [...out].sort((a, b) => a - b) };
}

function podOrNamespace(pod: PodRecord, ns: NamespaceRecord | undefined, annotation: string) {
  const v = pod.annotations[annotation];
  if (v !== undefined) return { value: v, from: 'Pod' as const };
  const n = ns?.annotations[annotation];
  if (n !== undefined) return { value: n, from: 'Namespace' as const };
  return null;
}

export function policyModeOf(
  pod: PodRecord,
  ns: NamespaceRecord | undefined,
  fallback: PolicyMode,
  diagnostics: Diagnostic[],
): PolicyMode {
  const a = podOrNamespace(pod, ns, POLICY_MODE);
  if (a === null) return fallback;
  if (a.value === 'permissive' || a.value === 'enforcing') return a.value;
  diagnostics.push({
    kind: a.from,
    namespace: a.from === 'Pod' ? pod.namespace : '',
    name: a.from === 'Pod' ? pod.name : pod.namespace,
    reason: 'InvalidAnnotation',
    message: `annotation ${POLICY_MODE}: "${a.value}" is not permissive or enforcing; using ${fallback}`,
  });
  return fallback;
}

/** The opaque ports of a pod, or null for the contract's default list. */
export function opaquePortsOf(
  pod: PodRecord,
  ns: NamespaceRecord | undefined,
  diagnostics: Diagnostic[],
): number[] | null {
  const a = podOrNamespace(pod, ns, OPAQUE_PORTS);
  if (a === null) return null;
  const r = parsePortList(a.value);
  if ('ports' in r) return r.ports;
  diagnostics.push({
    kind: a.from,
    namespace: a.from === 'Pod' ? pod.namespace : '',
    name: a.from === 'Pod' ? pod.name : pod.namespace,
    reason: 'InvalidAnnotation',
    message: `annotation ${OPAQUE_PORTS}: ${r.error}; using the default opaque ports`,
  });
  return null;
}

/** Whether a namespace opted in: its services are visible to every proxy. */
export function namespaceMeshed(ns: NamespaceRecord | undefined): boolean {
  return ns?.annotations[INJECT] === 'enabled';
}
