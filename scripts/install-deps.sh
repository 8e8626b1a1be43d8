#!/usr/bin/env bash
# Installs Keygate's build and test dependencies from Debian 12 packages.
# Idempotent: does nothing (no apt-get at all) when everything is already installed.
# Arguments are more packages to make sure of (scripts/fuzz.sh: clang and its libFuzzer).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.74-dev libcurl4-openssl-dev libssl-dev
  libyaml-cpp-dev nlohmann-json3-dev libsimdjson-dev libcli11-dev zlib1g-dev libjemalloc-dev
  prometheus-cpp-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libgtest-dev libgmock-dev
  softhsm2 libsofthsm2-dev libp11-kit-dev opensc
  python3 python3-yaml python3-pykmip python3-cryptography
  prometheus openssl curl
  lua5.4
  chromium fonts-liberation
  "$@"
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
