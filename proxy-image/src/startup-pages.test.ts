import { expect, test } from '@jest/globals';
import { pino } from 'pino';
import { parseSettings } from './main.ts';
import { processRss, releaseStartupPages } from './startup-pages.ts';

const silent = pino({ level: 'silent' });

test('without the addon the proxy keeps its pages and says why, without failing', () => {
  const missing = () => {
    throw new Error("the proxy's native addon weft_native.node was not found; tried /app/weft_native.node");
  };
  expect(releaseStartupPages(silent, missing)).toBeNull();
});

test('a release reports what it released and the RSS around it', () => {
  const r = releaseStartupPages(silent, () => ({
    releaseExecutablePages: () => ({ mappings: 3, bytes: 100 << 20, residentBytes: 30 << 20 }),
  }));
  expect(r).toMatchObject({ mappings: 3, residentBytes: 30 << 20 });
  expect(r!.rssBefore).toBeGreaterThan(0);
  expect(processRss()).toBeGreaterThan(0);
});

test('--release-startup-pages takes true or false, defaults to true, and names a bad value', () => {
  const base = ['--config', 'c.json'];
  expect(parseSettings(base, {}).releaseStartupPages).toBe(true);
  expect(parseSettings([...base, '--release-startup-pages', 'false'], {}).releaseStartupPages).toBe(false);
  expect(parseSettings([...base, '--release-startup-pages=true'], {}).releaseStartupPages).toBe(true);
  expect(parseSettings(base, { WEFT_PROXY_RELEASE_STARTUP_PAGES: 'false' }).releaseStartupPages).toBe(false);
  expect(() => parseSettings([...base, '--release-startup-pages', '0'], {})).toThrow(
    /--release-startup-pages \(WEFT_PROXY_RELEASE_STARTUP_PAGES\) "0" must be true or false/,
  );
});
