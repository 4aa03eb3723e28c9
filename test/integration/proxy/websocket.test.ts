// WebSockets through the proxy: Node's own WebSocket client and an RFC 6455 echo server written here (the
// handshake with Sec-WebSocket-Accept, masked client frames, text and binary messages, ping, and the close
// handshake), through one outbound proxy to a plaintext app and through an mTLS pair of proxies (client proxy
// -> mTLS -> server proxy -> app). Messages go both ways byte-exact, up to a 1 MiB binary one; a close with
// code 1000 started by either end reaches the other; the upgrade is counted once.

import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import {
  listenLoopback,
  makePki,
  metricValue,
  PAIR_CLIENT,
  type Pki,
  type ProxyProcess,
  proxyConfig,
  removeTmpDirs,
  scrape,
  startMeshPair,
  startProxyProcess,
  waitFor,
} from './harness.ts';

const CLIENT = PAIR_CLIENT;
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** What the server sends first, in the same write as its 101 head. */
const WELCOME = 'welcome';

interface Message {
  readonly binary: boolean;
  readonly data: Buffer;
}

/** The server's side of one WebSocket connection: what it received, and how its close went. */
class ServerConn {
  readonly received: Message[] = [];
  /** Violations of RFC 6455 by the client's frames (unmasked, reserved bits, unknown opcodes). */
  readonly protocolErrors: string[] = [];
  /** The client's close frame: its code (1005 when it carried none) and reason. */
  closeFrame: { code: number; reason: string } | null = null;
  /** Whether the TCP connection closed, and whether with an error (a reset) rather than an orderly end. */
  socketClosed: { hadError: boolean } | null = null;
  private readonly socket: net.Socket;
  private sentClose = false;
  private buf: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragmentBinary = false;
  private readonly closedWaiters: (() => void)[] = [];

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', () => undefined);
    socket.on('close', (hadError: boolean) => {
      this.socketClosed = { hadError };
      for (const w of this.closedWaiters.splice(0)) w();
    });
  }

  /** Resolves once the TCP connection has closed. */
  closed(): Promise<void> {
    if (this.socketClosed !== null) return Promise.resolve();
    return new Promise((r) => this.closedWaiters.push(r));
  }

  /** Starts the close handshake from the server's side. */
  close(code: number, reason: string): void {
    this.sentClose = true;
    this.socket.write(frame(0x8, closePayload(code, reason)));
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    for (;;) {
      const f = parseFrame(this.buf);
      if (f === null) return;
      this.buf = this.buf.subarray(f.size);
      if (!f.masked) this.protocolErrors.push('unmasked client frame');
      if (f.rsv !== 0) this.protocolErrors.push(`reserved bits ${f.rsv}`);
      this.onFrame(f.fin, f.opcode, f.payload);
    }
  }

  private onFrame(fin: boolean, opcode: number, payload: Buffer): void {
    switch (opcode) {
      case 0x0: // continuation
      case 0x1: // text
      case 0x2: // binary
        if (opcode !== 0x0) {
          this.fragments = [];
          this.fragmentBinary = opcode === 0x2;
        }
        this.fragments.push(payload);
        if (fin) {
          const message = { binary: this.fragmentBinary, data: Buffer.concat(this.fragments) };
          this.fragments = [];
          this.received.push(message);
          // The echo: the same message, same kind, back to the client.
          if (!this.sentClose) this.socket.write(frame(message.binary ? 0x2 : 0x1, message.data));
        }
        return;
      case 0x8: {
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        this.closeFrame = { code, reason: payload.subarray(2).toString('utf8') };
        // Answers a close it did not start with the same code; either way the server then ends the TCP
        // connection (RFC 6455 5.5.1: the server closes it first).
        if (!this.sentClose) {
          this.sentClose = true;
          this.socket.write(frame(0x8, payload.subarray(0, 2)));
        }
        this.socket.end();
        return;
      }
      case 0x9: // ping
        this.socket.write(frame(0xa, payload));
        return;
      case 0xa: // pong
        return;
      default:
        this.protocolErrors.push(`opcode ${opcode}`);
    }
  }
}

function parseFrame(
  b: Buffer,
): { fin: boolean; rsv: number; opcode: number; masked: boolean; payload: Buffer; size: number } | null {
  if (b.length < 2) return null;
  let len = b[1]! & 0x7f;
  let at = 2;
  if (len === 126) {
    if (b.length < 4) return null;
    len = b.readUInt16BE(2);
    at = 4;
  } else if (len === 127) {
    if (b.length < 10) return null;
    len = Number(b.readBigUInt64BE(2));
    at = 10;
  }
  const masked = (b[1]! & 0x80) !== 0;
  const mask = masked ? b.subarray(at, at + 4) : null;
  if (masked) at += 4;
  if (b.length < at + len) return null;
  const payload = Buffer.from(b.subarray(at, at + len));
  if (mask !== null) for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
  return {
    fin: (b[0]! & 0x80) !== 0,
    rsv: (b[0]! >> 4) & 0x7,
    opcode: b[0]! & 0x0f,
    masked,
    payload,
    size: at + len,
  };
}

