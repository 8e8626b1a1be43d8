#!/usr/bin/env bash
# Packages kubectl-keygate for krew: an archive with the keygate binary (krew links it as
# kubectl-keygate) and a krew plugin manifest whose sha256 is the archive's.
#   scripts/krew-package.sh [KEYGATE_BINARY] [OUT_DIR] [URI_BASE]
# defaults: build-release/src/cmd/keygate (make release), dist/krew, the release download URL.
# Install from the files without an index: kubectl krew install --manifest=OUT_DIR/keygate.yaml
#   --archive=OUT_DIR/keygate-vX.Y.Z-linux-amd64.tar.gz
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-build-release/src/cmd/keygate}"
OUT="${2:-dist/krew}"
URI_BASE="${3:-https://github.com/keygate-dev/keygate/releases/download}"
[ -x "$BIN" ] || { echo "krew-package: $BIN is not an executable (run make release first)" >&2; exit 2; }
VERSION="v$("$BIN" version | awk '{print $2}')"
ARCH="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
NAME="keygate-${VERSION}-linux-${ARCH}"
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/$NAME" "$OUT"
install -m 0755 "$BIN" "$STAGE/$NAME/keygate"
strip --strip-debug "$STAGE/$NAME/keygate"  # a plugin download, not a debugging build
cp README.md "$STAGE/$NAME/README.md"
# Reproducible archive: fixed owner, mode and time, sorted names.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='2026-01-01 00:00:00Z' \
    -C "$STAGE" -czf "$OUT/$NAME.tar.gz" "$NAME"
SHA="$(sha256sum "$OUT/$NAME.tar.gz" | awk '{print $1}')"
cat > "$OUT/keygate.yaml" <<YAML
apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: keygate
spec:
  version: ${VERSION}
  homepage: https://github.com/keygate-dev/keygate
  shortDescription: Request, approve and follow Keygate key activations
  description: |
    kubectl keygate is the people's tool for Keygate, the operator for customer-managed
    encryption keys: requesters create KeyActivationRequests, approvers approve or deny them
    (the admission webhook stamps and signs each decision), everyone follows status and
    pending work, and KeyAdministrators rotate, deactivate, declare compromise and schedule
    destruction. The same binary writes the audit report (keygate audit report).
  caveats: |
    The binary is built on Debian 12 and links its shared libraries. On another system, use
    the container image, or build from source (make install).
      kubectl keygate pending
      kubectl keygate request KEY --reason "..." --change-ref CHG-1
      kubectl keygate approve REQUEST
  platforms:
  - selector:
      matchLabels:
        os: linux
        arch: ${ARCH}
    uri: ${URI_BASE}/${VERSION}/${NAME}.tar.gz
    sha256: ${SHA}
    files:
    - from: ${NAME}/keygate
      to: .
    - from: ${NAME}/README.md
      to: .
    bin: keygate
YAML
echo "krew-package: $OUT/$NAME.tar.gz ($SHA) and $OUT/keygate.yaml"
