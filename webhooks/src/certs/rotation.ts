// When to renew the CA and the serving certificate, and which CAs the caBundle must hold. Pure.
//
// The caBundle always holds every CA that signed a serving certificate still in use, so rotating the CA never
// breaks a replica: a new CA is published in the bundle next to the old one before any replica serves a
// certificate signed by it, and the old CA leaves the bundle only after it expires.

export interface CertificatePolicy {
  caValidityMs: number;
  servingValidityMs: number;
  /** Renew when this fraction of the lifetime has passed. */
  renewAtFraction: number;
}

export const DEFAULT_CERTIFICATE_POLICY: CertificatePolicy = {
  caValidityMs: 365 * 24 * 3600_000,
  servingValidityMs: 30 * 24 * 3600_000,
  renewAtFraction: 2 / 3,
};

export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

/** True once `fraction` of the lifetime has passed (or the certificate is not yet / no longer valid). */
export function dueForRenewal(v: Validity, now: Date, fraction: number): boolean {
  const start = v.notBefore.getTime();
  const end = v.notAfter.getTime();
  if (now.getTime() < start || now.getTime() >= end) return true;
  return now.getTime() >= start + (end - start) * fraction;
}

export interface CaEntry extends Validity {
  certPem: string;
}

export interface CaPlan {
  /** Create a new CA and make it the signing CA. */
  createCa: boolean;
  /** CAs to keep (expired ones dropped), newest first. */
  keep: CaEntry[];
}

/** Decides whether a new CA is needed and which existing CAs stay in the bundle. `cas` newest first. */
export function planCertificateAuthorities(
  cas: readonly CaEntry[],
  now: Date,
  policy: CertificatePolicy,
): CaPlan {
  const keep = cas.filter((c) => c.notAfter.getTime() > now.getTime());
  const signing = keep[0];
  return { createCa: signing === undefined || dueForRenewal(signing, now, policy.renewAtFraction), keep };
}

/** The caBundle for the CAs: concatenated PEMs, newest first. */
export function caBundle(cas: readonly Pick<CaEntry, 'certPem'>[]): string {
  return `${cas.map((c) => c.certPem.trim()).join('\n')}\n`;
}

/** Delay until the next check: renewal of the serving cert or of the CA, whichever comes first, capped. */
export function nextCheckDelayMs(
  serving: Validity,
  signingCa: Validity,
  now: Date,
  policy: CertificatePolicy,
  capMs = 3600_000,
): number {
  const at = (v: Validity) =>
    v.notBefore.getTime() + (v.notAfter.getTime() - v.notBefore.getTime()) * policy.renewAtFraction;
  const next = Math.min(at(serving), at(signingCa));
  return Math.max(1_000, Math.min(capMs, next - now.getTime()));
}
