import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { smiObject } from '../arbitraries.ts';
import { SMI_KIND_INFO, SMI_KINDS } from '../kinds.ts';
import { formatFinding } from './findings.ts';
import type { LookupAnswer, ReferenceLookup } from './references.ts';
import { validateSmiObject, validateSmiObjectWithLookup } from './validate.ts';

const metadata = { name: 'web', namespace: 'shop' };
const split = (version: string, spec: unknown) => ({
  apiVersion: `split.smi-spec.io/${version}`,
  kind: 'TrafficSplit',
  metadata,
  spec,
});
const target = (spec: unknown) => ({
  apiVersion: 'access.smi-spec.io/v1alpha3',
  kind: 'TrafficTarget',
  metadata,
  spec,
});
const group = (version: string, matches: unknown) =>
  version === 'v1alpha1' || version === 'v1alpha2'
    ? { apiVersion: `specs.smi-spec.io/${version}`, kind: 'HTTPRouteGroup', metadata, matches }
    : { apiVersion: `specs.smi-spec.io/${version}`, kind: 'HTTPRouteGroup', metadata, spec: { matches } };
const sa = (name: string, namespace?: string) => ({
  kind: 'ServiceAccount',
  name,
  ...(namespace ? { namespace } : {}),
});

function denials(o: unknown) {
  return validateSmiObject(o).denials.map((d) => [d.code, d.field]);
}

