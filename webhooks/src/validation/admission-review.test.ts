import { describe, expect, test } from '@jest/globals';
import { reviewAdmission } from './admission-review.ts';

const request = (object: unknown, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: { uid: 'u', operation: 'CREATE', namespace: 'shop', name: 'web', object, ...extra },
});
const split = (backends: unknown) => ({
  apiVersion: 'split.smi-spec.io/v1alpha2',
  kind: 'TrafficSplit',
  metadata: { name: 'web', namespace: 'shop' },
  spec: { service: 'web', backends },
});

type Response = {
  uid: string;
  allowed: boolean;
  status?: { code: number; message: string };
  warnings?: string[];
};
const response = (o: { review?: Record<string, unknown> }) => (o.review as { response: Response }).response;

describe('AdmissionReview', () => {
  test('denial names the object and the field', async () => {
    const r = response(
      await reviewAdmission(
        request(
          split([
            { service: 'a', weight: 1 },
            { service: 'a', weight: 1 },
          ]),
        ),
      ),
    );
    expect(r).toMatchObject({ uid: 'u', allowed: false, status: { code: 422 } });
    expect(r.status!.message).toBe(
      'TrafficSplit shop/web: spec.backends[1].service: "a" is already backend spec.backends[0]',
    );
  });

  test('suspicious input is admitted with a warning', async () => {
    const r = response(await reviewAdmission(request(split([{ service: 'a', weight: 0 }]))));
    expect(r.allowed).toBe(true);
    expect(r.warnings).toEqual([
      expect.stringMatching(/^TrafficSplit shop\/web: spec\.backends: every weight is 0/),
    ]);
  });

  test('a generated name is taken from the request', async () => {
    const o = split([]);
    (o.metadata as { name?: string }).name = undefined;
    const r = response(await reviewAdmission(request(o, { name: undefined })));
    expect(r.status!.message).toMatch(/^TrafficSplit shop\/<generated name>: spec\.backends/);
  });

  test('deletes and status updates are allowed without looking', async () => {
    expect(response(await reviewAdmission(request(null, { operation: 'DELETE' }))).allowed).toBe(true);
    expect(
      response(await reviewAdmission(request(split([]), { operation: 'UPDATE', subResource: 'status' })))
        .allowed,
    ).toBe(true);
  });

  test('not an AdmissionReview', async () => {
    expect((await reviewAdmission({ kind: 'ConversionReview' })).badRequest).toBeDefined();
    expect((await reviewAdmission({ kind: 'AdmissionReview', request: {} })).badRequest).toBeDefined();
  });
});
