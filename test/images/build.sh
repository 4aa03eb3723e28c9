#!/usr/bin/env bash
# Builds OCI images from recipes (test/images/recipes/NAME.sh) with umoci, without Docker or a
# registry, and with --import loads them into the local cluster's containerd.
#   test/images/build.sh [--import] NAME...
# A recipe sets IMAGE_REF, optionally FROM (another recipe), ENTRYPOINT/CMD/ENV arrays, USER and
# WORKDIR, and defines populate ROOTFS, which fills the image's new layer.
set -euo pipefail
IMAGES_DIR="$(cd "$(dirname "$0")" && pwd)"
ROOT_DIR="$(cd "$IMAGES_DIR/../.." && pwd)"
. "$ROOT_DIR/test/cluster/lib.sh"
OUT="${WEFT_IMAGES_OUT:-$ROOT_DIR/dist/images}"
LAYOUT="$OUT/layout"
NODE_BIN="$("$ROOT_DIR/scripts/ensure-node.sh")"
export ROOT_DIR NODE_BIN OUT

import=0
names=()
for a in "$@"; do case "$a" in --import) import=1 ;; *) names+=("$a") ;; esac; done
[ ${#names[@]} -gt 0 ] || die "usage: build.sh [--import] NAME..."
command -v umoci >/dev/null || "$ROOT_DIR/test/cluster/host-deps.sh"
mkdir -p "$OUT"
[ -f "$LAYOUT/index.json" ] || umoci init --layout "$LAYOUT"

# Helpers for recipes.
# copy_elf BIN DEST ROOTFS: a dynamically linked binary plus every shared library ldd lists.
copy_elf() {
  local bin=$1 dest=$2 root=$3 lib
  install -D -m 0755 "$bin" "$root$dest"
  for lib in $(ldd "$bin" | grep -oE '/[^ ]+\.so[^ ]*'); do
    install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
  done
}
# base_files ROOTFS: /etc/passwd and /etc/group with an unprivileged user, and a sticky /tmp.
base_files() {
  local root=$1
  mkdir -p "$root/etc" "$root/tmp" && chmod 1777 "$root/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$root/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' > "$root/etc/group"
  printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
  mkdir -p "$root/home/nonroot" && chown 65532:65532 "$root/home/nonroot"
}
export -f copy_elf base_files

built=()
build_one() {
  local name=$1
  case " ${built[*]-} " in *" $name "*) return 0 ;; esac
  local recipe="$IMAGES_DIR/recipes/$name.sh"
  [ -f "$recipe" ] || die "no recipe $recipe"
  # Read the recipe's FROM in a subshell so recipes cannot leak variables into each other.
  local from; from=$(bash -c ". '$recipe'; echo \"\${FROM:-}\"")
  [ -n "$from" ] && build_one "$from"
  log "image $name: building"
  (
    set -euo pipefail
    FROM="" USER="" WORKDIR=""; ENTRYPOINT=(); CMD=(); ENV=()
    . "$recipe"
    if [ -n "$FROM" ]; then
      umoci rm --image "$LAYOUT:$name" 2>/dev/null || true
      umoci tag --image "$LAYOUT:$FROM" "$name"
    else
      umoci rm --image "$LAYOUT:$name" 2>/dev/null || true
      umoci new --image "$LAYOUT:$name"
    fi
    if declare -F prepare >/dev/null; then prepare; fi
    rootfs=$(mktemp -d); trap 'rm -rf "$rootfs"' EXIT
    chmod 0755 "$rootfs"
    populate "$rootfs"
    umoci insert --image "$LAYOUT:$name" --history.created_by "weft recipe $name" "$rootfs" /
    args=(--image "$LAYOUT:$name" --config.user "${USER:-0:0}" --config.workingdir "${WORKDIR:-/}"
      --author weft --os linux --architecture amd64 --config.label "dev.weft.image=$name")
    [ ${#ENTRYPOINT[@]} -gt 0 ] && for e in "${ENTRYPOINT[@]}"; do args+=(--config.entrypoint "$e"); done
    [ ${#CMD[@]} -gt 0 ] && for c in "${CMD[@]}"; do args+=(--config.cmd "$c"); done
    [ ${#ENV[@]} -gt 0 ] && for e in "${ENV[@]}"; do args+=(--config.env "$e"); done
    umoci config "${args[@]}"
    # Record the full reference containerd should give the image on import.
    echo "$IMAGE_REF" > "$OUT/$name.ref"
  )
  umoci gc --layout "$LAYOUT"
  built+=("$name")
}

for n in "${names[@]}"; do build_one "$n"; done

if [ "$import" = 1 ]; then
  for n in "${built[@]}"; do
    ref=$(cat "$OUT/$n.ref")
    tmp=$(mktemp -d)
    # An archive holding just this image, annotated with the name containerd (and so the kubelet) uses.
    cp -r "$LAYOUT/oci-layout" "$LAYOUT/blobs" "$tmp/"
    jq --arg tag "$n" --arg ref "$ref" \
      '.manifests |= map(select(.annotations["org.opencontainers.image.ref.name"] == $tag)
         | .annotations["io.containerd.image.name"] = $ref)' "$LAYOUT/index.json" > "$tmp/index.json"
    tar -C "$tmp" -cf "$tmp.tar" .
    ctr --address "$CONTAINERD_SOCK" -n k8s.io images import --no-unpack=false "$tmp.tar" >/dev/null
    rm -rf "$tmp" "$tmp.tar"
    log "image $n: imported as $ref"
  done
fi
