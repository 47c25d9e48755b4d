#!/usr/bin/env bash
# Tools for the Kaltura client/sandbox tests: the official Kaltura clients (Python, Node), ffmpeg for
# the sandbox's playable clip, and the real Kaltura OVP player with Chromium (driven by playwright-core)
# to prove the sandbox plays. Idempotent: each step skips when done.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS="${KD_TOOLS:-$ROOT/target/tools}"
mkdir -p "$TOOLS"

# Python client (speaks XML, format 2).
VENV="$TOOLS/venv"
if ! "$VENV/bin/python" -c 'import KalturaClient, lxml, Crypto, requests, requests_toolbelt, six' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    KalturaApiClient lxml pycryptodome requests requests-toolbelt six
fi

# Node client (speaks JSON, format 1) and playwright-core (drives the system Chromium).
NODE="$TOOLS/node"
mkdir -p "$NODE"
[ -f "$NODE/package.json" ] || echo '{"private":true}' > "$NODE/package.json"
for pkg in kaltura-client playwright-core; do
  if [ ! -f "$NODE/node_modules/$pkg/package.json" ]; then
    (cd "$NODE" && npm install --no-audit --no-fund --silent "$pkg")
  fi
done

# The real player (the version the tests were written against): its dist bundle is self-contained, so unpack the package instead of installing
# its (unresolvable here) dependency tree.
PLAYER="$TOOLS/player"
if [ ! -f "$PLAYER/package/dist/kaltura-ovp-player.js" ]; then
  mkdir -p "$PLAYER"
  (cd "$PLAYER" && rm -f playkit-js-kaltura-player-js-*.tgz \
    && npm pack --silent @playkit-js/kaltura-player-js@3.17.95 >/dev/null \
    && tar xzf playkit-js-kaltura-player-js-*.tgz && rm -f playkit-js-kaltura-player-js-*.tgz)
fi

# System packages: ffmpeg makes the clip, chromium runs the player.
missing=()
command -v ffmpeg >/dev/null || missing+=(ffmpeg)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The one shared clip every seeded entry plays (see docs/kaltura.md).
CLIP="$TOOLS/media/clip.mp4"
if [ ! -s "$CLIP" ]; then
  mkdir -p "$TOOLS/media"
  # 10 s, 320x180 test pattern with a running timecode and a 440 Hz tone; H.264 + AAC, faststart
  # so a browser can play it over plain HTTP.
  ffmpeg -loglevel error -y \
    -f lavfi -i "testsrc=duration=10:size=320x180:rate=25" \
    -f lavfi -i "sine=frequency=440:duration=10" \
    -c:v libx264 -pix_fmt yuv420p -profile:v baseline -preset veryfast \
    -c:a aac -b:a 64k -shortest -movflags +faststart "$CLIP.tmp.mp4"
  mv "$CLIP.tmp.mp4" "$CLIP"
fi
echo "kaltura tools ready in $TOOLS"
