// Opaque TCP: bytes both ways with backpressure (stream.pipe pauses the fast side) and half-close (a FIN
// from one side ends only that direction; both sockets are allowHalfOpen).

import type net from 'node:net';

export interface PipeResult {
  /** Bytes from the client to the upstream, and back. */
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly error: Error | null;
  /** The upstream connection was never established. */
  readonly connectFailed: boolean;
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
    upstream.pipe(client);
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
    if (!connected) upstream.destroy();
    finish();
  });
  upstream.once('close', () => {
    if (!connected) client.destroy();
    // A FIN from the client with no reply pending still needs the client closed once upstream is gone.
    else if (!client.destroyed && client.writableEnded === false) client.end();
    finish();
  });
}
