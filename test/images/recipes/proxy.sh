# The sidecar proxy and proxy-init in one image (the init container runs it with `init ...` as root
# with NET_ADMIN/NET_RAW only; the proxy runs as uid 2102). Carries iptables (nft backend) for init.
IMAGE_REF=weft.local/proxy:dev
FROM=node-base
USER=2102:2102
WORKDIR=/app
ENTRYPOINT=(/usr/local/bin/node --max-semi-space-size=1 --no-maglev --heap-growing-percent=100 --no-async-context-frame /app/proxy.mjs)
ENV=(PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
prepare() {
  "$NODE_BIN/node" "$ROOT_DIR/scripts/bundle.ts" proxy >/dev/null
  "$ROOT_DIR/proxy-image/native/build.sh" >/dev/null
}
populate() {
  local root=$1 lib name
  install -D -m 0644 "$ROOT_DIR/dist/proxy/proxy.mjs" "$root/app/proxy.mjs"
  install -D -m 0755 "$ROOT_DIR/proxy-image/native/build/Release/weft_native.node" "$root/app/weft_native.node"
  copy_elf "$(readlink -f /usr/sbin/xtables-nft-multi)" /usr/sbin/xtables-nft-multi "$root"
  for name in iptables iptables-restore iptables-save ip6tables ip6tables-restore ip6tables-save; do
    ln -sf xtables-nft-multi "$root/usr/sbin/$name"
  done
  # Match and target extensions are loaded at run time; take them with their libraries.
  for lib in /usr/lib/x86_64-linux-gnu/xtables/*.so; do copy_elf "$lib" "$lib" "$root"; done
  mkdir -p "$root/etc"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\nweft-proxy:x:2102:2102:weft-proxy:/nonexistent:/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\nweft-proxy:x:2102:\n' >"$root/etc/group"
}
