#!/usr/bin/env bash
# `make install`: installs Weft into the cluster KUBECONFIG points to, the way a user does
# (kubectl apply of deploy/base), and waits until it is ready. For the local cluster it first builds
# the images and loads them into the node's containerd.
set -euo pipefail
ROOT_DIR="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT_DIR"
KUBECTL="${KUBECTL:-/usr/lib/google-cloud-sdk/bin/kubectl.1.33}"
k() { "$KUBECTL" "$@"; }
log() { printf '[install %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
[ -n "${KUBECONFIG:-}" ] || { log "KUBECONFIG is not set (for the local cluster: eval \"\$(make cluster-env)\")"; exit 2; }
server=$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')
if [ "$server" = "https://10.213.0.1:6443" ]; then
  log "local cluster: building and loading images"
  test/images/build.sh --import proxy controller
fi
node scripts/manifests.ts --check || { log "deploy/base is stale: run make manifests"; exit 1; }
log "applying deploy/base to $server"
k apply --server-side --force-conflicts -k deploy/base >/dev/null
ns=weft-system
if [ "$server" = "https://10.213.0.1:6443" ]; then
  # Locally rebuilt images keep their tag: stamp the image digest on the pod templates so that a
  # changed image rolls the pods (an unchanged one leaves them alone).
  digest=$(. test/cluster/lib.sh && ctr --address "$CONTAINERD_SOCK" -n k8s.io images ls "name==weft.local/controller:dev" | awk 'NR==2 {print $3}')
  for d in weft-webhooks weft-operator; do
    k -n "$ns" patch deployment "$d" --type=merge --field-manager=weft-install-local \
      -p "{\"spec\":{\"template\":{\"metadata\":{\"annotations\":{\"weft.dev/local-image\":\"$digest\"}}}}}" >/dev/null
  done
fi
k -n "$ns" rollout status deployment/weft-webhooks --timeout=180s
k -n "$ns" rollout status deployment/weft-operator --timeout=180s
# A rollout is done before the old pods are gone; until then an old webhook pod may still answer.
for d in weft-webhooks weft-operator; do
  want=$(k -n "$ns" get deployment "$d" -o jsonpath='{.spec.replicas}')
  for i in $(seq 1 90); do
    have=$(k -n "$ns" get pods -l "weft.dev/control-plane=$d" --no-headers 2>/dev/null | wc -l)
    [ "$have" -le "$want" ] && break
    sleep 1
  done
done
# The webhooks publish their CA into the webhook configurations and CRDs; until then the apiserver
# cannot call them.
for i in $(seq 1 60); do
  bundle=$(k get mutatingwebhookconfiguration weft-injector -o jsonpath='{.webhooks[0].clientConfig.caBundle}')
  [ -n "$bundle" ] && break
  sleep 1
done
[ -n "$bundle" ] || { log "webhook caBundle never published; see: kubectl -n $ns logs deploy/weft-webhooks"; exit 1; }
log "Weft is installed and ready"
