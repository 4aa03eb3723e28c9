// Start-up reads much of the node binary that a running proxy never needs again: the heap snapshot it
// deserialized, the sources and code cache of built-in modules, ICU data, start-up code. Those file pages
// stay mapped, and counted in the proxy's RSS, for the life of the process: about 30 of the 53 MB a proxy
// held idle (BENCHMARKS.md). Once the proxy listens, they are released (native addon, MADV_DONTNEED on the
// executable's read-only mappings); the pages the proxy uses come back on first touch, from the page cache.
import type { Logger } from 'pino';
import { loadNativeAddon, type NativeAddon } from './native.ts';

export interface StartupPagesRelease {
  readonly mappings: number;
  /** Resident bytes of the released mappings just before. */
  readonly residentBytes: number;
  readonly rssBefore: number;
  readonly rssAfter: number;
}

const mb = (bytes: number): number => Math.round((bytes / 1048576) * 10) / 10;

/** Releases the executable's start-up pages; logs what it did, or why not. Never throws. */
export function releaseStartupPages(
  logger: Logger,
  addon: () => Pick<NativeAddon, 'releaseExecutablePages'> = loadNativeAddon,
): StartupPagesRelease | null {
  try {
    const rssBefore = process.memoryUsage.rss();
    const { mappings, residentBytes } = addon().releaseExecutablePages();
    const rssAfter = process.memoryUsage.rss();
    const result = { mappings, residentBytes, rssBefore, rssAfter };
    logger.info(
      { mappings, residentMb: mb(residentBytes), rssBeforeMb: mb(rssBefore), rssAfterMb: mb(rssAfter) },
      'start-up pages of the node binary released',
    );
    return result;
  } catch (err) {
    logger.info({ reason: (err as Error).message }, 'start-up pages of the node binary kept');
    return null;
  }
}
