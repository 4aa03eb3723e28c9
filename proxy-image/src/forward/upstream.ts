// Upstream connections and their per-endpoint pools. A connection keeps one set of socket listeners for
// its whole life and hands events to whichever exchange currently owns it, so reuse costs no listener
// churn. Idle connections are swept by one timer per pool, not one per socket.

import net from 'node:net';
import type tls from 'node:tls';
import { ReadBuffer } from './read-buffer.ts';

/** Where a request or connection goes: an endpoint, plaintext or mTLS to a peer proxy. */
export interface UpstreamTarget {
  /** Pool key: address, port, identity and protocol. */
  readonly key: string;
  readonly address: string;
  readonly port: number;
  /** SPIFFE ID the peer must present; null for plaintext. */
  readonly identity: string | null;
  /** ALPN offered to a peer proxy (says what the tunnel carries); ignored for plaintext. */
  readonly alpn: string;
}

/** Opens mTLS client connections (implemented by the TLS module; a seam so tests and plaintext need none). */
export interface MeshConnector {
  connect(target: UpstreamTarget, timeoutMs: number): tls.TLSSocket;
}

/** What an upstream connection reports to its current owner. */
export interface UpstreamOwner {
  onUpstreamData(conn: UpstreamConn, chunk: Buffer): void;
  onUpstreamEnd(conn: UpstreamConn): void;
  onUpstreamClose(conn: UpstreamConn, error: Error | null): void;
  onUpstreamDrain(conn: UpstreamConn): void;
  onUpstreamConnect(conn: UpstreamConn): void;
  /** An exception escaped one of the handlers above. */
  onBug(err: unknown): void;
}

/** Bytes a plaintext upstream connection reads at most per read (Node's own default read size). */
const READ_BUFFER_BYTES = 65536;

export class UpstreamConn {
  readonly socket: net.Socket;
  readonly target: UpstreamTarget;
  owner: UpstreamOwner | null = null;
  connected = false;
  closed = false;
  /** Requests completed on this connection (0 on a fresh one). */
  uses = 0;
  idleSince = 0;
  error: Error | null = null;
  private readonly pool: UpstreamPool;
  private readonly reads: ReadBuffer | null;

  constructor(
    socket: net.Socket,
    target: UpstreamTarget,
    pool: UpstreamPool,
    secure: boolean,
    reads: ReadBuffer | null = null,
  ) {
    this.socket = socket;
    this.target = target;
    this.pool = pool;
    this.reads = reads;
    socket.setNoDelay(true);
    socket.on(secure ? 'secureConnect' : 'connect', () => {
      this.connected = true;
      socket.setTimeout(0);
      this.guard(() => this.owner?.onUpstreamConnect(this));
    });
    const onData = (chunk: Buffer) => {
      const owner = this.owner;
      if (owner === null) {
        socket.destroy(); // an idle connection must not speak
        return;
      }
      try {
        owner.onUpstreamData(this, chunk);
      } catch (err) {
        socket.destroy();
        owner.onBug(err);
      }
    };
    if (reads !== null) reads.onData = onData;
    else socket.on('data', onData);
    socket.on('end', () => {
      if (this.owner !== null) this.guard(() => this.owner?.onUpstreamEnd(this));
      else socket.destroy();
    });
    socket.on('drain', () => this.owner?.onUpstreamDrain(this));
    socket.on('timeout', () => socket.destroy(new UpstreamError('connect-timeout', 'connect timed out')));
    socket.on('error', (err: Error) => {
      this.error ??= err;
    });
    socket.on('close', () => {
      this.closed = true;
      this.pool.forget(this);
      const owner = this.owner;
      this.owner = null;
      if (owner !== null) {
        try {
          owner.onUpstreamClose(this, this.error);
        } catch (err) {
          owner.onBug(err);
        }
      }
    });
  }

  private guard(fn: () => void): void {
    const owner = this.owner;
    try {
      fn();
    } catch (err) {
      this.socket.destroy();
      owner?.onBug(err);
    }
  }

  /**
   * Whether chunks given to onUpstreamData are views of a read buffer that the next read overwrites
   * (see pinReadBuffer); otherwise they are fresh Buffers the owner may keep.
   */
  get reusesReadBuffer(): boolean {
    return this.reads !== null;
  }

  /** A view of the last chunk stays referenced (a queued write): the next read goes to a new buffer. */
  pinReadBuffer(): void {
    this.reads?.pin();
  }

  /** Ends ownership without reuse. */
  destroy(): void {
    this.owner = null;
    this.socket.destroy();
  }
}

