// Raw TCP listeners: an echo port for opaque client-speaks-first traffic, and a banner port for
// protocols where the server speaks first (databases, SMTP), which a mesh must not stall by
// waiting for client bytes to sniff.
import net from 'node:net';
import type { Logger } from 'pino';
import type { Counters } from './counters.ts';
import { LineBuffer } from './line-buffer.ts';
import { drain, listen, trackSockets } from './listen.ts';

export interface TcpListener {
  readonly port: number;
  shutdown(graceMs: number): Promise<void>;
}

interface TcpOptions {
  readonly bindAddress: string;
  readonly port: number;
  readonly counters: Counters;
  readonly logger: Logger;
}

async function startListener(
  options: TcpOptions,
  name: string,
  onConnection: (socket: net.Socket) => void,
): Promise<TcpListener> {
  // allowHalfOpen: a client's FIN only ends its direction; we finish writing before ending ours.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', (error) =>
      options.logger.debug({ err: error, listener: name }, 'tcp connection error'),
    );
    onConnection(socket);
  });
  const sockets = trackSockets(server);
  const port = await listen(server, options.port, options.bindAddress);
  return { port, shutdown: (graceMs) => drain(server, sockets, graceMs) };
}

export function startTcpEcho(options: TcpOptions): Promise<TcpListener> {
  return startListener(options, 'tcp-echo', (socket) => {
    options.counters.recordEchoConnection();
    // pipe ends the write side once the read side has ended and everything was flushed.
    socket.pipe(socket);
  });
}

export function bannerLine(pod: string): string {
  return `WEFT-BANNER ${pod}\r\n`;
}

export function startBanner(options: TcpOptions & { readonly pod: string }): Promise<TcpListener> {
  return startListener(options, 'banner', (socket) => {
    options.counters.recordBannerConnection();
    socket.write(bannerLine(options.pod));
    const lines = new LineBuffer();
    const reply = (line: string): void => {
      socket.write(`> ${line}\r\n`);
    };
    socket.on('data', (chunk: Buffer) => {
      for (const line of lines.push(chunk)) reply(line);
    });
    socket.on('end', () => {
      for (const line of lines.flush()) reply(line);
      socket.end();
    });
  });
}
