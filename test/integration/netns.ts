// Network namespaces for tests: created with a unique name, removed (with their iptables rules,
// which live inside them) by the returned cleanup.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestNetns {
  readonly name: string;
  /** Runs a command inside the namespace; rejects with stderr on failure. */
  exec(cmd: string, args: readonly string[], timeoutMs?: number): Promise<string>;
  remove(): Promise<void>;
}

export async function createNetns(prefix: string): Promise<TestNetns> {
  const name = `weft-t-${prefix}-${randomBytes(3).toString('hex')}`;
  await run('ip', ['netns', 'add', name]);
  const exec = async (cmd: string, args: readonly string[], timeoutMs = 30_000): Promise<string> => {
    try {
      const { stdout } = await run('ip', ['netns', 'exec', name, cmd, ...args], { timeout: timeoutMs });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`[netns ${name}] ${cmd} ${args.join(' ')}: ${e.stderr?.trim() || e.message}`);
    }
  };
  await exec('ip', ['link', 'set', 'lo', 'up']);
  return {
    name,
    exec,
    remove: async () => {
      await run('ip', ['netns', 'del', name]).catch(() => undefined);
    },
  };
}
