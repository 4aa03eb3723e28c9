// The proxy's metrics on its own prom-client Registry, with the names and labels that Linkerd-style
// dashboards and Flagger's `linkerd` provider query: request_total, response_total{classification,
// status_code, grpc_status_code}, response_latency_ms (ms buckets 1..50000), tcp_open_total,
// tcp_close_total, tcp_read_bytes_total, tcp_write_bytes_total, with direction, authority, tls,
// client_id (inbound) / server_id (outbound) and dst_* labels. Plus the certificate expiry, build info,
// protocol errors, refused connections and config reloads.
//
// Cardinality is bounded: authorities, peer identities and reason strings each admit a fixed number of
// distinct values (then "overflow"), and the number of traffic label sets is capped too. Every overflow
// is counted in weft_metrics_label_overflow_total{label}.

import type { Registry } from 'prom-client';
// The modules themselves, not the package index: see prom-client-lib.d.ts.
import eventLoopLag from 'prom-client/lib/metrics/eventLoopLag.js';
import heapSizeAndUsed from 'prom-client/lib/metrics/heapSizeAndUsed.js';
import heapSpacesSizeAndUsed from 'prom-client/lib/metrics/heapSpacesSizeAndUsed.js';
import osMemoryHeap from 'prom-client/lib/metrics/osMemoryHeap.js';
import processHandles from 'prom-client/lib/metrics/processHandles.js';
import processMaxFileDescriptors from 'prom-client/lib/metrics/processMaxFileDescriptors.js';
import processOpenFileDescriptors from 'prom-client/lib/metrics/processOpenFileDescriptors.js';
import processRequests from 'prom-client/lib/metrics/processRequests.js';
import processResources from 'prom-client/lib/metrics/processResources.js';
import processStartTime from 'prom-client/lib/metrics/processStartTime.js';
import version from 'prom-client/lib/metrics/version.js';
import RegistryClass from 'prom-client/lib/registry.js';
import { classifyResponse } from '../core/classify.ts';
import type { ExchangeEnd } from '../forward/observer.ts';
import {
  BoundedLabel,
  CounterFamily,
  GaugeFamily,
  HistogramFamily,
  type HistogramSeries,
  type Labels,
  type ScalarSeries,
} from './families.ts';

export type Direction = 'inbound' | 'outbound';

/** Destination labels, where known (from the config's service and endpoint). */
export interface DstLabels {
  readonly namespace?: string | undefined;
  readonly service?: string | undefined;
  readonly deployment?: string | undefined;
  readonly pod?: string | undefined;
}

/**
 * Labels of a stream of traffic (a connection, or all requests of one route through it). Keep and reuse
 * the same object for the same traffic: series are cached per object, so recording does no label work.
 */
export interface TrafficLabels {
  readonly direction: Direction;
  /** Logical authority (name.ns.svc.cluster.local:port), or a fixed word such as "passthrough". */
  readonly authority: string;
  /** Whether the traffic was mesh mTLS. */
  readonly tls: boolean;
  /** Inbound: the client's verified SPIFFE ID; outbound: the identity expected of the server. */
  readonly peerId: string | null;
  readonly dst?: DstLabels | undefined;
}

/** Latency buckets in milliseconds, as Linkerd's response_latency_ms. */
export const LATENCY_BUCKETS_MS: readonly number[] = [
  1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 3000, 4000, 5000, 10000, 20000,
  30000, 40000, 50000,
];

export interface ProxyMetricsOptions {
  /** Proxy version for proxy_build_info. */
  version: string;
  /** Registry to register on; default a new one (one registry per proxy, never the global one). */
  registry?: Registry;
  /** Extra build facts (git sha, ...) as proxy_build_info labels. */
  build?: Record<string, string>;
  /**
   * Workload labels added to every traffic series (namespace, deployment, pod): Flagger selects on
   * `namespace` and `deployment`; set them when Prometheus does not add them by relabeling.
   */
  workload?: { namespace?: string; deployment?: string; pod?: string };
  maxAuthorities?: number;
  maxPeerIds?: number;
  maxTrafficSeries?: number;
  maxReasons?: number;
  /**
   * Also register prom-client's process metrics, without the GC duration histogram (starts an event-loop-delay
   * monitor). Default false.
   */
  processMetrics?: boolean;
}

