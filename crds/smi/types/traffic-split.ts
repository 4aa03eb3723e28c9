// TrafficSplit (split.smi-spec.io), every version. Storage version: v1alpha4.
import type { SmiObjectBase, TypedLocalObjectReference } from './meta.ts';

export const SPLIT_GROUP = 'split.smi-spec.io';
export const TRAFFIC_SPLIT_VERSIONS = ['v1alpha1', 'v1alpha2', 'v1alpha3', 'v1alpha4'] as const;
export type TrafficSplitVersion = (typeof TRAFFIC_SPLIT_VERSIONS)[number];
export const TRAFFIC_SPLIT_STORAGE_VERSION = 'v1alpha4' satisfies TrafficSplitVersion;

/**
 * A Kubernetes Quantity as a v1alpha1 client writes it: a JSON integer (`1`) or a string (`"10"`, `"500m"`,
 * `"1.5"`, `"2Ki"`). Weights are relative, so only ratios matter.
 */
export type Quantity = number | string;

export interface TrafficSplitBackendV1alpha1 {
  service: string;
  /** Optional in the upstream schema; an absent weight means 0. */
  weight?: Quantity;
}

export interface TrafficSplitBackend {
  service: string;
  weight: number;
}

export interface TrafficSplitSpecV1alpha1 {
  service: string;
  backends: TrafficSplitBackendV1alpha1[];
}

export interface TrafficSplitSpecV1alpha2 {
  service: string;
  backends: TrafficSplitBackend[];
}

export interface TrafficSplitSpecV1alpha3 {
  service: string;
  backends: TrafficSplitBackend[];
  /** HTTPRouteGroups selecting the requests that are split; other requests go to the root service. */
  matches?: TypedLocalObjectReference[];
}

export type TrafficSplitSpecV1alpha4 = TrafficSplitSpecV1alpha3;

export interface TrafficSplitV1alpha1 extends SmiObjectBase<'split.smi-spec.io/v1alpha1', 'TrafficSplit'> {
  spec: TrafficSplitSpecV1alpha1;
}
export interface TrafficSplitV1alpha2 extends SmiObjectBase<'split.smi-spec.io/v1alpha2', 'TrafficSplit'> {
  spec: TrafficSplitSpecV1alpha2;
}
export interface TrafficSplitV1alpha3 extends SmiObjectBase<'split.smi-spec.io/v1alpha3', 'TrafficSplit'> {
  spec: TrafficSplitSpecV1alpha3;
}
export interface TrafficSplitV1alpha4 extends SmiObjectBase<'split.smi-spec.io/v1alpha4', 'TrafficSplit'> {
  spec: TrafficSplitSpecV1alpha4;
}

export type AnyTrafficSplit =
  | TrafficSplitV1alpha1
  | TrafficSplitV1alpha2
  | TrafficSplitV1alpha3
  | TrafficSplitV1alpha4;
