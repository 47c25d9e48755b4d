#!/usr/bin/env bash
# The Activity's browser app (activity/web): npm ci, its unit tests, and the Vite build into
# activity/web/dist, which the Activity server serves. The Kaltura player's self-contained bundle
# (unpacked by kaltura.sh, which runs first) is copied to public/vendor/ so the app loads it from
# its own origin, as Discord's CSP requires. Idempotent: npm ci only when the lockfile changed,
# the build only when a source is newer than dist/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS="${KD_TOOLS:-$ROOT/target/tools}"
WEB="$ROOT/activity/web"
BUNDLE="$TOOLS/player/package/dist/kaltura-ovp-player.js"
cd "$WEB"

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
mkdir -p public/vendor
if [ ! -f "$BUNDLE" ]; then
  echo "Kaltura player bundle missing at $BUNDLE (run .ci/setup.d/kaltura.sh)" >&2
  exit 1
fi
cmp -s "$BUNDLE" public/vendor/kaltura-ovp-player.js || cp "$BUNDLE" public/vendor/kaltura-ovp-player.js

stale=1
if [ -f dist/index.html ]; then
  newer="$(find src tests index.html package-lock.json vite.config.ts tsconfig.json public -newer dist/index.html -print -quit)"
  [ -z "$newer" ] && stale=0
fi
if [ "$stale" = 1 ]; then
  npm test --silent
  npm run build --silent
fi
echo "activity/web built: $WEB/dist"
