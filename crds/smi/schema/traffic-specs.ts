// Schemas of HTTPRouteGroup, TCPRoute (v1alpha1..v1alpha4) and UDPRoute (v1alpha4).
import type { SpecsVersion } from '../types/traffic-specs.ts';
import {
  arr,
  mapOrListOfMaps,
  obj,
  port,
  rootSchema,
  type Schema,
  type SchemaTarget,
  str,
} from './openapi.ts';

function httpMatch(version: SpecsVersion, target: SchemaTarget): Schema {
  const fields: Record<string, Schema> = {
    name: str('Name of the match, referenced by TrafficTarget rules.', { maxLength: 253 }),
    methods: arr(str('An HTTP method, or * for all.', { minLength: 1 }), 'Methods; absent means all.', {
      maxItems: 16,
    }),
    pathRegex: str('Regex anchored at the start of the path (Weft regex dialect); absent means all paths.', {
      maxLength: 1024,
    }),
  };
  if (version !== 'v1alpha1') {
    fields.headers = mapOrListOfMaps(
      target,
      'Header name -> value regex, all required: a map, or a list of maps (usually one key each).',
    );
  }
  return obj(fields, 'One HTTP route; matches are ORed.');
}

/** Schema of one HTTPRouteGroup version. */
export function httpRouteGroupSchema(version: SpecsVersion, target: SchemaTarget): Schema {
  const description =
    'Named HTTP routes (path, methods, headers) referenced by TrafficTargets and TrafficSplits.';
  const matches = arr(httpMatch(version, target), 'Routes.', { maxItems: 256 });
  if (version === 'v1alpha1' || version === 'v1alpha2') return rootSchema({ matches }, description);
  return rootSchema({ spec: obj({ matches }, 'Routes.') }, description);
}

const portMatches = obj(
  {
    name: str('Name of the match.', { maxLength: 253 }),
    ports: arr(port('A port.'), 'Ports; absent or empty means every port.', { maxItems: 256 }),
  },
  'Ports the route covers.',
);

/** Schema of one TCPRoute version. */
export function tcpRouteSchema(version: SpecsVersion): Schema {
  const description = 'TCP traffic, optionally restricted to ports, referenced by TrafficTargets.';
  if (version === 'v1alpha1' || version === 'v1alpha2') return rootSchema({}, description);
  if (version === 'v1alpha3') return rootSchema({ spec: obj({}, 'Empty in v1alpha3.') }, description);
  return rootSchema({ spec: obj({ matches: portMatches }, 'Ports.') }, description);
}

/** Schema of UDPRoute v1alpha4. */
export function udpRouteSchema(): Schema {
  return rootSchema(
    { spec: obj({ matches: portMatches }, 'Ports.') },
    'UDP traffic, optionally restricted to ports, referenced by TrafficTargets.',
  );
}
