// ConversionReview (apiextensions.k8s.io/v1) -> response. Pure: every object is converted by
// crds/smi/conversion; one failure fails the review (the apiserver needs all or nothing).
import { convertSmiObject } from '../../../crds/smi/conversion/index.ts';

export interface ConversionReviewOutcome {
  /** The ConversionReview to send back; undefined when the request is not a ConversionReview at all. */
  review?: Record<string, unknown>;
  /** Why the request is not a ConversionReview (answer 400). */
  badRequest?: string;
  converted: number;
  failed: boolean;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Answers a parsed ConversionReview request. */
export function reviewConversion(body: unknown): ConversionReviewOutcome {
  if (!isObject(body) || body.kind !== 'ConversionReview' || !isObject(body.request)) {
    return { badRequest: 'expected a ConversionReview with a request', converted: 0, failed: true };
  }
  const { uid, desiredAPIVersion, objects } = body.request;
  if (typeof uid !== 'string' || typeof desiredAPIVersion !== 'string' || !Array.isArray(objects)) {
    return {
      badRequest: 'ConversionReview request needs uid, desiredAPIVersion and objects',
      converted: 0,
      failed: true,
    };
  }
  const apiVersion = typeof body.apiVersion === 'string' ? body.apiVersion : 'apiextensions.k8s.io/v1';
  const convertedObjects: unknown[] = [];
  for (const o of objects) {
    const r = convertSmiObject(o, desiredAPIVersion);
    if (!r.ok) {
      return {
        review: {
          apiVersion,
          kind: 'ConversionReview',
          response: { uid, convertedObjects: [], result: { status: 'Failure', message: r.message } },
        },
        converted: 0,
        failed: true,
      };
    }
    convertedObjects.push(r.object);
  }
  return {
    review: {
      apiVersion,
      kind: 'ConversionReview',
      response: { uid, convertedObjects, result: { status: 'Success' } },
    },
    converted: convertedObjects.length,
    failed: false,
  };
}
