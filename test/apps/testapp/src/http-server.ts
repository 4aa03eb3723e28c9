// The HTTP/1.1 face of the test app: thin I/O around routes.ts, call-request.ts and counters.ts.
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { parseCallRequest } from './call-request.ts';
import { runWithConcurrency, summarizeCalls } from './call-summary.ts';
import type { PodIdentity } from './config.ts';
import type { Counters } from './counters.ts';
import type { OutboundCaller } from './outbound.ts';
import { CALLER_HEADER, MAX_KEPT_BODY_BYTES } from './outbound.ts';
import {
  isCountedRoute,
  isInterimStatus,
  matchRoute,
  parseRequestTarget,
  statusForbidsBody,
} from './routes.ts';

export const MAX_REQUEST_BODY_BYTES = 1024 * 1024;
export const POD_HEADER = 'x-weft-pod';

export interface HttpAppContext {
  readonly identity: PodIdentity;
  readonly counters: Counters;
  readonly outbound: OutboundCaller;
  readonly logger: Logger;
  isShuttingDown(): boolean;
}

const TOO_LARGE = Symbol('too large');

// The client went away before its request was fully read; there is nobody to answer.
class ClientGoneError extends Error {}

function readBody(req: http.IncomingMessage): Promise<Buffer | typeof TOO_LARGE> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_REQUEST_BODY_BYTES) {
    // Drain rather than close: a client still writing its body would otherwise see a reset
    // instead of the 413.
    req.resume();
    return Promise.resolve(TOO_LARGE);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > MAX_REQUEST_BODY_BYTES) {
        // Keep draining without storing, for the same reason as above.
        req.off('data', onData);
        req.resume();
        resolve(TOO_LARGE);
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', () => reject(new ClientGoneError()));
    req.on('close', () => {
      if (!req.complete) reject(new ClientGoneError());
    });
  });
}

