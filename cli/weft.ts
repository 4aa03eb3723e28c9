// The weft CLI. Today: `weft inject -f <file|->`. Next: install, check, stat, tap.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULT_MESH_CONFIG } from '../webhooks/src/injection/mesh-config.ts';
import { injectManifests, ManifestError } from './inject.ts';

const USAGE = `usage: weft inject -f <file|-> [-f ...] [--proxy-image IMAGE] [--proxy-init-image IMAGE] [--no-native-sidecar]
  Prints the manifests with the Weft proxy injected into every pod and pod template.`;

function main(argv: string[]): number {
  const [command, ...rest] = argv;
  if (command !== 'inject') {
    process.stderr.write(`${USAGE}\n`);
    return command === undefined || command === '--help' || command === '-h' ? 0 : 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      filename: { type: 'string', short: 'f', multiple: true },
      'proxy-image': { type: 'string' },
      'proxy-init-image': { type: 'string' },
      'no-native-sidecar': { type: 'boolean' },
    },
    strict: true,
  });
  const files = values.filename ?? [];
  if (files.length === 0) {
    process.stderr.write(`weft inject: -f is required\n${USAGE}\n`);
    return 2;
  }
  const mesh = {
    ...DEFAULT_MESH_CONFIG,
    ...(values['proxy-image'] ? { proxyImage: values['proxy-image'] } : {}),
    ...(values['proxy-init-image'] ? { proxyInitImage: values['proxy-init-image'] } : {}),
    ...(values['no-native-sidecar'] ? { nativeSidecar: false } : {}),
  };
  const outputs: string[] = [];
  for (const file of files) {
    const text = readFileSync(file === '-' ? 0 : file, 'utf8');
    const { yaml, reports } = injectManifests(text, file === '-' ? '<stdin>' : file, mesh);
    for (const r of reports) process.stderr.write(`${r.object}: ${r.reason}\n`);
    if (yaml !== '') outputs.push(yaml);
  }
  process.stdout.write(outputs.join('---\n'));
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (error) {
  if (error instanceof ManifestError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`weft: ${(error as Error).message}\n`);
    process.exitCode = 2;
  } else if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
    process.stderr.write(`weft: ${(error as Error).message}\n`);
    process.exitCode = 2;
  } else throw error;
}
