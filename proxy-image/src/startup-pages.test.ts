import { expect, test } from '@jest/globals';
import { pino } from 'pino';
import { parseSettings } from './main.ts';
import { releaseStartupPages } from './startup-pages.ts';

/** A logger whose lines land, parsed, in the returned array. */
function capturing(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { logger, lines };
}

test('without the addon the proxy keeps its pages and says why, without failing', () => {
  const { logger, lines } = capturing();
  const missing = () => {
    throw new Error("the proxy's native addon weft_native.node was not found; tried /app/weft_native.node");
  };
  expect(releaseStartupPages(logger, missing)).toBeNull();
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({
    msg: 'start-up pages of the node binary kept',
    reason: expect.stringContaining('weft_native.node was not found'),
  });
});

test('a release reports what it released and the RSS around it', () => {
  const { logger, lines } = capturing();
  const r = releaseStartupPages(logger, () => ({
    releaseExecutablePages: () => ({ mappings: 3, residentBytes: 30 << 20 }),
  }));
  expect(r).toMatchObject({ mappings: 3, residentBytes: 30 << 20 });
  expect(r!.rssBefore).toBeGreaterThan(0);
  expect(r!.rssAfter).toBeGreaterThan(0);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({
    msg: 'start-up pages of the node binary released',
    mappings: 3,
    residentMb: 30,
  });
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
