// Strict, bounded HTTP/1.1 request and response head parsing on Buffers (RFC 9112). Pure: never throws,
// never reads past the limits it is given, and refuses every framing ambiguity a request smuggler could
// use (Content-Length with Transfer-Encoding, differing or malformed Content-Length, obs-fold, bare CR or
// LF, whitespace before the colon, invalid tokens) instead of guessing.

import { CR, equalsLower, FIELD_VALUE, HTAB, LF, latin1, SP, TARGET, TOKEN } from './chars.ts';

export interface HeadLimits {
  /** Largest head (start line, fields and the empty line) in bytes; more answers 431. */
  readonly maxHeaderBytes: number;
  /** Most header fields; more answers 431. */
  readonly maxHeaderCount: number;
}

/** Stable codes of head errors; each maps to a status, a metric label and the x-weft-reason header. */
export type HeadErrorCode =
  | 'head-too-large'
  | 'too-many-headers'
  | 'bad-start-line'
  | 'bad-method'
  | 'bad-target'
  | 'bad-version'
  | 'unsupported-version'
  | 'bare-lf'
  | 'bare-cr'
  | 'obs-fold'
  | 'bad-header-name'
  | 'space-before-colon'
  | 'bad-header-value'
  | 'bad-content-length'
  | 'conflicting-content-length'
  | 'content-length-with-transfer-encoding'
  | 'bad-transfer-encoding'
  | 'missing-host'
  | 'duplicate-host'
  | 'duplicate-upgrade'
  | 'bad-status';

export interface HeadError {
  readonly code: HeadErrorCode;
  /** Status to answer a client with (requests); a bad response head always becomes 502. */
  readonly status: 400 | 431 | 501 | 505;
  readonly message: string;
}

/** Framing-relevant facts of a head, derived while parsing. */
export interface MessageHead {
  /** Fields as received: names (original case) at even indexes, OWS-trimmed values at odd ones. */
  readonly headers: string[];
  readonly versionMinor: number;
  /** Content-Length, or -1 when absent. */
  readonly contentLength: number;
  /** Transfer-Encoding present with chunked as the final coding. */
  readonly chunked: boolean;
  /** Transfer-Encoding present (chunked or not). */
  readonly hasTransferEncoding: boolean;
  readonly connectionClose: boolean;
  readonly connectionKeepAlive: boolean;
  readonly connectionUpgrade: boolean;
  /** Other lowercased Connection tokens: header names that are hop-by-hop for this message. */
  readonly connectionTokens: readonly string[] | null;
  /** Upgrade header value, or null (a request's: only with Connection: upgrade, and never h2c). */
  readonly upgrade: string | null;
}

export interface RequestHead extends MessageHead {
  readonly method: string;
  readonly target: string;
  readonly host: string | null;
  readonly expectContinue: boolean;
  /**
   * A TE field lists `trailers`. TE itself is hop-by-hop (RFC 9110 10.1.4): a request with one has `te` among its
   * connectionTokens, so the serializer drops it and says `te: trailers` again when this is true.
   */
  readonly teTrailers: boolean;
}

export interface ResponseHead extends MessageHead {
  readonly status: number;
  readonly reason: string;
}

export type HeadResult<T> =
  | { readonly kind: 'head'; readonly head: T /** bytes consumed from start */; readonly length: number }
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'error'; readonly error: HeadError };

const INCOMPLETE = { kind: 'incomplete' } as const;
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
/** Empty lines tolerated before a request line (RFC 9112 2.2: at least one). */
const MAX_LEADING_CRLF = 8;

function fail(code: HeadErrorCode, message: string, status: 400 | 431 | 501 | 505 = 400) {
  return { kind: 'error', error: { code, status, message } } as const;
}

/** Mutable accumulator for the fields every message kind shares. */
interface Fields {
  headers: string[];
  contentLength: number;
  chunked: boolean;
  hasTransferEncoding: boolean;
  connectionClose: boolean;
  connectionKeepAlive: boolean;
  connectionUpgrade: boolean;
  connectionTokens: string[] | null;
  upgrade: string | null;
  host: string | null;
  hostCount: number;
  /** Upgrade fields seen (a request that upgrades may carry one only). */
  upgradeCount: number;
  expectContinue: boolean;
  teTrailers: boolean;
}