function headerValue(req: http.IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function createHttpServer(ctx: HttpAppContext): http.Server {
  const pod = ctx.identity.pod;

  const finishHeaders = (res: http.ServerResponse): void => {
    // Closing each connection after its response lets a draining server reach zero connections.
    if (ctx.isShuttingDown()) res.setHeader('connection', 'close');
  };

  const sendJson = (res: http.ServerResponse, status: number, value: unknown): void => {
    const payload = JSON.stringify(value);
    finishHeaders(res);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(payload),
    });
    res.end(payload);
  };

  const sendEmpty = (res: http.ServerResponse, status: number): void => {
    finishHeaders(res);
    res.writeHead(status);
    res.end();
  };

  const echo = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    target: ReturnType<typeof parseRequestTarget>,
    body: Buffer,
  ) => {
    sendJson(res, 200, {
      method: req.method,
      path: target.path,
      query: target.query,
      headers: req.headers,
      body: body.subarray(0, MAX_KEPT_BODY_BYTES).toString('utf8'),
      bodyTruncated: body.length > MAX_KEPT_BODY_BYTES,
      pod,
      namespace: ctx.identity.namespace,
      serviceAccount: ctx.identity.serviceAccount,
      node: ctx.identity.node,
      remoteAddress: req.socket.remoteAddress ?? '',
      remotePort: req.socket.remotePort ?? 0,
    });
  };

  const status = (res: http.ServerResponse, code: number): void => {
    if (isInterimStatus(code)) {
      // A 1xx cannot end an exchange: send it as an interim response, then a final 200.
      // _writeRaw is how Node itself writes 102 and 103; it queues behind pipelined responses.
      (res as unknown as { _writeRaw(data: string, encoding: string): void })._writeRaw(
        `HTTP/1.1 ${code} ${http.STATUS_CODES[code] ?? 'Informational'}\r\n\r\n`,
        'latin1',
      );
      sendJson(res, 200, { status: 200, interimStatus: code, pod });
      return;
    }
    if (statusForbidsBody(code)) sendEmpty(res, code);
    else sendJson(res, code, { status: code, pod });
  };

  const delay = async (res: http.ServerResponse, ms: number): Promise<void> => {
    const waited = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(true), ms);
      res.once('close', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (waited) sendJson(res, 200, { delayedMs: ms, pod });
  };

  const call = async (res: http.ServerResponse, body: Buffer): Promise<void> => {
    const parsed = parseCallRequest(body.toString('utf8'));
    if (!parsed.ok) {
      sendJson(res, 400, { error: parsed.error, field: parsed.field });
      return;
    }
    const { call: spec, repeat } = parsed.request;
    // Stop calling out on behalf of a client that is no longer waiting.
    const abandoned = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abandoned.abort();
    });
    if (repeat === undefined) {
      const outcome = await ctx.outbound.call(spec, abandoned.signal);
      if (!abandoned.signal.aborted) sendJson(res, 200, outcome);
      return;
    }
    const started = performance.now();
    const outcomes = await runWithConcurrency(repeat.count, repeat.concurrency, () =>
      ctx.outbound.call(spec, abandoned.signal),
    );
    if (!abandoned.signal.aborted) sendJson(res, 200, summarizeCalls(outcomes, performance.now() - started));
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    res.setHeader(POD_HEADER, pod);
    const target = parseRequestTarget(req.url ?? '/');
    const route = matchRoute(target.path);
    if (isCountedRoute(route)) ctx.counters.recordReceived(headerValue(req, CALLER_HEADER), target.path);

    const body = await readBody(req);
    if (body === TOO_LARGE) {
      sendJson(res, 413, { error: `request body exceeds ${MAX_REQUEST_BODY_BYTES} bytes` });
      return;
    }

    switch (route.kind) {
      case 'echo':
        return echo(req, res, target, body);
      case 'status':
        return status(res, route.code);
      case 'delay':
        return delay(res, route.ms);
      case 'call':
        if (req.method !== 'POST') {
          res.setHeader('allow', 'POST');
          return sendJson(res, 405, { error: '/call accepts POST only' });
        }
        return call(res, body);
      case 'counters':
        if (req.method === 'GET' || req.method === 'HEAD') return sendJson(res, 200, ctx.counters.snapshot());
        if (req.method === 'DELETE') {
          ctx.counters.reset();
          return sendEmpty(res, 204);
        }
        res.setHeader('allow', 'GET, HEAD, DELETE');
        return sendJson(res, 405, { error: '/counters accepts GET and DELETE' });
      case 'healthz':
        return sendJson(res, 200, { status: 'ok', pod });
      case 'readyz':
        return ctx.isShuttingDown()
          ? sendJson(res, 503, { status: 'shutting down', pod })
          : sendJson(res, 200, { status: 'ready', pod });
      case 'bad-segment':
        return sendJson(res, 400, { error: route.error, segment: route.segment });
      case 'not-found':
        return sendJson(res, 404, { error: 'not found', path: target.path });
    }
  };

  const server = http.createServer((req, res) => {
    const started = performance.now();
    if (ctx.logger.isLevelEnabled('debug')) {
      res.once('finish', () =>
        ctx.logger.debug(
          {
            method: req.method,
            url: req.url,
            status: res.statusCode,
            durationMs: performance.now() - started,
          },
          'request',
        ),
      );
    }
    handle(req, res).catch((error: unknown) => {
      if (error instanceof ClientGoneError) return;
      ctx.logger.error({ err: error, method: req.method, url: req.url }, 'request handler failed');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      try {
        sendJson(res, 500, { error: 'internal error', message: String((error as Error)?.message ?? error) });
      } catch {
        res.destroy();
      }
    });
  });

  // Malformed HTTP never reaches the handler; answer it the same way a handled error would be.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
    const code = tooLarge ? 431 : 400;
    const payload = JSON.stringify({ error: tooLarge ? 'request headers too large' : 'malformed request' });
    socket.end(
      `HTTP/1.1 ${code} ${http.STATUS_CODES[code]}\r\nconnection: close\r\n${POD_HEADER}: ${pod}\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`,
    );
    ctx.logger.debug({ err: error }, 'malformed request');
  });

  // Outlive the idle timeouts of proxies in front of us, or they will reuse a connection we just closed.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  return server;
}
