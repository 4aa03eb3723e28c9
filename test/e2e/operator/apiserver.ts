// Stops and restarts the local cluster's kube-apiserver (test/cluster/up.sh starts it with `setsid`, remembers its
// PID in $STATE_DIR/pids/kube-apiserver.pid and appends its output to $STATE_DIR/logs/kube-apiserver.log). The
// restart re-launches exactly what ran: the argv, environment and working directory read from /proc before the
// stop, in a new session, appending to the same log, and writes the new PID back so cluster-down still finds it.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { kubectl } from '../kube.ts';

const STATE_DIR = process.env.WEFT_CLUSTER_STATE ?? '/var/lib/weft-cluster';
const PID_FILE = `${STATE_DIR}/pids/kube-apiserver.pid`;
const LOG_FILE = `${STATE_DIR}/logs/kube-apiserver.log`;

/** What is needed to launch the apiserver again exactly as it ran. */
export interface ApiserverLaunch {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The PID of the running apiserver, or null (no PID file, or its process is gone or is something else). */
export function apiserverPid(): number | null {
  if (!existsSync(PID_FILE)) return null;
  const pid = Number(readFileSync(PID_FILE, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return null;
  try {
    const argv0 = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '';
    return argv0.endsWith('/kube-apiserver') ? pid : null;
  } catch {
    return null;
  }
}

/** Reads the running apiserver's launch from /proc; throws when the cluster's apiserver cannot be found. */
export function currentLaunch(): ApiserverLaunch {
  const pid = apiserverPid();
  if (pid === null) throw new Error(`no running kube-apiserver behind ${PID_FILE}`);
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  if (argv.at(-1) === '') argv.pop();
  const env: Record<string, string> = {};
  for (const kv of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return { argv, env, cwd: readlinkSync(`/proc/${pid}/cwd`) };
}

/** SIGTERM, and SIGKILL if it has not exited after `graceMs`. Resolves once the process is gone. */
export async function stopApiserver(graceMs = 15_000): Promise<void> {
  const pid = apiserverPid();
  if (pid === null) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive(pid)) {
    if (Date.now() > deadline) process.kill(pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Launches the apiserver as it ran before (a new session, output appended to its log); returns the PID. */
export function startApiserver(launch: ApiserverLaunch): number {
  const log = openSync(LOG_FILE, 'a');
  try {
    const child = spawn(launch.argv[0]!, launch.argv.slice(1), {
      cwd: launch.cwd,
      env: launch.env,
      detached: true,
      stdio: ['ignore', log, log],
    });
    child.unref();
    if (child.pid === undefined) throw new Error(`could not launch ${launch.argv[0]}`);
    writeFileSync(PID_FILE, `${child.pid}\n`);
    return child.pid;
  } finally {
    closeSync(log);
  }
}

/** Polls the apiserver's /readyz until it answers ok. */
export async function waitApiserverReady(timeoutMs: number): Promise<number> {
  const start = Date.now();
  for (;;) {
    try {
      const { stdout } = await kubectl(['get', '--raw', '/readyz', '--request-timeout=2s']);
      if (stdout.trim() === 'ok') return Date.now() - start;
    } catch {
      // not up yet
    }
    if (Date.now() - start > timeoutMs) throw new Error(`kube-apiserver not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** For afterAll: whatever happened, leave a running, ready apiserver behind. */
export async function ensureApiserverRunning(launch: ApiserverLaunch, timeoutMs = 120_000): Promise<void> {
  if (apiserverPid() === null) startApiserver(launch);
  await waitApiserverReady(timeoutMs);
}
