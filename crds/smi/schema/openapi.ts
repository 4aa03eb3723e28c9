// Building blocks of the SMI schemas. One source serves two targets: the CRDs' structural OpenAPI v3 schemas
// (`crd`) and the JSON Schemas ajv compiles for the validating webhook (`ajv`). They differ only where a
// structural schema cannot say something (a field that may be a map or a list): the CRD keeps such a field
// as preserve-unknown-fields and the webhook checks its shape.

export type SchemaTarget = 'crd' | 'ajv';
export type Schema = Record<string, unknown>;

export const str = (description: string, extra: Schema = {}): Schema => ({
  type: 'string',
  description,
  ...extra,
});
export const int = (description: string, extra: Schema = {}): Schema => ({
  type: 'integer',
  description,
  ...extra,
});
export const arr = (items: Schema, description: string, extra: Schema = {}): Schema => ({
  type: 'array',
  description,
  items,
  ...extra,
});
export const obj = (
  properties: Record<string, Schema>,
  description: string,
  required: string[] = [],
): Schema => ({
  type: 'object',
  description,
  properties,
  ...(required.length > 0 ? { required } : {}),
});
export const stringMap = (description: string): Schema => ({
  type: 'object',
  description,
  additionalProperties: { type: 'string' },
});

/** Largest integer weight; keeps weights exact in JSON numbers and in the proxy's arithmetic. */
export const MAX_WEIGHT = 2_147_483_647;
export const port = (description: string): Schema => int(description, { minimum: 1, maximum: 65535 });

/** A DNS-1123 label, as used for Service and route names. */
export const DNS_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

/**
 * Kubernetes Quantity without a sign (weights cannot be negative): decimal, with an SI or binary suffix or a
 * decimal exponent. The same grammar resource.ParseQuantity accepts.
 */
export const QUANTITY_PATTERN =
  '^\\+?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';

/** Integer or string: x-kubernetes-int-or-string for the CRD, its meaning for ajv. */
export function intOrString(target: SchemaTarget, description: string, stringPattern: string): Schema {
  if (target === 'crd') {
    // Structural schemas allow exactly this anyOf under int-or-string; value checks sit beside it and apply
    // to the matching type only (minimum to integers, pattern to strings).
    return {
      'x-kubernetes-int-or-string': true,
      description,
      anyOf: [{ type: 'integer' }, { type: 'string' }],
      minimum: 0,
      pattern: stringPattern,
    };
  }
  return {
    description,
    anyOf: [
      { type: 'integer', minimum: 0 },
      { type: 'string', pattern: stringPattern },
    ],
  };
}

/**
 * A value that is either a map or a list of non-empty maps (every key of every entry applies); structural
 * schemas cannot say that, so the CRD preserves it and the webhook checks it.
 */
export function mapOrListOfMaps(target: SchemaTarget, description: string): Schema {
  if (target === 'crd') return { 'x-kubernetes-preserve-unknown-fields': true, description };
  return {
    description,
    anyOf: [
      { type: 'object', additionalProperties: { type: 'string' } },
      {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: { type: 'string' },
          minProperties: 1,
        },
      },
    ],
  };
}

/** metav1.Condition. */
export const conditionSchema: Schema = obj(
  {
    type: str('Condition type in CamelCase: Accepted, ResolvedRefs or Ready.', { maxLength: 316 }),
    status: str('True, False or Unknown.', { enum: ['True', 'False', 'Unknown'] }),
    observedGeneration: int('metadata.generation the condition was computed from.', {
      format: 'int64',
      minimum: 0,
    }),
    lastTransitionTime: str('When status last changed.', { format: 'date-time' }),
    reason: str('Machine-readable reason in CamelCase.', { maxLength: 1024, minLength: 1 }),
    message: str('Human-readable detail.', { maxLength: 32768 }),
  },
  'A metav1.Condition.',
  ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
);

/** The status every SMI kind carries in Weft; written only by the operator through the status subresource. */
export const statusSchema: Schema = obj(
  {
    observedGeneration: int('metadata.generation of the spec the operator last processed.', {
      format: 'int64',
      minimum: 0,
    }),
    conditions: arr(conditionSchema, 'Accepted, ResolvedRefs and Ready (see docs/status-contract.md).', {
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
      maxItems: 8,
    }),
  },
  'Written by the Weft operator.',
);

/** Root schema of a kind's version: apiVersion, kind, metadata and status, plus the version's own fields. */
export function rootSchema(
  fields: Record<string, Schema>,
  description: string,
  required: string[] = [],
): Schema {
  return obj(
    {
      apiVersion: str('APIVersion of this representation.'),
      kind: str('Kind of this object.'),
      metadata: { type: 'object' },
      ...fields,
      status: statusSchema,
    },
    description,
    required,
  );
}
