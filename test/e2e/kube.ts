// A thin shell over the real kubectl for end-to-end tests: apply, get, exec, logs, wait.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);
const kubectlPath = process.env.WEFT_KUBECTL ?? 'kubectl';

export interface KubectlResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs kubectl; rejects with its stderr when it exits non-zero. */
export async function kubectl(args: readonly string[], input?: string): Promise<KubectlResult> {
  const child = run(kubectlPath, [...args], { maxBuffer: 64 * 1024 * 1024, timeout: 120_000 });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  try {
    const { stdout, stderr } = await child;
    return { stdout, stderr };
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`kubectl ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** kubectl get -o json, parsed. */
export async function getJson<T = Record<string, unknown>>(args: readonly string[]): Promise<T> {
  const { stdout } = await kubectl(['get', ...args, '-o', 'json']);
  return JSON.parse(stdout) as T;
}

/** Creates a namespace with a unique name and returns it. */
export async function createTestNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await kubectl(['create', 'namespace', name]);
  // Pods can only be created once the namespace's default ServiceAccount exists.
  await waitFor(`serviceaccount default in ${name}`, 60_000, async () => {
    await kubectl(['-n', name, 'get', 'serviceaccount', 'default']);
    return true;
  });
  return name;
}

export async function deleteNamespace(name: string): Promise<void> {
  await kubectl(['delete', 'namespace', name, '--wait=false', '--ignore-not-found']);
}

/** Polls fn until it returns a truthy value; rejects with the last error after timeoutMs. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  fn: () => Promise<T | undefined | false>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
