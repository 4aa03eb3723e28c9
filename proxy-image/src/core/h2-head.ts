// The request-head limits of the config (limits.maxHeaderBytes, limits.maxHeaderCount) applied to an
// HTTP/2 request, measured as the same head would be in HTTP/1.1, so one config means the same on both
// protocols: each regular field counts "name: value\r\n", the pseudo-headers count as the request line.

export interface H2HeadLimits {
  readonly maxHeaderBytes: number;
  readonly maxHeaderCount: number;
}

export interface H2HeadError {
  readonly code: 'too-many-headers' | 'head-too-large';
  readonly detail: string;
}

/** rawHeaders: the flat [name, value, name, value, ...] list node:http2 hands over with a stream. */
export function h2HeadError(rawHeaders: readonly string[], limits: H2HeadLimits): H2HeadError | null {
  let count = 0;
  // "METHOD path HTTP/1.1\r\n" and the final "\r\n": the pseudo-header values plus 13 bytes.
  let bytes = 13;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const value = rawHeaders[i + 1]!;
    if (name.charCodeAt(0) === 0x3a /* : */) {
      bytes += value.length;
      continue;
    }
    count++;
    bytes += name.length + value.length + 4;
  }
  if (count > limits.maxHeaderCount)
    return { code: 'too-many-headers', detail: `more than ${limits.maxHeaderCount} header fields` };
  if (bytes > limits.maxHeaderBytes)
    return { code: 'head-too-large', detail: `request head exceeds ${limits.maxHeaderBytes} bytes` };
  return null;
}
