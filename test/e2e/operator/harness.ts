// Runs the real operator (operator/src/main.ts) as a host process against the cluster, and talks to it the way
// a proxy does: HTTPS certificate requests and the mTLS NDJSON config stream.
import { type ChildProcess, spawn } from 'node:child_process';
import * as https from 'node:https';
import { createInterface } from 'node:readline';
import { CONFIG_STREAM_UPGRADE } from '../../../crds/control-plane/types.ts';
import { opensslCsr } from '../../../operator/src/identity/testing.ts';
import { OPERATOR_ENV, OPERATOR_NODE_FLAGS } from '../../../operator/src/node-flags.ts';
import { kubectl } from '../kube.ts';

export interface RunningOperator {
  /** Process id (benchmarks read its memory from /proc). */
  pid: number;
  controlPlanePort: number;
  /** The sealed config stream's plain TCP port; null when it is off (WEFT_CONFIG_STREAM_PORT=off). */
  configStreamPort: number | null;
  adminPort: number;
  logs: string[];
  stop(): Promise<void>;
  /** SIGKILL: no lease release, no goodbye. */
  kill(): Promise<void>;
}

const repo = new URL('../../../', import.meta.url).pathname;

/** The operator's entrypoint as the image runs it: the esbuild bundle `node scripts/bundle.ts operator` writes. */
export const OPERATOR_BUNDLE = `${repo}dist/controller/operator.mjs`;