export type UpstreamErrorCode = 'connect-timeout' | 'identity-mismatch';

/**
 * Whether a connection failed because the peer proxy presented another identity than the endpoint's: the mesh
 * connector's error itself (HTTP/1, opaque TCP), or the cause of an HTTP/2 stream cancelled by it.
 */
export function isIdentityMismatch(err: unknown): boolean {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null | undefined;
  return e?.code === 'identity-mismatch' || e?.cause?.code === 'identity-mismatch';
}

export class UpstreamError extends Error {
  readonly code: UpstreamErrorCode;
  constructor(code: UpstreamErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export interface PoolSettings {
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  /** Idle connections kept per endpoint. */
  maxIdlePerKey: number;
}

/** Keep-alive pools of upstream connections, keyed by UpstreamTarget.key. */
export class UpstreamPool {
  private readonly idle = new Map<string, UpstreamConn[]>();
  private readonly all = new Set<UpstreamConn>();
  private settings: PoolSettings;
  private readonly mesh: MeshConnector | null;
  private readonly sweeper: NodeJS.Timeout;

  constructor(settings: PoolSettings, mesh: MeshConnector | null) {
    this.settings = settings;
    this.mesh = mesh;
    this.sweeper = setInterval(() => this.sweep(), Math.max(250, Math.min(5000, settings.idleTimeoutMs / 2)));
    this.sweeper.unref();
  }

  updateSettings(settings: PoolSettings): void {
    this.settings = settings;
  }

  /** An idle connection to target, now owned by owner, or null. */
  takeIdle(target: UpstreamTarget, owner: UpstreamOwner): UpstreamConn | null {
    const list = this.idle.get(target.key);
    while (list !== undefined && list.length > 0) {
      const conn = list.pop()!;
      if (conn.closed || conn.socket.destroyed) continue;
      conn.owner = owner;
      return conn;
    }
    return null;
  }

  /** Opens a new connection owned by owner; owner.onUpstreamConnect or onUpstreamClose follows. */
  connect(target: UpstreamTarget, owner: UpstreamOwner): UpstreamConn {
    let socket: net.Socket;
    let reads: ReadBuffer | null = null;
    const secure = target.identity !== null;
    if (secure) {
      if (this.mesh === null) throw new Error(`no mTLS connector for ${target.key}`);
      socket = this.mesh.connect(target, this.settings.connectTimeoutMs);
    } else {
      reads = new ReadBuffer(READ_BUFFER_BYTES);
      // Half-open, as mesh TLS connections are: an upgraded tunnel carries one side's end to the other while
      // the other may still send (without it, the app's end also ended what the client sent after it).
      socket = net.connect({
        host: target.address,
        port: target.port,
        onread: reads.options,
        allowHalfOpen: true,
      });
    }
    socket.setTimeout(this.settings.connectTimeoutMs);
    const conn = new UpstreamConn(socket, target, this, secure, reads);
    conn.owner = owner;
    this.all.add(conn);
    return conn;
  }

  /** Returns a connection whose exchange completed cleanly. */
  release(conn: UpstreamConn): void {
    conn.owner = null;
    conn.uses++;
    if (conn.closed) return;
    let list = this.idle.get(conn.target.key);
    if (list === undefined) {
      list = [];
      this.idle.set(conn.target.key, list);
    }
    if (list.length >= this.settings.maxIdlePerKey) {
      conn.socket.destroy();
      return;
    }
    conn.idleSince = performance.now();
    if (conn.socket.isPaused()) conn.socket.resume();
    list.push(conn);
  }

  forget(conn: UpstreamConn): void {
    this.all.delete(conn);
  }

  /** Connections open now (idle and busy). */
  get size(): number {
    return this.all.size;
  }

  idleCount(): number {
    let n = 0;
    for (const list of this.idle.values()) n += list.length;
    return n;
  }

  private sweep(): void {
    const cutoff = performance.now() - this.settings.idleTimeoutMs;
    for (const [key, list] of this.idle) {
      const keep = list.filter((c) => {
        if (c.closed) return false;
        if (c.idleSince < cutoff) {
          c.socket.destroy();
          return false;
        }
        return true;
      });
      if (keep.length === 0) this.idle.delete(key);
      else this.idle.set(key, keep);
    }
  }

  /** Closes idle connections (drain) or all of them. */
  close(all: boolean): void {
    for (const list of this.idle.values()) for (const c of list) c.socket.destroy();
    this.idle.clear();
    if (all) for (const c of this.all) c.socket.destroy();
    if (all) clearInterval(this.sweeper);
  }
}
