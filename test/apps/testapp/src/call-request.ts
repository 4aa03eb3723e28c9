// Validates the body of POST /call. Every rejection names the offending field so a test author
// sees at once which part of the request was wrong.

export const DEFAULT_CALL_TIMEOUT_MS = 5000;
export const MAX_CALL_TIMEOUT_MS = 60_000;
export const MAX_CALL_COUNT = 10_000;
export const MAX_CALL_CONCURRENCY = 64;
export const MAX_OUTBOUND_BODY_BYTES = 1024 * 1024;

export interface OutboundCall {
  readonly url: URL;
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | undefined;
  readonly timeoutMs: number;
}

export interface CallRequest {
  readonly call: OutboundCall;
  // Present when the caller asked for count or concurrency: answer with a summary instead.
  readonly repeat: { readonly count: number; readonly concurrency: number } | undefined;
}

export type CallRequestResult =
  | { readonly ok: true; readonly request: CallRequest }
  | { readonly ok: false; readonly error: string; readonly field: string | null };

const KNOWN_FIELDS = new Set(['url', 'method', 'headers', 'body', 'timeoutMs', 'count', 'concurrency']);
// RFC 9110 token: method names and header names.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

class FieldError extends Error {
  readonly field: string | null;

  constructor(field: string | null, message: string) {
    super(message);
    this.field = field;
  }
}

function optionalInteger(
  body: Record<string, unknown>,
  field: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const value = body[field];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new FieldError(field, `${field} must be an integer from ${min} to ${max}`);
  }
  return value;
}

function parseUrl(value: unknown): URL {
  if (typeof value !== 'string' || value === '')
    throw new FieldError('url', 'url must be a non-empty string');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new FieldError('url', 'url is not an absolute URL');
  }
  if (!['http:', 'https:', 'tcp:', 'grpc:'].includes(url.protocol)) {
    throw new FieldError(
      'url',
      `url scheme must be http, https, tcp or grpc, not ${url.protocol.slice(0, -1)}`,
    );
  }
  if ((url.protocol === 'tcp:' || url.protocol === 'grpc:') && url.port === '') {
    throw new FieldError('url', `a ${url.protocol.slice(0, -1)} url needs a port`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new FieldError('url', 'url must not carry credentials');
  }
  return url;
}

function parseHeaders(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FieldError('headers', 'headers must be an object of string values');
  }
  const headers: Record<string, string> = {};
  for (const [name, headerValue] of Object.entries(value)) {
    const field = `headers.${name}`;
    if (!TOKEN.test(name)) throw new FieldError(field, `header name ${JSON.stringify(name)} is not a token`);
    if (typeof headerValue !== 'string') throw new FieldError(field, 'header value must be a string');
    if (!HEADER_VALUE.test(headerValue)) throw new FieldError(field, 'header value has control characters');
    headers[name.toLowerCase()] = headerValue;
  }
  return headers;
}

function parse(text: string): CallRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new FieldError(null, `body is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new FieldError(null, 'body must be a JSON object');
  }
  const body = parsed as Record<string, unknown>;
  for (const field of Object.keys(body)) {
    if (!KNOWN_FIELDS.has(field)) throw new FieldError(field, `unknown field ${field}`);
  }

  const url = parseUrl(body.url);

  const method = body.method ?? 'GET';
  if (typeof method !== 'string' || !TOKEN.test(method)) {
    throw new FieldError('method', 'method must be an HTTP method name');
  }

  const headers = parseHeaders(body.headers);

  const outboundBody = body.body;
  if (outboundBody !== undefined && typeof outboundBody !== 'string') {
    throw new FieldError('body', 'body must be a string');
  }
  if (outboundBody !== undefined && Buffer.byteLength(outboundBody) > MAX_OUTBOUND_BODY_BYTES) {
    throw new FieldError('body', `body must be at most ${MAX_OUTBOUND_BODY_BYTES} bytes`);
  }

  const timeoutMs = optionalInteger(body, 'timeoutMs', DEFAULT_CALL_TIMEOUT_MS, 1, MAX_CALL_TIMEOUT_MS);
  const count = optionalInteger(body, 'count', 1, 1, MAX_CALL_COUNT);
  const concurrency = optionalInteger(body, 'concurrency', 1, 1, MAX_CALL_CONCURRENCY);
  const repeat =
    body.count !== undefined || body.concurrency !== undefined ? { count, concurrency } : undefined;

  return {
    call: { url, method: method.toUpperCase(), headers, body: outboundBody, timeoutMs },
    repeat,
  };
}

export function parseCallRequest(text: string): CallRequestResult {
  try {
    return { ok: true, request: parse(text) };
  } catch (error) {
    if (error instanceof FieldError) return { ok: false, error: error.message, field: error.field };
    throw error;
  }
}

// Counters are keyed by host:port with the scheme's default filled in, so http://a and
// http://a:80 land in one bucket.
export function targetKey(url: URL): string {
  const port = url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80';
  return `${url.hostname}:${port}`;
}
