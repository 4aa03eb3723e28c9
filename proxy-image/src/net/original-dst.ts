// The original destination of a connection that iptables redirected to the proxy, via the
// SO_ORIGINAL_DST N-API addon (proxy-image/native). Node has no API for it.
import type { Socket } from 'node:net';
import { loadNativeAddon } from '../native.ts';

export interface OriginalDestination {
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
}

/** The file descriptor of a connected TCP socket (libuv handle; Linux only). */
export function socketFd(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new Error('socket has no file descriptor (closed, or not a TCP socket)');
  }
  return fd;
}

/** '::ffff:10.0.0.1' (an IPv4 peer on a dual-stack socket) compares equal to '10.0.0.1'. */
function plainAddress(address: string | undefined): string | undefined {
  return address?.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * The destination the client dialled before a REDIRECT; undefined when the connection was not
 * redirected, which is the explicit, iptables-free mode. Conntrack reports an untranslated
 * connection's own local address, and has no entry at all when conntrack is not loaded.
 */
export function originalDestination(socket: Socket): OriginalDestination | undefined {
  let dst: OriginalDestination;
  try {
    dst = loadNativeAddon().getOriginalDst(socketFd(socket));
  } catch (err) {
    if ((err as { code?: string }).code === 'ERRNO_2') return undefined;
    throw err;
  }
  if (dst.port === socket.localPort && dst.address === plainAddress(socket.localAddress)) return undefined;
  return dst;
}
