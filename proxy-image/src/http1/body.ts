// Body framing: finds where a message body ends without copying it. The proxy forwards body bytes as
// they arrive (chunked framing included, so trailers pass through untouched); the framers only say how
// many bytes of a buffer belong to the current message and reject malformed chunked framing.

import { CR, codeEqualsHeaderChar, FIELD_VALUE, HEX, LF, TOKEN } from './chars.ts';

export type BodyErrorCode =
  | 'bad-chunk-size'
  | 'bad-chunk-extension'
  | 'bad-chunk-end'
  | 'bad-trailer'
  | 'forbidden-trailer';

/** A body framer consumes bytes of one message body. */
export interface BodyFramer {
  /**
   * Consumes buf[start..end). Returns the offset just past the body's last byte when the body ends
   * inside this range, -1 when every byte was consumed and more are needed, or -2 on a framing error
   * (see error). onData, when given, receives the payload ranges (chunk data without framing).
   */
  consume(
    buf: Buffer,
    start: number,
    end: number,
    onData?: (buf: Buffer, start: number, end: number) => void,
  ): number;
  readonly error: BodyErrorCode | null;
  /** Whether the body has ended. */
  readonly done: boolean;
}

/** Content-Length framing. */
export class LengthFramer implements BodyFramer {
  private remaining: number;
  readonly error = null;

  constructor(length: number) {
    this.remaining = length;
  }

  get done(): boolean {
    return this.remaining === 0;
  }

  consume(
    buf: Buffer,
    start: number,
    end: number,
    onData?: (b: Buffer, s: number, e: number) => void,
  ): number {
    if (this.remaining === 0) return start;
    const n = Math.min(this.remaining, end - start);
    this.remaining -= n;
    if (onData !== undefined && n > 0) onData(buf, start, start + n);
    return this.remaining === 0 ? start + n : -1;
  }
}

// Chunked decoder states.
const SIZE_FIRST = 0;
const SIZE = 1;
const EXT = 2;
const SIZE_LF = 3;
const DATA = 4;
const DATA_CR = 5;
const DATA_LF = 6;
const TRAILER_START = 7;
const TRAILER_NAME = 8;
const TRAILER_VALUE = 9;
const TRAILER_LF = 10;
const END_LF = 11;
const DONE = 12;
const FAILED = 13;

/** Longest chunk-size in hex digits: 13 (under 2^52 bytes, beyond any real body) keeps every size exact in a double. */
const MAX_SIZE_DIGITS = 13;
/** Bound on the bytes of chunk extensions per chunk line. */
const MAX_EXTENSION_BYTES = 4096;

/** Chunked framing (RFC 9112 7.1) with chunk extensions and trailer fields, strictly validated. */
export class ChunkedFramer implements BodyFramer {
  private state = SIZE_FIRST;
  private remaining = 0;
  private digits = 0;
  private lineBytes = 0;
  private trailerBytes = 0;
  private trailerCount = 0;
  private readonly maxTrailerBytes: number;
  private readonly maxTrailerCount: number;
  /** A trailer field name (lowercase) that fails the body, or null. */
  private readonly forbiddenTrailer: string | null;
  /** How many characters of the trailer name being read match the forbidden one so far; -1: it cannot. */
  private trailerMatch = -1;
  error: BodyErrorCode | null = null;

  /**
   * forbiddenTrailer: a field that must not arrive as a trailer, which passes through unparsed. Inbound, that is
   * the client identity header: the proxy replaces it in the head, and an app that merges trailers into headers
   * would otherwise trust a forged identity. Matched as codeEqualsHeaderChar reads it (case, and "_" for "-").
   */
  constructor(maxTrailerBytes: number, maxTrailerCount: number, forbiddenTrailer: string | null = null) {
    this.maxTrailerBytes = maxTrailerBytes;
    this.maxTrailerCount = maxTrailerCount;
    this.forbiddenTrailer = forbiddenTrailer;
  }

  get done(): boolean {
    return this.state === DONE;
  }

  /** The forbidden trailer's name matched for `at` characters and c is the next: the new count, or -1. */
  private matchTrailer(at: number, c: number): number {
    const f = this.forbiddenTrailer;
    return f !== null && at < f.length && codeEqualsHeaderChar(c, f.charCodeAt(at)) ? at + 1 : -1;
  }