export async function startOperator(
  namespace: string,
  env: Record<string, string> = {},
  nodeArgs: readonly string[] = [],
  /** The script to run: the TypeScript sources (tests), or OPERATOR_BUNDLE (benchmarks: what ships). */
  main = `${repo}operator/src/main.ts`,
): Promise<RunningOperator> {
  const child: ChildProcess = spawn(process.execPath, [...OPERATOR_NODE_FLAGS, ...nodeArgs, main], {
    env: {
      ...process.env,
      ...OPERATOR_ENV,
      NODE_OPTIONS: '',
      WEFT_NAMESPACE: namespace,
      WEFT_CONTROL_PLANE_PORT: '0',
      WEFT_CONFIG_STREAM_PORT: '0',
      WEFT_ADMIN_PORT: '0',
      WEFT_LISTEN_ADDRESS: '127.0.0.1',
      WEFT_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  type Ports = { controlPlanePort: number; configStreamPort: number | null; adminPort: number };
  const started = new Promise<Ports>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`operator did not start:\n${logs.join('\n')}`)), 30_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      logs.push(line);
      if (line.includes('"operator started"')) {
        clearTimeout(timer);
        const j = JSON.parse(line) as Ports;
        resolve({
          controlPlanePort: j.controlPlanePort,
          configStreamPort: j.configStreamPort,
          adminPort: j.adminPort,
        });
      }
    });
    createInterface({ input: child.stderr! }).on('line', (line) => logs.push(`stderr: ${line}`));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`operator exited with ${code}:\n${logs.join('\n')}`));
    });
  });
  const ports = await started;
  return {
    pid: child.pid!,
    ...ports,
    logs,
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Reads one metric value from an operator's admin port. */
export async function metric(adminPort: number, name: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

export interface HttpsResult {
  status: number;
  body: string;
}

export function request(
  port: number,
  opts: {
    method: string;
    path: string;
    ca: string[];
    headers?: Record<string, string>;
    body?: string;
    key?: string;
    cert?: string;
  },
): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        method: opts.method,
        path: opts.path,
        ca: opts.ca,
        headers: opts.headers,
        key: opts.key,
        cert: opts.cert,
        servername: 'localhost',
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/**
 * A proxy's certificate round trip: a fresh key and CSR, a token of `serviceAccount` bound to `pod` (as kubelet
 * projects it), POST /v1alpha1/certificates claiming to be `asPod` (default: `pod`).
 */
export async function requestCertificate(
  port: number,
  ca: string[],
  o: { namespace: string; serviceAccount: string; pod: string; asPod?: string; audience?: string },
): Promise<{ res: HttpsResult; keyPem: string }> {
  const { stdout } = await kubectl([
    '-n',
    o.namespace,
    'create',
    'token',
    o.serviceAccount,
    '--audience',
    o.audience ?? 'weft.dev/identity',
    '--bound-object-kind',
    'Pod',
    '--bound-object-name',
    o.pod,
    '--duration',
    '10m',
  ]);
  const { keyPem, csrPem } = opensslCsr();
  const res = await request(port, {
    method: 'POST',
    path: '/v1alpha1/certificates',
    ca,
    headers: { authorization: `Bearer ${stdout.trim()}`, 'content-type': 'application/json' },
    body: JSON.stringify({ csr: csrPem, pod: { namespace: o.namespace, name: o.asPod ?? o.pod } }),
  });
  return { res, keyPem };
}

/** An open config stream: the messages received so far and a way to wait for one. */
export interface ConfigStream {
  status: number;
  messages: { type: string; version?: string; config?: unknown; [k: string]: unknown }[];
  waitFor<T>(
    what: string,
    timeoutMs: number,
    pick: (m: { type: string; version?: string; config?: unknown }) => T | undefined,
  ): Promise<T>;
  close(): void;
}

export function openConfigStream(
  port: number,
  opts: {
    pod: string;
    since?: string;
    acceptPatch?: boolean;
    /** Ask for the stream by HTTP Upgrade (101, then bare NDJSON), as proxies do, instead of a chunked 200. */
    upgrade?: boolean;
    ca: string[];
    key: string;
    cert: string;
  },
): Promise<ConfigStream> {
  return new Promise((resolve, reject) => {
    const q = new URLSearchParams({
      pod: opts.pod,
      ...(opts.since === undefined ? {} : { since: opts.since }),
      ...(opts.acceptPatch ? { accept: 'patch' } : {}),
    });
    const req = https.request({
      host: '127.0.0.1',
      port,
      method: 'GET',
      path: `/v1alpha1/config?${q}`,
      ca: opts.ca,
      key: opts.key,
      cert: opts.cert,
      servername: 'localhost',
      agent: false,
      ...(opts.upgrade ? { headers: { connection: 'Upgrade', upgrade: CONFIG_STREAM_UPGRADE } } : {}),
    });
    const follow = (status: number, body: NodeJS.ReadableStream, head: Buffer | null, close: () => void) => {
      const messages: ConfigStream['messages'] = [];
      const waiters = new Set<() => void>();
      let buf = '';
      const onData = (c: Buffer | string) => {
        buf += c.toString();
        let nl = buf.indexOf('\n');
        while (nl >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim() !== '') messages.push(JSON.parse(line));
          nl = buf.indexOf('\n');
        }
        for (const w of waiters) w();
      };
      body.on('data', onData);
      if (head !== null && head.length > 0) onData(head);
      resolve({
        status,
        messages,
        waitFor: (what, timeoutMs, pick) =>
          new Promise((ok, fail) => {
            const check = () => {
              for (const m of messages) {
                const v = pick(m);
                if (v !== undefined) {
                  waiters.delete(check);
                  clearTimeout(timer);
                  ok(v);
                  return;
                }
              }
            };
            const timer = setTimeout(() => {
              waiters.delete(check);
              fail(
                new Error(
                  `timed out waiting for ${what}; got ${JSON.stringify(messages.map((m) => [m.type, m.version, m.base]))}`,
                ),
              );
            }, timeoutMs);
            waiters.add(check);
            check();
          }),
        close,
      });
    };
    req.on('response', (res) => follow(res.statusCode ?? 0, res, null, () => req.destroy()));
    req.on('upgrade', (res, socket, head) => {
      socket.on('error', () => undefined);
      follow(res.statusCode ?? 0, socket, head, () => socket.destroy());
    });
    req.on('error', reject);
    req.end();
  });
}
