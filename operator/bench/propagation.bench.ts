// Propagation benchmark without the apiserver: the operator's compiler, hub and real HTTPS server in this
// process; N simulated proxies in a child process, each with its own mTLS stream. Changes one TrafficSplit weight
// R times and measures the time until the last affected proxy has the new version.
//   node operator/bench/propagation.bench.ts <proxies> <services> <namespaces> <rounds> [full|patch]
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { ProxyConfigCompiler } from '../src/compiler/compile.ts';
import { namespace, pod, put, service, slice, snapshot, split } from '../src/compiler/fixtures.ts';
import { ConfigHub } from '../src/distribution/hub.ts';
import {
  CertificateAuthority,
  generateIssuer,
  generateTrustAnchor,
  keyToPem,
  spiffeIdFor,
} from '../src/identity/index.ts';
import { loopbackServingCert } from '../src/identity/testing.ts';
import { OperatorMetrics } from '../src/metrics.ts';
import { createControlPlaneServer } from '../src/server.ts';
import { mergeResults } from './results.ts';

const arg = (i: number, fallback: number) => Number(process.argv[i] ?? fallback);
const [proxies, services, namespaces, rounds] = [arg(2, 1000), arg(3, 200), arg(4, 20), arg(5, 20)];
const mode = process.argv[6] === 'patch' ? 'patch' : 'full';
const TD = 'cluster.local';
const anchor = generateTrustAnchor(TD);
const ca = new CertificateAuthority(
  { anchors: [anchor.cert], issuer: generateIssuer(anchor, TD) },
  { trustDomain: TD },
);
const s = snapshot({ ...snapshot().settings, trustAnchors: ca.trustAnchorsPem });
for (let n = 0; n < namespaces; n++) s.namespaces.set(`ns${n}`, namespace(`ns${n}`));
const ip = (i: number, base: number) => `10.${base}.${Math.floor(i / 250)}.${(i % 250) + 1}`;
const perService = Math.ceil(proxies / services);
const clients: { pod: string; key: string; cert: string }[] = [];
const certBySa = new Map<string, { key: string; cert: string }>();
for (let i = 0; i < services; i++) {
  const ns = `ns${i % namespaces}`;
  const svc = service(ns, `svc${i}`, ip(i, 96));
  put(s.services, svc);
  const members: [string, string][] = [];
  for (let j = 0; j < perService && i * perService + j < proxies; j++) {
    const p = i * perService + j;
    put(s.pods, pod(ns, `pod${p}`, `sa${i}`, ip(p, 244)));
    members.push([`pod${p}`, ip(p, 244)]);
    let c = certBySa.get(`${ns}/sa${i}`);
    if (c === undefined) {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const issued = ca.issueVerified(
        { spki: publicKey.export({ type: 'spki', format: 'der' }), publicKey },
        spiffeIdFor(TD, ns, `sa${i}`),
      );
      c = { key: keyToPem(privateKey), cert: issued.certificateChain };
      certBySa.set(`${ns}/sa${i}`, c);
    }
    clients.push({ pod: `${ns}/pod${p}`, ...c });
  }
  put(s.endpointSlices, slice(svc, members));
}
put(
  s.trafficSplits,
  split('ns0', 'split0', 'svc0', [
    ['svc0', 50],
    [`svc${namespaces}`, 50],
  ]),
);

const log = pino({ level: 'warn' });
const metrics = new OperatorMetrics();
const hub = new ConfigHub({ observer: metrics.hubObserver(), writeTimeoutMs: 60_000 });
const compiler = new ProxyConfigCompiler();
hub.publish(compiler.compile(s).proxies);
const server = createControlPlaneServer({
  ca,
  serving: loopbackServingCert(ca, TD),
  hub,
  pod: (k) => s.pods.get(k),
  reviewToken: () => Promise.reject(new Error('not used')),
  metrics,
  log,
  // Every simulated proxy streams from loopback: room for all of them past the reserve kept for certificate requests.
  limits: { maxConnections: 2 * proxies + 100, maxConnectionsPerAddress: 2 * proxies + 100 },
});
await server.listen(0, 0, '127.0.0.1');
const port = server.ports.tls;
const file = join(mkdtempSync(join(tmpdir(), 'weft-prop-')), 'clients.json');
writeFileSync(file, JSON.stringify({ ca: ca.trustAnchorsPem, clients }));

