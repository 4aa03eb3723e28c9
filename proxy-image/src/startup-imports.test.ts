// The standalone proxy (`run --config`, what tests and `make bench-proxy` run) must not load Node's TLS,
// HTTP/2, HTTP or crypto machinery at startup while its config needs none of it: each costs resident memory
// (node:tls alone ~4 MB) that the idle-RSS figure counts. They are loaded on first use with
// process.getBuiltinModule. A static `import` of one of them anywhere in the module graph would be hoisted to
// the bundle's top and loaded at startup, so this checks the bundle's imports. (The image's entry.ts also
// carries the pod mode, whose first act is a CSR over HTTPS: it loads https and crypto at once anyway.)
import { describe, expect, test } from '@jest/globals';
import { build, type Metafile } from 'esbuild';

const LAZY = ['node:tls', 'node:http2', 'node:https', 'node:http', 'node:crypto'];

async function bundle(entry: string): Promise<Metafile> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    metafile: true,
    logLevel: 'silent',
    outdir: 'unused',
  });
  return result.metafile;
}

/** Static imports, and require() calls in bundled CommonJS dependencies (pino's run when it loads). */
function statics(meta: Metafile): string[] {
  return Object.values(meta.outputs).flatMap((o) =>
    o.imports
      .filter((i) => i.external && (i.kind === 'import-statement' || i.kind === 'require-call'))
      .map((i) => (i.path.startsWith('node:') ? i.path : `node:${i.path}`)),
  );
}

describe('the standalone proxy bundle (proxy-image/src/main.ts)', () => {
  test('statically imports none of the built-ins that are loaded on first use', async () => {
    const meta = await bundle('proxy-image/src/main.ts');
    expect(statics(meta).filter((p) => LAZY.includes(p))).toEqual([]);
    expect(statics(meta)).toContain('node:net'); // the check sees the bundle's imports at all
    // Dependencies that run at load and that the proxy does not use: @opentelemetry/api (prom-client's CPU
    // metric, for exemplars) cost 1.3 MB of idle RSS; proxy-metrics.ts counts CPU itself.
    const inputs = Object.keys(meta.inputs);
    expect(inputs.filter((f) => f.includes('node_modules/@opentelemetry/'))).toEqual([]);
    expect(inputs.some((f) => f.includes('node_modules/prom-client/'))).toBe(true);
  });
});

describe.each([
  ['the standalone proxy', 'proxy-image/src/main.ts'],
  ['the image entrypoint (pod mode)', 'proxy-image/src/entry.ts'],
])('%s bundle', (_name, entry) => {
  test('loads neither node:fs/promises nor the ESM facade of node:fs', async () => {
    // An ESM import of node:fs makes Node build its facade, which reads every export: fs.promises, and with it
    // readline and the REPL history module (0.5 MB). CommonJS require() and getBuiltinModule do not.
    // node:fs/promises loads readline by itself, however it is imported.
    const meta = await bundle(entry);
    const FS = ['node:fs', 'fs'];
    const FS_PROMISES = ['node:fs/promises', 'fs/promises'];
    const esmFs = Object.values(meta.outputs).flatMap((o) =>
      o.imports.filter(
        (i) => (i.kind === 'import-statement' && FS.includes(i.path)) || FS_PROMISES.includes(i.path),
      ),
    );
    expect(esmFs).toEqual([]);
    expect(statics(meta)).toContain('node:net');
  });
});
