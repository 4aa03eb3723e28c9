// Serializes heads for the next hop: hop-by-hop fields (Connection, Keep-Alive, Proxy-Connection, the
// fields Connection names, Upgrade unless upgrading; a request's TE, which the parser lists among its Connection
// tokens) are dropped and the proxy's own connection management added. A request whose TE accepts trailers says
// `te: trailers` again, with the `te` connection option the RFC asks of its sender (the proxy relays trailers);
// the transfer codings TE names are the client's hop's, not the next one's (RFC 9110 10.1.4). Everything else
// passes unchanged, in order and case, so the app cannot tell a proxy is there except for what the mesh adds.

import { equalsHeaderName, equalsLower } from './chars.ts';
import type { RequestHead, ResponseHead } from './head.ts';

/** Header the server-side proxy sets to the verified client identity; any incoming copy is removed (as any spelling with "_"). */
export const CLIENT_ID_HEADER = 'x-weft-client-id';
/** Header naming why the proxy itself answered (stable codes). */
export const REASON_HEADER = 'x-weft-reason';

function isHopByHop(name: string, tokens: readonly string[] | null, dropClientId: boolean): boolean {
  switch (name.length) {
    case 7:
      return equalsLower(name, 'upgrade');
    case 10:
      if (equalsLower(name, 'connection') || equalsLower(name, 'keep-alive')) return true;
      break;
    case 16:
      if (equalsLower(name, 'proxy-connection') || (dropClientId && equalsHeaderName(name, CLIENT_ID_HEADER)))
        return true;
      break;
  }
  if (tokens === null) return false;
  for (const t of tokens) if (equalsLower(name, t)) return true;
  return false;
}

export interface RequestRewrite {
  /** Remove incoming x-weft-client-id, also spelled with underscores (inbound side). */
  readonly dropClientId: boolean;
  /** Extra fields appended: [name, value, name, value...]. */
  readonly extra: readonly string[] | null;
  /** Host to add when the request has none (HTTP/1.0 clients), since the next hop speaks HTTP/1.1. */
  readonly hostFallback: string;
  /** The request target to send instead of the received one (the normalized path), or null. */
  readonly target?: string | null;
}

/**
 * The request head as sent upstream (always HTTP/1.1, persistent unless upgrading), as a latin1 string
 * (one char per byte): sockets write such strings without an intermediate Buffer.
 */
export function serializeRequestHead(head: RequestHead, rw: RequestRewrite): string {
  let s = `${head.method} ${rw.target ?? head.target} HTTP/1.1\r\n`;
  const h = head.headers;
  const tokens = head.connectionTokens;
  const trailers = head.teTrailers;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    if (isHopByHop(name, tokens, rw.dropClientId)) continue;
    s += `${name}: ${h[i + 1]!}\r\n`;
  }
  if (trailers) s += 'te: trailers\r\n';
  if (head.host === null) s += `host: ${rw.hostFallback}\r\n`;
  if (head.upgrade !== null)
    s += `upgrade: ${head.upgrade}\r\nconnection: ${trailers ? 'upgrade, te' : 'upgrade'}\r\n`;
  else if (trailers) s += 'connection: te\r\n';
  const extra = rw.extra;
  if (extra !== null) for (let i = 0; i < extra.length; i += 2) s += `${extra[i]!}: ${extra[i + 1]!}\r\n`;
  s += '\r\n';
  return s;
}

export interface ResponseRewrite {
  /** The proxy closes the client connection after this response. */
  readonly close: boolean;
  /** Tell an HTTP/1.0 client the connection stays open. */
  readonly keepAlive10: boolean;
  /** The body is re-framed as close-delimited (chunked response to an HTTP/1.0 client). */
  readonly dechunk: boolean;
}

/** The response head as sent to the client (latin1 string). */
export function serializeResponseHead(head: ResponseHead, rw: ResponseRewrite): string {
  let s = `HTTP/1.1 ${head.status} ${head.reason}\r\n`;
  const h = head.headers;
  const tokens = head.connectionTokens;
  const upgrading = head.status === 101;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    if (upgrading && equalsLower(name, 'upgrade')) {
      s += `${name}: ${h[i + 1]!}\r\n`;
      continue;
    }
    if (isHopByHop(name, tokens, false)) continue;
    if (rw.dechunk && equalsLower(name, 'transfer-encoding')) continue;
    s += `${name}: ${h[i + 1]!}\r\n`;
  }
  if (upgrading) s += 'connection: upgrade\r\n';
  else if (rw.close) s += 'connection: close\r\n';
  else if (rw.keepAlive10) s += 'connection: keep-alive\r\n';
  s += '\r\n';
  return s;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  413: 'Content Too Large',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

/** A response the proxy makes itself, with x-weft-reason and a short text body. */
export function proxyResponse(status: number, reason: string, close: boolean, message?: string): Buffer {
  const body = `${message ?? reason}\n`;
  return Buffer.from(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n${REASON_HEADER}: ${reason}\r\n` +
      `content-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `${close ? 'connection: close\r\n' : ''}\r\n${body}`,
  );
}
