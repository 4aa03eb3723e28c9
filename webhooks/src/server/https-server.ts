// The thin HTTPS shell around the router: TLS (hot-swappable), body and time limits, metrics, logs.
// Everything it serves is decided by the handlers registered on the router.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { WEBHOOK_ERRORS, WebhookError } from './errors.ts';
import { WEBHOOK_LIMITS, type WebhookLimits } from './limits.ts';
import type { WebhookMetrics } from './metrics.ts';
import type { WebhookResponse, WebhookRouter } from './router.ts';

export interface ServingCertificate {
  /** PEM chain: serving certificate first. */
  cert: string;
  /** PEM private key. */
  key: string;
}

export interface WebhookServerOptions {
  router: WebhookRouter;
  certificate: ServingCertificate;
  metrics: WebhookMetrics;
  logger: Logger;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  limits?: Partial<WebhookLimits>;
}

export interface RunningWebhookServer {
  readonly server: Server;
  readonly port: number;
  /** Serves new connections with another certificate; open connections keep theirs. */
  setCertificate(certificate: ServingCertificate): void;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    return Promise.reject(
      new WebhookError('PayloadTooLarge', `body of ${declared} bytes is over the ${maxBytes}-byte limit`),
    );
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        reject(new WebhookError('PayloadTooLarge', `body is over the ${maxBytes}-byte limit`));
        req.removeAllListeners('data');
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', (e) => reject(new WebhookError('BadRequest', `request failed: ${e.message}`)));
    req.on('aborted', () => reject(new WebhookError('BadRequest', 'request aborted')));
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, controller: AbortController): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new WebhookError('HandlerTimeout', `handler took longer than ${ms} ms`));
    }, ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function send(res: ServerResponse, r: WebhookResponse, close: boolean): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(r.status, {
    'content-type': r.contentType,
    'content-length': Buffer.byteLength(r.body),
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(r.body);
}

/** Starts the HTTPS server and resolves once it listens. */
export async function startWebhookServer(opts: WebhookServerOptions): Promise<RunningWebhookServer> {
  const limits: WebhookLimits = { ...WEBHOOK_LIMITS, ...opts.limits };
  const { router, metrics, logger } = opts;
  const server = createServer({
    cert: opts.certificate.cert,
    key: opts.certificate.key,
    minVersion: 'TLSv1.2',
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: limits.headersTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
  });
  server.maxConnections = limits.maxConnections;

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const started = process.hrtime.bigint();
    const path = (req.url ?? '/').split('?')[0]!;
    let metricPath = path;
    const controller = new AbortController();
    res.on('close', () => controller.abort());
    const handle = async (): Promise<WebhookResponse> => {
      const route = router.resolve(req.method ?? 'GET', path);
      const body = await readBody(req, limits.maxBodyBytes);
      return withTimeout(
        Promise.resolve(
          route.handler({
            method: req.method ?? 'GET',
            path,
            body,
            contentType: req.headers['content-type'],
            signal: controller.signal,
          }),
        ),
        limits.handlerTimeoutMs,
        controller,
      );
    };
    handle()
      .then(
        (r) => {
          send(res, r, false);
          return r.outcome ?? 'ok';
        },
        (e: unknown) => {
          const err = e instanceof WebhookError ? e : new WebhookError('Internal', 'internal error');
          if (err.code === 'NotFound') metricPath = 'unknown';
          if (!(e instanceof WebhookError)) logger.error({ err: e, path }, 'webhook handler failed');
          else logger.debug({ path, code: err.code, msg: err.message }, 'webhook request refused');
          send(
            res,
            {
              status: err.status,
              contentType: 'application/json',
              body: JSON.stringify({ code: err.code, message: err.message }),
            },
            err.code === 'PayloadTooLarge',
          );
          return err.code;
        },
      )
      .then((outcome) => {
        metrics.requests.inc({ path: metricPath, code: String(res.statusCode), outcome });
        metrics.duration.observe({ path: metricPath }, Number(process.hrtime.bigint() - started) / 1e9);
      })
      .catch((e: unknown) => logger.error({ err: e }, 'webhook response failed'));
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // Malformed HTTP (or a slow client hitting requestTimeout): answer if possible, never crash.
    const status =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? WEBHOOK_ERRORS.RequestTimeout : WEBHOOK_ERRORS.BadRequest;
    if (socket.writable)
      socket.end(
        `HTTP/1.1 ${status} ${status === 408 ? 'Request Timeout' : 'Bad Request'}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`,
      );
    else socket.destroy();
  });
  server.on('tlsClientError', (err) => logger.debug({ msg: err.message }, 'TLS handshake failed'));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const port = opts.port ?? 0;
    server.listen(opts.host === undefined ? { port } : { port, host: opts.host }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ port, paths: router.paths() }, 'webhook server listening');
  return {
    server,
    port,
    setCertificate(c) {
      server.setSecureContext({ cert: c.cert, key: c.key, minVersion: 'TLSv1.2' });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
