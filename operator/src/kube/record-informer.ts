// List and watch one kind, keeping no copy of its objects: each object is handed to the caller, which keeps
// the compact record the compiler reads (convert.ts), and then dropped. client-node's ListWatch also caches
// every object it has seen, in full, for its own get/list: for realistic pods (about 7 KB of JSON each) that
// is 12-16 KB of heap per pod, 60-78 MB at 5,000 pods, on top of the records (measured, docs/operator.md).
//
// Lists are paged (LIST_PAGE objects a request, like client-go's reflector), so a relist of thousands of pods
// never holds the whole list in memory at once.
//
// Semantics follow ListWatch's: list, then watch from the list's resourceVersion; resume from the last
// version seen after a watch ends; relist on 410 Gone (the version is older than the apiserver keeps);
// report any other error and stop (the caller restarts with backoff). Bookmarks keep the version fresh, so a
// quiet kind resumes without a relist.
import type { KubernetesListObject, KubernetesObject, Watch } from '@kubernetes/client-node';

export interface RecordInformerHandlers {
  /** An object as listed, added or modified. */
  /** `live`: from the watch (a change as it happens), not from a list. */
  upsert(obj: KubernetesObject, live: boolean): void;
  /** A deleted object, by key (`namespace/name`, or `name` for cluster-scoped kinds). */
  remove(key: string): void;
  /** After every (re)list, the keys it held: whatever the caller holds beyond them was deleted meanwhile. */
  listed(keys: ReadonlySet<string>): void;
  /** The list or the watch failed (not a 410): the informer stopped; start() it again to resume. */
  error(err: unknown): void;
}

/** One page of a list: at most `limit` objects, after the page `continue` points at (none: the first). */
export type ListPage = (page: {
  limit: number;
  continue: string | undefined;
}) => Promise<KubernetesListObject<KubernetesObject>>;

export interface RecordInformerOptions {
  path: string;
  watch: Watch;
  list: ListPage;
  /** Objects per list request (default LIST_PAGE). */
  pageSize?: number;
  handlers: RecordInformerHandlers;
  /** Resume from this resourceVersion instead of listing first (relists if the apiserver answers 410). */
  resumeFrom?: string;
}

const MAX_QUIET_RECONNECT_MS = 30_000;
const LIST_PAGE = 500;

export function objectKey(o: KubernetesObject): string {
  const ns = o.metadata?.namespace;
  return ns === undefined ? (o.metadata?.name ?? '') : `${ns}/${o.metadata?.name ?? ''}`;
}

function isGone(err: unknown): boolean {
  const e = err as { statusCode?: number; code?: number } | null;
  return e?.statusCode === 410 || e?.code === 410;
}

export class RecordInformer {
  readonly #o: RecordInformerOptions;
  #version: string;
  #request: AbortController | undefined;
  /** Identifies the current watch: a callback from an earlier one (aborted or ended) is ignored. */
  #generation = 0;
  /** Events since the current watch started; a watch that ends without any reconnects after a delay. */
  #events = 0;
  #quietDelayMs = 0;
  /** A pending reconnect (after a watch ended): cleared by stop() and start(). */
  #reconnect: NodeJS.Timeout | undefined;

  constructor(o: RecordInformerOptions) {
    this.#o = o;
    this.#version = o.resumeFrom ?? '';
  }

  /** The resourceVersion the informer is current to; '' before its first list. */
  latestResourceVersion(): string {
    return this.#version;
  }

