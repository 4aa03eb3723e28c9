// Once it listens, the proxy releases the node binary's start-up pages (startup-pages.ts, the native
// addon's releaseExecutablePages). What is checked: the pages leave the RSS (against the same proxy with
// --release-startup-pages false), the proxy serves as before, and Node still runs code from every part of
// its binary after a release (crypto, TLS, HTTP/2, zlib, ICU), since released pages come back on touch.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import {
  listenLoopback,
  type ProxyProcess,
  proxyConfig,
  removeTmpDirs,
  startProxyProcess,
  tmpDir,
  waitFor,
} from './harness.ts';

const ADDON = 'proxy-image/native/build/Release/weft_native.node';

let app: http.Server;
let appPort: number;

beforeAll(async () => {
  execFileSync('proxy-image/native/build.sh');
  app = http.createServer((req, res) => res.end(`hello ${req.url}`));
  appPort = await listenLoopback(app);
});

afterAll(async () => {
  await new Promise((r) => app?.close(r));
  removeTmpDirs();
});

/** RssFile (the node binary's file pages, mostly) of a process, MB. */
function rssFileMb(pid: number): number {
  const m = /^RssFile:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) / 1024;
}

const config = (version: string) =>
  proxyConfig({
    version,
    sa: 'client',
    trustAnchors: [],
    services: [
      {
        name: 'web',
        clusterIP: '10.96.0.10',
        port: 80,
        protocol: 'http1',
        endpoints: [{ address: '127.0.0.1', port: appPort, identity: null }],
      },
    ],
  });

async function requests(p: ProxyProcess, n: number): Promise<string[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  try {
    return await Promise.all(
      Array.from(
        { length: n },
        (_, i) =>
          new Promise<string>((resolve, reject) => {
            http
              .get(
                { host: '127.0.0.1', port: p.outbound, path: `/${i}`, headers: { host: 'web' }, agent },
                (res) => {
                  let body = '';
                  res.on('data', (d: Buffer) => {
                    body += d.toString();
                  });
                  res.on('end', () => resolve(`${res.statusCode} ${body}`));
                },
              )
              .on('error', reject);
          }),
      ),
    );
  } finally {
    agent.destroy();
  }
}

test('the released proxy holds fewer of the binary pages than one that keeps them, and serves the same', async () => {
  const released = await startProxyProcess({ config: config('r1'), outboundDst: '10.96.0.10:80' });
  const kept = await startProxyProcess({
    config: config('k1'),
    outboundDst: '10.96.0.10:80',
    env: { WEFT_PROXY_RELEASE_STARTUP_PAGES: 'false' },
  });
  try {
    const line = await waitFor('the release logged', async () =>
      released
        .logs()
        .split('\n')
        .find((l) => l.includes('start-up pages of the node binary released')),
    );
    const logged = JSON.parse(line) as { mappings: number; rssBeforeMb: number; rssAfterMb: number };
    expect(logged.mappings).toBeGreaterThan(0);
    // The proxy's own view: its RSS fell by more than 10 MB across the call.
    expect(logged.rssBeforeMb - logged.rssAfterMb).toBeGreaterThan(10);
    expect(kept.logs()).not.toContain('start-up pages');

    // Both have started and listen; the one that released holds far fewer file pages.
    const releasedFile = rssFileMb(released.proc.pid!);
    const keptFile = rssFileMb(kept.proc.pid!);
    expect(keptFile - releasedFile).toBeGreaterThan(10);

    const expected = Array.from({ length: 200 }, (_, i) => `200 hello /${i}`);
    expect(await requests(released, 200)).toEqual(expected);
    expect(await requests(kept, 200)).toEqual(expected);
    expect(released.proc.exitCode).toBeNull();
  } finally {
    await released.stop();
    await kept.stop();
  }
}, 60_000);

