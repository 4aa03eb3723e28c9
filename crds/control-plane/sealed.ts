// The sealed config stream (README.md, section 3): the config stream on a plain TCP connection whose every byte
// is sealed with AES-256-GCM under keys both ends export from an mTLS session (RFC 8446 7.5 / RFC 5705 keying
// material exporters). Why: a held TLS connection costs a Node server about 85 KB of native memory for its life
// (OpenSSL's state and TLSWrap's record buffers), a held plain socket 4-16 KB; the operator holds one stream
// per proxy. The mTLS request that issues the ticket authenticates both ends and decides what the stream carries;
// the sealing keeps what TLS gave the stream: confidentiality, integrity, order, and no replay.
//
// Wire format, both directions: frames of `u32 length (big-endian)` then `length` bytes of ciphertext and its
// 16-byte tag. Nonce: 4 zero bytes, then the frame's number in its direction (u64, big-endian, from 0). Keys:
// HKDF-SHA256 of the 64 bytes the TLS session exports with label SEALED_EXPORTER_LABEL (no context), salted with
// the ticket, info SEALED_KEY_INFO, 64 bytes: 0-31 seal what the server sends, 32-63 what the client sends.
// (The ticket salts the derivation instead of being the exporter's context because the client learns it from
// the response body, when its TLS socket may already be gone; it exports as the response begins.)
// The server speaks first, once: SEALED_MAGIC and a 16-byte random challenge (SERVER_HELLO_BYTES). The client
// answers with a 60-byte hello: SEALED_MAGIC, the 16-byte ticket, and its frame 0 whose plaintext is the
// challenge. The tag proves it holds the keys, and the challenge ties the proof to this connection: a hello seen
// on the wire and copied onto another connection fails there, so it cannot spend the ticket.
// After that only the server sends. Pure functions over node:crypto; the operator and the proxy both use them.
import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, type KeyObject } from 'node:crypto';

export const SEALED_MAGIC = Buffer.from('WEFTCS01', 'latin1');
export const TICKET_BYTES = 16;
export const SEALED_EXPORTER_LABEL = 'EXPORTER-weft-config-stream';
/** Bytes of keying material to export from the TLS session. */
export const SEALED_KEY_MATERIAL_BYTES = 64;
export const SEALED_KEY_INFO = 'weft config stream v1';
export const TAG_BYTES = 16;
const HEADER_BYTES = 4;
/** The most plaintext one frame carries. A reader refuses longer frames before buffering them. */
export const MAX_FRAME_PLAINTEXT = 64 * 1024;
export const CHALLENGE_BYTES = 16;
/** The server's first bytes: magic, then the challenge. */
export const SERVER_HELLO_BYTES = SEALED_MAGIC.length + CHALLENGE_BYTES;
/** The client's hello: magic, ticket, then frame 0 (length header, the challenge sealed, tag). */
export const HELLO_BYTES = SEALED_MAGIC.length + TICKET_BYTES + HEADER_BYTES + CHALLENGE_BYTES + TAG_BYTES;

export class SealedStreamError extends Error {
  override name = 'SealedStreamError';
}

export interface StreamKeys {
  serverToClient: Buffer;
  clientToServer: Buffer;
}

/** What both ends export from their TLS session (a TLSSocket), the input of streamKeys. An empty context. */
export function exportSealedMaterial(socket: {
  exportKeyingMaterial(length: number, label: string, context: Buffer): Buffer;
}): Buffer {
  return socket.exportKeyingMaterial(SEALED_KEY_MATERIAL_BYTES, SEALED_EXPORTER_LABEL, Buffer.alloc(0));
}

/** The two directions' keys for a ticket, from the keying material its TLS session exported. */
export function streamKeys(exported: Buffer, ticket: Buffer): StreamKeys {
  if (exported.length !== SEALED_KEY_MATERIAL_BYTES)
    throw new SealedStreamError(`keying material must be ${SEALED_KEY_MATERIAL_BYTES} bytes`);
  if (ticket.length !== TICKET_BYTES) throw new SealedStreamError(`a ticket is ${TICKET_BYTES} bytes`);
  const okm = Buffer.from(hkdfSync('sha256', exported, ticket, SEALED_KEY_INFO, 64));
  return { serverToClient: okm.subarray(0, 32), clientToServer: okm.subarray(32, 64) };
}

