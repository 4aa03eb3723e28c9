// Test harness for the proxy: a throwaway PKI (openssl, ECDSA P-256, SPIFFE URI SANs), config files,
// and proxies run as real child processes (explicit mode, ports chosen by the kernel).

import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const TRUST_DOMAIN = 'weft.test';
export const spiffe = (ns: string, sa: string) => `spiffe://${TRUST_DOMAIN}/ns/${ns}/sa/${sa}`;

export interface Pki {
  readonly dir: string;
  readonly caPem: string;
  /** Issues a leaf for a SPIFFE ID; returns the cert and key file paths. */
  issue(
    name: string,
    spiffeId: string,
    opts?: { days?: number; ca?: 'main' | 'other' },
  ): { cert: string; key: string };
  cleanup(): void;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makePki(): Pki {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'weft-proxy-pki-'));
  const f = (n: string) => path.join(dir, n);
  for (const ca of ['main', 'other']) {
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', f(`${ca}-ca.key`)]);
    openssl([
      'req',
      '-x509',
      '-new',
      '-key',
      f(`${ca}-ca.key`),
      '-subj',
      `/CN=weft test ${ca} ca`,
      '-days',
      '2',
      '-out',
      f(`${ca}-ca.crt`),
    ]);
  }
  return {
    dir,
    caPem: readFileSync(f('main-ca.crt'), 'utf8'),
    issue(name, spiffeId, opts = {}) {
      const ca = opts.ca ?? 'main';
      openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', f(`${name}.key`)]);
      openssl(['req', '-new', '-key', f(`${name}.key`), '-subj', `/O=weft`, '-out', f(`${name}.csr`)]);
      writeFileSync(
        f(`${name}.ext`),
        `subjectAltName=URI:${spiffeId}\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature\n`,
      );
      openssl([
        'x509',
        '-req',
        '-in',
        f(`${name}.csr`),
        '-CA',
        f(`${ca}-ca.crt`),
        '-CAkey',
        f(`${ca}-ca.key`),
        '-CAcreateserial',
        '-days',
        String(opts.days ?? 1),
        '-extfile',
        f(`${name}.ext`),
        '-out',
        f(`${name}.crt`),
      ]);
      return { cert: f(`${name}.crt`), key: f(`${name}.key`) };
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface Endpoint {
  address: string;
  port: number;
  identity: string | null;
}

export interface ServiceSpec {
  name: string;
  /** null: a headless service (no cluster IP; clients reach its pods by their own addresses). */
  clusterIP: string | null;
  port: number;
  protocol?: string;
  endpoints: Endpoint[];
  split?: { backends: { service: string; weight: number }[] };
  extraBackends?: { name: string; endpoints: Endpoint[] }[];
  routes?: unknown[];
  defaultRoute?: unknown;
}

/** A proxy config document for namespace "test". */
export function proxyConfig(opts: {
  version: string;
  sa: string;
  trustAnchors: string[];
  policyMode?: 'permissive' | 'enforcing';
  services?: ServiceSpec[];
  inboundPorts?: unknown[];
  limits?: Record<string, number>;
  retryBudget?: Record<string, number>;
  circuitBreaker?: Record<string, unknown>;
  listeners?: Record<string, unknown>;
  unauthenticated?: { permissive?: boolean; enforcing?: boolean };
}): unknown {
  const services = opts.services ?? [];
  return {
    apiVersion: 'proxy.weft.dev/v1alpha1',
    version: opts.version,
    generatedAt: '2026-01-01T00:00:00Z',
    identity: { spiffeId: spiffe('test', opts.sa), trustDomain: TRUST_DOMAIN },
    trustAnchors: opts.trustAnchors,
    policyMode: opts.policyMode ?? 'permissive',
    ...(opts.listeners ? { listeners: opts.listeners } : {}),
    outbound: {
      services: services.map((s) => ({
        name: s.name,
        namespace: 'test',
        clusterIPs: s.clusterIP === null ? [] : [s.clusterIP],
        dnsNames: [`${s.name}.test.svc.cluster.local`, `${s.name}.test`, s.name],
        ports: [{ port: s.port, protocol: s.protocol ?? 'detect' }],
        ...(s.routes ? { routes: s.routes } : {}),
        ...(s.defaultRoute ? { defaultRoute: s.defaultRoute } : {}),
        ...(s.split ? { split: { name: s.name, backends: s.split.backends } } : {}),
      })),
      backends: services.flatMap((s) => [
        { name: s.name, namespace: 'test', ports: [{ port: s.port, endpoints: s.endpoints }] },
        ...(s.extraBackends ?? []).map((b) => ({
          name: b.name,
          namespace: 'test',
          ports: [{ port: s.port, endpoints: b.endpoints }],
        })),
      ]),
    },
    inbound: {
      ...(opts.unauthenticated ? { unauthenticated: opts.unauthenticated } : {}),
      ports: opts.inboundPorts ?? [],
    },
    ...(opts.limits ? { limits: opts.limits } : {}),
    ...(opts.retryBudget ? { retryBudget: opts.retryBudget } : {}),
    ...(opts.circuitBreaker ? { circuitBreaker: opts.circuitBreaker } : {}),
  };
}

export interface ProxyProcess {
  readonly outbound: number;
  readonly inbound: number;
  readonly admin: number;
  readonly proc: ChildProcess;
  readonly configFile: string;
  /** Log lines so far (JSON). */
  logs(): string;
  writeConfig(doc: unknown): void;
  stop(): Promise<number | null>;
}

const dirs: string[] = [];
export function tmpDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'weft-proxy-it-'));
  dirs.push(d);
  return d;
}
export function removeTmpDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Starts the proxy as a child process in explicit mode and waits until it listens. */
export async function startProxyProcess(opts: {
  config: unknown;
  cert?: { cert: string; key: string };
  outboundDst?: string;
  inboundApp?: string;
  env?: Record<string, string>;
}): Promise<ProxyProcess> {
  const dir = tmpDir();
  const configFile = path.join(dir, 'proxy.json');
  const portsFile = path.join(dir, 'ports.json');
  writeFileSync(configFile, JSON.stringify(opts.config));
  const args = [
    'proxy-image/src/main.ts',
    '--config',
    configFile,
    '--bind',
    '127.0.0.1',
    '--outbound-port',
    '0',
    '--inbound-port',
    '0',
    '--admin-port',
    '0',
    '--admin-address',
    '127.0.0.1',
    '--ports-file',
    portsFile,
    '--log-level',
    'debug',
  ];
  if (opts.cert) args.push('--cert', opts.cert.cert, '--key', opts.cert.key);
  if (opts.outboundDst) args.push('--outbound-dst', opts.outboundDst);
  if (opts.inboundApp) args.push('--inbound-app', opts.inboundApp);
  const proc = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '', ...opts.env },
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const deadline = Date.now() + 15_000;
  while (!existsSync(portsFile) || readFileSync(portsFile, 'utf8').length === 0) {
    if (proc.exitCode !== null) throw new Error(`proxy exited ${proc.exitCode}: ${out}`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`proxy did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const ports = JSON.parse(readFileSync(portsFile, 'utf8')) as {
    outbound: number;
    inbound: number;
    admin: number;
  };
  return {
    ...ports,
    proc,
    configFile,
    logs: () => out,
    writeConfig: (doc) => writeFileSync(configFile, JSON.stringify(doc)),
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null) return resolve(proc.exitCode);
        const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
        proc.once('exit', (code) => {
          clearTimeout(t);
          resolve(code);
        });
        proc.kill('SIGTERM');
      }),
  };
}

/** Runs curl (asynchronously: the test app may live in this process); returns status, headers, body. */
/** The identities of a mesh pair's proxies (startMeshPair): service accounts "client" and "server" of "test". */
export const PAIR_CLIENT = spiffe('test', 'client');
export const PAIR_SERVER = spiffe('test', 'server');

/**
 * Two meshed pods: a client proxy -> mTLS -> a server proxy in front of the app at 127.0.0.1:appPort. The client
 * proxy sends `service` (its one endpoint the server proxy, which must present PAIR_SERVER) and takes its outbound
 * connections as addressed to service.clusterIP:service.port; `more` are other services of its config.
 * Certificates are issued under the service's name unless given (to rotate them with another pair's, say).
 */
export async function startMeshPair(opts: {
  pki: Pki;
  appPort: number;
  service: Omit<ServiceSpec, 'endpoints' | 'clusterIP'> & { clusterIP: string };
  more?: ServiceSpec[];
  certs?: { server: { cert: string; key: string }; client: { cert: string; key: string } };
  /** The server proxy's config (default: permissive, no inbound rules). */
  serverConfig?: unknown;
}): Promise<{ server: ProxyProcess; client: ProxyProcess }> {
  const { pki, service } = opts;
  const server = await startProxyProcess({
    config: opts.serverConfig ?? proxyConfig({ version: 's1', sa: 'server', trustAnchors: [pki.caPem] }),
    cert: opts.certs?.server ?? pki.issue(`${service.name}-server`, PAIR_SERVER),
    inboundApp: `127.0.0.1:${opts.appPort}`,
  });
  const client = await startProxyProcess({
    config: proxyConfig({
      version: 'c1',
      sa: 'client',
      trustAnchors: [pki.caPem],
      services: [
        { ...service, endpoints: [{ address: '127.0.0.1', port: server.inbound, identity: PAIR_SERVER }] },
        ...(opts.more ?? []),
      ],
    }),
    cert: opts.certs?.client ?? pki.issue(`${service.name}-client`, PAIR_CLIENT),
    outboundDst: `${service.clusterIP}:${service.port}`,
  });
  return { server, client };
}

export async function curl(
  args: string[],
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const { stdout: out } = await run('curl', ['-sS', '-i', '--max-time', '10', ...args], {
    encoding: 'latin1',
    maxBuffer: 64 << 20,
  });
  // Skip interim responses (100 Continue) to the final head.
  let rest = out;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    const head = rest.slice(0, end);
    const status = Number(/^HTTP\/[\d.]+ (\d+)/.exec(head)?.[1] ?? 0);
    if (status >= 100 && status < 200 && status !== 101) {
      rest = rest.slice(end + 4);
      continue;
    }
    const headers: Record<string, string> = {};
    for (const line of head.split('\r\n').slice(1)) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
    }
    return { status, headers, body: rest.slice(end + 4) };
  }
}

/**
 * Sends raw bytes to 127.0.0.1:port and returns everything answered (latin1) until the peer closed or went
 * quiet for quietMs. Several parts are written gapMs apart, so that the peer reads them separately.
 */
export function raw(
  port: number,
  data: string | Buffer | ReadonlyArray<string | Buffer>,
  quietMs = 800,
  gapMs = 0,
): Promise<string> {
  const parts = typeof data === 'string' || Buffer.isBuffer(data) ? [data] : data;
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', async () => {
      for (const [i, p] of parts.entries()) {
        if (i > 0) await new Promise((r) => setTimeout(r, gapMs));
        s.write(p);
      }
    });
    let out = '';
    let timer = setTimeout(() => s.destroy(), quietMs);
    s.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      clearTimeout(timer);
      timer = setTimeout(() => s.destroy(), quietMs);
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

/** A client connection to 127.0.0.1:port, connected; its errors (resets the test provokes) are swallowed. */
export async function connectLoopback(port: number): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => undefined);
  await new Promise((r) => s.once('connect', r));
  return s;
}

/**
 * A client connection to 127.0.0.1:port (connectLoopback) that collects what it receives: read() returns all
 * the text (latin1) received so far.
 */
export async function connectCollect(port: number): Promise<{ sock: net.Socket; read: () => string }> {
  const sock = await connectLoopback(port);
  let got = '';
  sock.on('data', (d: Buffer) => {
    got += d.toString('latin1');
  });
  return { sock, read: () => got };
}

/** Starts `server` on an ephemeral port of 127.0.0.1; resolves with the port. */
export function listenLoopback(server: Pick<net.Server, 'listen' | 'address'>): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
  );
}

export { closedWithin, waitFor } from '../sockets.ts';

/**
 * Sum of the samples of metric `name` whose labels include every label given (order-independent), or
 * undefined when no sample matches.
 */
export function metricValue(text: string, name: string, labels: Record<string, string>): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const close = line.lastIndexOf('}');
    const body = close > 0 ? line.slice(name.length + 1, close) : '';
    const have: Record<string, string> = {};
    for (const m of body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have[m[1]!] = m[2]!;
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) {
      sum = (sum ?? 0) + Number(line.slice(close > 0 ? close + 1 : name.length).trim());
    }
  }
  return sum;
}

/** The proxy's /metrics text. */
/** An endpoint of a service as the admin config dump shows it (latency estimate, requests in flight, circuit). */
export async function endpointState(
  p: Pick<ProxyProcess, 'admin'>,
  service: string,
): Promise<{ inFlight: number; circuit: string; estimateMs: number }> {
  const dump = JSON.parse((await curl([`http://127.0.0.1:${p.admin}/config`])).body);
  const svc = dump.tables.services.find((s: { authority: string }) => s.authority.startsWith(`${service}.`));
  return svc.backends[0].endpoints[0];
}

export async function scrape(p: Pick<ProxyProcess, 'admin'>): Promise<string> {
  return (await curl([`http://127.0.0.1:${p.admin}/metrics`])).body;
}

/** One metric of the proxy's /metrics, summed over the series with these labels (0 when none). */
export async function metric(
  p: Pick<ProxyProcess, 'admin'>,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  return metricValue(await scrape(p), name, labels) ?? 0;
}
