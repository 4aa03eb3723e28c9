// The mesh connections between two proxies, as their admin /config dumps and the kernel's socket table show
// them: rotating both proxies' certificates keeps the pooled proxy-to-proxy mTLS connections, HTTP/1 and
// HTTP/2 (no new one is opened, a gRPC stream open across the rotation carries on; new handshakes present the
// new certificates), and an inbound opaque TCP connection that no
// TrafficTarget allows is refused when it opens (enforcing mode), before the app sees any connection.

import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { type ClientDuplexStream, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { CountersSnapshot } from '../../apps/testapp/src/counters.ts';
import { type EchoReply, type EchoRequest, loadEchoService } from '../../apps/testapp/src/grpc-echo.ts';
import { startTestApp, type TestApp } from '../../apps/testapp/src/test-app.ts';
import {
  closedWithin,
  connectCollect,
  curl,
  listenLoopback,
  makePki,
  metric,
  PAIR_CLIENT,
  PAIR_SERVER,
  type Pki,
  type ProxyProcess,
  proxyConfig,
  removeTmpDirs,
  startMeshPair,
  waitFor,
} from './harness.ts';

const CLIENT = PAIR_CLIENT;
const SERVER = PAIR_SERVER;

let app: TestApp;
let pki: Pki;
let serverCert: { cert: string; key: string };
let clientCert: { cert: string; key: string };
/** The server proxy in front of the app's HTTP port, and the client proxy that sends "web" to it. */
let server: ProxyProcess;
let client: ProxyProcess;
/** The same for gRPC (HTTP/2 between the proxies): in front of the app's gRPC port, and its client proxy. */
let serverGrpc: ProxyProcess;
let clientGrpc: ProxyProcess;
// biome-ignore lint/suspicious/noExplicitAny: generated gRPC client
let echo: any;
/** In front of the app's TCP echo port, enforcing, with a TrafficTarget for another service account only. */
let guarded: ProxyProcess;
/** A client proxy that sends the opaque "echo" service to `guarded`. */
let clientTcp: ProxyProcess;
/**
 * A peer that speaks the mesh's mTLS as the server identity and records the serial number of every client
 * certificate it is shown: what the client proxy presents in a new handshake.
 */
let probe: tls.Server;
const probeSerials: string[] = [];

/** The tcp echo's inbound rules: a TrafficTarget for the service account "other" only, or also for "client". */
function guardedConfig(version: string, allowClient: boolean) {
  const sa = (name: string) => ({ kind: 'serviceAccount', namespace: 'test', name });
  return proxyConfig({
    version,
    sa: 'server',
    trustAnchors: [pki.caPem],
    policyMode: 'enforcing',
    inboundPorts: [
      {
        port: app.tcpEchoPort,
        protocol: 'opaque',
        authorizations: [
          { name: 'test/other-tcp', sources: [sa('other')], httpMatches: null },
          ...(allowClient ? [{ name: 'test/client-tcp', sources: [sa('client')], httpMatches: null }] : []),
        ],
      },
    ],
  });
}

beforeAll(async () => {
  app = await startTestApp({ logLevel: 'silent' });
  pki = makePki();
  serverCert = pki.issue('server', SERVER);
  clientCert = pki.issue('client', CLIENT);
  const probeCert = pki.issue('probe', SERVER);
  probe = tls.createServer(
    {
      cert: readFileSync(probeCert.cert),
      key: readFileSync(probeCert.key),
      ca: pki.caPem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
      ALPNProtocols: ['weft.http1'],
    },
    (s) => {
      s.on('error', () => undefined);
      probeSerials.push(s.getPeerCertificate().serialNumber);
      let head = '';
      s.on('data', (d: Buffer) => {
        head += d.toString('latin1');
        if (head.includes('\r\n\r\n'))
          s.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nprobe');
      });
    },
  );
  const probePort = await listenLoopback(probe);
  ({ server, client } = await startMeshPair({
    pki,
    appPort: app.httpPort,
    service: { name: 'web', clusterIP: '10.96.0.40', port: 80 },
    more: [
      {
        name: 'probe',
        clusterIP: '10.96.0.41',
        port: 80,
        endpoints: [{ address: '127.0.0.1', port: probePort, identity: SERVER }],
      },
    ],
    certs: { server: serverCert, client: clientCert },
  }));
  // Sharing the certificate files of server and client: rotated with them.
  ({ server: serverGrpc, client: clientGrpc } = await startMeshPair({
    pki,
    appPort: app.grpcPort,
    service: { name: 'grpc', clusterIP: '10.96.0.43', port: 8081, protocol: 'grpc' },
    certs: { server: serverCert, client: clientCert },
  }));
  const { Client } = loadEchoService();
  echo = new Client(`127.0.0.1:${clientGrpc.outbound}`, credentials.createInsecure(), {
    'grpc.default_authority': 'grpc.test.svc.cluster.local:8081',
  });
  ({ server: guarded, client: clientTcp } = await startMeshPair({
    pki,
    appPort: app.tcpEchoPort,
    service: { name: 'echo', clusterIP: '10.96.0.42', port: 9000, protocol: 'opaque' },
    serverConfig: guardedConfig('g1', false),
  }));
}, 60_000);

afterAll(async () => {
  echo?.close();
  await Promise.all([client, server, clientGrpc, serverGrpc, clientTcp, guarded].map((p) => p?.stop()));
  await app?.close();
  await new Promise((r) => probe?.close(r));
  pki?.cleanup();
  removeTmpDirs();
}, 30_000);

interface Dump {
  certificate: { serialNumber: string } | null;
  connections: Record<string, number>;
  config: { version: string };
}

async function dump(p: ProxyProcess): Promise<Dump> {
  return JSON.parse((await curl([`http://127.0.0.1:${p.admin}/config`])).body);
}

/** Serial numbers compared as numbers (OpenSSL and Node may differ in leading zeros). */
const serial = (hex: string) => BigInt(`0x${hex}`);
const serialOf = (certFile: string) => serial(new X509Certificate(readFileSync(certFile)).serialNumber);

/** The local ports of the established TCP connections to 127.0.0.1:port (as `ss` lists them). */
function connectionsTo(port: number): number[] {
  return execFileSync('ss', ['-tnH', 'state', 'established'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((r) => r[3] === `127.0.0.1:${port}`)
    .map((r) => Number(r[2]!.split(':').pop()));
}

const countersOfApp = async (): Promise<CountersSnapshot> =>
  JSON.parse((await curl([`http://127.0.0.1:${app.httpPort}/counters`])).body);

describe('certificate rotation', () => {
  test("rotating both proxies' certificates keeps the pooled mTLS connections between them (HTTP/1 and HTTP/2); new handshakes present the new certificates", async () => {
    /** HTTP/1 requests through the pair; each one must reach the app with the verified client identity. */
    const requests = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const r = await curl(['-H', 'Host: web', `http://127.0.0.1:${client.outbound}/echo`]);
        expect(r.status).toBe(200);
        expect(JSON.parse(r.body).headers['x-weft-client-id']).toBe(CLIENT);
      }
    };
    /** gRPC calls through the other pair, likewise. */
    const calls = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const reply = await new Promise<EchoReply>((resolve, reject) =>
          echo.Unary({ message: `u${i}` }, new Metadata(), (err: ServiceError | null, r: EchoReply) =>
            err ? reject(err) : resolve(r),
          ),
        );
        expect([reply.message, reply.metadata['x-weft-client-id']]).toEqual([`u${i}`, CLIENT]);
      }
    };
    /**
     * What the proxies hold once the requests are done: HTTP/1, one mesh connection, idle in the client proxy's
     * pool, and one session on the server proxy; HTTP/2, one session on the server proxy.
     */
    const settled = () =>
      waitFor('one idle HTTP/1 mesh connection', async () => {
        const [c, s, sg] = await Promise.all([dump(client), dump(server), dump(serverGrpc)]);
        const state = {
          client: {
            upstreamConnections: c.connections.upstreamConnections,
            upstreamIdle: c.connections.upstreamIdle,
          },
          server: { httpSessions: s.connections.httpSessions },
          serverGrpc: { h2Sessions: sg.connections.h2Sessions },
        };
        return state.client.upstreamConnections === 1 && state.client.upstreamIdle === 1 ? state : undefined;
      });
    const oneOfEach = {
      client: { upstreamConnections: 1, upstreamIdle: 1 },
      server: { httpSessions: 1 },
      serverGrpc: { h2Sessions: 1 },
    };
    const oldClientSerial = serial((await dump(client)).certificate!.serialNumber);
    const oldServerSerial = serial((await dump(server)).certificate!.serialNumber);
    expect(oldClientSerial).toBe(serialOf(clientCert.cert));

    // The client proxy's certificate in a new handshake, before the rotation: the one it started with.
    expect((await curl(['-H', 'Host: probe', `http://127.0.0.1:${client.outbound}/`])).body).toBe('probe');
    expect(probeSerials.map(serial)).toEqual([oldClientSerial]);

    await requests(5);
    await calls(5);
    // A bidirectional stream that stays open across the rotation.
    const stream: ClientDuplexStream<Partial<EchoRequest>, EchoReply> = echo.BidiStream();
    const streamed: string[] = [];
    const waiting: (() => void)[] = [];
    stream.on('data', (r: EchoReply) => {
      streamed.push(r.message);
      waiting.shift()?.();
    });
    const streamStatus = new Promise<number>((resolve) => {
      stream.on('error', () => undefined);
      stream.on('status', (st: { code: number }) => resolve(st.code));
    });
    const say = (message: string) =>
      new Promise<void>((resolve) => {
        waiting.push(resolve);
        stream.write({ message });
      });
    await say('before');
    expect(await settled()).toEqual(oneOfEach);
    const meshBefore = { http1: connectionsTo(server.inbound), h2: connectionsTo(serverGrpc.inbound) };
    expect([meshBefore.http1.length, meshBefore.h2.length]).toEqual([1, 1]);

    // Both proxies get new certificates (same identities, same CA), as mtls.test.ts rotates the server's.
    const serverNext = pki.issue('server-next', SERVER);
    const clientNext = pki.issue('client-next', CLIENT);
    for (const [next, cur] of [
      [serverNext, serverCert],
      [clientNext, clientCert],
    ] as const) {
      copyFileSync(next.key, cur.key);
      copyFileSync(next.cert, cur.cert);
    }
    const newServerSerial = serialOf(serverNext.cert);
    const newClientSerial = serialOf(clientNext.cert);
    expect(newServerSerial).not.toBe(oldServerSerial);
    expect(newClientSerial).not.toBe(oldClientSerial);
    await waitFor('all four proxies to load their new certificate', async () => {
      const serials = await Promise.all(
        [client, clientGrpc, server, serverGrpc].map(async (p) =>
          serial((await dump(p)).certificate!.serialNumber),
        ),
      );
      return serials.join() === [newClientSerial, newClientSerial, newServerSerial, newServerSerial].join()
        ? true
        : undefined;
    });

    // The stream opened before the rotation carries on, then ends OK.
    await say('after');
    stream.end();
    expect(await streamStatus).toBe(0);
    expect(streamed).toEqual(['before', 'after']);
    await requests(5);
    await calls(5);
    // The same mesh connections carried them: the client proxy's pool holds one connection, idle again, and each
    // server proxy one session; the kernel shows the very sockets from before (same local ports), and no others.
    expect(await settled()).toEqual(oneOfEach);
    expect({ http1: connectionsTo(server.inbound), h2: connectionsTo(serverGrpc.inbound) }).toEqual(
      meshBefore,
    );

    // New handshakes present the new certificates: the client proxy's to a peer...
    expect((await curl(['-H', 'Host: probe', `http://127.0.0.1:${client.outbound}/`])).body).toBe('probe');
    expect(probeSerials.map(serial)).toEqual([oldClientSerial, newClientSerial]);
    // ...and the server proxy's to a client.
    const shown = await new Promise<string>((resolve, reject) => {
      const s = tls.connect({
        host: '127.0.0.1',
        port: server.inbound,
        cert: readFileSync(clientCert.cert),
        key: readFileSync(clientCert.key),
        ca: pki.caPem,
        ALPNProtocols: ['weft.http1'],
        checkServerIdentity: () => undefined,
      });
      s.on('secureConnect', () => {
        resolve(s.getPeerCertificate().serialNumber);
        s.destroy();
      });
      s.on('error', reject);
    });
    expect(serial(shown)).toBe(newServerSerial);
  }, 30_000);
});

