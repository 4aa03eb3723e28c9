import { describe, expect, it } from '@jest/globals';
import { INJECT } from '../../../crds/annotations.ts';
import { reviewPod } from './admission.ts';
import { applyPatch, type JsonPatchOperation } from './json-patch.ts';
import { DEFAULT_MESH_CONFIG } from './mesh-config.ts';

const podKind = { group: '', version: 'v1', kind: 'Pod' };
const enabled = { metadata: { name: 'shop', annotations: { [INJECT]: 'enabled' } } };
const podObject = {
  metadata: { generateName: 'web-' },
  spec: { containers: [{ name: 'app', image: 'a:1' }] },
};

function decode(patch: string | undefined): JsonPatchOperation[] {
  return JSON.parse(Buffer.from(patch ?? '', 'base64').toString('utf8')) as JsonPatchOperation[];
}

describe('pod admission', () => {
  it('answers with a base64 JSON patch that the apiserver can apply', () => {
    const { review, reason } = reviewPod(
      { request: { uid: 'u1', kind: podKind, namespace: 'shop', operation: 'CREATE', object: podObject } },
      enabled,
      DEFAULT_MESH_CONFIG,
    );
    expect(reason).toBe('Injected');
    expect(review.response).toMatchObject({ uid: 'u1', allowed: true, patchType: 'JSONPatch' });
    const out = applyPatch<unknown>(podObject, decode(review.response.patch)) as {
      spec: { initContainers: unknown[] };
    };
    expect(out.spec.initContainers).toHaveLength(2);
  });

  it('allows without a patch when the pod is not to be injected, saying why in the audit log', () => {
    const { review } = reviewPod(
      { request: { uid: 'u2', kind: podKind, namespace: 'shop', object: podObject } },
      { metadata: { name: 'shop' } },
      DEFAULT_MESH_CONFIG,
    );
    expect(review.response).toEqual({
      uid: 'u2',
      allowed: true,
      auditAnnotations: { 'weft.dev/injection': 'NotEnabled' },
    });
  });

  it('denies a pod whose overrides are invalid, naming namespace, pod and annotation', () => {
    const bad = {
      ...podObject,
      metadata: { name: 'web-1', annotations: { 'config.weft.dev/policy-mode': 'strict' } },
    };
    const { review } = reviewPod(
      { request: { uid: 'u3', kind: podKind, namespace: 'shop', object: bad } },
      enabled,
      DEFAULT_MESH_CONFIG,
    );
    expect(review.response.allowed).toBe(false);
    expect(review.response.status?.message).toMatch(
      /shop\/web-1: pod metadata\.annotations\["config\.weft\.dev\/policy-mode"\]: "strict" must be one of/,
    );
  });

  it('rejects a review that carries no pod', () => {
    const { review, reason } = reviewPod(
      { request: { uid: 'u4', kind: { group: 'apps', version: 'v1', kind: 'Deployment' } } },
      enabled,
      DEFAULT_MESH_CONFIG,
    );
    expect(reason).toBe('BadRequest');
    expect(review.response).toMatchObject({ uid: 'u4', allowed: false, status: { code: 400 } });
  });
});
