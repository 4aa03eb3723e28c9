#!/usr/bin/env bash
# Builds the proxy's N-API addon (SO_ORIGINAL_DST, release of start-up pages) against the pinned Node's
# headers with the node-gyp that ships inside npm. Output: proxy-image/native/build/Release/weft_native.node
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
node_bin="$("$here/../../scripts/ensure-node.sh")"
out="$here/build/Release/weft_native.node"
fresh=1
for src in "$here"/*.c "$here"/*.h "$here/binding.gyp"; do [ "$out" -nt "$src" ] || fresh=0; done
if [ -f "$out" ] && [ "$fresh" = 1 ]; then echo "$out" && exit 0; fi
# npm on PATH is either the machine's npm-cli.js or ensure-node.sh's wrapper that execs it.
npm_path="$(readlink -f "$(command -v npm)")"
npm_cli="$(grep -o '/[^" ]*/npm-cli\.js' "$npm_path" | head -n1 || true)"
[ -n "$npm_cli" ] || npm_cli="$npm_path"
gyp=""
for candidate in "$(dirname "$npm_cli")/../node_modules/node-gyp/bin/node-gyp.js" \
  "$(npm root -g 2>/dev/null)/npm/node_modules/node-gyp/bin/node-gyp.js" \
  /usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js; do
  if [ -f "$candidate" ]; then gyp="$candidate" && break; fi
done
[ -n "$gyp" ] || { echo "build.sh: node-gyp not found next to npm ($npm_cli)" >&2; exit 1; }
cd "$here"
"$node_bin/node" "$gyp" rebuild --nodedir="$(dirname "$node_bin")" --loglevel=warn >/dev/null
echo "$out"
