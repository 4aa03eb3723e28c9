// Transparent mode as in a meshed pod: two network namespaces of our own ("client" and "server" pods) joined by
// a veth pair, each with proxy-init's own rules (the entry point, run as the init container runs it) and a proxy
// running as the proxy uid those rules exempt. The client app talks plain HTTP to a cluster IP; its proxy finds
// the original destination with SO_ORIGINAL_DST, routes it to the server pod over mTLS, the server pod's
// PREROUTING redirect hands the connection to its proxy's inbound port, and that proxy forwards to the app on
// localhost with the client's SPIFFE ID. Nothing here is redirected by hand.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createNetns, linkNetns, type TestNetns } from '../netns.ts';
import {
  makePki,
  metricValue,
  type Pki,
  proxyConfig,
  removeTmpDirs,
  spiffe,
  tmpDir,
  waitFor,
} from './harness.ts';

const PROXY_UID = 2102;
const CLIENT_IP = '10.253.0.1';
const SERVER_IP = '10.253.0.2';
const CLIENT_IP6 = 'fd00:253::1';
const SERVER_IP6 = 'fd00:253::2';
/** An IPv6 cluster IP (a dual-stack or IPv6-only cluster). */
const CLUSTER_IP6 = 'fd00:96::10';
const APP_PORT = 18080;
const CLIENT_ID = spiffe('test', 'client');
const SERVER_ID = spiffe('test', 'web');

let client: TestNetns;
let server: TestNetns;
let pki: Pki;
const procs: ChildProcess[] = [];
let output = '';

