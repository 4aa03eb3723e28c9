// The /convert endpoint.
import { json, parseJsonBody, type WebhookHandler } from '../server/router.ts';
import { reviewConversion } from './conversion-review.ts';

export const CONVERT_PATH = '/convert';

export const convertHandler: WebhookHandler = (req) => {
  const outcome = reviewConversion(parseJsonBody(req));
  if (outcome.review === undefined)
    return json(400, { code: 'BadRequest', message: outcome.badRequest }, 'BadRequest');
  return json(200, outcome.review, outcome.failed ? 'failed' : 'converted');
};
