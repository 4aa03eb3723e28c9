// The Argo CD health check (crds/argocd/health.lua) run by a real Lua 5.1 interpreter (Argo CD embeds
// gopher-lua, a Lua 5.1 implementation), against the decision table it mirrors (smiHealth in
// crds/smi/status.ts): the same status and message for every object, hand-picked and generated.
import { execFileSync } from 'node:child_process';
import { expect, test } from '@jest/globals';
import fc from 'fast-check';
import { HEALTH_LUA } from '../../../crds/argocd/render.ts';
import { smiHealth } from '../../../crds/smi/status.ts';

const LUA = 'lua5.1';
// Separators of the interpreter's output: ASCII record and unit separators.
const RECORD = '\x1e';
const FIELD = '\x1f';

/** A Lua expression for a JSON value: tables for objects and arrays, every string byte escaped. */
function toLua(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'string')
    return `"${[...Buffer.from(v, 'utf8')].map((b) => `\\${String(b).padStart(3, '0')}`).join('')}"`;
  if (Array.isArray(v)) return `{${v.map(toLua).join(', ')}}`;
  const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
  return `{${entries.map(([k, x]) => `[${toLua(k)}] = ${toLua(x)}`).join(', ')}}`;
}

/** Runs the health script over each object in one Lua process; returns [status, message] per object. */
function runLua(objects: readonly unknown[]): [string, string][] {
  const program = [
    `local function health(obj)\n${HEALTH_LUA}\nend`,
    ...objects.map(
      (o) =>
        `do local hs = health(${toLua(o)}); io.write(hs.status, "\\31", hs.message or "<nil>", "\\30") end`,
    ),
  ].join('\n');
  const out = execFileSync(LUA, ['-'], { input: program, encoding: 'utf8', maxBuffer: 64 << 20 });
  return out
    .split(RECORD)
    .slice(0, -1)
    .map((r) => r.split(FIELD) as [string, string]);
}

const cond = (type: string, status: string, reason = 'Reason', message = 'message') => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: '2026-11-23T00:00:00Z',
  observedGeneration: 1,
});

const handPicked: unknown[] = [
  { metadata: { name: 'no-status', generation: 1 } },
  { metadata: { name: 'empty-status', generation: 1 }, status: {} },
  { metadata: { name: 'stale', generation: 3 }, status: { observedGeneration: 2, conditions: [] } },
  { metadata: { name: 'no-generation' }, status: { observedGeneration: 2, conditions: [] } },
  {
    metadata: { generation: 1 },
    status: {
      observedGeneration: 1,
      conditions: [cond('Accepted', 'False', 'Conflicted', 'root claimed twice')],
    },
  },
  {
    metadata: { generation: 1 },
    status: {
      observedGeneration: 1,
      conditions: [
        cond('Accepted', 'True'),
        cond('ResolvedRefs', 'True'),
        cond('Ready', 'True', 'Programmed', '12 proxies'),
      ],
    },
  },
  {
    metadata: { generation: 2 },
    status: {
      observedGeneration: 2,
      conditions: [
        cond('Accepted', 'True'),
        cond('ResolvedRefs', 'False', 'BackendNotFound', 'service "web-v3" not found'),
        cond('Ready', 'True', 'Programmed', ''),
      ],
    },
  },
  {
    metadata: { generation: 1 },
    status: {
      observedGeneration: 1,
      conditions: [cond('Ready', 'False', 'NotProgrammed', 'no proxy has it yet')],
    },
  },
  { metadata: { generation: 1 }, status: { observedGeneration: 1, conditions: [cond('Ready', 'Unknown')] } },
  {
    metadata: { generation: 1 },
    status: {
      observedGeneration: 1,
      conditions: [cond('Ready', 'True', 'Programmed', 'quote " backslash \\ ünïcode ✓')],
    },
  },
];

test(`${LUA} gives the status and message smiHealth gives, for hand-picked objects`, () => {
  const lua = runLua(handPicked);
  expect(lua).toEqual(handPicked.map((o) => Object.values(smiHealth(o as never))));
  expect(lua.map(([s]) => s)).toEqual([
    'Progressing',
    'Progressing',
    'Progressing',
    'Progressing',
    'Degraded',
    'Healthy',
    'Healthy',
    'Progressing',
    'Progressing',
    'Healthy',
  ]);
  expect(lua[6]![1]).toBe('Programmed; BackendNotFound: service "web-v3" not found');
});

test(`${LUA} and smiHealth agree on 500 generated objects`, () => {
  const text = fc
    .string({ unit: 'grapheme', maxLength: 20 })
    .filter((s) => !s.includes(RECORD) && !s.includes(FIELD));
  const condition = fc.record({
    type: fc.constantFrom('Accepted', 'ResolvedRefs', 'Ready', 'Other'),
    status: fc.constantFrom('True', 'False', 'Unknown'),
    reason: text,
    message: text,
  });
  const object = fc.record(
    {
      metadata: fc.record({ generation: fc.integer({ min: 1, max: 5 }) }, { requiredKeys: [] }),
      status: fc.record(
        {
          observedGeneration: fc.integer({ min: 0, max: 5 }),
          conditions: fc.array(condition, { maxLength: 4 }),
        },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: ['metadata'] },
  );
  const objects = fc.sample(object, { numRuns: 500, seed: 20261123 });
  const lua = runLua(objects);
  expect(lua).toHaveLength(objects.length);
  for (const [i, o] of objects.entries()) {
    expect({ object: o, health: lua[i] }).toEqual({
      object: o,
      health: Object.values(smiHealth(o as never)),
    });
  }
  // The sample reaches every status.
  expect(new Set(lua.map(([s]) => s))).toEqual(new Set(['Healthy', 'Progressing', 'Degraded']));
});
