#!/usr/bin/env bash
# Node packages of the Discord sandbox tests, into target/tools/node: discord.js (the second,
# independent client of the REST and gateway tests) and @discord/embedded-app-sdk (the real
# Activity SDK the host page test drives in Chromium). Idempotent: skips pinned versions already there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS="${KD_TOOLS:-$ROOT/target/tools}"
NODE_DIR="$TOOLS/node"
PINS=("discord.js@14.28.1" "@discord/embedded-app-sdk@2.5.0")

mkdir -p "$NODE_DIR"
[[ -f "$NODE_DIR/package.json" ]] || echo '{"private": true}' > "$NODE_DIR/package.json"
for pin in "${PINS[@]}"; do
    name="${pin%@*}"
    version="${pin##*@}"
    installed="$(node -p "require('$NODE_DIR/node_modules/$name/package.json').version" 2>/dev/null || true)"
    if [[ "$installed" == "$version" ]]; then
        echo "$name $version already installed in $NODE_DIR"
    else
        npm install --prefix "$NODE_DIR" --no-audit --no-fund --save-exact "$pin"
        echo "installed $name $version into $NODE_DIR"
    fi
done
