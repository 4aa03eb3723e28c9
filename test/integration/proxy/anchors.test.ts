// Trust anchors that change under established mesh connections: a connection whose peer the new anchors still
// vouch for stays (a rotation adds the new anchor first, then removes the old one), and one whose peer they no
// longer vouch for is closed, on both sides of the proxy: an inbound connection from a peer proxy, and a pooled
// outbound one to a peer proxy. Real TLS 1.3 on loopback, certificates from openssl.

import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { splitPemCertificates } from '../../../crds/x509/pem.ts';
import { opensslCsr, testAuthority } from '../../../operator/src/identity/testing.ts';
import { vouchedFor } from '../../../proxy-image/src/tls/mesh-tls.ts';
import {
  closedWithin,
  listenLoopback,
  makePki,
  metric,
  type Pki,
  type ProxyProcess,
  proxyConfig,
  raw,
  removeTmpDirs,
  spiffe,
  startProxyProcess,
  tmpDir,
  waitFor,
} from './harness.ts';

let pki: Pki;
let otherCaPem: string;
let app: http.Server;
let appPort: number;
/** A peer proxy (TLS server with a mesh certificate from the main CA) answering every HTTP/1 request. */
let peer: tls.Server;
let peerPort: number;
const peerSockets: tls.TLSSocket[] = [];
let proxy: ProxyProcess;

function config(version: string, anchors: string[]): unknown {
  return proxyConfig({
    version,
    sa: 'server',
    trustAnchors: anchors,
    inboundPorts: [{ port: appPort, protocol: 'detect', authorizations: [] }],
    services: [
      {
        name: 'peer',
        clusterIP: '10.96.0.50',
        port: 80,
        protocol: 'http1',
        endpoints: [{ address: '127.0.0.1', port: peerPort, identity: spiffe('test', 'peer') }],
      },
    ],
  });
}

