// The operator's Prometheus metrics, on a registry of its own (never prom-client's global one).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { HubObserver } from './distribution/hub.ts';
import type { InformerObserver } from './kube/informers.ts';
import type { QueueObserver } from './runtime/queue.ts';

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly queueDepth = new Gauge({
    name: 'weft_operator_queue_depth',
    help: 'Keys waiting in a work queue.',
    labelNames: ['queue'],
    registers: [this.registry],
  });
  readonly reconciles = new Counter({
    name: 'weft_operator_reconcile_total',
    help: 'Reconciles by queue and outcome.',
    labelNames: ['queue', 'outcome'],
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: 'weft_operator_reconcile_duration_seconds',
    help: 'Reconcile duration.',
    labelNames: ['queue'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly informerEvents = new Counter({
    name: 'weft_operator_informer_events_total',
    help: 'Relevant changes seen by informers.',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly informerErrors = new Counter({
    name: 'weft_operator_informer_errors_total',
    help: 'Informer failures (each followed by a restart).',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly informerLastEvent = new Gauge({
    name: 'weft_operator_informer_last_event_timestamp_seconds',
    help: 'Time of the last relevant change per kind.',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly informerLag = new Histogram({
    name: 'weft_operator_informer_lag_seconds',
    help: "From an object's last write (its newest managedFields time, whole seconds) to its watch event at the operator: a watch that falls behind shows here. Values under 1 s read as 0-1 s.",
    labelNames: ['kind'],
    buckets: [1, 2, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly subscribers = new Gauge({
    name: 'weft_operator_config_subscribers',
    help: 'Connected config stream subscribers.',
    registers: [this.registry],
  });
  readonly streams = new Gauge({
    name: 'weft_operator_config_streams',
    help: 'Open config streams by transport: sealed (the plain TCP port), tls (Upgrade or a chunked response on the HTTPS port; proxies that cannot reach the sealed port, or predate it).',
    labelNames: ['transport'],
    registers: [this.registry],
  });
  readonly pushLatency = new Histogram({
    name: 'weft_operator_config_push_latency_seconds',
    help: 'From the start of the compile that produced a config to its write to a subscriber.',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly slowDisconnects = new Counter({
    name: 'weft_operator_config_slow_disconnects_total',
    help: 'Subscribers disconnected for not draining.',
    registers: [this.registry],
  });
  readonly connections = new Gauge({
    name: 'weft_operator_control_plane_connections',
    help: 'Open connections on the control-plane ports, TLS and sealed config stream (config streams, certificate and ticket requests, handshakes under way).',
    registers: [this.registry],
  });
  readonly connectionsRefused = new Counter({
    name: 'weft_operator_control_plane_connections_refused_total',
    help: 'Connections to the control-plane port closed at once because a limit was reached: limit="total" (WEFT_CONTROL_PLANE_MAX_CONNECTIONS) or "per_address" (WEFT_CONTROL_PLANE_MAX_CONNECTIONS_PER_ADDRESS); limit="streams" counts config streams refused (503) past the total minus the connections kept for certificate requests.',
    labelNames: ['limit'],
    registers: [this.registry],
  });
  readonly sealedHellosRefused = new Counter({
    name: 'weft_operator_config_stream_hellos_refused_total',
    help: "Connections to the sealed config-stream port closed before a stream began, by reason: malformed (not a hello), unknown_ticket (unknown, used or expired), forged (the hello does not prove the ticket's keys), timeout (no hello in time), extra_bytes (more than the hello).",
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly certificatesIssued = new Counter({
    name: 'weft_operator_certificates_issued_total',
    help: 'Leaf certificates issued.',
    registers: [this.registry],
  });
  readonly certificateFailures = new Counter({
    name: 'weft_operator_certificate_failures_total',
    help: 'Refused or failed certificate requests by reason.',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly proxies = new Gauge({
    name: 'weft_operator_proxies',
    help: 'Meshed pods with a compiled config.',
    registers: [this.registry],
  });
  readonly distinctConfigs = new Gauge({
    name: 'weft_operator_distinct_configs',
    help: 'Distinct compiled configs (profiles).',
    registers: [this.registry],
  });
  readonly coreWarnings = new Gauge({
    name: 'weft_operator_core_object_warnings',
    help: 'Services, Pods and Namespaces the last compile reported on (each also gets a Warning Event): truncated endpoints, a rejected config, a bad annotation.',
    registers: [this.registry],
  });
  readonly issuerExpiry = new Gauge({
    name: 'weft_operator_issuer_expiry_timestamp_seconds',
    help: 'When the issuer in use expires, seconds since the epoch (alert well before: supplied material is renewed by its owner; generated material by the leader at 2/3 of its life).',
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'weft_operator_leader',
    help: '1 while this replica holds the leader Lease.',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'weft_operator_' });
  }

  queueObserver(queue: string): QueueObserver {
    return {
      depth: (n) => this.queueDepth.set({ queue }, n),
      outcome: (outcome, seconds) => {
        this.reconciles.inc({ queue, outcome });
        this.reconcileDuration.observe({ queue }, seconds);
      },
    };
  }

  informerObserver(): InformerObserver {
    return {
      event: (kind) => {
        this.informerEvents.inc({ kind });
        this.informerLastEvent.set({ kind }, Date.now() / 1000);
      },
      error: (kind) => this.informerErrors.inc({ kind }),
      lag: (kind, seconds) => this.informerLag.observe({ kind }, seconds),
    };
  }

  hubObserver(): HubObserver {
    return {
      subscribers: (n) => this.subscribers.set(n),
      pushed: (s) => this.pushLatency.observe(s),
      slowDisconnect: () => this.slowDisconnects.inc(),
    };
  }
}
