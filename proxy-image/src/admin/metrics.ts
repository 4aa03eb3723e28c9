// Prometheus metrics of the data path on the proxy's own registry, with the names and labels mesh
// dashboards and Flagger query (request_total, response_total, response_latency_ms, tcp_*). Children are
// cached per (interned) label object so the hot path does no label hashing.
// Interim home: moves to src/metrics (policy side) when that registry lands; see NOTES-data.md.

import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { DataPathObserver, Direction, TrafficLabels } from '../forward/observer.ts';

const LATENCY_BUCKETS_MS = [
  1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 3000, 4000, 5000, 10000, 20000,
  30000, 40000, 50000,
];

/** Per response kind: a counter and a latency histogram in plain arrays (no label hashing per request). */
interface ResponseSeries {
  readonly labels: string;
  readonly latencyLabels: string;
  count: number;
  sum: number;
  readonly buckets: Float64Array;
}

interface Children {
  readonly base: string;
  requests: number;
  tcpOpen: Counter.Internal;
  readonly responses: Map<number | string, ResponseSeries>;
}

function escapeLabel(v: string): string {
  return v.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}

function labelText(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    .join(',');
}

function baseLabels(l: TrafficLabels): Record<string, string> {
  const peer = l.peerId ?? '';
  return {
    direction: l.direction,
    authority: l.authority,
    tls: l.tls ? 'true' : 'false',
    client_id: l.direction === 'inbound' ? peer : '',
    server_id: l.direction === 'outbound' ? peer : '',
  };
}

export class ProxyMetrics implements DataPathObserver {
  readonly registry = new Registry();
  private readonly hot = new Set<Children>();
  private readonly tcpOpenTotal: Counter;
  private readonly tcpCloseTotal: Counter;
  private readonly tcpRead: Counter;
  private readonly tcpWrite: Counter;
  private readonly protocolErrors: Counter;
  private readonly refused: Counter;
  readonly certExpiry: Gauge;
  readonly configReloads: Counter;
  readonly buildInfo: Gauge;
  private readonly children = new WeakMap<TrafficLabels, Children>();

  constructor(version: string) {
    const registers = [this.registry];
    const base = ['direction', 'authority', 'tls', 'client_id', 'server_id'];
    this.tcpOpenTotal = new Counter({
      name: 'tcp_open_total',
      help: 'TCP connections opened',
      labelNames: base,
      registers,
    });
    this.tcpCloseTotal = new Counter({
      name: 'tcp_close_total',
      help: 'TCP connections closed',
      labelNames: base,
      registers,
    });
    this.tcpRead = new Counter({
      name: 'tcp_read_bytes_total',
      help: 'Bytes read from clients of opaque connections',
      labelNames: base,
      registers,
    });
    this.tcpWrite = new Counter({
      name: 'tcp_write_bytes_total',
      help: 'Bytes written to clients of opaque connections',
      labelNames: base,
      registers,
    });
    this.protocolErrors = new Counter({
      name: 'weft_proxy_protocol_errors_total',
      help: 'Malformed input and handshake failures, by stable code',
      labelNames: ['direction', 'code'],
      registers,
    });
    this.refused = new Counter({
      name: 'weft_proxy_connections_refused_total',
      help: 'Connections refused',
      labelNames: ['direction', 'reason'],
      registers,
    });
    this.certExpiry = new Gauge({
      name: 'weft_proxy_certificate_expiry_seconds',
      help: 'Unix time the leaf certificate expires',
      registers,
    });
    this.configReloads = new Counter({
      name: 'weft_proxy_config_reloads_total',
      help: 'Config updates by result',
      labelNames: ['result'],
      registers,
    });
    this.buildInfo = new Gauge({
      name: 'weft_proxy_build_info',
      help: 'Build information',
      labelNames: ['version', 'node'],
      registers,
    });
    this.buildInfo.labels(version, process.version).set(1);
    collectDefaultMetrics({ register: this.registry, prefix: 'weft_proxy_' });
  }

  private of(l: TrafficLabels): Children {
    let c = this.children.get(l);
    if (c === undefined) {
      const b = baseLabels(l);
      c = { base: labelText(b), requests: 0, tcpOpen: this.tcpOpenTotal.labels(b), responses: new Map() };
      this.children.set(l, c);
      this.hot.add(c);
    }
    return c;
  }

