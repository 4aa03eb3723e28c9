// /ready is true only with a config and, unless the config is plaintext-only, a certificate that is valid
// now: kubelet keeps a proxy without a usable identity out of its Service's endpoints. A certificate
// rotated in (files replaced, as the kubelet's projected volume does) makes it ready without a restart.

import { copyFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import {
  curl,
  makePki,
  type Pki,
  proxyConfig,
  removeTmpDirs,
  spiffe,
  startProxyProcess,
  waitFor,
} from './harness.ts';

let pki: Pki;

beforeAll(() => {
  pki = makePki();
});

afterAll(() => {
  pki?.cleanup();
  removeTmpDirs();
});

const status = async (port: number, path: string) => (await curl([`http://127.0.0.1:${port}${path}`])).status;

test('an expired certificate: live but not ready; a valid one rotated in: ready', async () => {
  const id = spiffe('test', 'client');
  const expired = pki.issue('expired', id, { days: 0 });
  const p = await startProxyProcess({
    config: proxyConfig({ version: 'r1', sa: 'client', trustAnchors: [pki.caPem] }),
    cert: expired,
  });
  try {
    expect(await status(p.admin, '/live')).toBe(200);
    expect(await status(p.admin, '/ready')).toBe(503);
    const valid = pki.issue('valid', id);
    copyFileSync(valid.key, expired.key);
    copyFileSync(valid.cert, expired.cert);
    await waitFor('ready with the rotated certificate', async () =>
      (await status(p.admin, '/ready')) === 200 ? true : undefined,
    );
  } finally {
    await p.stop();
  }
}, 30_000);

test('no certificate at all with a config that needs one: not ready; a plaintext-only config: ready', async () => {
  const anchors = pki.caPem;
  const withAnchors = await startProxyProcess({
    config: proxyConfig({ version: 'r2', sa: 'client', trustAnchors: [anchors] }),
  });
  const plaintext = await startProxyProcess({
    config: proxyConfig({ version: 'r3', sa: 'client', trustAnchors: [] }),
  });
  try {
    expect(await status(withAnchors.admin, '/ready')).toBe(503);
    expect(await status(plaintext.admin, '/ready')).toBe(200);
  } finally {
    await Promise.all([withAnchors.stop(), plaintext.stop()]);
  }
}, 30_000);
