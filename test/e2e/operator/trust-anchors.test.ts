// The trust-anchors ConfigMap (operator/src/kube/ca-secret.ts) against the real apiserver: every replica
// publishes it when it sees the CA change, so writes race; a write that loses (409) reads again instead of
// failing the rotation on that replica.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import {
  publishTrustAnchors,
  TRUST_ANCHORS_CONFIGMAP,
  TRUST_ANCHORS_KEY,
} from '../../../operator/src/kube/ca-secret.ts';
import { createTestNamespace, deleteNamespace, getJson } from '../kube.ts';

let ns = '';
const kc = new KubeConfig();
kc.loadFromDefault();

beforeAll(async () => {
  ns = await createTestNamespace('anchors');
});
afterAll(async () => {
  if (ns !== '') await deleteNamespace(ns);
});

test('replicas racing to publish, on create and on replace: none fails, and the ConfigMap holds one of their bundles', async () => {
  for (const round of ['create', 'replace']) {
    const bundles = ['a', 'b', 'c', 'd'].map((x) => `${round}-${x}`);
    // Concurrent, as replicas are: each reads, then writes on what it read.
    const results = await Promise.allSettled(bundles.map((b) => publishTrustAnchors(kc, ns, b)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    const cm = await getJson<{ data: Record<string, string> }>([
      '-n',
      ns,
      'configmap',
      TRUST_ANCHORS_CONFIGMAP,
    ]);
    expect(bundles).toContain(cm.data[TRUST_ANCHORS_KEY]);
  }
});
