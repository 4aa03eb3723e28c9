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
