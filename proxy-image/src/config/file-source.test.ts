import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { parseConfigText } from './file-source.ts';

const example = readFileSync('crds/proxy-config/examples/enforcing-split.json', 'utf8');

describe('parseConfigText', () => {
  test('accepts the contract example and fills defaults', () => {
    const r = parseConfigText(example, 'json');
    expect(r.ok && r.config.limits.connectTimeoutMs).toBe(1000);
  });

  test('reports the path of a bad field', () => {
    const doc = JSON.parse(example);
    doc.limits.maxHeaderCount = 0;
    const r = parseConfigText(JSON.stringify(doc), 'json');
    expect(r.ok ? [] : r.errors.map((e) => e.path)).toContain('/limits/maxHeaderCount');
  });

  test('never throws on arbitrary text, JSON values, or mutations of a valid document', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        expect(typeof parseConfigText(text, 'json').ok).toBe('boolean');
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        expect(typeof parseConfigText(JSON.stringify(value), 'json').ok).toBe('boolean');
      }),
      { numRuns: 500 },
    );
    const base = JSON.parse(example);
    const keys = [
      'listeners',
      'limits',
      'outbound',
      'inbound',
      'identity',
      'policyMode',
      'trustAnchors',
      'retryBudget',
    ];
    fc.assert(
      fc.property(fc.constantFrom(...keys), fc.jsonValue({ maxDepth: 3 }), (key, value) => {
        const r = parseConfigText(JSON.stringify({ ...base, [key]: value }), 'json');
        if (!r.ok) for (const e of r.errors) expect(e.path.startsWith('/') || e.path === '').toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