function nonce(counter: bigint): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeBigUInt64BE(counter, 4);
  return iv;
}

/**
 * The key as a KeyObject, made once per direction: given a Buffer, createCipheriv makes one for every call, which
 * cost more than the encryption itself (operator/bench/seal.bench.ts).
 */
const keyObject = (key: Buffer): KeyObject => createSecretKey(key);

/** Seals one direction: each call is the next frame. */
export class FrameSealer {
  readonly #key: KeyObject;
  #counter = 0n;

  constructor(key: Buffer) {
    this.#key = keyObject(key);
  }

  /** One frame, header included, for up to MAX_FRAME_PLAINTEXT bytes of plaintext. */
  seal(plaintext: Buffer | string): Buffer {
    const data = typeof plaintext === 'string' ? Buffer.from(plaintext) : plaintext;
    if (data.length > MAX_FRAME_PLAINTEXT)
      throw new SealedStreamError(`a frame carries at most ${MAX_FRAME_PLAINTEXT} bytes`);
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce(this.#counter++));
    const out = Buffer.allocUnsafe(HEADER_BYTES + data.length + TAG_BYTES);
    out.writeUInt32BE(data.length + TAG_BYTES, 0);
    const n = cipher.update(data).copy(out, HEADER_BYTES);
    cipher.final();
    cipher.getAuthTag().copy(out, HEADER_BYTES + n);
    return out;
  }
}

/** Opens one direction's frames from a byte stream: push what arrives, get the plaintexts of whole frames. */
export class FrameOpener {
  readonly #key: KeyObject;
  #counter = 0n;
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  constructor(key: Buffer) {
    this.#key = keyObject(key);
  }

