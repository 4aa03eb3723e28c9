#!/usr/bin/env bash
# Builds the SO_ORIGINAL_DST N-API addon against the pinned Node's headers with the node-gyp that
# ships inside npm. Output: proxy-image/native/build/Release/original_dst.node
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
node_bin="$("$here/../../scripts/ensure-node.sh")"
out="$here/build/Release/original_dst.node"
if [ -f "$out" ] && [ "$out" -nt "$here/original_dst.c" ] && [ "$out" -nt "$here/binding.gyp" ]; then exit 0; fi
npm_cli="$(readlink -f "$(command -v npm)")"
gyp="$(dirname "$npm_cli")/../node_modules/node-gyp/bin/node-gyp.js"
# The pinned Node's npm may ship without node-gyp: fall back to the global npm's, then the system one.
for candidate in "$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js" \
  /usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js /usr/share/nodejs/node-gyp/bin/node-gyp.js; do
  [ -f "$gyp" ] && break
  gyp="$candidate"
done
[ -f "$gyp" ] || { echo "node-gyp not found (needed to build the SO_ORIGINAL_DST addon)" >&2; exit 1; }
cd "$here"
"$node_bin/node" "$gyp" rebuild --nodedir="$(dirname "$node_bin")" --loglevel=warn >/dev/null
echo "$out"
