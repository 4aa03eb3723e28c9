// What the data path reports, kept behind an interface so the metrics registry (src/metrics, policy side)
// and the data path evolve separately. Label values come from bounded sets (config names, identities in
// the config), never from raw request data.

export type Direction = 'inbound' | 'outbound';

export interface TrafficLabels {
  readonly direction: Direction;
  /** Logical service authority (name.ns.svc...:port) or "passthrough"/"app". */
  readonly authority: string;
  readonly tls: boolean;
  /** Inbound: the client's SPIFFE ID; outbound: the server's expected one. */
  readonly peerId: string | null;
  /** Destination service (outbound to a known service), for dst_* labels. */
  readonly dst?: { readonly namespace?: string; readonly service?: string } | undefined;
}

export interface DataPathObserver {
  request(l: TrafficLabels): void;
  response(
    l: TrafficLabels,
    status: number,
    grpcStatus: number | null,
    latencyMs: number,
    proxyReason: string | null,
    /** The exchange failed after the response head (reset, truncated body, timeout): a failure whatever the status. */
    errored: boolean,
  ): void;
  /**
   * The client went away before its exchange completed (an HTTP/1 connection closed mid-exchange, an HTTP/2
   * stream reset by the client). Not the server's failure, so not a failed response: `status` is the response
   * status already relayed to the client, or 0 when none was.
   */
  cancelled(l: TrafficLabels, status: number, grpcStatus: number | null, latencyMs: number): void;
  tcpOpen(l: TrafficLabels): void;
  tcpClose(l: TrafficLabels, bytesRead: number, bytesWritten: number): void;
  /** A failed attempt that was retried ("retried"), or that the policy would retry but the budget refused. */
  retry(l: TrafficLabels, result: 'retried' | 'budget-exhausted'): void;
  protocolError(direction: Direction, code: string): void;
  connectionRefused(direction: Direction, reason: string): void;
}
