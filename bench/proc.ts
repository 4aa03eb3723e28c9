// What the benches read about processes from /proc (Linux).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second, the unit of utime and stime in /proc/PID/stat. */
const CLK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** CPU time of the processes so far (all their threads), in microseconds: user + system, and the user part alone.
 * A process gone meanwhile counts nothing. */
export function cpuUs(pids: readonly number[]): { total: number; user: number } {
  let user = 0;
  let sys = 0;
  for (const p of pids) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces), from field 3 (state): utime and stime are 14 and 15.
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      user += Number(f[11]);
      sys += Number(f[12]);
    } catch {}
  }
  return { total: ((user + sys) / CLK) * 1e6, user: (user / CLK) * 1e6 };
}
