// crds/kube-client.ts against an HTTPS server on loopback that stands in for the apiserver (client certificates
// required, as a kubeconfig with a client certificate uses them): API calls share one connection, and rotated
// certificate files on disk are picked up by the next call, on a new connection, while the old one closes.
import { createPublicKey } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { PooledKubeConfig } from '../../../crds/kube-client.ts';
import { newP256Key } from '../../../crds/x509/certificate.ts';
import { keyToPem, spiffeIdFor } from '../../../operator/src/identity/index.ts';
import { loopbackServingCert, testAuthority } from '../../../operator/src/identity/testing.ts';
import { closedWithin } from '../sockets.ts';

const TD = 'cluster.local';
const { anchor, ca } = testAuthority(TD);
const dir = mkdtempSync(join(tmpdir(), 'weft-kube-client-'));
const files = {
  ca: join(dir, 'ca.pem'),
  cert: join(dir, 'client.pem'),
  key: join(dir, 'client-key.pem'),
  kubeconfig: join(dir, 'kubeconfig'),
  credential: join(dir, 'exec-credential.json'),
  execKubeconfig: join(dir, 'exec-kubeconfig'),
};

/** A client certificate (chain PEM) and its key (PEM) for ServiceAccount `name`. */
function clientCert(name: string): { cert: string; key: string } {
  const { key, spki } = newP256Key();
  const issued = ca.issueVerified(
    { spki, publicKey: createPublicKey({ key: spki, format: 'der', type: 'spki' }) },
    spiffeIdFor(TD, 'weft', name),
    new Date(),
  );
  return { cert: issued.certificateChain, key: keyToPem(key) };
}

/** Writes a client certificate for `name` where the kubeconfig names the user's files. */
function writeClientCert(name: string): void {
  const c = clientCert(name);
  writeFileSync(files.cert, c.cert);
  writeFileSync(files.key, c.key);
}

/** What the exec credential plugin prints next: a certificate for `name`, already expired as a credential, so
 * client-node runs the plugin again on every call. */
function writeExecCredential(name: string): void {
  const c = clientCert(name);
  writeFileSync(
    files.credential,
    JSON.stringify({
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      status: {
        clientCertificateData: c.cert,
        clientKeyData: c.key,
        expirationTimestamp: '2000-01-01T00:00:00Z',
      },
    }),
  );
}

/** A kubeconfig for the loopback server with `user`'s settings. */
function kubeconfig(port: number, user: object): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'loopback',
        cluster: { server: `https://127.0.0.1:${port}`, 'certificate-authority': files.ca },
      },
    ],
    users: [{ name: 'weft', user }],
    contexts: [{ name: 'loopback', context: { cluster: 'loopback', user: 'weft' } }],
    'current-context': 'loopback',
  });
}

/** Every TLS connection the server accepted, with the identity its client presented. */
const connections: { socket: TLSSocket; identity: string }[] = [];
let server: https.Server;

beforeAll(async () => {
  const serving = loopbackServingCert(ca, TD);
  server = https.createServer(
    {
      key: serving.key,
      cert: serving.certChain,
      ca: anchor.cert.toString(),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      const name = /^\/api\/v1\/namespaces\/([^/?]+)$/.exec(req.url ?? '')?.[1];
      if (req.method !== 'GET' || name === undefined) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404 }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
    },
  );
  server.on('secureConnection', (socket: TLSSocket) => {
    connections.push({ socket, identity: socket.getPeerCertificate().subjectaltname ?? '' });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  writeFileSync(files.ca, anchor.cert.toString());
  writeClientCert('first');
  const port = (server.address() as AddressInfo).port;
  writeFileSync(
    files.kubeconfig,
    kubeconfig(port, { 'client-certificate': files.cert, 'client-key': files.key }),
  );
  writeExecCredential('exec-first');
  writeFileSync(
    files.execKubeconfig,
    kubeconfig(port, {
      exec: {
        apiVersion: 'client.authentication.k8s.io/v1',
        command: '/bin/cat',
        args: [files.credential],
        interactiveMode: 'Never',
      },
    }),
  );
});

afterAll(async () => {
  server.closeAllConnections();
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `n` sequential reads through `kc`; returns how many connections the server accepted meanwhile. */
async function reads(kc: KubeConfig, n: number): Promise<number> {
  const core = kc.makeApiClient(CoreV1Api);
  const before = connections.length;
  for (let i = 0; i < n; i++) {
    const ns = await core.readNamespace({ name: `ns-${i}` });
    expect(ns.metadata?.name).toBe(`ns-${i}`);
  }
  return connections.length - before;
}

test('client-node as released opens a connection per call (the reason for PooledKubeConfig)', async () => {
  const kc = new KubeConfig();
  kc.loadFromFile(files.kubeconfig);
  // If this fails after an upgrade of @kubernetes/client-node, it pools by itself: crds/kube-client.ts can go.
  expect(await reads(kc, 5)).toBe(5);
});

test('calls share one connection, and rotated certificate files take effect on the next call', async () => {
  const kc = new PooledKubeConfig();
  kc.loadFromFile(files.kubeconfig);
  const start = connections.length;
  try {
    // undici may open a second HTTP/1.1 connection while the first still finishes its response; no more after.
    expect(await reads(kc, 5)).toBeLessThanOrEqual(2);
    expect(await reads(kc, 20)).toBe(0);
    const first = `URI:${spiffeIdFor(TD, 'weft', 'first')}`;
    expect(connections.at(-1)!.identity).toBe(first);

    // Concurrent calls may open more connections (HTTP/1.1); later calls reuse them.
    const core = kc.makeApiClient(CoreV1Api);
    await Promise.all(Array.from({ length: 8 }, (_, i) => core.readNamespace({ name: `p-${i}` })));
    expect(await reads(kc, 10)).toBe(0);

    const before = connections.length;
    writeClientCert('second');
    const opened = await reads(kc, 5);
    expect(opened).toBeGreaterThanOrEqual(1);
    expect(opened).toBeLessThanOrEqual(2);
    const second = `URI:${spiffeIdFor(TD, 'weft', 'second')}`;
    expect(connections.slice(before).map((c) => c.identity)).toEqual(Array(opened).fill(second));
    // The connections made with the old certificate close once idle: the old pool was closed.
    const old = connections.slice(start, before);
    expect(old.map((c) => c.identity)).toEqual(Array(old.length).fill(first));
    for (const c of old)
      expect(await closedWithin(c.socket, 'a connection with the first certificate', 2000)).toBe('closed');
  } finally {
    await kc.close();
  }
});

test('client certificates from an exec credential plugin: one pool while the plugin hands out the same one', async () => {
  const kc = new PooledKubeConfig();
  kc.loadFromFile(files.execKubeconfig);
  const start = connections.length;
  try {
    expect(await reads(kc, 3)).toBeLessThanOrEqual(2);
    expect(await reads(kc, 5)).toBe(0);
    const before = connections.length;
    writeExecCredential('exec-second');
    const opened = await reads(kc, 3);
    expect(opened).toBeGreaterThanOrEqual(1);
    expect(connections.slice(before).map((c) => c.identity)).toEqual(
      Array(opened).fill(`URI:${spiffeIdFor(TD, 'weft', 'exec-second')}`),
    );
    const old = connections.slice(start, before);
    expect(old.map((c) => c.identity)).toEqual(
      Array(old.length).fill(`URI:${spiffeIdFor(TD, 'weft', 'exec-first')}`),
    );
    for (const c of old)
      expect(await closedWithin(c.socket, 'a connection with the first certificate', 2000)).toBe('closed');
  } finally {
    await kc.close();
  }
});