  /** Plaintexts of the frames completed by this chunk; throws SealedStreamError on a bad or oversized frame. */
  push(chunk: Buffer): Buffer[] {
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    const out: Buffer[] = [];
    while (this.#pendingBytes >= HEADER_BYTES) {
      const head = this.#gather(HEADER_BYTES);
      const length = head.readUInt32BE(0);
      if (length < TAG_BYTES || length > MAX_FRAME_PLAINTEXT + TAG_BYTES)
        throw new SealedStreamError(
          `frame of ${length} bytes: a frame is ${TAG_BYTES} to ${MAX_FRAME_PLAINTEXT + TAG_BYTES} bytes`,
        );
      if (this.#pendingBytes < HEADER_BYTES + length) break;
      const frame = this.#take(HEADER_BYTES + length).subarray(HEADER_BYTES);
      out.push(this.#open(frame));
    }
    return out;
  }

  #open(frame: Buffer): Buffer {
    const decipher = createDecipheriv('aes-256-gcm', this.#key, nonce(this.#counter++));
    decipher.setAuthTag(frame.subarray(frame.length - TAG_BYTES));
    const plain = decipher.update(frame.subarray(0, frame.length - TAG_BYTES));
    try {
      decipher.final();
    } catch {
      throw new SealedStreamError('frame failed authentication (wrong key, altered, reordered or replayed)');
    }
    return plain;
  }

  /** The first n pending bytes as one buffer, left pending (concatenated once when split over chunks). */
  #gather(n: number): Buffer {
    const first = this.#pending[0]!;
    if (first.length >= n) return first;
    const all = Buffer.concat(this.#pending);
    this.#pending = [all];
    return all;
  }

  #take(n: number): Buffer {
    const all = this.#gather(n);
    const rest = all.subarray(n);
    this.#pending = rest.length > 0 ? [rest] : [];
    this.#pendingBytes -= n;
    return all.subarray(0, n);
  }
}

/** The server's first bytes for a challenge (CHALLENGE_BYTES of randomness, a new one per connection). */
export function serverHello(challenge: Buffer): Buffer {
  if (challenge.length !== CHALLENGE_BYTES)
    throw new SealedStreamError(`a challenge is ${CHALLENGE_BYTES} bytes`);
  return Buffer.concat([SEALED_MAGIC, challenge]);
}

/** The challenge in the server's first SERVER_HELLO_BYTES bytes, or an error saying what is wrong with them. */
export function challengeOf(hello: Buffer): Buffer {
  if (hello.length !== SERVER_HELLO_BYTES || !hello.subarray(0, SEALED_MAGIC.length).equals(SEALED_MAGIC))
    throw new SealedStreamError(
      `the server did not open with ${SEALED_MAGIC.toString('latin1')}: not a sealed config stream`,
    );
  return hello.subarray(SEALED_MAGIC.length);
}

/** The client's hello for a ticket (TICKET_BYTES), the keys derived for it, and the server's challenge. */
export function helloFor(ticket: Buffer, keys: StreamKeys, challenge: Buffer): Buffer {
  if (ticket.length !== TICKET_BYTES) throw new SealedStreamError(`a ticket is ${TICKET_BYTES} bytes`);
  if (challenge.length !== CHALLENGE_BYTES)
    throw new SealedStreamError(`a challenge is ${CHALLENGE_BYTES} bytes`);
  return Buffer.concat([SEALED_MAGIC, ticket, new FrameSealer(keys.clientToServer).seal(challenge)]);
}

/** The ticket a hello names, or an error saying what is wrong with it (before any key is known). */
export function helloTicket(hello: Buffer): Buffer {
  if (hello.length !== HELLO_BYTES) throw new SealedStreamError(`a hello is ${HELLO_BYTES} bytes`);
  if (!hello.subarray(0, SEALED_MAGIC.length).equals(SEALED_MAGIC))
    throw new SealedStreamError(`a hello starts with ${SEALED_MAGIC.toString('latin1')}`);
  return hello.subarray(SEALED_MAGIC.length, SEALED_MAGIC.length + TICKET_BYTES);
}

/** True when the hello's frame 0 is this connection's challenge sealed with the ticket's client-to-server key. */
export function helloAuthentic(hello: Buffer, keys: StreamKeys, challenge: Buffer): boolean {
  try {
    const opened = new FrameOpener(keys.clientToServer).push(
      hello.subarray(SEALED_MAGIC.length + TICKET_BYTES),
    );
    return opened.length === 1 && opened[0]!.equals(challenge);
  } catch {
    return false;
  }
}

/**
 * The client's side once it has its ticket: push what the server sends. The server's first bytes are its
 * challenge, answered once through `send` with the hello; after that, push returns the plaintexts of the frames.
 */
export class SealedClient {
  readonly #ticket: Buffer;
  readonly #keys: StreamKeys;
  readonly #send: (hello: Buffer) => void;
  #greeting: Buffer | null = Buffer.alloc(0);
  readonly #opener: FrameOpener;

  constructor(ticket: Buffer, keys: StreamKeys, send: (hello: Buffer) => void) {
    this.#ticket = ticket;
    this.#keys = keys;
    this.#send = send;
    this.#opener = new FrameOpener(keys.serverToClient);
  }

  /** The server's challenge has arrived and been answered. */
  get greeted(): boolean {
    return this.#greeting === null;
  }

  push(chunk: Buffer): Buffer[] {
    if (this.#greeting === null) return this.#opener.push(chunk);
    const all = Buffer.concat([this.#greeting, chunk]);
    if (all.length < SERVER_HELLO_BYTES) {
      this.#greeting = all;
      return [];
    }
    const challenge = challengeOf(all.subarray(0, SERVER_HELLO_BYTES));
    this.#greeting = null;
    this.#send(helloFor(this.#ticket, this.#keys, challenge));
    const rest = all.subarray(SERVER_HELLO_BYTES);
    return rest.length > 0 ? this.#opener.push(rest) : [];
  }
}
