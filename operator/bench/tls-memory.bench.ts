// What one held TLS connection costs a Node.js server in resident memory: the floor under the operator's
// "RSS with N config streams". A TLS server (and an HTTPS server, as the operator's control plane is) runs in
// a child process (and an HTTPS server that takes each connection over with HTTP Upgrade, the way a stream can
// shed the HTTP objects); this process opens N connections to it, the server writes one message of B bytes to each,
// and the child reports its RSS before and after. No mesh code: this is Node's and OpenSSL's share (the SSL
// object, its record buffers, the TLSWrap BIOs, and for HTTPS the parser and response objects). The last kind is
// the operator's TLS stream: an upgraded stream whose client presented a certificate. And, for comparison, what
// the operator's sealed streams hold instead: a plain TCP socket written one sealed frame
// (crds/control-plane/sealed.ts).
//   node operator/bench/tls-memory.bench.ts [connections=2000]
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as https from 'node:https';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import * as tls from 'node:tls';
import { FrameSealer } from '../../crds/control-plane/sealed.ts';
import { CONFIG_STREAM_UPGRADE } from '../../crds/control-plane/types.ts';

const rssKb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]);

if (process.argv[2] === 'server') {
  // Child: serve; print the port, then "rss <kB>" whenever asked on stdin.
  const [kind, bytes, key, cert] = process.argv.slice(3) as [string, string, string, string];
  // https-upgrade-mtls: as the operator's control plane, the client must present a certificate (here the
  // server's own self-signed one, which is also the CA), which the connection then holds.
  const mtls = kind === 'https-upgrade-mtls';
  const opts = {
    key: readFileSync(key),
    cert: readFileSync(cert),
    minVersion: 'TLSv1.3' as const,
    ...(mtls ? { requestCert: true, rejectUnauthorized: true, ca: readFileSync(cert) } : {}),
  };
  const payload = Buffer.alloc(Number(bytes), 'x');
  // sealed: one key per connection, as each stream has its own.
  const server =
    kind === 'sealed'
      ? net.createServer((s) => s.once('data', () => s.write(new FrameSealer(randomBytes(32)).seal(payload))))
      : kind === 'tls'
        ? tls.createServer(opts, (s) => s.write(payload))
        : https.createServer(opts, (_req, res) => {
            res.writeHead(200);
            res.write(payload);
          });
  // https-upgrade: the HTTPS server takes the stream over with HTTP Upgrade (101), then writes on the bare
  // TLS socket, so no parser, request or response object stays attached to the connection.
  if (kind.startsWith('https-upgrade'))
    server.on('upgrade', (_req, socket) => {
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${CONFIG_STREAM_UPGRADE}\r\n\r\n`,
      );
      socket.write(payload);
    });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`port ${(server.address() as { port: number }).port}\n`);
  });
  createInterface({ input: process.stdin }).on('line', () => process.stdout.write(`rss ${rssKb()}\n`));
} else {
  const n = Number(process.argv[2] ?? 2000);
  const dir = mkdtempSync(path.join(tmpdir(), 'weft-tls-memory-'));
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  const secureContext = tls.createSecureContext({ ca: readFileSync(cert) });
  const clientCertContext = tls.createSecureContext({
    ca: readFileSync(cert),
    key: readFileSync(key),
    cert: readFileSync(cert),
  });

  async function measure(
    kind: 'tls' | 'https' | 'https-upgrade' | 'https-upgrade-mtls' | 'sealed',
    bytes: number,
  ): Promise<number> {
    const child = spawn(process.execPath, [import.meta.filename, 'server', kind, String(bytes), key, cert], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const next = async () => String((await lines.next()).value ?? '').split(' ')[1];
    const port = Number(await next());
    const rss = async () => {
      child.stdin!.write('\n');
      return Number(await next());
    };
    const before = await rss();
    const held: net.Socket[] = [];
    // A hundred handshakes at a time: thousands at once overflow the listen backlog.
    for (let p = 0; p < n; p += 100) {
      await Promise.all(
        Array.from(
          { length: Math.min(100, n - p) },
          () =>
            new Promise<void>((resolve, reject) => {
              if (kind === 'sealed') {
                const plain = net.connect({ port, host: '127.0.0.1' });
                plain.write('x');
                plain.once('data', () => resolve());
                plain.on('error', reject);
                held.push(plain);
                return;
              }
              const s = tls.connect({
                port,
                host: '127.0.0.1',
                secureContext: kind === 'https-upgrade-mtls' ? clientCertContext : secureContext,
                servername: 'localhost',
              });
              s.write(
                kind.startsWith('https-upgrade')
                  ? `GET / HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: ${CONFIG_STREAM_UPGRADE}\r\n\r\n`
                  : 'GET / HTTP/1.0\r\nHost: localhost\r\n\r\n',
              );
              s.once('data', () => resolve());
              s.on('error', reject);
              held.push(s);
            }),
        ),
      );
    }
    await new Promise((r) => setTimeout(r, 500));
    const after = await rss();
    for (const s of held) s.destroy();
    child.kill('SIGKILL');
    return Math.round((after - before) / n);
  }

  const rows: string[] = [];
  for (const kind of ['tls', 'https', 'https-upgrade', 'https-upgrade-mtls', 'sealed'] as const) {
    for (const bytes of [100, 16_384]) {
      rows.push(
        `${kind} server, one ${bytes}-byte message per connection: ${await measure(kind, bytes)} KB RSS each`,
      );
    }
  }
  rmSync(dir, { recursive: true, force: true });
  process.stdout.write(`${n} connections held, Node ${process.version}\n${rows.join('\n')}\n`);
}
