// Folds the outcomes of many outbound calls into the summary that split and fault tests read:
// how many answers came from which pod, with which status, and how fast.

export interface CallError {
  readonly message: string;
  readonly code: string;
}

// One finished outbound call. status 0 means no HTTP response arrived (see error).
export interface CallOutcome {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  readonly bodyTruncated: boolean;
  readonly durationMs: number;
  readonly error?: CallError;
}

export interface LatencySummary {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export interface CallSummary {
  readonly calls: number;
  readonly statuses: Record<string, number>;
  readonly errors: Record<string, number>;
  readonly byPod: Record<string, number>;
  readonly durationMs: number;
  readonly latencyMs: LatencySummary;
}

export function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

// Nearest-rank percentile: always one of the observed values, never an interpolation.
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1] ?? 0;
}

export function summarizeLatencies(durations: readonly number[]): LatencySummary {
  const sorted = [...durations].sort((a, b) => a - b);
  return {
    p50: roundMs(percentile(sorted, 50)),
    p99: roundMs(percentile(sorted, 99)),
    max: roundMs(sorted.at(-1) ?? 0),
  };
}

// Test apps put their pod name in the JSON body and in x-weft-pod; the header still works
// when the body was cut short or is not JSON.
export function identifyPod(outcome: Pick<CallOutcome, 'status' | 'headers' | 'body'>): string | undefined {
  if (outcome.status === 0) return undefined;
  try {
    const parsed: unknown = JSON.parse(outcome.body);
    if (typeof parsed === 'object' && parsed !== null && 'pod' in parsed) {
      const pod = (parsed as { pod: unknown }).pod;
      if (typeof pod === 'string' && pod !== '') return pod;
    }
  } catch {
    // Not JSON: fall through to the header.
  }
  const header = outcome.headers['x-weft-pod'];
  const pod = Array.isArray(header) ? header[0] : header;
  return pod === undefined || pod === '' ? undefined : pod;
}

function increment(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

export function summarizeCalls(outcomes: readonly CallOutcome[], durationMs: number): CallSummary {
  const statuses = new Map<string, number>();
  const errors = new Map<string, number>();
  const byPod = new Map<string, number>();
  for (const outcome of outcomes) {
    if (outcome.status === 0) {
      increment(errors, outcome.error?.code ?? 'UNKNOWN');
      continue;
    }
    increment(statuses, String(outcome.status));
    const pod = identifyPod(outcome);
    if (pod !== undefined) increment(byPod, pod);
  }
  return {
    calls: outcomes.length,
    statuses: Object.fromEntries(statuses),
    errors: Object.fromEntries(errors),
    byPod: Object.fromEntries(byPod),
    durationMs: roundMs(durationMs),
    // Failed calls count too: a timeout is latency the caller lived through.
    latencyMs: summarizeLatencies(outcomes.map((o) => o.durationMs)),
  };
}

// Runs `count` calls with at most `concurrency` in flight; outcomes keep call order.
export async function runWithConcurrency<T>(
  count: number,
  concurrency: number,
  run: (index: number) => Promise<T>,
): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next;
      next += 1;
      results[index] = await run(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}
