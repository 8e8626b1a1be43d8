#!/usr/bin/env bash
# `make test-asan` / `make test-tsan`: builds everything with a sanitizer in build-asan/ or
# build-tsan/ and runs the unit and integration tiers under it. Any report fails the test that
# made it (halt_on_error), so a clean run is a run where ctest passes.
#
#   scripts/sanitize-test.sh address|thread [ctest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:?address or thread}; shift
case "$kind" in
  address) dir=build-asan
    # LeakSanitizer stays off: the test binaries end with _exit() (tests/support/gtest_main.cc),
    # so it would only see the process-lifetime singletons of gRPC and OpenSSL.
    export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=1
    export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ;;
  thread) dir=build-tsan
    # history_size=7: the most per-thread history TSan keeps, so the earlier access of a report
    # is restored and a suppression can match it (with less, some show "failed to restore").
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:history_size=7:suppressions=$PWD/tests/tsan.supp" ;;
  *) echo "usage: $0 address|thread" >&2; exit 2 ;;
esac
bash scripts/install-deps.sh
bash scripts/install-test-tools.sh >/dev/null
if [ ! -f "$dir/build.ninja" ]; then
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKEYGATE_SANITIZE="$kind" >/dev/null
fi
cmake --build "$dir" -j "$(nproc)"
cd "$dir"
python3 ../scripts/run-reaped.py -- ctest --output-on-failure -j "$(nproc)" -L 'unit|integration' --timeout 600 "$@"
