# Shared settings for the local-cluster scripts. Sourced, never run.
# shellcheck shell=bash
set -euo pipefail
CLUSTER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$CLUSTER_DIR/versions.env"
WEFT_CACHE="${WEFT_CACHE:-$HOME/.cache/weft}"
# Go caches live outside the work tree so a fresh clone reuses them.
export GOMODCACHE="${GOMODCACHE_OVERRIDE:-$WEFT_CACHE/go/mod}"
export GOCACHE="${GOCACHE_OVERRIDE:-$WEFT_CACHE/go/build}"
export GOFLAGS="-buildvcs=false -mod=mod"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
BIN_DIR="$WEFT_CACHE/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-coredns-$COREDNS_VERSION"
# Runtime state of the running cluster (PKI, data, logs, pids). Outside the work tree too.
STATE_DIR="${WEFT_CLUSTER_STATE:-/var/lib/weft-cluster}"
log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Addresses: private ranges no network of this machine uses. The node lives on its own bridge.
NODE_NAME="${WEFT_NODE_NAME:-weft-node}"
BRIDGE="${WEFT_BRIDGE:-weft0}"
POD_CIDR="${WEFT_POD_CIDR:-10.213.0.0/16}"
NODE_POD_SUBNET="${WEFT_NODE_POD_SUBNET:-10.213.0.0/24}"
NODE_IP="${WEFT_NODE_IP:-10.213.0.1}"
SERVICE_CIDR="${WEFT_SERVICE_CIDR:-10.214.0.0/16}"
KUBERNETES_SVC_IP="${WEFT_KUBERNETES_SVC_IP:-10.214.0.1}"
DNS_SVC_IP="${WEFT_DNS_SVC_IP:-10.214.0.10}"
APISERVER_PORT="${WEFT_APISERVER_PORT:-6443}"
ETCD_CLIENT_PORT=23790
ETCD_PEER_PORT=23800
RUN_DIR=/run/weft-cluster
CONTAINERD_SOCK="$RUN_DIR/containerd.sock"
PKI="$STATE_DIR/pki"
KUBECONFIG_ADMIN="$STATE_DIR/admin.kubeconfig"
KUBECTL="${KUBECTL:-/usr/lib/google-cloud-sdk/bin/kubectl.1.33}"
[ -x "$KUBECTL" ] || KUBECTL="$(command -v kubectl || true)"
CONTAIN_CHAIN=WEFT-CONTAIN
ROOT_DIR="$(cd "$CLUSTER_DIR/../.." && pwd)"
PAUSE_IMAGE="${WEFT_PAUSE_IMAGE:-weft.local/pause:1}"
