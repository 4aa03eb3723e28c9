// Writes stream messages to one socket a slice at a time, the next slice only once the previous one has left
// the process. Why: Node's TLS layer encrypts everything handed to one write() into a per-connection buffer that
// keeps its peak size for the life of the connection, so writing a 900 KiB config in one call costs ~1 MB of
// native memory per subscriber for as long as it stays connected (measured: RSS grew ~1 MB per stream, 5.1 GB at
// 5,000 streams, with the V8 heap under 100 MB). Slices of SLICE_BYTES keep that buffer at one small TLS record.
// Shared Buffers are sliced without copying (subarray); only long strings are encoded, once per message.
import type { Chunk } from '../compiler/compile.ts';

/**
 * Plaintext per write, so per TLS record or per sealed frame. Sealed streams (5,000, 2026-12-05): 4 KiB slices
 * against 16 KiB ones put the operator at 245-274 MB instead of 319-358 after the cold first distribution and
 * peaked at 328-334 MB instead of 392-426 over 20 changes, for a slower cold start (32-40 s against 23-26 s) and
 * a slower propagation of changes (p99 260-393 ms against 227-285, still within issue 5's 500). Over TLS: Node's write BIO (a 1 KiB buffer, then 16 KiB chunks) stays allocated for
 * the life of the connection, and how much of it is resident follows the records written: at 5,000 streams 4 KiB
 * slices held ~16 KB less per stream than 16 KiB ones (572 against 655 MB), for a slower cold first distribution
 * (22 s against 16-21 s) and the same propagation of changes (docs/operator.md). Sizes between were not measured.
 */
export const SLICE_BYTES = 4 * 1024;

/** The socket side: write one piece, `done` runs when it has been flushed or failed. */
export type WritePiece = (piece: Chunk, done: (err?: Error | null) => void) => void;

interface Item {
  data: Chunk;
  /** Runs when this item (the last piece of a message) has been flushed. */
  flushed: (() => void) | null;
}

export class PacedWriter {
  readonly #write: WritePiece;
  readonly #slice: number;
  readonly #queue: Item[] = [];
  #offset = 0;
  #inFlight = false;
  #failed = false;
  #owesDrain = false;
  #onDrain: () => void = () => {};

  constructor(write: WritePiece, sliceBytes = SLICE_BYTES) {
    this.#write = write;
    this.#slice = sliceBytes;
  }

  onDrain(cb: () => void): void {
    this.#onDrain = cb;
  }

  /**
   * Queues a message. Returns true when it went to the socket in one piece with nothing else pending; false
   * when some of it waits (then the drain callback runs once everything queued has been flushed).
   */
  write(chunks: readonly Chunk[], flushed: () => void): boolean {
    if (this.#failed) {
      flushed();
      return true;
    }
    chunks.forEach((data, i) => {
      const s = typeof data === 'string' && data.length > this.#slice ? Buffer.from(data) : data;
      this.#queue.push({ data: s, flushed: i === chunks.length - 1 ? flushed : null });
    });
    if (chunks.length === 0) flushed();
    this.#pump();
    const done = this.#queue.length === 0;
    if (!done) this.#owesDrain = true;
    return done;
  }

  #pump(): void {
    if (this.#inFlight || this.#failed) return;
    if (this.#queue.length === 0) {
      if (this.#owesDrain) {
        this.#owesDrain = false;
        this.#onDrain();
      }
      return;
    }
    // Gather up to one slice: small messages (patches, pings) and the ends of large ones travel together, as
    // one write, one TLS record and one syscall.
    const pieces: Chunk[] = [];
    const finished: (() => void)[] = [];
    let size = 0;
    while (this.#queue.length > 0 && size < this.#slice) {
      const head = this.#queue[0]!;
      if (typeof head.data === 'string') {
        if (pieces.length > 0 && size + head.data.length > this.#slice) break;
        pieces.push(head.data);
        size += head.data.length;
      } else {
        const end = Math.min(head.data.length, this.#offset + this.#slice - size);
        pieces.push(
          this.#offset === 0 && end === head.data.length ? head.data : head.data.subarray(this.#offset, end),
        );
        size += end - this.#offset;
        this.#offset = end;
        if (end < head.data.length) break;
      }
      this.#queue.shift();
      this.#offset = 0;
      if (head.flushed !== null) finished.push(head.flushed);
    }
    const piece =
      pieces.length === 1
        ? pieces[0]!
        : pieces.every((x) => typeof x === 'string')
          ? pieces.join('')
          : Buffer.concat(pieces.map((x) => (typeof x === 'string' ? Buffer.from(x) : x)));
    this.#inFlight = true;
    this.#write(piece, (err) => {
      this.#inFlight = false;
      for (const f of finished) f();
      if (err) {
        this.#fail();
        return;
      }
      this.#pump();
    });
  }

  /** The socket failed: nothing more is written; every waiting message counts as flushed. */
  #fail(): void {
    this.#failed = true;
    for (const item of this.#queue.splice(0)) item.flushed?.();
  }
}
