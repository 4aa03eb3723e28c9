// The proxy's metrics: one prom-client Registry per proxy, Linkerd-compatible names and labels.

export {
  BoundedLabel,
  CounterFamily,
  GaugeFamily,
  HistogramFamily,
  HistogramSeries,
  ScalarSeries,
} from './families.ts';
export {
  createProxyMetrics,
  type Direction,
  type DstLabels,
  LATENCY_BUCKETS_MS,
  ProxyMetrics,
  type ProxyMetricsOptions,
  type TrafficLabels,
  TrafficSeries,
} from './proxy-metrics.ts';
