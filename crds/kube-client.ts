// The Kubernetes API client configuration the operator and the webhooks use: @kubernetes/client-node's KubeConfig,
// with pooled connections per cluster, user and TLS material instead of one per call, and a dead connection
// detected and replaced.
//
// Why: client-node 2.0.1 gives every request (a status patch, an Event, a TokenReview, a Lease renewal, and each
// watch: Watch.watch goes through applySecurityAuthentication too) a new undici Agent, so every request opened a
// TLS connection of its own: 50 sequential reads of a Namespace against the local cluster opened 50 connections at
// 5 ms each.
//
// Here every request gets one of two Agents made once per TLS material (from the options client-node computes for
// its own, createDispatcherOptions): one for calls, one for streams (watches, and logs followed), which may rightly
// stay quiet for long. When the material changes (client certificate files rotated on disk, new ones from an exec
// credential plugin, a new CA), the next request gets new Agents and the old ones are closed a little later, once
// every request that was handed them has started (their requests then finish). Bearer tokens travel as headers, so
// a rotated token needs no new Agent. Clusters behind an HTTP or SOCKS proxy keep client-node's own Agent, and a
// kubeconfig with no TLS material of its own keeps fetch's global dispatcher (which pools already).
//
// One long-lived connection brings the failure client-go guards against with its HTTP/2 health check: a connection
// whose peer went away without a word (a node gone, a NAT entry dropped) holds every request on it, and
// client-node's Agent waits 300 s for response headers. The call Agent fails a request after `requestTimeoutMs`
// without response headers or between body chunks, and undici then pings the HTTP/2 session and drops it if the
// ping goes unanswered as long; the next request opens a new connection. The stream Agent has the same limit for
// headers but none between chunks: a watch's silence is its own timer's business (client-node's Watch, 30 s).
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Cluster } from '@kubernetes/client-node';
import { KubeConfig, type RequestContext } from '@kubernetes/client-node';
import { Agent } from 'undici';

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;
type AgentOptions = Parameters<KubeConfig['createDispatcherOptions']>[1];
type DispatcherOptions = ReturnType<KubeConfig['createDispatcherOptions']>;
/** What client-node connects with for a kubeconfig's own TLS material (the 'agent' kind of its options). */
type Connect = Extract<DispatcherOptions, { type: 'agent' }>['connect'];

/** The options client-node copies into the Agent's TLS settings. */
const TLS_OPTIONS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const;

/**
 * How long a call may wait for response headers, or between body chunks, before it fails (and its connection is
 * checked). Below the apiserver's own 60 s request timeout: a call that slow (an admission webhook taking most of
 * its 30 s) fails here and is retried by its caller (status patches carry their resourceVersion).
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** How long replaced Agents stay open for requests that were handed them but had not started yet. */
const RETIRE_AFTER_MS = 10_000;

/** What a TLS option holds, as text (PEM strings and Buffers, alone or in lists). */
const text = (v: unknown): unknown =>
  Buffer.isBuffer(v) ? v.toString('base64') : Array.isArray(v) ? v.map(text) : (v ?? null);

/** A request whose response body may rightly pause for long: a watch, a log followed. */
const isStream = (url: string): boolean => /[?&](watch|follow)=(true|1)(&|$)/.test(url);

/** One request being authenticated: its order, and what client-node made its Agent from. */
interface Slot {
  /** Taken before client-node reads the credentials: a request that read older ones comes lower. */
  seq: number;
  /** Set when client-node made an Agent for a kubeconfig's own TLS material; null for any other kind. */
  making: { key: string; material: string; connect: Connect } | null;
}

interface Pool {
  material: string;
  /** The Slot.seq of the request that made it. */
  seq: number;
  connect: Connect;
  calls: Dispatcher | null;
  streams: Dispatcher | null;
}

const closePool = (p: Pool): Promise<unknown> =>
  Promise.all([p.calls, p.streams].map((d) => d?.close().catch(() => {})));