describe('denials name the field, in the version the client wrote', () => {
  test.each([
    [
      'negative integer weight',
      split('v1alpha2', { service: 'web', backends: [{ service: 'a', weight: -1 }] }),
      [['NegativeWeight', 'spec.backends[0].weight']],
    ],
    [
      'negative Quantity weight',
      split('v1alpha1', { service: 'web', backends: [{ service: 'a', weight: '-500m' }] }),
      [['NegativeWeight', 'spec.backends[0].weight']],
    ],
    [
      'negative numeric v1alpha1 weight',
      split('v1alpha1', { service: 'web', backends: [{ service: 'a', weight: -3 }] }),
      [['NegativeWeight', 'spec.backends[0].weight']],
    ],
    [
      'not a Quantity',
      split('v1alpha1', { service: 'web', backends: [{ service: 'a', weight: '1x' }] }),
      [['InvalidWeight', 'spec.backends[0].weight']],
    ],
    [
      'ratio that cannot be kept',
      split('v1alpha1', {
        service: 'web',
        backends: [
          { service: 'a', weight: '1E' },
          { service: 'b', weight: 1 },
        ],
      }),
      [['InvalidWeight', 'spec.backends[0].weight']],
    ],
    ['no backends', split('v1alpha4', { service: 'web', backends: [] }), [['NoBackends', 'spec.backends']]],
    [
      'root as its only backend',
      split('v1alpha3', { service: 'web', backends: [{ service: 'web', weight: 1 }] }),
      [['SelfOnlyBackend', 'spec.backends[0].service']],
    ],
    [
      'duplicate backends',
      split('v1alpha2', {
        service: 'web',
        backends: [
          { service: 'a', weight: 1 },
          { service: 'a', weight: 2 },
        ],
      }),
      [['DuplicateBackend', 'spec.backends[1].service']],
    ],
    [
      'missing service',
      split('v1alpha4', { backends: [{ service: 'a', weight: 1 }] }),
      [['FieldRequired', 'spec.service']],
    ],
    [
      'match of another kind',
      split('v1alpha4', {
        service: 'web',
        backends: [{ service: 'a', weight: 1 }],
        matches: [{ kind: 'TCPRoute', name: 't' }],
      }),
      [['UnsupportedMatchKind', 'spec.matches[0].kind']],
    ],
    [
      'no sources',
      target({ destination: sa('web'), rules: [{ kind: 'TCPRoute', name: 't' }] }),
      [['NoSources', 'spec.sources']],
    ],
    ['no rules', target({ destination: sa('web'), sources: [sa('c')] }), [['NoRules', 'spec.rules']]],
    [
      'rule kind',
      target({ destination: sa('web'), sources: [sa('c')], rules: [{ kind: 'Service', name: 't' }] }),
      [['UnsupportedRuleKind', 'spec.rules[0].kind']],
    ],
    [
      'destination elsewhere',
      target({
        destination: sa('web', 'other'),
        sources: [sa('c')],
        rules: [{ kind: 'TCPRoute', name: 't' }],
      }),
      [['DestinationInOtherNamespace', 'spec.destination.namespace']],
    ],
    [
      'unknown method',
      group('v1alpha4', [{ name: 'm', methods: ['GET', 'FETCH'] }]),
      [['UnknownHttpMethod', 'spec.matches[0].methods[1]']],
    ],
    [
      'unknown method, v1alpha1 path',
      group('v1alpha1', [{ name: 'm', methods: ['FETCH'] }]),
      [['UnknownHttpMethod', 'matches[0].methods[0]']],
    ],
    [
      'regex that does not compile',
      group('v1alpha3', [{ pathRegex: '/api/(v1' }]),
      [['UnsafeRegex', 'spec.matches[0].pathRegex']],
    ],
    [
      'backreference',
      group('v1alpha4', [{ pathRegex: '/(a)\\1' }]),
      [['UnsafeRegex', 'spec.matches[0].pathRegex']],
    ],
    [
      'lookahead in a header (map)',
      group('v1alpha4', [{ headers: { 'x-user': '(?=admin).*' } }]),
      [['UnsafeRegex', 'spec.matches[0].headers.x-user']],
    ],
    [
      'lookahead in a header (list)',
      group('v1alpha2', [{ headers: [{ 'x-user': '(?!x)' }] }]),
      [['UnsafeRegex', 'matches[0].headers[0].x-user']],
    ],
    [
      'two keys in a list entry',
      group('v1alpha4', [{ headers: [{ a: 'x', b: 'y' }] }]),
      [['InvalidHeaders', 'spec.matches[0].headers']],
    ],
    [
      'bad header name',
      group('v1alpha4', [{ headers: { 'bad name': 'x' } }]),
      [['InvalidHeaderName', 'spec.matches[0].headers.bad name']],
    ],
    [
      'duplicate match names',
      group('v1alpha4', [{ name: 'a' }, { name: 'a' }]),
      [['DuplicateMatchName', 'spec.matches[1].name']],
    ],
    [
      'port 0',
      {
        apiVersion: 'specs.smi-spec.io/v1alpha4',
        kind: 'TCPRoute',
        metadata,
        spec: { matches: { ports: [80, 0] } },
      },
      [['PortOutOfRange', 'spec.matches.ports[1]']],
    ],
    [
      'port 70000',
      {
        apiVersion: 'specs.smi-spec.io/v1alpha4',
        kind: 'UDPRoute',
        metadata,
        spec: { matches: { ports: [70000] } },
      },
      [['PortOutOfRange', 'spec.matches.ports[0]']],
    ],
    [
      'v1alpha1 string port',
      {
        apiVersion: 'access.smi-spec.io/v1alpha1',
        kind: 'TrafficTarget',
        metadata,
        destination: { ...sa('web'), port: '99999' },
        sources: [sa('c')],
        specs: [{ kind: 'TCPRoute', name: 't' }],
      },
      [['PortOutOfRange', 'destination.port']],
    ],
    [
      'v1alpha1 TrafficTarget paths',
      {
        apiVersion: 'access.smi-spec.io/v1alpha1',
        kind: 'TrafficTarget',
        metadata,
        destination: sa('web'),
        sources: [sa('c')],
        specs: [{ kind: 'Foo', name: 't' }],
      },
      [['UnsupportedRuleKind', 'specs[0].kind']],
    ],
    [
      'v1alpha2 port range',
      {
        apiVersion: 'access.smi-spec.io/v1alpha2',
        kind: 'TrafficTarget',
        metadata,
        spec: {
          destination: { ...sa('web'), port: 0 },
          sources: [sa('c')],
          rules: [{ kind: 'TCPRoute', name: 't' }],
        },
      },
      [['PortOutOfRange', 'spec.destination.port']],
    ],
  ])('%s', (_name, object, expected) => {
    expect(denials(object)).toEqual(expected);
  });

  test('the message names the object and the field', () => {
    const v = validateSmiObject(
      split('v1alpha2', {
        service: 'web',
        backends: [
          { service: 'a', weight: 1 },
          { service: 'a', weight: 2 },
        ],
      }),
    );
    expect(formatFinding(v.object, v.denials[0]!)).toBe(
      'TrafficSplit shop/web: spec.backends[1].service: "a" is already backend spec.backends[0]',
    );
  });

  test('objects that are not SMI objects', () => {
    expect(denials(null)).toEqual([['NotAnObject', '']]);
    expect(denials({ apiVersion: 'v1', kind: 'Pod' })).toEqual([['NotAnSmiKind', 'kind']]);
  });
});

