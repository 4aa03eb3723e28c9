// Entrypoint of the Weft proxy. Settings come from flags or WEFT_PROXY_* environment variables (flags
// win); every bad value is reported by name before anything listens.
//
//   node proxy-image/src/main.ts --config proxy.json --cert tls.crt --key tls.key
//        [--bind ADDRESS] [--outbound-port N] [--inbound-port N] [--admin-port N] [--admin-address A]
//        [--outbound-dst HOST:PORT] [--inbound-app HOST:PORT] [--ports-file PATH] [--log-level info]
//        [--release-startup-pages true|false]
//
// --outbound-dst / --inbound-app select explicit mode (a fixed destination instead of SO_ORIGINAL_DST).

import type http from 'node:http';
import { isIP } from 'node:net';
import { type Logger, pino } from 'pino';
import { createAdminServer } from './admin/admin-server.ts';
import { type ConfigLoad, type ConfigSource, FileConfigSource, watchFiles } from './config/file-source.ts';
import { createProxyMetrics } from './metrics/index.ts';
import { type ListenerMode, ProxyRuntime } from './proxy.ts';
import { releaseStartupPages } from './startup-pages.ts';

// Not `import`: Node's ESM facade of node:fs reads its lazy exports too, and fs.promises loads readline
// (0.5 MB of idle RSS; startup-imports.test.ts).
const { readFileSync, writeFileSync } = process.getBuiltinModule('node:fs');

export const PROXY_VERSION = '0.1.0';

export interface ProxySettings {
  readonly configFile: string;
  readonly certFile: string | null;
  readonly keyFile: string | null;
  /** Address of the outbound and inbound listeners; null: every address (IPv6 and IPv4). */
  readonly bindAddress: string | null;
  readonly outboundPort: number | undefined;
  readonly inboundPort: number | undefined;
  readonly adminPort: number | undefined;
  readonly adminAddress: string | undefined;
  readonly outboundMode: ListenerMode;
  readonly inboundMode: ListenerMode;
  readonly portsFile: string | null;
  readonly logLevel: string;
  /** Release the node binary's start-up pages once listening (startup-pages.ts). */
  readonly releaseStartupPages: boolean;
  /** Keep the listeners open while draining (a classic sidecar's SIGTERM; ProxyOptions.drainKeepsListening). */
  readonly drainKeepsListening: boolean;
}

export class SettingsError extends Error {}

const FLAGS: Record<string, string> = {
  config: 'WEFT_PROXY_CONFIG',
  cert: 'WEFT_PROXY_CERT',
  key: 'WEFT_PROXY_KEY',
  bind: 'WEFT_PROXY_BIND',
  'outbound-port': 'WEFT_PROXY_OUTBOUND_PORT',
  'inbound-port': 'WEFT_PROXY_INBOUND_PORT',
  'admin-port': 'WEFT_PROXY_ADMIN_PORT',
  'admin-address': 'WEFT_PROXY_ADMIN_ADDRESS',
  'outbound-dst': 'WEFT_PROXY_OUTBOUND_DST',
  'inbound-app': 'WEFT_PROXY_INBOUND_APP',
  'ports-file': 'WEFT_PROXY_PORTS_FILE',
  'log-level': 'WEFT_PROXY_LOG_LEVEL',
  'release-startup-pages': 'WEFT_PROXY_RELEASE_STARTUP_PAGES',
  'drain-keep-listening': 'WEFT_PROXY_DRAIN_KEEP_LISTENING',
};

