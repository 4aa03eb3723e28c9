// Child process of propagation.bench.ts: opens one mTLS config stream per simulated proxy and reports, for every
// config message, the pod, the version and the receive time. Reads only the first bytes of each line.
import { readFileSync } from 'node:fs';
import * as https from 'node:https';

const [port, file, mode] = [Number(process.argv[2]), process.argv[3]!, process.argv[4] ?? 'full'];
const { ca, clients } = JSON.parse(readFileSync(file, 'utf8')) as {
  ca: string[];
  clients: { pod: string; key: string; cert: string }[];
};
const out: string[] = [];
const flush = () => {
  if (out.length > 0) process.stdout.write(out.splice(0).join(''));
};
setInterval(flush, 20).unref();
let connected = 0;
const VERSION = /"version":"(sha256:[0-9a-f]{64})"/;

function open(c: { pod: string; key: string; cert: string }): void {
  const req = https.request(
    {
      host: '127.0.0.1',
      port,
      path: `/v1alpha1/config?pod=${encodeURIComponent(c.pod)}${mode === 'patch' ? '&accept=patch' : ''}`,
      ca,
      key: c.key,
      cert: c.cert,
      servername: 'localhost',
      agent: false,
    },
    (res) => {
      connected++;
      if (connected === clients.length) process.stderr.write(`all ${connected} streams open\n`);
      // Bytes, not strings: decoding hundreds of MiB per second to UTF-8 would make this process the bottleneck.
      let atLineStart = true;
      let prefix = '';
      res.on('data', (chunk: Buffer) => {
        let i = 0;
        while (i < chunk.length) {
          if (atLineStart || prefix.length > 0) {
            const take = chunk.toString('latin1', i, Math.min(chunk.length, i + (200 - prefix.length)));
            prefix += take;
            atLineStart = false;
            if (prefix.length >= 200 || take.includes('\n')) {
              const m = VERSION.exec(prefix);
              if (m !== null) out.push(`${JSON.stringify({ pod: c.pod, v: m[1], t: Date.now() })}\n`);
              prefix = '';
            }
          }
          const nl = chunk.indexOf(10, i);
          if (nl < 0) break;
          i = nl + 1;
          atLineStart = true;
          prefix = '';
        }
      });
    },
  );
  req.on('error', (err) => process.stderr.write(`stream ${c.pod}: ${err.message}\n`));
  req.end();
}

// Open gradually so the handshakes do not all land at once.
let next = 0;
const opener = setInterval(() => {
  for (let k = 0; k < 50 && next < clients.length; k++) open(clients[next++]!);
  if (next >= clients.length) clearInterval(opener);
}, 10);
