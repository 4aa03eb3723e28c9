// The Kubernetes API client configuration every Weft component uses: @kubernetes/client-node's KubeConfig, with
// one connection pool per cluster, user and TLS material instead of one per call, and a dead connection
// detected and replaced within seconds.
//
// Why: client-node 2.0.1 gives every call of a generated API client (a status patch, an Event, a TokenReview, a
// Lease renewal) a new undici Agent (KubeConfig.applySecurityAuthentication -> createDispatcher), so every call
// opened a TLS connection of its own: 50 sequential reads of a Namespace against the local cluster opened 50
// connections at 5 ms each. Its watches already share one https.Agent per cluster and user (createAgent's cache).
//
// This hands every call an Agent made once per TLS material, from the options client-node computes for its own
// (createDispatcherOptions); when the material changes (client certificate files rotated on disk, or new ones from
// an exec credential plugin), the next call gets a new Agent and the old one is closed once its requests finish.
// Bearer tokens travel as headers, so a rotated token needs no new Agent.
//
// One long-lived connection (HTTP/2 to a real apiserver) brings the failure client-go guards against with its
// HTTP/2 health check: a connection whose peer went away without a word (a node gone, a NAT entry dropped) would
// hold every call. Our Agent answers that with undici's own timeouts: a call without response headers (or with a
// body that stalls) for `requestTimeoutMs` fails, and undici then pings the HTTP/2 session and closes it if the
// ping goes unanswered as long; the next call opens a new connection. client-node's Agent waits 300 s for each.
import type { Cluster } from '@kubernetes/client-node';
import { KubeConfig, type RequestContext } from '@kubernetes/client-node';
import { Agent } from 'undici';

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;
type AgentOptions = Parameters<KubeConfig['createDispatcherOptions']>[1];
type DispatcherOptions = ReturnType<KubeConfig['createDispatcherOptions']>;

/** The options client-node copies into the Agent's TLS settings. */
const TLS_OPTIONS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const;

/** How long an API call may wait for response headers, or between body chunks, before it fails (and the
 * connection is checked). Watches do not go through this Agent. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** What a TLS option holds, as text (PEM strings and Buffers, alone or in lists). */
const text = (v: unknown): unknown =>
  Buffer.isBuffer(v) ? v.toString('base64') : Array.isArray(v) ? v.map(text) : (v ?? null);

interface Making {
  material: string;
  options: DispatcherOptions;
}

export class PooledKubeConfig extends KubeConfig {
  readonly #requestTimeoutMs: number;
  readonly #pools = new Map<string, { material: string; dispatcher: Dispatcher }>();
  /** The dispatcher client-node is making right now: its TLS material and options. */
  #making: Making | null = null;

  constructor(o: { requestTimeoutMs?: number } = {}) {
    super();
    this.#requestTimeoutMs = o.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  /** client-node calls this, then makes its Agent from what it returns, in one go: noted here. */
  override createDispatcherOptions(cluster: Cluster | null, agentOptions: AgentOptions): DispatcherOptions {
    const options = super.createDispatcherOptions(cluster, agentOptions);
    const o = agentOptions as Record<string, unknown>;
    this.#making = {
      material: JSON.stringify([cluster?.proxyUrl ?? null, ...TLS_OPTIONS.map((k) => text(o[k]))]),
      options,
    };
    return options;
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    // Noted where client-node hands its new Agent over, which follows the making in the same turn: by the time
    // the call below resolves, another call may have made one.
    let making: Making | null = null;
    const hand = context.setDispatcher;
    context.setDispatcher = (d: Dispatcher) => {
      making = this.#making;
      hand.call(context, d);
    };
    try {
      await super.applySecurityAuthentication(context);
    } finally {
      delete (context as Partial<RequestContext>).setDispatcher;
    }
    const made = context.getDispatcher();
    // No TLS material (plain HTTP to a test server): client-node uses fetch's global dispatcher.
    if (made === undefined || making === null) return;
    const { material, options } = making as Making;
    const cluster = this.getCurrentCluster();
    const key = JSON.stringify([
      cluster?.name ?? '',
      cluster?.server ?? '',
      this.getCurrentUser()?.name ?? '',
    ]);
    const pool = this.#pools.get(key);
    if (pool === undefined || pool.material !== material) {
      // A proxy (HTTP CONNECT or SOCKS) keeps client-node's Agent; a direct connection gets ours.
      const dispatcher =
        options.type === 'agent'
          ? new Agent({
              connect: options.connect,
              headersTimeout: this.#requestTimeoutMs,
              bodyTimeout: this.#requestTimeoutMs,
            })
          : made;
      this.#pools.set(key, { material, dispatcher });
      // Requests already under way on the old pool finish; its connections close after them.
      pool?.dispatcher.close().catch(() => {});
    }
    // client-node's own Agent has no connection yet: dropping it costs nothing.
    context.setDispatcher(this.#pools.get(key)!.dispatcher);
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
