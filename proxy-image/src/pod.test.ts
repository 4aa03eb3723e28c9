import { expect, test } from '@jest/globals';
import { podProxySettings, StreamConfigSource } from './pod.ts';

const injected = {
  WEFT_IDENTITY_DIR: '/var/run/secrets/weft.dev/identity',
  WEFT_OUTBOUND_PORT: '15101',
  WEFT_INBOUND_PORT: '15106',
  WEFT_ADMIN_PORT: '15190',
  WEFT_LOG_LEVEL: 'debug',
};

test('the injector environment becomes proxy settings reading the identity volume', () => {
  const s = podProxySettings(injected);
  expect(s).toMatchObject({
    configFile: '/var/run/secrets/weft.dev/identity/config.json',
    certFile: '/var/run/secrets/weft.dev/identity/cert.pem',
    keyFile: '/var/run/secrets/weft.dev/identity/key.pem',
    outboundPort: 15101,
    inboundPort: 15106,
    adminPort: 15190,
    logLevel: 'debug',
    outboundMode: { kind: 'transparent' },
    inboundMode: { kind: 'transparent' },
  });
  expect(podProxySettings({ ...injected, WEFT_PROXY_ADMIN_PORT: '9999' }).adminPort).toBe(9999);
  expect(s.releaseStartupPages).toBe(true);
  expect(
    podProxySettings({ ...injected, WEFT_PROXY_RELEASE_STARTUP_PAGES: 'false' }).releaseStartupPages,
  ).toBe(false);
});

test('a bad injected value is named', () => {
  expect(() => podProxySettings({ ...injected, WEFT_INBOUND_PORT: 'x' })).toThrow(
    /--inbound-port \(WEFT_PROXY_INBOUND_PORT\) "x" must be a port/,
  );
  expect(() => podProxySettings({ ...injected, WEFT_PROXY_RELEASE_STARTUP_PAGES: 'no' })).toThrow(
    /--release-startup-pages \(WEFT_PROXY_RELEASE_STARTUP_PAGES\) "no" must be true or false/,
  );
});

test('the stream source hands a late starter the latest document, and reports an invalid one', async () => {
  const source = new StreamConfigSource('control-plane:test');
  const loads: boolean[] = [];
  source.push({ not: 'a config' });
  await source.first;
  source.start((l) => {
    loads.push(l.ok);
    if (!l.ok) expect(l.errors.length).toBeGreaterThan(0);
  });
  source.push({ still: 'not a config' });
  source.stop();
  source.push({ ignored: true });
  expect(loads).toEqual([false, false]);
});
