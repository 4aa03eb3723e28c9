// The proxy's N-API addon (proxy-image/native): what Node has no API for. Loaded on first use; the
// proxy works without it in explicit mode (no SO_ORIGINAL_DST needed) and then keeps its start-up pages.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

// Not `import`: Node's ESM facade of node:fs reads its lazy exports (fs.promises and the streams) too.
const { existsSync } = process.getBuiltinModule('node:fs');

export interface NativeAddon {
  /** SO_ORIGINAL_DST of a connected socket; throws code ERRNO_2 when it was not redirected. */
  getOriginalDst(fd: number): { address: string; port: number; family: 4 | 6 };
  /** MADV_DONTNEED on the read-only, unmodified mappings of the process's own executable. */
  releaseExecutablePages(): { mappings: number; residentBytes: number };
  /** malloc_trim(0) (glibc; elsewhere nothing): whether pages were released, and how long it took. */
  trimNativeHeap(): { released: boolean; ms: number };
}

export const NATIVE_ADDON_FILE = 'weft_native.node';
let addon: NativeAddon | undefined;

/** Where the addon may be: WEFT_NATIVE_ADDON, beside the bundle (images), or the dev build. */
function candidatePaths(): string[] {
  const fromEnv = process.env.WEFT_NATIVE_ADDON;
  return [
    ...(fromEnv ? [fromEnv] : []),
    fileURLToPath(new URL(`./${NATIVE_ADDON_FILE}`, import.meta.url)),
    fileURLToPath(new URL(`../native/build/Release/${NATIVE_ADDON_FILE}`, import.meta.url)),
  ];
}

/** Loads the addon once; throws with every path tried when it is missing. */
export function loadNativeAddon(): NativeAddon {
  if (addon) return addon;
  const tried = candidatePaths();
  const found = tried.find((p) => existsSync(p));
  if (!found) {
    throw new Error(`the proxy's native addon ${NATIVE_ADDON_FILE} was not found; tried ${tried.join(', ')}`);
  }
  addon = createRequire(import.meta.url)(found) as NativeAddon;
  return addon;
}
