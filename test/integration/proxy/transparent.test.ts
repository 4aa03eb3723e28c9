// Transparent mode in a network namespace of our own: iptables REDIRECT sends the app's outbound
// connections to the proxy's outbound port and connections to the pod address to its inbound port, as
// proxy-init would. The proxy recovers each original destination with SO_ORIGINAL_DST, routes the
// service's cluster IP to the endpoint over mTLS, and the endpoint (itself, here) hands it to the app.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createNetns, type TestNetns } from '../netns.ts';
import { makePki, metricValue, type Pki, proxyConfig, removeTmpDirs, spiffe, tmpDir } from './harness.ts';

let ns: TestNetns;
let pki: Pki;
const procs: ChildProcess[] = [];
let output = '';
const POD_IP = '10.251.0.2';
const APP_PORT = 18080;
const SELF = spiffe('test', 'web');

function startInNs(args: string[]): ChildProcess {
  const p = spawn('ip', ['netns', 'exec', ns.name, process.execPath, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  p.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  p.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  procs.push(p);
  return p;
}

async function curlInNs(url: string): Promise<string> {
  for (let i = 0; ; i++) {
    try {
      return await ns.exec('curl', ['-sS', '--max-time', '5', url], 10_000);
    } catch (err) {
      if (i > 40) throw new Error(`${(err as Error).message}\nprocess output:\n${output}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

beforeAll(async () => {
  execFileSync('proxy-image/native/build.sh');
  pki = makePki();
  ns = await createNetns('tproxy');
  // The pod's address, on a veth pair with both ends in the namespace.
  await ns.exec('ip', ['link', 'add', 'pod0', 'type', 'veth', 'peer', 'name', 'pod1']);
  await ns.exec('ip', ['link', 'set', 'pod1', 'up']);
  await ns.exec('ip', ['addr', 'add', `${POD_IP}/24`, 'dev', 'pod0']);
  await ns.exec('ip', ['link', 'set', 'pod0', 'up']);
  // Cluster IPs need a route for the kernel to reach the nat OUTPUT hook, as in a pod.
  await ns.exec('ip', ['route', 'add', 'default', 'dev', 'pod0']);
  // proxy-init's two rules: outbound to the service range, inbound to the pod's address.
  await ns.exec('iptables', [
    '-t',
    'nat',
    '-A',
    'OUTPUT',
    '-p',
    'tcp',
    '-d',
    '10.96.0.0/16',
    '-j',
    'REDIRECT',
    '--to-ports',
    '15101',
  ]);
  await ns.exec('iptables', [
    '-t',
    'nat',
    '-A',
    'OUTPUT',
    '-p',
    'tcp',
    '-d',
    POD_IP,
    '-j',
    'REDIRECT',
    '--to-ports',
    '15106',
  ]);
  const dir = tmpDir();
  const cert = pki.issue('web', SELF);
  const configFile = path.join(dir, 'proxy.json');
  writeFileSync(
    configFile,
    JSON.stringify(
      proxyConfig({
        version: 't1',
        sa: 'web',
        trustAnchors: [pki.caPem],
        services: [
          {
            name: 'web',
            clusterIP: '10.96.0.10',
            port: 80,
            endpoints: [{ address: POD_IP, port: APP_PORT, identity: SELF }],
          },
        ],
      }),
    ),
  );
  startInNs(['test/integration/proxy/fixtures/echo-server.ts', String(APP_PORT)]);
  startInNs([
    'proxy-image/src/main.ts',
    '--config',
    configFile,
    '--cert',
    cert.cert,
    '--key',
    cert.key,
    '--admin-address',
    '127.0.0.1',
  ]);
}, 60_000);

afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await ns?.remove();
  pki?.cleanup();
  removeTmpDirs();
}, 30_000);

test('a request to a cluster IP is routed by original destination over mTLS to the app', async () => {
  const out = JSON.parse(await curlInNs('http://10.96.0.10/hello?x=1'));
  expect(out.url).toBe('/hello?x=1');
  expect(out.headers.host).toBe('10.96.0.10');
  // The inbound side learnt the client identity from the mTLS handshake (the proxy talked to itself).
  expect(out.headers['x-weft-client-id']).toBe(SELF);
  const metrics = await ns.exec('curl', ['-sS', 'http://127.0.0.1:15190/metrics']);
  const outbound = {
    direction: 'outbound',
    authority: 'web.test.svc.cluster.local:80',
    tls: 'true',
    server_id: SELF,
  };
  expect(metricValue(metrics, 'request_total', outbound)).toBe(1);
  const inbound = { direction: 'inbound', authority: `app:${APP_PORT}`, tls: 'true', client_id: SELF };
  expect(metricValue(metrics, 'request_total', inbound)).toBe(1);
}, 30_000);

test('a destination that is no service passes through in plaintext', async () => {
  // 10.96.0.99 is redirected to the proxy but unknown: passthrough to the original destination, which
  // nothing serves, so the proxy answers 502 itself.
  const out = await ns.exec('curl', [
    '-sS',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    '--max-time',
    '5',
    'http://10.96.0.99:81/',
  ]);
  expect(out).toBe('502');
});
