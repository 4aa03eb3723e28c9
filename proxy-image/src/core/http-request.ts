// The view of an HTTP request that routing and authorization need. The data path adapts its own request
// representation to this, without copying headers.

export interface HttpRequestView {
  /** Request method, case-sensitive token as received ("GET"). */
  readonly method: string;
  /** Request path; a query string or fragment after "?" / "#" is ignored by matching. */
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
