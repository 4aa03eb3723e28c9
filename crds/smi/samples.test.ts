// samples/smi: one manifest per kind and version plus the shapes Flagger and Argo Rollouts write. Each is
// valid, warning-free apart from references, and converts exactly through every version of its kind.
import { readdirSync, readFileSync } from 'node:fs';
import { expect, test } from '@jest/globals';
import { parse } from 'yaml';
import { convertSmiObject } from './conversion/index.ts';
import { SMI_KIND_INFO, SMI_KINDS, smiKindInfo } from './kinds.ts';
import { validateSmiObject } from './validation/index.ts';

const dir = new URL('../../samples/smi/', import.meta.url);
const samples = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => [f, parse(readFileSync(new URL(f, dir), 'utf8')) as Record<string, unknown>] as const);

test('one sample per kind and version', () => {
  const have = new Set(samples.map(([, o]) => `${o.kind}/${String(o.apiVersion).split('/')[1]}`));
  for (const kind of SMI_KINDS)
    for (const v of SMI_KIND_INFO[kind].versions) expect(have).toContain(`${kind}/${v}`);
});

test.each(samples)('%s is valid and round-trips through every version', (_file, o) => {
  const v = validateSmiObject(o, 'samples');
  expect(v.denials).toEqual([]);
  expect(v.warnings).toEqual([]);
  const [group] = String(o.apiVersion).split('/') as [string];
  const info = smiKindInfo(group, String(o.kind))!;
  for (const other of info.versions) {
    const there = convertSmiObject(o, `${group}/${other}`);
    expect(there.ok).toBe(true);
    if (there.ok)
      expect(convertSmiObject(there.object, String(o.apiVersion))).toEqual({ ok: true, object: o });
  }
});