const child = spawn(
  process.execPath,
  [new URL('./propagation-clients.ts', import.meta.url).pathname, String(port), file, mode],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
const seen = new Map<string, Map<string, number>>(); // version -> pod -> time
createInterface({ input: child.stdout! }).on('line', (line) => {
  const m = JSON.parse(line) as { pod: string; v: string; t: number };
  let per = seen.get(m.v);
  if (per === undefined) {
    per = new Map();
    seen.set(m.v, per);
  }
  per.set(m.pod, m.t);
});
const waitAll = async (versionOf: (pod: string) => string, timeoutMs: number): Promise<number | null> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let last = 0;
    let missing = 0;
    for (const c of clients) {
      const t = seen.get(versionOf(c.pod))?.get(c.pod);
      if (t === undefined) missing++;
      else last = Math.max(last, t);
    }
    if (missing === 0) return last;
    if (Date.now() > deadline) {
      process.stderr.write(`timeout: ${missing} proxies missing the version\n`);
      return null;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
};
// Memory of this process (the operator's parts: compiler, hub, server) sampled every 250 ms.
const mb = (n: number) => Math.round(n / 1e6);
const peak = { rss: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
const sampler = setInterval(() => {
  const m = process.memoryUsage();
  for (const k of Object.keys(peak) as (keyof typeof peak)[]) peak[k] = Math.max(peak[k], m[k]);
}, 250);
sampler.unref();
const memLine = (label: string) => {
  const m = process.memoryUsage();
  process.stderr.write(
    `${label}: rss ${mb(m.rss)} MB, heap ${mb(m.heapUsed)}/${mb(m.heapTotal)} MB, external ${mb(m.external)} MB, arrayBuffers ${mb(m.arrayBuffers)} MB; peaks rss ${mb(peak.rss)} heap ${mb(peak.heapUsed)} external ${mb(peak.external)} arrayBuffers ${mb(peak.arrayBuffers)}\n`,
  );
};
memLine('before subscribers');
const t0 = Date.now();
// Bytes waiting in the server's sockets (JS side, before TLS), sampled with the memory when WEFT_BENCH_TRACE=1.
const sockets = new Set<import('node:net').Socket>();
server.tls.on('secureConnection', (sock) => {
  sockets.add(sock);
  sock.once('close', () => sockets.delete(sock));
});
if (process.env.WEFT_BENCH_TRACE === '1') {
  setInterval(() => {
    let pendingBytes = 0;
    for (const so of sockets) pendingBytes += so.writableLength;
    memLine(
      `t+${Date.now() - t0} ms, ${sockets.size} sockets, ${hub.subscriberCount} subscribers, ${mb(pendingBytes)} MB pending in sockets`,
    );
  }, 3000).unref();
}
let current = compiler.compile(s).proxies;
if ((await waitAll((p) => current.get(p)!.version, 300_000)) === null) process.exit(1);
process.stderr.write(`initial snapshot at all ${proxies} proxies after ${Date.now() - t0} ms\n`);
memLine('after initial snapshot');

const latencies: number[] = [];
for (let r = 0; r < rounds; r++) {
  put(
    s.trafficSplits,
    split('ns0', 'split0', 'svc0', [
      ['svc0', 10 + r],
      [`svc${namespaces}`, 90],
    ]),
  );
  const start = Date.now();
  const before = current;
  current = compiler.compile(s).proxies;
  hub.publish(current);
  const affected = clients.filter((c) => before.get(c.pod)!.version !== current.get(c.pod)!.version).length;
  const last = await waitAll((p) => current.get(p)!.version, 120_000);
  if (last === null) break;
  latencies.push(last - start);
  process.stderr.write(`round ${r}: ${affected} affected, last proxy after ${last - start} ms\n`);
  await new Promise((r2) => setTimeout(r2, 200));
}
memLine('after rounds');
latencies.sort((a, b) => a - b);
const q = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.ceil(p * latencies.length) - 1)] ?? null;
const bytes =
  [...new Set(current.values())].reduce((a, c) => a + c.chunks.reduce((n, x) => n + x.length, 0), 0) /
  new Set(current.values()).size;
process.stdout.write(
  `${JSON.stringify({ mode, proxies, services, namespaces, rounds: latencies.length, config_kib: Math.round(bytes / 1024), p50_ms: q(0.5), p99_ms: q(0.99), max_ms: latencies.at(-1) ?? null, operator_rss_mb: Math.round(process.memoryUsage().rss / 1e6), heap_used_mb: Math.round(process.memoryUsage().heapUsed / 1e6), external_mb: Math.round(process.memoryUsage().external / 1e6) })}\n`,
);
mergeResults(process.env.WEFT_BENCH_OUT, {
  propagation_in_process: {
    [String(proxies)]: { p50_ms: q(0.5), p99_ms: q(0.99), max_ms: latencies.at(-1) ?? null },
  },
  operator_rss_mb: Math.round(process.memoryUsage().rss / 1e6),
  notes: {
    [`propagation_in_process_${proxies}`]: `in-process operator (compiler + hub + HTTPS server), ${proxies} mTLS subscribers in a child process on the same cores, ${services} services in ${namespaces} meshed namespaces, mode ${mode}, ${latencies.length} weight changes made in memory (not through the apiserver)`,
  },
});
child.kill();
hub.close();
void server.close();
