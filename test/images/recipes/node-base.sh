# The Node.js runtime every Weft image runs on: the node binary and the shared libraries it needs.
IMAGE_REF="weft.local/node-base:$(cat "$ROOT_DIR/.node-version")"
USER=65532:65532
ENTRYPOINT=(/usr/local/bin/node)
ENV=(NODE_ENV=production)
populate() {
  base_files "$1"
  copy_elf "$NODE_BIN/node" /usr/local/bin/node "$1"
}