/** prom-client's default process metrics, all but the GC duration histogram. */
const PROCESS_METRICS = [
  processStartTime,
  osMemoryHeap,
  processOpenFileDescriptors,
  processMaxFileDescriptors,
  eventLoopLag,
  processResources,
  processHandles,
  processRequests,
  heapSizeAndUsed,
  heapSpacesSizeAndUsed,
  version,
];

/**
 * process_cpu_{user,system}_seconds_total and their sum, as prom-client's default metrics name them, on this
 * file's families: prom-client's own module loads @opentelemetry/api for exemplars, 1.3 MB of the proxy's idle
 * RSS (interleaved idle runs of the bundle with and without it, 2026-11-23).
 */
function registerProcessCpu(r: Registry): void {
  const counters = [
    [
      'process_cpu_user_seconds_total',
      'Total user CPU time spent in seconds.',
      (u: NodeJS.CpuUsage) => u.user,
    ],
    [
      'process_cpu_system_seconds_total',
      'Total system CPU time spent in seconds.',
      (u: NodeJS.CpuUsage) => u.system,
    ],
    [
      'process_cpu_seconds_total',
      'Total user and system CPU time spent in seconds.',
      (u: NodeJS.CpuUsage) => u.user + u.system,
    ],
  ] as const;
  for (const [name, help, micros] of counters)
    new CounterFamily(name, help, () => micros(process.cpuUsage()) / 1e6).register(r).with('', {});
}

const OVERFLOW = 'overflow';
/** Distinct (status, grpc status, error, reason) combinations per traffic label set; then "overflow". */
const MAX_RESPONSE_SERIES_PER_TRAFFIC = 128;
/** Distinct status codes with their own latency histogram per traffic label set; then "overflow". */
const MAX_LATENCY_SERIES_PER_TRAFFIC = 32;

/** Per-traffic series handle: recording through it touches only plain numbers. */
export class TrafficSeries {
  readonly labels: Labels;
  /** request_total series, created on the first request (TCP-only traffic has none). */
  private request: ScalarSeries | null = null;
  private readonly metrics: ProxyMetrics;
  /** Identifies the label set among all traffic series. */
  readonly key: string;
  /** response_total series by packed (errored, status, grpc, reason) key. */
  private readonly responses = new Map<number, ScalarSeries>();
  /** response_latency_ms series by status code. */
  private readonly latencies = new Map<number, HistogramSeries>();
  private tcp: {
    open: ScalarSeries;
    close: ScalarSeries;
    read: ScalarSeries;
    write: ScalarSeries;
    conns: ScalarSeries;
  } | null = null;

  constructor(metrics: ProxyMetrics, key: string, labels: Labels) {
    this.metrics = metrics;
    this.key = key;
    this.labels = labels;
  }

  /** request_cancelled_total series, created on the first cancellation. */
  private cancellations: ScalarSeries | null = null;

  /** Counts a request the client cancelled before any response head reached it. */
  cancelledBeforeResponse(): void {
    this.cancellations ??= this.metrics.cancelledSeries(this.key, this.labels);
    this.cancellations.value++;
  }

  /** Counts a request (at request head time). */
  requestStarted(): void {
    this.request ??= this.metrics.requestSeries(this.key, this.labels);
    this.request.value++;
  }

