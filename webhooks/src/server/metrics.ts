// The webhook server's Prometheus metrics, on its own registry (never prom-client's global one).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface WebhookMetrics {
  registry: Registry;
  requests: Counter<'path' | 'code' | 'outcome'>;
  duration: Histogram<'path'>;
  certificateNotAfter: Gauge;
  certificateReloads: Counter<'source' | 'result'>;
}

export function createWebhookMetrics(): WebhookMetrics {
  const registry = new Registry();
  return {
    registry,
    requests: new Counter({
      name: 'weft_webhook_requests_total',
      help: 'Webhook requests by path, HTTP status and outcome (allowed, denied, converted, failed, error code).',
      labelNames: ['path', 'code', 'outcome'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'weft_webhook_request_duration_seconds',
      help: 'Time from a complete request body to the response, by path.',
      labelNames: ['path'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers: [registry],
    }),
    certificateNotAfter: new Gauge({
      name: 'weft_webhook_certificate_not_after_seconds',
      help: 'Expiry (Unix seconds) of the serving certificate in use.',
      registers: [registry],
    }),
    certificateReloads: new Counter({
      name: 'weft_webhook_certificate_reloads_total',
      help: 'Serving certificate (re)loads by source (generated, files) and result.',
      labelNames: ['source', 'result'],
      registers: [registry],
    }),
  };
}
