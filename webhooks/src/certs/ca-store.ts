// Where the generated CA lives so that every replica signs with the same CA and publishes the same caBundle
// without leader election: a Secret, written with optimistic concurrency (resourceVersion), so two replicas
// rotating at once cannot both win.
import { ApiException, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';

export interface StoredCa {
  certPem: string;
  keyPem: string;
}

export interface CaStoreSnapshot {
  /** Newest (signing) first. */
  cas: StoredCa[];
  /** Opaque revision for save(); undefined when nothing is stored yet. */
  revision?: string;
}

export interface CaStore {
  load(): Promise<CaStoreSnapshot>;
  /** Saves if the store is still at `revision`; 'conflict' when another writer was first. */
  save(cas: StoredCa[], revision: string | undefined): Promise<'saved' | 'conflict'>;
}

/** In-memory store: one process, and tests. */
export class MemoryCaStore implements CaStore {
  #cas: StoredCa[] = [];
  #revision = 0;
  async load(): Promise<CaStoreSnapshot> {
    return this.#revision === 0 ? { cas: [] } : { cas: [...this.#cas], revision: String(this.#revision) };
  }
  async save(cas: StoredCa[], revision: string | undefined): Promise<'saved' | 'conflict'> {
    const current = this.#revision === 0 ? undefined : String(this.#revision);
    if (current !== revision) return 'conflict';
    this.#cas = [...cas];
    this.#revision++;
    return 'saved';
  }
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined) =>
  s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8');

/** The CA in a Secret (`ca-<i>.crt` / `ca-<i>.key`, 0 = newest). */
export class SecretCaStore implements CaStore {
  readonly #core: CoreV1Api;
  readonly #namespace: string;
  readonly #name: string;

  constructor(kc: KubeConfig, namespace: string, name: string) {
    this.#core = kc.makeApiClient(CoreV1Api);
    this.#namespace = namespace;
    this.#name = name;
  }

  async load(): Promise<CaStoreSnapshot> {
    try {
      const s = await this.#core.readNamespacedSecret({ name: this.#name, namespace: this.#namespace });
      const data = s.data ?? {};
      const cas: StoredCa[] = [];
      for (let i = 0; ; i++) {
        const certPem = unb64(data[`ca-${i}.crt`]);
        const keyPem = unb64(data[`ca-${i}.key`]);
        if (certPem === undefined || keyPem === undefined) break;
        cas.push({ certPem, keyPem });
      }
      return { cas, revision: s.metadata?.resourceVersion };
    } catch (e) {
      if (e instanceof ApiException && e.code === 404) return { cas: [] };
      throw e;
    }
  }

  async save(cas: StoredCa[], revision: string | undefined): Promise<'saved' | 'conflict'> {
    const data: Record<string, string> = {};
    for (const [i, c] of cas.entries()) {
      data[`ca-${i}.crt`] = b64(c.certPem);
      data[`ca-${i}.key`] = b64(c.keyPem);
    }
    const body = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: {
        name: this.#name,
        namespace: this.#namespace,
        labels: { 'app.kubernetes.io/part-of': 'weft', 'app.kubernetes.io/component': 'webhook-ca' },
        ...(revision !== undefined ? { resourceVersion: revision } : {}),
      },
      data,
    };
    try {
      if (revision === undefined)
        await this.#core.createNamespacedSecret({ namespace: this.#namespace, body });
      else await this.#core.replaceNamespacedSecret({ name: this.#name, namespace: this.#namespace, body });
      return 'saved';
    } catch (e) {
      if (e instanceof ApiException && e.code === 409) return 'conflict';
      throw e;
    }
  }
}
