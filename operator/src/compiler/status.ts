// Desired status of every SMI object (conditions Accepted, ResolvedRefs, Ready with observedGeneration), from
// the snapshot and the compiler's diagnostics. Pure; the status writer merges with the live status so
// lastTransitionTime only moves when a condition's status changes.
import type { Condition } from '../../../crds/smi/index.ts';
import type { ClusterSnapshot } from '../model/cluster.ts';
import type { Diagnostic, DiagnosticReason } from './diagnostics.ts';

/** The kinds with a status of ours; every other kind a diagnostic names (Service, Pod, Namespace) is core v1. */
const SMI_KINDS = ['TrafficSplit', 'TrafficTarget', 'HTTPRouteGroup', 'TCPRoute', 'UDPRoute'] as const;
export type SmiKind = (typeof SMI_KINDS)[number];
const isSmiKind = (kind: string): kind is SmiKind => (SMI_KINDS as readonly string[]).includes(kind);

export interface DesiredStatus {
  kind: SmiKind;
  namespace: string;
  name: string;
  generation: number;
  /** metadata.uid: Events name it, so that `kubectl describe` finds them. */
  uid: string;
  /** Conditions without lastTransitionTime (the writer sets it). */
  conditions: Omit<Condition, 'lastTransitionTime'>[];
  /** Diagnostics about this object: each becomes a Warning Event. */
  warnings: Diagnostic[];
}

const UNRESOLVED: DiagnosticReason[] = [
  'RootServiceNotFound',
  'BackendNotFound',
  'BackendPortMismatch',
  'RouteGroupNotFound',
  'UnsupportedRouteKind',
  'RuleReferencesNothing',
  'UnsupportedSubject',
  'ServiceAccountNotFound',
];

/** metav1.Condition's limit on message (the SMI CRDs say the same): a longer one fails the whole status write. */
export const MAX_CONDITION_MESSAGE = 32_768;

/** A condition message within the apiserver's limit: past it, cut with a note of how much was left out. */
export function boundedMessage(message: string): string {
  if (message.length <= MAX_CONDITION_MESSAGE) return message;
  const note = ` ... (${message.length} characters; cut to fit the condition; the Events have every problem)`;
  return message.slice(0, MAX_CONDITION_MESSAGE - note.length) + note;
}

/**
 * Diagnostics by `<Kind>/<namespace>/<name>`, in the order each object first appears, each object's in their
 * order without repeats (same reason and message).
 */
function diagnosticsByObject(diagnostics: readonly Diagnostic[]): Map<string, Diagnostic[]> {
  const byObject = new Map<string, Diagnostic[]>();
  for (const d of diagnostics) {
    const k = `${d.kind}/${d.namespace}/${d.name}`;
    const list = byObject.get(k);
    if (list === undefined) byObject.set(k, [d]);
    else if (!list.some((x) => x.reason === d.reason && x.message === d.message)) list.push(d);
  }
  return byObject;
}

