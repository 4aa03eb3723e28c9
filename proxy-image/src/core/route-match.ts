// HTTPRouteGroup matches compiled for the hot path: path regex, methods and headers. Every condition
// present must hold; omitted conditions match everything (schema: httpMatch).

import type { HttpMatch } from '../../../crds/proxy-config/types.ts';
import { type HttpRequestView, pathOnly } from './http-request.ts';
import { compilePrefixRegex, type PrefixMatcher } from './regex.ts';

/** One compiled httpMatch. */
export class CompiledHttpMatch {
  readonly name: string | null;
  private readonly path: PrefixMatcher | null;
  /** null = any method. */
  private readonly methods: ReadonlySet<string> | null;
  private readonly headerNames: readonly string[];
  private readonly headerValues: readonly PrefixMatcher[];

  constructor(m: HttpMatch) {
    this.name = m.name ?? null;
    this.path = m.pathRegex == null ? null : compilePrefixRegex(m.pathRegex);
    const methods = m.methods ?? [];
    this.methods = methods.length === 0 || methods.includes('*') ? null : new Set(methods);
    const headers = m.headers ?? [];
    this.headerNames = headers.map((h) => h.name.toLowerCase());
    this.headerValues = headers.map((h) => compilePrefixRegex(h.valueRegex));
  }

  /** Whether the request satisfies every condition of this match. */
  matches(req: HttpRequestView): boolean {
    if (this.methods !== null && !this.methods.has(req.method)) return false;
    for (let i = 0; i < this.headerNames.length; i++) {
      const v = req.header(this.headerNames[i]!);
      if (v === undefined) return false;
      const re = this.headerValues[i]!;
      // A repeated field is matched as one value, its values joined with ", ": what Node apps read in
      // req.headers and what an HTTP/2 view holds, so HTTP/1 and HTTP/2 get the same answer. Before, any one value
      // matching was enough: "x-tenant: acme" next to "x-tenant: evil" satisfied "acme$".
      if (!re.test(typeof v === 'string' ? v : v.join(', '))) return false;
    }
    if (this.path !== null && !this.path.test(pathOnly(req.path))) return false;
    return true;
  }
}

/** A list of matches, ORed. An empty list matches nothing. */
export class CompiledHttpMatches {
  private readonly list: readonly CompiledHttpMatch[];

  constructor(matches: readonly HttpMatch[]) {
    this.list = matches.map((m) => new CompiledHttpMatch(m));
  }

  /** The first match the request satisfies, or null. */
  find(req: HttpRequestView): CompiledHttpMatch | null {
    for (let i = 0; i < this.list.length; i++) if (this.list[i]!.matches(req)) return this.list[i]!;
    return null;
  }

  matches(req: HttpRequestView): boolean {
    return this.find(req) !== null;
  }
}
