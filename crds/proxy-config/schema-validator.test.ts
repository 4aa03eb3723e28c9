import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { build } from 'esbuild';
import fc from 'fast-check';
import { contractAjv, GENERATED_VALIDATOR_URL, validatorModuleSource } from './generate-validator.ts';
import { proxyConfigSchema } from './schema.ts';
import { validate as generated } from './schema-validator.generated.js';

const examplesDir = new URL('./examples/', import.meta.url);
const examples = readdirSync(examplesDir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(new URL(f, examplesDir), 'utf8')) as unknown);

/** The schema compiled at runtime, with its annotations, as validate.ts did before it was precompiled. */
const runtime = contractAjv(false).compile(proxyConfigSchema);

function outcome(validate: typeof generated, doc: unknown) {
  const copy = structuredClone(doc);
  const ok = validate(copy);
  const errors = (validate.errors ?? []).map((e) => ({
    instancePath: e.instancePath,
    keyword: e.keyword,
    params: e.params,
    message: e.message,
  }));
  return { ok, errors: ok ? [] : errors, withDefaults: copy };
}

/** Sets (or deletes, for undefined) the value at a path of keys/indexes chosen by numbers. */
function mutate(doc: unknown, picks: number[], value: unknown): unknown {
  const root = structuredClone(doc) as Record<string, unknown>;
  let node: Record<string, unknown> = root;
  for (let i = 0; i < picks.length; i++) {
    const keys = Object.keys(node);
    if (keys.length === 0) break;
    const key = keys[picks[i]! % keys.length]!;
    const child = node[key];
    if (i === picks.length - 1 || child === null || typeof child !== 'object') {
      if (value === undefined) delete node[key];
      else node[key] = value;
      break;
    }
    node = child as Record<string, unknown>;
  }
  return root;
}

describe('precompiled proxy config validator', () => {
  test('schema-validator.generated.js is current (regenerate: node crds/proxy-config/generate-validator.ts)', () => {
    expect(readFileSync(GENERATED_VALIDATOR_URL, 'utf8')).toBe(validatorModuleSource());
  });

  test('agrees with the schema compiled at runtime on the examples', () => {
    for (const doc of examples) {
      const g = outcome(generated, doc);
      expect(g.ok).toBe(true);
      expect(g).toEqual(outcome(runtime, doc));
    }
  });

  test('agrees with the schema compiled at runtime on mutated documents (verdict, errors, defaults)', () => {
    const jsonValue = fc.oneof(
      fc.constant(undefined),
      fc.jsonValue({ maxDepth: 2 }),
      fc.constantFrom(
        '',
        'x',
        -1,
        0,
        1,
        65536,
        1.5,
        null,
        true,
        [],
        {},
        '10.0.0.1',
        '::1',
        'spiffe://a/ns/b/sa/c',
      ),
    );
    fc.assert(
      fc.property(
        fc.nat(examples.length - 1),
        fc.array(fc.nat(), { minLength: 1, maxLength: 6 }),
        jsonValue,
        (which, picks, value) => {
          const doc = mutate(examples[which], picks, value);
          expect(outcome(generated, doc)).toEqual(outcome(runtime, doc));
        },
      ),
      { numRuns: 500 },
    );
  });

  test('works bundled with esbuild as the images bundle it (runtime helpers resolve to functions)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'weft-validator-'));
    try {
      const out = path.join(dir, 'validate.mjs');
      await build({
        entryPoints: [new URL('./validate.ts', import.meta.url).pathname],
        outfile: out,
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node24',
        logLevel: 'silent',
      });
      const bundled = (await import(out)) as typeof import('./validate.ts');
      const doc = structuredClone(examples[0]) as Record<string, any>;
      doc.identity.trustDomain = 'x'.repeat(256); // maxLength: ucs2length
      doc.generatedAt = 'yesterday'; // format: date-time from ajv-formats
      doc.listeners = { opaquePorts: [21, 21] }; // uniqueItems: equal
      const r = bundled.validateProxyConfig(doc);
      expect(r.ok ? [] : r.errors.map((e) => e.path).sort()).toEqual([
        '/generatedAt',
        '/identity/trustDomain',
        '/listeners/opaquePorts',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
