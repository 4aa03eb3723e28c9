// Semantic rules of HTTPRouteGroup, TCPRoute and UDPRoute, on the storage version.
import { classifyRegex } from '../../proxy-config/regex-dialect.ts';
import { HTTP_METHODS, type HTTPRouteGroupV1alpha4, type L4RouteSpec } from '../types/traffic-specs.ts';
import { at, type Finding } from './findings.ts';

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

function regexFinding(field: string, pattern: string, what: string): Finding | undefined {
  const c = classifyRegex(pattern);
  if (c.ok) return undefined;
  return {
    code: 'UnsafeRegex',
    field,
    message: `${what} ${JSON.stringify(pattern)} is refused at offset ${c.position}: ${c.reason} (route regexes must run in linear time)`,
  };
}

/** Header matches as [name, regex, field] whatever the shape the client used. */
function headerEntries(headers: unknown, field: string): [string, unknown, string][] {
  if (Array.isArray(headers)) {
    return headers.flatMap((h, i) =>
      h !== null && typeof h === 'object'
        ? Object.entries(h).map(([k, v]): [string, unknown, string] => [k, v, at(at(field, i), k)])
        : [],
    );
  }
  if (headers !== null && typeof headers === 'object') {
    return Object.entries(headers).map(([k, v]): [string, unknown, string] => [k, v, at(field, k)]);
  }
  return [];
}

export function httpRouteGroupRules(g: HTTPRouteGroupV1alpha4) {
  const denials: Finding[] = [];
  const warnings: Finding[] = [];
  const names = new Map<string, number>();
  for (const [i, m] of (g.spec?.matches ?? []).entries()) {
    const field = at('spec.matches', i);
    if (m.name !== undefined) {
      const first = names.get(m.name);
      if (first !== undefined) {
        denials.push({
          code: 'DuplicateMatchName',
          field: at(field, 'name'),
          message: `"${m.name}" is already the name of spec.matches[${first}]`,
        });
      } else names.set(m.name, i);
    }
    for (const [j, method] of (m.methods ?? []).entries()) {
      if (!(HTTP_METHODS as readonly string[]).includes(method)) {
        denials.push({
          code: 'UnknownHttpMethod',
          field: at(at(field, 'methods'), j),
          message: `"${method}" is not an HTTP method (${HTTP_METHODS.join(', ')})`,
        });
      }
    }
    if (m.pathRegex !== undefined) {
      const f = regexFinding(at(field, 'pathRegex'), m.pathRegex, 'path regex');
      if (f !== undefined) denials.push(f);
    }
    for (const [name, value, hfield] of headerEntries(m.headers, at(field, 'headers'))) {
      if (!HEADER_NAME.test(name)) {
        denials.push({
          code: 'InvalidHeaderName',
          field: hfield,
          message: `"${name}" is not a valid HTTP header name`,
        });
      }
      if (typeof value !== 'string') {
        denials.push({
          code: 'SchemaViolation',
          field: hfield,
          message: 'header value must be a regex string',
        });
        continue;
      }
      const f = regexFinding(hfield, value, 'header regex');
      if (f !== undefined) denials.push(f);
    }
  }
  return { denials, warnings };
}

export function l4RouteRules(spec: L4RouteSpec | undefined) {
  const denials: Finding[] = [];
  for (const [i, p] of (spec?.matches?.ports ?? []).entries()) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) {
      denials.push({
        code: 'PortOutOfRange',
        field: at('spec.matches.ports', i),
        message: `${p} is not a port (1..65535)`,
      });
    }
  }
  return { denials, warnings: [] as Finding[] };
}
