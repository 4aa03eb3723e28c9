// The /validate endpoint.
import type { ReferenceLookup } from '../../../crds/smi/validation/index.ts';
import { json, parseJsonBody, type WebhookHandler } from '../server/router.ts';
import { reviewAdmission } from './admission-review.ts';

export const VALIDATE_PATH = '/validate';

/** The validating handler; `lookup` (optional) lets it warn about references to missing objects. */
export function validateHandler(lookup?: ReferenceLookup): WebhookHandler {
  return async (req) => {
    const outcome = await reviewAdmission(parseJsonBody(req), lookup);
    if (outcome.review === undefined)
      return json(400, { code: 'BadRequest', message: outcome.badRequest }, 'BadRequest');
    return json(200, outcome.review, outcome.allowed ? 'allowed' : 'denied');
  };
}
