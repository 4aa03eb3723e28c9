// Schemas of TrafficSplit v1alpha1..v1alpha4.
import type { TrafficSplitVersion } from '../types/traffic-split.ts';
import {
  arr,
  DNS_LABEL_PATTERN,
  int,
  intOrString,
  MAX_WEIGHT,
  obj,
  QUANTITY_PATTERN,
  rootSchema,
  type Schema,
  type SchemaTarget,
  str,
} from './openapi.ts';

const service = (what: string) => str(what, { minLength: 1, maxLength: 253 });

function backend(version: TrafficSplitVersion, target: SchemaTarget): Schema {
  if (version === 'v1alpha1') {
    return obj(
      {
        service: service('Name of a Service in the same namespace.'),
        weight: intOrString(
          target,
          'Relative weight, a Kubernetes Quantity (1, "10", "500m"); mixed units are compared by value.',
          QUANTITY_PATTERN,
        ),
      },
      'A weighted backend.',
      ['service'],
    );
  }
  return obj(
    {
      service: service('Name of a Service in the same namespace.'),
      weight: int('Relative weight; 0 means no requests.', { minimum: 0, maximum: MAX_WEIGHT }),
    },
    'A weighted backend.',
    ['service', 'weight'],
  );
}

const matchRef = obj(
  {
    apiGroup: str('specs.smi-spec.io (the default).'),
    kind: str('HTTPRouteGroup.', { minLength: 1 }),
    name: str('Name of the HTTPRouteGroup in the same namespace.', {
      minLength: 1,
      pattern: DNS_LABEL_PATTERN,
    }),
  },
  'A route group selecting the requests to split.',
  ['kind', 'name'],
);

/** Schema of one TrafficSplit version. */
export function trafficSplitSchema(version: TrafficSplitVersion, target: SchemaTarget): Schema {
  const fields: Record<string, Schema> = {
    service: service('Root (apex) service that clients call.'),
    backends: arr(backend(version, target), 'Services that receive the traffic, by weight.', {
      maxItems: 64,
    }),
  };
  if (version === 'v1alpha3' || version === 'v1alpha4') {
    fields.matches = arr(matchRef, 'Only requests matching one of these route groups are split.', {
      maxItems: 64,
    });
  }
  return rootSchema(
    { spec: obj(fields, 'Desired split.', ['service', 'backends']) },
    'Splits traffic sent to a root service between backends, by weight.',
    ['spec'],
  );
}
