// Child process of propagation.bench.ts: opens one mTLS config stream per simulated proxy and reports, for every
// config message, the pod, the version and the receive time. Reads only the first bytes of each line.
import { readFileSync } from 'node:fs';
import * as https from 'node:https';
import { versionScanner } from './stream-versions.ts';

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
      res.on(
        'data',
        versionScanner((v) => out.push(`${JSON.stringify({ pod: c.pod, v, t: Date.now() })}\n`)),
      );
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
