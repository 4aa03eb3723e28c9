import { describe, expect, test } from '@jest/globals';
import type { Chunk } from '../compiler/compile.ts';
import { PacedWriter } from './paced.ts';

/** A socket that flushes only when told to: records each piece handed to it. */
class Socket {
  pieces: Chunk[] = [];
  #pending: ((err?: Error | null) => void)[] = [];
  write = (piece: Chunk, done: (err?: Error | null) => void) => {
    this.pieces.push(piece);
    this.#pending.push(done);
  };
  get waiting(): number {
    return this.#pending.length;
  }
  flushAll(max = 1000): void {
    for (let i = 0; i < max && this.#pending.length > 0; i++) this.#pending.shift()!();
  }
  fail(): void {
    this.#pending.shift()!(new Error('EPIPE'));
  }
  get text(): string {
    return this.pieces.map((p) => p.toString()).join('');
  }
}

describe('PacedWriter', () => {
  test('one piece in flight at a time, never larger than the slice; bytes and order preserved', () => {
    const sock = new Socket();
    const w = new PacedWriter(sock.write, 4);
    const big = Buffer.from('0123456789');
    const flushed: string[] = [];
    let drains = 0;
    w.onDrain(() => drains++);
    expect(w.write(['{', big, 'a-long-string\n'], () => flushed.push('m1'))).toBe(false);
    expect(w.write(['ping\n'], () => flushed.push('m2'))).toBe(false);
    expect(sock.waiting).toBe(1);
    sock.flushAll();
    expect(sock.pieces.every((p) => p.length <= 5)).toBe(true);
    expect(sock.text).toBe('{0123456789a-long-string\nping\n');
    expect(flushed).toEqual(['m1', 'm2']);
    expect(drains).toBe(1);
    // The shared Buffer is sliced, not copied.
    expect(sock.pieces.some((p) => Buffer.isBuffer(p) && p.buffer === big.buffer)).toBe(true);
  });

  test('a message that fits one piece with nothing pending is not a push-back', () => {
    const sock = new Socket();
    const w = new PacedWriter(sock.write, 64);
    let flushed = 0;
    expect(w.write(['{"type":"ping"}\n'], () => flushed++)).toBe(true);
    expect(flushed).toBe(0);
    sock.flushAll();
    expect(flushed).toBe(1);
  });

  test('small messages queued behind one in flight travel together as one piece', () => {
    const sock = new Socket();
    const w = new PacedWriter(sock.write, 1024);
    const flushed: number[] = [];
    w.write(['first\n'], () => flushed.push(1));
    for (let i = 2; i <= 4; i++) w.write(['{"type":', `"patch${i}"}\n`], () => flushed.push(i));
    expect(sock.pieces).toEqual(['first\n']);
    sock.flushAll(1);
    expect(flushed).toEqual([1]);
    expect(sock.pieces[1]).toBe('{"type":"patch2"}\n{"type":"patch3"}\n{"type":"patch4"}\n');
    sock.flushAll();
    expect(flushed).toEqual([1, 2, 3, 4]);
  });

  test('a failed socket releases every waiting message and takes no more', () => {
    const sock = new Socket();
    const w = new PacedWriter(sock.write, 2);
    const flushed: string[] = [];
    w.write([Buffer.from('abcdef')], () => flushed.push('a'));
    w.write(['xy'], () => flushed.push('b'));
    sock.fail();
    expect(flushed).toEqual(['a', 'b']);
    expect(w.write(['z'], () => flushed.push('c'))).toBe(true);
    expect(flushed).toEqual(['a', 'b', 'c']);
    expect(sock.pieces).toHaveLength(1);
  });
});
