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
// --heap-growing-percent=50: the old generation is collected once it has grown 50% past what the last full
// collection kept. V8 picks that factor itself from how busy the mutator is, and for the operator (mostly idle
// between bursts) it picked about 2: every weight change replaces the config of each affected proxy, whose old
// one (in the old generation by then) is garbage, so after 20 changes at 5,000 streams the heap held 160-173 MB
// of which a full collection kept 70-75 (--trace-gc). Measured with operator/bench/apiserver-propagation.bench.ts
// (sealed streams, 2026-12-05; RSS right after 20 changes / peak / 12 s later, p99):
// - 5,000 proxies, without MALLOC_ARENA_MAX: default 333 / 348 / 326 MB; 30: 268-285 / 286-305 / 247-261 (four
//   runs); 50: 289 / 306 / 275. With MALLOC_ARENA_MAX=2 (below): default 332 / 345 / 315 MB, p99 241 ms; 30:
//   263-271 / 266-273 / 244-245, p99 291-325; 50: 261 / 279 / 261, p99 291.
// - 1,000 proxies, with MALLOC_ARENA_MAX=2, interleaved runs: default p99 93, 101, 110, 118, 96 ms (median publish
//   31-38 ms); 30: 134, 152, 112 (publish 37-47: full collections every few changes slowed it); 50: 86, 102
//   (publish 35-36).
// So 50: its two 1,000-proxy runs sit within the default's spread (30's did not), and at 5,000 it keeps most of
// 30's saving. Its single 5,000-proxy run had p99 291 ms against the default's 241 in the same hour (the spread of
// that figure between runs is 258-393 ms). The final make bench-control-plane with 50 and MALLOC_ARENA_MAX=2:
// 289 / 293 / 264 MB, p99 259 ms at 5,000 and 99 ms at 1,000. Full collections pause 4-24 ms each.
export const OPERATOR_NODE_FLAGS: readonly string[] = [
  '--max-semi-space-size=2',
  '--heap-growing-percent=50',
];

// MALLOC_ARENA_MAX=2: glibc gives each thread that allocates (libuv's pool, V8's platform workers) an arena of its
// own, up to 8 per core, and each keeps what was freed in it. Set in the Deployment's env (glibc reads it at
// start) and by the test harness. Measured with --heap-growing-percent=30 at 5,000 proxies (two runs with it, four
// without): ready 127 MB against 134-148, after the cold start 229-240 against 235-256, peak 266-273 against
// 286-305, 12 s later 244-245 against 247-261. With 50, one run each way (261 against 289 MB after the changes, and
// the final run with it 289) does not tell it from run-to-run spread. The operator does its work on its main
// thread, so two arenas cost it no contention that shows.
export const OPERATOR_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };
