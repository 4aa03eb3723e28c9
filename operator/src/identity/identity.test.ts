import { sign, X509Certificate } from 'node:crypto';
import { describe, expect, test } from '@jest/globals';
import {
  derToPem,
  encodeName,
  newP256Key,
  signCertificate,
  spkiOf,
  subjectOf,
} from '../../../crds/x509/certificate.ts';
import { bitString, oid, seq, smallInt, tlv } from '../../../crds/x509/der.ts';
import {
  CertificateAuthority,
  CsrError,
  generateIssuer,
  generateTrustAnchor,
  keyToPem,
  loadIssuer,
  mergeTrustBundles,
  podBindingOf,
  renewalTime,
  renewedIssuer,
  spiffeIdFor,
  splitPemCertificates,
  uriSans,
} from './index.ts';
import { openssl, opensslCsr, opensslVerify } from './testing.ts';

const TD = 'cluster.local';
const now = new Date('2026-06-01T12:00:00Z');
const longAgo = new Date('2026-01-01T00:00:00Z');
const anchor = generateTrustAnchor(TD, longAgo);
const issuer = generateIssuer(anchor, TD, longAgo, 5 * 365 * 24 * 3600_000);
const ca = new CertificateAuthority({ anchors: [anchor.cert], issuer }, { trustDomain: TD });

describe('spiffeIdFor', () => {
  test('builds the mesh SPIFFE ID', () => {
    expect(spiffeIdFor(TD, 'shop', 'frontend')).toBe('spiffe://cluster.local/ns/shop/sa/frontend');
  });
  test('rejects names Kubernetes would not allow', () => {
    expect(() => spiffeIdFor(TD, 'Shop', 'x')).toThrow('invalid namespace "Shop"');
    expect(() => spiffeIdFor('a/b', 'shop', 'x')).toThrow('invalid trust domain');
  });
});

describe('CertificateAuthority.issue', () => {
  const { csrPem } = opensslCsr();
  const id = spiffeIdFor(TD, 'shop', 'frontend');

  test('openssl verifies the chain leaf -> issuer -> anchor, and the leaf carries the SPIFFE ID', () => {
    const issued = ca.issue(csrPem, id);
    const [leafPem, issuerPem] = splitPemCertificates(issued.certificateChain);
    expect(opensslVerify(issued.trustAnchors.join(''), leafPem!, issuerPem!)).toContain('OK');
    const leaf = new X509Certificate(leafPem!);
    expect(uriSans(leaf)).toEqual([id]);
    expect(leaf.ca).toBe(false);
    const exts = openssl(['x509', '-noout', '-ext', 'keyUsage,extendedKeyUsage,basicConstraints'], leafPem);
    expect(exts).toContain('CA:FALSE');
    expect(exts).toContain('Digital Signature');
    expect(exts).toContain('TLS Web Server Authentication, TLS Web Client Authentication');
  });

  test('a leaf issued for a pod names it in its subject (podBindingOf); one issued without has an empty subject', () => {
    const [boundPem, issuerPem] = splitPemCertificates(
      ca.issue(csrPem, id, new Date(), { namespace: 'shop', uid: '0b6f3c8e-1d2a-4e5f-9a7b-3c4d5e6f7a8b' })
        .certificateChain,
    );
    const bound = new X509Certificate(boundPem!);
    expect(podBindingOf(bound)).toEqual({ namespace: 'shop', uid: '0b6f3c8e-1d2a-4e5f-9a7b-3c4d5e6f7a8b' });
    expect(bound.subject).toBe('O=shop\nCN=0b6f3c8e-1d2a-4e5f-9a7b-3c4d5e6f7a8b');
    expect(uriSans(bound)).toEqual([id]);
    // Still a valid client certificate under -x509_strict (the SAN is no longer critical with a subject).
    expect(opensslVerify(ca.trustAnchorsPem.join(''), boundPem!, issuerPem!)).toContain('OK');
    const unbound = new X509Certificate(splitPemCertificates(ca.issue(csrPem, id).certificateChain)[0]!);
    expect(unbound.subject).toBeUndefined();
    expect(podBindingOf(unbound)).toBeNull();
    // Any other subject is neither: it must not pass for unbound (only the ServiceAccount checked).
    const { spki } = newP256Key();
    const leafWith = (subject: Buffer) =>
      signCertificate(
        { subject, spki, notBefore: now, notAfter: new Date(now.getTime() + 3600_000), ca: null, uri: id },
        { subject: subjectOf(issuer.cert), spki: spkiOf(issuer.cert), key: issuer.key },
      );
    for (const subject of [encodeName({ organization: 'shop' }), encodeName({ commonName: 'u1' })]) {
      expect(() => podBindingOf(leafWith(subject))).toThrow('neither empty nor a pod binding');
    }
  });

  test('leaf is valid 24h, backdated 1 minute, renewed at 70%', () => {
    const issued = ca.issue(csrPem, id, now);
    expect(issued.notBefore.toISOString()).toBe('2026-06-01T11:59:00.000Z');
    expect(issued.notAfter.toISOString()).toBe('2026-06-02T12:00:00.000Z');
    const leaf = new X509Certificate(splitPemCertificates(issued.certificateChain)[0]!);
    expect(new Date(leaf.validTo).toISOString()).toBe('2026-06-02T12:00:00.000Z');
    expect(issued.renewAfter.getTime()).toBe(issued.notBefore.getTime() + 0.7 * (24 * 3600_000 + 60_000));
  });

  test('never outlives the issuer', () => {
    const shortIssuer = generateIssuer(anchor, TD, now, 3600_000);
    const shortCa = new CertificateAuthority(
      { anchors: [anchor.cert], issuer: shortIssuer },
      { trustDomain: TD },
    );
    const issued = shortCa.issue(csrPem, id, now);
    expect(issued.notAfter.getTime()).toBe(Date.parse(shortIssuer.cert.validTo));
    expect(() => shortCa.issue(csrPem, id, new Date(now.getTime() + 2 * 3600_000))).toThrow(
      'issuer certificate has expired',
    );
  });

  test('refuses an identity outside the trust domain', () => {
    expect(() => ca.issue(csrPem, 'spiffe://other.org/ns/a/sa/b')).toThrow('not in trust domain');
  });
});

