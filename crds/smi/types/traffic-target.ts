// TrafficTarget (access.smi-spec.io), every version. Storage version: v1alpha3.
import type { SmiObjectBase } from './meta.ts';

export const ACCESS_GROUP = 'access.smi-spec.io';
export const TRAFFIC_TARGET_VERSIONS = ['v1alpha1', 'v1alpha2', 'v1alpha3'] as const;
export type TrafficTargetVersion = (typeof TRAFFIC_TARGET_VERSIONS)[number];
export const TRAFFIC_TARGET_STORAGE_VERSION = 'v1alpha3' satisfies TrafficTargetVersion;

/** The kinds a rule may reference. */
export const TRAFFIC_TARGET_RULE_KINDS = ['HTTPRouteGroup', 'TCPRoute', 'UDPRoute'] as const;

/** v1alpha1 subject: the port is a string. */
export interface IdentityBindingSubjectV1alpha1 {
  kind: string;
  name: string;
  namespace?: string;
  port?: string;
}

/** v1alpha2 subject: the port is an integer. */
export interface IdentityBindingSubjectV1alpha2 {
  kind: string;
  name: string;
  namespace?: string;
  port?: number;
}

/** v1alpha3 subject: no port (ports live in TCPRoute/UDPRoute matches). */
export interface IdentityBindingSubject {
  kind: string;
  name: string;
  namespace?: string;
}

/**
 * The namespace a TrafficTarget's destination names when it is not the TrafficTarget's own, else null. SMI grants
 * access to the TrafficTarget's own namespace only: the webhook denies such an object, and the operator does not
 * program one that predates the webhook. One rule for both, so they cannot drift apart.
 */
export function foreignDestinationNamespace(
  destination: { namespace?: string },
  namespace: string,
): string | null {
  return destination.namespace !== undefined && destination.namespace !== namespace
    ? destination.namespace
    : null;
}

export interface TrafficTargetRule {
  kind: string;
  name: string;
  /** Names of matches in the referenced route; absent means every route of it. */
  matches?: string[];
}

/** v1alpha1 keeps its fields at the top level, and calls rules `specs`. */
export interface TrafficTargetV1alpha1 extends SmiObjectBase<'access.smi-spec.io/v1alpha1', 'TrafficTarget'> {
  destination: IdentityBindingSubjectV1alpha1;
  sources?: IdentityBindingSubjectV1alpha1[];
  specs?: TrafficTargetRule[];
}

export interface TrafficTargetSpecV1alpha2 {
  destination: IdentityBindingSubjectV1alpha2;
  sources?: IdentityBindingSubjectV1alpha2[];
  rules?: TrafficTargetRule[];
}

export interface TrafficTargetV1alpha2 extends SmiObjectBase<'access.smi-spec.io/v1alpha2', 'TrafficTarget'> {
  spec: TrafficTargetSpecV1alpha2;
}

export interface TrafficTargetSpecV1alpha3 {
  destination: IdentityBindingSubject;
  sources?: IdentityBindingSubject[];
  rules?: TrafficTargetRule[];
}

export interface TrafficTargetV1alpha3 extends SmiObjectBase<'access.smi-spec.io/v1alpha3', 'TrafficTarget'> {
  spec: TrafficTargetSpecV1alpha3;
}

export type AnyTrafficTarget = TrafficTargetV1alpha1 | TrafficTargetV1alpha2 | TrafficTargetV1alpha3;
