// Kubernetes shapes shared by every SMI kind: object metadata (only what Weft reads) and the status
// every SMI object carries in Weft (observedGeneration + metav1.Condition list, see docs/status-contract.md).

/** The subset of metav1.ObjectMeta Weft reads; the apiserver owns the rest and it passes through untouched. */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  generation?: number;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

/** metav1.Condition. */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

/** Status of every SMI object, written only by the operator through the status subresource. */
export interface SmiStatus {
  observedGeneration?: number;
  conditions?: Condition[];
}

/** Fields every SMI object has, whatever its kind and version. */
export interface SmiObjectBase<ApiVersion extends string, Kind extends string> {
  apiVersion: ApiVersion;
  kind: Kind;
  metadata: ObjectMeta;
  status?: SmiStatus;
}

/** A reference to an object in the same namespace (corev1.TypedLocalObjectReference). */
export interface TypedLocalObjectReference {
  apiGroup?: string;
  kind: string;
  name: string;
}
