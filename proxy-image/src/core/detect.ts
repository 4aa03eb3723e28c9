// Protocol detection from the first bytes a client sends: HTTP/1.x request line, HTTP/2 prior-knowledge
// preface, TLS ClientHello (with SNI and ALPN, so mesh mTLS can be told from application TLS), else
// opaque. Pure and bounded: it looks at no more than MAX_DETECT_BYTES and answers "need-more" only while
// the bytes seen are still a prefix of something it could recognise. The data path adds the timeout.

/** Detection never asks for more than this many bytes (the largest TLS record it accepts, plus its header). */
export const MAX_DETECT_BYTES = 5 + 16_384 + 256;
/** A request line longer than this is still called HTTP/1 (the codec then refuses it with 414). */
export const MAX_REQUEST_LINE_BYTES = 8192;

export interface TlsClientHello {
  /** server_name (SNI), lowercase, or null. */
  readonly serverName: string | null;
  /** ALPN protocol names offered, in order (empty when the extension is absent). */
  readonly alpn: readonly string[];
}

export type Detection =
  | { readonly kind: 'need-more' }
  | { readonly kind: 'decided'; readonly protocol: 'http1' | 'h2' | 'opaque' }
  | { readonly kind: 'decided'; readonly protocol: 'tls'; readonly hello: TlsClientHello };

const NEED_MORE: Detection = Object.freeze({ kind: 'need-more' });
const HTTP1: Detection = Object.freeze({ kind: 'decided', protocol: 'http1' });
const H2: Detection = Object.freeze({ kind: 'decided', protocol: 'h2' });
const OPAQUE: Detection = Object.freeze({ kind: 'decided', protocol: 'opaque' });

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Classifies the first bytes of a connection. Pass everything received so far (it is not retained). */
export function detectProtocol(bytes: Uint8Array): Detection {
  const n = bytes.length;
  if (n === 0) return NEED_MORE;
  if (bytes[0] === 0x16) return detectTls(bytes);
  // The HTTP/2 preface starts like an HTTP/1 request line with method PRI; check it first.
  let h2Prefix = true;
  const m = Math.min(n, H2_PREFACE.length);
  for (let i = 0; i < m; i++) {
    if (bytes[i] !== H2_PREFACE[i]) {
      h2Prefix = false;
      break;
    }
  }
  if (h2Prefix) return n >= H2_PREFACE.length ? H2 : NEED_MORE;
  return detectHttp1(bytes);
}

function isTchar(b: number): boolean {
  // RFC 9110 token characters.
  return (
    (b >= 0x61 && b <= 0x7a) ||
    (b >= 0x41 && b <= 0x5a) ||
    (b >= 0x30 && b <= 0x39) ||
    b === 0x21 ||
    (b >= 0x23 && b <= 0x27) ||
    b === 0x2a ||
    b === 0x2b ||
    b === 0x2d ||
    b === 0x2e ||
    b === 0x5e ||
    b === 0x5f ||
    b === 0x60 ||
    b === 0x7c ||
    b === 0x7e
  );
}

const HTTP_VERSION = [0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e]; // "HTTP/1."

/** method SP request-target SP "HTTP/1." DIGIT CRLF (a bare LF is tolerated, as parsers do). */
function detectHttp1(b: Uint8Array): Detection {
  const n = b.length;
  let i = 0;
  while (i < n && isTchar(b[i]!)) i++;
  if (i === n) return i <= 32 ? NEED_MORE : OPAQUE; // methods are short
  if (i === 0 || i > 32 || b[i] !== 0x20) return OPAQUE;
  i++;
  const targetStart = i;
  // Request target: visible ASCII (and obs-text), no spaces or controls.
  while (i < n && b[i]! > 0x20 && b[i] !== 0x7f) i++;
  if (i === n) return i >= MAX_REQUEST_LINE_BYTES ? HTTP1 : NEED_MORE;
  if (i === targetStart || b[i] !== 0x20) return OPAQUE;
  i++;
  for (let k = 0; k < HTTP_VERSION.length; k++, i++) {
    if (i === n) return NEED_MORE;
    if (b[i] !== HTTP_VERSION[k]) return OPAQUE;
  }
  if (i === n) return NEED_MORE;
  if (b[i]! < 0x30 || b[i]! > 0x39) return OPAQUE;
  i++;
  if (i === n) return NEED_MORE;
  if (b[i] === 0x0a) return HTTP1;
  if (b[i] !== 0x0d) return OPAQUE;
  i++;
  if (i === n) return NEED_MORE;
  return b[i] === 0x0a ? HTTP1 : OPAQUE;
}

