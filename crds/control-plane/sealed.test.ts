import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import {
  challengeOf,
  FrameOpener,
  FrameSealer,
  HELLO_BYTES,
  helloAuthentic,
  helloFor,
  helloTicket,
  MAX_FRAME_PLAINTEXT,
  SealedClient,
  SealedStreamError,
  serverHello,
  streamKeys,
} from './sealed.ts';

const keys = () => streamKeys(randomBytes(64), randomBytes(16));

describe('sealed config stream frames', () => {
  it('carries bytes in order, whatever the chunking on the wire', () => {
    const k = keys();
    const sealer = new FrameSealer(k.serverToClient);
    const messages = ['{"type":"ping"}\n', 'x'.repeat(MAX_FRAME_PLAINTEXT), '', 'é\n'];
    const wire = Buffer.concat(messages.map((m) => sealer.seal(m)));
    for (const step of [1, 3, 7, 4096, wire.length]) {
      const opener = new FrameOpener(k.serverToClient);
      const got: Buffer[] = [];
      for (let i = 0; i < wire.length; i += step) got.push(...opener.push(wire.subarray(i, i + step)));
      expect(got.map((b) => b.toString())).toEqual(messages);
    }
  });

  it('refuses a frame sealed with another key, altered, replayed or reordered', () => {
    const k = keys();
    const sealer = new FrameSealer(k.serverToClient);
    const a = sealer.seal('first');
    const b = sealer.seal('second');
    expect(() => new FrameOpener(k.clientToServer).push(a)).toThrow(/failed authentication/);
    const altered = Buffer.from(a);
    altered[6]! ^= 1;
    expect(() => new FrameOpener(k.serverToClient).push(altered)).toThrow(SealedStreamError);
    const replayed = new FrameOpener(k.serverToClient);
    expect(replayed.push(a).map(String)).toEqual(['first']);
    expect(() => replayed.push(a)).toThrow(/replayed/);
    expect(() => new FrameOpener(k.serverToClient).push(b)).toThrow(/reordered/);
  });

  it('refuses an oversized or undersized length before buffering it', () => {
    const k = keys();
    const big = Buffer.alloc(4);
    big.writeUInt32BE(MAX_FRAME_PLAINTEXT + 17);
    expect(() => new FrameOpener(k.serverToClient).push(big)).toThrow(/frame of 65553 bytes/);
    expect(() => new FrameOpener(k.serverToClient).push(Buffer.from([0, 0, 0, 15]))).toThrow(/frame of 15/);
    expect(() => new FrameSealer(k.serverToClient).seal(Buffer.alloc(MAX_FRAME_PLAINTEXT + 1))).toThrow(
      /at most 65536/,
    );
  });

  it('derives other keys for another ticket or another session, and the same on both ends', () => {
    const exported = randomBytes(64);
    const ticket = randomBytes(16);
    const a = streamKeys(exported, ticket);
    expect(streamKeys(Buffer.from(exported), Buffer.from(ticket))).toEqual(a);
    expect(streamKeys(exported, randomBytes(16)).serverToClient.equals(a.serverToClient)).toBe(false);
    expect(streamKeys(randomBytes(64), ticket).clientToServer.equals(a.clientToServer)).toBe(false);
    expect(a.serverToClient.equals(a.clientToServer)).toBe(false);
    expect(() => streamKeys(exported, randomBytes(15))).toThrow(/16 bytes/);
  });

  it('a hello names its ticket and proves the keys for this connection only', () => {
    const k = keys();
    const ticket = randomBytes(16);
    const challenge = challengeOf(serverHello(randomBytes(16)));
    const hello = helloFor(ticket, k, challenge);
    expect(hello.length).toBe(HELLO_BYTES);
    expect(helloTicket(hello).equals(ticket)).toBe(true);
    expect(helloAuthentic(hello, k, challenge)).toBe(true);
    expect(helloAuthentic(hello, keys(), challenge)).toBe(false);
    // Copied onto another connection, which has another challenge.
    expect(helloAuthentic(hello, k, randomBytes(16))).toBe(false);
    const forged = Buffer.from(hello);
    forged[HELLO_BYTES - 1]! ^= 1;
    expect(helloAuthentic(forged, k, challenge)).toBe(false);
    expect(() => helloTicket(Buffer.concat([Buffer.from('GET / HT'), hello.subarray(8)]))).toThrow(
      /starts with WEFTCS01/,
    );
    expect(() => helloTicket(hello.subarray(1))).toThrow(/60 bytes/);
    expect(() => challengeOf(Buffer.from('HTTP/1.1 400 Bad Request'))).toThrow(/not a sealed config stream/);
  });

  it("the client answers the challenge once, however the server's first bytes are split or joined", () => {
    const k = keys();
    const ticket = randomBytes(16);
    const challenge = randomBytes(16);
    const sealer = new FrameSealer(k.serverToClient);
    const wire = Buffer.concat([
      serverHello(challenge),
      sealer.seal('{"type":"ping"}\n'),
      sealer.seal('x\n'),
    ]);
    for (const step of [1, 5, 24, 30, wire.length]) {
      const hellos: Buffer[] = [];
      const c = new SealedClient(ticket, k, (h) => hellos.push(h));
      const got: string[] = [];
      for (let i = 0; i < wire.length; i += step) got.push(...c.push(wire.subarray(i, i + step)).map(String));
      expect(c.greeted).toBe(true);
      expect(hellos).toHaveLength(1);
      expect(helloAuthentic(hellos[0]!, k, challenge)).toBe(true);
      expect(got.join('')).toBe('{"type":"ping"}\nx\n');
    }
    expect(() =>
      new SealedClient(ticket, k, () => undefined).push(Buffer.from('HTTP/1.1 400 Bad Request\r\n')),
    ).toThrow(/not a sealed config stream/);
  });
});
