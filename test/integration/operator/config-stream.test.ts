// The operator's control-plane server (operator/src/server.ts) on real mTLS sockets on loopback, in this
// process: what happens to a config stream when the client certificate it was opened with expires while a large
// config is still on its way, and what a certificate request gets once the issuer has expired. (The TokenReview
// is the apiserver's and is exercised by test/e2e/operator; here it is a function that approves the pod's token.)
import { generateKeyPairSync } from 'node:crypto';
import * as https from 'node:https';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { pino } from 'pino';
import { CERTIFICATES_PATH, CONFIG_PATH } from '../../../crds/control-plane/types.ts';
import { ProxyConfigCompiler } from '../../../operator/src/compiler/compile.ts';
import { manyServices, pod, put, rootSplit, snapshot } from '../../../operator/src/compiler/fixtures.ts';
import { ConfigHub } from '../../../operator/src/distribution/hub.ts';
import {
  CertificateAuthority,
  generateIssuer,
  keyToPem,
  spiffeIdFor,
} from '../../../operator/src/identity/index.ts';
import {
  loopbackServingCert,
  opensslCsr,
  podTokenReview,
  testAuthority,
} from '../../../operator/src/identity/testing.ts';
import { OperatorMetrics } from '../../../operator/src/metrics.ts';
import { type ControlPlaneServers, createControlPlaneServer } from '../../../operator/src/server.ts';
import { closedWithin } from '../sockets.ts';

const TD = 'cluster.local';
const { anchor, ca } = testAuthority(TD);
const LEAF_MS = 24 * 3600 * 1000;

function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    key: keyToPem(privateKey),
    csr: { spki: publicKey.export({ type: 'spki', format: 'der' }), publicKey },
  };
}

/** A client certificate for shop/frontend that expires `inMs` from now (issued as if a day earlier). */
function clientCert(inMs: number) {
  const k = keyPair();
  const issued = ca.issueVerified(
    k.csr,
    spiffeIdFor(TD, 'shop', 'frontend'),
    new Date(Date.now() - LEAF_MS + inMs),
  );
  return { key: k.key, cert: issued.certificateChain, notAfter: issued.notAfter };
}

// A mesh large enough that its config (about 13 MB) cannot all sit in loopback socket buffers (an 8,000-service
// config, 3.5 MB, did: the whole of it was written before the certificate expired).
const s = snapshot();
manyServices(s, 'shop', 30_000);
put(s.pods, pod('shop', 'frontend-1', 'frontend', '10.250.0.1'));
put(s.pods, pod('shop', 'checkout-1', 'checkout', '10.250.0.2'));
// frontend-1's sibling: another pod of the same ServiceAccount.
put(s.pods, pod('shop', 'frontend-2', 'frontend', '10.250.0.3'));
const compiler = new ProxyConfigCompiler();
const weights = (w: number) => {
  rootSplit(s, 'shop', w);
  return compiler.compile(s).proxies;
};

const hub = new ConfigHub({ writeTimeoutMs: 60_000 });
let configBytes = 0;
let server: ControlPlaneServers;
let port = 0;

beforeAll(async () => {
  const first = weights(50);
  configBytes = first.get('shop/frontend-1')!.chunks.reduce((n, c) => n + Buffer.byteLength(c), 0);
  hub.publish(first);
  const serving = loopbackServingCert(ca, TD);
  server = createControlPlaneServer({
    ca,
    serving,
    hub,
    pod: (key) => s.pods.get(key),
    reviewToken: () => Promise.reject(new Error('not used')),
    metrics: new OperatorMetrics(),
    log: pino({ level: 'silent' }),
  });
  await server.listen(0, 0, '127.0.0.1');
  port = server.ports.tls;
}, 60_000);

afterAll(async () => {
  hub.close();
  await server.close();
});

/** Opens the chunked (non-upgraded) stream with a certificate; resolves with the response, paused. */
function openStream(cert: { key: string; cert: string }, pod = 'shop/frontend-1') {
  return new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1',
      port,
      path: `${CONFIG_PATH}?pod=${pod}`,
      key: cert.key,
      cert: cert.cert,
      ca: ca.trustAnchorsPem,
      checkServerIdentity: () => undefined,
      agent: false,
    });
    req.on('response', (res) => {
      res.pause();
      resolve(res);
    });
    req.on('error', reject);
    req.end();
  });
}