/**
 * Finds a complete head at buf[start..end): returns 'incomplete' while it may still arrive within the
 * limit, and an error as soon as the bytes seen prove it malformed or oversized.
 */
function locateHead(
  buf: Buffer,
  start: number,
  end: number,
  limits: HeadLimits,
): { from: number; headEnd: number } | 'incomplete' | { error: HeadErrorCode } {
  let from = start;
  for (let i = 0; i < MAX_LEADING_CRLF && from < end; i++) {
    if (buf[from] === CR) {
      if (from + 1 >= end) return 'incomplete';
      if (buf[from + 1] !== LF) return { error: 'bare-cr' };
      from += 2;
    } else if (buf[from] === LF) {
      return { error: 'bare-lf' };
    } else break;
  }
  const at = buf.indexOf(CRLFCRLF, from);
  if (at >= 0 && at + 4 <= end) {
    return at + 4 - from > limits.maxHeaderBytes ? { error: 'head-too-large' } : { from, headEnd: at + 4 };
  }
  if (end - from >= limits.maxHeaderBytes) return { error: 'head-too-large' };
  // Incomplete: a bare LF (or an LF-only terminator) can never become valid, so refuse it now.
  let lf = buf.indexOf(LF, from);
  while (lf >= 0 && lf < end) {
    if (lf === from || buf[lf - 1] !== CR) return { error: 'bare-lf' };
    lf = buf.indexOf(LF, lf + 1);
  }
  return 'incomplete';
}

/**
 * Parses header field lines of s from pos (each ending in CRLF, s ending with the empty line's CRLF
 * removed) into f. Returns an error or null.
 */
function parseFields(s: string, pos: number, limits: HeadLimits, f: Fields, request: boolean) {
  const len = s.length;
  let count = 0;
  while (pos < len) {
    const first = s.charCodeAt(pos);
    if (first === SP || first === HTAB) return fail('obs-fold', 'obsolete line folding is not allowed');
    if (first === CR) return fail('bare-cr', 'CR not followed by a field line');
    let i = pos;
    while (i < len && TOKEN[s.charCodeAt(i)] === 1) i++;
    if (i === pos) {
      if (s.charCodeAt(i) === LF) return fail('bare-lf', 'LF without CR in the header section');
      return fail('bad-header-name', `invalid character 0x${s.charCodeAt(i).toString(16)} in a header name`);
    }
    const c = s.charCodeAt(i);
    if (c !== 0x3a) {
      if (c === SP || c === HTAB)
        return fail('space-before-colon', 'whitespace between header name and colon');
      if (c === LF) return fail('bare-lf', 'LF without CR in the header section');
      if (c === CR) return fail('bad-header-name', 'header line without a colon');
      return fail('bad-header-name', `invalid character 0x${c.toString(16)} in a header name`);
    }
    const name = s.slice(pos, i);
    i++;
    while (i < len && (s.charCodeAt(i) === SP || s.charCodeAt(i) === HTAB)) i++;
    const vstart = i;
    let ch = 0;
    while (i < len) {
      ch = s.charCodeAt(i);
      if (FIELD_VALUE[ch] !== 1) break;
      i++;
    }
    if (i >= len || ch !== CR) {
      if (ch === LF) return fail('bare-lf', `LF without CR in the value of ${name}`);
      return fail('bad-header-value', `invalid character 0x${ch.toString(16)} in the value of ${name}`);
    }
    if (s.charCodeAt(i + 1) !== LF) return fail('bare-cr', `CR not followed by LF in the value of ${name}`);
    let vend = i;
    while (vend > vstart && (s.charCodeAt(vend - 1) === SP || s.charCodeAt(vend - 1) === HTAB)) vend--;
    const value = s.slice(vstart, vend);
    if (++count > limits.maxHeaderCount) {
      return fail('too-many-headers', `more than ${limits.maxHeaderCount} header fields`, 431);
    }
    f.headers.push(name, value);
    const err = noteField(name, value, f, request);
    if (err !== null) return err;
    pos = i + 2;
  }
  return null;
}

