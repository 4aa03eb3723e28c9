// Protocol detection from a connection's first bytes: HTTP/1.x request line, HTTP/2 prior-knowledge
// preface, TLS ClientHello (mesh mTLS when it offers a weft.* ALPN), else opaque. Pure and bounded: it
// asks for more bytes only while the answer can still change, and never needs more than one TLS record.

export type Detected = 'http1' | 'http2' | 'mesh-tls' | 'tls' | 'opaque';

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** Longest method we wait for before deciding a connection is not HTTP/1. */
const MAX_METHOD = 24;
/** A ClientHello larger than this is treated as TLS without mesh ALPN. */
const MAX_HELLO = 16 * 1024 + 5;

/** The protocol, or 'need-more' while the bytes so far are a prefix of more than one answer. */
export function detectProtocol(buf: Buffer): Detected | 'need-more' {
  if (buf.length === 0) return 'need-more';
  const b0 = buf[0]!;
  if (b0 === 0x16) return detectTls(buf);
  if (b0 === 0x50 /* P */) {
    const n = Math.min(buf.length, H2_PREFACE.length);
    if (buf.compare(H2_PREFACE, 0, n, 0, n) === 0) return n === H2_PREFACE.length ? 'http2' : 'need-more';
  }
  // HTTP/1: an uppercase method token followed by a space.
  for (let i = 0; i < buf.length && i <= MAX_METHOD; i++) {
    const c = buf[i]!;
    if (c === 0x20) return i > 0 ? 'http1' : 'opaque';
    if (!((c >= 0x41 && c <= 0x5a) || c === 0x2d || c === 0x5f)) return 'opaque';
  }
  return buf.length > MAX_METHOD ? 'opaque' : 'need-more';
}

function detectTls(buf: Buffer): Detected | 'need-more' {
  if (buf.length < 5) return 'need-more';
  if (buf[1] !== 0x03) return 'opaque';
  const recordLen = buf.readUInt16BE(3);
  if (5 + recordLen > MAX_HELLO) return 'tls';
  if (buf.length < 5 + recordLen) return 'need-more';
  return helloOffersMeshAlpn(buf.subarray(5, 5 + recordLen)) ? 'mesh-tls' : 'tls';
}

/** Walks a ClientHello handshake message to its ALPN extension; any malformation answers false. */
function helloOffersMeshAlpn(h: Buffer): boolean {
  if (h.length < 4 || h[0] !== 0x01) return false;
  let p = 4 + 2 + 32; // handshake header, client_version, random
  if (p >= h.length) return false;
  p += 1 + h[p]!; // session id
  if (p + 2 > h.length) return false;
  p += 2 + h.readUInt16BE(p); // cipher suites
  if (p + 1 > h.length) return false;
  p += 1 + h[p]!; // compression methods
  if (p + 2 > h.length) return false;
  const extEnd = Math.min(h.length, p + 2 + h.readUInt16BE(p));
  p += 2;
  while (p + 4 <= extEnd) {
    const type = h.readUInt16BE(p);
    const len = h.readUInt16BE(p + 2);
    p += 4;
    if (p + len > extEnd) return false;
    if (type === 0x0010 && len >= 2) {
      let q = p + 2;
      const listEnd = Math.min(p + len, p + 2 + h.readUInt16BE(p));
      while (q < listEnd) {
        const n = h[q]!;
        if (q + 1 + n > listEnd) return false;
        if (n > 5 && h.toString('latin1', q + 1, q + 6) === 'weft.') return true;
        q += 1 + n;
      }
      return false;
    }
    p += len;
  }
  return false;
}
