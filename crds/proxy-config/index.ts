// The proxy config contract: JSON Schema, TypeScript types, validation and the route regex dialect.

export {
  classifyRegex,
  MAX_REGEX_PROGRAM_SIZE,
  MAX_REGEX_REPEAT,
  MAX_REGEX_SOURCE_LENGTH,
  type RegexClassification,
  type RegexTranslation,
  translateRegex,
} from './regex-dialect.ts';
export { proxyConfigSchema } from './schema.ts';
export * from './types.ts';
export {
  type ProxyConfigError,
  type ProxyConfigValidation,
  parseSpiffeId,
  validateProxyConfig,
} from './validate.ts';
