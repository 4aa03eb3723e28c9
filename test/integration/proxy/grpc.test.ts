// gRPC through an mTLS pair of proxies (h2 between client and client proxy, h2 over mTLS between the
// proxies, h2c to the app): unary, server streaming, grpc-status passthrough and its metrics.

import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { type EchoReply, loadEchoService } from '../../apps/testapp/src/grpc-echo.ts';
import { startTestApp, type TestApp } from '../../apps/testapp/src/test-app.ts';
import {
  curl,
  makePki,
  metricValue,
  PAIR_CLIENT,
  PAIR_SERVER,
  type Pki,
  type ProxyProcess,
  proxyConfig,
  removeTmpDirs,
  startMeshPair,
  startProxyProcess,
} from './harness.ts';

let app: TestApp;
let pki: Pki;
let server: ProxyProcess;
let client: ProxyProcess;
/** A client proxy whose original destination is the server pod's own address (headless service). */
let direct: ProxyProcess;
// biome-ignore lint/suspicious/noExplicitAny: generated gRPC client
let echo: any;

const CLIENT = PAIR_CLIENT;
const SERVER = PAIR_SERVER;

beforeAll(async () => {
  app = await startTestApp({ logLevel: 'silent' });
  pki = makePki();
  ({ server, client } = await startMeshPair({
    pki,
    appPort: app.grpcPort,
    service: { name: 'grpc', clusterIP: '10.96.0.20', port: 8081, protocol: 'grpc' },
  }));
  // The same service, headless (no cluster IP): the client dials the server pod's own address.
  direct = await startProxyProcess({
    config: proxyConfig({
      version: 'd',
      sa: 'client',
      trustAnchors: [pki.caPem],
      services: [
        {
          name: 'grpc-headless',
          clusterIP: null,
          port: 8081,
          protocol: 'grpc',
          endpoints: [{ address: '127.0.0.1', port: server.inbound, identity: SERVER }],
        },
      ],
    }),
    cert: pki.issue('client', CLIENT),
    outboundDst: `127.0.0.1:${server.inbound}`,
  });
  const { Client } = loadEchoService();
  echo = new Client(`127.0.0.1:${client.outbound}`, credentials.createInsecure(), {
    'grpc.default_authority': 'grpc.test.svc.cluster.local:8081',
  });
}, 60_000);

afterAll(async () => {
  echo?.close();
  await Promise.all([client?.stop(), direct?.stop(), server?.stop()]);
  await app?.close();
  pki?.cleanup();
  removeTmpDirs();
}, 30_000);

test('unary call reaches the app with the verified client identity; no forged spelling of it does', async () => {
  const forged = new Metadata();
  forged.set('x-weft-client-id', 'spiffe://evil/ns/x/sa/y');
  forged.set('x_weft_client_id', 'spiffe://evil/ns/x/sa/z');
  const reply = await new Promise<EchoReply>((resolve, reject) =>
    echo.Unary({ message: 'hi' }, forged, (err: ServiceError | null, r: EchoReply) =>
      err ? reject(err) : resolve(r),
    ),
  );
  expect(reply.message).toBe('hi');
  expect(reply.metadata['x-weft-client-id']).toBe(CLIENT);
  expect(reply.metadata.x_weft_client_id).toBeUndefined();
});

test('grpc-status of a failed call passes through', async () => {
  const err = await new Promise<ServiceError>((resolve) =>
    echo.Unary({ message: 'x', statusCode: 7 }, (e: ServiceError | null) => resolve(e as ServiceError)),
  );
  expect(err.code).toBe(7);
});

test('server streaming delivers every message in order, then OK', async () => {
  const got: number[] = [];
  await new Promise<void>((resolve, reject) => {
    const call = echo.ServerStream({ message: 's', count: 20, intervalMs: 5 });
    call.on('data', (r: EchoReply) => got.push(r.sequence));
    call.on('error', reject);
    call.on('end', resolve);
  });
  expect(got).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
});

test('metrics classify by grpc-status', async () => {
  const text = (await curl([`http://127.0.0.1:${client.admin}/metrics`])).body;
  const grpc = {
    direction: 'outbound',
    authority: 'grpc.test.svc.cluster.local:8081',
    tls: 'true',
    server_id: SERVER,
  };
  expect(
    metricValue(text, 'response_total', { ...grpc, grpc_status_code: '7', classification: 'failure' }),
  ).toBe(1);
  expect(
    metricValue(text, 'response_total', { ...grpc, grpc_status_code: '0', classification: 'success' }),
  ).toBe(2);
});

test('a call addressed to a pod itself (headless service, StatefulSet pod name) goes over mTLS to it', async () => {
  const { Client } = loadEchoService();
  // biome-ignore lint/suspicious/noExplicitAny: generated gRPC client
  const pod: any = new Client(`127.0.0.1:${direct.outbound}`, credentials.createInsecure(), {
    'grpc.default_authority': 'grpc-0.grpc-headless.test.svc.cluster.local:8081',
  });
  try {
    const reply = await new Promise<EchoReply>((resolve, reject) =>
      pod.Unary({ message: 'to the pod' }, new Metadata(), (err: ServiceError | null, r: EchoReply) =>
        err ? reject(err) : resolve(r),
      ),
    );
    expect(reply.message).toBe('to the pod');
    expect(reply.metadata['x-weft-client-id']).toBe(CLIENT);
  } finally {
    pod.close();
  }
});
