// Types of schema-validator.generated.js (ajv standalone code; see generate-validator.ts).
import type { ErrorObject } from 'ajv';

export interface GeneratedValidator {
  /** Validates and fills in schema defaults in place; errors of the last call are on `errors`. */
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
}

export declare const validate: GeneratedValidator;
export default validate;
