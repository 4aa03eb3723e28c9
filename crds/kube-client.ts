// The Kubernetes API client configuration every Weft component uses: @kubernetes/client-node's KubeConfig, with
// one connection pool per cluster, user and TLS material instead of one per call.
//
// Why: client-node 2.0.1 gives every call of a generated API client (a status patch, an Event, a TokenReview, a
// Lease renewal) a new undici Agent (KubeConfig.applySecurityAuthentication -> createDispatcher), so every call
// opened a TLS connection of its own: 50 sequential reads of a Namespace against the local cluster opened 50
// connections at 5 ms each. Its watches already share one https.Agent per cluster and user (createAgent's cache).
// This keeps the first Agent made for a given set of TLS material and hands it to every later call; when the
// material changes (client certificate files rotated on disk), the next call gets a new Agent and the old one is
// closed once its requests finish. Bearer tokens travel as headers, so a rotated token needs no new Agent.
import { bufferFromFileOrString, KubeConfig, type RequestContext } from '@kubernetes/client-node';

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

export class PooledKubeConfig extends KubeConfig {
  readonly #pools = new Map<string, { material: string; dispatcher: Dispatcher }>();

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const made = context.getDispatcher();
    // No TLS material (plain HTTP to a test server): client-node uses fetch's global dispatcher.
    if (made === undefined) return;
    const cluster = this.getCurrentCluster();
    const user = this.getCurrentUser();
    const key = JSON.stringify([cluster?.name ?? '', cluster?.server ?? '', user?.name ?? '']);
    const material = JSON.stringify([
      cluster?.skipTLSVerify ?? false,
      cluster?.tlsServerName ?? '',
      cluster?.proxyUrl ?? '',
      bufferFromFileOrString(cluster?.caFile, cluster?.caData)?.toString('base64') ?? '',
      bufferFromFileOrString(user?.certFile, user?.certData)?.toString('base64') ?? '',
      bufferFromFileOrString(user?.keyFile, user?.keyData)?.toString('base64') ?? '',
    ]);
    const pool = this.#pools.get(key);
    if (pool !== undefined && pool.material === material) {
      // The Agent client-node just made has no connection yet: dropping it costs nothing.
      context.setDispatcher(pool.dispatcher);
      return;
    }
    this.#pools.set(key, { material, dispatcher: made });
    // Requests already under way on the old pool finish; its connections close after them.
    pool?.dispatcher.close().catch(() => {});
  }

  /** Closes every pooled connection (shutdown); a later call opens new ones. */
  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((p) => p.dispatcher.close().catch(() => {})));
  }
}

/** A PooledKubeConfig loaded as `new KubeConfig().loadFromDefault()` would be: KUBECONFIG, ~/.kube/config, or the
 * in-cluster ServiceAccount. */
export function loadKubeConfig(): PooledKubeConfig {
  const kc = new PooledKubeConfig();
  kc.loadFromDefault();
  return kc;
}
