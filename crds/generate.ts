// Writes the SMI CRD manifests to crds/manifests/. Run: node crds/generate.ts
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { manifestFiles } from './smi/manifests-text.ts';

const dir = new URL('./manifests/', import.meta.url);
mkdirSync(dir, { recursive: true });
const files = manifestFiles();
for (const name of readdirSync(dir)) {
  if (name.endsWith('.yaml') && !files.has(name)) rmSync(new URL(name, dir));
}
for (const [name, text] of files) writeFileSync(new URL(name, dir), text);
process.stdout.write(`wrote ${files.size} CRD manifests to crds/manifests/\n`);
