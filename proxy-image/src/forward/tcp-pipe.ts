// Opaque TCP: bytes both ways with backpressure (a slow side pauses the reads of the other) and half-close (a
// FIN from one side ends only that direction; both sockets are allowHalfOpen). Plaintext sockets are read
// into a buffer of their own (ReadBuffer) and relayed from the read callback; TLS sockets are piped.

import net from 'node:net';
import { adoptSocket, ReadBuffer } from './read-buffer.ts';

export interface PipeResult {
  /** Bytes from the client to the upstream, and back. */
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly error: Error | null;
  /** The upstream connection was never established. */
  readonly connectFailed: boolean;
  /** performance.now() when the upstream connection (and its TLS handshake) was up; 0 if it never was. */
  readonly connectedAt: number;
}

const RELAY_BUFFER_BYTES = 16 * 1024;
/**
 * TCP keepalive on both sockets of a pipe, after this long without traffic: an opaque connection has no idle
 * timeout (a database connection may rightly sit idle for hours), so the kernel's probes are what finds a
 * peer that vanished without a FIN or RST and frees the pipe.
 */
export const KEEPALIVE_IDLE_MS = 60_000;

/**
 * A plaintext upstream connection whose reads are written to `client` straight from the read callback, into
 * a ReadBuffer of its own: no Buffer, ArrayBuffer or stream event per read; its FIN ends the client. pipeTcp
 * wires the rest (errors, the other direction).
 */
export function connectRelayed(host: string, port: number, client: net.Socket): net.Socket {
  const reads = new ReadBuffer(RELAY_BUFFER_BYTES);
  const upstream = net.connect({ host, port, allowHalfOpen: true, onread: reads.options });
  relayReads(reads, upstream, client);
  upstream.once('end', () => client.end());
  return upstream;
}

/**
 * What `from` reads (into `reads`) is written to `to` from the read callback. When a write has to wait (`to`
 * is slow), the buffer is pinned to that write and reads continue into a new one; reading pauses until `to`
 * drains. If `to` is gone, `from` is closed rather than left paused.
 */
function relayReads(reads: ReadBuffer, from: net.Socket, to: net.Socket): void {
  reads.onData = (chunk) => {
    if (to.destroyed) {
      from.destroy();
      return false;
    }
    const more = to.write(chunk);
    if (to.writableLength > 0) reads.pin();
    if (!more) to.once('drain', () => from.resume());
    return more;
  };
}

/**
 * The client's direction, relayed the same way when its socket can be adopted (adoptSocket: a plain
 * accepted socket). Returns false when it cannot: the caller pipes instead.
 */
function relayClient(client: net.Socket, upstream: net.Socket): boolean {
  const adopted = adoptSocket(client, RELAY_BUFFER_BYTES);
  if (adopted === null) return false;
  relayReads(adopted.reads, client, upstream);
  client.once('end', () => upstream.end());
  // Bytes the socket read before adoption go first, as any read would.
  if (adopted.buffered === null || adopted.reads.onData(adopted.buffered) !== false) client.resume();
  return true;
}

/**
 * Pipes client <-> upstream. `initial` holds bytes already read from the client (protocol detection);
 * they are written first. The upstream socket must be created with allowHalfOpen: a TLS socket (`secure`,
 * piped) or a plaintext one from connectRelayed.
 */
export function pipeTcp(
  client: net.Socket,
  initial: Buffer | null,
  upstream: net.Socket,
  secure: boolean,
  onDone: (result: PipeResult) => void,
): void {
  let connected = false;
  let connectedAt = 0;
  let error: Error | null = null;
  let closed = 0;
  const finish = (): void => {
    if (++closed < 2) return;
    onDone({
      bytesUp: upstream.bytesWritten,
      bytesDown: client.bytesWritten,
      error,
      connectFailed: !connected,
      connectedAt,
    });
  };
  client.pause();
  upstream.setNoDelay(true);
  client.setNoDelay(true);
  client.setKeepAlive(true, KEEPALIVE_IDLE_MS);
  upstream.setKeepAlive(true, KEEPALIVE_IDLE_MS);
  upstream.once(secure ? 'secureConnect' : 'connect', () => {
    connected = true;
    connectedAt = performance.now();
    upstream.setTimeout(0);
    if (initial !== null && initial.length > 0) upstream.write(initial);
    if (secure) upstream.pipe(client);
    if (!relayClient(client, upstream)) {
      client.pipe(upstream);
      client.resume();
    }
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
