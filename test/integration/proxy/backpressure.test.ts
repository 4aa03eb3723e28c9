// Backpressure toward clients that do not read: what the proxy writes to a client is bounded by what
// the client reads, including the answers the proxy makes itself to pipelined requests and the interim
// (1xx) responses an upstream sends. Without it one peer grows the proxy's memory until it dies. Each test
// shows the proxy stops reading from the side that fills the queue: that side's writes block.

import { readFile } from 'node:fs/promises';
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
let flood: net.Server;
let floodWritten = 0;
let floodBlocked = false;
const floodSockets = new Set<net.Socket>();

/** Writes `chunk` to `s` for up to `ms`; stops once a write has waited 1 s for 'drain'. */
async function writeUntilBlocked(
  s: net.Socket,
  chunk: Buffer,
  ms: number,
): Promise<{ bytes: number; blocked: boolean }> {
  const deadline = Date.now() + ms;
  let bytes = 0;
  while (Date.now() < deadline && !s.destroyed) {
    bytes += chunk.length;
    if (s.write(chunk)) continue;
    const drained = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), 1000);
      s.once('drain', () => {
        clearTimeout(t);
        resolve(true);
      });
    });
    if (!drained) return { bytes, blocked: true };
  }
  return { bytes, blocked: false };
}

/** The proxy's resident memory, MB. */
async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

beforeAll(async () => {
  // An upstream that answers every request with an endless run of 100 Continue.
  flood = net.createServer((s) => {
    floodSockets.add(s);
    s.on('error', () => undefined);
    s.once('data', async () => {
      const r = await writeUntilBlocked(s, Buffer.from('HTTP/1.1 100 Continue\r\n\r\n'.repeat(400)), 4000);
      floodWritten = r.bytes;
      floodBlocked = r.blocked;
    });
  });
  const floodPort = await listenLoopback(flood);
  proxy = await startProxyProcess({
    config: proxyConfig({
      version: 'bp1',
      sa: 'client',
      trustAnchors: [],
      services: [
        // No endpoints: every request is answered by the proxy itself (503 no-endpoint).
        { name: 'empty', clusterIP: '10.96.4.1', port: 80, endpoints: [] },
        {
          name: 'flood',
          clusterIP: '10.96.4.2',
          port: 80,
          endpoints: [{ address: '127.0.0.1', port: floodPort, identity: null }],
        },
      ],
      limits: { idleTimeoutMs: 60_000 },
    }),
    outboundDst: '10.96.4.1:80',
  });
}, 30_000);

afterAll(async () => {
  await proxy?.stop();
  for (const s of floodSockets) s.destroy();
  await new Promise((r) => flood?.close(r));
  removeTmpDirs();
}, 30_000);

test('a client that pipelines requests and never reads the answers is not read from either', async () => {
  const s = await connectLoopback(proxy.outbound);
  s.pause(); // never reads: the proxy's 503s pile up
  const requests = Buffer.from('GET / HTTP/1.1\r\nHost: empty\r\n\r\n'.repeat(1000));
  const r = await writeUntilBlocked(s, requests, 5000);
  // Kernel buffers both ways hold some MB; before, the proxy read 86 MB in 4 s and its heap grew to 600 MB.
  expect(r.blocked).toBe(true);
  expect(r.bytes).toBeLessThan(32 << 20);
  expect(await rssMb(proxy.proc.pid!)).toBeLessThan(200);
  s.destroy();
  expect((await curl(['-H', 'Host: empty', `http://127.0.0.1:${proxy.outbound}/`])).status).toBe(503);
}, 30_000);

test('an upstream flooding 100 Continue to a client that does not read is not read from either', async () => {
  const s = await connectLoopback(proxy.outbound);
  s.pause();
  s.write('GET / HTTP/1.1\r\nHost: flood\r\n\r\n');
  // The flood app writes for up to 4 s, or until its writes wait on the proxy.
  await new Promise((r) => setTimeout(r, 5500));
  // Before: heap 1.5 GB in 4 s.
  expect(floodBlocked).toBe(true);
  expect(floodWritten).toBeLessThan(64 << 20);
  expect(await rssMb(proxy.proc.pid!)).toBeLessThan(200);
  s.destroy();
}, 30_000);
