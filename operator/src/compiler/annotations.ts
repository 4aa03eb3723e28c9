// Reading Weft annotations from pods and namespaces (pod wins over namespace) and from Services (client-side
// policy), with precise errors: a bad value is reported and left out, never half applied.
import {
  CONFIG_PREFIX,
  INJECT,
  OPAQUE_PORTS,
  POLICY_MODE,
  RETRY_LIMIT,
  RETRY_NON_IDEMPOTENT,
  RETRY_ON,
  RETRY_TIMEOUT,
  SERVICE_CONFIG_KEYS,
  TIMEOUT,
} from '../../../crds/annotations.ts';
import { parseDurationMs } from '../../../crds/duration.ts';
import {
  DEFAULT_RETRY_BACKOFF,
  DEFAULT_RETRY_ON,
  type PolicyMode,
  RETRY_CONDITIONS,
  type RetryCondition,
  type RetryPolicy,
} from '../../../crds/proxy-config/types.ts';
import type { NamespaceRecord, PodRecord, ServiceRecord } from '../model/cluster.ts';
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

/** The pod's value of an annotation, then its namespace's: where a setting may come from, most specific first. */
function podThenNamespace(pod: PodRecord, ns: NamespaceRecord | undefined, annotation: string) {
  const out: { value: string; from: 'Pod' | 'Namespace' }[] = [];
  const v = pod.annotations[annotation];
  if (v !== undefined) out.push({ value: v, from: 'Pod' });
  const n = ns?.annotations[annotation];
  if (n !== undefined) out.push({ value: n, from: 'Namespace' });
  return out;
}

/**
 * The first valid value of an annotation, pod before namespace; an invalid one is reported and skipped, so a
 * typo on a pod never undoes what its namespace sets (a misspelt policy mode must not open an enforcing
 * namespace). Null when neither has a valid value.
 */
function firstValid<T>(
  pod: PodRecord,
  ns: NamespaceRecord | undefined,
  annotation: string,
  parse: (value: string) => { ok: true; value: T } | { ok: false; error: string },
  fallback: string,
  diagnostics: Diagnostic[],
): T | null {
  const found = podThenNamespace(pod, ns, annotation);
  for (let i = 0; i < found.length; i++) {
    const a = found[i]!;
    const r = parse(a.value);
    if (r.ok) return r.value;
    diagnostics.push({
      kind: a.from,
      namespace: a.from === 'Pod' ? pod.namespace : '',
      name: a.from === 'Pod' ? pod.name : pod.namespace,
      reason: 'InvalidAnnotation',
      message: `annotation ${annotation}: ${r.error}; ${i + 1 < found.length ? "trying the namespace's value" : `using ${fallback}`}`,
    });
  }
  return null;
}

export function policyModeOf(
  pod: PodRecord,
  ns: NamespaceRecord | undefined,
  fallback: PolicyMode,
  diagnostics: Diagnostic[],
): PolicyMode {
  const parse = (v: string) =>
    v === 'permissive' || v === 'enforcing'
      ? { ok: true as const, value: v as PolicyMode }
      : { ok: false as const, error: `"${v}" is not permissive or enforcing` };
  return firstValid(pod, ns, POLICY_MODE, parse, fallback, diagnostics) ?? fallback;
}

/** The opaque ports of a pod, or null for the contract's default list. */
export function opaquePortsOf(
  pod: PodRecord,
  ns: NamespaceRecord | undefined,
  diagnostics: Diagnostic[],
): number[] | null {
  const parse = (v: string) => {
    const r = parsePortList(v);
    return 'ports' in r ? { ok: true as const, value: r.ports } : { ok: false as const, error: r.error };
  };
  return firstValid(pod, ns, OPAQUE_PORTS, parse, 'the default opaque ports', diagnostics);
}

/** Whether a namespace opted in: its services are visible to every proxy. */
export function namespaceMeshed(ns: NamespaceRecord | undefined): boolean {
  return ns?.annotations[INJECT] === 'enabled';
}

