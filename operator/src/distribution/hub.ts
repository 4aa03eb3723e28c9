// Config distribution: who is subscribed to which pod's config, and getting new versions to them without letting
// a slow subscriber hold anything up. Each subscriber has a bounded queue of one config (a newer config replaces a
// queued older one: only the latest matters) plus keepalive pings; a subscriber that cannot drain its socket
// within the write timeout is disconnected and reconnects with `since`.
import { type Chunk, type CompiledConfig, patchChunks } from '../compiler/compile.ts';

/** The transport side of one subscriber (an HTTP response in production, anything in tests). */
export interface SubscriberSink {
  /**
   * Writes one message given in pieces; returns false when the sink is over its buffer (wait for drain).
   * Calls `flushed` once every piece has left the process (handed to the kernel) or the sink failed.
   */
  write(chunks: readonly Chunk[], flushed: () => void): boolean;
  onDrain(cb: () => void): void;
  close(reason: string): void;
}

export interface HubObserver {
  subscribers(n: number): void;
  pushed(latencySeconds: number): void;
  slowDisconnect(): void;
}

export interface HubOptions {
  writeTimeoutMs?: number;
  pingIntervalMs?: number;
  observer?: HubObserver;
  /**
   * Full configs (hundreds of KiB each) not yet flushed out of the process, at most; more wait their turn. A
   * full config counts from its write until the socket has handed every byte to the kernel (not merely until
   * `write` returns true: TLS encrypts the whole message into process memory first), so this bounds the memory
   * a reconnect storm of thousands of subscribers puts in TLS buffers. Patches and pings are not limited.
   */
  maxFullInFlight?: number;
  /**
   * How long one full config may hold its place among those maxFullInFlight (default 1 s): a subscriber that stops
   * reading would otherwise keep it until writeTimeoutMs disconnects it, and maxFullInFlight such subscribers
   * would hold every newcomer's first config that long. Its config still goes out, in order, if it reads again.
   */
  fullSlotMs?: number;
  /** Builds a patch message from the config a subscriber holds to the new one (default: the compiler's). */
  patch?: (base: CompiledConfig, next: CompiledConfig) => readonly Chunk[];
}

export interface SubscribeOptions {
  /** The version the subscriber already holds (resume): not sent again. */
  since: string | null;
  /** The subscriber applies patch messages: after the first full config, changes are sent as patches. */
  acceptPatch: boolean;
  /**
   * The uid of the pod the stream was authorized for (its certificate is bound to it): once the pod of that name
   * is another one (deleted and created again between two compiles), the stream is closed.
   */
  podUid?: string;
}

const PING: readonly string[] = ['{"type":"ping"}\n'];
const NOTHING = (): void => {};

class Subscriber {
  readonly podKey: string;
  readonly sink: SubscriberSink;
  lastVersion: string | null;
  /** The config last written in full or as a patch: the base for the next patch. */
  lastSent: CompiledConfig | null = null;
  readonly acceptPatch: boolean;
  blocked = false;
  /** Its last full config has not been flushed yet (counts against maxFullInFlight). */
  fullInFlight = false;
  pending: { config: CompiledConfig; since: number } | null = null;
  lastWrite = Date.now();
  drainTimer: NodeJS.Timeout | null = null;
  /** Gives up this subscriber's full-config slot after fullSlotMs. */
  slotTimer: NodeJS.Timeout | null = null;
  /** Numbers the full configs sent, so that the flush of one released early cannot release the next one's slot. */
  fullGen = 0;
  closed = false;

  readonly podUid: string | null;

  constructor(podKey: string, sink: SubscriberSink, o: SubscribeOptions) {
    this.podKey = podKey;
    this.podUid = o.podUid ?? null;
    this.sink = sink;
    this.lastVersion = o.since;
    this.acceptPatch = o.acceptPatch;
  }
}

export class ConfigHub {
  readonly #current = new Map<string, CompiledConfig>();
  readonly #subs = new Map<string, Set<Subscriber>>();
  readonly #o: Required<Omit<HubOptions, 'observer'>> & { observer?: HubObserver };
  readonly #pinger: NodeJS.Timeout;
  #count = 0;
  #sent = 0;
  #fullInFlight = 0;
  readonly #fullWaiting = new Set<Subscriber>();

