// Serves weft.testapp.v1.Echo over plaintext HTTP/2, as a workload behind the mesh would.
import {
  Server,
  ServerCredentials,
  type ServerDuplexStream,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
  status,
} from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Counters } from './counters.ts';
import type { EchoReply, EchoRequest, StreamRequest } from './grpc-echo.ts';
import { loadEchoService } from './grpc-echo.ts';
import { requestedFailure, streamRequestProblem, stringMetadata } from './grpc-requests.ts';
import { hostPort } from './listen.ts';

export interface GrpcEchoServer {
  readonly port: number;
  // Lets calls in flight finish for up to graceMs, then cancels the rest.
  shutdown(graceMs: number): Promise<void>;
}

export interface GrpcEchoOptions {
  readonly bindAddress: string;
  readonly port: number;
  readonly pod: string;
  readonly counters: Counters;
  readonly logger: Logger;
}

export async function startGrpcEchoServer(options: GrpcEchoOptions): Promise<GrpcEchoServer> {
  const { pod, counters, logger } = options;
  const server = new Server();

  server.addService(loadEchoService().service, {
    Unary(call: ServerUnaryCall<EchoRequest, EchoReply>, callback: sendUnaryData<EchoReply>): void {
      counters.recordGrpcUnary();
      const failure = requestedFailure(call.request.statusCode);
      if (failure !== undefined) {
        callback(failure);
        return;
      }
      callback(null, {
        message: call.request.message,
        pod,
        metadata: stringMetadata(call.metadata.getMap()),
        sequence: 1,
      });
    },

    ServerStream(call: ServerWritableStream<StreamRequest, EchoReply>): void {
      counters.recordGrpcStream();
      const { message, count, intervalMs } = call.request;
      const problem = streamRequestProblem(count, intervalMs);
      if (problem !== undefined) {
        call.emit('error', { code: status.INVALID_ARGUMENT, details: problem });
        return;
      }
      const metadata = stringMetadata(call.metadata.getMap());
      let sequence = 0;
      let timer: NodeJS.Timeout | undefined;
      call.on('cancelled', () => clearTimeout(timer));
      const send = (): void => {
        if (call.cancelled) return;
        sequence += 1;
        call.write({ message, pod, metadata, sequence });
        if (sequence >= count) call.end();
        else timer = setTimeout(send, intervalMs);
      };
      send();
    },

    ClientStream(
      call: ServerReadableStream<EchoRequest, EchoReply>,
      callback: sendUnaryData<EchoReply>,
    ): void {
      counters.recordGrpcStream();
      const messages: string[] = [];
      let answered = false;
      call.on('data', (request: EchoRequest) => {
        if (answered) return;
        const failure = requestedFailure(request.statusCode);
        if (failure !== undefined) {
          answered = true;
          callback(failure);
          return;
        }
        messages.push(request.message);
      });
      call.on('end', () => {
        if (answered) return;
        answered = true;
        callback(null, {
          message: messages.join(','),
          pod,
          metadata: stringMetadata(call.metadata.getMap()),
          sequence: messages.length,
        });
      });
    },

    BidiStream(call: ServerDuplexStream<EchoRequest, EchoReply>): void {
      counters.recordGrpcStream();
      const metadata = stringMetadata(call.metadata.getMap());
      let sequence = 0;
      let ended = false;
      call.on('data', (request: EchoRequest) => {
        if (ended) return;
        const failure = requestedFailure(request.statusCode);
        if (failure !== undefined) {
          ended = true;
          call.emit('error', failure);
          return;
        }
        sequence += 1;
        call.write({ message: request.message, pod, metadata, sequence });
      });
      call.on('end', () => {
        if (ended) return;
        ended = true;
        call.end();
      });
    },
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      hostPort(options.bindAddress, options.port),
      ServerCredentials.createInsecure(),
      (error, bound) => (error ? reject(error) : resolve(bound)),
    );
  });
  logger.debug({ port }, 'grpc server bound');

  return {
    port,
    shutdown: (graceMs) =>
      new Promise<void>((resolve) => {
        const deadline = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(deadline);
          resolve();
        });
      }),
  };
}
