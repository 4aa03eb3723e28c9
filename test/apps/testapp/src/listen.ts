// Listening and draining shared by the HTTP and raw TCP listeners.
import { isIPv6, type Server, type Socket } from 'node:net';

// host:port as gRPC targets and logs spell it, with brackets around IPv6 literals.
export function hostPort(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen({ port, host }, () => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}

// Remembers open sockets so a drain that runs out of time can cut them.
export function trackSockets(server: Server): Set<Socket> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return sockets;
}

// Stops accepting, waits for open connections to end on their own, and destroys whatever is
// left after graceMs.
export function drain(server: Server, sockets: Set<Socket>, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening && sockets.size === 0) {
      resolve();
      return;
    }
    const deadline = setTimeout(() => {
      for (const socket of sockets) socket.destroy();
    }, graceMs);
    server.close(() => {
      clearTimeout(deadline);
      resolve();
    });
  });
}