test('a stream whose client certificate expires mid-config ends; updates meanwhile are not written after its end', async () => {
  const cert = clientCert(2500);
  const res = await openStream(cert);
  expect(res.statusCode).toBe(200);
  // The client reads nothing: the first config (megabytes) stays on its way past the certificate's expiry.
  await new Promise((r) => setTimeout(r, Math.max(0, cert.notAfter.getTime() - Date.now()) + 500));
  // A change for this pod after the stream was ended at expiry, while its first config is still being written.
  hub.publish(weights(20));
  let bytes = 0;
  res.on('data', (d: Buffer) => {
    bytes += d.length;
  });
  res.resume();
  await new Promise<void>((resolve) => {
    res.on('close', () => resolve());
    res.on('error', () => resolve());
  });
  // Part of the first config, not all of it, and nothing after the end. Before the fix, the writer went on
  // writing the config after end(): the response emitted 'write after end' with no listener, which failed this
  // file as it crashed the operator.
  await new Promise((r) => setTimeout(r, 200));
  expect(bytes).toBeGreaterThan(0);
  expect(bytes).toBeLessThan(configBytes);
  // The server is fine: a stream with a valid certificate gets the current config.
  const again = await openStream(clientCert(LEAF_MS - 60_000));
  let first = '';
  again.on('data', (d: Buffer) => {
    first += d.toString('latin1', 0, Math.min(d.length, 200));
  });
  again.resume();
  await new Promise<void>((resolve) => again.once('data', () => resolve()));
  expect(first).toContain('"type"');
  again.destroy();
}, 60_000);