  /**
   * Counts a response and its latency (request head to response head, ms). `status` 0 means no response
   * (error); `grpcStatus` -1 or null when absent; `errored` when the exchange failed after the head;
   * `proxyReason` when the proxy itself answered (503 no endpoints, 403 denied, 504 timeout).
   */
  responded(
    status: number,
    grpcStatus: number | null,
    latencyMs: number,
    proxyReason: string | null,
    errored: boolean,
  ): void {
    const st = status >= 100 && status <= 999 ? status : 0;
    const g = grpcStatus === null || grpcStatus < 0 ? -1 : grpcStatus > 16 ? 17 : grpcStatus;
    const reasonId = proxyReason === null ? 0 : this.metrics.reasonId(proxyReason);
    const key = (((errored ? 1000 : 0) + st) * 20 + (g + 1)) * 128 + reasonId;
    let r = this.responses.get(key);
    if (r === undefined) {
      if (this.responses.size < MAX_RESPONSE_SERIES_PER_TRAFFIC) {
        r = this.metrics.responseSeries(this, key, st, g, errored, reasonId);
        this.responses.set(key, r);
      } else {
        // An upstream inventing status codes cannot grow the series count; keep the classification.
        const failure = classifyResponse(st, g === 17 ? 2 : g, errored) === 'failure';
        const overflowKey = failure ? -2 : -1;
        r = this.responses.get(overflowKey);
        if (r === undefined) {
          r = this.metrics.overflowResponseSeries(this, failure);
          this.responses.set(overflowKey, r);
        }
      }
    }
    r.value++;
    let h = this.latencies.get(st);
    if (h === undefined) {
      const lk = this.latencies.size < MAX_LATENCY_SERIES_PER_TRAFFIC ? st : -1;
      h = this.latencies.get(lk);
      if (h === undefined) {
        h = this.metrics.latencySeries(this, lk);
        this.latencies.set(lk, h);
      }
    }
    h.observe(latencyMs);
  }

  tcpOpened(): void {
    const t = this.tcpSeries();
    t.open.value++;
    t.conns.value++;
  }

  tcpClosed(bytesRead: number, bytesWritten: number): void {
    const t = this.tcpSeries();
    t.close.value++;
    t.conns.value--;
    if (bytesRead > 0) t.read.value += bytesRead;
    if (bytesWritten > 0) t.write.value += bytesWritten;
  }

  /** Bytes moved on a still-open connection (optional: tcpClosed also takes totals). */
  tcpBytes(bytesRead: number, bytesWritten: number): void {
    const t = this.tcpSeries();
    if (bytesRead > 0) t.read.value += bytesRead;
    if (bytesWritten > 0) t.write.value += bytesWritten;
  }

  private tcpSeries() {
    this.tcp ??= this.metrics.tcpSeries(this.key, this.labels);
    return this.tcp;
  }
}

/** All metrics of one proxy. Structurally a DataPathObserver (src/forward/observer.ts). */
export class ProxyMetrics {
  readonly registry: Registry;
  private readonly requestTotal: CounterFamily;
  private readonly cancelledTotal: CounterFamily;
  private readonly responseTotal: CounterFamily;
  private readonly latency: HistogramFamily;
  private readonly tcpOpenFamily: CounterFamily;
  private readonly tcpCloseFamily: CounterFamily;
  private readonly tcpReadFamily: CounterFamily;
  private readonly tcpWriteFamily: CounterFamily;
  private readonly tcpConnsFamily: GaugeFamily;
  private readonly protocolErrors: CounterFamily;
  private readonly retries: CounterFamily;
  private readonly refused: CounterFamily;
  private readonly reloads: CounterFamily;
  private readonly certExpirySeries: ScalarSeries;
  private readonly overflow: CounterFamily;

  private readonly authorities: BoundedLabel;
  private readonly peers: BoundedLabel;
  private readonly reasons: BoundedLabel;
  private readonly errorCodes: BoundedLabel;
  private readonly reasonIds = new Map<string, number>();
  private readonly reasonNames: string[] = [''];
  private readonly maxTrafficSeries: number;
  private readonly workload: Labels;

