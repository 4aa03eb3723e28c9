# Weft's control plane: the operator and the webhooks, one bundle each, on the Node.js base.
# Deployments choose with args: /app/operator.mjs or /app/webhooks.mjs.
IMAGE_REF=weft.local/controller:dev
FROM=node-base
USER=65532:65532
WORKDIR=/app
ENTRYPOINT=(/usr/local/bin/node)
prepare() {
  local entries=(webhooks)
  [ -f "$ROOT_DIR/operator/src/main.ts" ] && entries+=(operator)
  "$NODE_BIN/node" "$ROOT_DIR/scripts/bundle.ts" "${entries[@]}" >/dev/null
  "$ROOT_DIR/proxy-image/native/build.sh" >/dev/null
}
populate() {
  local f
  for f in "$ROOT_DIR"/dist/controller/*.mjs; do install -D -m 0644 "$f" "$1/app/$(basename "$f")"; done
  # The N-API addon with which both release their start-up pages (proxy-image/src/startup-pages.ts).
  install -D -m 0755 "$ROOT_DIR/proxy-image/native/build/Release/weft_native.node" "$1/app/weft_native.node"
}