beforeAll(async () => {
  pki = makePki();
  otherCaPem = readFileSync(path.join(pki.dir, 'other-ca.crt'), 'utf8');
  // /hang never answers: a request in flight when its connection is closed.
  app = http.createServer((req, res) => {
    if (req.url !== '/hang') res.end('ok');
  });
  appPort = await listenLoopback(app);
  const peerCert = pki.issue('peer', spiffe('test', 'peer'));
  peer = tls.createServer({
    cert: readFileSync(peerCert.cert),
    key: readFileSync(peerCert.key),
    ca: pki.caPem,
    requestCert: true,
    rejectUnauthorized: true,
    ALPNProtocols: ['weft.http1'],
    minVersion: 'TLSv1.3',
  });
  peer.on('secureConnection', (s) => {
    peerSockets.push(s);
    s.on('error', () => undefined);
    s.on('data', () => s.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\npeer'));
  });
  peerPort = await listenLoopback(peer);
  proxy = await startProxyProcess({
    cert: pki.issue('server', spiffe('test', 'server')),
    config: config('v1', [pki.caPem]),
    inboundApp: `127.0.0.1:${appPort}`,
    outboundDst: '10.96.0.50:80',
  });
}, 30_000);

afterAll(async () => {
  await proxy?.stop();
  for (const s of peerSockets) s.destroy();
  peer?.close();
  app?.closeAllConnections();
  app?.close();
  pki?.cleanup();
  removeTmpDirs();
});

/** A third CA as the operator makes them: a root, and an issuer under it that signs the leaves. */
const operatorCa = testAuthority('weft.test');

/** A peer proxy's connection to the proxy's inbound port, with a certificate from the given CA. */
async function inboundPeer(name: string, ca: 'main' | 'other' | 'operator') {
  let creds: { cert: string | Buffer; key: string | Buffer };
  if (ca === 'operator') {
    // Leaf and issuer, as an operator-issued chain is sent; the proxy has never seen this issuer.
    const { keyPem, csrPem } = opensslCsr();
    creds = { key: keyPem, cert: operatorCa.ca.issue(csrPem, spiffe('test', name)).certificateChain };
  } else {
    const cert = pki.issue(name, spiffe('test', name), { ca });
    creds = { cert: readFileSync(cert.cert), key: readFileSync(cert.key) };
  }
  const s = tls.connect({
    host: '127.0.0.1',
    port: proxy.inbound,
    ...creds,
    ca: pki.caPem,
    ALPNProtocols: ['weft.http1'],
    checkServerIdentity: () => undefined,
  });
  s.on('error', () => undefined);
  let got = '';
  s.on('data', (d: Buffer) => {
    got += d.toString('latin1');
  });
  await new Promise((r) => s.once('secureConnect', r));
  /** One request on the connection; resolves with the status line. */
  const request = async () => {
    got = '';
    s.write('GET / HTTP/1.1\r\nHost: app\r\n\r\n');
    await waitFor(`${name}'s response`, () => (got.endsWith('\r\n\r\nok') ? true : undefined), 5000);
    return got.split('\r\n')[0];
  };
  return { s, request };
}

/** The inbound requests the proxy counted, and the exchanges it counted as failed, and as cancelled by their client. */
async function inboundOutcomes() {
  const inbound = { direction: 'inbound', authority: `app:${appPort}` };
  return {
    failed: await metric(proxy, 'response_total', { ...inbound, classification: 'failure' }),
    cancelled: await metric(proxy, 'request_cancelled_total', inbound),
    requests: await metric(proxy, 'request_total', inbound),
  };
}

test('removing the anchor a peer chains to closes its connections, inbound and pooled outbound; others stay', async () => {
  const a = await inboundPeer('client-a', 'main');
  expect(await a.request()).toBe('HTTP/1.1 200 OK');
  // Outbound through the proxy to the peer proxy: the mTLS connection stays in the pool.
  const out = await raw(proxy.outbound, 'GET / HTTP/1.1\r\nHost: peer\r\n\r\n', 1000);
  expect(out).toMatch(/^HTTP\/1\.1 200 OK[\s\S]*peer$/);
  expect(peerSockets.filter((s) => !s.destroyed)).toHaveLength(1);

  // A rotation adds the new anchor: nothing is closed, and peers of the new CA are trusted too.
  const operatorRoot = operatorCa.ca.trustAnchorsPem.join('');
  proxy.writeConfig(config('v2', [pki.caPem, otherCaPem, operatorRoot]));
  await waitFor('v2', async () =>
    (await metric(proxy, 'weft_config_reloads_total', { result: 'applied' })) >= 2 ? true : undefined,
  );
  const b = await inboundPeer('client-b', 'other');
  expect(await b.request()).toBe('HTTP/1.1 200 OK');
  expect(await a.request()).toBe('HTTP/1.1 200 OK');
  // A peer whose issuer this proxy never had (the server side of a handshake sees its leaf only).
  const c = await inboundPeer('client-c', 'operator');
  expect(await c.request()).toBe('HTTP/1.1 200 OK');

  // ... and then removes the old ones: every connection with a peer of an old CA goes, on both sides; the one
  // whose chain the proxy cannot complete too (closed on doubt once an anchor is removed: it may reconnect).
  // A request in flight on one of them ends as the proxy's failure, not as its client's cancellation.
  const outcomes = await inboundOutcomes();
  a.s.write('GET /hang HTTP/1.1\r\nHost: app\r\n\r\n');
  await waitFor('the request in flight', async () =>
    (await inboundOutcomes()).requests === outcomes.requests + 1 ? true : undefined,
  );
  proxy.writeConfig(config('v3', [otherCaPem]));
  expect(await closedWithin(a.s, 'the inbound connection of an old-CA peer')).toBe('closed');
  expect(await closedWithin(c.s, 'the inbound connection of a peer with an unknown issuer')).toBe('closed');
  expect(await closedWithin(peerSockets[0]!, 'the pooled connection to an old-CA peer')).toBe('closed');
  expect(
    await metric(proxy, 'weft_connections_refused_total', { reason: 'untrusted', direction: 'inbound' }),
  ).toBe(2);
  expect(
    await metric(proxy, 'weft_connections_refused_total', { reason: 'untrusted', direction: 'outbound' }),
  ).toBe(1);
  const after = await waitFor('the request in flight to be counted', async () => {
    const o = await inboundOutcomes();
    return o.failed === outcomes.failed + 1 ? o : undefined;
  });
  expect(after.cancelled).toBe(outcomes.cancelled);
  expect(after.requests).toBe(outcomes.requests + 1);
  // The peer of the new CA carries on.
  expect(await b.request()).toBe('HTTP/1.1 200 OK');
  expect(b.s.destroyed).toBe(false);
  b.s.destroy();
}, 30_000);

test('vouchedFor follows the chains the operator issues (leaf, issuer, root anchor), as each side of a handshake sees them', async () => {
  const td = 'cluster.local';
  const mesh = testAuthority(td);
  const other = testAuthority(td);
  const credentials = (name: string) => {
    const { keyPem, csrPem } = opensslCsr();
    return { key: keyPem, cert: mesh.ca.issue(csrPem, `spiffe://${td}/ns/test/sa/${name}`).certificateChain };
  };
  const anchors = mesh.ca.trustAnchorsPem.join('');
  const serverCreds = credentials('server');
  const server = tls.createServer({ ...serverCreds, ca: anchors, requestCert: true, minVersion: 'TLSv1.3' });
  const serverSide = new Promise<tls.TLSSocket>((r) => server.once('secureConnection', r));
  const port = await listenLoopback(server);
  const client = tls.connect({
    host: '127.0.0.1',
    port,
    ...credentials('client'),
    ca: anchors,
    checkServerIdentity: () => undefined,
  });
  try {
    await new Promise((r) => client.once('secureConnect', r));
    const accepted = await serverSide;
    const meshRoot = new X509Certificate(mesh.anchor.cert.toString());
    const otherRoot = new X509Certificate(other.anchor.cert.toString());
    // The issuer, as a proxy has it in its own chain.
    const issuer = new X509Certificate(splitPemCertificates(serverCreds.cert)[1]!);
    expect(issuer.subject).toContain('issuer');
    const known = [issuer, meshRoot];
    // The client side sees the whole chain; the server side the leaf only (Node), completed from what it knows.
    expect(client.getPeerCertificate(true).issuerCertificate).toBeDefined();
    expect(accepted.getPeerCertificate(true).issuerCertificate).toBeUndefined();
    for (const side of [client, accepted]) {
      expect(side.authorized).toBe(true);
      const peer = side.getPeerCertificate(true);
      expect(vouchedFor(peer, [meshRoot], known)).toBe(true);
      expect(vouchedFor(peer, [otherRoot, meshRoot], known)).toBe(true);
      expect(vouchedFor(peer, [otherRoot], known)).toBe(false);
    }
    expect(vouchedFor(client.getPeerCertificate(true), [otherRoot], [])).toBe(false);
    // An issuer it never had: the server side's chain cannot be completed, even to the right anchor (such a peer is
    // closed only once an anchor is removed, and reconnects).
    expect(vouchedFor(accepted.getPeerCertificate(true), [otherRoot], [])).toBe(false);
    expect(vouchedFor(accepted.getPeerCertificate(true), [meshRoot], [])).toBe(false);
    accepted.destroy();
  } finally {
    client.destroy();
    server.close();
  }
});

test('vouchedFor completes a chain through a cross-signed issuer: the candidate that leads to a current anchor', async () => {
  // An issuer key certified twice under one name: by root A (old) and by root B (new), as when an intermediate
  // is re-signed under a new root. A peer's leaf names that issuer; which root it leads to depends on which of
  // the two certificates the chain is completed with.
  const dir = tmpDir();
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const key = (name: string) =>
    ssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`);
  const ext = (name: string, lines: string[]) =>
    writeFileSync(path.join(dir, `${name}.ext`), `${lines.join('\n')}\n`);
  const ca = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'];
  for (const root of ['a', 'b']) {
    key(root);
    ssl(
      'req',
      '-x509',
      '-new',
      '-key',
      `${root}.key`,
      '-subj',
      `/CN=root-${root}`,
      '-days',
      '2',
      '-out',
      `${root}.crt`,
    );
  }
  key('issuer');
  ssl('req', '-new', '-key', 'issuer.key', '-subj', '/CN=weft-issuer', '-out', 'issuer.csr');
  ext('issuer', [...ca, 'subjectKeyIdentifier=hash', 'authorityKeyIdentifier=keyid']);
  for (const root of ['a', 'b'])
    ssl(
      ...[
        'x509',
        '-req',
        '-in',
        'issuer.csr',
        '-CA',
        `${root}.crt`,
        '-CAkey',
        `${root}.key`,
        '-CAcreateserial',
      ],
      ...['-days', '2', '-extfile', 'issuer.ext', '-out', `issuer-${root}.crt`],
    );
  key('leaf');
  ssl('req', '-new', '-key', 'leaf.key', '-subj', '/CN=peer', '-out', 'leaf.csr');
  ext('leaf', [
    `subjectAltName=URI:${spiffe('test', 'peer')}`,
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth,clientAuth',
    'authorityKeyIdentifier=keyid',
  ]);
  ssl(
    ...['x509', '-req', '-in', 'leaf.csr', '-CA', 'issuer-a.crt', '-CAkey', 'issuer.key', '-CAcreateserial'],
    ...['-days', '2', '-extfile', 'leaf.ext', '-out', 'leaf.crt'],
  );
  const cert = (name: string) => new X509Certificate(readFileSync(path.join(dir, `${name}.crt`)));
  const [rootA, rootB, issuerA, issuerB] = [cert('a'), cert('b'), cert('issuer-a'), cert('issuer-b')];

  // The peer as an inbound proxy sees it, over a real handshake.
  const server = tls.createServer({
    ...{ key: readFileSync(path.join(dir, 'leaf.key')), cert: readFileSync(path.join(dir, 'leaf.crt')) },
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.3',
  });
  const serverSide = new Promise<tls.TLSSocket>((r) => server.once('secureConnection', r));
  const port = await listenLoopback(server);
  const client = tls.connect({
    host: '127.0.0.1',
    port,
    key: readFileSync(path.join(dir, 'leaf.key')),
    // The leaf alone: what the server side gets to check is then completed from what the proxy knows.
    cert: readFileSync(path.join(dir, 'leaf.crt')),
    rejectUnauthorized: false,
  });
  try {
    const accepted = await serverSide;
    const peer = accepted.getPeerCertificate(true);
    expect(peer.subjectaltname).toBe(`URI:${spiffe('test', 'peer')}`);
    expect(peer.issuerCertificate).toBeUndefined();
    // Old root removed, new one the anchor: found through issuer-b, whatever the order of what the proxy knows.
    expect(vouchedFor(peer, [rootB], [issuerA, rootA, issuerB])).toBe(true);
    expect(vouchedFor(peer, [rootB], [issuerB, issuerA, rootA])).toBe(true);
    // Without the cross-signed certificate the chain leads only to root A.
    expect(vouchedFor(peer, [rootB], [issuerA, rootA])).toBe(false);
    expect(vouchedFor(peer, [rootA], [issuerA])).toBe(true);
    // And the other way round.
    expect(vouchedFor(peer, [rootA], [issuerB, rootB])).toBe(false);
    expect(vouchedFor(peer, [rootA], [issuerB, rootB, issuerA])).toBe(true);
    accepted.destroy();
  } finally {
    client.destroy();
    server.close();
  }
});
