// SMI HTTPRouteGroup matches -> proxy-config HTTP matches; invalid regexes are dropped with a diagnostic so a
// config is never pushed with a match the proxy would reject.

import { classifyRegex } from '../../../crds/proxy-config/regex-dialect.ts';
import {
  HTTP_TOKEN as HTTP_TOKEN_PATTERN,
  HTTP_MATCH_LIMITS as LIMIT,
  LOWER_HTTP_TOKEN as LOWER_HTTP_TOKEN_PATTERN,
} from '../../../crds/proxy-config/schema.ts';
import type { HttpMatch } from '../../../crds/proxy-config/types.ts';
import type { HttpMatch as SmiHttpMatch } from '../../../crds/smi/index.ts';
import type { Diagnostic } from './diagnostics.ts';

const LOWER_HTTP_TOKEN = new RegExp(LOWER_HTTP_TOKEN_PATTERN);
const HTTP_TOKEN = new RegExp(HTTP_TOKEN_PATTERN);

export function headerPairs(headers: SmiHttpMatch['headers']): [string, string][] {
  if (headers === undefined) return [];
  const maps = Array.isArray(headers) ? headers : [headers];
  const out: [string, string][] = [];
  for (const m of maps) for (const [k, v] of Object.entries(m)) out.push([k.toLowerCase(), v]);
  return out;
}

/**
 * Converts one SMI match; returns null (and a diagnostic) when it cannot be programmed: a regex outside the
 * dialect, or beyond a limit of the proxy config contract (a config holding it would be refused as a whole).
 * Repeated methods are programmed once.
 */
export function convertMatch(
  m: SmiHttpMatch,
  where: { kind: string; namespace: string; name: string; field: string },
  diagnostics: Diagnostic[],
): HttpMatch | null {
  const bad = (message: string) => {
    diagnostics.push({
      ...where,
      reason: 'InvalidMatch',
      message: `${where.field}: ${message}; match ignored`,
    });
    return null;
  };
  const over = (what: string, limit: number) => bad(`${what} is longer than ${limit} characters`);
  if (m.name !== undefined && m.name.length > LIMIT.nameLength) return over('name', LIMIT.nameLength);
  if (m.pathRegex !== undefined) {
    if (m.pathRegex.length > LIMIT.pathRegexLength) return over('pathRegex', LIMIT.pathRegexLength);
    const c = classifyRegex(m.pathRegex);
    if (!c.ok) return bad(`pathRegex ${c.reason} (at offset ${c.position})`);
  }
  const methods = [...new Set(m.methods ?? [])];
  if (methods.length > LIMIT.methods) return bad(`more than ${LIMIT.methods} methods`);
  for (const method of methods) {
    if (!HTTP_TOKEN.test(method) || method.length > LIMIT.methodLength)
      return bad(
        `method "${method.slice(0, 64)}" is not an HTTP token of at most ${LIMIT.methodLength} characters`,
      );
  }
  const pairs = headerPairs(m.headers);
  if (pairs.length > LIMIT.headers) return bad(`more than ${LIMIT.headers} headers`);
  const headers = [];
  for (const [name, valueRegex] of pairs) {
    if (name.length > LIMIT.headerNameLength)
      return over(`header name "${name.slice(0, 64)}..."`, LIMIT.headerNameLength);
    if (!LOWER_HTTP_TOKEN.test(name)) return bad(`header name "${name}" is not an HTTP token`);
    if (valueRegex.length > LIMIT.valueRegexLength) return over(`header ${name}`, LIMIT.valueRegexLength);
    const c = classifyRegex(valueRegex);
    if (!c.ok) return bad(`header ${name} ${c.reason} (at offset ${c.position})`);
    headers.push({ name, valueRegex });
  }
  return {
    name: m.name ?? null,
    pathRegex: m.pathRegex ?? null,
    methods,
    headers,
  };
}
