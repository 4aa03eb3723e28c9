// Runs the real webhook entry point (webhooks/src/main.ts) as a child process on the host, where the
// apiserver reaches it at https://127.0.0.1:<port>.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';

export interface WebhookProcess {
  child: ChildProcess;
  port: number;
  output(): string;
  stop(): Promise<void>;
}

/** A port free right now on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Starts the webhook process with `env` (WEFT_WEBHOOK_*) and resolves once it listens. */
export async function startWebhookProcess(
  port: number,
  env: Record<string, string>,
): Promise<WebhookProcess> {
  const child = spawn(process.execPath, ['webhooks/src/main.ts'], {
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      WEFT_WEBHOOK_HOST: '127.0.0.1',
      WEFT_WEBHOOK_PORT: String(port),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => {
    out += b.toString('utf8');
  });
  child.stderr?.on('data', (b: Buffer) => {
    out += b.toString('utf8');
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`webhook process did not start in 30 s:\n${out}`)),
      30_000,
    );
    const check = () => {
      if (out.includes('"webhook server listening"')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`webhook process exited with ${code}:\n${out}`));
    });
  });
  return {
    child,
    port,
    output: () => out,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
