// The proxy image's entry point: `init ...` runs proxy-init (iptables, then exit); `proxy` runs the
// sidecar. One image and one bundle for both, so they never disagree on ports or flags.
import { runInit } from './init/main.ts';

const [command, ...rest] = process.argv.slice(2);
switch (command) {
  case 'init':
    process.exitCode = runInit(rest);
    break;
  default:
    process.stderr.write(`weft-proxy: unknown command "${command ?? ''}"; expected: init\n`);
    process.exitCode = 2;
}
