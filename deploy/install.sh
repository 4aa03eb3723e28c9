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
k -n "$ns" rollout status deployment/weft-webhooks --timeout=180s
k -n "$ns" rollout status deployment/weft-operator --timeout=180s
# The webhooks publish their CA into the webhook configurations and CRDs; until then the apiserver
# cannot call them.
for i in $(seq 1 60); do
  bundle=$(k get mutatingwebhookconfiguration weft-injector -o jsonpath='{.webhooks[0].clientConfig.caBundle}')
  [ -n "$bundle" ] && break
  sleep 1
done
[ -n "$bundle" ] || { log "webhook caBundle never published; see: kubectl -n $ns logs deploy/weft-webhooks"; exit 1; }
log "Weft is installed and ready"
