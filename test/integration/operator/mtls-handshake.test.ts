// A real TLS 1.3 mutual handshake on loopback between two workloads holding leaves from the mesh CA: each
// side verifies the other's chain against the trust anchors and sees the peer's SPIFFE ID.

import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import { afterAll, expect, test } from '@jest/globals';
import {
  CertificateAuthority,
  generateIssuer,
  generateTrustAnchor,
  spiffeIdFor,
  uriSans,
} from '../../../operator/src/identity/index.ts';
import { opensslCsr, testAuthority } from '../../../operator/src/identity/testing.ts';

const TD = 'cluster.local';
const { ca } = testAuthority(TD);

function workload(ns: string, sa: string) {
  const { keyPem, csrPem } = opensslCsr();
  const issued = ca.issue(csrPem, spiffeIdFor(TD, ns, sa));
  return { key: keyPem, cert: issued.certificateChain, ca: issued.trustAnchors };
}

const servers: tls.Server[] = [];
afterAll(() => {
  for (const s of servers) s.close();
});

test('TLS 1.3 mTLS between two leaves: both sides see the peer SPIFFE ID', async () => {
  const server = tls.createServer({
    ...workload('shop', 'checkout'),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
  });
  servers.push(server);
  const seenByServer = new Promise<string[]>((resolve) => {
    server.on('secureConnection', (s) => {
      resolve(uriSans(new X509Certificate(s.getPeerCertificate().raw)));
      s.end('ok');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  const client = tls.connect({
    ...workload('shop', 'frontend'),
    host: '127.0.0.1',
    port,
    minVersion: 'TLSv1.3',
    // Mesh identities are SPIFFE URIs, not host names: check the expected peer ID instead.
    checkServerIdentity: (_host, cert) =>
      uriSans(new X509Certificate(cert.raw)).includes(spiffeIdFor(TD, 'shop', 'checkout'))
        ? undefined
        : new Error('unexpected server identity'),
  });
  await once(client, 'secureConnect');
  expect(client.authorized).toBe(true);
  expect(client.getProtocol()).toBe('TLSv1.3');
  expect(uriSans(new X509Certificate(client.getPeerCertificate().raw))).toEqual([
    'spiffe://cluster.local/ns/shop/sa/checkout',
  ]);
  expect(await seenByServer).toEqual(['spiffe://cluster.local/ns/shop/sa/frontend']);
  client.destroy();
});

test('a client with a leaf from another CA is rejected', async () => {
  const server = tls.createServer({
    ...workload('shop', 'checkout'),
    requestCert: true,
    rejectUnauthorized: true,
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const other = generateTrustAnchor(TD);
  const otherCa = new CertificateAuthority(
    { anchors: [other.cert], issuer: generateIssuer(other, TD) },
    { trustDomain: TD },
  );
  const { keyPem, csrPem } = opensslCsr();
  const stranger = otherCa.issue(csrPem, spiffeIdFor(TD, 'shop', 'frontend'));
  const client = tls.connect({
    key: keyPem,
    cert: stranger.certificateChain,
    ca: ca.trustAnchorsPem,
    host: '127.0.0.1',
    port,
    checkServerIdentity: () => undefined,
  });
  const outcome = await Promise.race([
    once(client, 'error').then(([e]) => `error: ${(e as Error).message}`),
    once(client, 'data').then(() => 'data'),
    once(client, 'end').then(() => 'end'),
  ]);
  expect(outcome).not.toBe('data');
  client.destroy();
});