/** `<Kind>/<namespace>/<name>` -> desired status. */
export function desiredStatuses(
  snapshot: ClusterSnapshot,
  diagnostics: Diagnostic[],
): Map<string, DesiredStatus> {
  const byObject = diagnosticsByObject(diagnostics);
  const out = new Map<string, DesiredStatus>();
  const add = (
    kind: SmiKind,
    obj: { metadata: { namespace?: string; name?: string; generation?: number; uid?: string } },
  ) => {
    const namespace = obj.metadata.namespace ?? '';
    const name = obj.metadata.name ?? '';
    const generation = obj.metadata.generation ?? 0;
    const warnings = byObject.get(`${kind}/${namespace}/${name}`) ?? [];
    const c = (type: string, ok: boolean, reason: string, message: string) => ({
      type,
      status: ok ? ('True' as const) : ('False' as const),
      observedGeneration: generation,
      reason,
      message: boundedMessage(message),
    });
    const conflict = warnings.find((w) => w.reason === 'ConflictingSplit');
    const invalid = warnings.filter((w) => w.reason === 'InvalidMatch' || w.reason === 'InvalidDestination');
    const unresolved = warnings.filter((w) => UNRESOLVED.includes(w.reason));
    const accepted = conflict === undefined && invalid.length === 0;
    const acceptedC = accepted
      ? c('Accepted', true, 'Accepted', `${kind} is valid and in effect`)
      : c(
          'Accepted',
          false,
          conflict ? 'ConflictingSplit' : invalid[0]!.reason,
          (conflict ? [conflict] : invalid).map((w) => w.message).join('; '),
        );
    const resolvedC =
      unresolved.length === 0
        ? c('ResolvedRefs', true, 'ResolvedRefs', 'every reference resolved')
        : c('ResolvedRefs', false, unresolved[0]!.reason, unresolved.map((w) => w.message).join('; '));
    const readyC = ((): ReturnType<typeof c> => {
      if (!accepted) return c('Ready', false, 'NotAccepted', 'not accepted');
      if (unresolved.some((w) => w.reason === 'RootServiceNotFound'))
        return c('Ready', false, 'RootServiceNotFound', 'the root service does not exist');
      // Left out of the proxies: past the rules a port takes, a split whose routes fail the contract, or one
      // whose root the mesh does not program.
      const left = warnings.filter(
        (w) =>
          w.reason === 'TooManyRules' ||
          w.reason === 'InvalidProxyConfig' ||
          w.reason === 'RootNotProgrammable',
      );
      if (left.length > 0) return c('Ready', false, 'NotProgrammed', left.map((w) => w.message).join('; '));
      // Programmed, but some destination pods run no proxy: on those nothing enforces it, and a Ready=True
      // would tell the user access to them is restricted. Before the partial case below: that one fails closed
      // (requests past the limit are denied), this one open.
      const unmeshed = warnings.find((w) => w.reason === 'DestinationNotMeshed');
      if (unmeshed !== undefined) return c('Ready', false, 'DestinationNotMeshed', unmeshed.message);
      // Over a proxy config's limits: programmed only in part (the first routes or matches), and said so.
      const partial = warnings.filter((w) => w.reason === 'TooManyRoutes' || w.reason === 'TooManyMatches');
      if (partial.length > 0)
        return c('Ready', false, 'PartiallyProgrammed', partial.map((w) => w.message).join('; '));
      // A UDPRoute rule is enforced by nothing (no proxy sees UDP). Ready stays True, since no change outside the
      // object would ever make it progress (Ready=False would hold GitOps health checks for good); the message
      // says what is not enforced, and the diagnostic is a Warning Event too.
      const udp = warnings.filter((w) => w.reason === 'UDPNotEnforced');
      const programmed =
        unresolved.length === 0
          ? 'programmed into the proxies'
          : 'programmed into the proxies without the unresolved references';
      return c(
        'Ready',
        true,
        'Programmed',
        udp.length === 0
          ? programmed
          : `${programmed}; not enforced: ${udp.map((w) => w.message).join('; ')}`,
      );
    })();
    const conditions = [acceptedC, resolvedC, readyC];
    // kstatus (Flux's health checks, kubectl wait --for=condition): Stalled says the object will not progress
    // without a change to it (Accepted is False); Reconciling that it may once something else appears or
    // frees room (Ready is not True otherwise). Absent when they do not hold, as kstatus expects.
    if (!accepted) conditions.push(c('Stalled', true, acceptedC.reason, acceptedC.message));
    else if (readyC.status !== 'True')
      conditions.push(c('Reconciling', true, 'Progressing', `${readyC.reason}: ${readyC.message}`));
    const uid = obj.metadata.uid ?? '';
    out.set(`${kind}/${namespace}/${name}`, { kind, namespace, name, generation, uid, conditions, warnings });
  };
  for (const o of snapshot.trafficSplits.values()) add('TrafficSplit', o);
  for (const o of snapshot.trafficTargets.values()) add('TrafficTarget', o);
  for (const o of snapshot.httpRouteGroups.values()) add('HTTPRouteGroup', o);
  for (const o of snapshot.tcpRoutes.values()) add('TCPRoute', o);
  for (const o of snapshot.udpRoutes.values()) add('UDPRoute', o);
  return out;
}

/** A core object's warnings, and its uid in the snapshot they were compiled from ('' when not found). */
export interface CoreWarnings {
  readonly uid: string;
  readonly diagnostics: Diagnostic[];
}

/**
 * Diagnostics about core objects (a Service whose endpoints were truncated, a pod whose config was rejected),
 * by `<Kind>/<namespace>/<name>`, de-duplicated: they have no status of ours, so they become Warning Events. The
 * uid is read from `snapshot`, the one the compile judged (not from a store that changed since): an object
 * created again under its name is another object, whose Events are its own.
 */
export function coreWarnings(
  snapshot: ClusterSnapshot,
  diagnostics: readonly Diagnostic[],
): Map<string, CoreWarnings> {
  const out = new Map<string, CoreWarnings>();
  for (const [k, list] of diagnosticsByObject(diagnostics))
    if (!isSmiKind(list[0]!.kind)) out.set(k, { uid: coreUid(snapshot, list[0]!), diagnostics: list });
  return out;
}

function coreUid(s: ClusterSnapshot, d: Diagnostic): string {
  const key = `${d.namespace}/${d.name}`;
  const uid =
    d.kind === 'Pod'
      ? s.pods.get(key)?.uid
      : d.kind === 'Service'
        ? s.services.get(key)?.uid
        : d.kind === 'Namespace'
          ? s.namespaces.get(d.name)?.uid
          : undefined;
  return uid ?? '';
}

/** Merges desired conditions into the current ones: keeps lastTransitionTime when a status did not change. */
export function mergeConditions(
  current: readonly Condition[] | undefined,
  desired: readonly Omit<Condition, 'lastTransitionTime'>[],
  now: Date,
): Condition[] {
  const stamp = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return desired.map((d) => {
    const old = current?.find((c) => c.type === d.type);
    return {
      ...d,
      lastTransitionTime: old !== undefined && old.status === d.status ? old.lastTransitionTime : stamp,
    };
  });
}

/** Whether writing `next` would change anything compared to `current`. */
export function conditionsEqual(
  current: readonly Condition[] | undefined,
  next: readonly Condition[],
): boolean {
  if (current === undefined || current.length !== next.length) return false;
  return next.every((n) => {
    const c = current.find((x) => x.type === n.type);
    return (
      c !== undefined &&
      c.status === n.status &&
      c.reason === n.reason &&
      c.message === n.message &&
      c.observedGeneration === n.observedGeneration &&
      c.lastTransitionTime === n.lastTransitionTime
    );
  });
}
