#!/usr/bin/env bash
# Runs the end-to-end suite against the local cluster. Brings the cluster up and down itself, or,
# with WEFT_REUSE_CLUSTER=1, uses a running one (started if missing) and leaves it running.
set -euo pipefail
ROOT_DIR="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT_DIR"
. test/cluster/lib.sh

reuse="${WEFT_REUSE_CLUSTER:-0}"
started=0
if [ "$reuse" = 1 ] && [ -f "$STATE_DIR/up" ] && test/cluster/health.sh >/dev/null 2>&1; then
  log "reusing the running cluster"
else
  test/cluster/up.sh >/dev/null
  started=1
fi
if [ "$started" = 1 ] && [ "$reuse" != 1 ]; then trap 'test/cluster/down.sh' EXIT; fi

# The images under test, rebuilt from this checkout and loaded into the cluster's containerd.
test/images/build.sh --import testapp proxy

export KUBECONFIG="$KUBECONFIG_ADMIN" WEFT_KUBECTL="$KUBECTL"
# Every suite may assume the SMI CRDs exist, whatever order jest runs them in.
"$KUBECTL" apply --server-side --force-conflicts --field-manager=weft-e2e -f crds/manifests/ >/dev/null
node node_modules/jest/bin/jest.js --selectProjects e2e --runInBand "$@"
