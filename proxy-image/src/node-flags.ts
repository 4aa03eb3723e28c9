// V8 flags the proxy's node runs with, in the image entrypoint (proxy-image/Dockerfile and
// test/images/recipes/proxy.sh) and in `make bench-proxy`. node-flags.test.ts keeps the three in step.
//
// --max-semi-space-size=1 (MiB): the young generation stays small. The proxy allocates short-lived
// objects per request and keeps little; with V8's default semi-space (up to 16 MiB, grown under load) RSS
// under 16 connections of load was 86 MB, with 1 MiB 77 MB, at the same throughput within run-to-run noise
// (bench/results/proxy.json; BENCHMARKS.md, "RSS").
//
// --no-maglev: V8's mid-tier optimizing compiler stays off; hot code goes from the baseline tier straight to
// TurboFan. Maglev compiles during startup and under load, and the pages of the node binary its code lives in
// were 2 MB of every proxy's RSS: idle 57.3 -> 55.3 MB, the mTLS pair under load 82 -> 79 MB per proxy, with
// user CPU per request unchanged within noise (three interleaved rounds each way on weft, weft-tcp, weft-h2 and the
// h2 pair, 2026-11-23; the numbers are in docs/proxy.md).
//
// --heap-growing-percent=100: after each full collection the old generation may grow to twice what survived it,
// where V8 on its own picks up to four times for a process whose collector is fast next to its mutator. Under
// HTTP/2 load node:http2's per-stream objects outlive the 1 MiB young generation and are promoted, and at V8's
// own factor the old generation grew to 30-34 MB around 9 MB of live objects: RSS 98-99.5 MB for one proxy under
// h2load (4 connections x 16 streams), 95 MB per proxy of the HTTP/2 mTLS pair, both over the 80 MB under-load
// target. With 100: 75-76 MB and 73-74 MB per proxy. The price is HTTP/2 CPU, in more full collections: per
// stream, median of four interleaved runs each (2026-12-05, `WEFT_BENCH_WEFT_NODE_ARGS`, bench/proxy/run.ts) 49 ->
// 55 us through one proxy (+12%) and 104 -> 128 us through the pair (+23%). HTTP/1 is unchanged: its garbage
// dies young (five interleaved rounds each way of weft and weft-pair-mtls, default against 100: one proxy
// 18.6-20.1 against 16.4-20.7 us per request, the mTLS pair 48.7-57.5 against 47.6-60.5, RSS under load alike).
// Also measured: 150 (RSS 80-81.5 MB, no margin), 50 (74-75 MB, as much CPU as 100), larger semi-spaces with 100
// (4 MiB: 80.6 MB at base CPU; 2 MiB: 76-78 MB, CPU as with 1), default (RSS above).
//
// --no-async-context-frame: Node 24 carries an async context frame (what AsyncLocalStorage reads) through every
// callback, promise and tick; the proxy uses no AsyncLocalStorage (nor does any module it bundles), so the frames
// are pure cost. Six interleaved rounds each way (2026-12-06, `WEFT_BENCH_WEFT_NODE_ARGS`, one 5 s round per run):
// weft-h2 user CPU per stream median 69.1 -> 62.5 us (-10%), rps 13.3k -> 14.6k; HTTP/1 within noise (weft
// user 5.6 -> 5.45 us per request; the mTLS pair 24.8 -> 23.9 in three); RSS alike. If the proxy ever uses
// AsyncLocalStorage (tracing), this flag makes it slower (async_hooks underneath): measure again then.
export const PROXY_NODE_FLAGS: readonly string[] = [
  '--max-semi-space-size=1',
  '--no-maglev',
  '--heap-growing-percent=100',
  '--no-async-context-frame',
];
