// Compiler scale benchmark (pure, in-process): N pods and S services across namespaces, full compile, then one
// TrafficSplit weight change. Run: node operator/bench/compile.bench.ts [pods] [services] [namespaces]
import { ProxyConfigCompiler } from '../src/compiler/compile.ts';
import { namespace, pod, put, service, slice, snapshot, split } from '../src/compiler/fixtures.ts';
import { mergeResults } from './results.ts';

const pods = Number(process.argv[2] ?? 5000);
const services = Number(process.argv[3] ?? 1000);
const namespaces = Number(process.argv[4] ?? 50);
const s = snapshot();
for (let n = 0; n < namespaces; n++) s.namespaces.set(`ns${n}`, namespace(`ns${n}`));
const ip = (i: number, base: number) => `10.${base}.${Math.floor(i / 250)}.${(i % 250) + 1}`;
const podsPerService = Math.ceil(pods / services);
for (let i = 0; i < services; i++) {
  const ns = `ns${i % namespaces}`;
  const svc = service(ns, `svc${i}`, ip(i, 96));
  put(s.services, svc);
  const members: [string, string][] = [];
  for (let j = 0; j < podsPerService; j++) {
    const p = i * podsPerService + j;
    if (p >= pods) break;
    put(s.pods, pod(ns, `pod${p}`, `sa${i}`, ip(p, 244)));
    members.push([`pod${p}`, ip(p, 244)]);
  }
  put(s.endpointSlices, slice(svc, members));
}
// One split per namespace over two of its services.
for (let n = 0; n < namespaces; n++) {
  put(
    s.trafficSplits,
    split(`ns${n}`, `split${n}`, `svc${n}`, [
      [`svc${n}`, 50],
      [`svc${n + namespaces}`, 50],
    ]),
  );
}
const c = new ProxyConfigCompiler();
const rss = () => Math.round(process.memoryUsage().rss / 1e6);
let t = performance.now();
const full = c.compile(s);
const fullMs = performance.now() - t;
const distinct = new Set(full.proxies.values());
const bytes =
  [...distinct].slice(0, 20).reduce((a, d) => a + d.chunks.reduce((n, c) => n + c.length, 0), 0) *
  (distinct.size / Math.min(20, distinct.size));
process.stdout.write(
  `full compile: ${fullMs.toFixed(0)} ms, ${full.proxies.size} proxies, ${distinct.size} distinct configs, ` +
    `avg ${Math.round(bytes / distinct.size / 1024)} KiB each, rss ${rss()} MB\n`,
);
mergeResults(process.env.WEFT_BENCH_OUT, {
  resync_s: Math.round(fullMs) / 1000,
  notes: {
    resync: `full compile of ${pods} pods / ${services} services from a warm cache (excludes the LIST calls themselves)`,
  },
});
for (let round = 0; round < 3; round++) {
  const s2 = { ...s, trafficSplits: new Map(s.trafficSplits) };
  put(
    s2.trafficSplits,
    split('ns0', 'split0', 'svc0', [
      ['svc0', 10 + round],
      [`svc${namespaces}`, 90],
    ]),
  );
  t = performance.now();
  const out = c.compile(s2);
  const ms = performance.now() - t;
  const changed = [...out.proxies].filter(([k, v]) => full.proxies.get(k)?.version !== v.version).length;
  process.stdout.write(
    `one split changed: ${ms.toFixed(0)} ms, ${changed} proxies with a new version, rss ${rss()} MB\n`,
  );
}
