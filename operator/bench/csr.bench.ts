// CSR verify + leaf signing rate on one core, through the operator's CertificateAuthority (no HTTP, no
// TokenReview). Run: node operator/bench/csr.bench.ts [seconds] ; WEFT_BENCH_OUT=<file> merges csr_per_second.
import {
  CertificateAuthority,
  generateIssuer,
  generateTrustAnchor,
  spiffeIdFor,
} from '../src/identity/index.ts';
import { opensslCsr } from '../src/identity/testing.ts';
import { mergeResults } from './results.ts';

const seconds = Number(process.argv[2] ?? 3);
const anchor = generateTrustAnchor('cluster.local');
const ca = new CertificateAuthority(
  { anchors: [anchor.cert], issuer: generateIssuer(anchor, 'cluster.local') },
  { trustDomain: 'cluster.local' },
);
const csrs = Array.from({ length: 16 }, () => opensslCsr().csrPem);
const id = spiffeIdFor('cluster.local', 'shop', 'frontend');
for (let i = 0; i < 200; i++) ca.issue(csrs[i % csrs.length]!, id);
let n = 0;
const start = performance.now();
while (performance.now() - start < seconds * 1000) {
  ca.issue(csrs[n % csrs.length]!, id);
  n++;
}
const perSecond = Math.round((n * 1000) / (performance.now() - start));
process.stdout.write(`${JSON.stringify({ csr_per_second: perSecond })}\n`);
mergeResults(process.env.WEFT_BENCH_OUT, { csr_per_second: perSecond });
