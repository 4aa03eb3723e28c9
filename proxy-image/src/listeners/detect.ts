// Protocol detection for the listeners: the pure classifier of src/core/detect.ts, with mesh mTLS told
// apart from application TLS by the ALPN a peer proxy offers (weft.*).

import { detectProtocol as classify, MAX_DETECT_BYTES } from '../core/detect.ts';

export { MAX_DETECT_BYTES };

export type Detected = 'http1' | 'http2' | 'mesh-tls' | 'tls' | 'opaque';

/** The protocol, or 'need-more' while the bytes so far are a prefix of more than one answer. */
export function detectProtocol(buf: Buffer): Detected | 'need-more' {
  const d = classify(buf);
  if (d.kind === 'need-more') return 'need-more';
  switch (d.protocol) {
    case 'http1':
      return 'http1';
    case 'h2':
      return 'http2';
    case 'tls':
      return d.hello.alpn.some((a) => a.startsWith('weft.')) ? 'mesh-tls' : 'tls';
    default:
      return 'opaque';
  }
}
