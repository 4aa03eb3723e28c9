// crds/kube-client.ts against a server on loopback that stands in for the apiserver (HTTP/2 with HTTP/1.1 allowed,
// client certificates required, as a kubeconfig with a client certificate uses them): API calls share one
// connection; rotated certificate files on disk, and a new certificate from an exec credential plugin, are picked
// up by the next call, on a new connection, while the old one closes; a connection that goes silent (through a
// relay that stops forwarding) fails the call in flight and is replaced.
import { createPublicKey } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { CoreV1Api, KubeConfig, Watch } from '@kubernetes/client-node';
import { PooledKubeConfig } from '../../../crds/kube-client.ts';
import { newP256Key } from '../../../crds/x509/certificate.ts';
import { keyToPem, spiffeIdFor } from '../../../operator/src/identity/index.ts';
import { loopbackServingCert, testAuthority } from '../../../operator/src/identity/testing.ts';
import { closedWithin, waitFor } from '../sockets.ts';

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
let server: http2.Http2SecureServer;
let port = 0;

beforeAll(async () => {
  const serving = loopbackServingCert(ca, TD);
  server = http2.createSecureServer(
    {
      allowHTTP1: true,
      key: serving.key,
      cert: serving.certChain,
      ca: anchor.cert.toString(),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      if (req.url === '/api/v1/namespaces?watch=true') {
        // A watch: one event, then silence (as a quiet kind's watch is between bookmarks).
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'watched' } } })}\n`);
        return;
      }
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
  port = (server.address() as net.AddressInfo).port;
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
  for (const c of connections) c.socket.destroy();
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

/** Runs `fn` with a PooledKubeConfig loaded from `file`, and closes its connections after. */
async function withPooled(
  file: string,
  o: ConstructorParameters<typeof PooledKubeConfig>[0],
  fn: (kc: PooledKubeConfig) => Promise<void>,
): Promise<void> {
  const kc = new PooledKubeConfig(o);
  kc.loadFromFile(file);
  try {
    await fn(kc);
  } finally {
    await kc.close();
  }
}

const identity = (name: string) => `URI:${spiffeIdFor(TD, 'weft', name)}`;

/**
 * The last connection presents `from`'s certificate; after `rotate`, the next calls open one connection with `to`'s,
 * and the old connection closes (its pool retired at once: retireAfterMs 0).
 */
async function expectRotation(
  kc: PooledKubeConfig,
  from: string,
  rotate: () => void,
  to: string,
): Promise<void> {
  const first = connections.at(-1)!;
  expect(first.identity).toBe(identity(from));
  rotate();
  expect(await reads(kc, 3)).toBe(1);
  expect(connections.at(-1)!.identity).toBe(identity(to));
  expect(await closedWithin(first.socket, `the connection with ${from}'s certificate`, 2000)).toBe('closed');
}

test('calls share one connection, and rotated certificate files take effect on the next call', () =>
  withPooled(files.kubeconfig, { retireAfterMs: 0 }, async (kc) => {
    expect(await reads(kc, 20)).toBe(1);
    // Concurrent calls are streams of that connection (HTTP/2, as with a real apiserver).
    const core = kc.makeApiClient(CoreV1Api);
    const before = connections.length;
    await Promise.all(Array.from({ length: 8 }, (_, i) => core.readNamespace({ name: `p-${i}` })));
    expect(connections.length).toBe(before);
    await expectRotation(kc, 'first', () => writeClientCert('second'), 'second');
  }));

test('client certificates from an exec credential plugin: one pool while the plugin hands out the same one', () =>
  withPooled(files.execKubeconfig, { retireAfterMs: 0 }, async (kc) => {
    expect(await reads(kc, 5)).toBe(1);
    await expectRotation(kc, 'exec-first', () => writeExecCredential('exec-second'), 'exec-second');
  }));

test('a connection that goes silent fails the call in flight, and the next calls get a new one', async () => {
  // A relay between client and server that can stop forwarding on the connections it holds, without closing
  // them: what a peer that vanished, or a dropped NAT entry, looks like from the client.
  const held: net.Socket[] = [];
  const silenced = new Set<net.Socket>();
  const relay = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    held.push(client, upstream);
    client.on('data', (d) => silenced.has(client) || upstream.write(d));
    upstream.on('data', (d) => silenced.has(client) || client.write(d));
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  const config = join(dir, 'relay-kubeconfig');
  writeFileSync(
    config,
    kubeconfig((relay.address() as net.AddressInfo).port, {
      'client-certificate': files.cert,
      'client-key': files.key,
    }),
  );
  try {
    await withPooled(config, { requestTimeoutMs: 1000 }, async (kc) => {
      const core = kc.makeApiClient(CoreV1Api);
      expect(await reads(kc, 3)).toBe(1);
      const [client] = held;
      silenced.add(client!);
      const failed = await core.readNamespace({ name: 'while-silent' }).catch((e: unknown) => e as Error);
      expect((failed as Error & { cause?: { code?: string } }).cause?.code).toBe('UND_ERR_HEADERS_TIMEOUT');
      // undici pings the session once a call timed out, and drops it when the ping goes unanswered: a later call
      // goes over a new connection (this relay forwards new connections).
      const next = held.length;
      const ns = await waitFor('a call over a new connection', async () =>
        core.readNamespace({ name: 'after' }).catch(() => undefined),
      );
      expect(ns.metadata?.name).toBe('after');
      expect(held.length).toBeGreaterThan(next);
      expect(await closedWithin(client!, 'the silent connection', 5000)).toBe('closed');
    });
  } finally {
    for (const s of held) s.destroy();
    relay.close();
  }
}, 20_000);

test('a watch may stay quiet past the request timeout of calls, on a connection of its own', () =>
  withPooled(files.kubeconfig, { requestTimeoutMs: 300 }, async (kc) => {
    expect(await reads(kc, 2)).toBe(1);
    const before = connections.length;
    const events: string[] = [];
    let ended: unknown = 'still open';
    const watching = await new Watch(kc).watch(
      '/api/v1/namespaces',
      {},
      (type, obj: { metadata?: { name?: string } }) => events.push(`${type} ${obj.metadata?.name}`),
      (err) => {
        ended = err;
      },
    );
    // Silent for four times the request timeout of calls: still open (client-node's Watch ends a watch quiet
    // for its own 30 s).
    await new Promise((r) => setTimeout(r, 1200));
    expect(ended).toBe('still open');
    expect(events).toEqual(['ADDED watched']);
    watching.abort();
    // Watches go over a connection of their own; calls keep theirs.
    expect(connections.length).toBe(before + 1);
    expect(await reads(kc, 2)).toBe(0);
  }));
