// Reads every environment variable the test app understands, in one place, so a bad value is
// reported by name before anything listens.
import { isIP } from 'node:net';

export interface PodIdentity {
  readonly pod: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly node: string;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface TestAppConfig {
  readonly httpPort: number;
  readonly grpcPort: number;
  readonly tcpEchoPort: number;
  readonly bannerPort: number;
  readonly bindAddress: string;
  readonly identity: PodIdentity;
  readonly logLevel: LogLevel;
  readonly shutdownGraceMs: number;
}

export interface EnvProblem {
  readonly variable: string;
  readonly value: string;
  readonly reason: string;
}

export class EnvConfigError extends Error {
  readonly problems: readonly EnvProblem[];

  constructor(problems: readonly EnvProblem[]) {
    super(
      `invalid environment: ${problems.map((p) => `${p.variable}=${JSON.stringify(p.value)}: ${p.reason}`).join('; ')}`,
    );
    this.name = 'EnvConfigError';
    this.problems = problems;
  }
}

export const MAX_SHUTDOWN_GRACE_MS = 600_000;

type Env = Readonly<Record<string, string | undefined>>;

// A header value may not carry control characters; the pod name goes into x-weft-pod on every response.
const HEADER_SAFE = /^[\x21-\x7e]+$/;

export function parseTestAppEnv(env: Env, hostname: string): TestAppConfig {
  const problems: EnvProblem[] = [];
  const raw = (variable: string): string | undefined => {
    const value = env[variable];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };
  const integer = (variable: string, fallback: number, min: number, max: number, what: string): number => {
    const value = raw(variable);
    if (value === undefined) return fallback;
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      problems.push({ variable, value, reason: `must be ${what}, an integer from ${min} to ${max}` });
      return fallback;
    }
    return Number(value);
  };
  const port = (variable: string, fallback: number): number =>
    integer(variable, fallback, 0, 65535, 'a port');

  const httpPort = port('HTTP_PORT', 8080);
  const grpcPort = port('GRPC_PORT', 8081);
  const tcpEchoPort = port('TCP_ECHO_PORT', 9000);
  const bannerPort = port('BANNER_PORT', 9001);

  const seen = new Map<number, string>();
  for (const [variable, value] of [
    ['HTTP_PORT', httpPort],
    ['GRPC_PORT', grpcPort],
    ['TCP_ECHO_PORT', tcpEchoPort],
    ['BANNER_PORT', bannerPort],
  ] as const) {
    const other = seen.get(value);
    // Port 0 asks the kernel for a fresh port each time, so it may repeat.
    if (value !== 0 && other !== undefined) {
      problems.push({ variable, value: String(value), reason: `same port as ${other}` });
    }
    seen.set(value, variable);
  }

  const bindAddress = raw('BIND_ADDRESS') ?? '0.0.0.0';
  if (isIP(bindAddress) === 0) {
    problems.push({
      variable: 'BIND_ADDRESS',
      value: bindAddress,
      reason: 'must be an IPv4 or IPv6 address',
    });
  }

  const pod = raw('POD_NAME') ?? hostname;
  if (!HEADER_SAFE.test(pod)) {
    problems.push({ variable: 'POD_NAME', value: pod, reason: 'must be visible ASCII without spaces' });
  }

  const level = (raw('LOG_LEVEL') ?? 'info').toLowerCase();
  const logLevel = LOG_LEVELS.find((l) => l === level);
  if (logLevel === undefined) {
    problems.push({ variable: 'LOG_LEVEL', value: level, reason: `must be one of ${LOG_LEVELS.join(', ')}` });
  }

  const shutdownGraceMs = integer('SHUTDOWN_GRACE_MS', 5000, 0, MAX_SHUTDOWN_GRACE_MS, 'a duration in ms');

  if (problems.length > 0) throw new EnvConfigError(problems);
  return {
    httpPort,
    grpcPort,
    tcpEchoPort,
    bannerPort,
    bindAddress,
    identity: {
      pod,
      namespace: raw('POD_NAMESPACE') ?? '',
      serviceAccount: raw('POD_SERVICE_ACCOUNT') ?? '',
      node: raw('NODE_NAME') ?? '',
    },
    logLevel: logLevel ?? 'info',
    shutdownGraceMs,
  };
}
