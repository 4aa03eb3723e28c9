// The proxy image's entry point: `init ...` runs proxy-init (iptables, then exit); `proxy` runs the
// sidecar (control-plane agent plus data path); `run --config ...` is the standalone proxy; `await-ready`
// waits for the proxy's /ready (the classic-sidecar postStart hook). One image and one bundle for all of
// them, so they never disagree on ports or flags.
import { runAwaitReady } from './await-ready.ts';
import { runInit } from './init/main.ts';
import { runStandalone } from './main.ts';
import { runPodProxy } from './pod.ts';

const fatal = (err: unknown): void => {
  process.stderr.write(`weft-proxy failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
};

const [command, ...rest] = process.argv.slice(2);
switch (command) {
  case 'init':
    process.exitCode = runInit(rest);
    break;
  case 'proxy':
    runPodProxy().catch(fatal);
    break;
  case 'await-ready':
    void runAwaitReady(rest, process.env).then((code) => {
      process.exitCode = code;
    });
    break;
  case 'run':
    runStandalone(rest).catch(fatal);
    break;
  default:
    process.stderr.write(
      `weft-proxy: unknown command "${command ?? ''}"; expected: init, proxy, run, await-ready\n`,
    );
    process.exitCode = 2;
}
