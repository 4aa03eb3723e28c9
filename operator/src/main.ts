// Entry point: configuration from WEFT_* environment variables (typed parse errors), then run until a signal.
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { type Logger, pino } from 'pino';
import { DEFAULT_CONFIG_STREAM_PORT, DEFAULT_CONTROL_PLANE_PORT } from '../../crds/control-plane/types.ts';
import { loadKubeConfig } from '../../crds/kube-client.ts';
import { DNS_SUBDOMAIN } from '../../crds/proxy-config/schema.ts';
import { parseBoolean, parseList, parseWholeNumber } from '../../crds/settings.ts';
import { loadNativeAddon } from '../../proxy-image/src/native.ts';
import { releaseStartupPages } from '../../proxy-image/src/startup-pages.ts';
import { DEFAULT_EVENT_REPEAT_SECONDS, Operator } from './operator.ts';
import { DEFAULT_CONNECTION_LIMITS, maxConnectionsForMemory } from './server.ts';

class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * A whole number from an environment variable, from min to max (the fallback when unset or empty); `what` names
 * the range in the error. Digits only (spaces around them allowed): Number() would also take 1e4, 0x10 or 20000.5.
 */
function wholeNumber(name: string, fallback: number, min: number, max: number, what: string): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const r = parseWholeNumber(raw, min, max, what, true);
  if (!r.ok) throw new ConfigError(`${name}: ${r.error}`);
  return r.value;
}

const int = (name: string, fallback: number) => wholeNumber(name, fallback, 0, 65535, 'a port number');
const seconds = (name: string, fallback: number) => wholeNumber(name, fallback, 2, 3600, '2..3600 seconds');
/** A connection limit: up to 1,000,000 (past that, file descriptors run out first). */
const connections = (name: string, fallback: number) =>
  wholeNumber(name, fallback, 1, 1_000_000, 'a number of connections from 1 to 1000000');

/**
 * WEFT_CONFIG_STREAM_PORT: the sealed config stream's port, or `off` for none: proxies then follow their config
 * stream over TLS on the control-plane port (about four times the operator's memory per proxy), for a network
 * that lets only that port through.
 */
function configStreamPort(): number | null {
  const name = 'WEFT_CONFIG_STREAM_PORT';
  if (process.env[name]?.trim().toLowerCase() === 'off') return null;
  return wholeNumber(name, DEFAULT_CONFIG_STREAM_PORT, 0, 65535, 'a port number, or off');
}

function trueOrFalse(name: string, fallback: boolean): boolean {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  // As the webhooks (same image) read theirs.
  const r = parseBoolean(raw);
  if (!r.ok) throw new ConfigError(`${name}: ${r.error}`);
  return r.value;
}

function list(name: string, fallback: string[]): string[] {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  return parseList(raw);
}

function policyMode(): 'permissive' | 'enforcing' {
  const raw = process.env.WEFT_POLICY_MODE ?? 'permissive';
  if (raw !== 'permissive' && raw !== 'enforcing') {
    throw new ConfigError(`WEFT_POLICY_MODE: "${raw}" is not permissive or enforcing`);
  }
  return raw;
}

/**
 * WEFT_CLUSTER_DOMAIN: every Service's DNS names end in it, and a name the config contract refuses (a trailing
 * dot, capitals, an empty label) would leave every Service out of every config. Taken in the usual spellings
 * (trailing dot, any case), refused at start otherwise.
 */
function clusterDomain(): string {
  const raw = process.env.WEFT_CLUSTER_DOMAIN ?? 'cluster.local';
  const d = raw.trim().toLowerCase().replace(/\.$/, '');
  // <service>.<namespace>.svc.<domain> stays within a DNS name's 253 characters: 63 + 1 + 63 + 5 + 121.
  if (!new RegExp(DNS_SUBDOMAIN).test(d) || d.length > 121)
    throw new ConfigError(`WEFT_CLUSTER_DOMAIN: "${raw}" is not a DNS domain like cluster.local`);
  return d;
}

/** WEFT_ADVERTISE_ADDRESS, else POD_IP: an IP address, refused at start otherwise. */
function advertiseAddress(): string | undefined {
  const name = process.env.WEFT_ADVERTISE_ADDRESS ? 'WEFT_ADVERTISE_ADDRESS' : 'POD_IP';
  const raw = (process.env[name] ?? '').trim();
  if (raw === '') return undefined;
  if (isIP(raw) === 0) throw new ConfigError(`${name}: "${raw}" is not an IP address`);
  return raw;
}