  private readonly byObject = new WeakMap<TrafficLabels, TrafficSeries>();
  private readonly byKey = new Map<string, TrafficSeries>();
  private readonly overflowTraffic = new Map<Direction, TrafficSeries>();

  constructor(opts: ProxyMetricsOptions) {
    this.registry = opts.registry ?? new RegistryClass();
    const r = this.registry;
    this.requestTotal = new CounterFamily('request_total', 'HTTP requests received').register(r);
    this.cancelledTotal = new CounterFamily(
      'request_cancelled_total',
      'HTTP requests the client cancelled before a response head reached it (not in response_total)',
    ).register(r);
    this.responseTotal = new CounterFamily(
      'response_total',
      'HTTP responses, by status code, gRPC status and classification (failure: 5xx, grpc-status != 0, or no complete response)',
    ).register(r);
    this.latency = new HistogramFamily(
      'response_latency_ms',
      'Time from the request head to the response head, in milliseconds',
      LATENCY_BUCKETS_MS,
    ).register(r);
    this.tcpOpenFamily = new CounterFamily('tcp_open_total', 'TCP connections opened').register(r);
    this.tcpCloseFamily = new CounterFamily('tcp_close_total', 'TCP connections closed').register(r);
    this.tcpReadFamily = new CounterFamily(
      'tcp_read_bytes_total',
      'Bytes read from the peer of a proxied connection',
    ).register(r);
    this.tcpWriteFamily = new CounterFamily(
      'tcp_write_bytes_total',
      'Bytes written to the peer of a proxied connection',
    ).register(r);
    this.tcpConnsFamily = new GaugeFamily('tcp_open_connections', 'TCP connections currently open').register(
      r,
    );
    this.retries = new CounterFamily(
      'weft_retries_total',
      'Failed attempts retried (result="retried"), and retryable ones the retry budget refused (result="budget-exhausted")',
    ).register(r);
    this.protocolErrors = new CounterFamily(
      'weft_protocol_errors_total',
      'Connections or requests refused for malformed input, by error code',
    ).register(r);
    this.refused = new CounterFamily(
      'weft_connections_refused_total',
      'Connections refused (limits, authorization, identity), by reason',
    ).register(r);
    this.reloads = new CounterFamily('weft_config_reloads_total', 'Config updates, by result').register(r);
    const expiry = new GaugeFamily(
      'identity_cert_expiration_timestamp_seconds',
      'Expiry of the proxy certificate, seconds since the epoch (0 before the first certificate)',
    ).register(r);
    this.certExpirySeries = expiry.with('', {});
    const build = new GaugeFamily('proxy_build_info', 'Proxy build facts; the value is always 1').register(r);
    build.with('', {
      version: opts.version,
      node_version: process.versions.node,
      ...(opts.build ?? {}),
    }).value = 1;
    this.overflow = new CounterFamily(
      'weft_metrics_label_overflow_total',
      'Label values replaced by "overflow" to bound the number of series, by label',
    ).register(r);

    this.authorities = new BoundedLabel(
      opts.maxAuthorities ?? 1000,
      this.overflow.with('authority', { label: 'authority' }),
    );
    this.peers = new BoundedLabel(opts.maxPeerIds ?? 1000, this.overflow.with('peer', { label: 'peer_id' }));
    this.reasons = new BoundedLabel(opts.maxReasons ?? 64, this.overflow.with('reason', { label: 'reason' }));
    this.errorCodes = new BoundedLabel(opts.maxReasons ?? 64, this.overflow.with('code', { label: 'code' }));
    this.maxTrafficSeries = opts.maxTrafficSeries ?? 10_000;
    const w: Record<string, string> = {};
    if (opts.workload?.namespace) w.namespace = opts.workload.namespace;
    if (opts.workload?.deployment) w.deployment = opts.workload.deployment;
    if (opts.workload?.pod) w.pod = opts.workload.pod;
    this.workload = w;
    if (opts.processMetrics === true) {
      // prom-client's default metrics but nodejs_gc_duration_seconds: its PerformanceObserver runs a callback on
      // every garbage collection, and the proxy's small young generation collects hundreds of times a second
      // under load (1.7% of the proxy's busy CPU in a profile of the single-hop bench).
      for (const register of PROCESS_METRICS) register(r, { eventLoopMonitoringPrecision: 10 });
      registerProcessCpu(r);
    }
  }

