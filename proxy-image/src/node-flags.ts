// V8 flags the proxy's node runs with, in the image entrypoint (proxy-image/Dockerfile and
// test/images/recipes/proxy.sh) and in `make bench-proxy`. node-flags.test.ts keeps the three in step.
//
// --max-semi-space-size=1 (MiB): the young generation stays small. The proxy allocates short-lived
// objects per request and keeps little; with V8's default semi-space (up to 16 MiB, grown under load) RSS
// under 16 connections of load was 86 MB, with 1 MiB 77 MB, at the same throughput within run-to-run noise
// (bench/results/proxy.json; BENCHMARKS.md, "RSS").
export const PROXY_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];
