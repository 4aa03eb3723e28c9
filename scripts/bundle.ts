// Bundles each runnable entrypoint into one ESM file under dist/, the same file the local image
// builder and the Dockerfiles copy into images. Usage: node scripts/bundle.ts [name...]
import { build } from 'esbuild';

interface Entry {
  readonly entry: string;
  readonly out: string;
}

const entries: Record<string, Entry> = {
  testapp: { entry: 'test/apps/testapp/src/main.ts', out: 'dist/testapp/testapp.mjs' },
  proxy: { entry: 'proxy-image/src/entry.ts', out: 'dist/proxy/proxy.mjs' },
  webhooks: { entry: 'webhooks/src/main.ts', out: 'dist/controller/webhooks.mjs' },
  operator: { entry: 'operator/src/main.ts', out: 'dist/controller/operator.mjs' },
};

// Bundled CommonJS dependencies call require() for Node built-ins; give the ESM bundle one.
const banner =
  "import { createRequire as __weftCreateRequire } from 'node:module';\nconst require = __weftCreateRequire(import.meta.url);";

const wanted = process.argv.slice(2);
const names = wanted.length > 0 ? wanted : Object.keys(entries);
for (const name of names) {
  const e = entries[name];
  if (!e) {
    console.error(`bundle: unknown entry "${name}"; known: ${Object.keys(entries).join(', ')}`);
    process.exit(2);
  }
  const result = await build({
    entryPoints: [e.entry],
    outfile: e.out,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    sourcemap: 'linked',
    legalComments: 'linked',
    banner: { js: banner },
    logLevel: 'warning',
    metafile: true,
    // Modules that run themselves when they are the main file must not do so inside a bundle.
    define: { 'import.meta.main': 'false' },
  });
  const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
  console.log(`${name}: ${e.out} (${Math.round(bytes / 1024)} KiB)`);
}