describe('CSR verification', () => {
  test('rejects a P-384 key', () => {
    const { csrPem } = opensslCsr('secp384r1');
    expect(() => ca.issue(csrPem, spiffeIdFor(TD, 'a', 'b'))).toThrow(
      expect.objectContaining({ code: 'UnsupportedKey' }) as unknown as Error,
    );
  });
  test('rejects a CSR whose signature does not match (one byte of the subject changed)', () => {
    const { csrPem } = opensslCsr();
    const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const at = der.indexOf(Buffer.from('workload'));
    der[at] = 'W'.charCodeAt(0);
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    expect(() => ca.issue(tampered, spiffeIdFor(TD, 'a', 'b'))).toThrow(CsrError);
    expect(() => ca.issue(tampered, spiffeIdFor(TD, 'a', 'b'))).toThrow('signature does not match');
  });
  test('rejects garbage with MalformedCsr', () => {
    expect(() => ca.issue('hello', spiffeIdFor(TD, 'a', 'b'))).toThrow(
      expect.objectContaining({ code: 'MalformedCsr' }) as unknown as Error,
    );
  });
  test('rejects well-formed DER of the wrong shape with MalformedCsr, saying which part (not a TypeError)', () => {
    const { key, spki } = newP256Key();
    const ecdsaSha256 = seq(oid('1.2.840.10045.4.3.2'));
    const attrs = tlv(0xa0, Buffer.alloc(0));
    const csr = (info: Buffer, alg: Buffer) =>
      derToPem(seq(info, alg, bitString(sign('sha256', info, key))), 'CERTIFICATE REQUEST');
    const cases: [string, string][] = [
      [csr(seq(smallInt(0), seq(), seq(), attrs), ecdsaSha256), 'bad SubjectPublicKeyInfo'],
      [csr(seq(smallInt(0), seq(), seq(smallInt(5)), attrs), ecdsaSha256), 'bad SubjectPublicKeyInfo'],
      [csr(seq(smallInt(0), seq(), spki, attrs), seq()), 'bad signatureAlgorithm'],
    ];
    for (const [pem, why] of cases) {
      expect(() => ca.issue(pem, spiffeIdFor(TD, 'a', 'b'))).toThrow(
        expect.objectContaining({
          code: 'MalformedCsr',
          message: expect.stringContaining(why),
        }) as unknown as Error,
      );
    }
  });
});