/** An unmasked (server) frame, FIN set. */
function frame(opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? Buffer.alloc(2) : n < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  head[0] = 0x80 | opcode;
  if (n < 126) head[1] = n;
  else if (n < 65536) {
    head[1] = 126;
    head.writeUInt16BE(n, 2);
  } else {
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, payload]);
}

function closePayload(code: number, reason: string): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code);
  return Buffer.concat([b, Buffer.from(reason)]);
}

/** The echo server. Connections are filed under the last segment of their path (/ws/<id>). */
let wsServer: http.Server;
let wsPort: number;
const conns = new Map<string, ServerConn>();
/** Upgrade requests refused by the server's handshake checks, with the reason. */
const badHandshakes: string[] = [];

function startWsServer(): Promise<number> {
  wsServer = http.createServer((_req, res) => res.writeHead(426).end('upgrade required'));
  wsServer.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', () => undefined);
    const key = req.headers['sec-websocket-key'];
    const problem =
      req.headers.upgrade?.toLowerCase() !== 'websocket'
        ? `upgrade: ${req.headers.upgrade}`
        : req.headers['sec-websocket-version'] !== '13'
          ? `version: ${req.headers['sec-websocket-version']}`
          : typeof key !== 'string' || Buffer.from(key, 'base64').length !== 16
            ? `key: ${key}`
            : null;
    if (problem !== null) {
      badHandshakes.push(problem);
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const accept = createHash('sha1').update(`${key}${WS_GUID}`).digest('base64');
    const conn = new ServerConn(socket);
    conns.set(req.url!.split('/').pop()!, conn);
    // No extension is accepted (the client offers permessage-deflate): frames go uncompressed.
    socket.write(
      Buffer.concat([
        Buffer.from(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
        ),
        frame(0x1, Buffer.from(WELCOME)),
      ]),
    );
    if (head.length > 0) socket.emit('data', head);
  });
  return listenLoopback(wsServer);
}

/** A client WebSocket with its messages queued, and its close event. */
interface Client {
  readonly ws: WebSocket;
  next(): Promise<Message>;
  readonly closed: Promise<{ code: number; reason: string; wasClean: boolean }>;
}

