// The admin listener (node:http; not on the hot path): /metrics, /ready, /live, /config (dump without
// keys), and POST /shutdown accepted only from loopback.

import type http from 'node:http';
import type { Logger } from 'pino';
import type { ProxyMetrics } from '../metrics/index.ts';
import type { ProxyRuntime } from '../proxy.ts';

// Through require, not `import`: Node's ESM facade of node:http reads every export, including the lazy
// WebSocket/CloseEvent/MessageEvent ones, which loads undici (about 12 MB resident) for nothing.
const nodeHttp = process.getBuiltinModule('node:http');

export interface AdminOptions {
  readonly runtime: ProxyRuntime;
  readonly metrics: ProxyMetrics;
  readonly logger: Logger;
  /** Starts the graceful shutdown (same as SIGTERM). */
  readonly shutdown: () => void;
  /** Extra facts for the dump (config source, last reload error). */
  readonly status: () => Record<string, unknown>;
}

function isLoopback(address: string | undefined): boolean {
  return (
    address === '::1' || address?.startsWith('127.') === true || address?.startsWith('::ffff:127.') === true
  );
}

export function createAdminServer(opts: AdminOptions): http.Server {
  const { runtime, metrics } = opts;
  const send = (res: http.ServerResponse, status: number, type: string, body: string): void => {
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  const server = nodeHttp.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/live') return send(res, 200, 'text/plain', 'live\n');
    if (path === '/ready') {
      return runtime.ready()
        ? send(res, 200, 'text/plain', 'ready\n')
        : send(res, 503, 'text/plain', 'not ready\n');
    }
    if (path === '/metrics') {
      const cert = runtime.certificate;
      if (cert !== null) metrics.certExpiry(Math.floor(cert.notAfter.getTime() / 1000));
      metrics.text().then(
        (text) => send(res, 200, metrics.contentType, text),
        (err: unknown) => send(res, 500, 'text/plain', `metrics failed: ${String(err)}\n`),
      );
      return;
    }
    if (path === '/config') {
      // The mesh's topology and policy (endpoints, identities, rules): for people and tools in the pod (kubectl
      // port-forward and exec arrive on loopback), not for every pod that can reach this port.
      if (!isLoopback(req.socket.remoteAddress))
        return send(
          res,
          403,
          'text/plain',
          'the config dump is served on loopback only (kubectl port-forward)\n',
        );
      const cert = runtime.certificate;
      const dump = {
        ready: runtime.ready(),
        draining: runtime.draining,
        certificate:
          cert === null
            ? null
            : {
                spiffeId: cert.spiffeId,
                notBefore: cert.notBefore.toISOString(),
                notAfter: cert.notAfter.toISOString(),
                serialNumber: cert.serialNumber,
              },
        connections: runtime.stats(),
        ...opts.status(),
        // Routing state: split rotation, endpoints with latency estimates and circuits, retry budgets.
        tables: runtime.tables?.snapshot() ?? null,
        // The config document carries no keys (trust anchors are public certificates).
        config: runtime.config,
      };
      return send(res, 200, 'application/json', `${JSON.stringify(dump, null, 2)}\n`);
    }
    if (path === '/shutdown') {
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST');
        return send(res, 405, 'text/plain', 'POST only\n');
      }
      if (!isLoopback(req.socket.remoteAddress))
        return send(res, 403, 'text/plain', 'shutdown is accepted from loopback only\n');
      opts.logger.info('shutdown requested on the admin listener');
      send(res, 202, 'text/plain', 'shutting down\n');
      opts.shutdown();
      return;
    }
    send(res, 404, 'text/plain', 'not found\n');
  });
  server.keepAliveTimeout = 5000;
  return server;
}
