// Certificates and CSRs: ECDSA P-256 with SHA-256 only. Built with the DER writer in der.ts, signed and
// verified by node:crypto (OpenSSL underneath). The operator's mesh identity (anchor, issuer, leaves from
// CSRs) and the webhooks' own CA and serving certificates both use it: one X.509 code path in the project.

import {
  createHash,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  verify,
  X509Certificate,
} from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import {
  bitString,
  bool,
  children,
  context,
  DerError,
  decodeOid,
  octets,
  oid,
  readOne,
  seq,
  set,
  smallInt,
  TAG,
  type Tlv,
  time,
  tlv,
  uintBytes,
  utf8,
} from './der.ts';

const OID = {
  ecPublicKey: '1.2.840.10045.2.1',
  prime256v1: '1.2.840.10045.3.1.7',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectKeyId: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyId: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** A stable code per failure, used in API errors and metric labels. */
export type CsrErrorCode = 'MalformedCsr' | 'UnsupportedKey' | 'UnsupportedSignature' | 'BadSignature';

export class CsrError extends Error {
  override name = 'CsrError';
  readonly code: CsrErrorCode;
  constructor(code: CsrErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export function pemToDer(pem: string, label: string): Buffer {
  const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`);
  const m = re.exec(pem);
  if (m === null) throw new DerError(`no PEM block "${label}" found`);
  return Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
}

export { derToPem, splitPemCertificates } from './pem.ts';

/** A verified certificate signing request. */
export interface VerifiedCsr {
  /** SubjectPublicKeyInfo, DER: copied into the certificate unchanged. */
  spki: Buffer;
  publicKey: KeyObject;
}

/** Parses a PKCS#10 CSR (PEM) and verifies it: EC P-256 key, ecdsa-with-SHA256, valid self-signature. */
export function verifyCsr(pem: string): VerifiedCsr {
  let info: Tlv;
  let spki: Tlv;
  let sigAlg: string;
  let signature: Buffer;
  let keyType: string;
  let curve: string;
  try {
    const req = children(readOne(pemToDer(pem, 'CERTIFICATE REQUEST')));
    if (req.length !== 3 || req[0]!.tag !== TAG.SEQUENCE || req[2]!.tag !== TAG.BIT_STRING) {
      throw new DerError('not a CertificationRequest');
    }
    info = req[0]!;
    const infoParts = children(info);
    if (infoParts.length < 3 || infoParts[2]!.tag !== TAG.SEQUENCE)
      throw new DerError('bad CertificationRequestInfo');
    spki = infoParts[2]!;
    const sigAlgId = req[1]!.tag === TAG.SEQUENCE ? children(req[1]!)[0] : undefined;
    if (sigAlgId?.tag !== TAG.OID) throw new DerError('bad signatureAlgorithm');
    sigAlg = decodeOid(sigAlgId.content);
    if (req[2]!.content[0] !== 0) throw new DerError('signature has unused bits');
    signature = req[2]!.content.subarray(1);
    const algId = children(spki)[0];
    if (algId === undefined || algId.tag !== TAG.SEQUENCE) throw new DerError('bad SubjectPublicKeyInfo');
    const alg = children(algId);
    keyType = alg[0]?.tag === TAG.OID ? decodeOid(alg[0].content) : '';
    curve = alg[1]?.tag === TAG.OID ? decodeOid(alg[1].content) : '';
  } catch (err) {
    throw new CsrError('MalformedCsr', `csr is not a PEM PKCS#10 request: ${(err as Error).message}`);
  }
  if (keyType !== OID.ecPublicKey || curve !== OID.prime256v1) {
    throw new CsrError('UnsupportedKey', 'csr key must be ECDSA P-256');
  }
  if (sigAlg !== OID.ecdsaWithSha256) {
    throw new CsrError('UnsupportedSignature', 'csr must be signed with ecdsa-with-SHA256');
  }
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: spki.raw, format: 'der', type: 'spki' });
  } catch (err) {
    throw new CsrError('UnsupportedKey', `csr public key is invalid: ${(err as Error).message}`);
  }
  if (!verify('sha256', info.raw, publicKey, signature)) {
    throw new CsrError('BadSignature', 'csr signature does not match its public key');
  }
  return { spki: Buffer.from(spki.raw), publicKey };
}

/** A new ECDSA P-256 key pair: the private key and the DER SubjectPublicKeyInfo a certificate embeds. */
export function newP256Key(): { key: KeyObject; spki: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { key: privateKey, spki: publicKey.export({ type: 'spki', format: 'der' }) };
}

/** A distinguished name with an optional organization and a common name (a leaf's is empty or names its pod). */
export function encodeName(parts: { organization?: string; commonName?: string }): Buffer {
  const rdns: Buffer[] = [];
  if (parts.organization !== undefined) rdns.push(set(seq(oid(OID.organization), utf8(parts.organization))));
  if (parts.commonName !== undefined) rdns.push(set(seq(oid(OID.commonName), utf8(parts.commonName))));
  return seq(...rdns);
}

/**
 * The organization and common name of a DER Name, as encodeName writes them (each absent when the Name has none,
 * or several), and how many attributes it has in all.
 */
