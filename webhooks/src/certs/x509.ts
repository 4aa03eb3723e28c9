// Certificate authority and serving certificates for the webhooks: ECDSA P-256, generated in-process with
// node:crypto and the project's one X.509 builder (crds/x509/certificate.ts). Keys never leave the process
// except into the CA Secret (see ca-store.ts).
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import {
  encodeName,
  newP256Key,
  signCertificate,
  spkiOf,
  subjectOf,
} from '../../../crds/x509/certificate.ts';

/** A certificate and its key, PEM-encoded. */
export interface KeyedCertificate {
  certPem: string;
  keyPem: string;
  notBefore: Date;
  notAfter: Date;
}

/** Backdating for clock skew between the webhook and the apiserver. */
const BACKDATE_MS = 5 * 60_000;

function newKey(): { key: KeyObject; spki: Buffer; keyPem: string } {
  const k = newP256Key();
  return { ...k, keyPem: k.key.export({ type: 'pkcs8', format: 'pem' }) as string };
}

/** Creates a self-signed CA valid from now (minus clock skew) for `validityMs`. */
export function createCertificateAuthority(
  commonName: string,
  now: Date,
  validityMs: number,
): KeyedCertificate {
  const k = newKey();
  const subject = encodeName({ commonName });
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  const notAfter = new Date(now.getTime() + validityMs);
  const cert = signCertificate(
    { subject, spki: k.spki, notBefore, notAfter, ca: { pathLen: 0 } },
    { subject, spki: k.spki, key: k.key },
  );
  return { certPem: cert.toString(), keyPem: k.keyPem, notBefore, notAfter };
}

/** Issues a serving certificate for `dnsNames` and `ipAddresses`, signed by `ca`, never outliving it. */
export function issueServingCertificate(
  ca: Pick<KeyedCertificate, 'certPem' | 'keyPem'>,
  names: { dnsNames: readonly string[]; ipAddresses: readonly string[] },
  now: Date,
  validityMs: number,
): KeyedCertificate {
  const caCert = new X509Certificate(ca.certPem);
  const k = newKey();
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  const notAfter = new Date(Math.min(now.getTime() + validityMs, caCert.validToDate.getTime()));
  const cert = signCertificate(
    {
      subject: encodeName({ commonName: names.dnsNames[0] ?? names.ipAddresses[0] ?? 'weft-webhooks' }),
      spki: k.spki,
      notBefore,
      notAfter,
      ca: null,
      dnsNames: [...names.dnsNames],
      ipAddresses: [...names.ipAddresses],
    },
    { subject: subjectOf(caCert), spki: spkiOf(caCert), key: createPrivateKey(ca.keyPem) },
  );
  return { certPem: cert.toString(), keyPem: k.keyPem, notBefore, notAfter };
}

/** Validity of a PEM certificate. */
export function certificateValidity(certPem: string): { notBefore: Date; notAfter: Date } {
  const c = new X509Certificate(certPem);
  return { notBefore: c.validFromDate, notAfter: c.validToDate };
}
