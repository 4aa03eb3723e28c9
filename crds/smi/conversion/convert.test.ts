import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { smiObject } from '../arbitraries.ts';
import { SMI_KIND_INFO, SMI_KINDS } from '../kinds.ts';
import { ORIGINAL_FIELDS_ANNOTATION, STORAGE_FIELDS_ANNOTATION } from './annotations.ts';
import { convertSmiObject } from './convert.ts';
import type { JsonObject } from './json.ts';
import { normaliseQuantityWeights } from './quantity.ts';

function convert(o: JsonObject, apiVersion: string): JsonObject {
  const r = convertSmiObject(o, apiVersion);
  if (!r.ok) throw new Error(r.message);
  return r.object;
}

const meta = { name: 'web', namespace: 'shop' };

describe('Quantity weights', () => {
  test.each([
    [
      [1, '500m'],
      [1000, 500],
    ],
    [
      ['1', '500m'],
      [1000, 500],
    ],
    [
      [1, 2, 3],
      [1, 2, 3],
    ],
    [
      ['10', 90],
      [10, 90],
    ],
    [
      ['0.5', '1.25'],
      [50, 125],
    ],
    [
      ['1Ki', '512'],
      [1024, 512],
    ],
    [
      ['1e3', '1k'],
      [1000, 1000],
    ],
  ])('%j -> %j', (input, expected) => {
    expect(normaliseQuantityWeights(input)).toEqual({ ok: true, weights: expected });
  });

  test('ratios that cannot be integers up to 2^31-1 are refused, not truncated', () => {
    expect(normaliseQuantityWeights(['1E', '1'])).toEqual({
      ok: false,
      index: 0,
      reason: expect.any(String),
    });
    expect(normaliseQuantityWeights(['1', '-1'])).toEqual({
      ok: false,
      index: 1,
      reason: 'weight is negative',
    });
  });

  test('large but reducible ratios are divided by their common divisor', () => {
    expect(normaliseQuantityWeights(['4G', '2G'])).toEqual({ ok: true, weights: [2, 1] });
  });

  test('v1alpha1 mixed units: storage holds integers with the same ratio, v1alpha1 reads the original text', () => {
    const v1 = {
      apiVersion: 'split.smi-spec.io/v1alpha1',
      kind: 'TrafficSplit',
      metadata: meta,
      spec: {
        service: 'web',
        backends: [
          { service: 'web-v1', weight: 1 },
          { service: 'web-v2', weight: '500m' },
        ],
      },
    };
    const v4 = convert(v1, 'split.smi-spec.io/v1alpha4');
    expect(v4.spec).toEqual({
      service: 'web',
      backends: [
        { service: 'web-v1', weight: 1000 },
        { service: 'web-v2', weight: 500 },
      ],
    });
    expect(
      JSON.parse(
        (v4.metadata as { annotations: Record<string, string> }).annotations[ORIGINAL_FIELDS_ANNOTATION]!,
      ),
    ).toEqual({
      weights: [1, '500m'],
    });
    expect(convert(v4, 'split.smi-spec.io/v1alpha1')).toEqual(v1);
  });

  test('a stale original spelling never overrides weights changed through another version', () => {
    const v1 = {
      apiVersion: 'split.smi-spec.io/v1alpha1',
      kind: 'TrafficSplit',
      metadata: meta,
      spec: {
        service: 'web',
        backends: [
          { service: 'a', weight: '1' },
          { service: 'b', weight: '500m' },
        ],
      },
    };
    const v4 = convert(v1, 'split.smi-spec.io/v1alpha4') as { spec: { backends: { weight: number }[] } };
    v4.spec.backends[1]!.weight = 3000; // Flagger-style update through the storage version
    const back = convert(v4 as unknown as JsonObject, 'split.smi-spec.io/v1alpha1') as {
      spec: { backends: { weight: unknown }[] };
    };
    expect(back.spec.backends.map((b) => b.weight)).toEqual([1000, 3000]);
    expect(convert(back as unknown as JsonObject, 'split.smi-spec.io/v1alpha4')).toEqual(v4);
  });
});

