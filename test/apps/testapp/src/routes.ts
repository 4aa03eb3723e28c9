// Maps a request target onto the test app's endpoints. Pure, so every odd path a proxy might
// forward can be tried in unit tests.

export const MAX_DELAY_MS = 60_000;

export type Route =
  | { readonly kind: 'echo' }
  | { readonly kind: 'status'; readonly code: number }
  | { readonly kind: 'delay'; readonly ms: number }
  | { readonly kind: 'call' }
  | { readonly kind: 'counters' }
  | { readonly kind: 'healthz' }
  | { readonly kind: 'readyz' }
  | { readonly kind: 'bad-segment'; readonly error: string; readonly segment: string }
  | { readonly kind: 'not-found' };

export interface RequestTarget {
  readonly path: string;
  readonly query: Record<string, string | string[]>;
}

// Splits the raw request-target by hand: `new URL('//x/echo', base)` would read `x` as a host.
export function parseRequestTarget(rawUrl: string): RequestTarget {
  let target = rawUrl;
  if (!target.startsWith('/')) {
    // Absolute form (`GET http://host/path`), as an explicit HTTP proxy would send it.
    try {
      const url = new URL(target);
      target = `${url.pathname}${url.search}`;
    } catch {
      target = `/${target}`;
    }
  }
  const hashAt = target.indexOf('#');
  if (hashAt >= 0) target = target.slice(0, hashAt);
  const queryAt = target.indexOf('?');
  const path = queryAt >= 0 ? target.slice(0, queryAt) : target;
  // A Map, not an object, so a parameter named __proto__ is just a parameter.
  const query = new Map<string, string | string[]>();
  if (queryAt >= 0) {
    for (const [key, value] of new URLSearchParams(target.slice(queryAt + 1))) {
      const previous = query.get(key);
      if (previous === undefined) query.set(key, value);
      else if (Array.isArray(previous)) previous.push(value);
      else query.set(key, [previous, value]);
    }
  }
  return { path, query: Object.fromEntries(query) };
}

function segmentsOf(path: string): string[] {
  return path.split('/').slice(1);
}

function parseInteger(segment: string): number | undefined {
  return /^\d{1,9}$/.test(segment) ? Number(segment) : undefined;
}

export function matchRoute(path: string): Route {
  const segments = segmentsOf(path);
  const [head, ...rest] = segments;
  switch (head) {
    case 'echo':
      return { kind: 'echo' };
    case 'status': {
      if (rest.length !== 1) return { kind: 'not-found' };
      const segment = rest[0] ?? '';
      const code = parseInteger(segment);
      if (code === undefined || code < 100 || code > 599) {
        return { kind: 'bad-segment', error: 'status code must be an integer from 100 to 599', segment };
      }
      // 101 only makes sense as the answer to an Upgrade request; clients treat it as a protocol switch.
      if (code === 101) {
        return { kind: 'bad-segment', error: 'status 101 needs an Upgrade handshake', segment };
      }
      return { kind: 'status', code };
    }
    case 'delay': {
      if (rest.length !== 1) return { kind: 'not-found' };
      const segment = rest[0] ?? '';
      const ms = parseInteger(segment);
      if (ms === undefined || ms > MAX_DELAY_MS) {
        return {
          kind: 'bad-segment',
          error: `delay must be an integer from 0 to ${MAX_DELAY_MS} ms`,
          segment,
        };
      }
      return { kind: 'delay', ms };
    }
    case 'call':
    case 'counters':
    case 'healthz':
    case 'readyz':
      return rest.length === 0 ? { kind: head } : { kind: 'not-found' };
    default:
      return { kind: 'not-found' };
  }
}

// Probes and the counters themselves would otherwise drown the traffic a test wants to count.
export function isCountedRoute(route: Route): boolean {
  return route.kind !== 'counters' && route.kind !== 'healthz' && route.kind !== 'readyz';
}

// A status that cannot end an exchange is sent as an interim response before a final 200.
export function isInterimStatus(code: number): boolean {
  return code >= 100 && code < 200;
}

// RFC 9110: these responses never carry content.
export function statusForbidsBody(code: number): boolean {
  return isInterimStatus(code) || code === 204 || code === 304;
}
