import { describe, expect, test } from '@jest/globals';
import { reviewConversion } from './conversion-review.ts';

const ts = (weight: unknown) => ({
  apiVersion: 'split.smi-spec.io/v1alpha1',
  kind: 'TrafficSplit',
  metadata: { name: 'web', namespace: 'shop' },
  spec: { service: 'web', backends: [{ service: 'web-canary', weight }] },
});

describe('ConversionReview', () => {
  test('converts every object and echoes the uid', () => {
    const out = reviewConversion({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'ConversionReview',
      request: { uid: 'u1', desiredAPIVersion: 'split.smi-spec.io/v1alpha4', objects: [ts(5), ts('500m')] },
    });
    const response = (
      out.review as { response: { uid: string; result: unknown; convertedObjects: { spec: unknown }[] } }
    ).response;
    expect(response.uid).toBe('u1');
    expect(response.result).toEqual({ status: 'Success' });
    expect(response.convertedObjects.map((o) => o.spec)).toEqual([
      { service: 'web', backends: [{ service: 'web-canary', weight: 5 }] },
      { service: 'web', backends: [{ service: 'web-canary', weight: 500 }] },
    ]);
  });

  test('one object that cannot be converted fails the review with a message naming it', () => {
    const out = reviewConversion({
      kind: 'ConversionReview',
      request: {
        uid: 'u2',
        desiredAPIVersion: 'split.smi-spec.io/v1alpha4',
        objects: [
          ts(1),
          {
            ...ts('1E'),
            spec: {
              service: 'web',
              backends: [
                { service: 'a', weight: '1E' },
                { service: 'b', weight: 1 },
              ],
            },
          },
        ],
      },
    });
    const response = (
      out.review as { response: { result: { status: string; message: string }; convertedObjects: unknown[] } }
    ).response;
    expect(response.result.status).toBe('Failure');
    expect(response.result.message).toMatch(/^TrafficSplit shop\/web: spec\.backends\[0\]\.weight: /);
    expect(response.convertedObjects).toEqual([]);
  });

  test('not a ConversionReview', () => {
    expect(reviewConversion({ kind: 'AdmissionReview' }).badRequest).toBeDefined();
    expect(reviewConversion({ kind: 'ConversionReview', request: { uid: 1 } }).badRequest).toBeDefined();
    expect(reviewConversion(null).badRequest).toBeDefined();
  });
});