export function decodeName(der: Buffer): { organization?: string; commonName?: string; attributes: number } {
  const organizations: string[] = [];
  const commonNames: string[] = [];
  let attributes = 0;
  for (const rdn of children(readOne(der))) {
    for (const atv of children(rdn)) {
      attributes++;
      const [type, value] = children(atv);
      if (type === undefined || value === undefined) continue;
      const id = decodeOid(type.content);
      if (id === OID.organization) organizations.push(value.content.toString('utf8'));
      else if (id === OID.commonName) commonNames.push(value.content.toString('utf8'));
    }
  }
  return {
    ...(organizations.length === 1 ? { organization: organizations[0] } : {}),
    ...(commonNames.length === 1 ? { commonName: commonNames[0] } : {}),
    attributes,
  };
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

/** SHA-1 of the subjectPublicKey bit string (RFC 5280 4.2.1.2, method 1). */
export function keyIdentifier(spki: Buffer): Buffer {
  const bits = children(readOne(spki))[1]!;
  return createHash('sha1').update(bits.content.subarray(1)).digest();
}

export interface CertificateTemplate {
  /** DER of the subject Name (encodeName). */
  subject: Buffer;
  spki: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** CA certificates may sign others; pathLen limits the chain below. */
  ca: { pathLen: number } | null;
  /** URI SAN (the SPIFFE ID) for leaf certificates. */
  uri?: string;
  /** DNS and IP SANs, for the operator's own serving certificate. */
  dnsNames?: string[];
  ipAddresses?: string[];
}

export interface Signer {
  /** DER of the signer's subject Name, copied verbatim as the issuer. */
  subject: Buffer;
  /** SubjectPublicKeyInfo of the signer (for the authority key identifier). */
  spki: Buffer;
  key: KeyObject;
}

/** Builds and signs an X.509 v3 certificate. Self-signed when signer.spki equals template.spki. */
export function signCertificate(t: CertificateTemplate, signer: Signer): X509Certificate {
  const algId = seq(oid(OID.ecdsaWithSha256));
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40; // positive, 16 bytes, never zero
  const exts: Buffer[] = [];
  if (t.ca !== null) {
    exts.push(extension(OID.basicConstraints, true, seq(bool(true), smallInt(t.ca.pathLen))));
    // keyCertSign (bit 5) + cRLSign (bit 6): 0b0000_0110, 1 unused bit.
    exts.push(extension(OID.keyUsage, true, bitString(Buffer.from([0x06]), 1)));
  } else {
    exts.push(extension(OID.basicConstraints, true, seq()));
    // digitalSignature (bit 0), 7 unused bits.
    exts.push(extension(OID.keyUsage, true, bitString(Buffer.from([0x80]), 7)));
    exts.push(extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth), oid(OID.clientAuth))));
  }
  const names: Buffer[] = [];
  // GeneralName: dNSName [2] IA5String, uniformResourceIdentifier [6] IA5String, iPAddress [7] OCTET STRING.
  if (t.uri !== undefined) names.push(tlv(0x86, Buffer.from(t.uri, 'ascii')));
  for (const d of t.dnsNames ?? []) names.push(tlv(0x82, Buffer.from(d, 'ascii')));
  for (const ip of t.ipAddresses ?? []) names.push(tlv(0x87, ipBytes(ip)));
  if (names.length > 0) {
    // An empty subject makes the SAN critical (RFC 5280 4.2.1.6).
    const emptySubject = children(readOne(t.subject)).length === 0;
    exts.push(extension(OID.subjectAltName, emptySubject, seq(...names)));
  }
  exts.push(extension(OID.subjectKeyId, false, octets(keyIdentifier(t.spki))));
  exts.push(extension(OID.authorityKeyId, false, seq(context(0, keyIdentifier(signer.spki), false))));

  const tbs = seq(
    context(0, smallInt(2), true),
    uintBytes(serial),
    algId,
    signer.subject,
    seq(time(t.notBefore), time(t.notAfter)),
    t.subject,
    t.spki,
    context(3, seq(...exts), true),
  );
  const signature = sign('sha256', tbs, signer.key);
  return new X509Certificate(seq(tbs, algId, bitString(signature)));
}

function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  if (!isIPv6(ip)) throw new Error(`not an IP address: ${ip}`);
  // An embedded IPv4 tail (::ffff:10.0.0.1) is the last two 16-bit groups.
  let groupsText = ip;
  const v4tail = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
  if (v4tail !== null) {
    const [a, b, c, d] = v4tail[2]!.split('.').map(Number) as [number, number, number, number];
    groupsText = `${v4tail[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = groupsText.split('::') as [string, string | undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  for (const [i, g] of groups.entries()) out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  return out;
}

/** The DER of a certificate's subject Name, byte for byte. */
export function subjectOf(cert: X509Certificate): Buffer {
  const tbs = children(children(readOne(cert.raw))[0]!);
  // version [0] is present in v3 certificates: version, serial, sigAlg, issuer, validity, subject.
  const offset = tbs[0]!.tag === 0xa0 ? 1 : 0;
  return Buffer.from(tbs[offset + 4]!.raw);
}

/** The DER SubjectPublicKeyInfo of a certificate. */
export function spkiOf(cert: X509Certificate): Buffer {
  return cert.publicKey.export({ type: 'spki', format: 'der' });
}

/** The URI SANs of a certificate, as node reports them. */
export function uriSans(cert: X509Certificate): string[] {
  const san = cert.subjectAltName ?? '';
  return san
    .split(', ')
    .filter((s) => s.startsWith('URI:'))
    .map((s) => s.slice(4));
}
