// A plaintext socket's own read buffer (net's `onread`): reads land in it without a Buffer, an ArrayBuffer
// and a Readable push per read. The chunk handed to onData is a view of it that the next read overwrites, so
// an owner that keeps any of it past the call must copy it, or pin() the buffer when a write queued a view of
// it (the next read then goes to a fresh buffer). Used by pooled HTTP/1 upstreams (upstream.ts) and by
// opaque TCP relays to plaintext upstreams (tcp-pipe.ts).

export class ReadBuffer {
  private readonly size: number;
  private buf: Buffer;
  private pinned = false;
  /** Called with each read; returning false stops reading until the socket is resumed. */
  onData: (chunk: Buffer) => boolean | void = () => true;

  constructor(size: number) {
    this.size = size;
    this.buf = Buffer.allocUnsafeSlow(size);
  }

  /** Pass as net.connect's `onread`. */
  readonly options = {
    // Called once at connect and after every read: the buffer the next read goes into.
    buffer: (): Buffer => {
      if (this.pinned) {
        this.buf = Buffer.allocUnsafeSlow(this.size);
        this.pinned = false;
      }
      return this.buf;
    },
    callback: (n: number, buf: Uint8Array): boolean => this.onData((buf as Buffer).subarray(0, n)) !== false,
  };

  pin(): void {
    this.pinned = true;
  }
}
