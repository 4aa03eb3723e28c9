// Endpoint choice: power of two choices over a peak-EWMA latency estimate (as Finagle and Linkerd do).
// Each endpoint's cost is its latency estimate times (requests in flight + 1), divided by its weight; two
// endpoints are drawn at random and the cheaper one wins. Endpoints whose circuit is open are skipped.

import { CircuitBreaker, type CircuitBreakerPolicy } from './circuit-breaker.ts';
import type { RandomSource } from './random.ts';

export interface PeakEwmaSettings {
  /** Time constant of the moving average, ms. */
  decayMs: number;
  /** Estimate of an endpoint before its first response, ms. */
  defaultRttMs: number;
}

/** Outcome of one dispatched request, reported through observe(). */
export type EndpointOutcome = 'success' | 'failure' | 'connect-failure' | 'cancelled';

/** A connect failure is charged as a response this many times slower than defaultRttMs. */
const CONNECT_FAILURE_PENALTY = 10;

/** Below this estimate (ms) an endpoint with requests in flight is charged defaultRttMs instead. */
const IDLE_ESTIMATE_MS = 0.001;

/**
 * Mutable state of one endpoint (address, port, expected identity, protocol): latency estimate, requests
 * in flight, circuit. Shared by every backend that lists the endpoint and kept across config versions.
 */
export class EndpointState {
  readonly kind = 'endpoint' as const;
  readonly address: string;
  readonly port: number;
  /** SPIFFE ID the peer must present (mTLS), or null for an unmeshed endpoint (plaintext). */
  readonly identity: string | null;
  /** Protocol hint of the service port ("detect", "http1", "http2", "grpc", "opaque", "udp"). */
  readonly protocol: string;
  readonly zone: string | null;
  /** Relative capacity (>= 1); updated when a new config changes it. */
  weight: number;
  inFlight = 0;
  /** Peak-EWMA latency estimate in ms as of lastMs. */
  private estimateMs: number;
  private lastMs: number;
  /** Whether estimateMs is still the default RTT (no response observed yet). */
  private prior = true;
  readonly circuit: CircuitBreaker;

  constructor(
    ep: { address: string; port: number; identity: string | null; zone: string | null; weight: number },
    protocol: string,
    circuitPolicy: CircuitBreakerPolicy,
    settings: PeakEwmaSettings,
    nowMs: number,
  ) {
    this.address = ep.address;
    this.port = ep.port;
    this.identity = ep.identity;
    this.protocol = protocol;
    this.zone = ep.zone;
    this.weight = ep.weight;
    this.circuit = new CircuitBreaker(circuitPolicy);
    // New endpoints start at the default RTT: optimistic (cheaper than a slow peer), but not free, so
    // they are not flooded before their first response.
    this.estimateMs = settings.defaultRttMs;
    this.lastMs = nowMs;
  }

  /** The latency estimate as of nowMs: decays toward 0 while no response arrives. */
  estimate(nowMs: number, decayMs: number): number {
    const elapsed = nowMs - this.lastMs;
    return elapsed > 0 ? this.estimateMs * Math.exp(-elapsed / decayMs) : this.estimateMs;
  }

  /** Load used by the balancer: estimate * (inFlight + 1) / weight. */
  cost(nowMs: number, settings: PeakEwmaSettings): number {
    let rtt = this.estimate(nowMs, settings.decayMs);
    // An idle endpoint's estimate decays to nothing, which would make in-flight requests free.
    if (this.inFlight > 0 && rtt < IDLE_ESTIMATE_MS) rtt = settings.defaultRttMs;
    return (rtt * (this.inFlight + 1)) / this.weight;
  }

  /**
   * Folds one response latency into the estimate: peaks are taken at once, drops decay in. The first
   * response replaces the default RTT outright: that was a guess, not a measurement, and decaying from it
   * would take the decay time (10 s by default) before a fast endpoint looked fast.
   */
  recordLatency(nowMs: number, latencyMs: number, decayMs: number): void {
    if (this.prior) {
      this.prior = false;
      this.estimateMs = latencyMs;
      if (nowMs > this.lastMs) this.lastMs = nowMs;
      return;
    }
    const elapsed = nowMs - this.lastMs;
    const current = elapsed > 0 ? this.estimateMs * Math.exp(-elapsed / decayMs) : this.estimateMs;
    if (latencyMs > current) {
      this.estimateMs = latencyMs;
    } else {
      const w = elapsed > 0 ? Math.exp(-elapsed / decayMs) : 1;
      // Weighted toward the new sample by the time that passed since the previous one.
      this.estimateMs = this.estimateMs * w + latencyMs * (1 - w);
    }
    if (nowMs > this.lastMs) this.lastMs = nowMs;
  }

