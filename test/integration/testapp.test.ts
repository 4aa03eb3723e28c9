// The test app on real loopback sockets, driven by real clients: curl for HTTP, @grpc/grpc-js for
// gRPC, raw TCP sockets for the echo and banner ports; and the entry point as a child process.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadEchoService } from '../apps/testapp/src/grpc-echo.ts';
import { startTestApp, type TestApp } from '../apps/testapp/src/test-app.ts';

const run = promisify(execFile);
const mainPath = fileURLToPath(new URL('../apps/testapp/src/main.ts', import.meta.url));

interface CurlResult {
  status: number;
  headers: Record<string, string>;
  body: string;
}

// curl prints the head (-i) then the body; -w appends the status on its own line.
async function curl(url: string, ...args: string[]): Promise<CurlResult> {
  const { stdout } = await run('curl', [
    '-sS',
    '-i',
    '--max-time',
    '10',
    ...args,
    '-w',
    '\n%{http_code}',
    url,
  ]);
  const statusAt = stdout.lastIndexOf('\n');
  const status = Number(stdout.slice(statusAt + 1));
  const text = stdout.slice(0, statusAt);
  // With interim (1xx) responses curl prints several heads; the last one is the final response.
  const heads = text.split('\r\n\r\n');
  const body = heads.pop() ?? '';
  const head = heads.pop() ?? '';
  const headers: Record<string, string> = {};
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status, headers, body };
}

function json(result: CurlResult): Record<string, unknown> {
  return JSON.parse(result.body) as Record<string, unknown>;
}

// Connects, optionally writes and half-closes, and collects everything until the server ends.
async function tcpExchange(port: number, send: string | undefined, endAfterWrite: boolean): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  socket.setEncoding('utf8');
  let received = '';
  socket.on('data', (chunk: string) => {
    received += chunk;
  });
  await once(socket, 'connect');
  if (send !== undefined) socket.write(send);
  if (endAfterWrite) socket.end();
  await once(socket, 'close');
  return received;
}

