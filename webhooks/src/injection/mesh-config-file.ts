// The mesh config the injector uses, from the files the install mounts: mesh.json (ConfigMap
// weft-mesh-config) and the trust anchors (ConfigMap weft-trust-anchors, written by the operator).
// Re-read when they change; a bad update keeps the last good config and says why.
import { readFileSync, statSync } from 'node:fs';
import { Ajv } from 'ajv';
import type { Logger } from 'pino';
import { DEFAULT_MESH_CONFIG, type MeshConfig } from './mesh-config.ts';

const port = { type: 'integer', minimum: 1, maximum: 65535 };
const resourceList = {
  type: 'object',
  additionalProperties: false,
  properties: { cpu: { type: 'string' }, memory: { type: 'string' } },
};
const schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    proxyVersion: { type: 'string', minLength: 1 },
    proxyImage: { type: 'string', minLength: 1 },
    proxyInitImage: { type: 'string', minLength: 1 },
    imagePullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] },
    meshNamespace: { type: 'string', minLength: 1 },
    controlPlaneAddress: { type: 'string', pattern: '^.+:[0-9]{1,5}$' },
    trustDomain: { type: 'string', minLength: 1 },
    trustAnchorsPem: { type: 'string' },
    controlPlaneIdentity: { type: 'string', pattern: '^spiffe://' },
    identityAudience: { type: 'string', minLength: 1 },
    tokenExpirationSeconds: { type: 'integer', minimum: 600 },
    proxyUid: { type: 'integer', minimum: 1 },
    ports: {
      type: 'object',
      additionalProperties: false,
      required: ['outbound', 'inbound', 'admin'],
      properties: { outbound: port, inbound: port, admin: port },
    },
    policyMode: { enum: ['permissive', 'enforcing'] },
    logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] },
    opaquePorts: { type: 'array', items: port },
    resources: {
      type: 'object',
      additionalProperties: false,
      properties: { requests: resourceList, limits: resourceList },
    },
    nativeSidecar: { type: 'boolean' },
  },
} as const;

const validate = new Ajv({ allErrors: true }).compile(schema);

export class MeshConfigError extends Error {}

/** Parses mesh.json over the defaults; errors name the file and the field. */
export function parseMeshConfig(text: string, source: string): MeshConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new MeshConfigError(`${source}: not JSON: ${(error as Error).message}`);
  }
  if (!validate(value)) {
    const problems = (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`.trim());
    throw new MeshConfigError(`${source}: ${problems.join('; ')}`);
  }
  return { ...DEFAULT_MESH_CONFIG, ...(value as Partial<MeshConfig>) };
}

export class FileMeshConfig {
  readonly #meshPath: string;
  readonly #anchorsPath: string;
  readonly #logger: Logger | undefined;
  #stamp = '';
  #current: MeshConfig;

  constructor(meshPath: string, anchorsPath: string, logger?: Logger) {
    this.#meshPath = meshPath;
    this.#anchorsPath = anchorsPath;
    this.#logger = logger;
    this.#current = DEFAULT_MESH_CONFIG;
    this.current();
  }

  /** The config, re-read when either file changed since the last call. */
  current(): MeshConfig {
    const stamp = [this.#meshPath, this.#anchorsPath]
      .map((p) => {
        try {
          const s = statSync(p);
          return `${s.mtimeMs}:${s.size}:${s.ino}`;
        } catch {
          return 'missing';
        }
      })
      .join('|');
    if (stamp === this.#stamp) return this.#current;
    this.#stamp = stamp;
    try {
      const mesh = parseMeshConfig(readFileSync(this.#meshPath, 'utf8'), this.#meshPath);
      let anchors = mesh.trustAnchorsPem;
      try {
        anchors = readFileSync(this.#anchorsPath, 'utf8');
      } catch {
        this.#logger?.warn(
          { path: this.#anchorsPath },
          'no trust anchors yet; injected proxies wait for them',
        );
      }
      this.#current = { ...mesh, trustAnchorsPem: anchors };
      this.#logger?.info({ path: this.#meshPath, proxyImage: mesh.proxyImage }, 'mesh config loaded');
    } catch (error) {
      this.#logger?.error({ err: error }, 'mesh config not loaded; keeping the last good one');
    }
    return this.#current;
  }
}
