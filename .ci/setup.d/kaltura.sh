#!/usr/bin/env bash
# Tools for the Kaltura client/sandbox tests: the official Kaltura clients (Python, Node)
# and ffmpeg for the sandbox's playable clip. Idempotent: each step skips when done.
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

# Node client (speaks JSON, format 1).
NODE="$TOOLS/node"
if [ ! -f "$NODE/node_modules/kaltura-client/package.json" ]; then
  mkdir -p "$NODE"
  (cd "$NODE" && { [ -f package.json ] || echo '{"private":true}' > package.json; } \
    && npm install --no-audit --no-fund --silent kaltura-client)
fi

# ffmpeg makes the one shared clip every seeded entry plays (see docs/kaltura.md).
if ! command -v ffmpeg >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null
fi
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
