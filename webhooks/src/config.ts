// Configuration of the webhook process, from environment variables with one prefix. Pure: parse errors name
// the variable.
import { parseBoolean, parseList, parseWholeNumber } from '../../crds/settings.ts';
import { SMI_KIND_INFO, SMI_KINDS } from '../../crds/smi/kinds.ts';

export const ENV_PREFIX = 'WEFT_WEBHOOK_';

export interface WebhookConfig {
  host: string | undefined;
  port: number;
  logLevel: string;
  certificates:
    | {
        mode: 'generated';
        /** `namespace/name` of the CA Secret, or `memory` (one replica, tests). */
        caStore: { kind: 'secret'; namespace: string; name: string } | { kind: 'memory' };
        dnsNames: string[];
        ipAddresses: string[];
        /** Publish the caBundle to these objects (empty lists: publish nowhere). */
        publish: {
          crds: string[];
          validatingWebhookConfigurations: string[];
          mutatingWebhookConfigurations: string[];
        };
      }
    | { mode: 'files'; directory: string };
  /** Also write the caBundle (PEM) to this file; useful for installers and tests. */
  caBundleFile?: string;
  /** Check references (Services, route groups, ServiceAccounts) with the apiserver to warn about missing ones. */
  referenceLookup: boolean;
  /** Release the node binary's start-up pages once serving (proxy-image/src/startup-pages.ts). */
  releaseStartupPages: boolean;
  /** Serve /inject with the mesh config (and trust anchors) from these files; absent: no injection. */
  injection?: { meshConfigFile: string; trustAnchorsFile: string };
}

export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.variable = variable;
  }
}

const ALL_SMI_CRDS = SMI_KINDS.filter((k) => SMI_KIND_INFO[k].versions.length > 1).map(
  (k) => `${SMI_KIND_INFO[k].plural}.${SMI_KIND_INFO[k].group}`,
);

function list(v: string | undefined, dflt: string[]): string[] {
  return v === undefined ? dflt : parseList(v);
}

function bool(env: Record<string, string | undefined>, name: string, dflt: boolean): boolean {
  const v = env[ENV_PREFIX + name];
  if (v === undefined || v === '') return dflt;
  const r = parseBoolean(v);
  if (!r.ok) throw new ConfigError(ENV_PREFIX + name, r.error);
  return r.value;
}

/** Reads the configuration from `env`. */
export function parseWebhookConfig(env: Record<string, string | undefined>): WebhookConfig {
  const get = (n: string) => env[ENV_PREFIX + n];
  const portText = get('PORT') ?? '9443';
  const parsedPort = parseWholeNumber(portText, 0, 65535, 'a port (0..65535)');
  if (!parsedPort.ok) throw new ConfigError(`${ENV_PREFIX}PORT`, parsedPort.error);
  const port = parsedPort.value;
  const mode = get('CERT_MODE') ?? 'generated';
  let certificates: WebhookConfig['certificates'];
  if (mode === 'files') {
    const directory = get('CERT_DIR');
    if (directory === undefined || directory === '')
      throw new ConfigError(`${ENV_PREFIX}CERT_DIR`, 'is required when CERT_MODE=files');
    certificates = { mode: 'files', directory };
  } else if (mode === 'generated') {
    const store = get('CA_SECRET') ?? 'weft-system/weft-webhooks-ca';
    let caStore: Extract<WebhookConfig['certificates'], { mode: 'generated' }>['caStore'];
    if (store === 'memory') caStore = { kind: 'memory' };
    else {
      const [namespace, name, extra] = store.split('/');
      if (!namespace || !name || extra !== undefined)
        throw new ConfigError(`${ENV_PREFIX}CA_SECRET`, `"${store}" is not namespace/name or memory`);
      caStore = { kind: 'secret', namespace, name };
    }
    const publishing = bool(env, 'PUBLISH_CA_BUNDLE', true);
    certificates = {
      mode: 'generated',
      caStore,
      dnsNames: list(get('DNS_NAMES'), [
        'weft-webhooks.weft-system.svc',
        'weft-webhooks.weft-system.svc.cluster.local',
      ]),
      ipAddresses: list(get('IP_SANS'), []),
      publish: {
        crds: publishing ? list(get('CA_BUNDLE_CRDS'), ALL_SMI_CRDS) : [],
        validatingWebhookConfigurations: publishing
          ? list(get('CA_BUNDLE_VALIDATING'), ['weft-smi-validator'])
          : [],
        mutatingWebhookConfigurations: publishing ? list(get('CA_BUNDLE_MUTATING'), ['weft-injector']) : [],
      },
    };
  } else {
    throw new ConfigError(`${ENV_PREFIX}CERT_MODE`, `"${mode}" is not generated or files`);
  }
  const caBundleFile = get('CA_BUNDLE_FILE');
  const meshConfigFile = get('MESH_CONFIG');
  const trustAnchorsFile = get('TRUST_ANCHORS');
  if (trustAnchorsFile && !meshConfigFile)
    throw new ConfigError(`${ENV_PREFIX}TRUST_ANCHORS`, `needs ${ENV_PREFIX}MESH_CONFIG as well`);
  return {
    // Unset: every address, IPv6 and IPv4 (IPv6-only clusters call webhooks over IPv6).
    host: get('HOST'),
    port,
    logLevel: get('LOG_LEVEL') ?? 'info',
    certificates,
    ...(caBundleFile ? { caBundleFile } : {}),
    referenceLookup: bool(env, 'REFERENCE_LOOKUP', true),
    releaseStartupPages: bool(env, 'RELEASE_STARTUP_PAGES', true),
    ...(meshConfigFile
      ? { injection: { meshConfigFile, trustAnchorsFile: trustAnchorsFile || '/etc/weft/trust/ca.pem' } }
      : {}),
  };
}
