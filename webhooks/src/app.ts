// Assembles the webhook router: SMI conversion and validation, health and metrics. Other webhooks (injection)
// register their own paths on the same router before the server starts.
import type { ReferenceLookup } from '../../crds/smi/validation/index.ts';
import { CONVERT_PATH, convertHandler } from './conversion/handler.ts';
import { type Readiness, registerHealthRoutes } from './server/health.ts';
import type { WebhookMetrics } from './server/metrics.ts';
import { WebhookRouter } from './server/router.ts';
import { VALIDATE_PATH, validateHandler } from './validation/handler.ts';

export interface SmiWebhookOptions {
  lookup?: ReferenceLookup;
}

/** Registers /convert and /validate. */
export function registerSmiWebhooks(router: WebhookRouter, o: SmiWebhookOptions = {}): WebhookRouter {
  router.register(CONVERT_PATH, ['POST'], convertHandler);
  router.register(VALIDATE_PATH, ['POST'], validateHandler(o.lookup));
  return router;
}

/** A router with the SMI webhooks and the health and metrics endpoints. */
export function buildWebhookRouter(
  metrics: WebhookMetrics,
  readiness: Readiness,
  o: SmiWebhookOptions = {},
): WebhookRouter {
  const router = new WebhookRouter();
  registerSmiWebhooks(router, o);
  registerHealthRoutes(router, readiness, metrics);
  return router;
}
