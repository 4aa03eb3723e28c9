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

const DOT_SEGMENT = /(?:^|\/)\.\.?(?:\/|$)|%2e/i;

/**
 * RFC 3986 dot-segment removal (section 5.2.4), with "%2e" read as "." first, as a server that normalizes
 * does it: "/public/../admin" and "/public/%2e%2e/admin" are "/admin". Authorization must judge the path the
 * application will serve, so the proxy matches and forwards this form (Envoy's normalize_path does the
 * same). Other escapes (%2F among them) are left as they are. Allocates only when there is a dot segment or
 * an escaped dot.
 */
export function normalizePath(path: string): string {
  if (path.charCodeAt(0) !== 0x2f /* / */) return path;
  if (path.indexOf('.') === -1 && path.indexOf('%') === -1) return path;
  if (!DOT_SEGMENT.test(path)) return path;
  const segments = path.replace(/%2e/gi, '.').split('/');
  const out: string[] = [];
  const last = segments.length - 1;
  for (let i = 1; i <= last; i++) {
    const seg = segments[i]!;
    if (seg === '.' || seg === '..') {
      if (seg === '..') out.pop();
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
