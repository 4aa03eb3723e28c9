// The meshed part of `make demo`. With Weft installed and samples/mesh running in a namespace, the client
// pod sends a steady stream of requests to the `web` service (it makes the calls, through its proxy; this
// script only asks it to, in batches). The TrafficSplit goes to 90/10, then 50/50, and every two seconds
// the script prints, per backend, the request rate, success rate and latency read from the client proxy's
// own metrics (response_total and response_latency_ms, labelled with the backend that served).
// Usage: node test/demo/mesh-demo.ts <namespace> [seconds per phase]
import { execFileSync } from 'node:child_process';

const ns = process.argv[2] ?? 'weft-demo';
const phaseSeconds = Number(process.argv[3] ?? 12);
const kubectl = process.env.KUBECTL ?? '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';
const k = (...args: string[]) => execFileSync(kubectl, ['-n', ns, ...args], { encoding: 'utf8' });
const out = (line: string) => process.stdout.write(`${line}\n`);

interface Totals {
  ok: number;
  failed: number;
  /** Cumulative histogram: upper bound (ms) -> count. */
  buckets: Map<number, number>;
}

/** Outbound responses of the client proxy per backend service (dst_service). */
function parse(text: string): Map<string, Totals> {
  const byBackend = new Map<string, Totals>();
  const get = (b: string) => {
    let t = byBackend.get(b);
    if (t === undefined) {
      t = { ok: 0, failed: 0, buckets: new Map() };
      byBackend.set(b, t);
    }
    return t;
  };
  for (const line of text.split('\n')) {
    const m = /^(response_total|response_latency_ms_bucket)\{(.*)\} ([^ ]+)$/.exec(line);
    if (m === null) continue;
    const labels: Record<string, string> = {};
    for (const l of m[2]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    if (labels.direction !== 'outbound' || labels.dst_service === undefined) continue;
    const t = get(labels.dst_service);
    const value = Number(m[3]);
    if (m[1] === 'response_total') {
      if (labels.classification === 'success') t.ok += value;
      else t.failed += value;
    } else {
      const le = labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(labels.le);
      t.buckets.set(le, (t.buckets.get(le) ?? 0) + value);
    }
  }
  return byBackend;
}

/** The bucket bound under which quantile q of the window's responses fell. */
function quantile(before: Map<number, number> | undefined, after: Map<number, number>, q: number): string {
  const les = [...after.keys()].sort((a, b) => a - b);
  const counts = les.map((le) => (after.get(le) ?? 0) - (before?.get(le) ?? 0));
  const total = counts.at(-1) ?? 0;
  if (total <= 0) return '-';
  const le = les[counts.findIndex((c) => c >= q * total)] ?? Number.POSITIVE_INFINITY;
  return Number.isFinite(le) ? `<${le}ms` : '>max';
}

async function scrape(ip: string): Promise<Map<string, Totals>> {
  const res = await fetch(`http://${ip}:15190/metrics`, { signal: AbortSignal.timeout(5000) });
  return parse(await res.text());
}

/** Keeps the client busy: batches of calls to http://web until stopped. */
function startLoad(ip: string): { stop: () => Promise<void>; errors: () => number } {
  let running = true;
  let errors = 0;
  const loop = (async () => {
    while (running) {
      try {
        const res = await fetch(`http://${ip}:8080/call`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ url: 'http://web/echo', count: 40, concurrency: 2 }),
          signal: AbortSignal.timeout(30_000),
        });
        await res.arrayBuffer();
      } catch {
        errors++;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
    },
    errors: () => errors,
  };
}

async function phase(weights: string, ip: string): Promise<void> {
  k('apply', '-f', `samples/mesh/split-${weights}.yaml`);
  out(`\n$ kubectl -n ${ns} apply -f samples/mesh/split-${weights}.yaml   (web-v1/web-v2 = ${weights})`);
  out('  time  backend   req/s   success  p50      p99');
  let before = await scrape(ip);
  let at = Date.now();
  for (let elapsed = 0; elapsed < phaseSeconds; elapsed += 2) {
    await new Promise((r) => setTimeout(r, 2000));
    const now = await scrape(ip);
    const seconds = (Date.now() - at) / 1000;
    for (const backend of ['web-v1', 'web-v2']) {
      const a = now.get(backend) ?? { ok: 0, failed: 0, buckets: new Map() };
      const b = before.get(backend);
      const ok = a.ok - (b?.ok ?? 0);
      const n = ok + a.failed - (b?.failed ?? 0);
      const rate = (n / seconds).toFixed(1).padStart(6);
      const success = n === 0 ? '     -' : `${((100 * ok) / n).toFixed(1)}%`.padStart(6);
      out(
        `  ${String(elapsed + 2).padStart(3)}s  ${backend}  ${rate}   ${success}   ${quantile(b?.buckets, a.buckets, 0.5).padEnd(7)}  ${quantile(b?.buckets, a.buckets, 0.99)}`,
      );
    }
    before = now;
    at = Date.now();
  }
}

const clientIp = k('get', 'pods', '-l', 'app=client', '-o', 'jsonpath={.items[0].status.podIP}').trim();
const load = startLoad(clientIp);
try {
  await phase('90-10', clientIp);
  await phase('50-50', clientIp);
} finally {
  await load.stop();
}
if (load.errors() > 0) out(`\n${load.errors()} load batches failed (see the client's logs)`);