test('a binary just written (its page cache still dirty, as in a freshly pulled image) is released too', () => {
  // Dirty page-cache pages show as Private_Dirty in smaps without being copy-on-write pages; a check on
  // Private_Dirty released nothing from a fresh copy (seen in the e2e cluster, right after an image import).
  const dir = tmpDir();
  const fresh = path.join(dir, 'node');
  // Written through the page cache (copyFileSync may reflink, which dirties nothing).
  writeFileSync(fresh, readFileSync(process.execPath), { mode: 0o755 });
  const script = `const fs = require('fs');
    const a = require(${JSON.stringify(path.resolve(ADDON))});
    const r = () => Number(/VmRSS:\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
    const exe = fs.readlinkSync('/proc/self/exe');
    const dirty = fs.readFileSync('/proc/self/smaps', 'utf8').split(/\\n(?=[0-9a-f]+-)/)
      .filter((b) => b.split('\\n')[0].endsWith(exe))
      .reduce((kb, b) => kb + Number(/Private_Dirty:\\s+(\\d+)/.exec(b)[1]), 0);
    const before = r(); const { mappings } = a.releaseExecutablePages();
    console.log(JSON.stringify({ dirty, mappings, fell: before - r() }));`;
  const out = JSON.parse(
    execFileSync(fresh, ['-e', script], {
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '' },
      timeout: 30_000,
    }),
  ) as { dirty: number; mappings: number; fell: number };
  // The case at hand: the binary's pages are dirty in the page cache.
  expect(out.dirty).toBeGreaterThan(1024);
  expect(out.mappings).toBeGreaterThan(0);
  expect(out.fell).toBeGreaterThan(10);
});

test('after a release Node still runs crypto, TLS, HTTP/2, zlib and ICU code from its binary', () => {
  // A separate process: releases twice (before and after the work), and exercises code that lives all
  // over the binary (OpenSSL, nghttp2, zlib, ICU data, V8's regexp and Intl). A wrong release (a
  // relocated page dropped) crashes here.
  const script = `
    const { createRequire } = require('node:module');
    const addon = createRequire(process.cwd() + '/')('./${ADDON}');
    const first = addon.releaseExecutablePages();
    const crypto = require('node:crypto'), tls = require('node:tls'), http2 = require('node:http2'), zlib = require('node:zlib');
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const sig = crypto.sign('sha256', Buffer.from('weft'), privateKey).length > 0;
    const gz = zlib.gunzipSync(zlib.gzipSync('x'.repeat(10000))).length;
    const date = new Intl.DateTimeFormat('de-DE', { month: 'long', timeZone: 'UTC' }).format(new Date(0));
    const upper = 'straße'.toLocaleUpperCase('de-DE');
    const re = /(\\p{L}+)-(\\d+)/u.exec('weft-42')[2];
    const s = http2.createServer(); s.on('stream', (st) => st.respond({ ':status': 204 }) || st.end());
    s.listen(0, '127.0.0.1', () => {
      const c = http2.connect('http://127.0.0.1:' + s.address().port);
      const r = c.request({ ':path': '/' });
      r.on('response', (h) => {
        const second = addon.releaseExecutablePages();
        console.log(JSON.stringify({ first: first.mappings, second: second.mappings, sig, gz, date, upper, re,
          h2: h[':status'], tls: typeof tls.createSecureContext({}).context }));
        c.close(); s.close();
      });
      r.end();
    });`;
  const out = JSON.parse(
    execFileSync(process.execPath, ['-e', script], {
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '' },
      timeout: 30_000,
    }),
  ) as Record<string, unknown>;
  expect(out).toEqual({
    first: expect.any(Number),
    second: expect.any(Number),
    sig: true,
    gz: 10000,
    date: 'Januar',
    upper: 'STRASSE',
    re: '42',
    h2: 204,
    tls: 'object',
  });
  expect(out.first as number).toBeGreaterThan(0);
  expect(out.second).toBe(out.first);
});
