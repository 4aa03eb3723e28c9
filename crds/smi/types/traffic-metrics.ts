// TrafficMetrics (metrics.smi-spec.io/v1alpha1): served by the operator as an aggregated API (APIService),
// not as a CRD, so it has types here but no schema or manifest. These are the shapes its handlers return.
import type { ObjectMeta } from './meta.ts';

export const METRICS_GROUP = 'metrics.smi-spec.io';
export const METRICS_VERSION = 'v1alpha1';
export const METRICS_API_VERSION = `${METRICS_GROUP}/${METRICS_VERSION}` as const;

/** Metric names the spec defines; latencies are Quantity strings in ms, counts plain integers as strings. */
export const TRAFFIC_METRIC_NAMES = [
  'p99_response_latency',
  'p90_response_latency',
  'p50_response_latency',
  'success_count',
  'failure_count',
] as const;
export type TrafficMetricName = (typeof TRAFFIC_METRIC_NAMES)[number];

/** Resources the API lists (`/namespaces/{ns}/{resource}[/{name}[/edges]]`). */
export const TRAFFIC_METRICS_RESOURCES = [
  'namespaces',
  'pods',
  'deployments',
  'daemonsets',
  'statefulsets',
  'trafficsplits',
] as const;

/** Default window when the query has none. */
export const DEFAULT_METRICS_WINDOW = '30s';

export interface ObjectReference {
  kind: string;
  namespace?: string;
  name: string;
  apiVersion?: string;
}

export interface TrafficMetric {
  name: TrafficMetricName;
  unit?: 'ms';
  /** A Quantity string: latencies in ms (e.g. "27"), counts as integers. */
  value: string;
}

export interface Edge {
  direction: 'to' | 'from';
  side: 'client' | 'server';
  resource?: ObjectReference;
}

/** Set on items about TrafficSplit backends. */
export interface TrafficSplitBackendRef {
  apex: string;
  name: string;
  weight: string;
}

export interface TrafficMetrics {
  apiVersion: typeof METRICS_API_VERSION;
  kind: 'TrafficMetrics';
  metadata: ObjectMeta;
  timestamp: string;
  window: string;
  resource: ObjectReference;
  edge: Edge;
  backend?: TrafficSplitBackendRef;
  metrics: TrafficMetric[];
}

export interface TrafficMetricsList {
  apiVersion: typeof METRICS_API_VERSION;
  kind: 'TrafficMetricsList';
  metadata: { resourceVersion?: string; selfLink?: string };
  resource: ObjectReference;
  items: TrafficMetrics[];
}
