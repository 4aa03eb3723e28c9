import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { detectProtocol } from './detect.ts';

/** The ClientHello Node sends with these ALPN protocols, captured from an in-memory stream. */
function clientHello(alpn: string[]): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const stream = new Duplex({
      read() {},
      write(chunk, _e, cb) {
        chunks.push(chunk);
        cb();
        resolve(Buffer.concat(chunks));
      },
    });
    const s = tls.connect({ socket: stream, ALPNProtocols: alpn, rejectUnauthorized: false });
    s.on('error', () => undefined);
    setTimeout(() => s.destroy(), 50);
  });
}

describe('detectProtocol', () => {
  test('HTTP/1 request lines, at any prefix length', () => {
    const line = Buffer.from('GET / HTTP/1.1\r\n');
    for (let i = 1; i < 4; i++) expect(detectProtocol(line.subarray(0, i))).toBe('need-more');
    expect(detectProtocol(line)).toBe('http1');
    expect(detectProtocol(Buffer.from('PROPFIND /x HTTP/1.1\r\n'))).toBe('http1');
  });

  test('HTTP/2 prior knowledge preface', () => {
    const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    expect(detectProtocol(preface.subarray(0, 10))).toBe('need-more');
    expect(detectProtocol(preface)).toBe('http2');
  });

  test('TLS ClientHello: mesh ALPN or not', async () => {
    const mesh = await clientHello(['weft.http1']);
    expect(detectProtocol(mesh)).toBe('mesh-tls');
    expect(detectProtocol(mesh.subarray(0, 20))).toBe('need-more');
    expect(detectProtocol(await clientHello(['h2', 'http/1.1']))).toBe('tls');
  });

  test('binary and server-first traffic is opaque', () => {
    expect(detectProtocol(Buffer.from([0, 1, 2, 3]))).toBe('opaque');
    expect(detectProtocol(Buffer.from('*1\r\n$4\r\nPING\r\n'))).toBe('opaque');
  });

  test('never throws, and is stable once decided', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.uint8Array({ maxLength: 50 }), (a, b) => {
        const first = detectProtocol(Buffer.from(a));
        if (first !== 'need-more' && first !== 'tls' && first !== 'mesh-tls') {
          expect(detectProtocol(Buffer.concat([Buffer.from(a), Buffer.from(b)]))).toBe(first);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