  private fail(code: BodyErrorCode): number {
    this.state = FAILED;
    this.error = code;
    return -2;
  }

  consume(
    buf: Buffer,
    start: number,
    end: number,
    onData?: (b: Buffer, s: number, e: number) => void,
  ): number {
    let i = start;
    while (i < end) {
      switch (this.state) {
        case DATA: {
          const n = Math.min(this.remaining, end - i);
          if (onData !== undefined) onData(buf, i, i + n);
          this.remaining -= n;
          i += n;
          if (this.remaining === 0) this.state = DATA_CR;
          continue;
        }
        case SIZE_FIRST:
        case SIZE: {
          const c = buf[i]!;
          const h = HEX[c]!;
          if (h !== 255) {
            if (++this.digits > MAX_SIZE_DIGITS) return this.fail('bad-chunk-size');
            this.remaining = this.remaining * 16 + h;
            this.state = SIZE;
          } else if (this.state === SIZE_FIRST) {
            return this.fail('bad-chunk-size');
          } else if (c === 0x3b) {
            this.state = EXT;
            this.lineBytes = 0;
          } else if (c === CR) {
            this.state = SIZE_LF;
          } else {
            return this.fail('bad-chunk-size');
          }
          break;
        }
        case EXT: {
          const c = buf[i]!;
          if (c === CR) this.state = SIZE_LF;
          else if (FIELD_VALUE[c] !== 1 || ++this.lineBytes > MAX_EXTENSION_BYTES) {
            return this.fail('bad-chunk-extension');
          }
          break;
        }
        case SIZE_LF:
          if (buf[i] !== LF) return this.fail('bad-chunk-size');
          this.digits = 0;
          if (this.remaining === 0) {
            this.state = TRAILER_START;
          } else {
            this.state = DATA;
          }
          break;
        case DATA_CR:
          if (buf[i] !== CR) return this.fail('bad-chunk-end');
          this.state = DATA_LF;
          break;
        case DATA_LF:
          if (buf[i] !== LF) return this.fail('bad-chunk-end');
          this.state = SIZE_FIRST;
          break;
        case TRAILER_START: {
          const c = buf[i]!;
          if (c === CR) {
            this.state = END_LF;
          } else if (TOKEN[c] === 1) {
            if (++this.trailerCount > this.maxTrailerCount) return this.fail('bad-trailer');
            this.trailerMatch = this.matchTrailer(0, c);
            this.state = TRAILER_NAME;
          } else {
            return this.fail('bad-trailer');
          }
          break;
        }
        case TRAILER_NAME: {
          const c = buf[i]!;
          if (c === 0x3a) {
            if (this.trailerMatch === this.forbiddenTrailer?.length) return this.fail('forbidden-trailer');
            this.state = TRAILER_VALUE;
          } else if (TOKEN[c] !== 1) return this.fail('bad-trailer');
          else if (this.trailerMatch >= 0) this.trailerMatch = this.matchTrailer(this.trailerMatch, c);
          break;
        }
        case TRAILER_VALUE: {
          const c = buf[i]!;
          if (c === CR) this.state = TRAILER_LF;
          else if (FIELD_VALUE[c] !== 1) return this.fail('bad-trailer');
          break;
        }
        case TRAILER_LF:
          if (buf[i] !== LF) return this.fail('bad-trailer');
          this.state = TRAILER_START;
          break;
        case END_LF:
          if (buf[i] !== LF) return this.fail('bad-chunk-end');
          this.state = DONE;
          return i + 1;
        case DONE:
          return i;
        default:
          return -2;
      }
      if (this.state >= TRAILER_START && this.state <= END_LF && ++this.trailerBytes > this.maxTrailerBytes) {
        return this.fail('bad-trailer');
      }
      i++;
    }
    return this.state === DONE ? end : -1;
  }
}

/** A body that ends only when the connection closes (responses without length). */
export class UntilCloseFramer implements BodyFramer {
  readonly error = null;
  readonly done = false;

  consume(
    buf: Buffer,
    start: number,
    end: number,
    onData?: (b: Buffer, s: number, e: number) => void,
  ): number {
    if (onData !== undefined && end > start) onData(buf, start, end);
    return -1;
  }
}
