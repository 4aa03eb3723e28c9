// AdmissionReview (admission.k8s.io/v1) for pod CREATE -> response with the injector's patch.
// Pure: the server shell looks up the namespace and passes it in.
import { InjectReason, inject, type Namespace, type Pod } from './inject.ts';
import type { MeshConfig } from './mesh-config.ts';

export interface AdmissionRequest {
  uid: string;
  kind?: { group: string; version: string; kind: string };
  namespace?: string;
  operation?: string;
  object?: unknown;
}

export interface AdmissionReview {
  apiVersion?: string;
  kind?: string;
  request?: AdmissionRequest;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
  status?: { code: number; reason: string; message: string };
  auditAnnotations?: Record<string, string>;
}

export interface InjectionOutcome {
  review: { apiVersion: 'admission.k8s.io/v1'; kind: 'AdmissionReview'; response: AdmissionResponse };
  /** For logs, Events and the outcome metric. */
  reason: InjectReason | 'BadRequest';
  message: string;
}

function respond(response: AdmissionResponse): InjectionOutcome['review'] {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

export function reviewPod(
  review: AdmissionReview,
  namespace: Namespace | undefined,
  mesh: MeshConfig,
): InjectionOutcome {
  const request = review.request;
  const uid = typeof request?.uid === 'string' ? request.uid : '';
  const kind = request?.kind;
  if (
    !request ||
    uid === '' ||
    kind?.kind !== 'Pod' ||
    kind.group !== '' ||
    typeof request.object !== 'object'
  ) {
    const message = 'expected an AdmissionReview v1 with request.uid and a core/v1 Pod in request.object';
    return {
      review: respond({ uid, allowed: false, status: { code: 400, reason: 'BadRequest', message } }),
      reason: 'BadRequest',
      message,
    };
  }
  const object = request.object as Pod;
  // Pods made by controllers arrive without metadata.namespace; the request carries it.
  const pod: Pod = {
    ...object,
    metadata: { ...object.metadata, ...(request.namespace ? { namespace: request.namespace } : {}) },
  };
  const result = inject(pod, namespace, mesh);
  const audit = { 'weft.dev/injection': result.reason };
  if (result.reason === InjectReason.InvalidOverrides) {
    return {
      review: respond({
        uid,
        allowed: false,
        status: { code: 400, reason: 'Invalid', message: `weft injection: ${result.message}` },
        auditAnnotations: audit,
      }),
      reason: result.reason,
      message: result.message,
    };
  }
  if (!result.injected) {
    return {
      review: respond({ uid, allowed: true, auditAnnotations: audit }),
      reason: result.reason,
      message: result.message,
    };
  }
  return {
    review: respond({
      uid,
      allowed: true,
      patchType: 'JSONPatch',
      patch: Buffer.from(JSON.stringify(result.patch)).toString('base64'),
      auditAnnotations: audit,
    }),
    reason: result.reason,
    message: result.message,
  };
}