describe('fields an older version cannot hold', () => {
  test('v1alpha3 matches seen through v1alpha1 come back', () => {
    const v3 = {
      apiVersion: 'split.smi-spec.io/v1alpha3',
      kind: 'TrafficSplit',
      metadata: meta,
      spec: {
        service: 'web',
        backends: [{ service: 'a', weight: 1 }],
        matches: [{ kind: 'HTTPRouteGroup', name: 'canary-header' }],
      },
    };
    const v1 = convert(v3, 'split.smi-spec.io/v1alpha1');
    expect((v1.spec as JsonObject).matches).toBeUndefined();
    expect(
      (v1.metadata as { annotations: Record<string, string> }).annotations[STORAGE_FIELDS_ANNOTATION],
    ).toBeDefined();
    // An Argo-Rollouts-style merge patch of the weights through v1alpha1 keeps the matches.
    (v1.spec as { backends: { weight: unknown }[] }).backends[0]!.weight = 5;
    const v4 = convert(v1, 'split.smi-spec.io/v1alpha4');
    expect(v4.spec).toEqual({ ...v3.spec, backends: [{ service: 'a', weight: 5 }] });
    expect(v4.metadata).toEqual(meta);
  });

  test('TrafficTarget v1alpha2 destination.port survives v1alpha3 and reads as a string in v1alpha1', () => {
    const v2 = {
      apiVersion: 'access.smi-spec.io/v1alpha2',
      kind: 'TrafficTarget',
      metadata: meta,
      spec: {
        destination: { kind: 'ServiceAccount', name: 'web', namespace: 'shop', port: 8080 },
        sources: [{ kind: 'ServiceAccount', name: 'client', namespace: 'shop' }],
        rules: [{ kind: 'TCPRoute', name: 'tcp' }],
      },
    };
    const v3 = convert(v2, 'access.smi-spec.io/v1alpha3');
    expect((v3.spec as { destination: JsonObject }).destination).toEqual({
      kind: 'ServiceAccount',
      name: 'web',
      namespace: 'shop',
    });
    const v1 = convert(v3, 'access.smi-spec.io/v1alpha1');
    expect(v1.destination).toEqual({ kind: 'ServiceAccount', name: 'web', namespace: 'shop', port: '8080' });
    expect(v1.specs).toEqual([{ kind: 'TCPRoute', name: 'tcp' }]);
    expect(v1.metadata).toEqual(meta);
    expect(convert(v1, 'access.smi-spec.io/v1alpha2')).toEqual(v2);
  });

  test('HTTPRouteGroup headers (both shapes) survive v1alpha1, and only return to the same match', () => {
    const v4 = {
      apiVersion: 'specs.smi-spec.io/v1alpha4',
      kind: 'HTTPRouteGroup',
      metadata: meta,
      spec: {
        matches: [
          { name: 'a', pathRegex: '/a', headers: { 'x-canary': 'true' } },
          { name: 'b', pathRegex: '/b', headers: [{ 'user-agent': '.*Firefox.*' }] },
        ],
      },
    };
    const v1 = convert(v4, 'specs.smi-spec.io/v1alpha1');
    expect(v1.matches).toEqual([
      { name: 'a', pathRegex: '/a' },
      { name: 'b', pathRegex: '/b' },
    ]);
    expect(convert(v1, 'specs.smi-spec.io/v1alpha4')).toEqual(v4);
    const reordered = {
      ...v1,
      matches: [
        { name: 'b', pathRegex: '/b' },
        { name: 'a', pathRegex: '/a' },
      ],
    };
    const back = convert(reordered, 'specs.smi-spec.io/v1alpha4') as { spec: { matches: JsonObject[] } };
    expect(back.spec.matches.every((m) => m.headers === undefined)).toBe(true);
  });

  test('TCPRoute ports survive v1alpha1..v1alpha3', () => {
    const v4 = {
      apiVersion: 'specs.smi-spec.io/v1alpha4',
      kind: 'TCPRoute',
      metadata: meta,
      spec: { matches: { ports: [5432] } },
    };
    for (const v of ['v1alpha1', 'v1alpha2', 'v1alpha3']) {
      expect(convert(convert(v4, `specs.smi-spec.io/${v}`), 'specs.smi-spec.io/v1alpha4')).toEqual(v4);
    }
  });
});