/** Whether a TE field value lists the `trailers` member ("trailers", "gzip;q=0.5, Trailers"). */
function acceptsTrailers(value: string): boolean {
  for (const member of value.split(',')) {
    const token = member.split(';', 1)[0]!.trim();
    if (token.length === 8 && equalsLower(token, 'trailers')) return true;
  }
  return false;
}

/** Records the framing meaning of one field. */
function noteField(name: string, value: string, f: Fields, request: boolean) {
  switch (name.length) {
    case 2:
      if (request && equalsLower(name, 'te')) {
        if (f.connectionTokens === null) f.connectionTokens = [];
        if (!f.connectionTokens.includes('te')) f.connectionTokens.push('te');
        f.teTrailers ||= acceptsTrailers(value);
      }
      break;
    case 4:
      if (request && equalsLower(name, 'host')) {
        f.host = value;
        f.hostCount++;
      }
      break;
    case 6:
      if (request && equalsLower(name, 'expect') && equalsLower(value, '100-continue')) {
        f.expectContinue = true;
      }
      break;
    case 7:
      if (equalsLower(name, 'upgrade')) {
        f.upgradeCount++;
        f.upgrade = value;
      }
      break;
    case 10:
      if (equalsLower(name, 'connection')) return noteConnection(value, f);
      break;
    case 14:
      if (equalsLower(name, 'content-length')) {
        if (value.length === 0 || value.length > 15) {
          return fail('bad-content-length', `Content-Length "${value.slice(0, 32)}" is not a valid length`);
        }
        let n = 0;
        for (let i = 0; i < value.length; i++) {
          const d = value.charCodeAt(i) - 0x30;
          if (d < 0 || d > 9) return fail('bad-content-length', `Content-Length "${value}" is not a number`);
          n = n * 10 + d;
        }
        // Even equal duplicates are refused (as llhttp does): one peer may merge them, another not.
        if (f.contentLength >= 0)
          return fail('conflicting-content-length', 'more than one Content-Length field');
        f.contentLength = n;
      }
      break;
    case 17:
      if (equalsLower(name, 'transfer-encoding')) return noteTransferEncoding(value, f);
      break;
  }
  return null;
}

function noteConnection(value: string, f: Fields) {
  for (const raw of value.split(',')) {
    const t = raw.trim().toLowerCase();
    if (t === '') continue;
    if (t === 'close') f.connectionClose = true;
    else if (t === 'keep-alive') f.connectionKeepAlive = true;
    else if (t === 'upgrade') f.connectionUpgrade = true;
    else {
      for (let i = 0; i < t.length; i++) {
        if (TOKEN[t.charCodeAt(i)] !== 1) return fail('bad-header-value', 'Connection lists a non-token');
      }
      // The fields Connection names are dropped at the next hop; framing and Host never may be: the body this
      // proxy measured would reach the next hop unframed (request smuggling), or the request without a Host.
      if (t === 'content-length' || t === 'transfer-encoding' || t === 'host')
        return fail('bad-header-value', `Connection names ${t}, which cannot be dropped`);
      if (f.connectionTokens === null) f.connectionTokens = [];
      f.connectionTokens.push(t);
    }
  }
  return null;
}

function noteTransferEncoding(value: string, f: Fields) {
  // Codings across every Transfer-Encoding field, in order; chunked must be last and only once.
  for (const raw of value.split(',')) {
    const t = raw.trim().toLowerCase();
    if (t === '') return fail('bad-transfer-encoding', 'empty transfer coding');
    for (let i = 0; i < t.length; i++) {
      if (TOKEN[t.charCodeAt(i)] !== 1) {
        return fail('bad-transfer-encoding', `transfer coding "${t.slice(0, 32)}" is not a token`);
      }
    }
    if (f.chunked) return fail('bad-transfer-encoding', 'a transfer coding follows chunked');
    f.chunked = t === 'chunked';
  }
  f.hasTransferEncoding = true;
  return null;
}