describe('legal shapes real clients send are admitted', () => {
  test.each([
    [
      'Argo Rollouts v1alpha1, root as a backend, Quantity weights',
      split('v1alpha1', {
        service: 'web',
        backends: [
          { service: 'web', weight: 1 },
          { service: 'web-canary', weight: '500m' },
        ],
      }),
    ],
    [
      'string integer weight',
      split('v1alpha1', {
        service: 'web',
        backends: [
          { service: 'a', weight: '10' },
          { service: 'b', weight: 90 },
        ],
      }),
    ],
    [
      'Flagger v1alpha2',
      split('v1alpha2', {
        service: 'web',
        backends: [
          { service: 'web-canary', weight: 0 },
          { service: 'web-primary', weight: 100 },
        ],
      }),
    ],
    [
      'Flagger headers',
      group('v1alpha3', [
        { name: 'canary', headers: [{ 'x-canary': 'insider' }, { 'user-agent': '.*Firefox.*' }] },
      ]),
    ],
    [
      'header map',
      group('v1alpha4', [
        {
          name: 'canary',
          pathRegex: '/api/v[0-9]{1,3}/.*',
          methods: ['GET', '*'],
          headers: { 'x-canary': 'true' },
        },
      ]),
    ],
    [
      'TrafficTarget',
      target({
        destination: sa('web', 'shop'),
        sources: [sa('c', 'other')],
        rules: [{ kind: 'HTTPRouteGroup', name: 'r', matches: ['m'] }],
      }),
    ],
  ])('%s', (_name, object) => {
    expect(validateSmiObject(object).denials).toEqual([]);
  });
});

