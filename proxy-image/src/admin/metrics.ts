// Prometheus metrics of the data path on the proxy's own registry, with the names and labels mesh
// dashboards and Flagger query (request_total, response_total, response_latency_ms, tcp_*). Children are
// cached per (interned) label object so the hot path does no label hashing.
// Interim home: moves to src/metrics (policy side) when that registry lands; see NOTES-data.md.

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { DataPathObserver, Direction, TrafficLabels } from '../forward/observer.ts';

const LATENCY_BUCKETS_MS = [
  1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 3000, 4000, 5000, 10000, 20000,
  30000, 40000, 50000,
];

interface Children {
  request: Counter.Internal;
  tcpOpen: Counter.Internal;
  responses: Map<number | string, { total: Counter.Internal; latency: Histogram.Internal<string> }>;
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
  private readonly requestTotal: Counter;
  private readonly responseTotal: Counter;
  private readonly latency: Histogram;
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
    this.requestTotal = new Counter({
      name: 'request_total',
      help: 'HTTP requests received',
      labelNames: base,
      registers,
    });
    this.responseTotal = new Counter({
      name: 'response_total',
      help: 'HTTP responses sent, by status and classification',
      labelNames: [...base, 'status_code', 'grpc_status_code', 'classification', 'weft_reason'],
      registers,
    });
    this.latency = new Histogram({
      name: 'response_latency_ms',
      help: 'Time from request head to response head, milliseconds',
      labelNames: [...base, 'status_code'],
      buckets: LATENCY_BUCKETS_MS,
      registers,
    });
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
      c = {
        request: this.requestTotal.labels(b),
        tcpOpen: this.tcpOpenTotal.labels(b),
        responses: new Map(),
      };
      this.children.set(l, c);
    }
    return c;
  }

  request(l: TrafficLabels): void {
    this.of(l).request.inc();
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
      const b = baseLabels(l);
      const code = String(status);
      const failure = status >= 500 || status === 0 || (grpcStatus !== null && grpcStatus !== 0);
      r = {
        total: this.responseTotal.labels({
          ...b,
          status_code: code,
          grpc_status_code: grpcStatus === null ? '' : String(grpcStatus),
          classification: failure ? 'failure' : 'success',
          weft_reason: proxyReason ?? '',
        }),
        latency: this.latency.labels({ ...b, status_code: code }),
      };
      // Status codes and reasons are bounded sets, so is this map.
      c.responses.set(key, r);
    }
    r.total.inc();
    r.latency.observe(latencyMs);
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
