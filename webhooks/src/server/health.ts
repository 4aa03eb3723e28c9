// /healthz (the process serves), /readyz (a certificate is loaded and the server is not draining), /metrics.
import type { WebhookMetrics } from './metrics.ts';
import { json, type WebhookRouter } from './router.ts';

export interface Readiness {
  ready(): { ok: boolean; reason?: string };
}

export function registerHealthRoutes(
  router: WebhookRouter,
  readiness: Readiness,
  metrics: WebhookMetrics,
): void {
  router.register('/healthz', ['GET'], () => json(200, { status: 'ok' }));
  router.register('/readyz', ['GET'], () => {
    const r = readiness.ready();
    return r.ok
      ? json(200, { status: 'ready' })
      : json(503, { status: 'not ready', reason: r.reason }, 'not-ready');
  });
  router.register('/metrics', ['GET'], async () => ({
    status: 200,
    contentType: metrics.registry.contentType,
    body: await metrics.registry.metrics(),
  }));
}
