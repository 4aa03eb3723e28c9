// Lossless conversion between every served version of every SMI kind.
export { CONVERSION_PREFIX, ORIGINAL_FIELDS_ANNOTATION, STORAGE_FIELDS_ANNOTATION } from './annotations.ts';
export { type ConversionResult, convertSmiObject, servedApiVersions, splitApiVersion } from './convert.ts';
export { normaliseQuantityWeights, parseQuantity } from './quantity.ts';
