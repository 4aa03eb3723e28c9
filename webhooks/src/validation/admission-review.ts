// AdmissionReview (admission.k8s.io/v1) for SMI objects -> response with denials and warnings. Pure apart
// from the optional reference lookup the caller passes in.
import {
  formatFinding,
  type ReferenceLookup,
  validateSmiObjectWithLookup,
} from '../../../crds/smi/validation/index.ts';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** kubectl prints each warning on its own line; the apiserver may cut longer ones. */
const MAX_WARNING_LENGTH = 256;
const MAX_WARNINGS = 20;

export interface AdmissionOutcome {
  review?: Record<string, unknown>;
  badRequest?: string;
  allowed: boolean;
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

/** Answers a parsed AdmissionReview request for an SMI object. */
export async function reviewAdmission(body: unknown, lookup?: ReferenceLookup): Promise<AdmissionOutcome> {
  if (!isObject(body) || body.kind !== 'AdmissionReview' || !isObject(body.request)) {
    return { badRequest: 'expected an AdmissionReview with a request', allowed: false };
  }
  const req = body.request;
  if (typeof req.uid !== 'string')
    return { badRequest: 'AdmissionReview request needs a uid', allowed: false };
  const apiVersion = typeof body.apiVersion === 'string' ? body.apiVersion : 'admission.k8s.io/v1';
  const answer = (response: Json, allowed: boolean): AdmissionOutcome => ({
    review: { apiVersion, kind: 'AdmissionReview', response: { uid: req.uid, ...response } },
    allowed,
  });
  // Deletes and status writes (the operator's) carry nothing to validate.
  if (
    req.operation === 'DELETE' ||
    req.operation === 'CONNECT' ||
    (typeof req.subResource === 'string' && req.subResource !== '')
  ) {
    return answer({ allowed: true }, true);
  }
  const namespace = typeof req.namespace === 'string' ? req.namespace : undefined;
  // Dry runs must not have side effects; lookups are reads, so they are still fine.
  const v = await validateSmiObjectWithLookup(req.object, lookup, namespace);
  const name =
    typeof req.name === 'string' && v.object.name === undefined ? { ...v.object, name: req.name } : v.object;
  const warnings = v.warnings
    .slice(0, MAX_WARNINGS)
    .map((w) => truncate(formatFinding(name, w), MAX_WARNING_LENGTH));
  if (v.denials.length > 0) {
    const message = v.denials.map((d) => formatFinding(name, d)).join('; ');
    return answer(
      {
        allowed: false,
        status: {
          code: 422,
          reason: 'Invalid',
          message,
          details: { causes: v.denials.map((d) => ({ reason: d.code, field: d.field, message: d.message })) },
        },
        ...(warnings.length > 0 ? { warnings } : {}),
      },
      false,
    );
  }
  return answer({ allowed: true, ...(warnings.length > 0 ? { warnings } : {}) }, true);
}
