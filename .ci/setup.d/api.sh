#!/usr/bin/env bash
# Tools of the HTTP API tests, in the shared venv (target/tools/venv): schemathesis, run against
# the OpenAPI document of a running server, and openapi-spec-validator, which checks the
# document against the OpenAPI specification. Pinned, so the CLI flags the tests pass stay valid.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS="${KD_TOOLS:-$ROOT/target/tools}"
VENV="$TOOLS/venv"
PINS=("schemathesis==4.32.5" "openapi-spec-validator==0.9.0")

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
version() {
  "$VENV/bin/python" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null || true
}
for pin in "${PINS[@]}"; do
  if [ "$(version "${pin%%==*}")" != "${pin##*==}" ]; then
    # `python -m pip`: the venv may have been copied, and pip's own shebang would point elsewhere.
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$pin"
  fi
done
"$VENV/bin/python" -m schemathesis.cli --version
"$VENV/bin/python" -c "import importlib.metadata as m; print('openapi-spec-validator', m.version('openapi-spec-validator'))"
