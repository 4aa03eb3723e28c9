// The webhooks' CA and serving certificates, checked by the parties that consume them: openssl's strict
// verifier with the server purpose, and a real TLS handshake that checks the host name and an IP SAN.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from '@jest/globals';
import { certificateValidity, createCertificateAuthority, issueServingCertificate } from './x509.ts';

const dir = mkdtempSync(join(tmpdir(), 'weft-webhook-x509-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const now = new Date('2026-11-23T12:00:00Z');
const ca = createCertificateAuthority('weft-webhooks-ca', now, 30 * 24 * 3600_000);
const names = {
  dnsNames: ['weft-webhooks.weft-system.svc', 'localhost'],
  ipAddresses: ['127.0.0.1', '::1', '::ffff:10.0.0.1'],
};

test('openssl accepts the serving certificate as a TLS server certificate under the CA (strict)', () => {
  const leaf = issueServingCertificate(ca, names, now, 7 * 24 * 3600_000);
  writeFileSync(join(dir, 'ca.pem'), ca.certPem);
  writeFileSync(join(dir, 'leaf.pem'), leaf.certPem);
  const out = execFileSync(
    'openssl',
    [
      'verify',
      '-x509_strict',
      '-purpose',
      'sslserver',
      '-attime',
      String(Math.floor(now.getTime() / 1000)),
      '-CAfile',
      join(dir, 'ca.pem'),
      join(dir, 'leaf.pem'),
    ],
    { encoding: 'utf8' },
  );
  expect(out.trim()).toBe(`${join(dir, 'leaf.pem')}: OK`);
  const text = execFileSync(
    'openssl',
    ['x509', '-noout', '-ext', 'subjectAltName,basicConstraints', '-in', join(dir, 'leaf.pem')],
    {
      encoding: 'utf8',
    },
  );
  expect(text).toContain('DNS:weft-webhooks.weft-system.svc');
  expect(text).toContain('IP Address:127.0.0.1');
  expect(text).toContain('IP Address:0:0:0:0:0:0:0:1');
  expect(text).toContain('IP Address:0:0:0:0:0:FFFF:A00:1');
  expect(text).toContain('CA:FALSE');
});

test('validity: backdated for clock skew, and the serving certificate never outlives its CA', () => {
  const shortCa = createCertificateAuthority('short', now, 3600_000);
  const leaf = issueServingCertificate(shortCa, names, now, 24 * 3600_000);
  expect(certificateValidity(leaf.certPem)).toEqual({ notBefore: leaf.notBefore, notAfter: leaf.notAfter });
  expect(leaf.notBefore.getTime()).toBe(now.getTime() - 5 * 60_000);
  expect(leaf.notAfter.getTime()).toBe(shortCa.notAfter.getTime());
});

/** GET over TLS to a server with `cert`, trusting only `caPem`; resolves with the status code. */
function get(
  host: string,
  servername: string | undefined,
  caPem: string,
  cert: { certPem: string; keyPem: string },
) {
  return new Promise<number>((resolve, reject) => {
    const server = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (_q, res) => res.end('ok'));
    server.listen(0, host, () => {
      const { port } = server.address() as AddressInfo;
      const req = https.get({ host, port, ca: caPem, servername, agent: false }, (res) => {
        res.resume();
        res.on('end', () => {
          server.close();
          resolve(res.statusCode ?? 0);
        });
      });
      req.on('error', (err) => {
        server.close();
        reject(err);
      });
    });
  });
}

test('a TLS client trusting only the CA connects by DNS name and by IP, and refuses a name not in the SANs', async () => {
  // Issued at wall-clock time, so the handshake's own validity check passes.
  const live = createCertificateAuthority('live-ca', new Date(), 24 * 3600_000);
  const leaf = issueServingCertificate(live, names, new Date(), 3600_000);
  await expect(get('127.0.0.1', 'localhost', live.certPem, leaf)).resolves.toBe(200);
  await expect(get('127.0.0.1', undefined, live.certPem, leaf)).resolves.toBe(200);
  await expect(get('::1', undefined, live.certPem, leaf)).resolves.toBe(200);
  await expect(get('127.0.0.1', 'other.weft-system.svc', live.certPem, leaf)).rejects.toThrow(/altnames/);
  // A certificate from another CA is refused.
  await expect(get('127.0.0.1', 'localhost', ca.certPem, leaf)).rejects.toThrow(/certificate/);
});
