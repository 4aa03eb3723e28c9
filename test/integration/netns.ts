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

/**
 * Joins two namespaces with a veth pair: `a` gets `addrA` (and `a6` if given), `b` gets `addrB` (and `b6`),
 * each a CIDR; both ends are up. Returns the interface names. Removing either namespace removes the pair.
 */
export async function linkNetns(
  a: TestNetns,
  b: TestNetns,
  addrs: { a: string[]; b: string[] },
): Promise<{ a: string; b: string }> {
  const base = `wv${randomBytes(3).toString('hex')}`;
  const names = { a: `${base}a`, b: `${base}b` };
  await run('ip', [
    'link',
    'add',
    names.a,
    'netns',
    a.name,
    'type',
    'veth',
    'peer',
    'name',
    names.b,
    'netns',
    b.name,
  ]);
  for (const [ns, dev, list] of [
    [a, names.a, addrs.a],
    [b, names.b, addrs.b],
  ] as const) {
    for (const cidr of list)
      await ns.exec('ip', [
        ...(cidr.includes(':') ? ['-6'] : []),
        'addr',
        'add',
        cidr,
        'dev',
        dev,
        ...(cidr.includes(':') ? ['nodad'] : []),
      ]);
    await ns.exec('ip', ['link', 'set', dev, 'up']);
  }
  return names;
}
