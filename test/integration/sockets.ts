// Socket helpers the integration tests of every component share.
import type net from 'node:net';

/**
 * 'closed' once the socket has closed (already, or within timeoutMs), else a message naming it: for
 * `expect(await closedWithin(s, 'what')).toBe('closed')`, which says what stayed open when it fails.
 */
export function closedWithin(socket: net.Socket, what: string, timeoutMs = 5000): Promise<string> {
  if (socket.closed) return Promise.resolve('closed');
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(`${what} still open after ${timeoutMs} ms`), timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
  });
}
