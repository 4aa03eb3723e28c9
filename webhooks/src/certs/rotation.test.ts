import { describe, expect, test } from '@jest/globals';
import { pino } from 'pino';
import type { CaBundlePublisher } from './ca-bundle-publisher.ts';
import { MemoryCaStore } from './ca-store.ts';
import { GeneratedCertificates } from './generated-certificates.ts';
import { dueForRenewal, planCertificateAuthorities } from './rotation.ts';
import { certificateValidity } from './x509.ts';

const day = 24 * 3600_000;
const t0 = new Date('2026-01-01T00:00:00Z');
const at = (days: number) => new Date(t0.getTime() + days * day);
const policy = { caValidityMs: 90 * day, servingValidityMs: 9 * day, renewAtFraction: 2 / 3 };

describe('rotation decisions', () => {
  test('renewal at two thirds of the lifetime, and outside the validity window', () => {
    const v = { notBefore: at(0), notAfter: at(9) };
    expect(dueForRenewal(v, at(5.9), 2 / 3)).toBe(false);
    expect(dueForRenewal(v, at(6.1), 2 / 3)).toBe(true);
    expect(dueForRenewal(v, at(-1), 2 / 3)).toBe(true);
  });

  test('a CA is created when there is none or the signing one is due; expired ones leave the bundle', () => {
    const ca = (from: number, to: number) => ({ certPem: `${from}`, notBefore: at(from), notAfter: at(to) });
    expect(planCertificateAuthorities([], at(0), policy).createCa).toBe(true);
    expect(planCertificateAuthorities([ca(0, 90)], at(10), policy)).toEqual({
      createCa: false,
      keep: [ca(0, 90)],
    });
    expect(planCertificateAuthorities([ca(0, 90)], at(61), policy).createCa).toBe(true);
    expect(planCertificateAuthorities([ca(61, 151), ca(0, 90)], at(95), policy)).toEqual({
      createCa: false,
      keep: [ca(61, 151)],
    });
  });
});

describe('generated certificates', () => {
  test('CA rotation publishes old and new CA before serving with the new one; replicas share the CA', async () => {
    const store = new MemoryCaStore();
    const published: string[] = [];
    const publisher: CaBundlePublisher = { publish: async (b) => void published.push(b) };
    let now = at(0);
    const served: string[] = [];
    const make = () =>
      new GeneratedCertificates({
        store,
        publisher,
        policy,
        names: { dnsNames: ['weft-webhooks.weft-system.svc'], ipAddresses: ['127.0.0.1'] },
        logger: pino({ level: 'silent' }),
        onCertificate: (c) => void served.push(c.cert),
        now: () => now,
      });
    const a = make();
    const b = make();
    const first = await a.refresh();
    await b.refresh();
    expect(a.caBundle).toBe(b.caBundle); // one CA for both replicas
    expect(a.caBundle.match(/BEGIN CERTIFICATE/g)).toHaveLength(1);
    expect(certificateValidity(first.cert).notAfter.getTime()).toBe(at(9).getTime());

    now = at(7); // serving certificate due, CA not
    const renewed = await a.refresh();
    expect(renewed.cert).not.toBe(first.cert);
    expect(a.caBundle.match(/BEGIN CERTIFICATE/g)).toHaveLength(1);

    now = at(61); // CA due: the bundle holds both until the old one expires
    await a.refresh();
    expect(a.caBundle.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(published.at(-1)).toBe(a.caBundle);
    await b.refresh();
    expect(b.caBundle).toBe(a.caBundle);

    now = at(91); // old CA expired
    await a.refresh();
    expect(a.caBundle.match(/BEGIN CERTIFICATE/g)).toHaveLength(1);
    expect(served.length).toBeGreaterThanOrEqual(4);
  });
});
