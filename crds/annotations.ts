// Every annotation and label key Weft reads or writes, in one place (architecture.md, "Annotations and
// labels"). Pod annotations win over namespace annotations for every key marked "pod or namespace".

export const WEFT_PREFIX = 'weft.dev';
export const CONFIG_PREFIX = 'config.weft.dev';

/** Pod or namespace: `enabled` injects the proxy, `disabled` opts out. Pod wins over namespace. */
export const INJECT = 'weft.dev/inject';
export const INJECT_VALUES = ['enabled', 'disabled'] as const;
export type InjectValue = (typeof INJECT_VALUES)[number];

/** Written by the injector on the pod: the proxy version it injected. Marks the pod as meshed. */
export const INJECTED_VERSION = 'weft.dev/proxy-version';
/** Label written by the injector, so meshed pods can be selected (`-l weft.dev/meshed=true`). */
export const MESHED_LABEL = 'weft.dev/meshed';
/**
 * Labels written by the injector naming the pod's workload (Deployment, StatefulSet, DaemonSet, Job, ...),
 * so Prometheus relabeling can give the proxies' metrics `deployment="web"` and the like, which Flagger and
 * dashboards query (docs/injection.md has the scrape config).
 */
export const WORKLOAD_KIND_LABEL = 'weft.dev/workload-kind';
export const WORKLOAD_NAME_LABEL = 'weft.dev/workload-name';
/** Label on the mesh's own workloads (operator, webhooks); they are never injected. */
export const CONTROL_PLANE_LABEL = 'weft.dev/control-plane';

// Overrides, pod or namespace. Lists are comma separated; ports may be ranges `8000-8010`.
export const SKIP_INBOUND_PORTS = 'config.weft.dev/skip-inbound-ports';
export const SKIP_OUTBOUND_PORTS = 'config.weft.dev/skip-outbound-ports';
export const SKIP_INBOUND_SUBNETS = 'config.weft.dev/skip-inbound-subnets';
export const SKIP_OUTBOUND_SUBNETS = 'config.weft.dev/skip-outbound-subnets';
export const OPAQUE_PORTS = 'config.weft.dev/opaque-ports';
export const PROXY_CPU_REQUEST = 'config.weft.dev/proxy-cpu-request';
export const PROXY_CPU_LIMIT = 'config.weft.dev/proxy-cpu-limit';
export const PROXY_MEMORY_REQUEST = 'config.weft.dev/proxy-memory-request';
export const PROXY_MEMORY_LIMIT = 'config.weft.dev/proxy-memory-limit';
export const PROXY_LOG_LEVEL = 'config.weft.dev/proxy-log-level';
/** `permissive` or `enforcing`; the mesh default otherwise. */
export const POLICY_MODE = 'config.weft.dev/policy-mode';

/** Every config.weft.dev key the injector understands; any other key under the prefix is reported. */
export const CONFIG_KEYS = [
  SKIP_INBOUND_PORTS,
  SKIP_OUTBOUND_PORTS,
  SKIP_INBOUND_SUBNETS,
  SKIP_OUTBOUND_SUBNETS,
  OPAQUE_PORTS,
  PROXY_CPU_REQUEST,
  PROXY_CPU_LIMIT,
  PROXY_MEMORY_REQUEST,
  PROXY_MEMORY_LIMIT,
  PROXY_LOG_LEVEL,
  POLICY_MODE,
] as const;
export type ConfigKey = (typeof CONFIG_KEYS)[number];

// Client-side policy, on a Service: applies to every meshed client calling it (all its routes). Durations as
// Kubernetes writes them (crds/duration.ts). Retries are on once retry-on or retry-limit is set.
/** Whole-request timeout including retries ("10s"); expiry answers 504. */
export const TIMEOUT = 'config.weft.dev/timeout';
/** Comma list of 5xx, gateway-error, connect-failure, reset, grpc-unavailable. */
export const RETRY_ON = 'config.weft.dev/retry-on';
/** Retries after the first attempt, 0-10 (default 2 when retry-on is set). */
export const RETRY_LIMIT = 'config.weft.dev/retry-limit';
/** Timeout of each attempt ("500ms"). */
export const RETRY_TIMEOUT = 'config.weft.dev/retry-timeout';
/** "true": also retry non-idempotent methods (POST, so gRPC calls), for services known to be safe. */
export const RETRY_NON_IDEMPOTENT = 'config.weft.dev/retry-non-idempotent';

/** Every config.weft.dev key read on a Service; any other key under the prefix there is reported. */
export const SERVICE_CONFIG_KEYS = [
  TIMEOUT,
  RETRY_ON,
  RETRY_LIMIT,
  RETRY_TIMEOUT,
  RETRY_NON_IDEMPOTENT,
] as const;

/** Annotations under which the conversion webhook keeps what an older SMI version cannot hold. */
export const CONVERSION_PREFIX = 'conversion.weft.dev';
