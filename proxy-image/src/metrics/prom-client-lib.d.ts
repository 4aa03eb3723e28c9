// Types for the two prom-client modules the proxy imports directly instead of the package index, which
// also loads the Pushgateway (node:https, so OpenSSL's TLS setup) and the cluster aggregator.
declare module 'prom-client/lib/registry.js' {
  import type { Registry } from 'prom-client';

  const RegistryClass: typeof Registry;
  export default RegistryClass;
}
declare module 'prom-client/lib/defaultMetrics.js' {
  import type { collectDefaultMetrics } from 'prom-client';

  const collect: typeof collectDefaultMetrics;
  export default collect;
}
