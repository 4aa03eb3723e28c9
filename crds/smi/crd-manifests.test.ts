import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { customResourceDefinition } from './crd-manifests.ts';
import { SMI_KIND_INFO, SMI_KINDS } from './kinds.ts';
import { manifestFiles } from './manifests-text.ts';

const dir = new URL('../manifests/', import.meta.url);

// Structural schema rules the apiserver enforces (apiextensions "structural schema"): every node has a type
// unless it is int-or-string or preserves unknown fields; anyOf only carries value checks, except the one
// exact shape int-or-string allows.
function structuralViolations(node: Record<string, unknown>, path: string, out: string[]): void {
  const intOrString = node['x-kubernetes-int-or-string'] === true;
  const preserve = node['x-kubernetes-preserve-unknown-fields'] === true;
  if (node.type === undefined && !intOrString && !preserve) out.push(`${path}: no type`);
  if (node.anyOf !== undefined) {
    const exact = JSON.stringify(node.anyOf) === JSON.stringify([{ type: 'integer' }, { type: 'string' }]);
    if (!(intOrString && exact)) out.push(`${path}: anyOf`);
  }
  const props = node.properties as Record<string, Record<string, unknown>> | undefined;
  for (const [k, v] of Object.entries(props ?? {})) structuralViolations(v, `${path}.${k}`, out);
  const items = node.items as Record<string, unknown> | undefined;
  if (items !== undefined) structuralViolations(items, `${path}[]`, out);
  const ap = node.additionalProperties;
  if (ap !== undefined && typeof ap === 'object') {
    structuralViolations(ap as Record<string, unknown>, `${path}{}`, out);
  }
}

describe('SMI CRD manifests', () => {
  test('crds/manifests/ holds exactly the generator output (run `node crds/generate.ts` after a change)', () => {
    const expected = manifestFiles();
    const actual = readdirSync(dir).filter((n) => n.endsWith('.yaml'));
    expect(actual.sort()).toEqual([...expected.keys()].sort());
    for (const [name, text] of expected) expect(readFileSync(new URL(name, dir), 'utf8')).toBe(text);
  });

  test.each(SMI_KINDS)('%s: every version served, one storage version, webhook conversion', (kind) => {
    const crd = customResourceDefinition(kind) as {
      spec: {
        versions: { name: string; served: boolean; storage: boolean }[];
        conversion: { strategy: string };
      };
    };
    const info = SMI_KIND_INFO[kind];
    expect(crd.spec.versions.map((v) => v.name)).toEqual([...info.versions]);
    expect(crd.spec.versions.every((v) => v.served)).toBe(true);
    expect(crd.spec.versions.filter((v) => v.storage).map((v) => v.name)).toEqual([info.storageVersion]);
    expect(crd.spec.conversion.strategy).toBe(info.versions.length > 1 ? 'Webhook' : 'None');
  });

  test.each(SMI_KINDS)('%s: schemas are structural', (kind) => {
    const info = SMI_KIND_INFO[kind];
    for (const v of info.versions) {
      const out: string[] = [];
      structuralViolations(info.schema(v, 'crd'), `${kind}.${v}`, out);
      expect(out).toEqual([]);
    }
  });

  test('short names and the smi category', () => {
    const names = SMI_KINDS.map(
      (k) => customResourceDefinition(k) as { spec: { names: Record<string, unknown> } },
    );
    expect(names.map((c) => c.spec.names.shortNames)).toEqual([['ts'], ['tt'], ['htr'], ['tcpr'], ['udpr']]);
    expect(names.every((c) => (c.spec.names.categories as string[]).includes('smi'))).toBe(true);
  });
});
