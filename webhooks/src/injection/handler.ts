// The /inject endpoint: AdmissionReview in, the injector's patch out. The namespace comes from a
// lookup and the mesh config from a source, both given by the process (main.ts) or a test.
import type { Logger } from 'pino';
import { WebhookError } from '../server/errors.ts';
import { json, parseJsonBody, type WebhookHandler } from '../server/router.ts';
import { type AdmissionReview, reviewPod } from './admission.ts';
import { type InjectionEvent, injectionEvent } from './events.ts';
import type { Namespace } from './inject.ts';
import type { MeshConfig } from './mesh-config.ts';

export const INJECT_PATH = '/inject';

export interface NamespaceLookup {
  /** The namespace, or undefined when it does not exist; throws when the lookup itself fails. */
  get(name: string, signal: AbortSignal): Promise<Namespace | undefined>;
}

export function injectHandler(
  namespaces: NamespaceLookup,
  mesh: () => MeshConfig,
  logger?: Logger,
  events?: { record(event: InjectionEvent | null): void },
): WebhookHandler {
  return async (req) => {
    const review = parseJsonBody(req) as AdmissionReview;
    const nsName = review?.request?.namespace;
    let namespace: Namespace | undefined;
    if (typeof nsName === 'string' && nsName !== '') {
      try {
        namespace = await namespaces.get(nsName, req.signal);
      } catch (error) {
        // Without the namespace the decision could be wrong either way; the failurePolicy decides.
        logger?.error({ err: error, namespace: nsName }, 'namespace lookup failed');
        throw new WebhookError('Unavailable', `cannot read namespace ${nsName}: ${(error as Error).message}`);
      }
    }
    const outcome = reviewPod(review, namespace, mesh());
    if (outcome.reason === 'BadRequest')
      return json(400, { code: 'BadRequest', message: outcome.message }, 'BadRequest');
    logger?.info({ namespace: nsName, reason: outcome.reason }, outcome.message);
    events?.record(injectionEvent(review.request?.object, nsName ?? '', outcome.reason, outcome.message));
    return json(200, outcome.review, outcome.reason);
  };
}