  /** The series handle of a traffic label set; cached per object and per label values. */
  traffic(l: TrafficLabels): TrafficSeries {
    const cached = this.byObject.get(l);
    if (cached !== undefined) return cached;
    const t = this.intern(l);
    this.byObject.set(l, t);
    return t;
  }

  // --- DataPathObserver-compatible surface ---

  request(l: TrafficLabels): void {
    this.traffic(l).requestStarted();
  }

  /**
   * A client's cancellation is never classification="failure": with a response head already relayed it is that
   * response (its body cut by the client, not by the server); before one it is no response at all, counted in
   * request_cancelled_total. A success rate (Flagger's, from response_total) must not fall because clients give
   * up or navigate away (Linkerd counted them as failures once, linkerd/linkerd2#3281).
   */
  response(
    l: TrafficLabels,
    status: number,
    grpcStatus: number | null,
    latencyMs: number,
    proxyReason: string | null,
    end: ExchangeEnd,
  ): void {
    const t = this.traffic(l);
    if (end !== 'cancelled') t.responded(status, grpcStatus, latencyMs, proxyReason, end === 'errored');
    else if (status >= 100) t.responded(status, grpcStatus, latencyMs, null, false);
    else t.cancelledBeforeResponse();
  }

  tcpOpen(l: TrafficLabels): void {
    this.traffic(l).tcpOpened();
  }

  tcpClose(l: TrafficLabels, bytesRead: number, bytesWritten: number): void {
    this.traffic(l).tcpClosed(bytesRead, bytesWritten);
  }

  retry(l: TrafficLabels, result: 'retried' | 'budget-exhausted'): void {
    const t = this.traffic(l);
    this.retries.with(`${t.key}|${result}`, { ...t.labels, result }).value++;
  }

  protocolError(direction: Direction, code: string): void {
    const c = this.errorCodes.admit(code);
    this.protocolErrors.with(`${direction}|${c}`, { direction, code: c }).value++;
  }

  connectionRefused(direction: Direction, reason: string): void {
    const c = this.reasons.admit(reason);
    this.refused.with(`${direction}|${c}`, { direction, reason: c }).value++;
  }

  /** Sets the certificate expiry (seconds since the epoch). */
  certExpiry(epochSeconds: number): void {
    this.certExpirySeries.value = epochSeconds;
  }

  /** Counts a config update: "applied", "unchanged", "invalid" or another short word. */
  configReload(result: string): void {
    const c = this.errorCodes.admit(result);
    this.reloads.with(c, { result: c }).value++;
  }

  /** Content type of text(). */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  // --- internals used by TrafficSeries ---

  /** Small integer for a reason string (bounded; overflow shares one id). */
  reasonId(reason: string): number {
    let id = this.reasonIds.get(reason);
    if (id === undefined) {
      const admitted = this.reasons.admit(reason);
      id = this.reasonIds.get(admitted);
      if (id === undefined) {
        id = this.reasonNames.length;
        this.reasonNames.push(admitted);
        this.reasonIds.set(admitted, id);
      }
      if (admitted === reason) this.reasonIds.set(reason, id);
    }
    return id;
  }

