// The Kubernetes API client configuration every Weft component uses: @kubernetes/client-node's KubeConfig, with
// one connection pool per cluster, user and TLS material instead of one per call.
//
// Why: client-node 2.0.1 gives every call of a generated API client (a status patch, an Event, a TokenReview, a
// Lease renewal) a new undici Agent (KubeConfig.applySecurityAuthentication -> createDispatcher), so every call
// opened a TLS connection of its own: 50 sequential reads of a Namespace against the local cluster opened 50
// connections at 5 ms each. Its watches already share one https.Agent per cluster and user (createAgent's cache).
// This keeps the first Agent made for a given set of TLS material and hands it to every later call; when the
// material changes (client certificate files rotated on disk, or new ones from an exec credential plugin), the
// next call gets a new Agent and the old one is closed once its requests finish. Bearer tokens travel as headers,
// so a rotated token needs no new Agent.
import type { Cluster } from '@kubernetes/client-node';
import { KubeConfig, type RequestContext } from '@kubernetes/client-node';

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;
type AgentOptions = Parameters<KubeConfig['createDispatcherOptions']>[1];

/** What a TLS option holds, as text (PEM strings and Buffers, alone or in lists). */
const text = (v: unknown): unknown =>
  Buffer.isBuffer(v) ? v.toString('base64') : Array.isArray(v) ? v.map(text) : (v ?? null);

/** The options client-node copies into the Agent's TLS settings. */
const TLS_OPTIONS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const;

export class PooledKubeConfig extends KubeConfig {
  readonly #pools = new Map<string, { material: string; dispatcher: Dispatcher }>();
  /** The TLS material of the dispatcher client-node is making right now (set just before it makes it). */
  #making = '';

  /** client-node calls this, then makes the Agent from what it returns, in one go: the material is noted here. */
  override createDispatcherOptions(cluster: Cluster | null, agentOptions: AgentOptions) {
    const o = agentOptions as Record<string, unknown>;
    this.#making = JSON.stringify([cluster?.proxyUrl ?? null, ...TLS_OPTIONS.map((k) => text(o[k]))]);
    return super.createDispatcherOptions(cluster, agentOptions);
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    // The material is read where the new Agent is handed over, which follows its making in the same turn; by
    // the time the call below resolves, another call may have made one.
    let material: string | null = null;
    const hand = context.setDispatcher;
    context.setDispatcher = (d: Dispatcher) => {
      material = this.#making;
      hand.call(context, d);
    };
    try {
      await super.applySecurityAuthentication(context);
    } finally {
      delete (context as Partial<RequestContext>).setDispatcher;
    }
    const made = context.getDispatcher();
    // No TLS material (plain HTTP to a test server): client-node uses fetch's global dispatcher.
    if (made === undefined || material === null) return;
    const cluster = this.getCurrentCluster();
    const key = JSON.stringify([
      cluster?.name ?? '',
      cluster?.server ?? '',
      this.getCurrentUser()?.name ?? '',
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
