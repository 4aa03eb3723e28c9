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
export const PROXY_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--no-maglev'];