test('once the issuer has expired, a certificate request gets 503 Unavailable saying so, and is counted', async () => {
  // A CA whose issuer expires 2 s from now (made as if a day earlier, with a one-day lifetime).
  const shortCa = new CertificateAuthority(
    {
      anchors: [anchor.cert],
      issuer: generateIssuer(anchor, TD, new Date(Date.now() - LEAF_MS + 2_000), LEAF_MS),
    },
    { trustDomain: TD },
  );
  const serving = loopbackServingCert(ca, TD);
  const metrics = new OperatorMetrics();
  const srv = createControlPlaneServer({
    ca: shortCa,
    serving,
    hub,
    pod: (key) => s.pods.get(key),
    reviewToken: async () => podTokenReview('shop', 'frontend', 'frontend-1'),
    metrics,
    log: pino({ level: 'silent' }),
  });
  await srv.listen(0, 0, '127.0.0.1');
  const request = () =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const { csrPem } = opensslCsr();
      const body = JSON.stringify({ csr: csrPem, pod: { namespace: 'shop', name: 'frontend-1' } });
      const req = https.request(
        {
          host: '127.0.0.1',
          port: srv.ports.tls,
          method: 'POST',
          path: CERTIFICATES_PATH,
          headers: { authorization: 'Bearer token', 'content-type': 'application/json' },
          ca: ca.trustAnchorsPem,
          checkServerIdentity: () => undefined,
          agent: false,
        },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => {
            text += d;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  try {
    expect((await request()).status).toBe(200);
    await new Promise((r) =>
      setTimeout(r, Math.max(0, Date.parse(shortCa.issuerNotAfter.toISOString()) - Date.now()) + 200),
    );
    const after = await request();
    expect(after.status).toBe(503);
    expect(JSON.parse(after.body)).toMatchObject({ reason: 'Unavailable' });
    expect(JSON.parse(after.body).message).toMatch(/issuer cannot sign: issuer certificate has expired/);
    expect(await metrics.registry.metrics()).toMatch(
      /weft_operator_certificate_failures_total\{reason="Unavailable"\} 1/,
    );
  } finally {
    await srv.close();
  }
}, 30_000);

test('who may follow which pod: another CA, a pod that does not exist, a pod of another ServiceAccount, another pod than the certificate is bound to are refused with their reason', async () => {
  const answer = async (cert: { key: string; cert: string }, pod?: string) => {
    const res = await openStream(cert, pod);
    let body = '';
    res.on('data', (d: Buffer) => {
      body += d;
    });
    res.resume();
    await new Promise((r) => res.once('end', r));
    return { status: res.statusCode, reason: (JSON.parse(body) as { reason: string }).reason };
  };
  // A well-formed mesh certificate from a CA this operator does not trust.
  const stranger = testAuthority(TD).ca;
  const k = keyPair();
  const foreign = {
    key: k.key,
    cert: stranger.issueVerified(k.csr, spiffeIdFor(TD, 'shop', 'frontend')).certificateChain,
  };
  expect(await answer(foreign)).toEqual({ status: 401, reason: 'Unauthenticated' });
  const mine = clientCert(LEAF_MS - 60_000);
  expect(await answer(mine, 'shop/nope')).toEqual({ status: 403, reason: 'PodNotFound' });
  expect(await answer(mine, 'shop/checkout-1')).toEqual({ status: 403, reason: 'IdentityMismatch' });
  // And the pod it runs as is streamed.
  const ok = await openStream(mine);
  expect(ok.statusCode).toBe(200);
  ok.destroy();
  // That certificate has no pod binding (as every one issued before bindings existed), so the ServiceAccount
  // check alone applies and it may follow frontend-2 too. One bound to frontend-1 follows frontend-1 only.
  const unbound = await openStream(mine, 'shop/frontend-2');
  expect(unbound.statusCode).toBe(200);
  unbound.destroy();
  const b = keyPair();
  const bound = {
    key: b.key,
    cert: ca.issueVerified(b.csr, spiffeIdFor(TD, 'shop', 'frontend'), new Date(), {
      pod: { namespace: 'shop', uid: s.pods.get('shop/frontend-1')!.uid },
    }).certificateChain,
  };
  expect(await answer(bound, 'shop/frontend-2')).toEqual({ status: 403, reason: 'IdentityMismatch' });
  const own = await openStream(bound);
  expect(own.statusCode).toBe(200);
  own.destroy();
});

test('a stream opened with a certificate that outlives a timer (over 24.8 days) stays open', async () => {
  // Say from a supplied issuer with long leaves. setTimeout fires longer delays at once.
  const longCa = new CertificateAuthority(
    { anchors: [anchor.cert], issuer: generateIssuer(anchor, TD) },
    { trustDomain: TD, leafLifetimeMs: 40 * LEAF_MS },
  );
  const k = keyPair();
  const cert = {
    key: k.key,
    cert: longCa.issueVerified(k.csr, spiffeIdFor(TD, 'shop', 'frontend')).certificateChain,
  };
  const res = await openStream(cert);
  expect(res.statusCode).toBe(200);
  let ended = false;
  res.on('end', () => {
    ended = true;
  });
  res.resume();
  await new Promise((r) => setTimeout(r, 1000));
  expect(ended).toBe(false);
  res.destroy();
});

test('connections that never finish a TLS handshake, or never send a request, are closed after their timeout', async () => {
  const srv = createControlPlaneServer({
    ca,
    serving: loopbackServingCert(ca, TD),
    hub,
    pod: (key) => s.pods.get(key),
    reviewToken: () => Promise.reject(new Error('not used')),
    metrics: new OperatorMetrics(),
    log: pino({ level: 'silent' }),
    timeouts: { handshakeMs: 300, headersMs: 300 },
  });
  await srv.listen(0, 0, '127.0.0.1');
  const at = srv.ports.tls;
  try {
    // Silent after connecting: no ClientHello.
    const silent = netConnect(at, '127.0.0.1');
    // A finished handshake (no client certificate: the certificate endpoint allows that) and no request.
    const idle = tlsConnect({
      port: at,
      host: '127.0.0.1',
      ca: ca.trustAnchorsPem,
      checkServerIdentity: () => undefined,
    });
    silent.on('error', () => undefined);
    idle.on('error', () => undefined);
    expect(
      await Promise.all([
        closedWithin(silent, 'a connection that never sent a ClientHello', 3000),
        closedWithin(idle, 'a handshaken connection that never sent a request', 3000),
      ]),
    ).toEqual(['closed', 'closed']);
    // A config stream, which sent its request long ago and then only reads, outlives both timeouts.
    const mine = clientCert(LEAF_MS - 60_000);
    const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = https.request({
        host: '127.0.0.1',
        port: at,
        path: `${CONFIG_PATH}?pod=shop/frontend-1`,
        key: mine.key,
        cert: mine.cert,
        ca: ca.trustAnchorsPem,
        checkServerIdentity: () => undefined,
        agent: false,
      });
      req.on('response', resolve);
      req.on('error', reject);
      req.end();
    });
    expect(res.statusCode).toBe(200);
    res.resume();
    res.socket.on('error', () => undefined);
    expect(await closedWithin(res.socket, 'the config stream', 1500)).not.toBe('closed');
    res.destroy();
  } finally {
    await srv.close();
  }
});