  responseSeries(
    t: TrafficSeries,
    key: number,
    status: number,
    grpc: number,
    errored: boolean,
    reasonId: number,
  ): ScalarSeries {
    const labels: Record<string, string> = { ...t.labels };
    if (status !== 0) labels.status_code = String(status);
    if (grpc >= 0) labels.grpc_status_code = grpc === 17 ? 'other' : String(grpc);
    labels.classification = classifyResponse(status, grpc === 17 ? 2 : grpc, errored);
    if (errored) labels.error = 'true';
    if (reasonId !== 0) labels.weft_reason = this.reasonNames[reasonId]!;
    return this.responseTotal.with(`${t.key}#${key}`, labels);
  }

  overflowResponseSeries(t: TrafficSeries, failure: boolean): ScalarSeries {
    this.overflow.with('status', { label: 'status_code' }).value++;
    const classification = failure ? 'failure' : 'success';
    return this.responseTotal.with(`${t.key}#overflow-${classification}`, {
      ...t.labels,
      status_code: OVERFLOW,
      classification,
    });
  }

  /** status -1: the overflow histogram of the traffic label set. */
  latencySeries(t: TrafficSeries, status: number): HistogramSeries {
    const labels: Record<string, string> = { ...t.labels };
    if (status > 0) labels.status_code = String(status);
    else if (status < 0) labels.status_code = OVERFLOW;
    return this.latency.with(`${t.key}#${status}`, labels);
  }

  requestSeries(key: string, labels: Labels): ScalarSeries {
    return this.requestTotal.with(key, labels);
  }

  cancelledSeries(key: string, labels: Labels): ScalarSeries {
    return this.cancelledTotal.with(key, labels);
  }

  tcpSeries(key: string, labels: Labels) {
    return {
      open: this.tcpOpenFamily.with(key, labels),
      close: this.tcpCloseFamily.with(key, labels),
      read: this.tcpReadFamily.with(key, labels),
      write: this.tcpWriteFamily.with(key, labels),
      conns: this.tcpConnsFamily.with(key, labels),
    };
  }

  private intern(l: TrafficLabels): TrafficSeries {
    const authority = this.authorities.admit(l.authority);
    const peer = l.peerId === null ? null : this.peers.admit(l.peerId);
    const d = l.dst;
    const key = `${l.direction}|${authority}|${l.tls ? 1 : 0}|${peer ?? ''}|${d?.namespace ?? ''}|${d?.service ?? ''}|${d?.deployment ?? ''}|${d?.pod ?? ''}`;
    const existing = this.byKey.get(key);
    if (existing !== undefined) return existing;
    if (this.byKey.size >= this.maxTrafficSeries) return this.overflowSeries(l.direction);
    const labels: Record<string, string> = {
      ...this.workload,
      direction: l.direction,
      authority,
      tls: String(l.tls),
    };
    if (peer !== null) labels[l.direction === 'inbound' ? 'client_id' : 'server_id'] = peer;
    if (d?.namespace) labels.dst_namespace = d.namespace;
    if (d?.service) labels.dst_service = d.service;
    if (d?.deployment) labels.dst_deployment = d.deployment;
    if (d?.pod) labels.dst_pod = d.pod;
    const t = this.makeTraffic(key, labels);
    this.byKey.set(key, t);
    return t;
  }

  private overflowSeries(direction: Direction): TrafficSeries {
    let t = this.overflowTraffic.get(direction);
    if (t === undefined) {
      t = this.makeTraffic(`${direction}|${OVERFLOW}`, {
        ...this.workload,
        direction,
        authority: OVERFLOW,
        tls: OVERFLOW,
      });
      this.overflowTraffic.set(direction, t);
    }
    this.overflow.with('series', { label: 'series' }).value++;
    return t;
  }

  private makeTraffic(key: string, labels: Record<string, string>): TrafficSeries {
    return new TrafficSeries(this, key, Object.freeze(labels));
  }
}

/** The metrics of one proxy (see ProxyMetrics). */
export function createProxyMetrics(opts: ProxyMetricsOptions): ProxyMetrics {
  return new ProxyMetrics(opts);
}
