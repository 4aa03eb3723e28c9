// Makes the plain calls behind POST /call: HTTP/1.1 (http, https), a raw TCP exchange (tcp://) and
// a gRPC Echo.Unary call (grpc://). Nothing clever on the wire: in a cluster the mesh intercepts these
// transparently, and the tests want to see what it did to ordinary traffic.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import type { OutboundCall } from './call-request.ts';
import { targetKey } from './call-request.ts';
import type { CallError, CallOutcome } from './call-summary.ts';
import { roundMs } from './call-summary.ts';
import type { Counters } from './counters.ts';
import { loadEchoService } from './grpc-echo.ts';

export const MAX_KEPT_BODY_BYTES = 64 * 1024;
export const CALLER_HEADER = 'x-weft-caller';
const ABANDONED: CallError = { message: 'the /call request was abandoned by its client', code: 'ECANCELED' };

function describeError(error: unknown): CallError {
  const err = error as { message?: unknown; code?: unknown; errors?: unknown };
  const code = typeof err.code === 'string' && err.code !== '' ? err.code : 'EUNKNOWN';
  let message = typeof err.message === 'string' ? err.message : String(error);
  // Connecting to a name with both A and AAAA answers fails with an AggregateError whose own
  // message is empty; the attempts inside say what went wrong.
  if (message === '' && Array.isArray(err.errors)) {
    message = err.errors.map((e: { message?: unknown }) => String(e.message)).join('; ');
  }
  return { message: message === '' ? code : message, code };
}

export class OutboundCaller {
  readonly #counters: Counters;
  readonly #pod: string;
  // Keep-alive pools, so repeated calls look like a normal client's and the mesh sees connection reuse.
  readonly #httpAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  readonly #httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 256 });

  constructor(counters: Counters, pod: string) {
    this.#counters = counters;
    this.#pod = pod;
  }

