import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { pino } from 'pino';
import type { ServingCertificate } from '../server/https-server.ts';
import { FileCertificates } from './file-certificates.ts';
import { createCertificateAuthority, issueServingCertificate } from './x509.ts';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-certs-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writePair(now: Date) {
  const ca = createCertificateAuthority('test-ca', now, 3600_000);
  const leaf = issueServingCertificate(ca, { dnsNames: ['localhost'], ipAddresses: [] }, now, 600_000);
  await writeFile(join(dir, 'tls.crt'), leaf.certPem);
  await writeFile(join(dir, 'tls.key'), leaf.keyPem);
  return leaf;
}

test('cert-manager files: loaded, reloaded on change, and a broken update keeps the working certificate', async () => {
  const seen: ServingCertificate[] = [];
  const files = new FileCertificates({
    directory: dir,
    logger: pino({ level: 'silent' }),
    onCertificate: (c) => void seen.push(c),
  });
  const first = await writePair(new Date());
  expect((await files.load()).cert).toBe(first.certPem);
  await files.load(); // unchanged: no second notification
  expect(seen).toHaveLength(1);
  const second = await writePair(new Date());
  await files.load();
  expect(seen.map((c) => c.cert)).toEqual([first.certPem, second.certPem]);
  await writeFile(join(dir, 'tls.crt'), '-----BEGIN CERTIFICATE-----\ntruncated');
  await expect(files.load()).rejects.toThrow();
  expect(seen).toHaveLength(2);
});
