// What this pod has seen and done since start or the last reset; served at /counters so tests
// can tell where the mesh sent traffic and what came back.

export const UNKNOWN_CALLER = 'unknown';

export interface OutboundTally {
  success: number;
  failure: number;
}

export interface CountersSnapshot {
  readonly received: {
    readonly total: number;
    readonly byCaller: Record<string, number>;
    readonly byPath: Record<string, number>;
  };
  readonly outbound: {
    readonly success: number;
    readonly failure: number;
    readonly byTarget: Record<string, OutboundTally>;
  };
  /** stream: streaming calls of every kind (server, client and bidirectional streaming). */
  readonly grpc: { readonly unary: number; readonly stream: number };
  readonly tcp: { readonly echoConnections: number; readonly bannerConnections: number };
}

function increment(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

export class Counters {
  #receivedTotal = 0;
  #byCaller = new Map<string, number>();
  #byPath = new Map<string, number>();
  #byTarget = new Map<string, OutboundTally>();
  #grpcUnary = 0;
  #grpcStream = 0;
  #echoConnections = 0;
  #bannerConnections = 0;

  recordReceived(caller: string | undefined, path: string): void {
    this.#receivedTotal += 1;
    increment(this.#byCaller, caller === undefined || caller === '' ? UNKNOWN_CALLER : caller);
    increment(this.#byPath, path);
  }

  recordOutbound(target: string, succeeded: boolean): void {
    let tally = this.#byTarget.get(target);
    if (tally === undefined) {
      tally = { success: 0, failure: 0 };
      this.#byTarget.set(target, tally);
    }
    if (succeeded) tally.success += 1;
    else tally.failure += 1;
  }

  recordGrpcUnary(): void {
    this.#grpcUnary += 1;
  }

  recordGrpcStream(): void {
    this.#grpcStream += 1;
  }

  recordEchoConnection(): void {
    this.#echoConnections += 1;
  }

  recordBannerConnection(): void {
    this.#bannerConnections += 1;
  }

  reset(): void {
    this.#receivedTotal = 0;
    this.#byCaller.clear();
    this.#byPath.clear();
    this.#byTarget.clear();
    this.#grpcUnary = 0;
    this.#grpcStream = 0;
    this.#echoConnections = 0;
    this.#bannerConnections = 0;
  }

  snapshot(): CountersSnapshot {
    let success = 0;
    let failure = 0;
    const byTarget: [string, OutboundTally][] = [];
    for (const [target, tally] of this.#byTarget) {
      success += tally.success;
      failure += tally.failure;
      byTarget.push([target, { ...tally }]);
    }
    return {
      received: {
        total: this.#receivedTotal,
        byCaller: Object.fromEntries(this.#byCaller),
        byPath: Object.fromEntries(this.#byPath),
      },
      outbound: { success, failure, byTarget: Object.fromEntries(byTarget) },
      grpc: { unary: this.#grpcUnary, stream: this.#grpcStream },
      tcp: { echoConnections: this.#echoConnections, bannerConnections: this.#bannerConnections },
    };
  }
}
