#!/usr/bin/env bash
# Builds etcd, the Kubernetes components and CoreDNS from their Go modules into a
# version-keyed cache directory. A second run with the same versions does nothing.
. "$(dirname "$0")/lib.sh"

command -v go >/dev/null || die "go is required to build the cluster components"
want=(etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy coredns)
missing=0
for b in "${want[@]}"; do [ -x "$BIN_DIR/$b" ] || missing=1; done
if [ "$missing" = 0 ]; then log "components cached in $BIN_DIR"; exit 0; fi

mkdir -p "$BIN_DIR" "$GOMODCACHE" "$GOCACHE"
work="$WEFT_CACHE/build"
mkdir -p "$work"

build_k8s() {
  [ -x "$BIN_DIR/kubelet" ] && [ -x "$BIN_DIR/kube-apiserver" ] && [ -x "$BIN_DIR/kube-proxy" ] \
    && [ -x "$BIN_DIR/kube-controller-manager" ] && [ -x "$BIN_DIR/kube-scheduler" ] && return 0
  local d="$work/k8s-$K8S_VERSION" staging="v0.${K8S_VERSION#v1.}"
  rm -rf "$d"; mkdir -p "$d"; cd "$d"
  log "kubernetes $K8S_VERSION: resolving modules"
  go mod init weft.local/k8s-build >/dev/null 2>&1
  # k8s.io/kubernetes replaces its staging modules with local paths; point them at the
  # published modules of the matching version before asking for the commands.
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [ -f "$gomod" ] || die "could not download k8s.io/kubernetes@$K8S_VERSION"
  grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "$gomod" | awk '{print $1}' | sort -u | while read -r m; do
    go mod edit -replace "$m=$m@$staging"
  done
  go get "k8s.io/kubernetes@$K8S_VERSION" >/dev/null
  local pkgs=(cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubelet cmd/kube-proxy)
  local v="$K8S_VERSION" minor; minor=$(echo "$v" | cut -d. -f2)
  local ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  log "kubernetes $K8S_VERSION: compiling ${pkgs[*]} (cold: 15-25 min on 2 cores)"
  local args=()
  for p in "${pkgs[@]}"; do args+=("k8s.io/kubernetes/$p"); done
  CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$BIN_DIR/" "${args[@]}"
}

build_etcd() {
  [ -x "$BIN_DIR/etcd" ] && return 0
  local d="$work/etcd-$ETCD_VERSION"
  rm -rf "$d"; mkdir -p "$d"; cd "$d"
  log "etcd $ETCD_VERSION: building"
  go mod init weft.local/etcd-build >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$BIN_DIR/etcd" go.etcd.io/etcd/server/v3
}

build_coredns() {
  [ -x "$BIN_DIR/coredns" ] && return 0
  local d="$work/coredns-$COREDNS_VERSION"
  rm -rf "$d"; mkdir -p "$d"; cd "$d"
  log "coredns $COREDNS_VERSION: building"
  go mod init weft.local/coredns-build >/dev/null 2>&1
  go get "github.com/coredns/coredns@$COREDNS_VERSION" >/dev/null
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$BIN_DIR/coredns" github.com/coredns/coredns
}

build_etcd
build_coredns
build_k8s
for b in "${want[@]}"; do [ -x "$BIN_DIR/$b" ] || die "$b was not built"; done
rm -rf "$work"
log "components built into $BIN_DIR"
