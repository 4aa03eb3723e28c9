// Schemas of TrafficTarget v1alpha1..v1alpha3.
import type { TrafficTargetVersion } from '../types/traffic-target.ts';
import { arr, obj, port, rootSchema, type Schema, str } from './openapi.ts';

function subject(version: TrafficTargetVersion): Schema {
  const fields: Record<string, Schema> = {
    kind: str('ServiceAccount.', { minLength: 1 }),
    name: str('Name of the ServiceAccount.', { minLength: 1, maxLength: 253 }),
    namespace: str('Namespace of the ServiceAccount (default: the TrafficTarget namespace).', {
      maxLength: 63,
    }),
  };
  if (version === 'v1alpha1') fields.port = str('Port, as a string (v1alpha1 only).');
  if (version === 'v1alpha2') fields.port = port('Port (v1alpha2 only).');
  return obj(fields, 'An identity.', ['kind', 'name']);
}

const rule = obj(
  {
    kind: str('HTTPRouteGroup, TCPRoute or UDPRoute.', { minLength: 1 }),
    name: str('Name of the route in the TrafficTarget namespace.', { minLength: 1, maxLength: 253 }),
    matches: arr(str('Name of a match of the route.'), 'Matches allowed; absent means every match.', {
      maxItems: 256,
    }),
  },
  'Traffic allowed.',
  ['kind', 'name'],
);

/** Schema of one TrafficTarget version. */
export function trafficTargetSchema(version: TrafficTargetVersion): Schema {
  const description =
    'Allows traffic from source identities to a destination identity, for the listed routes.';
  const sources = arr(subject(version), 'Identities allowed to send the traffic.', { maxItems: 256 });
  const rules = arr(rule, 'Routes the sources may use.', { maxItems: 256 });
  if (version === 'v1alpha1') {
    return rootSchema({ destination: subject(version), sources, specs: rules }, description, ['destination']);
  }
  return rootSchema(
    { spec: obj({ destination: subject(version), sources, rules }, 'Desired access.', ['destination']) },
    description,
    ['spec'],
  );
}