export class PooledKubeConfig extends KubeConfig {
  readonly #requestTimeoutMs: number;
  readonly #retireAfterMs: number;
  readonly #pools = new Map<string, Pool>();
  /** Per request being authenticated: where createDispatcherOptions leaves what it saw. */
  readonly #slot = new AsyncLocalStorage<Slot>();
  /** Retired pools whose Agents are not closed yet (closed by close() too). */
  readonly #retired = new Set<Pool>();
  #seq = 0;

  constructor(o: { requestTimeoutMs?: number; retireAfterMs?: number } = {}) {
    super();
    this.#requestTimeoutMs = o.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#retireAfterMs = o.retireAfterMs ?? RETIRE_AFTER_MS;
  }

  /** client-node calls this once per request, from applySecurityAuthentication, to make that request's Agent. */
  override createDispatcherOptions(cluster: Cluster | null, agentOptions: AgentOptions): DispatcherOptions {
    const options = super.createDispatcherOptions(cluster, agentOptions);
    const slot = this.#slot.getStore();
    // Only a kubeconfig's own TLS material ('agent') is pooled. Through an HTTP or SOCKS proxy client-node's own
    // Agent stays; with no TLS material of the kubeconfig's ('none': a public CA and a bearer token) fetch's global
    // dispatcher does, which pools already (and honours one set for the process, e.g. for HTTPS_PROXY).
    if (slot !== undefined && options.type === 'agent') {
      const o = agentOptions as Record<string, unknown>;
      slot.making = {
        key: JSON.stringify([cluster?.name ?? '', cluster?.server ?? '', this.getCurrentUser()?.name ?? '']),
        material: JSON.stringify(TLS_OPTIONS.map((k) => text(o[k]))),
        connect: options.connect,
      };
    }
    return options;
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    const slot: Slot = { seq: ++this.#seq, making: null };
    await this.#slot.run(slot, () => super.applySecurityAuthentication(context));
    const making = slot.making;
    if (making === null) return;
    let pool = this.#pools.get(making.key);
    if (pool === undefined || (pool.material !== making.material && slot.seq > pool.seq)) {
      if (pool !== undefined) this.#retire(pool);
      pool = {
        material: making.material,
        seq: slot.seq,
        connect: making.connect,
        calls: null,
        streams: null,
      };
      this.#pools.set(making.key, pool);
    }
    // Credentials older than the pool's (read before a newer request's): this request keeps client-node's Agent.
    if (pool.material !== making.material) return;
    if (isStream(context.getUrl())) {
      pool.streams ??= this.#agent(pool.connect, 0);
      context.setDispatcher(pool.streams);
    } else {
      pool.calls ??= this.#agent(pool.connect, this.#requestTimeoutMs);
      context.setDispatcher(pool.calls);
    }
  }

  #agent(connect: Connect, bodyTimeout: number): Dispatcher {
    return new Agent({ connect, headersTimeout: this.#requestTimeoutMs, bodyTimeout });
  }

  #retire(pool: Pool): void {
    this.#retired.add(pool);
    setTimeout(() => {
      if (this.#retired.delete(pool)) void closePool(pool);
    }, this.#retireAfterMs).unref();
  }

  /** Closes every pooled connection (shutdown); a later request opens new ones. */
  async close(): Promise<void> {
    const pools = [...this.#pools.values(), ...this.#retired];
    this.#pools.clear();
    this.#retired.clear();
    await Promise.all(pools.map(closePool));
  }
}

/** A PooledKubeConfig loaded as `new KubeConfig().loadFromDefault()` would be: KUBECONFIG, ~/.kube/config, or the
 * in-cluster ServiceAccount. */
export function loadKubeConfig(): PooledKubeConfig {
  const kc = new PooledKubeConfig();
  kc.loadFromDefault();
  return kc;
}