  request(l: TrafficLabels): void {
    this.of(l).requests++;
  }

  response(
    l: TrafficLabels,
    status: number,
    grpcStatus: number | null,
    latencyMs: number,
    proxyReason: string | null,
  ): void {
    const c = this.of(l);
    const key =
      grpcStatus === null && proxyReason === null
        ? status
        : `${status}|${grpcStatus ?? ''}|${proxyReason ?? ''}`;
    let r = c.responses.get(key);
    if (r === undefined) {
      const code = String(status);
      const failure = status >= 500 || status === 0 || (grpcStatus !== null && grpcStatus !== 0);
      r = {
        labels: `${c.base},${labelText({
          status_code: code,
          grpc_status_code: grpcStatus === null ? '' : String(grpcStatus),
          classification: failure ? 'failure' : 'success',
          weft_reason: proxyReason ?? '',
        })}`,
        latencyLabels: `${c.base},status_code="${code}"`,
        count: 0,
        sum: 0,
        buckets: new Float64Array(LATENCY_BUCKETS_MS.length),
      };
      // Status codes and reasons are bounded sets, so is this map.
      c.responses.set(key, r);
    }
    r.count++;
    r.sum += latencyMs;
    const b = r.buckets;
    for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) {
      if (latencyMs <= LATENCY_BUCKETS_MS[i]!) {
        b[i]!++;
        break;
      }
    }
  }

  /** The whole exposition: the prom-client registry plus the per-request series kept in plain arrays. */
  async text(): Promise<string> {
    const lines: string[] = ['# HELP request_total HTTP requests received', '# TYPE request_total counter'];
    for (const c of this.hot) if (c.requests > 0) lines.push(`request_total{${c.base}} ${c.requests}`);
    lines.push(
      '# HELP response_total HTTP responses sent, by status and classification',
      '# TYPE response_total counter',
    );
    for (const c of this.hot)
      for (const r of c.responses.values()) lines.push(`response_total{${r.labels}} ${r.count}`);
    lines.push(
      '# HELP response_latency_ms Time from request head to response end, milliseconds',
      '# TYPE response_latency_ms histogram',
    );
    // Responses with equal latency labels (same status, other reasons) share one histogram.
    const merged = new Map<string, { count: number; sum: number; buckets: Float64Array }>();
    for (const c of this.hot) {
      for (const r of c.responses.values()) {
        let m = merged.get(r.latencyLabels);
        if (m === undefined) {
          m = { count: 0, sum: 0, buckets: new Float64Array(LATENCY_BUCKETS_MS.length) };
          merged.set(r.latencyLabels, m);
        }
        m.count += r.count;
        m.sum += r.sum;
        for (let i = 0; i < r.buckets.length; i++) m.buckets[i]! += r.buckets[i]!;
      }
    }
    for (const [labels, m] of merged) {
      let cumulative = 0;
      for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) {
        cumulative += m.buckets[i]!;
        lines.push(`response_latency_ms_bucket{${labels},le="${LATENCY_BUCKETS_MS[i]}"} ${cumulative}`);
      }
      lines.push(`response_latency_ms_bucket{${labels},le="+Inf"} ${m.count}`);
      lines.push(`response_latency_ms_sum{${labels}} ${m.sum}`);
      lines.push(`response_latency_ms_count{${labels}} ${m.count}`);
    }
    return `${await this.registry.metrics()}\n${lines.join('\n')}\n`;
  }

  tcpOpen(l: TrafficLabels): void {
    this.of(l).tcpOpen.inc();
  }

  tcpClose(l: TrafficLabels, bytesRead: number, bytesWritten: number): void {
    const b = baseLabels(l);
    this.tcpCloseTotal.inc(b);
    this.tcpRead.inc(b, bytesRead);
    this.tcpWrite.inc(b, bytesWritten);
  }

  protocolError(direction: Direction, code: string): void {
    this.protocolErrors.inc({ direction, code });
  }

  connectionRefused(direction: Direction, reason: string): void {
    this.refused.inc({ direction, reason });
  }
}