const DEFAULT_RETRY_LIMIT = 2;
const MAX_RETRY_LIMIT = 10;

/** What a Service's annotations ask of its clients' proxies, for every route to it. */
export interface ServicePolicy {
  timeoutMs: number | null;
  retry: RetryPolicy | null;
}

/**
 * The client-side policy of a Service from its config.weft.dev annotations. Each bad value is reported
 * (InvalidAnnotation, naming the Service and the annotation) and left out; the rest still applies. Retries are
 * on once retry-on or retry-limit is set; retry-timeout or retry-non-idempotent alone is reported as having no
 * effect.
 */
export function servicePolicyOf(svc: ServiceRecord, diagnostics: Diagnostic[]): ServicePolicy {
  const a = svc.annotations;
  const bad = (annotation: string, message: string) =>
    diagnostics.push({
      kind: 'Service',
      namespace: svc.namespace,
      name: svc.name,
      reason: 'InvalidAnnotation',
      message: `annotation ${annotation}: ${message}`,
    });
  for (const key of Object.keys(a)) {
    if (key.startsWith(`${CONFIG_PREFIX}/`) && !(SERVICE_CONFIG_KEYS as readonly string[]).includes(key))
      bad(key, `not read on a Service (Service keys: ${SERVICE_CONFIG_KEYS.join(', ')}); ignored`);
  }
  const duration = (annotation: string): number | null => {
    const v = a[annotation];
    if (v === undefined) return null;
    const d = parseDurationMs(v);
    if (d.ok) return d.ms;
    bad(annotation, `${d.error}; ignored`);
    return null;
  };
  const timeoutMs = duration(TIMEOUT);

  let retryOn: RetryCondition[] | null = null;
  const on = a[RETRY_ON];
  if (on !== undefined) {
    const items = on
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== '');
    const unknown = items.filter((x) => !(RETRY_CONDITIONS as readonly string[]).includes(x));
    if (items.length === 0 || unknown.length > 0)
      bad(
        RETRY_ON,
        `${items.length === 0 ? 'empty' : `unknown condition ${unknown.map((x) => `"${x}"`).join(', ')}`} (conditions: ${RETRY_CONDITIONS.join(', ')}); no retries`,
      );
    else retryOn = [...new Set(items as RetryCondition[])];
  }
  let limit: number | null = null;
  const l = a[RETRY_LIMIT];
  if (l !== undefined) {
    const n = /^\d{1,2}$/.test(l.trim()) ? Number(l.trim()) : Number.NaN;
    if (Number.isInteger(n) && n <= MAX_RETRY_LIMIT) limit = n;
    else bad(RETRY_LIMIT, `"${l}" is not a whole number from 0 to ${MAX_RETRY_LIMIT}; no retries`);
  }
  const perTryTimeoutMs = duration(RETRY_TIMEOUT);
  let nonIdempotent = false;
  const ni = a[RETRY_NON_IDEMPOTENT];
  if (ni !== undefined) {
    if (ni === 'true' || ni === 'false') nonIdempotent = ni === 'true';
    else bad(RETRY_NON_IDEMPOTENT, `"${ni}" is not true or false; using false`);
  }
  const asked = on !== undefined || l !== undefined;
  const valid = (on === undefined || retryOn !== null) && (l === undefined || limit !== null);
  if (!asked) {
    for (const k of [RETRY_TIMEOUT, RETRY_NON_IDEMPOTENT])
      if (a[k] !== undefined) bad(k, `has no effect without ${RETRY_ON} or ${RETRY_LIMIT}`);
    return { timeoutMs, retry: null };
  }
  if (!valid || limit === 0) return { timeoutMs, retry: null };
  return {
    timeoutMs,
    retry: {
      maxRetries: limit ?? DEFAULT_RETRY_LIMIT,
      retryOn: retryOn ?? [...DEFAULT_RETRY_ON],
      retryNonIdempotent: nonIdempotent,
      perTryTimeoutMs,
      backoff: { ...DEFAULT_RETRY_BACKOFF },
    },
  };
}
