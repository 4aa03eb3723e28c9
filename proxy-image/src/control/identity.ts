// The workload's own identity material: an ECDSA P-256 key made in the pod (it never leaves it),
// the CSR that asks the operator for a certificate, and when to renew. Pure apart from key generation.
import 'reflect-metadata';
import { type webcrypto, X509Certificate } from 'node:crypto';

type CryptoKeyPair = webcrypto.CryptoKeyPair;

import * as x509 from '@peculiar/x509';

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface WorkloadKey {
  readonly keys: CryptoKeyPair;
  /** PKCS#8 PEM for node:tls; held in memory only. */
  readonly privateKeyPem: string;
}

export async function generateWorkloadKey(): Promise<WorkloadKey> {
  // Extractable so node:tls can use it; it is never written anywhere or logged.
  const keys = (await crypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', keys.privateKey));
  const body = pkcs8.toString('base64').replace(/.{64}/g, '$&\n');
  return {
    keys,
    privateKeyPem: `-----BEGIN PRIVATE KEY-----\n${body.trimEnd()}\n-----END PRIVATE KEY-----\n`,
  };
}

/** A PKCS#10 request for the SPIFFE ID, signed by the workload key. */
export async function createCsr(key: WorkloadKey, spiffeId: string): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      keys: key.keys,
      signingAlgorithm: ALGORITHM,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffeId }])],
    },
    crypto,
  );
  return csr.toString('pem');
}

export interface CertificateFacts {
  notBefore: number;
  notAfter: number;
  /** URI SANs that are SPIFFE IDs. */
  spiffeIds: string[];
}

export function certificateFacts(pem: string): CertificateFacts {
  const cert = new X509Certificate(pem);
  const spiffeIds = (cert.subjectAltName ?? '')
    .split(', ')
    .filter((s) => s.startsWith('URI:spiffe://'))
    .map((s) => s.slice(4));
  return { notBefore: Date.parse(cert.validFrom), notAfter: Date.parse(cert.validTo), spiffeIds };
}

/**
 * Milliseconds until renewal: at `fraction` of the lifetime (architecture.md: 70%), minus up to 10% of
 * the lifetime of jitter so a fleet issued together does not renew together; never negative.
 */
export function renewalDelayMs(
  facts: CertificateFacts,
  now: number,
  random: () => number,
  fraction = 0.7,
): number {
  const lifetime = Math.max(0, facts.notAfter - facts.notBefore);
  const at = facts.notBefore + lifetime * fraction - lifetime * 0.1 * random();
  return Math.max(0, at - now);
}
