// In a pod, the control-plane client feeds the proxy through files in the in-memory identity volume: key,
// certificate chain and trust anchors, which the data path hot-reloads (the same path standalone and tests
// use). Configs go to the data path in-process (onConfig); a copy of the newest one is kept in the volume as
// config.json for people and tools, rewritten at most once per CONFIG_COPY_INTERVAL_MS.
// Writes are atomic (temp file + rename) so a reader never sees half a key or half a config.
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ControlPlaneClient } from './client.ts';
import { LatestOnly } from './latest-only.ts';

// Synchronous calls on a few KB in a memory-backed volume, from getBuiltinModule: node:fs/promises loads
// readline, and an ESM import of node:fs reads fs.promises (0.5 MB of RSS in every pod; startup-imports.test.ts).
const { chmodSync, mkdirSync, renameSync, writeFileSync } = process.getBuiltinModule('node:fs');

export const IDENTITY_FILES = {
  key: 'key.pem',
  chain: 'cert.pem',
  anchors: 'ca.pem',
  config: 'config.json',
} as const;

/** How stale the config.json copy may be during a burst of updates. */
export const CONFIG_COPY_INTERVAL_MS = 1000;

export interface AgentSettings {
  pod: { namespace: string; name: string };
  serviceAccount: string;
  trustDomain: string;
  controlPlane: string;
  controlPlaneIdentity: string;
  trustAnchorsPem: string;
  tokenPath: string;
  identityDir: string;
}

export class AgentEnvError extends Error {}

/** Reads the agent's settings from the injector's environment; errors name the variable. */
export function agentSettingsFromEnv(env: Record<string, string | undefined>): AgentSettings {
  const need = (name: string): string => {
    const v = env[name];
    if (v === undefined || v === '')
      throw new AgentEnvError(`${name} is required in a pod (the injector sets it)`);
    return v;
  };
  const anchors = need('WEFT_TRUST_ANCHORS');
  if (!anchors.includes('-----BEGIN CERTIFICATE-----')) {
    throw new AgentEnvError('WEFT_TRUST_ANCHORS must hold PEM certificates');
  }
  return {
    pod: { namespace: need('WEFT_POD_NAMESPACE'), name: need('WEFT_POD_NAME') },
    serviceAccount: need('WEFT_SERVICE_ACCOUNT'),
    trustDomain: need('WEFT_TRUST_DOMAIN'),
    controlPlane: need('WEFT_CONTROL_PLANE'),
    controlPlaneIdentity: need('WEFT_CONTROL_PLANE_IDENTITY'),
    trustAnchorsPem: anchors,
    tokenPath: need('WEFT_TOKEN_PATH'),
    identityDir: need('WEFT_IDENTITY_DIR'),
  };
}

function writeAtomically(dir: string, name: string, text: string, mode: number): void {
  const tmp = join(dir, `.${name}.${process.pid}.tmp`);
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, join(dir, name));
}

/**
 * Starts the client; resolves once the first certificate is written. `onConfig` sees every config as it
 * arrives (the data path applies it in-process); the file copy is for people and tools reading the volume.
 */
export async function startAgent(
  settings: AgentSettings,
  logger: Logger,
  onConfig?: (version: string, config: unknown) => void,
): Promise<ControlPlaneClient> {
  mkdirSync(settings.identityDir, { recursive: true, mode: 0o700 });
  const client = new ControlPlaneClient({
    address: settings.controlPlane,
    serverIdentity: settings.controlPlaneIdentity,
    trustAnchorsPem: settings.trustAnchorsPem,
    tokenPath: settings.tokenPath,
    pod: settings.pod,
    spiffeId: `spiffe://${settings.trustDomain}/ns/${settings.pod.namespace}/sa/${settings.serviceAccount}`,
    logger,
  });
  const dir = settings.identityDir;
  client.on('identity', (id) => {
    try {
      // Key first, then the chain: a reader that sees the new chain also finds its key.
      writeAtomically(dir, IDENTITY_FILES.key, id.privateKeyPem, 0o600);
      writeAtomically(dir, IDENTITY_FILES.anchors, id.trustAnchorsPem, 0o644);
      writeAtomically(dir, IDENTITY_FILES.chain, id.certificateChainPem, 0o644);
      logger.info({ notAfter: new Date(id.facts.notAfter).toISOString() }, 'certificate issued');
    } catch (error) {
      logger.error({ err: error, what: 'identity' }, 'could not write');
    }
  });
  // The file copy follows the newest config, at most once per CONFIG_COPY_INTERVAL_MS: a burst of updates
  // (a rolling restart of a large deployment) costs one serialization per interval, not one per update.
  const copy = new LatestOnly<unknown>(async (config) => {
    try {
      writeAtomically(dir, IDENTITY_FILES.config, `${JSON.stringify(config)}\n`, 0o644);
    } catch (error) {
      logger.error({ err: error, what: 'config' }, 'could not write');
    }
  }, CONFIG_COPY_INTERVAL_MS);
  client.on('config', (version, config) => {
    onConfig?.(version, config);
    logger.info({ version }, 'config received');
    copy.push(config);
  });
  await client.start();
  return client;
}
