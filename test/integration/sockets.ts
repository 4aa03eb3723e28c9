// Socket and polling helpers the integration tests of every component share.
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

/**
 * Polls fn every 100 ms until it returns something other than undefined, and resolves with that; throws
 * `timed out waiting for ${what}` once timeoutMs have passed.
 */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