/** Parses flags and environment into settings; throws SettingsError listing every problem. */
export function parseSettings(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ProxySettings {
  const values = new Map<string, string>();
  const problems: string[] = [];
  for (const [flag, variable] of Object.entries(FLAGS)) {
    const v = env[variable];
    if (v !== undefined && v !== '') values.set(flag, v);
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      problems.push(`unexpected argument "${a}"`);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    if (!(name in FLAGS)) {
      problems.push(`unknown flag --${name}`);
      continue;
    }
    const value = eq >= 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) problems.push(`--${name} needs a value`);
    else values.set(name, value);
  }
  const port = (flag: string): number | undefined => {
    const v = values.get(flag);
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v) || Number(v) > 65535) {
      problems.push(`--${flag} (${FLAGS[flag]}) "${v}" must be a port 0-65535`);
      return undefined;
    }
    return Number(v);
  };
  const hostPort = (flag: string): ListenerMode => {
    const v = values.get(flag);
    if (v === undefined) return { kind: 'transparent' };
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(v);
    if (m === null || isIP(m[1]!) === 0 || Number(m[2]) < 1 || Number(m[2]) > 65535) {
      problems.push(`--${flag} (${FLAGS[flag]}) "${v}" must be IP:PORT`);
      return { kind: 'transparent' };
    }
    return { kind: 'explicit', address: m[1]!, port: Number(m[2]) };
  };
  const flag = (name: string, fallback: boolean): boolean => {
    const v = values.get(name);
    if (v === undefined) return fallback;
    if (v !== 'true' && v !== 'false')
      problems.push(`--${name} (${FLAGS[name]}) "${v}" must be true or false`);
    return v === 'true' || (v !== 'false' && fallback);
  };
  const configFile = values.get('config');
  if (configFile === undefined) problems.push('--config (WEFT_PROXY_CONFIG) is required');
  const certFile = values.get('cert') ?? null;
  const keyFile = values.get('key') ?? null;
  if ((certFile === null) !== (keyFile === null)) problems.push('--cert and --key go together');
  // Unset: every address, IPv6 and IPv4 (Node's default listen: "::" dual-stack, or 0.0.0.0 on a host without
  // IPv6). proxy-init redirects both families, so an IPv4-only listener would refuse every IPv6 connection.
  const bindAddress = values.get('bind') ?? null;
  if (bindAddress !== null && isIP(bindAddress) === 0)
    problems.push(`--bind (WEFT_PROXY_BIND) "${bindAddress}" must be an IP address`);
  const settings: ProxySettings = {
    configFile: configFile ?? '',
    certFile,
    keyFile,
    bindAddress,
    outboundPort: port('outbound-port'),
    inboundPort: port('inbound-port'),
    adminPort: port('admin-port'),
    adminAddress: values.get('admin-address'),
    outboundMode: hostPort('outbound-dst'),
    inboundMode: hostPort('inbound-app'),
    portsFile: values.get('ports-file') ?? null,
    logLevel: values.get('log-level') ?? 'info',
    releaseStartupPages: flag('release-startup-pages', true),
    drainKeepsListening: flag('drain-keep-listening', false),
  };
  if (problems.length > 0) throw new SettingsError(`invalid proxy settings: ${problems.join('; ')}`);
  return settings;
}

export interface RunningProxy {
  readonly runtime: ProxyRuntime;
  readonly ports: { outbound: number; inbound: number; admin: number };
  /** Graceful: drain for the config's drainTimeoutMs, then close everything. */
  shutdown(): Promise<void>;
}