  /** Accounts for a request being sent to this endpoint (picked by the balancer). */
  dispatched(nowMs: number): void {
    this.inFlight++;
    this.circuit.onDispatch(nowMs);
  }

  /** Accounts for the end of a dispatched request. Call exactly once per dispatched(). */
  observe(
    nowMs: number,
    latencyMs: number,
    outcome: EndpointOutcome,
    settings: PeakEwmaSettings,
    random: RandomSource,
  ): void {
    if (this.inFlight > 0) this.inFlight--;
    switch (outcome) {
      case 'success':
        this.recordLatency(nowMs, latencyMs, settings.decayMs);
        this.circuit.onSuccess();
        return;
      case 'failure':
        // A failing endpoint often answers fast; charging at least the default RTT keeps it from
        // attracting more traffic than healthy peers before its circuit opens.
        this.recordLatency(nowMs, Math.max(latencyMs, settings.defaultRttMs), settings.decayMs);
        this.circuit.onFailure(nowMs, random);
        return;
      case 'connect-failure':
        // Unreachable: no latency sample, but the endpoint must look clearly worse than busy live peers
        // (whose cost grows with their in-flight requests) until the penalty decays or the circuit opens.
        this.recordLatency(
          nowMs,
          Math.max(latencyMs, settings.defaultRttMs * CONNECT_FAILURE_PENALTY),
          settings.decayMs,
        );
        this.circuit.onFailure(nowMs, random);
        return;
      case 'cancelled':
        this.circuit.onAbandon();
        return;
    }
  }
}

/** Why no endpoint could be picked; the data path answers 503 with this reason. */
export interface NoEndpoint {
  readonly kind: 'no-endpoint';
  readonly reason: string;
}

export const NO_READY_ENDPOINTS: NoEndpoint = Object.freeze({
  kind: 'no-endpoint',
  reason: 'no ready endpoints',
});
export const ALL_CIRCUITS_OPEN: NoEndpoint = Object.freeze({
  kind: 'no-endpoint',
  reason: 'every endpoint is failing (circuit open)',
});

/**
 * Power of two choices over a fixed list of ready endpoints. Picking does not mark the endpoint as
 * dispatched: the caller does that when it sends (EndpointState.dispatched).
 */
export class P2cBalancer {
  readonly endpoints: readonly EndpointState[];
  private readonly settings: PeakEwmaSettings;

  constructor(endpoints: readonly EndpointState[], settings: PeakEwmaSettings) {
    this.endpoints = endpoints;
    this.settings = settings;
  }

  /**
   * The cheaper of two random endpoints whose circuit admits a request, or why there is none. `avoid`
   * (the endpoint a retry just failed on) is taken only when no other endpoint is admissible.
   */
  pick(nowMs: number, random: () => number, avoid: EndpointState | null = null): EndpointState | NoEndpoint {
    const eps = this.endpoints;
    const n = eps.length;
    if (n === 0) return NO_READY_ENDPOINTS;
    if (n === 1) return eps[0]!.circuit.canDispatch(nowMs) ? eps[0]! : ALL_CIRCUITS_OPEN;
    const i = Math.floor(random() * n) % n;
    let j = Math.floor(random() * (n - 1)) % (n - 1);
    if (j >= i) j++;
    const a = eps[i]!;
    const b = eps[j]!;
    const aOk = a !== avoid && a.circuit.canDispatch(nowMs);
    const bOk = b !== avoid && b.circuit.canDispatch(nowMs);
    if (aOk && bOk) return a.cost(nowMs, this.settings) <= b.cost(nowMs, this.settings) ? a : b;
    if (aOk) return a;
    if (bOk) return b;
    // Neither draw is usable: take the first admissible endpoint after i, the avoided one last.
    for (let k = 1; k < n; k++) {
      const e = eps[(i + k) % n]!;
      if (e !== avoid && e.circuit.canDispatch(nowMs)) return e;
    }
    if (avoid !== null && eps.includes(avoid) && avoid.circuit.canDispatch(nowMs)) return avoid;
    return ALL_CIRCUITS_OPEN;
  }
}
