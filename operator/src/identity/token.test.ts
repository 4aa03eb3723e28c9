import { describe, expect, test } from '@jest/globals';
import type { PodRecord } from '../model/cluster.ts';
import { authorizeCertificateRequest, type ReviewedToken } from './token.ts';

const AUD = 'weft.dev/identity';
const review = (over: Partial<ReviewedToken> = {}): ReviewedToken => ({
  authenticated: true,
  username: 'system:serviceaccount:shop:frontend',
  audiences: [AUD],
  extra: {
    'authentication.kubernetes.io/pod-name': ['frontend-1'],
    'authentication.kubernetes.io/pod-uid': ['u1'],
  },
  error: null,
  ...over,
});
const pod = (over: Partial<PodRecord> = {}): PodRecord => ({
  namespace: 'shop',
  name: 'frontend-1',
  uid: 'u1',
  serviceAccountName: 'frontend',
  podIPs: [],
  annotations: {},
  labels: {},
  containerPorts: [],
  probes: [],
  meshed: true,
  terminated: false,
  hostNetwork: false,
  ...over,
});
const req = { namespace: 'shop', name: 'frontend-1' };

describe('authorizeCertificateRequest', () => {
  test('grants the ServiceAccount of a token bound to the requested pod', () => {
    expect(authorizeCertificateRequest(review(), AUD, req, pod())).toEqual({
      ok: true,
      namespace: 'shop',
      serviceAccount: 'frontend',
      podUid: 'u1',
    });
    // The pod may not be in the cache yet: the token binding alone decides, and names the pod uid.
    expect(authorizeCertificateRequest(review(), AUD, req, undefined)).toMatchObject({
      ok: true,
      podUid: 'u1',
    });
  });

  test('the pod uid the certificate is bound to is the token claim only (the cache may hold an earlier pod)', () => {
    const nameOnly = review({ extra: { 'authentication.kubernetes.io/pod-name': ['frontend-1'] } });
    expect(authorizeCertificateRequest(nameOnly, AUD, req, pod())).toMatchObject({ ok: true, podUid: null });
    expect(authorizeCertificateRequest(nameOnly, AUD, req, undefined)).toMatchObject({
      ok: true,
      podUid: null,
    });
  });

  test.each([
    [
      'unauthenticated',
      review({ authenticated: false, error: 'token expired' }),
      pod(),
      'TokenRejected',
      'header:authorization',
    ],
    ['wrong audience', review({ audiences: ['api'] }), pod(), 'TokenRejected', 'header:authorization'],
    [
      'a user, not a ServiceAccount',
      review({ username: 'alice' }),
      pod(),
      'TokenRejected',
      'header:authorization',
    ],
    ['not bound to a pod', review({ extra: {} }), pod(), 'PodMismatch', 'header:authorization'],
    [
      'another namespace',
      review({ username: 'system:serviceaccount:other:frontend' }),
      pod(),
      'PodMismatch',
      '/pod/namespace',
    ],
    [
      'another pod',
      review({ extra: { 'authentication.kubernetes.io/pod-name': ['frontend-2'] } }),
      pod(),
      'PodMismatch',
      '/pod/name',
    ],
    ['a recreated pod with the same name', review(), pod({ uid: 'u2' }), 'PodMismatch', '/pod/name'],
    [
      'a pod running as another ServiceAccount',
      review(),
      pod({ serviceAccountName: 'admin' }),
      'ServiceAccountMismatch',
      '/pod/name',
    ],
  ])('refuses %s', (_what, r, p, reason, field) => {
    expect(authorizeCertificateRequest(r, AUD, req, p)).toMatchObject({
      ok: false,
      error: { reason, field },
    });
  });
});
