// Namespace lookups for the injector against the apiserver, cached briefly: a burst of pod creations
// (a Deployment scaling up) reads each namespace once.
import { type CoreV1Api, CoreV1Api as CoreV1ApiClass, type KubeConfig } from '@kubernetes/client-node';
import type { NamespaceLookup } from './handler.ts';
import type { Namespace } from './inject.ts';

export class KubeNamespaces implements NamespaceLookup {
  readonly #api: CoreV1Api;
  readonly #ttlMs: number;
  readonly #cache = new Map<string, { at: number; value: Namespace | undefined }>();

  constructor(kc: KubeConfig, ttlMs = 5_000) {
    this.#api = kc.makeApiClient(CoreV1ApiClass);
    this.#ttlMs = ttlMs;
  }

  async get(name: string): Promise<Namespace | undefined> {
    const hit = this.#cache.get(name);
    if (hit && Date.now() - hit.at < this.#ttlMs) return hit.value;
    let value: Namespace | undefined;
    try {
      const ns = await this.#api.readNamespace({ name });
      value = {
        metadata: {
          name,
          ...(ns.metadata?.annotations ? { annotations: ns.metadata.annotations } : {}),
          ...(ns.metadata?.labels ? { labels: ns.metadata.labels } : {}),
        },
      };
    } catch (error) {
      if ((error as { code?: number }).code !== 404) throw error;
    }
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(name, { at: Date.now(), value });
    return value;
  }
}