/** Starts the proxy: waits for the first valid config, then listens. */
export async function startProxy(
  settings: ProxySettings,
  logger: Logger,
  onStopped: () => void = () => undefined,
  source?: ConfigSource,
): Promise<RunningProxy> {
  const metrics = createProxyMetrics({ version: PROXY_VERSION, processMetrics: true });
  const runtime = new ProxyRuntime({
    logger,
    observer: metrics,
    bindAddress: settings.bindAddress,
    outboundPort: settings.outboundPort,
    inboundPort: settings.inboundPort,
    outboundMode: settings.outboundMode,
    inboundMode: settings.inboundMode,
    drainKeepsListening: settings.drainKeepsListening,
  });
  const configSource = source ?? new FileConfigSource(settings.configFile);
  let lastError: { at: string; errors: unknown } | null = null;
  let trustAnchors: readonly string[] = [];

  const loadCredentials = (why: string): void => {
    if (settings.certFile === null || settings.keyFile === null || trustAnchors.length === 0) return;
    try {
      runtime.setCredentials({
        certPem: readFileSync(settings.certFile, 'utf8'),
        keyPem: readFileSync(settings.keyFile, 'utf8'),
        trustAnchors,
      });
      const cert = runtime.certificate!;
      logger.info(
        { spiffeId: cert.spiffeId, notAfter: cert.notAfter.toISOString(), why },
        'certificate loaded',
      );
    } catch (err) {
      // Never log the key or certificate itself: only the reason.
      logger.error(
        { err: { message: (err as Error).message, code: (err as { code?: string }).code }, why },
        'certificate rejected; keeping the previous one',
      );
    }
  };

  let firstResolve: (() => void) | null = null;
  const firstConfig = new Promise<void>((r) => {
    firstResolve = r;
  });
  const onUpdate = (load: ConfigLoad): void => {
    if (!load.ok) {
      metrics.configReload('invalid');
      lastError = { at: new Date().toISOString(), errors: load.errors };
      logger.error(
        { source: configSource.description, errors: load.errors },
        'proxy config rejected; keeping the last good config',
      );
      return;
    }
    try {
      const anchorsChanged = load.config.trustAnchors.join('\n') !== trustAnchors.join('\n');
      if (!runtime.applyConfig(load.config)) {
        metrics.configReload('unchanged');
        lastError = null;
        logger.info(
          { version: load.config.version, source: configSource.description },
          'proxy config unchanged (this version is in use); nothing applied',
        );
        return;
      }
      metrics.configReload('applied');
      lastError = null;
      if (anchorsChanged) {
        trustAnchors = load.config.trustAnchors;
        loadCredentials('trust anchors changed');
      }
      logger.info({ version: load.config.version, source: configSource.description }, 'proxy config applied');
      firstResolve?.();
      firstResolve = null;
    } catch (err) {
      metrics.configReload('uncompilable');
      lastError = {
        at: new Date().toISOString(),
        errors: [{ path: (err as { path?: string }).path ?? '', message: (err as Error).message }],
      };
      logger.error(
        { err, source: configSource.description },
        'proxy config could not be compiled; keeping the last good config',
      );
    }
  };
  configSource.start(onUpdate);
  const stopCertWatch =
    settings.certFile !== null && settings.keyFile !== null
      ? watchFiles([settings.certFile, settings.keyFile], 200, () =>
          loadCredentials('certificate files changed'),
        )
      : () => undefined;

  let shuttingDown: Promise<void> | null = null;
  let admin: http.Server | null = null;
  const shutdown = (): Promise<void> => {
    shuttingDown ??= (async () => {
      const graceMs = runtime.config?.limits.drainTimeoutMs ?? 10_000;
      logger.info({ graceMs }, 'draining');
      configSource.stop();
      stopCertWatch();
      await runtime.drain(graceMs);
      await new Promise<void>((r) => (admin === null ? r() : admin.close(() => r())));
      admin?.closeAllConnections();
    })();
    return shuttingDown;
  };
  admin = createAdminServer({
    runtime,
    metrics,
    logger,
    shutdown: () => {
      void shutdown().then(onStopped);
    },
    status: () => ({
      configSource: configSource.description,
      lastConfigError: lastError,
      version: PROXY_VERSION,
    }),
  });
  // The admin listener comes up first so /live and /ready answer while the first config is awaited.
  const adminPort = await new Promise<number>((resolve, reject) => {
    admin!.once('error', reject);
    // Unset address: every address, IPv6 and IPv4, as the proxy's listeners (the kubelet probes the pod IP).
    const port = settings.adminPort ?? 15190;
    admin!.listen(
      settings.adminAddress === undefined ? { port } : { port, host: settings.adminAddress },
      () => {
        const a = admin!.address();
        resolve(typeof a === 'object' && a !== null ? a.port : 0);
      },
    );
  });
  await firstConfig;
  const { outboundPort, inboundPort } = await runtime.start();
  const ports = { outbound: outboundPort, inbound: inboundPort, admin: adminPort };
  if (settings.portsFile !== null) writeFileSync(settings.portsFile, `${JSON.stringify(ports)}\n`);
  return { runtime, ports, shutdown };
}

/** Standalone proxy from flags and WEFT_PROXY_* (tests, benches, use without a control plane). */
export async function runStandalone(argv: readonly string[]): Promise<void> {
  let settings: ProxySettings;
  try {
    settings = parseSettings(argv, process.env);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  const logger = pino({ level: settings.logLevel, base: { component: 'weft-proxy' } });
  const proxy = await startProxy(settings, logger, () => process.exit(0));
  if (settings.releaseStartupPages) releaseStartupPages(logger);
  const stop = (signal: string) => {
    logger.info({ signal }, 'signal received');
    void proxy.shutdown().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

// Run directly (`node proxy-image/src/main.ts`); bundles define import.meta.main as false and go
// through entry.ts instead.
if (import.meta.main) {
  runStandalone(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`weft-proxy failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
