#!/usr/bin/env bash
# One Python venv for every Python tool the tests use (kubernetes-validate, Kaltura's client, ...).
set -euo pipefail
venv="$KD_TOOLS/venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import kubernetes_validate' 2>/dev/null; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate
fi
"$venv/bin/kubernetes-validate" --version
