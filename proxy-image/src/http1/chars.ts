// Byte classes of RFC 9110/9112, as lookup tables so the parsers test a byte with one load.

function table(pred: (c: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) t[c] = pred(c) ? 1 : 0;
  return t;
}

const TCHAR_EXTRA = "!#$%&'*+-.^_`|~";

/** tchar: the characters of a token (method, header name, coding). */
export const TOKEN = table(
  (c) =>
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    TCHAR_EXTRA.includes(String.fromCharCode(c)),
);

/** field-vchar, SP and HTAB: what a header value (and a reason phrase) may contain. obs-text allowed. */
export const FIELD_VALUE = table((c) => c === 0x09 || (c >= 0x20 && c <= 0x7e) || c >= 0x80);

/** Visible ASCII: what a request-target may contain (no spaces, no controls, no obs-text). */
export const TARGET = table((c) => c >= 0x21 && c <= 0x7e);

/** Hex digit value, or 255. */
export const HEX = (() => {
  const t = new Uint8Array(256).fill(255);
  for (let c = 0; c < 10; c++) t[0x30 + c] = c;
  for (let c = 0; c < 6; c++) {
    t[0x41 + c] = 10 + c;
    t[0x61 + c] = 10 + c;
  }
  return t;
})();

export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;

const latin1SliceImpl = (
  Buffer.prototype as unknown as { latin1Slice(this: Buffer, start: number, end: number): string }
).latin1Slice;

/** buf[start..end) as a latin1 string (one char per byte), without toString's argument handling. */
export function latin1(buf: Buffer, start: number, end: number): string {
  return latin1SliceImpl.call(buf, start, end);
}

/**
 * Whether s equals lower (a lowercase ASCII literal) ignoring ASCII case, without allocating a
 * lowercased copy: letters compare with the case bit set, every other byte exactly.
 */
export function equalsLower(s: string, lower: string): boolean {
  const n = lower.length;
  if (s.length !== n) return false;
  for (let i = 0; i < n; i++) if (!codeEqualsLower(s.charCodeAt(i), lower.charCodeAt(i))) return false;
  return true;
}

/** Whether the character code c equals e (a lowercase ASCII code) ignoring ASCII case, as equalsLower. */
export function codeEqualsLower(c: number, e: number): boolean {
  return c === e || (e >= 0x61 && e <= 0x7a && (c | 0x20) === e);
}

/**
 * Whether c equals e as a header name's character is read by some application servers: ASCII case ignored,
 * and "_" taken for "-" (CGI, WSGI and Rack map both to HTTP_X_...). For names the proxy owns, so that no
 * spelling of them passes where the proxy drops them.
 */
export function codeEqualsHeaderChar(c: number, e: number): boolean {
  return codeEqualsLower(c, e) || (e === 0x2d && c === 0x5f);
}

/** Whether the header name s is `lower` (lowercase) as an application server may read it (codeEqualsHeaderChar). */
export function equalsHeaderName(s: string, lower: string): boolean {
  const n = lower.length;
  if (s.length !== n) return false;
  for (let i = 0; i < n; i++) if (!codeEqualsHeaderChar(s.charCodeAt(i), lower.charCodeAt(i))) return false;
  return true;
}
