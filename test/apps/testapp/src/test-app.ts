// Starts every listener of the test app in this process; main.ts and the integration tests both
// come through here.
import type http from 'node:http';
import { hostname } from 'node:os';
import { type Logger, pino } from 'pino';
import type { LogLevel, PodIdentity } from './config.ts';
import { Counters } from './counters.ts';
import { startGrpcEchoServer } from './grpc-server.ts';
import { createHttpServer } from './http-server.ts';
import { listen } from './listen.ts';
import { OutboundCaller } from './outbound.ts';
import { startBanner, startTcpEcho } from './tcp-servers.ts';

export interface TestAppOptions {
  // Ports default to 0 (any free port) and the address to loopback: the safe choice in-process.
  // main.ts passes the container defaults explicitly.
  readonly httpPort?: number;
  readonly grpcPort?: number;
  readonly tcpEchoPort?: number;
  readonly bannerPort?: number;
  readonly bindAddress?: string;
  readonly identity?: Partial<PodIdentity>;
  readonly shutdownGraceMs?: number;
  readonly logger?: Logger;
  // Used only when no logger is given.
  readonly logLevel?: LogLevel;
}

export interface TestApp {
  readonly httpPort: number;
  readonly grpcPort: number;
  readonly tcpEchoPort: number;
  readonly bannerPort: number;
  readonly identity: PodIdentity;
  // Readiness fails at once; in-flight work gets shutdownGraceMs, then connections are cut.
  // Calling it again returns the same promise.
  close(): Promise<void>;
}

function drainHttp(server: http.Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const deadline = setTimeout(() => server.closeAllConnections(), graceMs);
    // close() also drops idle keep-alive connections; busy ones close after their response,
    // which carries `connection: close` once shutdown has begun.
    server.close(() => {
      clearTimeout(deadline);
      resolve();
    });
  });
}

export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const identity: PodIdentity = {
    pod: options.identity?.pod ?? hostname(),
    namespace: options.identity?.namespace ?? '',
    serviceAccount: options.identity?.serviceAccount ?? '',
    node: options.identity?.node ?? '',
  };
  const logger = (options.logger ?? pino({ level: options.logLevel ?? 'info' })).child({ pod: identity.pod });
  const bindAddress = options.bindAddress ?? '127.0.0.1';
  const graceMs = options.shutdownGraceMs ?? 5000;
  const counters = new Counters();
  const outbound = new OutboundCaller(counters, identity.pod);
  let shuttingDown = false;

  logger.info({ identity, bindAddress }, 'test app starting');

  const stops: ((graceMs: number) => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(stops.map((stop) => stop(graceMs)));
    outbound.destroy();
  };

  try {
    const httpServer = createHttpServer({
      identity,
      counters,
      outbound,
      logger,
      isShuttingDown: () => shuttingDown,
    });
    const httpPort = await listen(httpServer, options.httpPort ?? 0, bindAddress);
    stops.push((ms) => drainHttp(httpServer, ms));
    logger.info({ listener: 'http', address: bindAddress, port: httpPort }, 'listening');

    const grpc = await startGrpcEchoServer({
      bindAddress,
      port: options.grpcPort ?? 0,
      pod: identity.pod,
      counters,
      logger,
    });
    stops.push(grpc.shutdown);
    logger.info({ listener: 'grpc', address: bindAddress, port: grpc.port }, 'listening');

    const tcpEcho = await startTcpEcho({ bindAddress, port: options.tcpEchoPort ?? 0, counters, logger });
    stops.push(tcpEcho.shutdown);
    logger.info({ listener: 'tcp-echo', address: bindAddress, port: tcpEcho.port }, 'listening');

    const banner = await startBanner({
      bindAddress,
      port: options.bannerPort ?? 0,
      counters,
      logger,
      pod: identity.pod,
    });
    stops.push(banner.shutdown);
    logger.info({ listener: 'banner', address: bindAddress, port: banner.port }, 'listening');

    let closing: Promise<void> | undefined;
    return {
      httpPort,
      grpcPort: grpc.port,
      tcpEchoPort: tcpEcho.port,
      bannerPort: banner.port,
      identity,
      close() {
        closing ??= (async () => {
          shuttingDown = true;
          logger.info({ graceMs }, 'shutting down');
          await stopAll();
          logger.info('stopped');
        })();
        return closing;
      },
    };
  } catch (error) {
    // Release whatever did start, so a failed start leaves no listener behind.
    await Promise.all(stops.map((stop) => stop(0)));
    outbound.destroy();
    throw error;
  }
}
