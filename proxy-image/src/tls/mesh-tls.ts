// mTLS between proxies: TLS 1.3 only, ECDSA P-256 leaf certificates naming the workload by a SPIFFE
// URI SAN. Clients accept a peer only if it presents exactly the identity the config expects for the
// endpoint; servers learn the client's identity from its certificate. A rotation swaps the secure
// context: new handshakes use it, and established connections keep theirs, unless the new trust anchors no
// longer vouch for the peer (an anchor removed at the end of a rotation, or withdrawn): those are closed.

import type { X509Certificate } from 'node:crypto';
import type net from 'node:net';
import type tls from 'node:tls';
import { splitPemCertificates } from '../../../crds/x509/pem.ts';
import { closeByProxy } from '../forward/proxy-closed.ts';
import type { MeshConnector, UpstreamTarget } from '../forward/upstream.ts';

// node:tls and node:crypto are loaded with the first certificate: initializing OpenSSL's TLS machinery
// costs several MB of resident memory that a plaintext-only proxy (tests, benchmarks) never needs.
// (process.getBuiltinModule, not `import`, also skips the ESM facade, which would read tls.rootCertificates.)
const nodeTls = () => process.getBuiltinModule('node:tls');
const nodeCrypto = () => process.getBuiltinModule('node:crypto');

/** ALPN values a client proxy offers: they say what the tunnel carries. */
export const MESH_ALPN_HTTP1 = 'weft.http1';
export const MESH_ALPN_HTTP2 = 'weft.h2';
export const MESH_ALPN_OPAQUE = 'weft.tcp';
export const MESH_ALPNS = [MESH_ALPN_HTTP1, MESH_ALPN_HTTP2, MESH_ALPN_OPAQUE] as const;
export type MeshAlpn = (typeof MESH_ALPNS)[number];

export interface MeshCredentials {
  readonly certPem: string;
  readonly keyPem: string;
  readonly trustAnchors: readonly string[];
}

export interface CertificateInfo {
  readonly spiffeId: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly serialNumber: string;
}

export class MeshTlsError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** The SPIFFE ID in a subjectaltname string ("URI:spiffe://..., DNS:..."), or null. */
export function spiffeIdFromSan(san: string | undefined): string | null {
  if (san === undefined) return null;
  let found: string | null = null;
  for (const part of san.split(', ')) {
    if (part.startsWith('URI:spiffe://')) {
      if (found !== null) return null; // SPIFFE: exactly one URI SAN
      found = part.slice(4);
    }
  }
  return found;
}

/** Checks a leaf certificate and key for the mesh profile; throws MeshTlsError naming the problem. */
export function inspectCredentials(creds: MeshCredentials, now = new Date()): CertificateInfo {
  let cert: X509Certificate;
  try {
    cert = new (nodeCrypto().X509Certificate)(creds.certPem);
  } catch (err) {
    throw new MeshTlsError(
      'bad-certificate',
      `certificate: not a PEM X.509 certificate (${(err as Error).message})`,
    );
  }
  const details = cert.publicKey.asymmetricKeyDetails;
  if (cert.publicKey.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'prime256v1') {
    throw new MeshTlsError('bad-certificate', 'certificate: key must be ECDSA P-256');
  }
  const spiffeId = spiffeIdFromSan(cert.subjectAltName);
  if (spiffeId === null)
    throw new MeshTlsError('bad-certificate', 'certificate: needs exactly one spiffe:// URI SAN');
  const notBefore = new Date(cert.validFrom);
  const notAfter = new Date(cert.validTo);
  if (now > notAfter) throw new MeshTlsError('expired', `certificate: expired at ${notAfter.toISOString()}`);
  try {
    nodeTls().createSecureContext({ cert: creds.certPem, key: creds.keyPem });
  } catch (err) {
    throw new MeshTlsError(
      'bad-key',
      `key: does not match the certificate or is unreadable (${(err as Error).message})`,
    );
  }
  if (creds.trustAnchors.length === 0) throw new MeshTlsError('no-trust-anchors', 'trustAnchors: empty');
  return { spiffeId, notBefore, notAfter, serialNumber: cert.serialNumber };
}

/** Established mesh connections a trust-anchor change closed, by side. */
export interface Untrusted {
  inbound: number;
  outbound: number;
}

/** The certificates in PEM text (one anchor entry may hold several). */
function certificatesIn(pem: string): X509Certificate[] {
  const X509 = nodeCrypto().X509Certificate;
  return splitPemCertificates(pem).map((c) => new X509(c));
}

/** How many certificates MeshTls remembers from its credentials (chains, anchors) to complete peers' chains. */
const MAX_KNOWN_CERTIFICATES = 64;

/** Longest issuer path vouchedFor follows from a peer's leaf. */
const MAX_CHAIN_DEPTH = 8;

/**
 * Whether a peer's certificate chain leads to one of `anchors`. The chain is what the handshake exposes (on the
 * client side the whole verified chain; on the server side Node gives the leaf only), completed with `known`
 * certificates (the proxy's own chains and anchors, old and new: a peer's intermediate is usually one the proxy
 * had itself). Every candidate issuer is tried (a cross-signed intermediate has two). A chain that cannot be
 * completed is not vouched for. Pure; exported for tests.
 */