function newFields(): Fields {
  return {
    headers: [],
    contentLength: -1,
    chunked: false,
    hasTransferEncoding: false,
    connectionClose: false,
    connectionKeepAlive: false,
    connectionUpgrade: false,
    connectionTokens: null,
    upgrade: null,
    host: null,
    hostCount: 0,
    upgradeCount: 0,
    expectContinue: false,
    teTrailers: false,
  };
}

/** Whether an Upgrade value lists the h2c protocol ("h2c", "websocket, H2C"). */
function offersH2c(value: string): boolean {
  for (const member of value.split(',')) {
    const t = member.trim();
    if (t.length === 3 && equalsLower(t, 'h2c')) return true;
  }
  return false;
}

/** Parses "HTTP/1.x" at s[pos..pos+8); returns the minor version, -1 for another HTTP version, -2 for junk. */
function parseVersion(s: string, pos: number): number {
  if (s.length < pos + 8 || !s.startsWith('HTTP/', pos)) return -2;
  const major = s.charCodeAt(pos + 5) - 0x30;
  const dot = s.charCodeAt(pos + 6);
  const minor = s.charCodeAt(pos + 7) - 0x30;
  if (major < 0 || major > 9 || dot !== 0x2e || minor < 0 || minor > 9) return -2;
  if (major !== 1 || minor > 1) return -1;
  return minor;
}

/** Parses a request head starting at buf[start], looking at bytes up to end (default buf.length). */
export function parseRequestHead(
  buf: Buffer,
  start: number,
  limits: HeadLimits,
  end = buf.length,
): HeadResult<RequestHead> {
  const loc = locateHead(buf, start, end, limits);
  if (loc === 'incomplete') return INCOMPLETE;
  if ('error' in loc) {
    if (loc.error === 'head-too-large') {
      return fail('head-too-large', `request head exceeds ${limits.maxHeaderBytes} bytes`, 431);
    }
    return fail(loc.error, loc.error === 'bare-lf' ? 'LF without CR' : 'CR without LF');
  }
  // latin1: one byte per char, so offsets in s are byte offsets and obs-text survives unchanged.
  const s = latin1(buf, loc.from, loc.headEnd - 2);
  let i = 0;
  while (TOKEN[s.charCodeAt(i)] === 1) i++;
  if (i === 0 || s.charCodeAt(i) !== SP) {
    return i === 0
      ? fail('bad-start-line', 'request line does not start with a method')
      : fail('bad-method', 'invalid character in the method');
  }
  const method = s.slice(0, i);
  const tstart = ++i;
  while (TARGET[s.charCodeAt(i)] === 1) i++;
  if (i === tstart || s.charCodeAt(i) !== SP) return fail('bad-target', 'invalid request-target');
  const target = s.slice(tstart, i);
  const minor = parseVersion(s, i + 1);
  if (minor === -2 || s.charCodeAt(i + 9) !== CR || s.charCodeAt(i + 10) !== LF) {
    return fail('bad-version', 'request line does not end with HTTP/1.x');
  }
  if (minor === -1) return fail('unsupported-version', 'only HTTP/1.0 and HTTP/1.1 are served here', 505);
  const f = newFields();
  const err = parseFields(s, i + 11, limits, f, true);
  if (err !== null) return err;
  if (f.hasTransferEncoding) {
    if (f.contentLength >= 0) {
      return fail('content-length-with-transfer-encoding', 'both Content-Length and Transfer-Encoding');
    }
    if (!f.chunked)
      return fail('bad-transfer-encoding', 'request Transfer-Encoding must end with chunked', 501);
    if (minor === 0) return fail('bad-transfer-encoding', 'Transfer-Encoding in an HTTP/1.0 request');
  }
  if (f.hostCount > 1) return fail('duplicate-host', 'more than one Host field');
  if (minor === 1 && f.hostCount === 0) return fail('missing-host', 'HTTP/1.1 request without Host');
  if (method === 'CONNECT' && f.connectionUpgrade) return fail('bad-method', 'CONNECT with Upgrade');
  // An upgrading request with two Upgrade fields: a rule judged on one could let the proxy relay the other.
  if (f.connectionUpgrade && f.upgradeCount > 1)
    return fail('duplicate-upgrade', 'more than one Upgrade field in an upgrade request');
  return {
    kind: 'head',
    length: loc.headEnd - start,
    head: {
      method,
      target,
      host: f.host,
      expectContinue: f.expectContinue && minor === 1,
      teTrailers: f.teTrailers,
      headers: f.headers,
      versionMinor: minor,
      contentLength: f.contentLength,
      chunked: f.chunked,
      hasTransferEncoding: f.hasTransferEncoding,
      connectionClose: f.connectionClose || (minor === 0 && !f.connectionKeepAlive),
      connectionKeepAlive: f.connectionKeepAlive,
      connectionUpgrade: f.connectionUpgrade,
      connectionTokens: f.connectionTokens,
      // The h2c upgrade (RFC 7540 3.2, removed by RFC 9113) is not relayed: it would open an HTTP/2 connection
      // to the app whose streams no rule judges. The request goes on as HTTP/1.1 without it, as a server that
      // does not offer h2c answers it.
      upgrade: f.connectionUpgrade && f.upgrade !== null && !offersH2c(f.upgrade) ? f.upgrade : null,
    },
  };
}

