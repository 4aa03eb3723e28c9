// Config and credentials from files, hot-reloaded: fs.watch on the containing directory (so atomic
// renames, as Kubernetes volume updates do, are seen), debounced. A document that fails validation is
// reported with every error path and the last good one stays in force. This is the standalone seam; the
// control-plane stream client will implement the same ConfigSource interface.

import type { FSWatcher } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { ProxyConfig } from '../../../crds/proxy-config/types.ts';
import { type ProxyConfigError, validateProxyConfig } from '../../../crds/proxy-config/validate.ts';

const requireModule = createRequire(import.meta.url);
// Not `import`: Node's ESM facade of node:fs reads its lazy exports (fs.promises and the streams) too.
const { readFileSync, watch } = process.getBuiltinModule('node:fs');

export type ConfigLoad = { ok: true; config: ProxyConfig } | { ok: false; errors: ProxyConfigError[] };

/** Where proxy configs come from (file now; the operator's stream later). */
export interface ConfigSource {
  /** Calls onUpdate with each new document (valid or not); the first call happens before start resolves. */
  start(onUpdate: (load: ConfigLoad) => void): void;
  stop(): void;
  readonly description: string;
}

/** Reads and validates a config file (JSON, or YAML by extension). Never throws. */
export function loadConfigFile(file: string): ConfigLoad {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { ok: false, errors: [{ path: '', message: `cannot read ${file}: ${(err as Error).message}` }] };
  }
  return parseConfigText(text, /\.ya?ml$/i.test(file) ? 'yaml' : 'json', file);
}

/** Parses and validates a config document's text. Pure; never throws. */
export function parseConfigText(text: string, format: 'json' | 'yaml', origin = 'config'): ConfigLoad {
  let doc: unknown;
  try {
    // yaml is loaded only for YAML: it is a sizeable module a JSON-fed proxy never needs.
    doc = format === 'yaml' ? (requireModule('yaml') as typeof import('yaml')).parse(text) : JSON.parse(text);
  } catch (err) {
    return {
      ok: false,
      errors: [
        { path: '', message: `${origin} is not valid ${format.toUpperCase()}: ${(err as Error).message}` },
      ],
    };
  }
  return validateConfigDocument(doc, origin);
}

/** Validates a parsed config document (any source: file, control-plane stream). Never throws. */
export function validateConfigDocument(doc: unknown, origin: string): ConfigLoad {
  try {
    return validateProxyConfig(doc);
  } catch (err) {
    return {
      ok: false,
      errors: [{ path: '', message: `${origin}: validation failed: ${(err as Error).message}` }],
    };
  }
}

/** Watches files and calls onChange (debounced) when any of them changes. */
export function watchFiles(files: readonly string[], debounceMs: number, onChange: () => void): () => void {
  const dirs = new Map<string, Set<string>>();
  for (const f of files) {
    const abs = path.resolve(f);
    const d = path.dirname(abs);
    let names = dirs.get(d);
    if (names === undefined) {
      names = new Set();
      dirs.set(d, names);
    }
    names.add(path.basename(abs));
  }
  let timer: NodeJS.Timeout | null = null;
  const watchers: FSWatcher[] = [];
  for (const [dir, names] of dirs) {
    const w = watch(dir, (_event, name) => {
      // Kubernetes swaps a ..data symlink: any change in the directory may be ours.
      if (name !== null && !names.has(name) && !name.startsWith('..')) return;
      if (timer !== null) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        onChange();
      }, debounceMs);
    });
    w.on('error', () => undefined);
    watchers.push(w);
  }
  return () => {
    if (timer !== null) clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}

export class FileConfigSource implements ConfigSource {
  private readonly file: string;
  private readonly debounceMs: number;
  private stopWatch: (() => void) | null = null;

  constructor(file: string, debounceMs = 200) {
    this.file = file;
    this.debounceMs = debounceMs;
  }

  get description(): string {
    return `file:${this.file}`;
  }

  start(onUpdate: (load: ConfigLoad) => void): void {
    onUpdate(loadConfigFile(this.file));
    this.stopWatch = watchFiles([this.file], this.debounceMs, () => onUpdate(loadConfigFile(this.file)));
  }

  stop(): void {
    this.stopWatch?.();
    this.stopWatch = null;
  }
}