export function vouchedFor(
  peer: tls.DetailedPeerCertificate,
  anchors: readonly X509Certificate[],
  known: Iterable<X509Certificate>,
): boolean {
  const X509 = nodeCrypto().X509Certificate;
  const pool: X509Certificate[] = [];
  const seen = new Set<string>();
  let c: tls.DetailedPeerCertificate | undefined = peer;
  while (c?.raw !== undefined && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    pool.push(new X509(c.raw));
    c = c.issuerCertificate;
  }
  if (pool.length === 0) return false;
  pool.push(...known);
  const walk = (x: X509Certificate, path: Set<string>): boolean => {
    for (const a of anchors)
      if (a.fingerprint256 === x.fingerprint256 || (x.checkIssued(a) && x.verify(a.publicKey))) return true;
    if (path.size >= MAX_CHAIN_DEPTH) return false;
    for (const p of pool) {
      if (path.has(p.fingerprint256) || !x.checkIssued(p) || !x.verify(p.publicKey)) continue;
      path.add(p.fingerprint256);
      if (walk(p, path)) return true;
      path.delete(p.fingerprint256);
    }
    return false;
  };
  return walk(pool[0]!, new Set([pool[0]!.fingerprint256]));
}

export class MeshTls implements MeshConnector {
  private context: tls.SecureContext;
  /** Established mesh connections, both sides, checked again when the trust anchors change. */
  private readonly live = new Map<tls.TLSSocket, 'inbound' | 'outbound'>();
  /** One 'close' listener and one outbound 'secureConnect' listener for every socket (`this` is the socket). */
  private readonly untrack: (this: tls.TLSSocket) => void;
  private readonly trackOutbound: (this: tls.TLSSocket) => void;
  /** Fingerprints of the current trust anchors. */
  private anchorPrints: Set<string>;
  /** Certificates of this proxy's credentials so far (chains and anchors), oldest first, by fingerprint. */
  private readonly known = new Map<string, X509Certificate>();
  private contextOptions: tls.SecureContextOptions;
  private infoValue: CertificateInfo;

  constructor(creds: MeshCredentials) {
    this.infoValue = inspectCredentials(creds);
    this.contextOptions = MeshTls.optionsFor(creds);
    this.context = nodeTls().createSecureContext(this.contextOptions);
    const anchors = creds.trustAnchors.flatMap(certificatesIn);
    this.anchorPrints = new Set(anchors.map((c) => c.fingerprint256));
    this.remember(creds, anchors);
    const live = this.live;
    this.untrack = function (this: tls.TLSSocket) {
      live.delete(this);
    };
    const track = (s: tls.TLSSocket, side: 'inbound' | 'outbound') => this.track(s, side);
    this.trackOutbound = function (this: tls.TLSSocket) {
      track(this, 'outbound');
    };
    this.server = this.makeServer();
  }

  /** Remembers the intermediates of this proxy's chain (not its own leaf, which issues nothing) and its anchors. */
  private remember(creds: MeshCredentials, anchors: readonly X509Certificate[]): void {
    for (const c of [...certificatesIn(creds.certPem).slice(1), ...anchors]) {
      this.known.delete(c.fingerprint256);
      this.known.set(c.fingerprint256, c);
    }
    for (const k of this.known.keys()) {
      if (this.known.size <= MAX_KNOWN_CERTIFICATES) break;
      this.known.delete(k);
    }
  }

  private track(s: tls.TLSSocket, side: 'inbound' | 'outbound'): void {
    if (s.destroyed) return;
    this.live.set(s, side);
    s.once('close', this.untrack);
  }

  private static optionsFor(creds: MeshCredentials): tls.SecureContextOptions {
    return {
      cert: creds.certPem,
      key: creds.keyPem,
      ca: [...creds.trustAnchors],
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      ecdhCurve: 'X25519:P-256',
    };
  }

  get info(): CertificateInfo {
    return this.infoValue;
  }

