import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { proxyConfigSchema } from './schema.ts';

// schema.json is the published copy of schema.ts. Regenerate with WEFT_UPDATE_SCHEMA=1 (then let biome format it).
const jsonPath = new URL('./schema.json', import.meta.url);

function describedPaths(node: unknown, path: string, out: string[]): void {
  if (node === null || typeof node !== 'object') return;
  const obj = node as Record<string, unknown>;
  const props = obj.properties as Record<string, Record<string, unknown>> | undefined;
  if (props !== undefined) {
    for (const [name, sub] of Object.entries(props)) {
      const refTarget = typeof sub.$ref === 'string';
      if (sub.description === undefined && !refTarget) out.push(`${path}/properties/${name}`);
      describedPaths(sub, `${path}/properties/${name}`, out);
    }
  }
  for (const key of ['items', '$defs']) {
    const v = obj[key];
    if (key === '$defs' && v !== undefined) {
      for (const [name, sub] of Object.entries(v as Record<string, unknown>))
        describedPaths(sub, `/$defs/${name}`, out);
    } else if (v !== undefined) describedPaths(v, `${path}/${key}`, out);
  }
  if (Array.isArray(obj.oneOf))
    for (const [i, s] of obj.oneOf.entries()) describedPaths(s, `${path}/oneOf/${i}`, out);
}

describe('proxy config schema', () => {
  test('schema.json is the published copy of schema.ts', () => {
    const generated = `${JSON.stringify(proxyConfigSchema, null, 2)}\n`;
    if (process.env.WEFT_UPDATE_SCHEMA === '1') writeFileSync(jsonPath, generated);
    expect(JSON.parse(readFileSync(jsonPath, 'utf8'))).toEqual(JSON.parse(generated));
  });

  test('has a versioned $id', () => {
    expect(proxyConfigSchema.$id).toBe('https://weft.dev/schemas/proxy-config/v1alpha1.json');
  });

  test('documents every field', () => {
    const missing: string[] = [];
    describedPaths(proxyConfigSchema, '', missing);
    expect(missing).toEqual([]);
  });
});