  constructor(o: HubOptions = {}) {
    this.#o = {
      writeTimeoutMs: 10_000,
      pingIntervalMs: 15_000,
      maxFullInFlight: 32,
      fullSlotMs: 1_000,
      patch: patchChunks,
      ...o,
    };
    this.#pinger = setInterval(() => this.#ping(), Math.max(50, Math.floor(this.#o.pingIntervalMs / 3)));
    this.#pinger.unref();
  }

  get subscriberCount(): number {
    return this.#count;
  }

  /** Configs and patches written so far (not pings): whether distribution has been busy since some moment. */
  get messagesSent(): number {
    return this.#sent;
  }

  /** The config currently published for a pod. */
  current(podKey: string): CompiledConfig | undefined {
    return this.#current.get(podKey);
  }

  /**
   * Replaces the published set; sends each changed config to its pod's subscribers. `podUid` tells the current
   * pod of each name: a stream authorized for an earlier pod of that name is closed (it reconnects, and is
   * authorized again).
   */
  publish(
    proxies: ReadonlyMap<string, CompiledConfig>,
    startedAt = performance.now(),
    podUid?: (podKey: string) => string | undefined,
  ): void {
    if (podUid !== undefined) {
      for (const [k, subs] of this.#subs) {
        const uid = podUid(k);
        if (uid === undefined) continue;
        for (const s of [...subs]) {
          if (s.podUid === null || s.podUid === uid) continue;
          s.sink.close('pod was created again under its name');
          this.#remove(s);
        }
      }
    }
    for (const k of [...this.#current.keys()]) {
      if (proxies.has(k)) continue;
      this.#current.delete(k);
      // The pod is gone (or no longer meshed): its streams end; a reconnect gets PodNotFound.
      for (const s of [...(this.#subs.get(k) ?? [])]) {
        s.sink.close('pod no longer has a config');
        this.#remove(s);
      }
    }
    for (const [podKey, c] of proxies) {
      if (this.#current.get(podKey) === c) continue;
      this.#current.set(podKey, c);
      const subs = this.#subs.get(podKey);
      if (subs === undefined) continue;
      for (const s of subs) this.#send(s, c, startedAt);
    }
  }

  /** Adds a subscriber; sends the current config at once unless it already has it. Returns an unsubscribe. */
  subscribe(podKey: string, sink: SubscriberSink, o: SubscribeOptions): () => void {
    const s = new Subscriber(podKey, sink, o);
    let set = this.#subs.get(podKey);
    if (set === undefined) {
      set = new Set();
      this.#subs.set(podKey, set);
    }
    set.add(s);
    this.#count++;
    this.#o.observer?.subscribers(this.#count);
    sink.onDrain(() => this.#drained(s));
    const c = this.#current.get(podKey);
    // A resumed subscriber that holds the current version can take patches against it right away.
    if (c !== undefined && o.since === c.version) s.lastSent = c;
    if (c !== undefined) this.#send(s, c, performance.now());
    return () => this.#remove(s);
  }

  #send(s: Subscriber, c: CompiledConfig, since: number): void {
    if (s.closed) return;
    if (s.lastVersion === c.version) {
      // Back to what it last got (a rollback to the same content): a newer config still queued is no longer
      // published, so it must not go out.
      s.pending = null;
      this.#fullWaiting.delete(s);
      return;
    }
    if (s.blocked || s.fullInFlight || this.#fullWaiting.has(s)) {
      s.pending = { config: c, since };
      return;
    }
    const patch = s.acceptPatch && s.lastSent !== null;
    if (!patch && this.#fullInFlight >= this.#o.maxFullInFlight) {
      s.pending = { config: c, since };
      this.#fullWaiting.add(s);
      return;
    }
    const chunks = patch ? this.#o.patch(s.lastSent!, c) : c.chunks;
    s.lastSent = c;
    s.lastVersion = c.version;
    if (!patch) {
      s.fullInFlight = true;
      this.#fullInFlight++;
      s.fullGen++;
      s.slotTimer = setTimeout(() => this.#fullDone(s), this.#o.fullSlotMs);
      s.slotTimer.unref();
    }
    const gen = s.fullGen;
    this.#sent++;
    this.#write(s, chunks, patch ? NOTHING : () => this.#fullDone(s, gen));
    this.#o.observer?.pushed((performance.now() - since) / 1000);
  }

  /** A full config left the process (or its subscriber left): let waiting subscribers have theirs. */
  #fullDone(s: Subscriber, gen = s.fullGen): void {
    if (!s.fullInFlight || gen !== s.fullGen) return;
    if (s.slotTimer !== null) clearTimeout(s.slotTimer);
    s.slotTimer = null;
    s.fullInFlight = false;
    this.#fullInFlight--;
    // Those already waiting go first; this subscriber's own next full config queues behind them.
    for (const w of this.#fullWaiting) {
      if (this.#fullInFlight >= this.#o.maxFullInFlight) break;
      this.#fullWaiting.delete(w);
      this.#sendPending(w);
    }
    this.#sendPending(s);
  }

  #sendPending(s: Subscriber): void {
    if (s.closed || s.blocked || s.fullInFlight) return;
    const p = s.pending;
    s.pending = null;
    if (p !== null) this.#send(s, p.config, p.since);
  }

  #write(s: Subscriber, chunks: readonly Chunk[], flushed: () => void): void {
    const ok = s.sink.write(chunks, flushed);
    s.lastWrite = Date.now();
    if (!ok) {
      s.blocked = true;
      s.drainTimer = setTimeout(() => {
        this.#o.observer?.slowDisconnect();
        s.sink.close('slow subscriber: socket did not drain in time');
        this.#remove(s);
      }, this.#o.writeTimeoutMs);
      s.drainTimer.unref();
    }
  }

  #drained(s: Subscriber): void {
    if (s.closed) return;
    s.blocked = false;
    if (s.drainTimer !== null) clearTimeout(s.drainTimer);
    s.drainTimer = null;
    this.#sendPending(s);
  }

  #ping(): void {
    const now = Date.now();
    for (const set of this.#subs.values()) {
      for (const s of set) {
        if (!s.blocked && now - s.lastWrite >= this.#o.pingIntervalMs) this.#write(s, PING, NOTHING);
      }
    }
  }

  #remove(s: Subscriber): void {
    if (s.closed) return;
    s.closed = true;
    if (s.drainTimer !== null) clearTimeout(s.drainTimer);
    this.#fullWaiting.delete(s);
    this.#fullDone(s);
    const set = this.#subs.get(s.podKey);
    set?.delete(s);
    if (set?.size === 0) this.#subs.delete(s.podKey);
    this.#count--;
    this.#o.observer?.subscribers(this.#count);
  }

  /** Closes every subscriber (shutdown). */
  close(): void {
    clearInterval(this.#pinger);
    for (const set of [...this.#subs.values()]) {
      for (const s of [...set]) {
        s.sink.close('operator shutting down');
        this.#remove(s);
      }
    }
  }
}
