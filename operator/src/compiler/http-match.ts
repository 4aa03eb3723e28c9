// SMI HTTPRouteGroup matches -> proxy-config HTTP matches; invalid regexes are dropped with a diagnostic so a
// config is never pushed with a match the proxy would reject.

import { classifyRegex } from '../../../crds/proxy-config/regex-dialect.ts';
import type { HttpMatch } from '../../../crds/proxy-config/types.ts';
import type { HttpMatch as SmiHttpMatch } from '../../../crds/smi/index.ts';
import type { Diagnostic } from './diagnostics.ts';

const LOWER_HTTP_TOKEN = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

export function headerPairs(headers: SmiHttpMatch['headers']): [string, string][] {
  if (headers === undefined) return [];
  const maps = Array.isArray(headers) ? headers : [headers];
  const out: [string, string][] = [];
  for (const m of maps) for (const [k, v] of Object.entries(m)) out.push([k.toLowerCase(), v]);
  return out;
}

/** Converts one SMI match; returns null (and a diagnostic) when a regex is outside the dialect. */
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
  if (m.pathRegex !== undefined) {
    const c = classifyRegex(m.pathRegex);
    if (!c.ok) return bad(`pathRegex ${c.reason} (at offset ${c.position})`);
  }
  const headers = [];
  for (const [name, valueRegex] of headerPairs(m.headers)) {
    if (!LOWER_HTTP_TOKEN.test(name)) return bad(`header name "${name}" is not an HTTP token`);
    const c = classifyRegex(valueRegex);
    if (!c.ok) return bad(`header ${name} ${c.reason} (at offset ${c.position})`);
    headers.push({ name, valueRegex });
  }
  return {
    name: m.name ?? null,
    pathRegex: m.pathRegex ?? null,
    methods: [...(m.methods ?? [])],
    headers,
  };
}
