# The test app used by every end-to-end test (test/apps/testapp), on the Node.js base.
IMAGE_REF=weft.local/testapp:dev
FROM=node-base
USER=65532:65532
WORKDIR=/app
ENTRYPOINT=(/usr/local/bin/node /app/testapp.mjs)
prepare() { "$NODE_BIN/node" "$ROOT_DIR/scripts/bundle.ts" testapp >/dev/null; }
populate() { install -D -m 0644 "$ROOT_DIR/dist/testapp/testapp.mjs" "$1/app/testapp.mjs"; }
