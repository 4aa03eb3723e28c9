// JSON Schemas (draft 2020-12) of the control-plane contract's JSON documents. Config messages embed a proxy
// config by reference to its own schema ($id in crds/proxy-config).
import { PROXY_CONFIG_SCHEMA_ID } from '../proxy-config/types.ts';
import { ERROR_REASONS } from './types.ts';

const BASE = 'https://weft.dev/schemas/control-plane/v1alpha1';
const dnsLabel = {
  type: 'string',
  minLength: 1,
  maxLength: 253,
  pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$',
};
const pem = (label: string) => ({ type: 'string', pattern: `-----BEGIN ${label}-----`, maxLength: 65536 });

function patchList(itemRef: string) {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['upsert', 'remove'],
    properties: {
      upsert: { type: 'array', items: { $ref: itemRef } },
      remove: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['namespace', 'name'],
          properties: { namespace: { type: 'string' }, name: { type: 'string' } },
        },
      },
    },
  } as const;
}

export const certificateRequestSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: `${BASE}/certificate-request.json`,
  type: 'object',
  additionalProperties: false,
  required: ['csr', 'pod'],
  properties: {
    csr: { ...pem('CERTIFICATE REQUEST'), description: 'PKCS#10, PEM, ECDSA P-256, ecdsa-with-SHA256.' },
    pod: {
      type: 'object',
      additionalProperties: false,
      required: ['namespace', 'name'],
      properties: { namespace: dnsLabel, name: dnsLabel },
    },
  },
} as const;

export const certificateResponseSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: `${BASE}/certificate-response.json`,
  type: 'object',
  additionalProperties: false,
  required: ['spiffeId', 'certificateChain', 'trustAnchors', 'notBefore', 'notAfter', 'renewAfter'],
  properties: {
    spiffeId: { type: 'string', pattern: '^spiffe://[^/]+/ns/[^/]+/sa/[^/]+$' },
    certificateChain: pem('CERTIFICATE'),
    trustAnchors: { type: 'array', minItems: 1, items: pem('CERTIFICATE') },
    notBefore: { type: 'string', format: 'date-time' },
    notAfter: { type: 'string', format: 'date-time' },
    renewAfter: { type: 'string', format: 'date-time' },
  },
} as const;

export const errorResponseSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: `${BASE}/error.json`,
  type: 'object',
  additionalProperties: false,
  required: ['reason', 'message', 'field'],
  properties: {
    reason: { enum: [...ERROR_REASONS] },
    message: { type: 'string' },
    field: { type: ['string', 'null'] },
  },
} as const;

export const streamMessageSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: `${BASE}/stream-message.json`,
  oneOf: [
    {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'version', 'config'],
      properties: {
        type: { const: 'config' },
        version: { type: 'string', minLength: 1 },
        config: { $ref: PROXY_CONFIG_SCHEMA_ID },
      },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'version', 'base', 'config', 'outbound'],
      properties: {
        type: { const: 'patch' },
        version: { type: 'string', minLength: 1 },
        base: { type: 'string', minLength: 1 },
        // Checked as part of the whole document after applying (applyConfigPatch + validateProxyConfig).
        config: { type: 'object' },
        outbound: {
          type: 'object',
          additionalProperties: false,
          required: ['services', 'backends'],
          properties: {
            services: patchList(`${PROXY_CONFIG_SCHEMA_ID}#/$defs/outboundService`),
            backends: patchList(`${PROXY_CONFIG_SCHEMA_ID}#/$defs/backend`),
          },
        },
      },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['type'],
      properties: { type: { const: 'ping' } },
    },
  ],
} as const;
