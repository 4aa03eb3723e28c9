// The mesh certificate authority: a trust anchor (root, long-lived, key offline-able), an issuer
// (intermediate, signs leaf certificates) and the leaf issuance policy.
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import {
  decodeName,
  derToPem,
  encodeName,
  newP256Key,
  signCertificate,
  spkiOf,
  splitPemCertificates,
  subjectOf,
  type VerifiedCsr,
  verifyCsr,
} from '../../../crds/x509/certificate.ts';
import { isValidTrustDomain } from './spiffe.ts';

export const DEFAULT_LEAF_LIFETIME_MS = 24 * 3600_000;
export const DEFAULT_BACKDATE_MS = 60_000;
/** Proxies renew at this fraction of the leaf lifetime. */
export const RENEW_AT_FRACTION = 0.7;
const DEFAULT_ANCHOR_LIFETIME_MS = 10 * 365 * 24 * 3600_000;
const DEFAULT_ISSUER_LIFETIME_MS = 365 * 24 * 3600_000;

export interface KeyedCertificate {
  cert: X509Certificate;
  key: KeyObject;
}

export interface IssuerMaterial {
  /** Every trusted root, PEM order preserved: during a rotation old and new. */
  anchors: X509Certificate[];
  issuer: KeyedCertificate;
}

/** Generates a self-signed trust anchor for a trust domain. */
export function generateTrustAnchor(
  trustDomain: string,
  now = new Date(),
  lifetimeMs = DEFAULT_ANCHOR_LIFETIME_MS,
): KeyedCertificate {
  const { key, spki } = newP256Key();
  const subject = encodeName({ organization: 'weft', commonName: `root.${trustDomain}` });
  const cert = signCertificate(
    {
      subject,
      spki,
      notBefore: new Date(now.getTime() - DEFAULT_BACKDATE_MS),
      notAfter: new Date(now.getTime() + lifetimeMs),
      ca: { pathLen: 1 },
    },
    { subject, spki, key },
  );
  return { cert, key };
}

/** Generates an issuer signed by the anchor; never outlives it. */
export function generateIssuer(
  anchor: KeyedCertificate,
  trustDomain: string,
  now = new Date(),
  lifetimeMs = DEFAULT_ISSUER_LIFETIME_MS,
): KeyedCertificate {
  const { key, spki } = newP256Key();
  const notAfter = Math.min(now.getTime() + lifetimeMs, Date.parse(anchor.cert.validTo));
  const cert = signCertificate(
    {
      subject: encodeName({ organization: 'weft', commonName: `issuer.${trustDomain}` }),
      spki,
      notBefore: new Date(now.getTime() - DEFAULT_BACKDATE_MS),
      notAfter: new Date(notAfter),
      ca: { pathLen: 0 },
    },
    { subject: subjectOf(anchor.cert), spki: spkiOf(anchor.cert), key: anchor.key },
  );
  return { cert, key };
}

export class IssuerLoadError extends Error {
  override name = 'IssuerLoadError';
}

/**
 * Loads supplied material (for example from a cert-manager Secret): anchors bundle, issuer certificate and
 * its PKCS#8/SEC1 key. Checks that the key matches, the issuer is a CA and chains to one of the anchors.
 */
