# The pod sandbox image of the local cluster: one static binary, no shell.
IMAGE_REF=weft.local/pause:1
ENTRYPOINT=(/pause)
USER=65535:65535
prepare() { mkdir -p "$OUT/pause" && gcc -Os -static -s -Wall -Wextra -o "$OUT/pause/pause" "$ROOT_DIR/test/images/pause/pause.c"; }
populate() { install -m 0755 "$OUT/pause/pause" "$1/pause"; }
