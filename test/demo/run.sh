#!/usr/bin/env bash
# `make demo`: a local Kubernetes cluster, Weft installed the way a user installs it, the sample app meshed
# (a client and two versions of `web`), a TrafficSplit moved from 90/10 to 50/50 while the client sends
# traffic, and per-backend request rate, success rate and latency read live from the client's proxy.
set -euo pipefail
ROOT_DIR="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT_DIR"
. test/cluster/lib.sh
kubeconfig=$(test/cluster/up.sh | tail -n 1)
export KUBECONFIG="$kubeconfig" KUBECTL
k() { "$KUBECTL" "$@"; }

deploy/install.sh
test/images/build.sh --import testapp
ns=weft-demo
k create namespace "$ns" --dry-run=client -o yaml | k apply -f - >/dev/null
k annotate namespace "$ns" weft.dev/inject=enabled --overwrite >/dev/null
k -n "$ns" apply -f samples/mesh/app.yaml >/dev/null
for d in web-v1 web-v2 client; do k -n "$ns" rollout status "deployment/$d" --timeout=180s >/dev/null; done
log "sample meshed in namespace $ns: every pod runs the weft-proxy sidecar"
k -n "$ns" get pods -o custom-columns='POD:.metadata.name,READY:.status.containerStatuses[*].ready,SIDECAR:.spec.initContainers[1].name,IP:.status.podIP'

client_ip=$(k -n "$ns" get pod -l app=client -o jsonpath='{.items[0].status.podIP}')
log "one call from the client, through both proxies (mTLS): the server sees the client's identity"
curl -fsS -X POST "http://$client_ip:8080/call" -H 'content-type: application/json' \
  -d '{"url":"http://web/echo"}' | jq -r '.body | fromjson | "  served by \(.pod); x-weft-client-id: \(.headers["x-weft-client-id"])"'

node test/demo/mesh-demo.ts "$ns" "${DEMO_PHASE_SECONDS:-12}"

cat <<TXT

Weft is installed and the cluster stays up. Try:
  $(test/cluster/env.sh)
  $KUBECTL -n $ns apply -f samples/mesh/split-100-0.yaml     # all traffic to web-v1
  $KUBECTL -n $ns get trafficsplit web -o yaml              # status: Accepted, ResolvedRefs, Ready
  curl -s http://$client_ip:15190/metrics | grep ^response_total   # the client proxy's metrics
  $KUBECTL annotate namespace $ns config.weft.dev/policy-mode=enforcing   # now calls to web get 403 ...
  $KUBECTL -n $ns apply -f samples/mesh/http-policy.yaml   # ... until a TrafficTarget allows GET /echo
  node cli/weft.ts inject -f samples/testapp/testapp.yaml   # what the injector adds, offline
  make uninstall        # removes Weft (no webhook left behind);  make cluster-down removes the cluster
TXT
