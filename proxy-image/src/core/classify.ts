// Response classification with Linkerd's semantics, which dashboards and Flagger's success-rate queries
// assume: a response is a failure when it is a 5xx, when it is gRPC with a grpc-status other than OK (0),
// or when the request got no complete response at all (connection error, reset, timeout).

export type ResponseClass = 'success' | 'failure';

/**
 * Classifies a finished exchange. `status` is the HTTP status (0 when no response head arrived),
 * `grpcStatus` the grpc-status from the trailers or a trailers-only head (-1 when absent), `errored` true
 * when the exchange ended in an error or reset (even after a 200 head).
 */
export function classifyResponse(status: number, grpcStatus: number, errored: boolean): ResponseClass {
  if (errored || status === 0) return 'failure';
  if (status >= 500) return 'failure';
  if (grpcStatus > 0) return 'failure';
  return 'success';
}

/**
 * Parses a grpc-status value ("0".."16"; any non-negative decimal up to 9999 is accepted since the set of
 * codes may grow). Returns -1 when absent or malformed. Several values (an array) are malformed.
 */
export function parseGrpcStatus(value: string | readonly string[] | undefined): number {
  if (typeof value !== 'string') return -1;
  const n = value.length;
  if (n === 0 || n > 4) return -1;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/**
 * The grpc-status of a response: from the trailers when they carry one, else from the head (the
 * "trailers-only" form gRPC uses for immediate errors). -1 when neither has it.
 */
export function grpcStatusOf(
  headGrpcStatus: string | readonly string[] | undefined,
  trailerGrpcStatus: string | readonly string[] | undefined,
): number {
  const t = parseGrpcStatus(trailerGrpcStatus);
  return t >= 0 ? t : parseGrpcStatus(headGrpcStatus);
}

/** Whether a content-type names gRPC ("application/grpc", "application/grpc+proto", ...). */
export function isGrpcContentType(contentType: string | undefined): boolean {
  if (contentType === undefined || contentType.length < 16) return false;
  if (contentType.slice(0, 16).toLowerCase() !== 'application/grpc') return false;
  const next = contentType.charCodeAt(16);
  return Number.isNaN(next) || next === 0x2b /* + */ || next === 0x3b /* ; */;
}