describe('errors name the object and the field', () => {
  test('unknown versions and kinds', () => {
    const o = { apiVersion: 'split.smi-spec.io/v1alpha1', kind: 'TrafficSplit', metadata: meta, spec: {} };
    expect(convertSmiObject(o, 'split.smi-spec.io/v9')).toEqual({
      ok: false,
      message: expect.stringContaining(
        'TrafficSplit shop/web: version v9 is not served',
      ) as unknown as string,
    });
    expect(convertSmiObject({ apiVersion: 'v1', kind: 'Pod' }, 'v1').ok).toBe(false);
    expect(convertSmiObject('nonsense', 'v1').ok).toBe(false);
  });

  test('weights that cannot keep their ratio', () => {
    const o = {
      apiVersion: 'split.smi-spec.io/v1alpha1',
      kind: 'TrafficSplit',
      metadata: meta,
      spec: {
        service: 'web',
        backends: [
          { service: 'a', weight: '1E' },
          { service: 'b', weight: '1' },
        ],
      },
    };
    const r = convertSmiObject(o, 'split.smi-spec.io/v1alpha4');
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toMatch(/TrafficSplit shop\/web: spec.backends\[0\].weight/);
  });
});

// The properties the apiserver relies on, for every kind and every pair of served versions.
describe.each(SMI_KINDS)('%s conversion properties', (kind) => {
  const info = SMI_KIND_INFO[kind];
  const api = (v: string) => `${info.group}/${v}`;
  const storage = api(info.storageVersion);
  const convertible = (o: JsonObject) => convertSmiObject(o, storage).ok;

  test.each([...info.versions])('from %s: through every other version and back is the identity', (from) => {
    fc.assert(
      fc.property(smiObject(kind, from).filter(convertible), (o) => {
        for (const to of info.versions) {
          const there = convert(o, api(to));
          expect(there.apiVersion).toBe(api(to));
          expect(convert(there, api(from))).toEqual(o);
          // Whatever version the object passes through, the stored form is the same.
          expect(convert(there, storage)).toEqual(convert(o, storage));
        }
      }),
      { numRuns: 150 },
    );
  });

  test.each([...info.versions])(
    'from %s: a chain through every version in random order comes back unchanged',
    (from) => {
      fc.assert(
        fc.property(
          smiObject(kind, from).filter(convertible),
          fc.shuffledSubarray([...info.versions], { minLength: info.versions.length }),
          (o, path) => {
            let cur = o;
            for (const v of path) cur = convert(cur, api(v));
            expect(convert(cur, api(from))).toEqual(o);
          },
        ),
        { numRuns: 100 },
      );
    },
  );
});

test('conversion never throws, whatever it is given', () => {
  fc.assert(
    fc.property(
      fc.anything(),
      fc.constantFrom('split.smi-spec.io/v1alpha1', 'specs.smi-spec.io/v1alpha4'),
      (o, v) => {
        convertSmiObject(o, v);
      },
    ),
  );
  fc.assert(
    fc.property(
      fc.record({
        spec: fc.anything(),
        metadata: fc.anything(),
        destination: fc.anything(),
        matches: fc.anything(),
      }),
      fc.constantFrom(...SMI_KINDS),
      fc.nat(3),
      fc.nat(3),
      (body, kind, a, b) => {
        const info = SMI_KIND_INFO[kind];
        const va = info.versions[a % info.versions.length]!;
        const vb = info.versions[b % info.versions.length]!;
        convertSmiObject({ ...body, apiVersion: `${info.group}/${va}`, kind }, `${info.group}/${vb}`);
      },
    ),
  );
});
