// The status contract of every SMI object (docs/status-contract.md). The operator writes it through the
// status subresource, never touching spec; Argo CD (crds/argocd) and kstatus/Flux read it.
import type { Condition, SmiStatus } from './types/meta.ts';

/** Condition types. Accepted, ResolvedRefs and Ready are always present after the first reconcile;
 * Reconciling and Stalled follow kstatus's "abnormal-true" convention: present only while True. */
export const CONDITION = {
  Accepted: 'Accepted',
  ResolvedRefs: 'ResolvedRefs',
  Ready: 'Ready',
  Reconciling: 'Reconciling',
  Stalled: 'Stalled',
} as const;
export type ConditionType = (typeof CONDITION)[keyof typeof CONDITION];

/** Reasons, by condition. CamelCase, stable: dashboards and alerts may match on them. */
export const REASON = {
  // Accepted
  Accepted: 'Accepted',
  /** The object breaks a rule the validating webhook enforces (the webhook was bypassed or down). */
  Invalid: 'Invalid',
  /** Another object claims the same thing (two TrafficSplits with one root service); the older one wins. */
  Conflict: 'Conflict',
  // ResolvedRefs
  ResolvedRefs: 'ResolvedRefs',
  ServiceNotFound: 'ServiceNotFound',
  RouteNotFound: 'RouteNotFound',
  MatchNotFound: 'MatchNotFound',
  ServiceAccountNotFound: 'ServiceAccountNotFound',
  /** A backend's ports do not match the root service's port; it is left out of the split (and an Event says so). */
  BackendPortMismatch: 'BackendPortMismatch',
  // Ready
  Programmed: 'Programmed',
  /** Computed, being pushed to the affected proxies. */
  Pending: 'Pending',
  /** Some affected proxies did not confirm the new configuration in time. */
  ProxiesNotUpdated: 'ProxiesNotUpdated',
  /** Ready cannot be True while Accepted is False. */
  NotAccepted: 'NotAccepted',
  // Reconciling
  Progressing: 'Progressing',
} as const;
export type Reason = (typeof REASON)[keyof typeof REASON];

export type ConditionStatus = Condition['status'];

export interface ConditionInput {
  status: ConditionStatus;
  reason: Reason;
  message: string;
}

/** Builds a condition for `generation`, keeping lastTransitionTime when the status did not change. */
export function buildCondition(
  type: ConditionType,
  input: ConditionInput,
  generation: number,
  previous: readonly Condition[] | undefined,
  now: Date,
): Condition {
  const before = previous?.find((c) => c.type === type);
  const lastTransitionTime =
    before !== undefined && before.status === input.status ? before.lastTransitionTime : toRfc3339(now);
  return {
    type,
    status: input.status,
    observedGeneration: generation,
    lastTransitionTime,
    reason: input.reason,
    message: input.message.slice(0, 32768),
  };
}

/** metav1.Time format: RFC 3339 in UTC with second precision. */
function toRfc3339(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

export interface StatusInput {
  generation: number;
  accepted: ConditionInput;
  resolvedRefs: ConditionInput;
  ready: ConditionInput;
  previous?: SmiStatus;
  now: Date;
}

/**
 * The whole status for one reconcile of `generation`: the three conditions, plus Stalled (Accepted False:
 * nothing changes until the spec does) or Reconciling (Ready not yet True), and observedGeneration.
 */
export function buildStatus(s: StatusInput): SmiStatus {
  const prev = s.previous?.conditions;
  const ready: ConditionInput =
    s.accepted.status === 'False'
      ? { status: 'False', reason: REASON.NotAccepted, message: `not accepted: ${s.accepted.message}` }
      : s.ready;
  const conditions = [
    buildCondition(CONDITION.Accepted, s.accepted, s.generation, prev, s.now),
    buildCondition(CONDITION.ResolvedRefs, s.resolvedRefs, s.generation, prev, s.now),
    buildCondition(CONDITION.Ready, ready, s.generation, prev, s.now),
  ];
  if (s.accepted.status === 'False') {
    conditions.push(
      buildCondition(
        CONDITION.Stalled,
        { status: 'True', reason: s.accepted.reason, message: s.accepted.message },
        s.generation,
        prev,
        s.now,
      ),
    );
  } else if (ready.status !== 'True') {
    conditions.push(
      buildCondition(
        CONDITION.Reconciling,
        { status: 'True', reason: REASON.Progressing, message: ready.message },
        s.generation,
        prev,
        s.now,
      ),
    );
  }
  return { observedGeneration: s.generation, conditions };
}

/** The status written on the first look at a generation, before anything is computed. */
export function pendingStatus(generation: number, now: Date, previous?: SmiStatus): SmiStatus {
  const pending: ConditionInput = {
    status: 'Unknown',
    reason: REASON.Pending,
    message: 'waiting for the Weft operator',
  };
  return buildStatus({
    generation,
    accepted: pending,
    resolvedRefs: pending,
    ready: pending,
    now,
    ...(previous ? { previous } : {}),
  });
}

/** Health as Argo CD sees it (crds/argocd/health.lua implements the same table). */
export type HealthStatus = 'Healthy' | 'Progressing' | 'Degraded';

/** The decision table shared by the Argo CD health check and docs/status-contract.md. */
export function smiHealth(object: { metadata?: { generation?: number }; status?: SmiStatus }): {
  status: HealthStatus;
  message: string;
} {
  const status = object.status;
  const generation = object.metadata?.generation;
  if (status === undefined || status.observedGeneration === undefined) {
    return { status: 'Progressing', message: 'Waiting for the Weft operator' };
  }
  if (generation !== undefined && status.observedGeneration < generation) {
    return {
      status: 'Progressing',
      message: `Waiting for the Weft operator to observe generation ${generation}`,
    };
  }
  const find = (t: string) => status.conditions?.find((c) => c.type === t);
  const accepted = find(CONDITION.Accepted);
  if (accepted?.status === 'False')
    return { status: 'Degraded', message: `${accepted.reason}: ${accepted.message}` };
  const ready = find(CONDITION.Ready);
  if (ready?.status === 'True') {
    const refs = find(CONDITION.ResolvedRefs);
    if (refs?.status === 'False')
      return { status: 'Healthy', message: `Programmed; ${refs.reason}: ${refs.message}` };
    return { status: 'Healthy', message: ready.message };
  }
  if (ready === undefined) return { status: 'Progressing', message: 'Waiting for the Weft operator' };
  return { status: 'Progressing', message: `${ready.reason}: ${ready.message}` };
}