describe('warnings for legal but suspicious input', () => {
  test('all weights zero', () => {
    const v = validateSmiObject(
      split('v1alpha4', {
        service: 'web',
        backends: [
          { service: 'a', weight: 0 },
          { service: 'b', weight: 0 },
        ],
      }),
    );
    expect(v.denials).toEqual([]);
    expect(v.warnings.map((w) => [w.code, w.field])).toEqual([['AllWeightsZero', 'spec.backends']]);
  });

  test('missing references and match names, through a lookup', async () => {
    const existing: Record<string, LookupAnswer> = {
      'Service/web': { found: true },
      'Service/a': { found: true },
      'HTTPRouteGroup/routes': { found: true, matchNames: ['get'] },
      'ServiceAccount/web': { found: true },
    };
    const lookup: ReferenceLookup = {
      lookup: async (r) => existing[`${r.kind}/${r.name}`] ?? { found: false },
    };
    const s = await validateSmiObjectWithLookup(
      split('v1alpha4', {
        service: 'web',
        backends: [
          { service: 'a', weight: 1 },
          { service: 'b', weight: 1 },
        ],
        matches: [{ kind: 'HTTPRouteGroup', name: 'nope' }],
      }),
      lookup,
    );
    expect(s.warnings.map((w) => [w.code, w.field])).toEqual([
      ['ReferenceNotFound', 'spec.backends[1].service'],
      ['ReferenceNotFound', 'spec.matches[0].name'],
    ]);
    const t = await validateSmiObjectWithLookup(
      {
        apiVersion: 'access.smi-spec.io/v1alpha1',
        kind: 'TrafficTarget',
        metadata,
        destination: sa('web'),
        sources: [sa('client')],
        specs: [{ kind: 'HTTPRouteGroup', name: 'routes', matches: ['get', 'post'] }],
      },
      lookup,
    );
    expect(t.warnings.map((w) => [w.code, w.field])).toEqual([
      ['ReferenceNotFound', 'sources[0].name'],
      ['MatchNotFound', 'specs[0].matches[1]'],
    ]);
  });

  test('a failing lookup gives no warning rather than an error', async () => {
    const v = await validateSmiObjectWithLookup(
      split('v1alpha4', { service: 'web', backends: [{ service: 'a', weight: 1 }] }),
      {
        lookup: async () => {
          throw new Error('apiserver down');
        },
      },
    );
    expect(v.warnings).toEqual([]);
  });
});

describe.each(SMI_KINDS)('%s properties', (kind) => {
  test.each([...SMI_KIND_INFO[kind].versions])('%s: generated valid objects pass the schema', (version) => {
    fc.assert(
      fc.property(smiObject(kind, version), (o) => {
        expect(
          validateSmiObject(o).denials.filter(
            (d) => d.code === 'SchemaViolation' || d.code === 'FieldRequired',
          ),
        ).toEqual([]);
      }),
      { numRuns: 100 },
    );
  });
});

// Random invalid objects: a valid object with one field broken is denied, naming that field.
test('random invalid TrafficSplits and routes are denied with the broken field named', () => {
  const brokenSplit = fc
    .tuple(
      fc.constantFrom('v1alpha2', 'v1alpha3', 'v1alpha4'),
      fc.integer({ min: -1000, max: -1 }),
      fc.nat(3),
    )
    .map(([v, w, i]) => {
      const backends = Array.from({ length: 4 }, (_, j) => ({ service: `b${j}`, weight: j === i ? w : 1 }));
      return { object: split(v, { service: 'web', backends }), field: `spec.backends[${i}].weight` };
    });
  const brokenRoute = fc
    .tuple(
      fc.constantFrom('(?=x)', '(a)\\1', '[[:alpha:]]', '(?i)abc', 'a{2000}', '(', '\\p{L}'),
      fc.nat(2),
      fc.constantFrom('v1alpha3', 'v1alpha4'),
    )
    .map(([regex, i, v]) => {
      const matches = Array.from({ length: 3 }, (_, j) => ({
        name: `m${j}`,
        pathRegex: j === i ? regex : '/ok',
      }));
      return { object: group(v, matches), field: `spec.matches[${i}].pathRegex` };
    });
  fc.assert(
    fc.property(fc.oneof(brokenSplit, brokenRoute), ({ object, field }) => {
      const v = validateSmiObject(object);
      expect(v.denials.map((d) => d.field)).toContain(field);
      for (const d of v.denials)
        expect(formatFinding(v.object, d)).toMatch(/^(TrafficSplit|HTTPRouteGroup) shop\/web: /);
    }),
  );
});

test('validation never throws, whatever it is given', () => {
  fc.assert(
    fc.property(fc.anything(), fc.constantFrom(...SMI_KINDS), (body, kind) => {
      const info = SMI_KIND_INFO[kind];
      validateSmiObject(body);
      const v = validateSmiObject({
        ...(typeof body === 'object' ? body : {}),
        apiVersion: `${info.group}/${info.versions[0]}`,
        kind,
      });
      expect(Array.isArray(v.denials)).toBe(true);
    }),
  );
});
