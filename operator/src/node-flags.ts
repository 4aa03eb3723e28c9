// V8 flags and the glibc setting the operator's node runs with: in its Deployment (deploy/render.ts) and wherever
// tests and benches start it (test/e2e/operator/harness.ts).
//
// --max-semi-space-size=2 (MiB): the young generation stays small. With 5,000 pods and 1,000 services the
// live heap is about 120 MB, but V8's default young generation (up to 3 x 16 MiB, grown during the initial list
// and compile) kept the ready operator at 367-376 MB RSS. Measured with make bench-control-plane on 2 cores:
// ready with no streams, then after 20 rounds with 5,000 streams: default 368-376 / 931-934 MB; 4 MiB 256 /
// 851 MB; 2 MiB 234 / 896 MB (the streams' share is native TLS memory, untouched by the flag). Propagation
// stayed within run-to-run noise (5,000 proxies p50 217-284 ms default, 227 ms with 2 MiB).
//
// --heap-growing-percent=30: the old generation is collected once it has grown 30% past what the last full
// collection kept. V8 picks that factor itself from how busy the mutator is, and for the operator (mostly idle
// between bursts) it picked about 2: every weight change replaces the config of each affected proxy, whose old
// one (in the old generation by then) is garbage, so after 20 changes at 5,000 streams the heap held 160 MB of
// which a full collection kept 70-75 (--trace-gc), and nothing collected it while the operator was quiet.
// Measured with operator/bench/apiserver-propagation.bench.ts 5000 1000 20 (sealed streams, 2026-12-05):
// default: RSS right after the changes 333 MB (peak 348), 326 MB 12 s later; 30: 282 and 284 MB (peaks 294 and
// 286), 261 and 247 MB later; 50: 289 (peak 306), 275 later. Full collections went from 6 to 57 in a run (cold
// start and changes), each pausing 4-24 ms; propagation stayed within the runs' noise (5,000 p99 322 and 359 ms
// with 30, 294 default; 1,000 p99 105 and 94 with 30, 95 and 68 default, where the slow rounds were an apiserver
// or a publish of 89 ms); the first /readyz came 0.5-0.8 s later (3.4-3.7 s against 2.9).
export const OPERATOR_NODE_FLAGS: readonly string[] = [
  '--max-semi-space-size=2',
  '--heap-growing-percent=30',
];

// MALLOC_ARENA_MAX=2: glibc gives each thread that allocates (libuv's pool, V8's platform workers) an arena of its
// own, up to 8 per core, and each keeps what was freed in it. Set in the Deployment's env (glibc reads it at
// start) and by the test harness. Measured as above (one run against the four with --heap-growing-percent=30
// alone, 2026-12-05): ready 127 MB (134-148), after the cold start 229 (235-256),
// after the changes 271 (268-285), peak 273 (286-305), 12 s later 244 (247-261); propagation at 5,000 p99 291 ms
// (258-365). The operator does its work on its main thread, so two arenas cost it no contention that shows.
export const OPERATOR_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };
