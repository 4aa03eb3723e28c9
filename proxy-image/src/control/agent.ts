// In a pod, the control-plane client feeds the proxy through files in the in-memory identity volume:
// key, certificate chain and trust anchors, and the config document. The data path already hot-reloads
// those files (the same path standalone and test use), so there is one reload mechanism, not two.
// Writes are atomic (temp file + rename) so a reader never sees half a key or half a config.
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ControlPlaneClient } from './client.ts';

export const IDENTITY_FILES = {
  key: 'key.pem',
  chain: 'cert.pem',
  anchors: 'ca.pem',
  config: 'config.json',
} as const;

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

async function writeAtomically(dir: string, name: string, text: string, mode: number): Promise<void> {
  const tmp = join(dir, `.${name}.${process.pid}.tmp`);
  await writeFile(tmp, text, { mode });
  await chmod(tmp, mode);
  await rename(tmp, join(dir, name));
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
  await mkdir(settings.identityDir, { recursive: true, mode: 0o700 });
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
  let writes = Promise.resolve();
  const queue = (what: string, fn: () => Promise<void>) => {
    writes = writes.then(fn).catch((error: unknown) => logger.error({ err: error, what }, 'could not write'));
  };
  client.on('identity', (id) => {
    queue('identity', async () => {
      // Key first, then the chain: a reader that sees the new chain also finds its key.
      await writeAtomically(dir, IDENTITY_FILES.key, id.privateKeyPem, 0o600);
      await writeAtomically(dir, IDENTITY_FILES.anchors, id.trustAnchorsPem, 0o644);
      await writeAtomically(dir, IDENTITY_FILES.chain, id.certificateChainPem, 0o644);
      logger.info({ notAfter: new Date(id.facts.notAfter).toISOString() }, 'certificate issued');
    });
  });
  client.on('config', (version, config) => {
    onConfig?.(version, config);
    queue('config', async () => {
      await writeAtomically(dir, IDENTITY_FILES.config, `${JSON.stringify(config)}\n`, 0o644);
      logger.info({ version }, 'config received');
    });
  });
  await client.start();
  await writes;
  return client;
}
