// A plaintext socket's own read buffer (net's `onread`): reads land in it without a Buffer, an ArrayBuffer
// and a Readable push per read. The chunk handed to onData is a view of it that the next read overwrites, so
// an owner that keeps any of it past the call must copy it, or pin() the buffer when a write queued a view of
// it (the next read then goes to a fresh buffer). Used by pooled HTTP/1 upstreams (upstream.ts) and by
// opaque TCP relays, on both of their sockets (tcp-pipe.ts).

import net from 'node:net';

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

/**
 * Moves an accepted socket's reads into a ReadBuffer of `size` bytes, as `onread` does for a socket we connect.
 * net.Server has no `onread` option, so this sets the three fields net.Socket's constructor sets from it (found
 * by their descriptions on a probe socket) and switches the handle to the user buffer, as net does at connect.
 * Bytes that the socket already read and holds in its Readable buffer are returned: they come before anything
 * onData sees. The socket must be paused and have no 'data' listener. Returns null, and changes nothing, for a
 * TLS socket (its reads go through TLSWrap), a socket that ended, or a Node without those fields: the caller
 * then reads the socket as a stream.
 */
export function adoptSocket(
  socket: net.Socket,
  size: number,
): { reads: ReadBuffer; buffered: Buffer | null } | null {
  if ((socket as { encrypted?: boolean }).encrypted === true || socket.destroyed || socket.readableEnded)
    return null;
  const handle = (socket as unknown as { _handle: UserBufferHandle | null })._handle;
  const fields = netUserBufferFields();
  if (fields === null || handle === null || typeof handle.useUserBuffer !== 'function') return null;
  if (handle.reading) {
    handle.reading = false;
    handle.readStop();
  }
  const reads = new ReadBuffer(size);
  const s = socket as unknown as Record<symbol, unknown>;
  const first = reads.options.buffer();
  s[fields.buffer] = first;
  s[fields.callback] = reads.options.callback;
  s[fields.generator] = reads.options.buffer;
  handle.useUserBuffer(first);
  // Still in the Readable buffer: read it out while no read can run (reads land on a later tick).
  const buffered = socket.readableLength > 0 ? (socket.read() as Buffer | null) : null;
  return { reads, buffered };
}

interface UserBufferHandle {
  reading: boolean;
  readStop(): number;
  useUserBuffer?(buf: Uint8Array): void;
}

type UserBufferFields = { buffer: symbol; callback: symbol; generator: symbol };
let found: UserBufferFields | null | undefined;

/**
 * The symbols net.Socket keeps `onread` in (kBuffer, kBufferCb, kBufferGen), or null if this Node has none.
 * Found on first use.
 */
function netUserBufferFields(): UserBufferFields | null {
  if (found !== undefined) return found;
  const probe = new net.Socket({ onread: { buffer: () => Buffer.alloc(1), callback: () => true } });
  const by = new Map(Object.getOwnPropertySymbols(probe).map((sym) => [sym.description, sym]));
  const buffer = by.get('kBuffer');
  const callback = by.get('kBufferCb');
  const generator = by.get('kBufferGen');
  probe.destroy();
  const p = probe as unknown as Record<symbol, unknown>;
  // Shape check: what the constructor stored from the onread above.
  found =
    buffer === undefined ||
    callback === undefined ||
    generator === undefined ||
    typeof p[callback] !== 'function' ||
    typeof p[generator] !== 'function'
      ? null
      : { buffer, callback, generator };
  return found;
}
