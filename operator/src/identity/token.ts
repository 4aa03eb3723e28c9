// Decides whether a certificate request may be granted, from the apiserver's TokenReview answer and the pod
// the operator knows. Pure: every refusal names a stable reason and the request field concerned.
import type { ErrorResponse } from '../../../crds/control-plane/types.ts';
import type { PodRecord } from '../model/cluster.ts';

export interface ReviewedToken {
  authenticated: boolean;
  username: string;
  audiences: string[];
  extra: Record<string, string[]>;
  error: string | null;
}

export type CertificateGrant =
  /** podUid: the uid of the pod the token is bound to, from its verified claim (null for a token without one). */
  | { ok: true; namespace: string; serviceAccount: string; podUid: string | null }
  | { ok: false; error: ErrorResponse };

const SA_PREFIX = 'system:serviceaccount:';
const POD_NAME = 'authentication.kubernetes.io/pod-name';
const POD_UID = 'authentication.kubernetes.io/pod-uid';

export function authorizeCertificateRequest(
  review: ReviewedToken,
  audience: string,
  requested: { namespace: string; name: string },
  pod: PodRecord | undefined,
): CertificateGrant {
  const deny = (
    reason: ErrorResponse['reason'],
    message: string,
    field: string | null,
  ): CertificateGrant => ({
    ok: false,
    error: { reason, message, field },
  });
  if (!review.authenticated) {
    return deny(
      'TokenRejected',
      `token not authenticated${review.error ? `: ${review.error}` : ''}`,
      'header:authorization',
    );
  }
  if (!review.audiences.includes(audience)) {
    return deny('TokenRejected', `token is not valid for audience ${audience}`, 'header:authorization');
  }
  if (!review.username.startsWith(SA_PREFIX)) {
    return deny('TokenRejected', 'token does not belong to a ServiceAccount', 'header:authorization');
  }
  const [namespace, serviceAccount, ...rest] = review.username.slice(SA_PREFIX.length).split(':');
  if (namespace === undefined || serviceAccount === undefined || rest.length > 0) {
    return deny(
      'TokenRejected',
      `unexpected ServiceAccount user name ${review.username}`,
      'header:authorization',
    );
  }
  const boundPod = review.extra[POD_NAME]?.[0];
  if (boundPod === undefined) {
    return deny(
      'PodMismatch',
      'token is not bound to a pod (use a projected or pod-bound token)',
      'header:authorization',
    );
  }
  if (namespace !== requested.namespace) {
    return deny(
      'PodMismatch',
      `token belongs to namespace ${namespace}, not ${requested.namespace}`,
      '/pod/namespace',
    );
  }
  if (boundPod !== requested.name) {
    return deny('PodMismatch', `token is bound to pod ${boundPod}, not ${requested.name}`, '/pod/name');
  }
  if (pod !== undefined) {
    const uid = review.extra[POD_UID]?.[0];
    if (uid !== undefined && uid !== pod.uid) {
      return deny(
        'PodMismatch',
        `token is bound to pod uid ${uid}, not the current pod ${pod.uid}`,
        '/pod/name',
      );
    }
    if (pod.serviceAccountName !== serviceAccount) {
      return deny(
        'ServiceAccountMismatch',
        `pod ${pod.namespace}/${pod.name} runs as ${pod.serviceAccountName}, token is for ${serviceAccount}`,
        '/pod/name',
      );
    }
  }
  // Only the token's own claim binds: the cache may still hold an earlier pod of the same name.
  return { ok: true, namespace, serviceAccount, podUid: review.extra[POD_UID]?.[0] ?? null };
}