/**
 * TLS record header: ContentType handshake (22), legacy version 3.x, length <= 2^14 (+ a little for
 * compatibility with lax clients), then a ClientHello (handshake type 1). Parses SNI and ALPN from the first
 * record; a ClientHello split over several records still counts as TLS, with what the first one holds.
 */
function detectTls(b: Uint8Array): Detection {
  const n = b.length;
  if (n >= 2 && b[1] !== 0x03) return OPAQUE;
  if (n >= 3 && b[2]! > 0x04) return OPAQUE;
  if (n < 5) return NEED_MORE;
  const recordLength = (b[3]! << 8) | b[4]!;
  if (recordLength === 0 || recordLength > 16_384 + 256) return OPAQUE;
  if (n >= 6 && b[5] !== 0x01) return OPAQUE;
  const end = 5 + recordLength;
  if (n < end) return NEED_MORE;
  return { kind: 'decided', protocol: 'tls', hello: parseClientHello(b, 5, end) };
}

const EMPTY_HELLO: TlsClientHello = Object.freeze({
  serverName: null,
  alpn: Object.freeze([]) as readonly string[],
});

/** Reads SNI and ALPN from a ClientHello in b[start, end); tolerant: a malformed part is left out. */
export function parseClientHello(b: Uint8Array, start: number, end: number): TlsClientHello {
  // Handshake header: type(1) length(3); body may extend past this record, in which case we read what is here.
  let p = start + 4;
  const bodyEnd = Math.min(end, p + ((b[start + 1]! << 16) | (b[start + 2]! << 8) | b[start + 3]!));
  p += 2 + 32; // legacy_version, random
  if (p + 1 > bodyEnd) return EMPTY_HELLO;
  p += 1 + b[p]!; // session id
  if (p + 2 > bodyEnd) return EMPTY_HELLO;
  p += 2 + ((b[p]! << 8) | b[p + 1]!); // cipher suites
  if (p + 1 > bodyEnd) return EMPTY_HELLO;
  p += 1 + b[p]!; // compression methods
  if (p + 2 > bodyEnd) return EMPTY_HELLO;
  const extEnd = Math.min(bodyEnd, p + 2 + ((b[p]! << 8) | b[p + 1]!));
  p += 2;
  let serverName: string | null = null;
  let alpn: string[] = [];
  while (p + 4 <= extEnd) {
    const type = (b[p]! << 8) | b[p + 1]!;
    const len = (b[p + 2]! << 8) | b[p + 3]!;
    const dataStart = p + 4;
    const dataEnd = dataStart + len;
    if (dataEnd > extEnd) break;
    if (type === 0x0000) serverName = readServerName(b, dataStart, dataEnd);
    else if (type === 0x0010) alpn = readAlpn(b, dataStart, dataEnd);
    p = dataEnd;
  }
  return { serverName, alpn };
}

function readServerName(b: Uint8Array, start: number, end: number): string | null {
  if (start + 2 > end) return null;
  const listEnd = Math.min(end, start + 2 + ((b[start]! << 8) | b[start + 1]!));
  let p = start + 2;
  while (p + 3 <= listEnd) {
    const nameType = b[p]!;
    const len = (b[p + 1]! << 8) | b[p + 2]!;
    const s = p + 3;
    if (s + len > listEnd) return null;
    if (nameType === 0 && len > 0 && len <= 255) {
      let name = '';
      for (let i = s; i < s + len; i++) {
        const c = b[i]!;
        if (c <= 0x20 || c >= 0x7f) return null; // host names are printable ASCII
        name += String.fromCharCode(c);
      }
      return name.toLowerCase();
    }
    p = s + len;
  }
  return null;
}

function readAlpn(b: Uint8Array, start: number, end: number): string[] {
  const out: string[] = [];
  if (start + 2 > end) return out;
  const listEnd = Math.min(end, start + 2 + ((b[start]! << 8) | b[start + 1]!));
  let p = start + 2;
  while (p < listEnd && out.length < 32) {
    const len = b[p]!;
    if (len === 0 || p + 1 + len > listEnd) break;
    out.push(Buffer.from(b.buffer, b.byteOffset + p + 1, len).toString('latin1'));
    p += 1 + len;
  }
  return out;
}
