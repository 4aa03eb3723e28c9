#!/usr/bin/env bash
# Builds fortio (the open-loop, fixed-rate HTTP load generator Istio's mesh benchmarks use) from its Go module into
# the cache outside the work tree, keyed by version, and prints its path. Test infrastructure only: the product
# has no Go. v1.66.0 is the newest whose dependencies the Go module proxy here serves (later ones need grol.io).
set -euo pipefail
FORTIO_VERSION=v1.66.0
WEFT_CACHE="${WEFT_CACHE:-$HOME/.cache/weft}"
bin="$WEFT_CACHE/bin/fortio-$FORTIO_VERSION/fortio"
if [ ! -x "$bin" ]; then
  command -v go >/dev/null || { echo "fortio.sh: go is required to build fortio" >&2; exit 1; }
  export GOMODCACHE="$WEFT_CACHE/go/mod" GOCACHE="$WEFT_CACHE/go/build" GOFLAGS="-buildvcs=false -mod=mod"
  export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
  GOBIN="$(dirname "$bin")" go install "fortio.org/fortio@$FORTIO_VERSION" >&2
fi
echo "$bin"
