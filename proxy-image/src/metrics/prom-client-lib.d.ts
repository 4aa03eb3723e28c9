// Types for the prom-client modules the proxy imports directly instead of the package index, which
// also loads the Pushgateway (node:https, so OpenSSL's TLS setup) and the cluster aggregator.
declare module 'prom-client/lib/registry.js' {
  import type { Registry } from 'prom-client';

  const RegistryClass: typeof Registry;
  export default RegistryClass;
}
declare module 'prom-client/lib/metrics/*.js' {
  import type { Registry } from 'prom-client';

  /** One of the default metrics: registers itself on the registry. */
  const register: (registry: Registry, config?: { eventLoopMonitoringPrecision?: number }) => void;
  export default register;
}