describe('inbound opaque TCP and TrafficTargets (enforcing)', () => {
  /** Connects to port (default: through clientTcp), sends a line, and returns what came back when it closed. */
  const exchange = (line: string, port = clientTcp.outbound) =>
    new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.write(line));
      let out = '';
      s.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.endsWith('\n')) s.end();
      });
      s.on('error', () => undefined);
      s.on('close', () => resolve(out));
    });
  const refusedForbidden = () =>
    metric(guarded, 'weft_connections_refused_total', { direction: 'inbound', reason: 'forbidden' });

  test('connections no TrafficTarget allows are refused when they open: closed without a byte, the app never sees them, each counted as forbidden', async () => {
    const appBefore = (await countersOfApp()).tcp.echoConnections;
    expect(await refusedForbidden()).toBe(0);
    // Over mTLS from the client proxy: the identity is verified, but no TrafficTarget names it.
    expect(await exchange('hello\n')).toBe('');
    await waitFor('the refusal counted', async () => ((await refusedForbidden()) === 1 ? true : undefined));
    // Plaintext, straight to the inbound port: no identity at all.
    expect(await exchange('hello\n', guarded.inbound)).toBe('');
    await waitFor('both refusals counted', async () => ((await refusedForbidden()) === 2 ? true : undefined));
    // A client that waits for the server to speak first (as database clients do) is refused all the same: the
    // decision is taken when the connection opens, not at its first bytes.
    const silent = await connectCollect(clientTcp.outbound);
    expect(await closedWithin(silent.sock, 'the refused connection of a silent client')).toBe('closed');
    expect(silent.read()).toBe('');
    await waitFor('three refusals counted', async () =>
      (await refusedForbidden()) === 3 ? true : undefined,
    );
    // None of them got to the app, and the proxy opened no pipe for any.
    expect((await countersOfApp()).tcp.echoConnections).toBe(appBefore);
    expect(await metric(guarded, 'tcp_open_total', { direction: 'inbound' })).toBe(0);
    expect((await dump(guarded)).connections.tcpPipes).toBe(0);
  });

  test('once a TrafficTarget allows the client, the same connection goes through (the refusal was the policy)', async () => {
    const appBefore = (await countersOfApp()).tcp.echoConnections;
    const refusedBefore = await refusedForbidden();
    guarded.writeConfig(guardedConfig('g2', true));
    await waitFor('the new config', async () =>
      (await dump(guarded)).config.version === 'g2' ? true : undefined,
    );
    expect(await exchange('hello again\n')).toBe('hello again\n');
    expect((await countersOfApp()).tcp.echoConnections).toBe(appBefore + 1);
    expect(await refusedForbidden()).toBe(refusedBefore);
    expect(
      await metric(guarded, 'tcp_open_total', {
        direction: 'inbound',
        authority: `app:${app.tcpEchoPort}`,
        tls: 'true',
        client_id: CLIENT,
      }),
    ).toBe(1);
  });
});
