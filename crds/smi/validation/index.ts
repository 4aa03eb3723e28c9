// Validation of SMI objects: schema + semantic rules, precise findings, reference warnings.
export { describeObject, type Finding, formatFinding, type ObjectIdentity } from './findings.ts';
export {
  checkReferences,
  type LookupAnswer,
  type Reference,
  type ReferencedKind,
  type ReferenceLookup,
  referenceWarnings,
  routeMatchNames,
} from './references.ts';
export { checkSchema } from './schema-check.ts';
export { type SmiValidation, validateSmiObject, validateSmiObjectWithLookup } from './validate.ts';
