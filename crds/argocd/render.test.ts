import { readFileSync } from 'node:fs';
import { expect, test } from '@jest/globals';
import { parse } from 'yaml';
import { SMI_KINDS } from '../smi/kinds.ts';
import { argocdConfigMapPatch, HEALTH_LUA } from './render.ts';

// The script itself is run by a real Lua 5.1 interpreter against smiHealth, the decision table it mirrors, in
// test/integration/crds/argocd-health.test.ts. These tests keep the committed files equal to the generator
// output and check the script's shape.

test('health.lua and argocd-cm-patch.yaml are the generator output (node crds/argocd/generate.ts)', () => {
  expect(readFileSync(new URL('./health.lua', import.meta.url), 'utf8')).toBe(HEALTH_LUA);
  expect(readFileSync(new URL('./argocd-cm-patch.yaml', import.meta.url), 'utf8')).toBe(
    argocdConfigMapPatch(),
  );
});

test('one health entry per SMI kind, keyed <group>_<Kind>', () => {
  const cm = parse(argocdConfigMapPatch()) as { data: Record<string, string> };
  expect(Object.keys(cm.data)).toHaveLength(SMI_KINDS.length);
  expect(cm.data['resource.customizations.health.split.smi-spec.io_TrafficSplit']).toBe(HEALTH_LUA);
});

test('the script returns each Argo CD status the decision table uses, and balances its blocks', () => {
  for (const s of ['Healthy', 'Progressing', 'Degraded']) expect(HEALTH_LUA).toContain(`hs.status = "${s}"`);
  const opens = (HEALTH_LUA.match(/^\s*(if|for|local function)\b/gm) ?? []).length;
  const ends = (HEALTH_LUA.match(/^\s*end$/gm) ?? []).length;
  expect(ends).toBe(opens);
});