/** Parses a response head starting at buf[start]. */
export function parseResponseHead(
  buf: Buffer,
  start: number,
  limits: HeadLimits,
  end = buf.length,
): HeadResult<ResponseHead> {
  const loc = locateHead(buf, start, end, limits);
  if (loc === 'incomplete') return INCOMPLETE;
  if ('error' in loc) {
    if (loc.error === 'head-too-large') {
      return fail('head-too-large', `response head exceeds ${limits.maxHeaderBytes} bytes`, 431);
    }
    return fail(loc.error, loc.error === 'bare-lf' ? 'LF without CR' : 'CR without LF');
  }
  const s = latin1(buf, loc.from, loc.headEnd - 2);
  const minor = parseVersion(s, 0);
  if (minor < 0) return fail('bad-version', 'status line does not start with HTTP/1.x');
  if (s.charCodeAt(8) !== SP) return fail('bad-status', 'no space after the version');
  let status = 0;
  for (let k = 9; k < 12; k++) {
    const d = s.charCodeAt(k) - 0x30;
    if (d < 0 || d > 9) return fail('bad-status', 'status code is not three digits');
    status = status * 10 + d;
  }
  if (status < 100) return fail('bad-status', 'status code below 100');
  let i = 12;
  let reason = '';
  if (s.charCodeAt(i) === SP) {
    const rstart = ++i;
    while (FIELD_VALUE[s.charCodeAt(i)] === 1) i++;
    reason = s.slice(rstart, i);
  }
  if (s.charCodeAt(i) !== CR || s.charCodeAt(i + 1) !== LF)
    return fail('bad-status', 'malformed status line');
  const f = newFields();
  const err = parseFields(s, i + 2, limits, f, false);
  if (err !== null) return err;
  if (f.hasTransferEncoding && f.contentLength >= 0) {
    return fail('content-length-with-transfer-encoding', 'both Content-Length and Transfer-Encoding');
  }
  return {
    kind: 'head',
    length: loc.headEnd - start,
    head: {
      status,
      reason,
      headers: f.headers,
      versionMinor: minor,
      contentLength: f.contentLength,
      chunked: f.chunked,
      hasTransferEncoding: f.hasTransferEncoding,
      connectionClose: f.connectionClose || (minor === 0 && !f.connectionKeepAlive),
      connectionKeepAlive: f.connectionKeepAlive,
      connectionUpgrade: f.connectionUpgrade,
      connectionTokens: f.connectionTokens,
      upgrade: f.upgrade,
    },
  };
}

/** How the body of a response is delimited (RFC 9112 6.3), given the request it answers. */
export type ResponseFraming = 'none' | 'length' | 'chunked' | 'close' | 'tunnel';

export function responseFraming(method: string, res: ResponseHead): ResponseFraming {
  if (method === 'CONNECT' && res.status >= 200 && res.status < 300) return 'tunnel';
  if (method === 'HEAD' || res.status < 200 || res.status === 204 || res.status === 304) return 'none';
  if (res.hasTransferEncoding) return res.chunked ? 'chunked' : 'close';
  if (res.contentLength >= 0) return 'length';
  return 'close';
}