  /**
   * Rotation: validates, then swaps the context for new handshakes. Throws and keeps the old one on error.
   * When an anchor was removed (added ones take nothing away), established connections whose peer the new anchors
   * do not vouch for are closed (a pooled connection is opened again, under the new anchors); returns how many, by
   * side. A peer whose chain cannot be completed (an issuer this proxy never had) is closed too: it reconnects,
   * and its new handshake is verified under the new anchors, which an attacker's intermediate under a withdrawn
   * root would not pass.
   */
  update(creds: MeshCredentials): Untrusted {
    const info = inspectCredentials(creds);
    const options = MeshTls.optionsFor(creds);
    const context = nodeTls().createSecureContext(options);
    const anchors = creds.trustAnchors.flatMap(certificatesIn);
    const prints = new Set(anchors.map((a) => a.fingerprint256));
    const removed = [...this.anchorPrints].some((p) => !prints.has(p));
    // New handshakes (client and server side) use the new context; established connections keep theirs.
    this.server.setSecureContext(options);
    this.contextOptions = options;
    this.context = context;
    this.infoValue = info;
    this.anchorPrints = prints;
    this.remember(creds, anchors);
    const closed: Untrusted = { inbound: 0, outbound: 0 };
    if (!removed) return closed;
    const known = [...this.known.values()];
    // Many connections share a peer: one verdict per peer certificate.
    const verdicts = new Map<string, boolean>();
    for (const [s, side] of this.live) {
      if (s.destroyed) continue;
      const peer = s.getPeerCertificate(true);
      let ok = verdicts.get(peer.fingerprint256);
      if (ok === undefined) {
        ok = vouchedFor(peer, anchors, known);
        verdicts.set(peer.fingerprint256, ok);
      }
      if (ok) continue;
      closed[side]++;
      closeByProxy(s);
    }
    return closed;
  }

  /** mTLS client connection to a peer proxy that must present target.identity. */
  connect(target: UpstreamTarget, _timeoutMs: number): tls.TLSSocket {
    const expected = target.identity;
    // allowHalfOpen is honoured by tls.connect (passed to the TLSSocket) but missing from its type.
    const options: tls.ConnectionOptions & { allowHalfOpen: boolean } = {
      allowHalfOpen: true,
      host: target.address,
      port: target.port,
      secureContext: this.context,
      ALPNProtocols: [target.alpn],
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3' as const,
      checkServerIdentity: (_host, cert) => {
        const got = spiffeIdFromSan(cert.subjectaltname);
        if (got !== expected) {
          return new MeshTlsError(
            'identity-mismatch',
            `peer presented ${got ?? 'no SPIFFE ID'}, expected ${expected}`,
          );
        }
        return undefined;
      },
    };
    const s = nodeTls().connect(options);
    s.once('secureConnect', this.trackOutbound);
    return s;
  }

  /**
   * Terminates mTLS on an accepted socket (bytes already peeked are unshifted onto it by the caller).
   * Calls onReady with the verified client identity and the negotiated ALPN, or onFail and destroys it.
   * Handshakes go through a non-listening tls.Server so Node verifies the client certificate exactly as
   * for any TLS server; rotation is server.setSecureContext.
   */
  accept(
    socket: net.Socket,
    onReady: (tlsSocket: tls.TLSSocket, clientId: string, alpn: MeshAlpn) => void,
    onFail: (code: string, detail: string) => void,
  ): void {
    const key = `${socket.remoteAddress}|${socket.remotePort}`;
    this.pending.set(key, { onReady, onFail });
    // Node destroys a socket whose client certificate fails verification without any event; a
    // handshake that ends in a close is a failure all the same.
    socket.once('close', () => {
      const cb = this.pending.get(key);
      if (cb === undefined) return;
      this.pending.delete(key);
      cb.onFail('tls-handshake', 'connection closed before the handshake completed');
    });
    // The TLS socket takes allowHalfOpen from this one. With it, a client that sends its hello and then its
    // FIN leaves the handshake waiting for the 10 s timeout; without it, the end fails the handshake at once.
    // Half-close is given back once the handshake is done (secureConnection), for opaque TCP over mTLS.
    socket.allowHalfOpen = false;
    this.server.emit('connection', socket);
  }

  private readonly pending = new Map<
    string,
    {
      onReady: (s: tls.TLSSocket, id: string, alpn: MeshAlpn) => void;
      onFail: (code: string, detail: string) => void;
    }
  >();

  private readonly server: tls.Server;

  private makeServer(): tls.Server {
    const server = nodeTls().createServer({
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: [...MESH_ALPNS],
      handshakeTimeout: 10_000,
    });
    server.setSecureContext(this.contextOptions);
    server.on('secureConnection', (s: tls.TLSSocket) => {
      const key = `${s.remoteAddress}|${s.remotePort}`;
      const cb = this.pending.get(key);
      this.pending.delete(key);
      if (cb === undefined) {
        s.destroy();
        return;
      }
      const id = spiffeIdFromSan(s.getPeerCertificate().subjectaltname);
      const alpn = s.alpnProtocol;
      if (
        !s.authorized ||
        id === null ||
        typeof alpn !== 'string' ||
        !(MESH_ALPNS as readonly string[]).includes(alpn)
      ) {
        cb.onFail(
          !s.authorized ? 'tls-unauthorized' : id === null ? 'tls-no-identity' : 'tls-no-alpn',
          `alpn ${String(alpn)}`,
        );
        s.destroy();
        return;
      }
      s.allowHalfOpen = true;
      this.track(s, 'inbound');
      cb.onReady(s, id, alpn as MeshAlpn);
    });
    server.on('tlsClientError', (err: Error, s: tls.TLSSocket) => {
      const key = `${s.remoteAddress}|${s.remotePort}`;
      const cb = this.pending.get(key);
      this.pending.delete(key);
      cb?.onFail('tls-handshake', err.message);
      s.destroy();
    });
    return server;
  }
}
