// Resolution of SMI objects against the cluster: which references hold, which are dropped and why. Shared by
// the config compiler (what to program) and the status analysis (what to tell the user).

import { MAX_ROUTE_NAME_LENGTH, MAX_ROUTES_PER_SERVICE } from '../../../crds/proxy-config/schema.ts';
import type { HttpMatch } from '../../../crds/proxy-config/types.ts';
import type { TrafficSplit, TrafficTarget } from '../../../crds/smi/index.ts';
import type { ServiceRecord } from '../model/cluster.ts';
import type { Diagnostic } from './diagnostics.ts';
import { convertMatch } from './http-match.ts';
import { meshPorts } from './ports.ts';
import type { Reads } from './reads.ts';

export interface ResolvedSplit {
  root: ServiceRecord | undefined;
  /** Backends that exist and serve every port of the root, in spec order, unique by service. */
  backends: { service: ServiceRecord; weight: number }[];
  /** Routes from spec.matches: one per HTTPRouteGroup match. */
  routes: { name: string; matches: HttpMatch[] }[];
  /** Whether spec.matches named at least one route group (even if none resolved). */
  hasMatches: boolean;
  diagnostics: Diagnostic[];
}

export function resolveSplit(ts: TrafficSplit, reads: Reads): ResolvedSplit {
  const ns = ts.metadata.namespace ?? '';
  const name = ts.metadata.name ?? '';
  const diagnostics: Diagnostic[] = [];
  const diag = (reason: Diagnostic['reason'], message: string) =>
    diagnostics.push({ kind: 'TrafficSplit', namespace: ns, name, reason, message });
  const root = reads.service(`${ns}/${ts.spec.service}`);
  if (root === undefined)
    diag('RootServiceNotFound', `spec.service: Service ${ns}/${ts.spec.service} not found`);
  const backends: ResolvedSplit['backends'] = [];
  const seen = new Set<string>();
  ts.spec.backends.forEach((b, i) => {
    if (seen.has(b.service)) {
      diag(
        'BackendNotFound',
        `spec.backends[${i}].service: ${b.service} is listed twice; later entry ignored`,
      );
      return;
    }
    seen.add(b.service);
    const svc = reads.service(`${ns}/${b.service}`);
    if (svc === undefined) {
      diag(
        'BackendNotFound',
        `spec.backends[${i}].service: Service ${ns}/${b.service} not found; backend dropped`,
      );
      return;
    }
    if (svc.externalName) {
      diag(
        'BackendNotFound',
        `spec.backends[${i}].service: Service ${ns}/${b.service} is ExternalName; backend dropped`,
      );
      return;
    }
    if (root !== undefined) {
      const have = new Set(meshPorts(svc).map((p) => p.port));
      const missing = meshPorts(root)
        .filter((rp) => !have.has(rp.port))
        .map((p) => p.port);
      if (missing.length > 0) {
        diag(
          'BackendPortMismatch',
          `spec.backends[${i}].service: Service ${ns}/${b.service} lacks port(s) ${missing.join(', ')} of the root; backend dropped`,
        );
        return;
      }
    }
    backends.push({ service: svc, weight: b.weight });
  });
  const routes: ResolvedSplit['routes'] = [];
  const refs = ts.spec.matches ?? [];
  const listed = new Set<string>();
  const routeNames = new Set<string>();
  refs.forEach((ref, i) => {
    // The same group twice adds nothing (its routes already match first) and would repeat route names.
    const group = `${ref.kind}/${ref.name}`;
    if (listed.has(group)) return;
    listed.add(group);
    if (ref.kind !== 'HTTPRouteGroup') {
      diag(
        'UnsupportedRouteKind',
        `spec.matches[${i}].kind: ${ref.kind} is not supported; only HTTPRouteGroup`,
      );
      return;
    }
    const hrg = reads.httpRouteGroup(`${ns}/${ref.name}`);
    if (hrg === undefined) {
      diag('RouteGroupNotFound', `spec.matches[${i}]: HTTPRouteGroup ${ns}/${ref.name} not found`);
      return;
    }
    (hrg.spec?.matches ?? []).forEach((m, mi) => {
      const where = { kind: 'HTTPRouteGroup', namespace: ns, name: ref.name, field: `spec.matches[${mi}]` };
      const converted = convertMatch(m, where, diagnostics);
      if (converted === null) return;
      // Route names are unique within the service: a match named "1" and the unnamed match at index 1 would both
      // be <group>/1 (and two matches may share a name), so a repeated one gets its index too.
      const base = `${ref.name}/${m.name ?? String(mi)}`;
      let routeName = base;
      for (let n = 1; routeNames.has(routeName); n++) routeName = `${base}#${mi}${n === 1 ? '' : `.${n}`}`;
      if (routeName.length > MAX_ROUTE_NAME_LENGTH) {
        diagnostics.push({
          ...where,
          reason: 'InvalidMatch',
          message: `${where.field}: route name ${routeName.slice(0, 64)}... is longer than ${MAX_ROUTE_NAME_LENGTH} characters; match ignored`,
        });
        return;
      }
      routeNames.add(routeName);
      routes.push({ name: routeName, matches: [converted] });
    });
  });
  // Past the contract's limit the Service would be left out of every config: the first routes in order are
  // programmed, and the split says which were not (requests matching only those go to the root service).
  if (routes.length > MAX_ROUTES_PER_SERVICE) {
    diag(
      'TooManyRoutes',
      `spec.matches: ${routes.length} route matches; proxies take the first ${MAX_ROUTES_PER_SERVICE} in order, from ${routes[MAX_ROUTES_PER_SERVICE]!.name} on requests go to the root service`,
    );
    routes.length = MAX_ROUTES_PER_SERVICE;
  }
  return { root, backends, routes, hasMatches: refs.length > 0, diagnostics };
}

