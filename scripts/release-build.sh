#!/usr/bin/env bash
# Builds the `keygate` binary exactly as the Dockerfile does: Release (-O3), the project's
# -Werror, Ninja. CI runs it too, so a warning that only appears at -O3 fails CI, not the
# image build.   scripts/release-build.sh [BUILD_DIR]   (default build-release)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${1:-build-release}"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" --target keygate -j "$(nproc)"
