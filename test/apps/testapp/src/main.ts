// Entry point of the test app image: configuration from the environment, shutdown on signals.
import { hostname } from 'node:os';
import { pino } from 'pino';
import { EnvConfigError, parseTestAppEnv, type TestAppConfig } from './config.ts';
import { startTestApp, type TestApp } from './test-app.ts';

let config: TestAppConfig;
try {
  config = parseTestAppEnv(process.env, hostname());
} catch (error) {
  if (!(error instanceof EnvConfigError)) throw error;
  console.error(`weft-testapp: ${error.message}`);
  process.exit(2);
}

const logger = pino({ name: 'weft-testapp', level: config.logLevel });

process.on('uncaughtException', (error) => {
  logger.fatal({ err: error }, 'uncaught exception');
  process.exit(1);
});
process.on('unhandledRejection', (reason) => {
  logger.fatal({ err: reason }, 'unhandled rejection');
  process.exit(1);
});

let app: TestApp;
try {
  app = await startTestApp({ ...config, logger });
} catch (error) {
  logger.fatal({ err: error }, 'could not start');
  process.exit(1);
}

let stopping = false;
const stop = (signal: NodeJS.Signals): void => {
  if (stopping) {
    logger.warn({ signal }, 'already shutting down');
    return;
  }
  stopping = true;
  logger.info({ signal }, 'signal received');
  app.close().then(
    () => process.exit(0),
    (error: unknown) => {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    },
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
