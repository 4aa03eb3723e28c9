// `weft-proxy proxy`: the sidecar as the injector runs it in a pod. The control-plane agent gets the
// workload certificate and follows the config stream. Configs go straight to the data path (validated
// like any other source, last good kept); key and certificate go through the in-memory identity volume,
// which the data path watches as it does standalone. Settings come from the environment the injector
// sets (WEFT_*); a wrong value exits 2 naming the variable.
import { join } from 'node:path';
import { pino } from 'pino';
import { type ConfigLoad, type ConfigSource, validateConfigDocument } from './config/file-source.ts';
import { AgentEnvError, agentSettingsFromEnv, IDENTITY_FILES, startAgent } from './control/agent.ts';
import { type ProxySettings, parseSettings, SettingsError, startProxy } from './main.ts';
import { releaseStartupPages } from './startup-pages.ts';

/** Maps the injector's environment onto the proxy's settings (WEFT_PROXY_* still wins where set). */
export function podProxySettings(env: Readonly<Record<string, string | undefined>>): ProxySettings {
  const dir = env.WEFT_IDENTITY_DIR ?? '';
  const pick = (own: string, injected: string): string | undefined => env[own] || env[injected];
  return parseSettings([], {
    WEFT_PROXY_CONFIG: join(dir, IDENTITY_FILES.config),
    WEFT_PROXY_CERT: join(dir, IDENTITY_FILES.chain),
    WEFT_PROXY_KEY: join(dir, IDENTITY_FILES.key),
    WEFT_PROXY_OUTBOUND_PORT: pick('WEFT_PROXY_OUTBOUND_PORT', 'WEFT_OUTBOUND_PORT'),
    WEFT_PROXY_INBOUND_PORT: pick('WEFT_PROXY_INBOUND_PORT', 'WEFT_INBOUND_PORT'),
    WEFT_PROXY_ADMIN_PORT: pick('WEFT_PROXY_ADMIN_PORT', 'WEFT_ADMIN_PORT'),
    WEFT_PROXY_LOG_LEVEL: pick('WEFT_PROXY_LOG_LEVEL', 'WEFT_LOG_LEVEL'),
    WEFT_PROXY_BIND: env.WEFT_PROXY_BIND,
    WEFT_PROXY_RELEASE_STARTUP_PAGES: env.WEFT_PROXY_RELEASE_STARTUP_PAGES,
    WEFT_PROXY_DRAIN_KEEP_LISTENING: pick('WEFT_PROXY_DRAIN_KEEP_LISTENING', 'WEFT_DRAIN_KEEP_LISTENING'),
  });
}

/** The config stream as a ConfigSource: remembers the latest document so a late start still gets it. */
export class StreamConfigSource implements ConfigSource {
  readonly description: string;
  #latest: unknown;
  #has = false;
  #onUpdate: ((load: ConfigLoad) => void) | undefined;
  #first: Promise<void>;
  #firstArrived: () => void = () => undefined;

  constructor(description: string) {
    this.description = description;
    this.#first = new Promise((r) => {
      this.#firstArrived = r;
    });
  }

  /** Resolves when the first document has arrived (valid or not). */
  get first(): Promise<void> {
    return this.#first;
  }

  push(config: unknown): void {
    this.#latest = config;
    this.#has = true;
    this.#firstArrived();
    this.#onUpdate?.(validateConfigDocument(config, this.description));
  }

  start(onUpdate: (load: ConfigLoad) => void): void {
    this.#onUpdate = onUpdate;
    if (this.#has) onUpdate(validateConfigDocument(this.#latest, this.description));
  }

  stop(): void {
    this.#onUpdate = undefined;
  }
}

export async function runPodProxy(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let settings: ProxySettings;
  let agentSettings: ReturnType<typeof agentSettingsFromEnv>;
  try {
    agentSettings = agentSettingsFromEnv(env);
    settings = podProxySettings(env);
  } catch (err) {
    if (!(err instanceof SettingsError || err instanceof AgentEnvError)) throw err;
    process.stderr.write(`weft-proxy: ${err.message}\n`);
    process.exit(2);
  }
  const logger = pino({ level: settings.logLevel, base: { component: 'weft-proxy' } });
  const source = new StreamConfigSource(`control-plane:${agentSettings.controlPlane}`);
  const agent = await startAgent(agentSettings, logger.child({ part: 'control' }), (_version, config) =>
    source.push(config),
  );
  // The data path starts on the first config; until then nothing listens and the startup probe keeps
  // the app waiting.
  await source.first;
  const proxy = await startProxy(
    settings,
    logger,
    () => {
      agent.stop();
      process.exit(0);
    },
    source,
  );
  if (settings.releaseStartupPages) releaseStartupPages(logger);
  const stop = (signal: string) => {
    logger.info({ signal }, 'signal received');
    agent.stop();
    void proxy.shutdown().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