/** Starts a process in a namespace; `uid` drops root for it, as the proxy container runs. */
function startIn(ns: TestNetns, args: string[], uid?: number): ChildProcess {
  const as = uid === undefined ? [] : ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups'];
  const p = spawn('ip', ['netns', 'exec', ns.name, ...as, process.execPath, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const tag = `[${ns.name}${uid === undefined ? '' : ` uid ${uid}`}] `;
  p.stdout?.on('data', (d: Buffer) => {
    output += tag + d.toString();
  });
  p.stderr?.on('data', (d: Buffer) => {
    output += tag + d.toString();
  });
  procs.push(p);
  return p;
}

/** curl from the client pod (as root, so its connections are redirected like the app's), retried until up. */
async function curlFromClient(args: string[]): Promise<string> {
  for (let i = 0; ; i++) {
    try {
      return await client.exec('curl', ['-sS', '--max-time', '5', ...args], 10_000);
    } catch (err) {
      if (i > 40) throw new Error(`${(err as Error).message}\nprocess output:\n${output}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** proxy-init as the injector runs it: the proxy's default ports, its uid exempt, its admin port not redirected. */
async function proxyInit(ns: TestNetns): Promise<void> {
  await ns.exec(process.execPath, [
    'proxy-image/src/entry.ts',
    'init',
    '--outbound-port=15101',
    '--inbound-port=15106',
    `--proxy-uid=${PROXY_UID}`,
    '--skip-inbound-ports=15190',
  ]);
}

function startProxy(
  ns: TestNetns,
  sa: string,
  id: string,
  services: Parameters<typeof proxyConfig>[0]['services'],
  adminAddress: string | null = '127.0.0.1',
) {
  const dir = tmpDir();
  const cert = pki.issue(sa, id);
  const configFile = path.join(dir, 'proxy.json');
  writeFileSync(
    configFile,
    JSON.stringify(proxyConfig({ version: `${sa}-1`, sa, trustAnchors: [pki.caPem], services })),
  );
  // The proxy runs as PROXY_UID: let it read this test's material.
  for (const p of [dir, configFile, path.dirname(cert.cert), cert.cert, cert.key]) chmodSync(p, 0o755);
  startIn(
    ns,
    [
      'proxy-image/src/main.ts',
      '--config',
      configFile,
      '--cert',
      cert.cert,
      '--key',
      cert.key,
      ...(adminAddress === null ? [] : ['--admin-address', adminAddress]),
    ],
    PROXY_UID,
  );
}

beforeAll(async () => {
  execFileSync('proxy-image/native/build.sh');
  pki = makePki();
  client = await createNetns('tp-cli');
  server = await createNetns('tp-srv');
  // Dual-stack pods: proxy-init redirects IPv4 and IPv6 alike.
  const veth = await linkNetns(client, server, {
    a: [`${CLIENT_IP}/24`, `${CLIENT_IP6}/64`],
    b: [`${SERVER_IP}/24`, `${SERVER_IP6}/64`],
  });
  // Cluster IPs need a route for the kernel to reach the nat OUTPUT hook, as in a pod.
  await client.exec('ip', ['route', 'add', 'default', 'dev', veth.a]);
  await server.exec('ip', ['route', 'add', 'default', 'dev', veth.b]);
  await client.exec('ip', ['-6', 'route', 'add', 'default', 'dev', veth.a]);
  await server.exec('ip', ['-6', 'route', 'add', 'default', 'dev', veth.b]);
  await proxyInit(client);
  await proxyInit(server);

  startIn(server, ['test/integration/proxy/fixtures/echo-server.ts', String(APP_PORT)]);
  // The server pod's admin listener on every address, as in a pod (kubelet probes and Prometheus reach it).
  startProxy(server, 'web', SERVER_ID, [], null);
  startProxy(client, 'client', CLIENT_ID, [
    {
      name: 'web',
      clusterIP: '10.96.0.10',
      port: 80,
      endpoints: [{ address: SERVER_IP, port: APP_PORT, identity: SERVER_ID }],
    },
    {
      name: 'web6',
      clusterIP: CLUSTER_IP6,
      port: 80,
      endpoints: [{ address: SERVER_IP6, port: APP_PORT, identity: SERVER_ID }],
    },
  ]);
  // Both proxies ready (certificate and config loaded) and the app listening, so the first request measures the
  // mesh, not start-up: before that, the client's proxy answers 502 itself and counts a failed request.
  const succeeds = (ns: TestNetns, cmd: string, args: string[]) => () =>
    ns.exec(cmd, args).then(
      (out) => out,
      () => undefined,
    );
  for (const ns of [client, server])
    await waitFor(
      `${ns.name}: proxy ready`,
      succeeds(ns, 'curl', ['-sSf', 'http://127.0.0.1:15190/ready']),
      30_000,
    );
  await waitFor(
    'app listening',
    async () =>
      ((await succeeds(server, 'ss', ['-Hltn', `sport = :${APP_PORT}`])()) ?? '').trim() || undefined,
    30_000,
  );
}, 60_000);

afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await client?.remove();
  await server?.remove();
  pki?.cleanup();
  removeTmpDirs();
}, 30_000);

/** The client pod proxy's count of requests to `authority` it sent over mTLS to the server pod. */
async function outboundMeshRequests(authority: string): Promise<number | undefined> {
  const text = await client.exec('curl', ['-sS', 'http://127.0.0.1:15190/metrics']);
  return metricValue(text, 'request_total', {
    direction: 'outbound',
    authority,
    tls: 'true',
    server_id: SERVER_ID,
  });
}

test('a request to a cluster IP crosses pods over mTLS and reaches the app with the client identity', async () => {
  const out = JSON.parse(await curlFromClient(['http://10.96.0.10/hello?x=1']));
  expect(out.url).toBe('/hello?x=1');
  expect(out.headers.host).toBe('10.96.0.10');
  // The server pod's proxy learnt the client identity from the mTLS handshake.
  expect(out.headers['x-weft-client-id']).toBe(CLIENT_ID);
  expect(await outboundMeshRequests('web.test.svc.cluster.local:80')).toBe(1);
  const inbound = await server.exec('curl', ['-sS', 'http://127.0.0.1:15190/metrics']);
  expect(
    metricValue(inbound, 'request_total', {
      direction: 'inbound',
      authority: `app:${APP_PORT}`,
      tls: 'true',
      client_id: CLIENT_ID,
    }),
  ).toBe(1);
}, 30_000);

test("the server pod's own address and port is meshed too (pinned endpoint, mTLS)", async () => {
  const out = JSON.parse(await curlFromClient([`http://${SERVER_IP}:${APP_PORT}/direct`]));
  expect(out.url).toBe('/direct');
  expect(out.headers['x-weft-client-id']).toBe(CLIENT_ID);
});

test("IPv6 as well: a request to an IPv6 cluster IP, and to the server pod's IPv6 address, crosses over mTLS", async () => {
  // Before: the proxy listened on 0.0.0.0 only, and every IPv6 connection proxy-init redirected was refused.
  const viaService = JSON.parse(await curlFromClient(['-g', `http://[${CLUSTER_IP6}]/six`]));
  expect(viaService.url).toBe('/six');
  expect(viaService.headers['x-weft-client-id']).toBe(CLIENT_ID);
  const direct = JSON.parse(await curlFromClient(['-g', `http://[${SERVER_IP6}]:${APP_PORT}/six-direct`]));
  expect(direct.url).toBe('/six-direct');
  expect(direct.headers['x-weft-client-id']).toBe(CLIENT_ID);
  // Two: the pod's own address is that service's endpoint.
  expect(await outboundMeshRequests('web6.test.svc.cluster.local:80')).toBe(2);
  // Both families are redirected by proxy-init's rules, and the proxy listens on both.
  expect(await client.exec('ip6tables-save', ['-t', 'nat'])).toContain('-A OUTPUT -p tcp -j WEFT-OUTBOUND');
  // ss shows a dual-stack listener as "*:PORT" ("0.0.0.0:PORT" before).
  expect(await client.exec('ss', ['-Htln', 'sport = :15101'])).toMatch(/\s\*:15101\s/);
}, 30_000);

test('from another pod, the admin listener answers /metrics but refuses /shutdown and the config dump', async () => {
  // The client pod's curl goes through its own proxy (passthrough: no service there) and reaches the server pod's
  // admin port, which proxy-init leaves unredirected, from CLIENT_IP.
  const code = (args: string[]) =>
    client.exec('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', ...args]);
  expect(await code([`http://${SERVER_IP}:15190/metrics`])).toBe('200');
  expect(await code(['-X', 'POST', `http://${SERVER_IP}:15190/shutdown`])).toBe('403');
  expect(await code([`http://${SERVER_IP}:15190/config`])).toBe('403');
  // Inside the pod (loopback) the dump is served, and the proxy did not shut down.
  const dump = JSON.parse(await server.exec('curl', ['-sS', 'http://127.0.0.1:15190/config']));
  expect([dump.ready, dump.draining]).toEqual([true, false]);
}, 30_000);

test('a destination that is no service passes through in plaintext', async () => {
  // 10.96.0.99 is redirected to the proxy but unknown: passthrough to the original destination, which
  // nothing serves, so the proxy answers 502 itself.
  const out = await client.exec('curl', [
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

test('the rules in both pods are proxy-init’s, and the proxies run as the exempt uid', async () => {
  for (const ns of [client, server]) {
    const saved = await ns.exec('iptables-save', ['-t', 'nat']);
    expect(saved).toContain('-A PREROUTING -p tcp -j WEFT-INBOUND');
    expect(saved).toContain('-A OUTPUT -p tcp -j WEFT-OUTBOUND');
    expect(saved).toContain(`--uid-owner ${PROXY_UID}`);
  }
  const owners = await client.exec('ss', ['-Htlnpe', 'sport = :15101']);
  expect(owners).toContain(`uid:${PROXY_UID}`);
});
