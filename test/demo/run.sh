#!/usr/bin/env bash
# `make demo`: the local cluster, the sample app deployed, and traffic between pods made visible.
# (Later issues grow this into the meshed demo: Weft installed, a TrafficSplit moving traffic.)
set -euo pipefail
ROOT_DIR="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT_DIR"
. test/cluster/lib.sh
kubeconfig=$(test/cluster/up.sh | tail -n 1)
export KUBECONFIG="$kubeconfig"
k() { "$KUBECTL" "$@"; }
test/images/build.sh --import testapp
ns=weft-demo
k create namespace "$ns" --dry-run=client -o yaml | k apply -f - >/dev/null
k -n "$ns" apply -f samples/testapp/testapp.yaml -f samples/testapp/client.yaml >/dev/null
k -n "$ns" rollout status deployment/testapp --timeout=120s >/dev/null
k -n "$ns" wait --for=condition=Ready pod/client --timeout=120s >/dev/null
client_ip=$(k -n "$ns" get pod client -o jsonpath='{.status.podIP}')
log "sample app running in namespace $ns; client pod at $client_ip calls testapp.$ns.svc.cluster.local"
for round in 1 2 3; do
  curl -fsS -X POST "http://$client_ip:8080/call" -H 'content-type: application/json' \
    -d "{\"url\":\"http://testapp.$ns.svc.cluster.local/echo\",\"count\":200,\"concurrency\":8}" \
    | jq -c '{round: '"$round"', calls, statuses, byPod, latencyMs}'
done
cat <<TXT

The cluster stays up. Try:
  $(test/cluster/env.sh)
  $KUBECTL -n $ns get pods,svc -o wide
  $KUBECTL -n $ns logs deployment/testapp
  curl -s -X POST http://$client_ip:8080/call -d '{"url":"http://testapp.$ns.svc.cluster.local/status/503"}'
  make cluster-down      # removes everything the cluster created
TXT
