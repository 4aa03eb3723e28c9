// The status contract of every SMI object (docs/status-contract.md). The operator writes the status with
// desiredStatuses and mergeConditions in operator/src/compiler/status.ts (which also owns the reasons), through
// the status subresource, never touching spec; Argo CD (crds/argocd) and kstatus/Flux read it. This module holds
// the condition types and the health decision table shared with Argo CD.
import type { SmiStatus } from './types/meta.ts';

/** Condition types. Accepted, ResolvedRefs and Ready are always present after the first reconcile;
 * Reconciling and Stalled follow kstatus's "abnormal-true" convention: present only while True. */
export const CONDITION = {
  Accepted: 'Accepted',
  ResolvedRefs: 'ResolvedRefs',
  Ready: 'Ready',
  Reconciling: 'Reconciling',
  Stalled: 'Stalled',
} as const;

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
