// proxy-init: installs the pod's redirect rules, then exits. Runs as an init container with
// NET_ADMIN and NET_RAW only. Usage: init --outbound-port=N --inbound-port=N --proxy-uid=N [...]
import { execFileSync } from 'node:child_process';
import { pino } from 'pino';
import { InitArgumentError, JUMPS, natRules, parseInitArgs } from './rules.ts';

const logger = pino({ name: 'weft-init' });

function run(cmd: string, args: readonly string[], input?: string): boolean {
  try {
    execFileSync(cmd, args, { input, stdio: ['pipe', 'ignore', 'pipe'] });
    return true;
  } catch (error) {
    if (input !== undefined)
      throw new Error(`${cmd} failed: ${String((error as { stderr?: Buffer }).stderr ?? error)}`);
    return false;
  }
}

export function applyRules(argv: readonly string[], binaries = { v4: 'iptables', v6: 'ip6tables' }): void {
  const options = parseInitArgs(argv);
  for (const [family, bin] of [
    [4, binaries.v4],
    [6, binaries.v6],
  ] as const) {
    if (family === 6 && !run(`${bin}`, ['-t', 'nat', '-S', 'OUTPUT'])) {
      logger.warn('ip6tables nat table unavailable; IPv6 traffic is not redirected');
      continue;
    }
    // A restarted init container finds its own rules: drop the jumps, the chains are redeclared below.
    for (const jump of JUMPS) while (run(bin, ['-w', '-t', 'nat', '-D', ...jump]));
    run(`${bin}-restore`, ['-w', '--noflush'], natRules(options, family));
    logger.info({ family, options }, 'redirect rules installed');
  }
}

/** Runs proxy-init with its flags; returns the process exit code (2: bad flags, 1: iptables failed). */
export function runInit(argv: readonly string[]): number {
  try {
    applyRules(argv);
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    logger.fatal({ invalidArguments: error instanceof InitArgumentError }, message);
    return error instanceof InitArgumentError ? 2 : 1;
  }
}
