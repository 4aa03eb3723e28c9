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

/**
 * How an exchange ended: complete; `errored`, cut after the response head by the upstream side (reset, truncated
 * or malformed body, route timeout), a failure whatever the status; or `cancelled` by the client (gone, a stream
 * it reset, not reading, a malformed body of its own), which is not the server's failure.
 */
export type ExchangeEnd = 'complete' | 'errored' | 'cancelled';

export interface DataPathObserver {
  request(l: TrafficLabels): void;
  /**
   * An ended exchange. `status` is the response status relayed to the client, or 0 when none was (with `end`
   * 'cancelled': the client went away before any response head).
   */
  response(
    l: TrafficLabels,
    status: number,
    grpcStatus: number | null,
    latencyMs: number,
    proxyReason: string | null,
    end: ExchangeEnd,
  ): void;
  tcpOpen(l: TrafficLabels): void;
  tcpClose(l: TrafficLabels, bytesRead: number, bytesWritten: number): void;
  /** A failed attempt that was retried ("retried"), or that the policy would retry but the budget refused. */
  retry(l: TrafficLabels, result: 'retried' | 'budget-exhausted'): void;
  protocolError(direction: Direction, code: string): void;
  connectionRefused(direction: Direction, reason: string): void;
}
