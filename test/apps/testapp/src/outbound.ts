// Makes the plain HTTP/1.1 calls behind POST /call. Nothing clever on the wire: in a cluster the
// mesh intercepts these transparently, and the tests want to see what it did to ordinary traffic.
import http from 'node:http';
import https from 'node:https';
import type { OutboundCall } from './call-request.ts';
import { targetKey } from './call-request.ts';
import type { CallError, CallOutcome } from './call-summary.ts';
import { roundMs } from './call-summary.ts';
import type { Counters } from './counters.ts';

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

  destroy(): void {
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }
}
