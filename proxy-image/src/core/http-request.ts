// The view of an HTTP request that routing and authorization need. The data path adapts its own request
// representation to this, without copying headers.

export interface HttpRequestView {
  /** Request method, case-sensitive token as received ("GET"). */
  readonly method: string;
  /**
   * Request path, normalized (normalizePath): what routes and authorizations match, and what is forwarded.
   * A query string or fragment after "?" / "#" is not part of it.
   */
  readonly path: string;
  /**
   * Header value(s) by lowercase name, or undefined when absent. Several values may be returned as an
   * array (any of them may satisfy a header match) or already joined, as Node does.
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

/** A request target with its path normalized (normalizePath) and its query or fragment kept as it was. */
export function normalizeTarget(target: string): string {
  const path = pathOnly(target);
  const normal = normalizePath(path);
  return normal === path ? target : normal + target.slice(path.length);
}