export type ResolvedRule =
  | { kind: 'http'; matches: HttpMatch[] }
  | { kind: 'tcp'; ports: number[] | null }
  | { kind: 'udp'; ports: number[] | null };

export interface ResolvedTarget {
  sources: { namespace: string; name: string }[];
  rules: ResolvedRule[];
  diagnostics: Diagnostic[];
}

export function resolveTarget(tt: TrafficTarget, reads: Reads): ResolvedTarget {
  const ns = tt.metadata.namespace ?? '';
  const name = tt.metadata.name ?? '';
  const diagnostics: Diagnostic[] = [];
  const diag = (reason: Diagnostic['reason'], message: string) =>
    diagnostics.push({ kind: 'TrafficTarget', namespace: ns, name, reason, message });
  // A ServiceAccount that does not exist (yet) is legal, and programmed; status says so, since a typo here
  // silently grants nothing (or grants a name someone may create later).
  const saExists = (field: string, namespace: string, saName: string) => {
    if (reads.serviceAccount(`${namespace}/${saName}`) === undefined)
      diag('ServiceAccountNotFound', `${field}: ServiceAccount ${namespace}/${saName} not found`);
  };
  const dest = tt.spec.destination;
  if (dest?.kind === 'ServiceAccount') saExists('spec.destination', dest.namespace ?? ns, dest.name);
  const sources: ResolvedTarget['sources'] = [];
  (tt.spec.sources ?? []).forEach((s, i) => {
    if (s.kind !== 'ServiceAccount') {
      diag('UnsupportedSubject', `spec.sources[${i}].kind: ${s.kind} is not supported; only ServiceAccount`);
      return;
    }
    saExists(`spec.sources[${i}]`, s.namespace ?? ns, s.name);
    sources.push({ namespace: s.namespace ?? ns, name: s.name });
  });
  const rules: ResolvedRule[] = [];
  (tt.spec.rules ?? []).forEach((r, i) => {
    const field = `spec.rules[${i}]`;
    if (r.kind === 'HTTPRouteGroup') {
      const hrg = reads.httpRouteGroup(`${ns}/${r.name}`);
      if (hrg === undefined) {
        diag('RuleReferencesNothing', `${field}: HTTPRouteGroup ${ns}/${r.name} not found`);
        return;
      }
      const all = hrg.spec?.matches ?? [];
      for (const missing of (r.matches ?? []).filter((n) => !all.some((m) => m.name === n))) {
        diag('RuleReferencesNothing', `${field}.matches: ${r.name} has no match named "${missing}"`);
      }
      const matches: HttpMatch[] = [];
      all.forEach((m, mi) => {
        // The rule takes the group's matches it names, or all of them.
        if (r.matches !== undefined && !r.matches.includes(m.name ?? '')) return;
        const c = convertMatch(
          m,
          { kind: 'HTTPRouteGroup', namespace: ns, name: r.name, field: `spec.matches[${mi}]` },
          diagnostics,
        );
        if (c !== null) matches.push(c);
      });
      if (matches.length > 0) rules.push({ kind: 'http', matches });
      return;
    }
    if (r.kind === 'TCPRoute' || r.kind === 'UDPRoute') {
      const route =
        r.kind === 'TCPRoute' ? reads.tcpRoute(`${ns}/${r.name}`) : reads.udpRoute(`${ns}/${r.name}`);
      if (route === undefined) {
        diag('RuleReferencesNothing', `${field}: ${r.kind} ${ns}/${r.name} not found`);
        return;
      }
      const ports = route.spec?.matches?.ports ?? [];
      // Programmed (the proxy config carries it), but no proxy sees UDP: proxy-init redirects TCP only, so UDP
      // reaches the destination pods as if there were no mesh. Said in status rather than left to be assumed.
      if (r.kind === 'UDPRoute')
        diag(
          'UDPNotEnforced',
          `${field}: UDPRoute ${ns}/${r.name}: Weft proxies do not intercept UDP (proxy-init redirects TCP ` +
            'only), so UDP to the destination pods is neither restricted nor granted by this TrafficTarget; ' +
            'restrict UDP with a NetworkPolicy',
        );
      rules.push({
        kind: r.kind === 'TCPRoute' ? 'tcp' : 'udp',
        ports: ports.length === 0 ? null : [...ports],
      });
      return;
    }
    diag('RuleReferencesNothing', `${field}.kind: ${r.kind} is not a route kind`);
  });
  return { sources, rules, diagnostics };
}