  /**
   * Lists (unless resuming) and starts watching. Resolves true once the watch is open, false when the list or
   * the watch failed (the failure went to `error`) or the informer was stopped meanwhile.
   */
  async start(): Promise<boolean> {
    this.#quietDelayMs = 0;
    clearTimeout(this.#reconnect);
    const generation = ++this.#generation;
    await this.#run(generation);
    return generation === this.#generation && this.#request !== undefined;
  }

  stop(): void {
    this.#generation++;
    clearTimeout(this.#reconnect);
    this.#request?.abort();
    this.#request = undefined;
  }

  async #run(generation: number): Promise<void> {
    // A reconnect scheduled for an earlier generation must not touch the current one's watch.
    if (generation !== this.#generation) return;
    try {
      this.#request?.abort();
      this.#request = undefined;
      if (this.#version === '') {
        // Pages of one list come from one snapshot of the store; the last page's version is the list's. A
        // continue token that expired mid-list fails the request with 410: the list starts over (catch below).
        const keys = new Set<string>();
        let next: string | undefined;
        let version = '';
        do {
          const page = await this.#o.list({ limit: this.#o.pageSize ?? LIST_PAGE, continue: next });
          if (generation !== this.#generation) return;
          for (const obj of page.items) {
            keys.add(objectKey(obj));
            this.#o.handlers.upsert(obj, false);
          }
          // Typed lists name the token _continue; custom objects come as the apiserver's JSON (continue).
          const meta = page.metadata as { _continue?: string; continue?: string } | undefined;
          next = meta?._continue || meta?.continue || undefined;
          version = page.metadata?.resourceVersion ?? '';
        } while (next !== undefined);
        this.#o.handlers.listed(keys);
        this.#version = version;
      }
      this.#events = 0;
      // Watch calls `done` before it returns when the request fails (connect error, non-200).
      let ended = false;
      const request = await this.#o.watch.watch(
        this.#o.path,
        { resourceVersion: this.#version, allowWatchBookmarks: true },
        (phase, obj) => {
          if (generation === this.#generation)
            this.#event(phase, obj as KubernetesObject & { code?: number });
        },
        (err) => {
          ended = true;
          if (generation === this.#generation) this.#ended(err);
        },
      );
      if (generation !== this.#generation) request.abort();
      else if (!ended) this.#request = request;
    } catch (err) {
      if (generation !== this.#generation) return;
      // A continue token that expired during a long list: list again from the start, at once.
      if (isGone(err)) {
        this.#version = '';
        this.#schedule(0);
        return;
      }
      this.#o.handlers.error(err);
    }
  }

  /** Runs the informer again after `delayMs`, as a new generation. */
  #schedule(delayMs: number): void {
    const generation = ++this.#generation;
    clearTimeout(this.#reconnect);
    this.#reconnect = setTimeout(() => void this.#run(generation), delayMs);
    this.#reconnect.unref();
  }

  #event(phase: string, obj: KubernetesObject & { code?: number }): void {
    switch (phase) {
      case 'ADDED':
      case 'MODIFIED':
        this.#o.handlers.upsert(obj, true);
        break;
      case 'DELETED':
        this.#o.handlers.remove(objectKey(obj));
        break;
      case 'BOOKMARK':
        break;
      case 'ERROR':
        // The apiserver ends the watch after an ERROR event; on 410 the next round relists.
        if (obj.code === 410) this.#version = '';
        return;
      default:
        return;
    }
    this.#events++;
    const version = obj.metadata?.resourceVersion;
    if (version !== undefined && version !== '') this.#version = version;
  }

  #ended(err: unknown): void {
    this.#request = undefined;
    // client-node's Watch ends a watch that delivered nothing for its request timeout (30 s) with TimeoutError:
    // the watch was healthy, only quiet, so resume at once (as ListWatch does).
    const quietTimeout = (err as { name?: string } | null)?.name === 'TimeoutError';
    if (isGone(err)) this.#version = '';
    else if (err !== null && err !== undefined && !quietTimeout) {
      this.#o.handlers.error(err);
      return;
    }
    // Resume, or relist after 410, at once. Only a watch the server closed without delivering anything waits
    // before reconnecting, 1 s doubling to 30 s, so a server that keeps closing watches at once is not
    // hammered; anything delivered resets the wait.
    this.#quietDelayMs =
      this.#events > 0 || this.#version === '' || quietTimeout
        ? 0
        : Math.min(MAX_QUIET_RECONNECT_MS, Math.max(1000, this.#quietDelayMs * 2));
    this.#schedule(this.#quietDelayMs);
  }
}

/**
 * When an object was last written, as far as its metadata says: the newest managedFields time (every write
 * through the apiserver stamps one, in whole seconds), else its creationTimestamp; null when neither is there.
 */
export function lastWriteTime(obj: KubernetesObject): number | null {
  let t = Number.NaN;
  for (const f of obj.metadata?.managedFields ?? []) {
    if (f.time === undefined) continue;
    const ms = new Date(f.time).getTime();
    if (Number.isNaN(t) || ms > t) t = ms;
  }
  if (Number.isNaN(t) && obj.metadata?.creationTimestamp !== undefined)
    t = new Date(obj.metadata.creationTimestamp).getTime();
  return Number.isNaN(t) ? null : t;
}
