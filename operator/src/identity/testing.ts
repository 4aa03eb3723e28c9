// Test helpers: make CSRs the way a proxy would, with openssl (a real, independent implementation), and a
// mesh CA to sign them.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IDENTITY_TOKEN_AUDIENCE } from '../../../crds/control-plane/types.ts';
import {
  CertificateAuthority,
  generateIssuer,
  generateTrustAnchor,
  type KeyedCertificate,
  keyToPem,
} from './authority.ts';
import { spiffeIdFor } from './spiffe.ts';
import type { ReviewedToken } from './token.ts';

/** A trust anchor and a CA with a fresh issuer under it, for trust domain `td`. */
export function testAuthority(td: string): { anchor: KeyedCertificate; ca: CertificateAuthority } {
  const anchor = generateTrustAnchor(td);
  return {
    anchor,
    ca: new CertificateAuthority(
      { anchors: [anchor.cert], issuer: generateIssuer(anchor, td) },
      { trustDomain: td },
    ),
  };
}

/** The operator's serving certificate from `ca`, for a control-plane server on loopback (localhost, 127.0.0.1). */
export function loopbackServingCert(
  ca: CertificateAuthority,
  td: string,
): { certChain: string; key: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const csr = { spki: publicKey.export({ type: 'spki', format: 'der' }), publicKey };
  const id = spiffeIdFor(td, 'weft', 'weft-operator');
  return {
    certChain: ca.issueServing(csr, id, ['localhost'], ['127.0.0.1']).certificateChain,
    key: keyToPem(privateKey),
  };
}

/**
 * The apiserver's TokenReview answer for a pod-bound projected token (audience IDENTITY_TOKEN_AUDIENCE) of pod
 * `namespace/pod` running as ServiceAccount `serviceAccount`.
 */
export function podTokenReview(namespace: string, serviceAccount: string, pod: string): ReviewedToken {
  return {
    authenticated: true,
    username: `system:serviceaccount:${namespace}:${serviceAccount}`,
    audiences: [IDENTITY_TOKEN_AUDIENCE],
    extra: { 'authentication.kubernetes.io/pod-name': [pod] },
    error: null,
  };
}

export function openssl(args: string[], input?: string): string {
  return execFileSync('openssl', args, {
    encoding: 'utf8',
    input,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** A fresh P-256 key (PEM) and a CSR (PEM) for it, made by openssl. */
export function opensslCsr(curve = 'prime256v1'): { keyPem: string; csrPem: string } {
  const keyPem = openssl(['ecparam', '-name', curve, '-genkey', '-noout']);
  const dir = mkdtempSync(join(tmpdir(), 'weft-csr-'));
  try {
    writeFileSync(join(dir, 'k.pem'), keyPem);
    const csrPem = openssl(['req', '-new', '-key', join(dir, 'k.pem'), '-subj', '/CN=workload']);
    return { keyPem, csrPem };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs `openssl verify` of a leaf against anchors with the given untrusted intermediates; returns stdout. */
export function opensslVerify(anchorsPem: string, leafPem: string, intermediatesPem: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'weft-verify-'));
  try {
    writeFileSync(join(dir, 'ca.pem'), anchorsPem);
    writeFileSync(join(dir, 'int.pem'), intermediatesPem);
    writeFileSync(join(dir, 'leaf.pem'), leafPem);
    return openssl([
      'verify',
      '-x509_strict',
      '-purpose',
      'sslclient',
      '-CAfile',
      join(dir, 'ca.pem'),
      '-untrusted',
      join(dir, 'int.pem'),
      join(dir, 'leaf.pem'),
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
