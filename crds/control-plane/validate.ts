// Validation of control-plane documents with ajv; one function per document, each returning JSON Pointer errors.
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { proxyConfigSchema } from '../proxy-config/schema.ts';
import {
  certificateRequestSchema,
  certificateResponseSchema,
  errorResponseSchema,
  streamMessageSchema,
} from './schema.ts';
import type { CertificateRequest, CertificateResponse, ErrorResponse, StreamMessage } from './types.ts';

export interface ContractError {
  path: string;
  message: string;
}

const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true, discriminator: true });
addFormats.default(ajv, ['date-time', 'ipv4', 'ipv6']);
ajv.addSchema(proxyConfigSchema);

function validator<T>(schema: object) {
  const fn = ajv.compile(schema);
  return (doc: unknown): { ok: true; value: T } | { ok: false; errors: ContractError[] } => {
    if (fn(doc)) return { ok: true, value: doc as T };
    return {
      ok: false,
      errors: (fn.errors ?? []).slice(0, 20).map((e) => ({
        path:
          e.keyword === 'required' ? `${e.instancePath}/${String(e.params.missingProperty)}` : e.instancePath,
        message: e.keyword === 'required' ? 'is required' : (e.message ?? 'is invalid'),
      })),
    };
  };
}

export const validateCertificateRequest = validator<CertificateRequest>(certificateRequestSchema);
export const validateCertificateResponse = validator<CertificateResponse>(certificateResponseSchema);
export const validateErrorResponse = validator<ErrorResponse>(errorResponseSchema);
/** Schema check of a stream line; a config message's proxy config still needs validateProxyConfig. */
export const validateStreamMessage = validator<StreamMessage>(streamMessageSchema);