  // Never rejects: a failed call is an outcome with status 0 and an error.
  call(spec: OutboundCall, cancel?: AbortSignal): Promise<CallOutcome> {
    if (cancel?.aborted) {
      // Not attempted, so not counted against the target.
      return Promise.resolve({
        status: 0,
        headers: {},
        body: '',
        bodyTruncated: false,
        durationMs: 0,
        error: ABANDONED,
      });
    }
    if (spec.url.protocol === 'tcp:') return this.#record(spec, this.#tcp(spec));
    if (spec.url.protocol === 'grpc:') return this.#record(spec, this.#grpc(spec));
    const started = performance.now();
    const timeout = AbortSignal.timeout(spec.timeoutMs);
    const signal = cancel === undefined ? timeout : AbortSignal.any([timeout, cancel]);
    const secure = spec.url.protocol === 'https:';
    const headers: Record<string, string> = { [CALLER_HEADER]: this.#pod, ...spec.headers };
    if (spec.body !== undefined) headers['content-length'] = String(Buffer.byteLength(spec.body));

    return new Promise<CallOutcome>((resolve) => {
      let settled = false;
      const settle = (outcome: Omit<CallOutcome, 'durationMs'>): void => {
        if (settled) return;
        settled = true;
        this.#counters.recordOutbound(targetKey(spec.url), outcome.status !== 0);
        resolve({ ...outcome, durationMs: roundMs(performance.now() - started) });
      };
      const fail = (error: unknown): void => {
        const reason: CallError = timeout.aborted
          ? { message: `no complete response within ${spec.timeoutMs} ms`, code: 'ETIMEDOUT' }
          : cancel?.aborted
            ? ABANDONED
            : describeError(error);
        settle({ status: 0, headers: {}, body: '', bodyTruncated: false, error: reason });
      };

      const request = (secure ? https : http).request(
        spec.url,
        { method: spec.method, headers, agent: secure ? this.#httpsAgent : this.#httpAgent, signal },
        (response) => {
          const kept: Buffer[] = [];
          let keptBytes = 0;
          let truncated = false;
          response.on('data', (chunk: Buffer) => {
            const room = MAX_KEPT_BODY_BYTES - keptBytes;
            if (chunk.length > room) truncated = true;
            if (room > 0) {
              const piece = chunk.length > room ? chunk.subarray(0, room) : chunk;
              kept.push(piece);
              keptBytes += piece.length;
            }
          });
          response.on('end', () =>
            settle({
              status: response.statusCode ?? 0,
              headers: response.headers,
              body: Buffer.concat(kept).toString('utf8'),
              bodyTruncated: truncated,
            }),
          );
          response.on('error', fail);
          response.on('close', () => {
            if (!response.complete)
              fail(Object.assign(new Error('response ended early'), { code: 'ECONNRESET' }));
          });
        },
      );
      request.on('error', fail);
      request.end(spec.body);
    });
  }

  async #record(spec: OutboundCall, pending: Promise<CallOutcome>): Promise<CallOutcome> {
    const outcome = await pending;
    this.#counters.recordOutbound(targetKey(spec.url), outcome.status !== 0);
    return outcome;
  }

  // Connects, writes the body (if any) and half-closes, then collects what comes back until the peer
  // closes. Without a body (a server-speaks-first port) it returns after the first bytes.
  #tcp(spec: OutboundCall): Promise<CallOutcome> {
    const started = performance.now();
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const socket = net.connect({
        host: spec.url.hostname.replace(/^\[|\]$/g, ''),
        port: Number(spec.url.port),
      });
      const finish = (error?: CallError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        const body = Buffer.concat(chunks).toString('utf8');
        const durationMs = roundMs(performance.now() - started);
        if (error || size === 0) {
          resolve({
            status: 0,
            headers: {},
            body,
            bodyTruncated: false,
            durationMs,
            error: error ?? { code: 'ECONNCLOSED', message: 'connection closed without data' },
          });
        } else
          resolve({ status: 200, headers: {}, body, bodyTruncated: size > MAX_KEPT_BODY_BYTES, durationMs });
      };
      const timer = setTimeout(
        () => finish({ code: 'ETIMEDOUT', message: `no complete answer within ${spec.timeoutMs} ms` }),
        spec.timeoutMs,
      );
      socket.on('connect', () => {
        if (spec.body !== undefined) socket.end(spec.body);
      });
      socket.on('data', (chunk: Buffer) => {
        if (size < MAX_KEPT_BODY_BYTES) chunks.push(chunk);
        size += chunk.length;
        if (spec.body === undefined) finish();
      });
      socket.on('end', () => finish());
      socket.on('error', (error) => finish(describeError(error)));
    });
  }

  // Echo.Unary with the body as the message; status 200 for OK, 0 with the gRPC code otherwise.
  #grpc(spec: OutboundCall): Promise<CallOutcome> {
    const started = performance.now();
    const { Client } = loadEchoService();
    const client = new Client(
      `${spec.url.hostname}:${spec.url.port}`,
      credentials.createInsecure(),
    ) as unknown as {
      Unary(
        req: object,
        md: Metadata,
        options: { deadline: number },
        cb: (e: ServiceError | null, r?: Record<string, unknown>) => void,
      ): void;
      close(): void;
    };
    const metadata = new Metadata();
    for (const [k, v] of Object.entries(spec.headers)) metadata.set(k, v);
    metadata.set(CALLER_HEADER, this.#pod);
    return new Promise((resolve) => {
      client.Unary(
        { message: spec.body ?? 'ping' },
        metadata,
        { deadline: Date.now() + spec.timeoutMs },
        (e, reply) => {
          client.close();
          const durationMs = roundMs(performance.now() - started);
          if (e) {
            resolve({
              status: 0,
              headers: {},
              body: '',
              bodyTruncated: false,
              durationMs,
              error: { code: `GRPC_${e.code}`, message: e.details || e.message },
            });
          } else
            resolve({
              status: 200,
              headers: {},
              body: JSON.stringify(reply),
              bodyTruncated: false,
              durationMs,
            });
        },
      );
    });
  }

  destroy(): void {
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }
}
