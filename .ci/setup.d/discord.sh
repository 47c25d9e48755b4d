#!/usr/bin/env bash
# Installs discord.js (the second, independent client of the Discord sandbox tests) into
# target/tools/node. Idempotent: skips when the pinned version is already there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS="${KD_TOOLS:-$ROOT/target/tools}"
NODE_DIR="$TOOLS/node"
DISCORD_JS_VERSION="14.28.1"

installed="$(node -p "require('$NODE_DIR/node_modules/discord.js/package.json').version" 2>/dev/null || true)"
if [[ "$installed" == "$DISCORD_JS_VERSION" ]]; then
    echo "discord.js $DISCORD_JS_VERSION already installed in $NODE_DIR"
    exit 0
fi

mkdir -p "$NODE_DIR"
[[ -f "$NODE_DIR/package.json" ]] || echo '{"private": true}' > "$NODE_DIR/package.json"
npm install --prefix "$NODE_DIR" --no-audit --no-fund --save-exact "discord.js@$DISCORD_JS_VERSION"
echo "installed discord.js $DISCORD_JS_VERSION into $NODE_DIR"
