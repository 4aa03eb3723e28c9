import { Duplex } from 'node:stream';
import { connect } from 'node:tls';
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { type Detection, detectProtocol, MAX_DETECT_BYTES } from './detect.ts';

/** The ClientHello Node's TLS client sends, captured from an in-memory stream (no socket). */
async function clientHello(servername: string | undefined, alpn: string[] | undefined): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sink = new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk);
        cb();
        resolve(Buffer.concat(chunks));
        setImmediate(() => tls.destroy());
      },
    });
    const tls = connect({ socket: sink, servername, ALPNProtocols: alpn, rejectUnauthorized: false });
    tls.on('error', () => {});
    setTimeout(() => reject(new Error('no ClientHello')), 2000).unref();
  });
}

const protocolOf = (d: Detection) => (d.kind === 'decided' ? d.protocol : 'need-more');
const bytes = (s: string) => Buffer.from(s, 'latin1');

describe('detectProtocol', () => {
  test('HTTP/1 request lines, every prefix asks for more', () => {
    for (const line of [
      'GET / HTTP/1.1\r\n',
      'POST /api/v1?x=1 HTTP/1.0\r\n',
      'OPTIONS * HTTP/1.1\n',
      'M-SEARCH * HTTP/1.1\r\n',
    ]) {
      const b = bytes(`${line}Host: x\r\n\r\n`);
      expect(protocolOf(detectProtocol(b))).toBe('http1');
      for (let k = 0; k < line.length - 1; k++)
        expect(protocolOf(detectProtocol(b.subarray(0, k)))).toBe('need-more');
    }
  });

  test('HTTP/2 prior knowledge preface', () => {
    const preface = bytes('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04');
    expect(protocolOf(detectProtocol(preface))).toBe('h2');
    for (let k = 0; k < 24; k++) expect(protocolOf(detectProtocol(preface.subarray(0, k)))).toBe('need-more');
  });

  test('opaque: binary, server-first banners, lookalikes', () => {
    for (const s of [
      '\x00\x00\x00\x08\x04\xd2\x16\x2f',
      '*1\r\n$4\r\nPING\r\n',
      'GET key\r\n',
      'GET / HTTP/2.0\r\n',
      'SSH-2.0-OpenSSH_9 x\r\n',
      ' GET / HTTP/1.1\r\n',
      'GET  / HTTP/1.1\r\n',
      'GET / HTTP/1.1\r\r',
    ]) {
      expect(protocolOf(detectProtocol(bytes(s)))).toBe('opaque');
    }
    expect(protocolOf(detectProtocol(bytes('\x16\x02')))).toBe('opaque');
    expect(protocolOf(detectProtocol(bytes('\x16\x03\x01\x00\x05\x02')))).toBe('opaque'); // not a ClientHello
  });

  test('a very long request target is still HTTP/1 (the codec answers 414)', () => {
    expect(protocolOf(detectProtocol(bytes(`GET /${'a'.repeat(9000)}`)))).toBe('http1');
  });

  test('TLS ClientHello: SNI and ALPN parsed; every prefix asks for more', async () => {
    const hello = await clientHello('Checkout.Shop.svc.cluster.local', ['weft.mesh/1', 'h2', 'http/1.1']);
    const d = detectProtocol(hello);
    expect(d).toEqual({
      kind: 'decided',
      protocol: 'tls',
      hello: { serverName: 'checkout.shop.svc.cluster.local', alpn: ['weft.mesh/1', 'h2', 'http/1.1'] },
    });
    for (let k = 0; k < hello.length; k += 7)
      expect(protocolOf(detectProtocol(hello.subarray(0, k)))).toBe('need-more');
    const bare = await clientHello(undefined, undefined);
    expect(detectProtocol(bare)).toMatchObject({ protocol: 'tls', hello: { serverName: null, alpn: [] } });
  });

  test('random input: never throws, decides within MAX_DETECT_BYTES, decisions are stable', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 50 }), (a, more) => {
        const d = detectProtocol(a);
        if (d.kind === 'decided') {
          const joined = new Uint8Array(a.length + more.length);
          joined.set(a);
          joined.set(more, a.length);
          expect(protocolOf(detectProtocol(joined))).toBe(d.protocol);
        }
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.constantFrom(0x16, 0x47, 0x50), fc.integer({ min: 0, max: 255 }), (first, fill) => {
        const b = new Uint8Array(MAX_DETECT_BYTES).fill(fill);
        b[0] = first;
        if (first === 0x16) {
          b[1] = 3;
          b[2] = 1;
          b[3] = 0x41;
          b[4] = 0xff;
          b[5] = 1;
        }
        expect(detectProtocol(b).kind).toBe('decided');
      }),
    );
  });

  test('mutated ClientHellos never throw', async () => {
    const hello = await clientHello('a.example', ['h2']);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(hello.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        (edits) => {
          const b = Buffer.from(hello);
          for (const [i, v] of edits) b[i] = v;
          detectProtocol(b);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
