// A request cancelled by the client proxy reaches the app as a cancellation: when the client goes away, the
// client proxy drops its mTLS connection, and the server proxy must not keep the app's request running (it waited
// for the app's answer, which for a long poll may never come, holding the connection and the app's work).

import { readFileSync } from 'node:fs';
import http from 'node:http';
import tls from 'node:tls';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import {
  listenLoopback,
  makePki,
  type Pki,
  type ProxyProcess,
  proxyConfig,
  raw,
  removeTmpDirs,
  spiffe,
  startProxyProcess,
  waitFor,
} from './harness.ts';

let pki: Pki;
let proxy: ProxyProcess;
let app: http.Server;
/** Requests to /hang the app has received, and whether each was closed before an answer. */
const hung: { closed: boolean }[] = [];
/** Trailers of the complete requests to /trailers the app has received. */
const trailersSeen: NodeJS.Dict<string>[] = [];

beforeAll(async () => {
  app = http.createServer((req, res) => {
    if (req.url === '/trailers') {
      req.resume();
      req.on('end', () => {
        trailersSeen.push(req.trailers);
        res.end('ok');
      });
      return;
    }
    if (req.url !== '/hang') {
      res.end('ok');
      return;
    }
    const h = { closed: false };
    hung.push(h);
    res.on('close', () => {
      h.closed = true;
    });
  });
  const appPort = await listenLoopback(app);
  pki = makePki();
  proxy = await startProxyProcess({
    cert: pki.issue('server', spiffe('test', 'server')),
    config: proxyConfig({
      version: 'v1',
      sa: 'server',
      trustAnchors: [pki.caPem],
      inboundPorts: [{ port: appPort, protocol: 'detect', authorizations: [] }],
    }),
    inboundApp: `127.0.0.1:${appPort}`,
  });
}, 30_000);

afterAll(async () => {
  await proxy?.stop();
  app?.closeAllConnections();
  app?.close();
  pki?.cleanup();
  removeTmpDirs();
});

test('a peer proxy closing its mTLS connection mid-request cancels the request to the app', async () => {
  const client = pki.issue('client', spiffe('test', 'client'));
  const peer = tls.connect({
    host: '127.0.0.1',
    port: proxy.inbound,
    cert: readFileSync(client.cert, 'utf8'),
    key: readFileSync(client.key, 'utf8'),
    ca: pki.caPem,
    ALPNProtocols: ['weft.http1'],
    checkServerIdentity: () => undefined,
  });
  peer.on('error', () => undefined);
  await new Promise((r) => peer.once('secureConnect', r));
  peer.write('GET /hang HTTP/1.1\r\nHost: web\r\n\r\n');
  await waitFor('the app to get the request', () => (hung.length === 1 ? true : undefined), 5000);
  // The client proxy's connection goes away, as when its own client cancelled.
  peer.destroy();
  await waitFor('the app request to be closed', () => (hung[0]!.closed ? true : undefined), 3000);
  expect(hung[0]!.closed).toBe(true);
});

test('a client identity sent as a request trailer fails the request instead of reaching the app', async () => {
  // The proxy sets the verified identity in the head; a trailer of that name passes unparsed otherwise, and an
  // app that merges trailers into headers would trust it.
  const body = (name: string) =>
    `POST /trailers HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n${name}: spiffe://evil/ns/x/sa/y\r\n\r\n`;
  const forged = await raw(proxy.inbound, body('X-Weft-Client-Id'), 1000);
  expect(forged.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
  const other = await raw(proxy.inbound, body('X-Other'), 1000);
  expect(other.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
  expect(trailersSeen).toEqual([{ 'x-other': 'spiffe://evil/ns/x/sa/y' }]);
});