describe('loadIssuer and rotation', () => {
  test('loads supplied PEM material and rejects a key that does not match', () => {
    const loaded = loadIssuer({
      anchors: anchor.cert.toString(),
      issuerCert: issuer.cert.toString(),
      issuerKey: keyToPem(issuer.key),
    });
    expect(loaded.anchors[0]!.fingerprint256).toBe(anchor.cert.fingerprint256);
    expect(() =>
      loadIssuer({
        anchors: anchor.cert.toString(),
        issuerCert: issuer.cert.toString(),
        issuerKey: keyToPem(anchor.key),
      }),
    ).toThrow('issuerKey: does not match issuerCert');
    const stranger = generateTrustAnchor(TD);
    expect(() =>
      loadIssuer({
        anchors: stranger.cert.toString(),
        issuerCert: issuer.cert.toString(),
        issuerKey: keyToPem(issuer.key),
      }),
    ).toThrow('not signed by any of the anchors');
    // An issuer past its notAfter signs nothing: refused when loaded (a rotation to it keeps the current CA).
    const old = generateIssuer(anchor, TD, new Date(Date.now() - 3 * 86_400_000), 86_400_000);
    expect(() =>
      loadIssuer({
        anchors: anchor.cert.toString(),
        issuerCert: old.cert.toString(),
        issuerKey: keyToPem(old.key),
      }),
    ).toThrow(`issuerCert: expired at ${old.cert.validTo}`);
  });

  test('during anchor rotation leaves from the old and the new issuer verify against the merged bundle', () => {
    const { csrPem } = opensslCsr();
    const id = spiffeIdFor(TD, 'shop', 'frontend');
    const oldLeaf = ca.issue(csrPem, id);
    const newAnchor = generateTrustAnchor(TD);
    const newIssuer = generateIssuer(newAnchor, TD);
    const bundle = mergeTrustBundles([anchor.cert], [newAnchor.cert, anchor.cert]);
    expect(bundle).toHaveLength(2);
    const rotated = new CertificateAuthority({ anchors: bundle, issuer: newIssuer }, { trustDomain: TD });
    const newLeaf = rotated.issue(csrPem, id);
    const anchorsPem = rotated.trustAnchorsPem.join('');
    for (const chain of [oldLeaf.certificateChain, newLeaf.certificateChain]) {
      const [leafPem, issuerPem] = splitPemCertificates(chain);
      expect(opensslVerify(anchorsPem, leafPem!, issuerPem!)).toContain('OK');
    }
  });

  test('renewalTime is 70% into the validity', () => {
    expect(renewalTime(new Date(0), new Date(1000)).getTime()).toBe(700);
  });
});

describe('renewedIssuer: the generated issuer renews itself under the same anchor', () => {
  const day = 24 * 3600_000;
  const t0 = new Date('2026-01-01T00:00:00Z');
  const anchor = generateTrustAnchor('cluster.local', t0);
  const issuer = generateIssuer(anchor, 'cluster.local', t0);
  const data = {
    anchors: anchor.cert.toString(),
    issuerCert: issuer.cert.toString(),
    issuerKey: keyToPem(issuer.key),
    anchorKey: keyToPem(anchor.key),
  };

  test('not due before 2/3 of its year; due after, and a year and a day on (expired) too', () => {
    expect(renewedIssuer(data, 'cluster.local', new Date(t0.getTime() + 200 * day))).toBeNull();
    for (const days of [250, 366]) {
      const now = new Date(t0.getTime() + days * day);
      const next = renewedIssuer(data, 'cluster.local', now)!;
      expect(next).not.toBeNull();
      // Before: at day 366 loadIssuer refused the expired issuer and the operator could not start.
      const loaded = loadIssuer({ ...data, ...next }, now);
      expect(loaded.anchors.map((a) => a.fingerprint256)).toEqual([anchor.cert.fingerprint256]);
      expect(Date.parse(loaded.issuer.cert.validTo)).toBeGreaterThan(now.getTime() + 360 * day);
      // Leaves of the new issuer verify against the same anchor.
      expect(loaded.issuer.cert.verify(anchor.cert.publicKey)).toBe(true);
    }
  });

  test('supplied material (no anchor key) is left to its owner', () => {
    expect(
      renewedIssuer({ ...data, anchorKey: null }, 'cluster.local', new Date(t0.getTime() + 366 * day)),
    ).toBeNull();
  });

  test('ca.key left behind after a rotation to other material: not renewed (that material is its owner’s)', () => {
    const later = new Date(t0.getTime() + 300 * day);
    const other = generateTrustAnchor('cluster.local', t0);
    const theirs = generateIssuer(other, 'cluster.local', t0);
    // Mid-rotation (both anchors listed, the new issuer in place) and after it (old anchor dropped).
    for (const anchors of [anchor.cert.toString() + other.cert.toString(), other.cert.toString()]) {
      const rotated = {
        anchors,
        issuerCert: theirs.cert.toString(),
        issuerKey: keyToPem(theirs.key),
        anchorKey: data.anchorKey,
      };
      expect(renewedIssuer(rotated, 'cluster.local', later)).toBeNull();
    }
    // A key that is no anchor's at all.
    expect(renewedIssuer({ ...data, anchorKey: keyToPem(other.key) }, 'cluster.local', later)).toBeNull();
  });
});