export function loadIssuer(
  pem: { anchors: string; issuerCert: string; issuerKey: string },
  now = new Date(),
): IssuerMaterial {
  const anchors = splitPemCertificates(pem.anchors).map((p) => new X509Certificate(p));
  if (anchors.length === 0) throw new IssuerLoadError('anchors: no certificate found');
  const issuerPem = splitPemCertificates(pem.issuerCert)[0];
  if (issuerPem === undefined) throw new IssuerLoadError('issuerCert: no certificate found');
  const cert = new X509Certificate(issuerPem);
  let key: KeyObject;
  try {
    key = createPrivateKey(pem.issuerKey);
  } catch (err) {
    throw new IssuerLoadError(`issuerKey: ${(err as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new IssuerLoadError('issuerKey: must be an ECDSA P-256 key');
  }
  if (!cert.checkPrivateKey(key)) throw new IssuerLoadError('issuerKey: does not match issuerCert');
  if (!cert.ca) throw new IssuerLoadError('issuerCert: is not a CA certificate');
  // An expired issuer signs nothing (issueVerified refuses): refused here, so that a rotation to it keeps the
  // current CA and a start with it fails saying why.
  if (Date.parse(cert.validTo) <= now.getTime())
    throw new IssuerLoadError(`issuerCert: expired at ${cert.validTo}`);
  if (!anchors.some((a) => cert.checkIssued(a) && cert.verify(a.publicKey))) {
    throw new IssuerLoadError('issuerCert: not signed by any of the anchors');
  }
  return { anchors, issuer: { cert, key } };
}

/** The issuer is renewed once this much of its lifetime has passed (cert-manager's default is the same). */
export const ISSUER_RENEW_AT_FRACTION = 2 / 3;

/** CA material as the Secret holds it; `anchorKey` only when the operator generated the anchor. */
export interface CaSecretData {
  anchors: string;
  issuerCert: string;
  issuerKey: string;
  anchorKey: string | null;
}

/**
 * A new issuer for material the operator generated (the anchor key is kept with it), once the current
 * issuer is 2/3 through its life or expired; null when it is not due, or the material is not (or no longer)
 * the operator's own: no anchor key, a key that is no listed anchor's, or a current issuer that anchor did not
 * sign (someone rotated to material of their own and left ca.key behind). That material is renewed by
 * whoever supplied it (cert-manager for example). The anchors stay: leaves of the old and the new issuer
 * verify alike, so nothing else rotates.
 */
export function renewedIssuer(
  data: CaSecretData,
  trustDomain: string,
  now = new Date(),
): { issuerCert: string; issuerKey: string; notAfter: string } | null {
  if (data.anchorKey === null) return null;
  const issuerPem = splitPemCertificates(data.issuerCert)[0];
  if (issuerPem === undefined) return null;
  const current = new X509Certificate(issuerPem);
  const due = renewalTime(new Date(current.validFrom), new Date(current.validTo), ISSUER_RENEW_AT_FRACTION);
  if (now.getTime() < due.getTime()) return null;
  let key: KeyObject;
  try {
    key = createPrivateKey(data.anchorKey);
  } catch {
    return null;
  }
  const anchor = splitPemCertificates(data.anchors)
    .map((p) => new X509Certificate(p))
    .find((a) => a.checkPrivateKey(key));
  if (anchor === undefined || !(current.checkIssued(anchor) && current.verify(anchor.publicKey))) return null;
  // An expired anchor cannot be renewed here: that is a rotation of the anchor (docs/operator.md).
  if (Date.parse(anchor.validTo) <= now.getTime()) return null;
  const issuer = generateIssuer({ cert: anchor, key }, trustDomain, now);
  return {
    issuerCert: issuer.cert.toString(),
    issuerKey: keyToPem(issuer.key),
    notAfter: issuer.cert.validTo,
  };
}

export class IssuanceError extends Error {
  override name = 'IssuanceError';
}

export interface IssuedCertificate {
  /** Leaf then issuer, PEM. */
  certificateChain: string;
  trustAnchors: string[];
  notBefore: Date;
  notAfter: Date;
  /** When the holder should renew: RENEW_AT_FRACTION of the lifetime. */
  renewAfter: Date;
}

export interface AuthorityOptions {
  trustDomain: string;
  leafLifetimeMs?: number;
  backdateMs?: number;
}

/**
 * The pod a workload certificate was issued to, which the SPIFFE ID (a ServiceAccount) does not name: the subject
 * carries the pod's namespace as its organization and its uid as its common name. The control plane streams a
 * certificate so bound only that pod's config.
 */
export interface PodBinding {
  namespace: string;
  uid: string;
}

/**
 * The pod binding of a leaf certificate: null for one issued without (an empty subject); throws for any other
 * subject, which no binding this authority writes has, so it cannot pass for unbound.
 */
export function podBindingOf(cert: X509Certificate): PodBinding | null {
  const subject = subjectOf(cert);
  const { organization, commonName, attributes } = decodeName(subject);
  if (attributes === 0) return null;
  if (attributes !== 2 || organization === undefined || commonName === undefined)
    throw new Error(
      'the certificate subject is neither empty nor a pod binding (O=<namespace>, CN=<pod uid>)',
    );
  return { namespace: organization, uid: commonName };
}

/** Issues leaf certificates for verified CSRs. Pure apart from key material and randomness of serials. */
export class CertificateAuthority {
  readonly trustDomain: string;
  readonly #leafLifetimeMs: number;
  readonly #backdateMs: number;
  #material: IssuerMaterial;
  #issuerSubject: Buffer;
  #issuerSpki: Buffer;
  #issuerPem: string;

  constructor(material: IssuerMaterial, options: AuthorityOptions) {
    if (!isValidTrustDomain(options.trustDomain)) {
      throw new Error(`invalid trust domain "${options.trustDomain}"`);
    }
    this.trustDomain = options.trustDomain;
    this.#leafLifetimeMs = options.leafLifetimeMs ?? DEFAULT_LEAF_LIFETIME_MS;
    this.#backdateMs = options.backdateMs ?? DEFAULT_BACKDATE_MS;
    this.#material = material;
    this.#issuerSubject = subjectOf(material.issuer.cert);
    this.#issuerSpki = spkiOf(material.issuer.cert);
    this.#issuerPem = material.issuer.cert.toString();
  }

  /** Swaps issuer and anchors (rotation). Callers bundle old and new anchors until every leaf is renewed. */
  rotate(material: IssuerMaterial): void {
    this.#material = material;
    this.#issuerSubject = subjectOf(material.issuer.cert);
    this.#issuerSpki = spkiOf(material.issuer.cert);
    this.#issuerPem = material.issuer.cert.toString();
  }

  get trustAnchorsPem(): string[] {
    return this.#material.anchors.map((a) => a.toString());
  }

  get issuerNotAfter(): Date {
    return new Date(this.#material.issuer.cert.validTo);
  }

  /**
   * Verifies the CSR (see verifyCsr) and signs a leaf for spiffeId; bound to the pod it was requested for when
   * that pod's uid is known (podBindingOf).
   */
  issue(
    csrPem: string,
    spiffeId: string,
    now = new Date(),
    pod: PodBinding | null = null,
  ): IssuedCertificate {
    return this.issueVerified(verifyCsr(csrPem), spiffeId, now, pod === null ? {} : { pod });
  }

  /** A serving certificate for the operator itself: its SPIFFE ID plus DNS and IP SANs. */
  issueServing(
    csr: VerifiedCsr,
    spiffeId: string,
    dnsNames: string[],
    ipAddresses: string[],
  ): IssuedCertificate {
    return this.issueVerified(csr, spiffeId, new Date(), { dnsNames, ipAddresses });
  }

  issueVerified(
    csr: VerifiedCsr,
    spiffeId: string,
    now = new Date(),
    extra: { dnsNames?: string[]; ipAddresses?: string[]; pod?: PodBinding } = {},
  ): IssuedCertificate {
    if (!spiffeId.startsWith(`spiffe://${this.trustDomain}/`)) {
      throw new IssuanceError(`${spiffeId} is not in trust domain ${this.trustDomain}`);
    }
    const issuer = this.#material.issuer.cert;
    const issuerFrom = Date.parse(issuer.validFrom);
    const issuerTo = Date.parse(issuer.validTo);
    if (now.getTime() >= issuerTo) throw new IssuanceError('issuer certificate has expired');
    const notBefore = new Date(Math.max(now.getTime() - this.#backdateMs, issuerFrom));
    const notAfter = new Date(Math.min(now.getTime() + this.#leafLifetimeMs, issuerTo));
    const { pod, ...names } = extra;
    const leaf = signCertificate(
      {
        subject: encodeName(pod === undefined ? {} : { organization: pod.namespace, commonName: pod.uid }),
        spki: csr.spki,
        notBefore,
        notAfter,
        ca: null,
        uri: spiffeId,
        ...names,
      },
      { subject: this.#issuerSubject, spki: this.#issuerSpki, key: this.#material.issuer.key },
    );
    return {
      certificateChain: leaf.toString() + this.#issuerPem,
      trustAnchors: this.trustAnchorsPem,
      notBefore,
      notAfter,
      renewAfter: renewalTime(notBefore, notAfter),
    };
  }
}

/** The moment a certificate should be renewed: 70% into its validity. */
export function renewalTime(notBefore: Date, notAfter: Date, fraction = RENEW_AT_FRACTION): Date {
  return new Date(notBefore.getTime() + (notAfter.getTime() - notBefore.getTime()) * fraction);
}

/** Old and new anchors, de-duplicated by fingerprint, order kept: the bundle published during a rotation. */
export function mergeTrustBundles(...bundles: X509Certificate[][]): X509Certificate[] {
  const seen = new Set<string>();
  const out: X509Certificate[] = [];
  for (const c of bundles.flat()) {
    if (seen.has(c.fingerprint256)) continue;
    seen.add(c.fingerprint256);
    out.push(c);
  }
  return out;
}

/** PEM of a private key for storage in a Secret (PKCS#8). */
export function keyToPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

export { derToPem };
