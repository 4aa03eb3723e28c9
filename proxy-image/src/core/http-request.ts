// The view of an HTTP request that routing and authorization need. The data path adapts its own request
// representation to this, without copying headers.

export interface HttpRequestView {
  /** Request method, case-sensitive token as received ("GET"). */
  readonly method: string;
  /**
   * Request path, normalized (requestPath): what routes and authorizations match, and what is forwarded.
   * A query string or fragment after "?" / "#" is not part of it.
   */
  readonly path: string;
  /**
   * Header value(s) by lowercase name, or undefined when absent (HTTP/2 views also answer pseudo-headers).
   * Several values may be returned as an array or already joined, as Node does; a header match reads them joined
   * with ", " either way.
   */
  header(name: string): string | readonly string[] | undefined;
}

/** The path without its query string and fragment; allocates only when there is one. */
export function pathOnly(target: string): string {
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c === 0x3f /* ? */ || c === 0x23 /* # */) return target.slice(0, i);
  }
  return target;
}

const DOT_SEGMENT = /(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i;
const ONLY_DOTS = /^(?:\.|%2e){1,2}$/i;

/**
 * RFC 3986 dot-segment removal (section 5.2.4) as a server that normalizes does it, so that authorization
 * judges the path the application will serve: "/public/../admin", "/public/%2e%2e/admin" and
 * "/public\..\admin" are all "/admin". A backslash counts as "/" (WHATWG URL parsers, Node's among them,
 * read it so; Envoy's normalize_path does the same), and "%2e" counts as "." inside a dot segment only: other
 * escapes, and "%2e" elsewhere ("/a%2eb"), are left as they are. Allocates only when something changes.
 */
export function normalizePath(path: string): string {
  if (path.charCodeAt(0) !== 0x2f /* / */) return path;
  const backslash = path.indexOf('\\') !== -1;
  if (!backslash) {
    if (path.indexOf('.') === -1 && path.indexOf('%') === -1) return path;
    if (!DOT_SEGMENT.test(path)) return path;
  }
  const segments = (backslash ? path.replaceAll('\\', '/') : path).split('/');
  const out: string[] = [];
  const last = segments.length - 1;
  for (let i = 1; i <= last; i++) {
    const seg = segments[i]!;
    if (seg.length > 0 && seg.length <= 6 && ONLY_DOTS.test(seg)) {
      // "." or ".." (some dots escaped): ".." removes the segment before it.
      if (seg.replace(/%2e/gi, '.') === '..') out.pop();
      // A path ending in a dot segment names a directory: it keeps its trailing "/".
      if (i === last) out.push('');
      continue;
    }
    out.push(seg);
  }
  return `/${out.join('/')}`;
}

/**
 * A request target in origin-form (originForm) with its path normalized (normalizePath) and its query or
 * fragment kept as it was.
 */
export function normalizeTarget(received: string): string {
  const target = originForm(received);
  const path = pathOnly(target);
  const normal = normalizePath(path);
  return normal === path ? target : normal + target.slice(path.length);
}

/** The path routes and authorizations match: normalized, of the origin-form, without query or fragment. */
export function requestPath(target: string): string {
  return normalizePath(pathOnly(originForm(target)));
}

const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i;

/**
 * A request-target in absolute-form ("http://host/path?q", which HTTP/1.1 servers must accept) as origin-form
 * ("/path?q"): inbound, authorization judges and the app receives the path the app would serve for it.
 * Origin-form, "*" and anything else are returned unchanged.
 */
export function originForm(target: string): string {
  if (target.charCodeAt(0) === 0x2f /* / */) return target;
  const m = ABSOLUTE_FORM.exec(target);
  if (m === null) return target;
  const rest = target.slice(m[0].length);
  return rest.charCodeAt(0) === 0x2f ? rest : `/${rest}`;
}

const ENCODED_SLASH = /%2f|%5c/gi;
const PATH_PARAMS = /;[^/]*/g;

/**
 * Why an inbound request-target cannot be authorized as the app will read it, or null. Application servers
 * read some paths in more than one way, and a rule judged on one reading would let the other through:
 * - a target that is neither origin-form ("/...") nor absolute-form ("http://..."), nor "*" for OPTIONS, nor an
 *   authority for CONNECT: "http:/public/../admin" is "/admin" to a WHATWG URL parser and matched raw here;
 * - a fragment ("#") in the path has no place in a request-target (RFC 9112 3.2); servers drop it or keep it
 *   (in the query it is left alone: authorization does not read the query);
 * - an escaped "/" or "\" ("%2F", "%5C") that some servers decode before removing dot segments
 *   ("/public/..%2Fadmin" is "/admin" to them) and others never decode: refused only where the two readings
 *   name different paths, so "/projects/group%2Fname" passes;
 * - path parameters on a dot segment ("/public/..;/admin", which Tomcat and Jetty read as ".."), refused on the
 *   same test: "/a;v=1/b" passes.
 */
export function ambiguousTarget(target: string, method: string): string | null {
  if (target.charCodeAt(0) !== 0x2f /* / */) {
    const form =
      'request-target is not a path ("/..."), an absolute URL, "*" (OPTIONS) or an authority (CONNECT)';
    if (target === '*') return method === 'OPTIONS' ? null : form;
    if (method === 'CONNECT') return null;
    if (!ABSOLUTE_FORM.test(target)) return form;
  }
  const query = target.indexOf('?');
  const hash = target.indexOf('#');
  if (hash !== -1 && (query === -1 || hash < query)) return 'request-target has a fragment ("#")';
  if (target.indexOf('%') === -1 && target.indexOf(';') === -1) return null;
  const path = pathOnly(originForm(target));
  const normal = normalizePath(path);
  const decoded = path.replace(ENCODED_SLASH, '/');
  if (decoded !== path && normalizePath(decoded) !== normal.replace(ENCODED_SLASH, '/'))
    return 'request-target escapes "/" or "\\" next to a dot segment ("%2F", "%5C")';
  const bare = path.replace(PATH_PARAMS, '');
  if (bare !== path && normalizePath(bare) !== normal.replace(PATH_PARAMS, ''))
    return 'request-target has path parameters on a dot segment (";")';
  return null;
}