async function openClient(port: number, id: string): Promise<Client> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/${id}`);
  ws.binaryType = 'arraybuffer';
  const queue: Message[] = [];
  const waiters: ((m: Message) => void)[] = [];
  ws.addEventListener('message', (ev: MessageEvent) => {
    const m =
      typeof ev.data === 'string'
        ? { binary: false, data: Buffer.from(ev.data) }
        : { binary: true, data: Buffer.from(ev.data as ArrayBuffer) };
    const w = waiters.shift();
    if (w !== undefined) w(m);
    else queue.push(m);
  });
  const closed = new Promise<{ code: number; reason: string; wasClean: boolean }>((resolve) =>
    ws.addEventListener('close', (ev: CloseEvent) =>
      resolve({ code: ev.code, reason: ev.reason, wasClean: ev.wasClean }),
    ),
  );
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve());
    ws.addEventListener('error', () => reject(new Error(`WebSocket ${id}: handshake failed`)));
  });
  return {
    ws,
    closed,
    next: () => {
      const m = queue.shift();
      return m !== undefined ? Promise.resolve(m) : new Promise((r) => waiters.push(r));
    },
  };
}

let pki: Pki;
let plain: ProxyProcess;
let client: ProxyProcess;
let server: ProxyProcess;

beforeAll(async () => {
  wsPort = await startWsServer();
  pki = makePki();
  // One outbound proxy, plaintext to the app.
  plain = await startProxyProcess({
    config: proxyConfig({
      version: 'p1',
      sa: 'client',
      trustAnchors: [],
      services: [
        {
          name: 'ws',
          clusterIP: '10.96.0.31',
          port: 80,
          endpoints: [{ address: '127.0.0.1', port: wsPort, identity: null }],
        },
      ],
    }),
    outboundDst: '10.96.0.31:80',
  });
  // The mTLS pair: the server proxy in front of the app, the client proxy sending the service to it.
  ({ server, client } = await startMeshPair({
    pki,
    appPort: wsPort,
    service: { name: 'ws', clusterIP: '10.96.0.30', port: 80 },
  }));
}, 60_000);

afterAll(async () => {
  await Promise.all([plain?.stop(), client?.stop(), server?.stop()]);
  wsServer?.closeAllConnections();
  await new Promise((r) => wsServer?.close(r));
  pki?.cleanup();
  removeTmpDirs();
}, 30_000);

/** A MiB and a few bytes more (an odd length, so that no frame boundary falls on a round number). */
const BIG = randomBytes(1024 * 1024 + 7);

describe.each([
  ['one outbound proxy, plaintext to the app', () => plain.outbound],
  ['the mTLS pair (client proxy -> mTLS -> server proxy -> app)', () => client.outbound],
])('%s', (name, entry) => {
  const id = (what: string) => `${name.startsWith('one') ? 'plain' : 'pair'}-${what}`;

  test('text and binary messages (one of 1 MiB) echo byte-exact both ways; the client closes with 1000 and the server sees it', async () => {
    const c = await openClient(entry(), id('echo'));
    const conn = conns.get(id('echo'))!;
    // The server's first frame came in the same write as its 101 head.
    expect(await c.next()).toEqual({ binary: false, data: Buffer.from(WELCOME) });
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const sent: Message[] = [
      { binary: false, data: Buffer.from('hello') },
      { binary: true, data: all },
      { binary: false, data: Buffer.from('héllo wörld ✓ — '.repeat(300)) },
      { binary: true, data: BIG },
      { binary: false, data: Buffer.from('after the big one') },
    ];
    for (const m of sent) c.ws.send(m.binary ? m.data : m.data.toString('utf8'));
    const echoed: Message[] = [];
    for (let i = 0; i < sent.length; i++) echoed.push(await c.next());
    // Compared as lengths and hashes first (a failure then shows which message, not a MiB of bytes).
    const digest = (ms: Message[]) =>
      ms.map((m) => [m.binary, m.data.length, createHash('sha256').update(m.data).digest('hex')]);
    expect(digest(conn.received)).toEqual(digest(sent));
    expect(digest(echoed)).toEqual(digest(sent));
    expect(echoed[3]!.data.equals(BIG)).toBe(true);

    c.ws.close(1000, 'client done');
    // The server's answering close carries the code alone.
    expect(await c.closed).toEqual({ code: 1000, reason: '', wasClean: true });
    await conn.closed();
    expect(conn.closeFrame).toEqual({ code: 1000, reason: 'client done' });
    expect(conn.socketClosed).toEqual({ hadError: false });
    expect(conn.protocolErrors).toEqual([]);
    expect(badHandshakes).toEqual([]);
  }, 30_000);

  test('the server closes with 1000: the client sees it, and its answering close reaches the server', async () => {
    const c = await openClient(entry(), id('server-close'));
    const conn = conns.get(id('server-close'))!;
    expect(await c.next()).toEqual({ binary: false, data: Buffer.from(WELCOME) });
    c.ws.send('ping?');
    expect(await c.next()).toEqual({ binary: false, data: Buffer.from('ping?') });
    conn.close(1000, 'server done');
    expect(await c.closed).toEqual({ code: 1000, reason: 'server done', wasClean: true });
    await conn.closed();
    expect(conn.closeFrame?.code).toBe(1000);
    expect(conn.socketClosed).toEqual({ hadError: false });
    expect(conn.protocolErrors).toEqual([]);
  }, 30_000);
});

test('the server proxy counts the upgrade once: one request, one 101, one tunnel opened and closed', async () => {
  const labels = { direction: 'inbound', authority: `app:${wsPort}`, tls: 'true', client_id: CLIENT };
  const v = (text: string, name: string, extra: Record<string, string> = {}) =>
    metricValue(text, name, { ...labels, ...extra }) ?? 0;
  const before = await scrape(server);
  const c = await openClient(client.outbound, 'pair-count');
  expect(await c.next()).toEqual({ binary: false, data: Buffer.from(WELCOME) });
  c.ws.send(BIG);
  expect((await c.next()).data.equals(BIG)).toBe(true);
  const open = await scrape(server);
  expect(v(open, 'request_total') - v(before, 'request_total')).toBe(1);
  expect(
    v(open, 'response_total', { status_code: '101' }) - v(before, 'response_total', { status_code: '101' }),
  ).toBe(1);
  expect(v(open, 'tcp_open_total') - v(before, 'tcp_open_total')).toBe(1);
  c.ws.close(1000);
  expect((await c.closed).code).toBe(1000);
  const after = await waitFor('the tunnel to be counted closed', async () => {
    const t = await scrape(server);
    return v(t, 'tcp_close_total') - v(before, 'tcp_close_total') === 1 ? t : undefined;
  });
  // Still the one request: neither the messages nor the close made more.
  expect(v(after, 'request_total') - v(before, 'request_total')).toBe(1);
  expect(v(after, 'response_total') - v(before, 'response_total')).toBe(1);
  expect(v(after, 'tcp_open_total') - v(before, 'tcp_open_total')).toBe(1);
  // The tunnel's bytes: at least the MiB each way (frames, past the upgrade request and the 101 head).
  expect(v(after, 'tcp_read_bytes_total') - v(before, 'tcp_read_bytes_total')).toBeGreaterThan(BIG.length);
  expect(v(after, 'tcp_write_bytes_total') - v(before, 'tcp_write_bytes_total')).toBeGreaterThan(BIG.length);
}, 30_000);
