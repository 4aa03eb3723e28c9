// `weft-proxy await-ready`: exits 0 once the proxy's admin /ready answers 200 on loopback, 1 after the
// timeout. The injector's classic-sidecar fallback runs it as the proxy's postStart hook: kubelet starts
// the next container (the app) only when the hook returns, so the app never starts before the proxy.
import http from 'node:http';

function readyOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/ready', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

export async function awaitReady(port: number, timeoutMs: number, intervalMs = 200): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await readyOnce(port)) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** argv: [--timeout-seconds N]; the admin port comes from WEFT_ADMIN_PORT (the injector sets it). */
export async function runAwaitReady(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const port = Number(env.WEFT_PROXY_ADMIN_PORT || env.WEFT_ADMIN_PORT || 15190);
  const i = argv.indexOf('--timeout-seconds');
  const seconds = i >= 0 ? Number(argv[i + 1]) : 120;
  if (!Number.isInteger(port) || port < 1 || port > 65535 || !(seconds > 0)) {
    process.stderr.write(
      'weft-proxy await-ready: WEFT_ADMIN_PORT must be a port and --timeout-seconds > 0\n',
    );
    return 2;
  }
  if (await awaitReady(port, seconds * 1000)) return 0;
  process.stderr.write(`weft-proxy await-ready: the proxy was not ready within ${seconds} s\n`);
  return 1;
}
