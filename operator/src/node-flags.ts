// V8 flags the operator's node runs with: in its Deployment (deploy/render.ts) and wherever tests and
// benches start it (test/e2e/operator/harness.ts).
//
// --max-semi-space-size=2 (MiB): the young generation stays small. With 5,000 pods and 1,000 services the
// live heap is about 120 MB, but V8's default young generation (up to 3 x 16 MiB, grown during the initial list
// and compile) kept the ready operator at 367-376 MB RSS. Measured with make bench-control-plane on 2 cores:
// ready with no streams, then after 20 rounds with 5,000 streams: default 368-376 / 931-934 MB; 4 MiB 256 /
// 851 MB; 2 MiB 234 / 896 MB (the streams' share is native TLS memory, untouched by the flag). Propagation
// stayed within run-to-run noise (5,000 proxies p50 217-284 ms default, 227 ms with 2 MiB).
export const OPERATOR_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];
