// Clients that reset while the proxy is still detecting their protocol: nothing is opened upstream for
// them. Before, detection ran to its timeout and then piped the dead client's bytes to a fresh upstream
// connection that stayed open (and outside maxOutboundConnections, since the client was gone).

import net from 'node:net';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import {
  connectLoopback,
  curl,
  listenLoopback,
  type ProxyProcess,
  proxyConfig,
  removeTmpDirs,
  startProxyProcess,
} from './harness.ts';

let proxy: ProxyProcess;
let app: net.Server;
let accepted = 0;
const open = new Set<net.Socket>();

beforeAll(async () => {
  app = net.createServer((s) => {
    accepted++;
    open.add(s);
    s.on('error', () => undefined);
    s.on('close', () => open.delete(s));
    s.resume();
  });
  const port = await listenLoopback(app);
  proxy = await startProxyProcess({
    config: proxyConfig({
      version: 'dr1',
      sa: 'client',
      trustAnchors: [],
      listeners: { detectTimeoutMs: 300 },
      limits: { maxOutboundConnections: 5 },
      services: [
        {
          name: 'db',
          clusterIP: '10.96.5.1',
          port: 7000,
          endpoints: [{ address: '127.0.0.1', port, identity: null }],
        },
      ],
    }),
    outboundDst: '10.96.5.1:7000',
  });
}, 30_000);

afterAll(async () => {
  await proxy?.stop();
  for (const s of open) s.destroy();
  await new Promise((r) => app?.close(r));
  removeTmpDirs();
}, 30_000);

test('20 clients that send two bytes and reset during detection open nothing upstream', async () => {
  for (let i = 0; i < 20; i++) {
    const s = await connectLoopback(proxy.outbound);
    s.write('GE');
    await new Promise((r) => setTimeout(r, 10));
    s.resetAndDestroy();
  }
  // Past the 300 ms detection timeout of every one of them.
  await new Promise((r) => setTimeout(r, 800));
  expect(accepted).toBe(0);
  expect(open.size).toBe(0);
  const dump = JSON.parse((await curl([`http://127.0.0.1:${proxy.admin}/config`])).body);
  expect(dump.connections.tcpPipes).toBe(0);
  // A client that stays is still detected as opaque after the timeout and piped.
  const s = await connectLoopback(proxy.outbound);
  s.write('GE');
  await new Promise((r) => setTimeout(r, 800));
  expect(accepted).toBe(1);
  s.destroy();
}, 30_000);
