// `weft-proxy await-ready` (the classic-sidecar postStart hook) against real proxies: it returns 0 as
// soon as the proxy is ready (config and certificate), and 1 when it never gets there in time.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import {
  makePki,
  type Pki,
  type ProxyProcess,
  proxyConfig,
  removeTmpDirs,
  spiffe,
  startProxyProcess,
} from './harness.ts';

let pki: Pki;
let ready: ProxyProcess;
let noCert: ProxyProcess;

beforeAll(async () => {
  pki = makePki();
  const config = proxyConfig({ version: 'a1', sa: 'web', trustAnchors: [pki.caPem] });
  [ready, noCert] = await Promise.all([
    startProxyProcess({ config, cert: pki.issue('web', spiffe('test', 'web')) }),
    startProxyProcess({ config }),
  ]);
}, 30_000);

afterAll(async () => {
  await Promise.all([ready?.stop(), noCert?.stop()]);
  pki?.cleanup();
  removeTmpDirs();
});

function awaitReady(adminPort: number, seconds: string): Promise<number | null> {
  const child = spawn(
    process.execPath,
    ['proxy-image/src/entry.ts', 'await-ready', '--timeout-seconds', seconds],
    {
      env: { ...process.env, NODE_OPTIONS: '', WEFT_ADMIN_PORT: String(adminPort) },
      stdio: 'ignore',
    },
  );
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

test('returns 0 for a ready proxy', async () => {
  expect(await awaitReady(ready.admin, '10')).toBe(0);
});

test('returns 1 when the proxy stays unready (no certificate) past the timeout', async () => {
  expect(await awaitReady(noCert.admin, '1')).toBe(1);
});
