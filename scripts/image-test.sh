#!/usr/bin/env bash
# Builds the container image from the Dockerfile with podman, without any registry, and
# smoke-tests it the way a user runs it.   `make image`  or  scripts/image-test.sh [TAG]
#
# 1. Installs podman, mmdebstrap and runc from Debian when missing (as root or with sudo).
# 2. Makes the two base images the Dockerfile names, debian:bookworm and
#    debian:bookworm-slim, from the Debian mirror this machine uses (mmdebstrap minbase,
#    merged /usr; the slim one without docs, man pages and locales), unless podman already
#    has them. SOURCE_DATE_EPOCH is fixed, so the tarballs and the image IDs are the same
#    every time and podman's build cache stays valid.
# 3. podman build --pull=never.
# 4. Checks: runs as 65532 (non-root), `--read-only` root filesystem, `keygate version`,
#    no missing shared library (ldd of keygate and the SoftHSM2 module), the quick start
#    inside the container on its defaults (state in the working directory's volume), a
#    second run on the same volume generates nothing again, the operator without its
#    config file exits with a clear message; prints the image size and the time taken.
#
# podman on this kind of machine needs two settings (facts.md): RLIMIT_NOFILE and RLIMIT_NPROC
# within what the sandbox allows, and runc (crun 1.8 refuses the hybrid cgroup layout). They go into a
# CONTAINERS_CONF file of this script's own; /etc is not changed.
set -euo pipefail
cd "$(dirname "$0")/.."
TAG="${1:-keygate:0.1.0}"
START=$(date +%s)
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

step() { echo "image-test: $*"; }
fail() { echo "image-test: FAIL: $*" >&2; exit 1; }

need=()
for p in podman mmdebstrap runc uidmap; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  step "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q >/dev/null
  $SUDO apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
NOFILE="$(ulimit -Hn)"
[ "$NOFILE" = unlimited ] && NOFILE=1048576
# RLIMIT_NPROC too: podman asks for more than the sandbox allows (no CAP_SYS_RESOURCE), and
# here even the shell's own hard limit (96367) was refused while 32768 was accepted.
NPROC="$(ulimit -Hu)"
if [ "$NPROC" = unlimited ] || [ "$NPROC" -gt 32768 ]; then NPROC=32768; fi
cat >"$WORK/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=${NOFILE}:${NOFILE}", "nproc=${NPROC}:${NPROC}"]
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF="$WORK/containers.conf"

# The mirror URIs this machine's apt uses (deb822 or one-line sources).
mirror_for() {  # suite-kind: debian | debian-security
  local want="$1" uri
  uri=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
        | sed -E 's/^URIs:[[:space:]]*//; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//; s/[[:space:]].*$//' \
        | grep -E "/${want}/?\$" | head -n1 || true)
  echo "${uri:-http://deb.debian.org/${want}}"
}
MAIN="$(mirror_for debian)"
SECURITY="$(mirror_for debian-security)"

make_base() {  # name, extra mmdebstrap args...
  local name="$1"; shift
  if podman image exists "docker.io/library/debian:${name}"; then
    step "base image debian:${name} present"
    return
  fi
  step "making base image debian:${name} from ${MAIN} (mmdebstrap)"
  SOURCE_DATE_EPOCH=1735689600 mmdebstrap --quiet --variant=minbase \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr "$@" bookworm "$WORK/${name}.tar" \
    "deb ${MAIN} bookworm main" "deb ${MAIN} bookworm-updates main" \
    "deb ${SECURITY} bookworm-security main" >"$WORK/mmdebstrap.log" 2>&1 \
    || { tail -n 40 "$WORK/mmdebstrap.log"; fail "mmdebstrap debian:${name}"; }
  podman import --quiet "$WORK/${name}.tar" "docker.io/library/debian:${name}" >/dev/null
  rm -f "$WORK/${name}.tar"
}
make_base bookworm
make_base bookworm-slim \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias'

step "podman build -t ${TAG} ."
BUILD_START=$(date +%s)
podman build --quiet --pull=never --network host -t "$TAG" -f Dockerfile . >"$WORK/build.log" 2>&1 \
  || { tail -n 60 "$WORK/build.log"; fail "podman build"; }
BUILD_SECONDS=$(( $(date +%s) - BUILD_START ))

run() { podman run --rm --read-only --network none "$@"; }

user=$(podman image inspect --format '{{.Config.User}}' "$TAG")
[ "$user" = "65532:65532" ] || fail "image user is '${user}', want 65532:65532"
uid=$(run --entrypoint id "$TAG" -u)
[ "$uid" = 65532 ] || fail "runs as uid ${uid}"
step "runs as uid ${uid} (non-root)"

version=$(run "$TAG" version)
echo "$version" | grep -q "0.1.0" || fail "keygate version printed '${version}'"
step "keygate version: ${version}"

ldd_out=$(run --entrypoint ldd "$TAG" /usr/local/bin/keygate /usr/lib/softhsm/libsofthsm2.so)
if echo "$ldd_out" | grep -q "not found"; then echo "$ldd_out"; fail "missing shared libraries"; fi
step "ldd keygate and libsofthsm2.so: every library found"

# As root, so that only the read-only mount (not file permissions) can refuse the write.
ro=$(run --user 0 --entrypoint sh "$TAG" -c 'touch /etc/keygate-write-test' 2>&1) && fail "the root filesystem is writable"
echo "$ro" | grep -q "Read-only file system" || fail "write refused for another reason: ${ro}"
step "root filesystem read-only under --read-only"

# The quick start on the image's defaults: working directory /var/lib/keygate (a volume).
VOL="keygate-image-test-$$"
podman volume rm -f "$VOL" >/dev/null 2>&1 || true
quick() { run -v "$VOL:/var/lib/keygate" "$TAG" local -f /usr/share/keygate/examples/quickstart --once; }
out1=$(quick) || { echo "$out1"; podman volume rm -f "$VOL" >/dev/null; fail "quick start in the container"; }
echo "$out1" | grep -Eq "model-weights +Active" || { echo "$out1"; fail "model-weights is not Active"; }
echo "$out1" | grep -Eq "audit-log-signing +PreActive" || { echo "$out1"; fail "audit-log-signing is not PreActive"; }
echo "$out1" | grep -q "Audit records of this run (3;" || { echo "$out1"; fail "expected 3 audit records"; }
out2=$(quick) || { echo "$out2"; fail "second quick start"; }
echo "$out2" | grep -Eq "model-weights +Active" || { echo "$out2"; fail "second run: model-weights not Active"; }
echo "$out2" | grep -q "Audit records of this run (0;" || { echo "$out2"; fail "second run generated keys again"; }
podman volume rm -f "$VOL" >/dev/null
step "quick start in the container: model-weights Active, audit-log-signing PreActive; second run generated nothing"

set +e
noconf=$(run "$TAG" 2>&1); rc=$?
set -e
[ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] || fail "operator without config: exit ${rc}"
echo "$noconf" | grep -q "/etc/keygate/config.yaml" || { echo "$noconf"; fail "no clear message without config"; }
step "operator without its config file: exit ${rc}, names /etc/keygate/config.yaml"

size=$(podman image inspect --format '{{.Size}}' "$TAG")
step "image ${TAG}: $(( size / 1000000 )) MB; build ${BUILD_SECONDS} s, total $(( $(date +%s) - START )) s"
echo "image-test: 1 passed, 0 failed"
