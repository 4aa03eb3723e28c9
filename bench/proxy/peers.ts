// Configuration files for the reference peers of the proxy benchmark: nginx and haproxy as the
// backend, as single-hop proxies, as mTLS pairs, and haproxy in TCP mode.
export interface Tls {
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

const nginxCommon = (dir: string) => `
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
`;

/** The backend every configuration ends at: a fixed 200 with a small body (h2c with prior knowledge when http2). */
export function nginxBackend(dir: string, port: number, opts: { http2?: boolean } = {}): string {
  return `${nginxCommon(dir)}
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:${port} backlog=4096${opts.http2 ? ' http2' : ''};
    location / { return 200 "hello from the benchmark backend\\n"; }
  }
}`;
}

/** nginx as an HTTP/1.1 reverse proxy with upstream keep-alive; optional TLS on either side. */
export function nginxProxy(
  dir: string,
  listenPort: number,
  upstreamPort: number,
  opts: { tlsIn?: Tls; tlsOut?: Tls } = {},
): string {
  const { tlsIn, tlsOut } = opts;
  const listen = tlsIn
    ? `listen 127.0.0.1:${listenPort} ssl;
    ssl_certificate ${tlsIn.serverCert}; ssl_certificate_key ${tlsIn.serverKey};
    ssl_client_certificate ${tlsIn.ca}; ssl_verify_client on; ssl_protocols TLSv1.3;`
    : `listen 127.0.0.1:${listenPort};`;
  const upstreamTls = tlsOut
    ? `proxy_ssl_certificate ${tlsOut.clientCert}; proxy_ssl_certificate_key ${tlsOut.clientKey};
      proxy_ssl_trusted_certificate ${tlsOut.ca}; proxy_ssl_verify on; proxy_ssl_name server.weft.test;
      proxy_ssl_protocols TLSv1.3; proxy_ssl_session_reuse on;`
    : '';
  return `${nginxCommon(dir)}
http {
  access_log off;
  keepalive_requests 1000000;
  upstream backend { server 127.0.0.1:${upstreamPort}; keepalive 64; keepalive_requests 1000000; }
  server {
    ${listen}
    location / {
      proxy_pass ${tlsOut ? 'https' : 'http'}://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      ${upstreamTls}
    }
  }
}`;
}

/** haproxy in HTTP mode (keep-alive both sides), optional TLS either side, or in TCP mode. */
export function haproxyConfig(
  dir: string,
  listenPort: number,
  upstreamPort: number,
  opts: { mode?: 'http' | 'tcp'; tlsIn?: Tls; tlsOut?: Tls; pem?: { server: string; client: string } } = {},
): string {
  const mode = opts.mode ?? 'http';
  const bindTls =
    opts.tlsIn && opts.pem
      ? ` ssl crt ${opts.pem.server} ca-file ${opts.tlsIn.ca} verify required ssl-min-ver TLSv1.3`
      : '';
  const serverTls =
    opts.tlsOut && opts.pem
      ? ` ssl crt ${opts.pem.client} ca-file ${opts.tlsOut.ca} verify required verifyhost server.weft.test ssl-min-ver TLSv1.3`
      : '';
  return `
global
  nbthread 1
  maxconn 4096
  pidfile ${dir}/haproxy.pid
defaults
  mode ${mode}
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  ${mode === 'http' ? 'option http-keep-alive\n  http-reuse always' : ''}
frontend fe
  bind 127.0.0.1:${listenPort}${bindTls}
  default_backend be
backend be
  server s1 127.0.0.1:${upstreamPort}${serverTls}
`;
}