describe('test app in-process', () => {
  let app: TestApp;
  let base: string;

  beforeAll(async () => {
    app = await startTestApp({
      identity: { pod: 'app-0', namespace: 'ns-a', serviceAccount: 'sa-a', node: 'node-a' },
      logLevel: 'silent',
      shutdownGraceMs: 1000,
    });
    base = `http://127.0.0.1:${app.httpPort}`;
  });
  afterAll(async () => {
    await app.close();
  });

  it('echoes method, path, headers and the pod identity', async () => {
    const r = await curl(`${base}/echo/some/path?x=1`, '-X', 'PUT', '-H', 'x-test: yes', '--data', 'hello');
    expect(r.status).toBe(200);
    expect(r.headers['x-weft-pod']).toBe('app-0');
    const body = json(r);
    expect(body).toMatchObject({
      method: 'PUT',
      path: '/echo/some/path',
      query: { x: '1' },
      body: 'hello',
      pod: 'app-0',
      namespace: 'ns-a',
      serviceAccount: 'sa-a',
    });
    expect((body.headers as Record<string, string>)['x-test']).toBe('yes');
  });

  it('answers /status/<code> with that code, rejects nonsense codes, and 404s unknown paths', async () => {
    expect((await curl(`${base}/status/503`)).status).toBe(503);
    expect((await curl(`${base}/status/204`)).status).toBe(204);
    const bad = await curl(`${base}/status/999`);
    expect(bad.status).toBe(400);
    expect(json(bad).segment).toBe('999');
    expect((await curl(`${base}/nope`)).status).toBe(404);
  });

  it('delays /delay/<ms>', async () => {
    const started = performance.now();
    const r = await curl(`${base}/delay/150`);
    expect(r.status).toBe(200);
    expect(json(r).delayedMs).toBe(150);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('makes outbound calls with POST /call and counts them by caller', async () => {
    await curl(`${base}/counters`, '-X', 'DELETE');
    const single = await curl(`${base}/call`, '--json', JSON.stringify({ url: `${base}/status/418` }));
    expect(single.status).toBe(200);
    expect(json(single)).toMatchObject({ status: 418 });

    const summary = await curl(
      `${base}/call`,
      '--json',
      JSON.stringify({
        url: `${base}/echo`,
        count: 20,
        concurrency: 4,
        headers: { 'x-weft-caller': 'tester' },
      }),
    );
    expect(json(summary)).toMatchObject({ calls: 20, statuses: { '200': 20 }, byPod: { 'app-0': 20 } });

    const unreachable = await curl(`${base}/call`, '--json', JSON.stringify({ url: 'http://127.0.0.1:1/' }));
    expect(json(unreachable).status).toBe(0);
    expect(JSON.stringify(json(unreachable).error)).toMatch(/ECONNREFUSED/);

    const counters = json(await curl(`${base}/counters`)) as {
      received: { byCaller: Record<string, number> };
      outbound: { success: number; failure: number };
    };
    expect(counters.received.byCaller.tester).toBe(20);
    expect(counters.outbound).toMatchObject({ success: 21, failure: 1 });

    await curl(`${base}/counters`, '-X', 'DELETE');
    const cleared = json(await curl(`${base}/counters`)) as { received: { total: number } };
    expect(cleared.received.total).toBe(0);
  });

  it('makes TCP and gRPC calls with tcp:// and grpc:// URLs', async () => {
    const echo = await curl(
      `${base}/call`,
      '--json',
      JSON.stringify({ url: `tcp://127.0.0.1:${app.tcpEchoPort}`, body: 'abc' }),
    );
    expect(json(echo)).toMatchObject({ status: 200, body: 'abc' });
    const banner = await curl(
      `${base}/call`,
      '--json',
      JSON.stringify({ url: `tcp://127.0.0.1:${app.bannerPort}` }),
    );
    expect(json(banner)).toMatchObject({ status: 200, body: 'WEFT-BANNER app-0\r\n' });
    const grpc = await curl(
      `${base}/call`,
      '--json',
      JSON.stringify({ url: `grpc://127.0.0.1:${app.grpcPort}`, body: 'hi', count: 3 }),
    );
    expect(json(grpc)).toMatchObject({ calls: 3, statuses: { '200': 3 }, byPod: { 'app-0': 3 } });
    const refused = await curl(`${base}/call`, '--json', JSON.stringify({ url: 'tcp://127.0.0.1:1' }));
    expect(json(refused)).toMatchObject({ status: 0, error: { code: 'ECONNREFUSED' } });
  });

  it('rejects a malformed /call body naming the field', async () => {
    const r = await curl(`${base}/call`, '--json', JSON.stringify({ url: 'ftp://x/', count: 1 }));
    expect(r.status).toBe(400);
    expect(json(r).field).toBe('url');
  });

  it('serves gRPC unary, failures on request, and server streaming', async () => {
    const { Client } = loadEchoService();
    const client = new Client(`127.0.0.1:${app.grpcPort}`, credentials.createInsecure()) as unknown as {
      Unary(
        req: object,
        md: Metadata,
        cb: (e: ServiceError | null, r: Record<string, unknown>) => void,
      ): void;
      ServerStream(req: object): NodeJS.ReadableStream;
      close(): void;
    };
    try {
      const md = new Metadata();
      md.set('x-probe', 'p1');
      const reply = await new Promise<Record<string, unknown>>((resolve, reject) =>
        client.Unary({ message: 'hi' }, md, (e, r) => (e ? reject(e) : resolve(r))),
      );
      expect(reply).toMatchObject({ message: 'hi', pod: 'app-0', sequence: 1 });
      expect((reply.metadata as Record<string, string>)['x-probe']).toBe('p1');

      const failure = await new Promise<ServiceError>((resolve, reject) =>
        client.Unary({ message: 'x', statusCode: 14 }, new Metadata(), (e) =>
          e ? resolve(e) : reject(new Error('expected a failure')),
        ),
      );
      expect(failure.code).toBe(14);

      const replies: Record<string, unknown>[] = [];
      for await (const r of client.ServerStream({ message: 's', count: 3, intervalMs: 1 })) {
        replies.push(r as unknown as Record<string, unknown>);
      }
      expect(replies.map((r) => r.sequence)).toEqual([1, 2, 3]);
    } finally {
      client.close();
    }
  });

  it('echoes TCP until the client half-closes, then finishes and closes', async () => {
    const payload = 'x'.repeat(200_000);
    expect(await tcpExchange(app.tcpEchoPort, payload, true)).toBe(payload);
  });

  it('speaks first on the banner port', async () => {
    const received = await tcpExchange(app.bannerPort, 'ping\r\n', true);
    expect(received.startsWith('WEFT-BANNER app-0\r\n')).toBe(true);
    expect(received).toContain('> ping\r\n');
  });
});

describe('test app entry point (child process)', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    if (child?.exitCode === null) child.kill('SIGKILL');
  });

  it('refuses a bad environment with exit code 2 naming the variable', async () => {
    const result = await run(process.execPath, [mainPath], {
      env: { ...process.env, HTTP_PORT: 'eighty' },
    }).catch((error: { code: number; stderr: string }) => error);
    expect(result).toMatchObject({ code: 2 });
    expect((result as { stderr: string }).stderr).toMatch(/HTTP_PORT/);
  });

  it('serves on its configured ports, logs JSON, and exits 0 on SIGTERM', async () => {
    const ports = { HTTP_PORT: 28181, GRPC_PORT: 28182, TCP_ECHO_PORT: 28183, BANNER_PORT: 28184 };
    child = spawn(process.execPath, [mainPath], {
      env: {
        ...process.env,
        ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
        BIND_ADDRESS: '127.0.0.1',
        POD_NAME: 'child-pod',
        SHUTDOWN_GRACE_MS: '500',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: Record<string, unknown>[] = [];
    let buffered = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        lines.push(JSON.parse(buffered.slice(0, nl)) as Record<string, unknown>);
        buffered = buffered.slice(nl + 1);
      }
    });
    const deadline = Date.now() + 15_000;
    while (lines.filter((l) => l.msg === 'listening').length < 4 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(lines.filter((l) => l.msg === 'listening').map((l) => l.port)).toEqual(Object.values(ports));

    const r = await curl(`http://127.0.0.1:${ports.HTTP_PORT}/echo`);
    expect(json(r).pod).toBe('child-pod');

    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);
    expect(lines.some((l) => l.msg === 'stopped')).toBe(true);
  }, 30_000);
});
