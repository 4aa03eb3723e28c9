// Certificate authority and serving certificates: ECDSA P-256, generated in-process with @peculiar/x509 on
// WebCrypto. Keys never leave the process except into the CA Secret (see ca-store.ts).
import { webcrypto, X509Certificate } from 'node:crypto';

type X509Lib = typeof import('@peculiar/x509');
let loaded: Promise<X509Lib> | undefined;

/** Loads @peculiar/x509 after the Reflect metadata it needs (see reflect-metadata.ts). */
function x509Lib(): Promise<X509Lib> {
  loaded ??= (async () => {
    await import('./reflect-metadata.ts');
    const lib = await import('@peculiar/x509');
    lib.cryptoProvider.set(webcrypto as never);
    return lib;
  })();
  return loaded;
}

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** A certificate and its key, PEM-encoded. */
export interface KeyedCertificate {
  certPem: string;
  keyPem: string;
  notBefore: Date;
  notAfter: Date;
}

function pemKey(der: ArrayBuffer): string {
  const b64 = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trim();
  return `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`;
}

async function importKey(keyPem: string): Promise<webcrypto.CryptoKey> {
  const der = Buffer.from(keyPem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return webcrypto.subtle.importKey('pkcs8', der, ALG, true, ['sign']);
}

function serial(): string {
  // Positive 128-bit serial.
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f;
  return Buffer.from(bytes).toString('hex');
}

/** Creates a self-signed CA valid from now (minus clock skew) for `validityMs`. */
export async function createCertificateAuthority(
  commonName: string,
  now: Date,
  validityMs: number,
): Promise<KeyedCertificate> {
  const x509 = await x509Lib();
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const notBefore = new Date(now.getTime() - 5 * 60_000);
  const notAfter = new Date(now.getTime() + validityMs);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}`,
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    certPem: cert.toString('pem'),
    keyPem: pemKey(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as never)),
    notBefore,
    notAfter,
  };
}

/** Issues a serving certificate for `dnsNames` and `ipAddresses`, signed by `ca`. */
export async function issueServingCertificate(
  ca: Pick<KeyedCertificate, 'certPem' | 'keyPem'>,
  names: { dnsNames: readonly string[]; ipAddresses: readonly string[] },
  now: Date,
  validityMs: number,
): Promise<KeyedCertificate> {
  const x509 = await x509Lib();
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await importKey(ca.keyPem);
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const notBefore = new Date(now.getTime() - 5 * 60_000);
  const notAfter = new Date(Math.min(now.getTime() + validityMs, caCert.notAfter.getTime()));
  const sans = [
    ...names.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...names.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${names.dnsNames[0] ?? names.ipAddresses[0] ?? 'weft-webhooks'}`,
    issuer: caCert.subject,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(sans),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return {
    certPem: cert.toString('pem'),
    keyPem: pemKey(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as never)),
    notBefore,
    notAfter,
  };
}

/** Validity of a PEM certificate. */
export function certificateValidity(certPem: string): { notBefore: Date; notAfter: Date } {
  const c = new X509Certificate(certPem);
  return { notBefore: new Date(c.validFrom), notAfter: new Date(c.validTo) };
}
