// Decides what the Echo service does with a request, apart from any sockets.
import type { MetadataValue } from '@grpc/grpc-js';

export const MAX_STREAM_COUNT = 1000;
export const MAX_STREAM_INTERVAL_MS = 10_000;
// gRPC status codes run from OK (0) to UNAUTHENTICATED (16).
const MAX_GRPC_STATUS = 16;
const INVALID_ARGUMENT = 3;

export interface RequestedFailure {
  readonly code: number;
  readonly details: string;
}

// The failure a Unary call was asked to produce, or undefined to answer normally.
export function requestedFailure(statusCode: number): RequestedFailure | undefined {
  if (statusCode === 0) return undefined;
  if (!Number.isInteger(statusCode) || statusCode < 0 || statusCode > MAX_GRPC_STATUS) {
    return {
      code: INVALID_ARGUMENT,
      details: `status_code must be a gRPC status from 0 to ${MAX_GRPC_STATUS}, got ${statusCode}`,
    };
  }
  return { code: statusCode, details: `failing with status ${statusCode} as requested` };
}

// The reason a ServerStream request cannot be served, or undefined when it can.
export function streamRequestProblem(count: number, intervalMs: number): string | undefined {
  if (!Number.isInteger(count) || count < 1 || count > MAX_STREAM_COUNT) {
    return `count must be from 1 to ${MAX_STREAM_COUNT}, got ${count}`;
  }
  if (!Number.isInteger(intervalMs) || intervalMs < 0 || intervalMs > MAX_STREAM_INTERVAL_MS) {
    return `interval_ms must be from 0 to ${MAX_STREAM_INTERVAL_MS}, got ${intervalMs}`;
  }
  return undefined;
}

// Binary (-bin) entries are left out: the reply's metadata map holds strings only.
export function stringMetadata(map: Readonly<Record<string, MetadataValue>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(map).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
  );
}
