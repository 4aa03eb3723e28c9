// fast-check arbitraries for valid objects of every SMI kind and version (schema-valid: what the apiserver
// would store). Test support only.
import fc from 'fast-check';
import { SMI_KIND_INFO, type SmiKind } from './kinds.ts';

type Json = Record<string, unknown>;

const dnsLabel = fc.stringMatching(/^[a-z]([-a-z0-9]{0,10}[a-z0-9])?$/);
const text = fc.string({ maxLength: 12 });
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });

/** Drops undefined values so generated objects look like parsed JSON. */
function clean(o: Json): Json {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

const annotationKey = fc
  .stringMatching(/^[a-z]{1,8}(\.[a-z]{1,6})?\/[a-z]{1,8}$/)
  .filter((k) => !k.startsWith('conversion.weft.dev'));
const metadata = fc
  .record({
    name: dnsLabel,
    namespace: dnsLabel,
    generation: opt(fc.integer({ min: 1, max: 1000 })),
    labels: opt(fc.dictionary(dnsLabel, dnsLabel, { minKeys: 1, maxKeys: 3 })),
    annotations: opt(fc.dictionary(annotationKey, text, { minKeys: 1, maxKeys: 3 })),
  })
  .map(clean);

const condition = fc.record({
  type: fc.constantFrom('Accepted', 'ResolvedRefs', 'Ready'),
  status: fc.constantFrom('True', 'False', 'Unknown'),
  observedGeneration: fc.integer({ min: 0, max: 1000 }),
  lastTransitionTime: fc.constant('2026-01-02T03:04:05Z'),
  reason: fc.constantFrom('Accepted', 'ConflictingSplit', 'Programmed', 'DestinationNotMeshed'),
  message: text,
});
const status = opt(
  fc
    .record({
      observedGeneration: opt(fc.integer({ min: 0, max: 1000 })),
      conditions: opt(fc.uniqueArray(condition, { selector: (c) => c.type, maxLength: 3 })),
    })
    .map(clean),
);

const quantity: fc.Arbitrary<number | string> = fc.oneof(
  fc.integer({ min: 0, max: 1000 }),
  fc.integer({ min: 0, max: 1000 }).map(String),
  fc
    .tuple(fc.integer({ min: 0, max: 999 }), fc.constantFrom('m', 'k', 'Ki', 'u', 'e2', 'E0'))
    .map(([n, s]) => `${n}${s}`),
  fc.tuple(fc.integer({ min: 0, max: 99 }), fc.stringMatching(/^[0-9]{0,3}$/)).map(([a, b]) => `${a}.${b}`),
  fc.stringMatching(/^\.[0-9]{1,2}$/),
);
const intWeight = fc.oneof(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 2_147_483_647 }));

function trafficSplit(version: string): fc.Arbitrary<Json> {
  const backend =
    version === 'v1alpha1'
      ? fc.record({ service: dnsLabel, weight: opt(quantity) }).map(clean)
      : fc.record({ service: dnsLabel, weight: intWeight });
  const match = fc
    .record({
      kind: fc.constant('HTTPRouteGroup'),
      name: dnsLabel,
      apiGroup: opt(fc.constant('specs.smi-spec.io')),
    })
    .map(clean);
  const spec = fc
    .record({
      service: dnsLabel,
      backends: fc.array(backend, { maxLength: 4 }),
      matches:
        version === 'v1alpha3' || version === 'v1alpha4'
          ? opt(fc.array(match, { maxLength: 3 }))
          : fc.constant(undefined),
    })
    .map(clean);
  return fc.record({ metadata, spec, status }).map((o) => clean({ ...o, kind: 'TrafficSplit' }));
}

function trafficTarget(version: string): fc.Arbitrary<Json> {
  const port =
    version === 'v1alpha1'
      ? opt(fc.oneof(fc.integer({ min: 1, max: 65535 }).map(String), fc.constantFrom('08080', 'http', '')))
      : version === 'v1alpha2'
        ? opt(fc.integer({ min: 1, max: 65535 }))
        : fc.constant(undefined);
  const subject = fc
    .record({ kind: fc.constant('ServiceAccount'), name: dnsLabel, namespace: opt(dnsLabel), port })
    .map(clean);
  const rule = fc
    .record({
      kind: fc.constantFrom('HTTPRouteGroup', 'TCPRoute', 'UDPRoute'),
      name: dnsLabel,
      matches: opt(fc.array(dnsLabel, { maxLength: 3 })),
    })
    .map(clean);
  const fields = fc.record({
    destination: subject,
    sources: opt(fc.array(subject, { maxLength: 3 })),
    rules: opt(fc.array(rule, { maxLength: 3 })),
  });
  return fc.record({ metadata, status, fields }).map(({ fields: f, ...o }) => {
    if (version === 'v1alpha1') {
      return clean({
        ...o,
        kind: 'TrafficTarget',
        destination: f.destination,
        sources: f.sources,
        specs: f.rules,
      });
    }
    return clean({ ...o, kind: 'TrafficTarget', spec: clean(f) });
  });
}

function httpRouteGroup(version: string): fc.Arbitrary<Json> {
  const headers = fc.oneof(
    fc.dictionary(dnsLabel, text, { maxKeys: 2 }),
    fc.array(fc.dictionary(dnsLabel, text, { minKeys: 1, maxKeys: 1 }), { maxLength: 2 }),
  );
  const match = fc
    .record({
      name: opt(dnsLabel),
      methods: opt(fc.array(fc.constantFrom('GET', 'POST', '*'), { maxLength: 2 })),
      pathRegex: opt(fc.constantFrom('/api', '/v[0-9]+/.*', '')),
      headers: version === 'v1alpha1' ? fc.constant(undefined) : opt(headers),
    })
    .map(clean);
  const matches = opt(fc.array(match, { maxLength: 3 }));
  return fc
    .record({ metadata, status, matches, withSpec: fc.boolean() })
    .map(({ matches: m, withSpec, ...o }) => {
      if (version === 'v1alpha1' || version === 'v1alpha2')
        return clean({ ...o, kind: 'HTTPRouteGroup', matches: m });
      return clean({
        ...o,
        kind: 'HTTPRouteGroup',
        spec: m === undefined && !withSpec ? undefined : clean({ matches: m }),
      });
    });
}

function l4Route(kind: 'TCPRoute' | 'UDPRoute', version: string): fc.Arbitrary<Json> {
  const matches = opt(
    fc
      .record({
        name: opt(dnsLabel),
        ports: opt(fc.array(fc.integer({ min: 1, max: 65535 }), { maxLength: 3 })),
      })
      .map(clean),
  );
  return fc
    .record({ metadata, status, matches, withSpec: fc.boolean() })
    .map(({ matches: m, withSpec, ...o }) => {
      if (version === 'v1alpha1' || version === 'v1alpha2') return clean({ ...o, kind });
      if (version === 'v1alpha3') return clean({ ...o, kind, spec: withSpec ? {} : undefined });
      return clean({ ...o, kind, spec: m === undefined && !withSpec ? undefined : clean({ matches: m }) });
    });
}

/** A valid object of `kind` in `version`, with apiVersion set. */
export function smiObject(kind: SmiKind, version: string): fc.Arbitrary<Json> {
  const info = SMI_KIND_INFO[kind];
  const body =
    kind === 'TrafficSplit'
      ? trafficSplit(version)
      : kind === 'TrafficTarget'
        ? trafficTarget(version)
        : kind === 'HTTPRouteGroup'
          ? httpRouteGroup(version)
          : l4Route(kind, version);
  return body.map((o) => ({ apiVersion: `${info.group}/${version}`, ...o }));
}
