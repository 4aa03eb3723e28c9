// Opaque TCP: bytes both ways with backpressure (stream.pipe pauses the fast side) and half-close (a FIN
// from one side ends only that direction; both sockets are allowHalfOpen).

import net from 'node:net';
import { ReadBuffer } from './read-buffer.ts';

export interface PipeResult {
  /** Bytes from the client to the upstream, and back. */
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly error: Error | null;
  /** The upstream connection was never established. */
  readonly connectFailed: boolean;
}

const RELAY_BUFFER_BYTES = 16 * 1024;
/** Upstream sockets whose bytes go to their client straight from the read callback (connectRelayed). */
const relayed = new WeakSet<net.Socket>();

/**
 * A plaintext upstream connection whose reads are written to `client` straight from the read callback, into
 * a ReadBuffer of its own: no Buffer, ArrayBuffer or stream event per read. When a write has to wait (the
 * client is slow), the buffer is pinned to that write and reads continue into a new one; reading pauses
 * until the client drains. pipeTcp wires the rest (end, errors, the other direction).
 */
export function connectRelayed(host: string, port: number, client: net.Socket): net.Socket {
  const reads = new ReadBuffer(RELAY_BUFFER_BYTES);
  const upstream = net.connect({ host, port, allowHalfOpen: true, onread: reads.options });
  reads.onData = (chunk) => {
    if (client.destroyed) {
      // Nobody to deliver to: close the upstream rather than leave it paused.
      upstream.destroy();
      return false;
    }
    const more = client.write(chunk);
    if (client.writableLength > 0) reads.pin();
    if (!more) client.once('drain', () => upstream.resume());
    return more;
  };
  relayed.add(upstream);
  return upstream;
}

/**
 * Pipes client <-> upstream. `initial` holds bytes already read from the client (protocol detection);
 * they are written first. The upstream socket must be created with allowHalfOpen.
 */
export function pipeTcp(
  client: net.Socket,
  initial: Buffer | null,
  upstream: net.Socket,
  secure: boolean,
  onDone: (result: PipeResult) => void,
): void {
  let connected = false;
  let error: Error | null = null;
  let closed = 0;
  const finish = (): void => {
    if (++closed < 2) return;
    onDone({
      bytesUp: upstream.bytesWritten,
      bytesDown: client.bytesWritten,
      error,
      connectFailed: !connected,
    });
  };
  client.pause();
  upstream.setNoDelay(true);
  client.setNoDelay(true);
  upstream.once(secure ? 'secureConnect' : 'connect', () => {
    connected = true;
    upstream.setTimeout(0);
    if (initial !== null && initial.length > 0) upstream.write(initial);
    client.pipe(upstream);
    if (relayed.has(upstream)) upstream.once('end', () => client.end());
    else upstream.pipe(client);
    client.resume();
  });
  const onError = (err: Error): void => {
    error ??= err;
    client.destroy();
    upstream.destroy();
  };
  client.on('error', onError);
  upstream.on('error', onError);
  upstream.on('timeout', () => onError(new Error('connect timed out')));
  client.once('close', () => {
    // The client is gone. After a clean exchange (its FIN read, ours written) the upstream ends by itself;
    // otherwise (destroyed by drain, or never connected) nothing would ever close the upstream.
    if (!connected || !(client.readableEnded && client.writableFinished)) upstream.destroy();
    finish();
  });
  upstream.once('close', () => {
    if (!connected) client.destroy();
    // A FIN from the client with no reply pending still needs the client closed once upstream is gone.
    else if (!client.destroyed && client.writableEnded === false) client.end();
    finish();
  });
}
