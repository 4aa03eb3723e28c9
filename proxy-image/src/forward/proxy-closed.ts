// Connections the proxy closes on its own account (an untrusted peer after a trust-anchor change): the exchanges
// in flight on them end as failures, never as the client's cancellations, which the success rate leaves out.

const closed = new WeakSet<object>();

/** Closes a client connection because of the proxy's own decision. */
export function closeByProxy(socket: { destroy(): void }): void {
  closed.add(socket);
  socket.destroy();
}

/** Whether closeByProxy closed this socket. */
export function closedByProxy(socket: object): boolean {
  return closed.has(socket);
}