/** The native addon's malloc_trim, when the addon is there (the controller image has it; a dev run may not). */
function nativeHeapTrim(log: Logger): { trimNativeHeap?: () => { released: boolean; ms: number } } {
  try {
    const addon = loadNativeAddon();
    if (typeof addon.trimNativeHeap === 'function') return { trimNativeHeap: () => addon.trimNativeHeap() };
    log.info('native addon predates trimNativeHeap: native heap not trimmed');
  } catch (err) {
    log.info({ reason: (err as Error).message }, 'native heap not trimmed');
  }
  return {};
}

async function main(): Promise<void> {
  const log = pino({ level: process.env.WEFT_LOG_LEVEL ?? 'info', base: { component: 'weft-operator' } });
  // Settings first: a bad one is refused before anything connects.
  const domain = clusterDomain();
  const mode = policyMode();
  const controlPlaneLimits = {
    // By default sized from the container's memory limit (the cgroup's), so that the limit refuses connections
    // before the kernel kills the operator.
    maxConnections: connections(
      'WEFT_CONTROL_PLANE_MAX_CONNECTIONS',
      maxConnectionsForMemory(process.constrainedMemory()),
    ),
    maxConnectionsPerAddress: connections(
      'WEFT_CONTROL_PLANE_MAX_CONNECTIONS_PER_ADDRESS',
      DEFAULT_CONNECTION_LIMITS.maxConnectionsPerAddress,
    ),
  };
  const releasePages = trueOrFalse('WEFT_RELEASE_STARTUP_PAGES', true);
  const advertise = advertiseAddress();
  const namespace = process.env.WEFT_NAMESPACE ?? process.env.POD_NAMESPACE ?? 'weft-system';
  const settings = {
    namespace,
    identity: process.env.POD_NAME ?? `${hostname()}-${process.pid}`,
    trustDomain: process.env.WEFT_TRUST_DOMAIN ?? 'cluster.local',
    clusterDomain: domain,
    defaultPolicyMode: mode,
    ...(process.env.WEFT_LISTEN_ADDRESS ? { listenAddress: process.env.WEFT_LISTEN_ADDRESS } : {}),
    controlPlanePort: int('WEFT_CONTROL_PLANE_PORT', DEFAULT_CONTROL_PLANE_PORT),
    configStreamPort: configStreamPort(),
    // The pod IP (downward API): config-stream tickets name it, since only the replica that issued one knows it.
    ...(advertise === undefined ? {} : { advertiseAddress: advertise }),
    controlPlaneLimits,
    adminPort: int('WEFT_ADMIN_PORT', 15014),
    servingDnsNames: list('WEFT_SERVING_DNS_NAMES', [`weft-operator.${namespace}.svc`, 'localhost']),
    servingIps: list('WEFT_SERVING_IPS', ['127.0.0.1']),
    leaseDurationSeconds: seconds('WEFT_LEASE_DURATION_SECONDS', 15),
    eventRepeatSeconds: wholeNumber(
      'WEFT_EVENT_REPEAT_SECONDS',
      DEFAULT_EVENT_REPEAT_SECONDS,
      2,
      86_400,
      '2..86400 seconds',
    ),
  };
  // Pooled connections to the apiserver, calls and watches apart (crds/kube-client.ts).
  const kubeConfig = loadKubeConfig();
  const operator = new Operator({
    kubeConfig,
    ...settings,
    ...nativeHeapTrim(log),
    log,
  });
  const shutdown = (signal: string) => {
    log.info({ signal }, 'shutting down');
    operator
      .stop()
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        log.error({ err: (err as Error).message }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  if (settings.configStreamPort === null)
    log.info('WEFT_CONFIG_STREAM_PORT is off: proxies follow their config stream over TLS');
  else if (advertise === undefined)
    log.warn(
      { configStreamPort: settings.configStreamPort },
      'POD_IP is not set: config-stream tickets name no address, and proxies open the sealed stream to the host ' +
        'they asked for the ticket; behind a Service with several replicas that reaches the wrong replica at times ' +
        '(the proxy then follows the stream over TLS)',
    );
  await operator.start();
  log.info(
    {
      controlPlanePort: operator.controlPlanePort,
      configStreamPort: operator.configStreamPort,
      adminPort: operator.adminPort,
    },
    'operator started',
  );
  if (releasePages) releaseStartupPages(log);
}

main().catch((err: unknown) => {
  console.error(`weft-operator: ${(err as Error).message}`);
  process.exit(1);
});
