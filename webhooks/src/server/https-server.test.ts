// The HTTPS shell, in process on loopback: routing, limits, health, metrics, certificate hot swap, and that
// garbage gets a 4xx and never takes the server down.

import { request as httpsRequest } from 'node:https';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { pino } from 'pino';
import { buildWebhookRouter } from '../app.ts';
import { MemoryCaStore } from '../certs/ca-store.ts';
import { GeneratedCertificates } from '../certs/generated-certificates.ts';
import { type RunningWebhookServer, type ServingCertificate, startWebhookServer } from './https-server.ts';
import { createWebhookMetrics } from './metrics.ts';

const logger = pino({ level: 'silent' });
let server: RunningWebhookServer;
let ca: string;
let certs: GeneratedCertificates;

interface Reply {
  status: number;
  body: string;
}

function call(
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: server.port,
        method,
        path,
        ca,
        servername: 'localhost',
        headers,
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

beforeAll(async () => {
  const metrics = createWebhookMetrics();
  certs = new GeneratedCertificates({
    store: new MemoryCaStore(),
    names: { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] },
    logger,
    onCertificate: (c: ServingCertificate) => server?.setCertificate(c),
  });
  const certificate = await certs.refresh();
  ca = certs.caBundle;
  const router = buildWebhookRouter(metrics, { ready: () => ({ ok: true }) });
  router.register(
    '/slow',
    ['POST'],
    () =>
      new Promise((r) =>
        setTimeout(() => r({ status: 200, contentType: 'text/plain', body: 'late' }), 2_000),
      ),
  );
  server = await startWebhookServer({
    router,
    certificate,
    metrics,
    logger,
    host: '127.0.0.1',
    port: 0,
    limits: { handlerTimeoutMs: 300, maxBodyBytes: 64 * 1024 },
  });
});

afterAll(async () => {
  certs.stop();
  await server.close();
});

const json = { 'content-type': 'application/json' };

describe('endpoints', () => {
  test('/convert answers a ConversionReview', async () => {
    const review = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'ConversionReview',
      request: {
        uid: 'x',
        desiredAPIVersion: 'split.smi-spec.io/v1alpha4',
        objects: [
          {
            apiVersion: 'split.smi-spec.io/v1alpha1',
            kind: 'TrafficSplit',
            metadata: { name: 'a', namespace: 'b' },
            spec: {
              service: 'a',
              backends: [
                { service: 'c', weight: '1' },
                { service: 'd', weight: '500m' },
              ],
            },
          },
        ],
      },
    };
    const r = await call('POST', '/convert', JSON.stringify(review), json);
    expect(r.status).toBe(200);
    const out = JSON.parse(r.body) as {
      response: { convertedObjects: { spec: { backends: { weight: number }[] } }[] };
    };
    expect(out.response.convertedObjects[0]!.spec.backends.map((b) => b.weight)).toEqual([1000, 500]);
  });

  test('/validate denies with a message naming the field', async () => {
    const review = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: 'y',
        operation: 'CREATE',
        namespace: 'b',
        object: {
          apiVersion: 'split.smi-spec.io/v1alpha4',
          kind: 'TrafficSplit',
          metadata: { name: 'a' },
          spec: { service: 'a', backends: [] },
        },
      },
    };
    const r = await call('POST', '/validate', JSON.stringify(review), json);
    const out = JSON.parse(r.body) as { response: { allowed: boolean; status: { message: string } } };
    expect(out.response.allowed).toBe(false);
    expect(out.response.status.message).toBe(
      'TrafficSplit b/a: spec.backends: must list at least one backend',
    );
  });

  test('health, readiness and metrics', async () => {
    expect((await call('GET', '/healthz')).status).toBe(200);
    expect((await call('GET', '/readyz')).status).toBe(200);
    const m = await call('GET', '/metrics');
    expect(m.body).toMatch(
      /weft_webhook_requests_total\{path="\/convert",code="200",outcome="converted"\} [1-9]/,
    );
  });
});

describe('limits and bad requests', () => {
  test('unknown path 404, wrong method 405, not JSON 400, wrong content type 415', async () => {
    expect((await call('GET', '/nope')).status).toBe(404);
    expect((await call('GET', '/convert')).status).toBe(405);
    expect((await call('POST', '/convert', '{not json', json)).status).toBe(400);
    expect((await call('POST', '/convert', '{}', { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await call('POST', '/validate', '{}', json)).status).toBe(400);
  });

  test('a body over the limit gets 413, declared or streamed', async () => {
    expect((await call('POST', '/convert', Buffer.alloc(65 * 1024, 'a'), json)).status).toBe(413);
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port: server.port,
          method: 'POST',
          path: '/convert',
          ca,
          servername: 'localhost',
          agent: false,
          headers: json,
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 80; i++) req.write(Buffer.alloc(1024, 'a'));
      req.end();
    });
    expect(chunked).toBe(413);
  });

  test('a handler over its time gets 503', async () => {
    expect((await call('POST', '/slow', '{}', json)).status).toBe(503);
  });

  test('random bytes to every endpoint get a 4xx, and the server keeps serving', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/convert', '/validate'),
        fc.uint8Array({ maxLength: 2048 }),
        async (path, bytes) => {
          const r = await call('POST', path, Buffer.from(bytes), json);
          expect(r.status).toBeGreaterThanOrEqual(400);
          expect(r.status).toBeLessThan(500);
        },
      ),
      { numRuns: 60 },
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('/convert', '/validate'), fc.json(), async (path, text) => {
        const r = await call('POST', path, text, json);
        expect(r.status).toBeLessThan(500);
      }),
      { numRuns: 60 },
    );
    expect((await call('GET', '/healthz')).status).toBe(200);
  });

  test('garbage that is not even HTTP does not crash the server', async () => {
    await new Promise<void>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: server.port, ca, servername: 'localhost' }, () => {
        s.end('\u0000\u0001 GARBAGE\r\n\r\n');
      });
      s.on('data', () => undefined);
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });
    expect((await call('GET', '/healthz')).status).toBe(200);
  });
});

test('a new serving certificate is used for new connections without a restart', async () => {
  const peerSerial = () =>
    new Promise<string>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: server.port, ca, servername: 'localhost' }, () => {
        const serial = s.getPeerCertificate().serialNumber;
        s.end();
        resolve(serial);
      });
      s.on('error', reject);
    });
  const before = await peerSerial();
  // Renewal is due far in the future; ask for it by pretending time has passed.
  const later = new GeneratedCertificates({
    store: new MemoryCaStore(),
    names: { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] },
    logger,
    onCertificate: () => undefined,
  });
  const other = await later.refresh();
  ca = `${ca}${later.caBundle}`;
  server.setCertificate(other);
  const after = await peerSerial();
  expect(after).not.toBe(before);
});
