// The trust-anchors ConfigMap (operator/src/kube/ca-secret.ts) against the real apiserver: every replica
// publishes it when it sees the CA change, so writes race; a write that loses (409) reads again instead of
// failing the rotation on that replica.
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { generateIssuer, generateTrustAnchor, keyToPem } from '../../../operator/src/identity/index.ts';
import {
  CA_SECRET_KEYS,
  publishTrustAnchors,
  TRUST_ANCHORS_CONFIGMAP,
  TRUST_ANCHORS_KEY,
} from '../../../operator/src/kube/ca-secret.ts';
import { createTestNamespace, deleteNamespace, getJson, kubectl } from '../kube.ts';
import { startOperator } from './harness.ts';

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

test('a generated issuer that expired is renewed under the same anchor when the operator starts', async () => {
  // Material as the operator generates it (with the anchor key), issued 400 days ago: its issuer (one year)
  // has expired. Before, the operator refused it at start and every replica exited.
  const t0 = new Date(Date.now() - 400 * 24 * 3600_000);
  const anchor = generateTrustAnchor('cluster.local', t0);
  const issuer = generateIssuer(anchor, 'cluster.local', t0);
  const secret = 'weft-identity';
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  await kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: secret, namespace: ns },
      data: {
        [CA_SECRET_KEYS.anchors]: b64(anchor.cert.toString()),
        [CA_SECRET_KEYS.issuerCert]: b64(issuer.cert.toString()),
        [CA_SECRET_KEYS.issuerKey]: b64(keyToPem(issuer.key)),
        [CA_SECRET_KEYS.anchorKey]: b64(keyToPem(anchor.key)),
      },
    }),
  );
  const op = await startOperator(ns);
  try {
    const s = await getJson<{ data: Record<string, string> }>(['-n', ns, 'secret', secret]);
    const pem = (k: string) => Buffer.from(s.data[k]!, 'base64').toString('utf8');
    expect(pem(CA_SECRET_KEYS.anchors)).toBe(anchor.cert.toString());
    const renewed = new X509Certificate(pem(CA_SECRET_KEYS.issuerCert));
    expect(renewed.fingerprint256).not.toBe(issuer.cert.fingerprint256);
    expect(renewed.verify(anchor.cert.publicKey)).toBe(true);
    expect(Date.parse(renewed.validTo)).toBeGreaterThan(Date.now() + 360 * 24 * 3600_000);
    const metrics = await (await fetch(`http://127.0.0.1:${op.adminPort}/metrics`)).text();
    const expiry = /^weft_operator_issuer_expiry_timestamp_seconds (\S+)$/m.exec(metrics)?.[1];
    expect(Number(expiry)).toBe(Date.parse(renewed.validTo) / 1000);
  } finally {
    await op.stop();
  }
}, 120_000);
