// The workload's own identity material: an ECDSA P-256 key made in the pod (it never leaves it),
// the CSR that asks the operator for a certificate, and when to renew. Pure apart from key generation.
// node:crypto makes and signs; the request itself is a few DER structures (crds/x509/der.ts, shared with
// the operator, which parses it): no X.509 library resident in every proxy (one cost about 18 MB RSS).
import { generateKeyPair, type KeyObject, sign, X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import { bitString, context, octets, oid, seq, set, smallInt } from '../../../crds/x509/der.ts';
import { derToPem } from '../../../crds/x509/pem.ts';

const generateKeyPairAsync = promisify(generateKeyPair);

const OID = {
  extensionRequest: '1.2.840.113549.1.9.14',
  subjectAltName: '2.5.29.17',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
} as const;
const IA5_URI = 6; // GeneralName [6] uniformResourceIdentifier, implicit IA5String

export interface WorkloadKey {
  readonly privateKey: KeyObject;
  /** SubjectPublicKeyInfo, DER. */
  readonly publicKeySpki: Buffer;
  /** PKCS#8 PEM for node:tls; held in memory only. */
  readonly privateKeyPem: string;
}

export async function generateWorkloadKey(): Promise<WorkloadKey> {
  const { privateKey, publicKey } = await generateKeyPairAsync('ec', { namedCurve: 'prime256v1' });
  return {
    privateKey,
    publicKeySpki: publicKey.export({ type: 'spki', format: 'der' }),
    // Exported so node:tls can use it; it is never written anywhere but the pod's in-memory volume, or logged.
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/** A PKCS#10 request (RFC 2986) for the SPIFFE ID as a URI SAN, empty subject, signed by the workload key. */
export async function createCsr(key: WorkloadKey, spiffeId: string): Promise<string> {
  const san = seq(context(IA5_URI, Buffer.from(spiffeId, 'ascii'), false));
  const extensions = seq(seq(oid(OID.subjectAltName), octets(san)));
  const attributes = context(0, seq(oid(OID.extensionRequest), set(extensions)), true);
  const info = seq(smallInt(0), seq(), key.publicKeySpki, attributes);
  const signature = sign('sha256', info, key.privateKey); // DER ECDSA-Sig-Value
  const der = seq(info, seq(oid(OID.ecdsaWithSha256)), bitString(signature));
  return derToPem(der, 'CERTIFICATE REQUEST');
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
