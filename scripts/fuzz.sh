#!/usr/bin/env bash
# `make fuzz`: builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan on every
# library they reach) in build-fuzz/, then fuzzes each for FUZZ_SECONDS (default 60) from a
# working copy of its seed corpus, and prints executions, coverage and corpus size per target.
# Crashes leave their input in build-fuzz/findings/<target>/ and fail the run.
#
#   FUZZ_SECONDS=600 FUZZ_TARGETS="ttlv manifests" make fuzz
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh clang libclang-rt-14-dev

BUILD=build-fuzz
SECONDS_EACH=${FUZZ_SECONDS:-60}
TARGETS=${FUZZ_TARGETS:-"json_codecs operator_config manifests ttlv admission_review watch_line kubeconfig crypto_request kms_request"}

if [ ! -f "$BUILD/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKEYGATE_FUZZ=ON >/dev/null
fi
cmake --build "$BUILD" -j "$(nproc)" --target fuzz_targets

export ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
printf '%-18s %10s %12s %8s %8s %8s %s\n' target seconds executions exec/s cov ft corpus
failed=0
for t in $TARGETS; do
  work="$BUILD/corpus/$t" findings="$BUILD/findings/$t"
  mkdir -p "$work" "$findings"
  cp -n tests/fuzz/corpus/"$t"/* "$work"/ 2>/dev/null || true
  log="$BUILD/fuzz-$t.log"
  # -rss_limit_mb: a parser that allocates without bound is a finding, not an OOM-killed run.
  if ! "$BUILD/tests/fuzz/fuzz_$t" "$work" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -max_len=65536 \
       -print_final_stats=1 -artifact_prefix="$findings/" >"$log" 2>&1; then
    failed=1
    echo "fuzz_$t: FAILED, see $log and $findings/" >&2
  fi
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)
  runs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | awk '{print $2}' || echo 0)
  cov=$(echo "$done_line" | grep -oE 'cov: [0-9]+' | awk '{print $2}')
  ft=$(echo "$done_line" | grep -oE 'ft: [0-9]+' | awk '{print $2}')
  corp=$(echo "$done_line" | grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' | awk '{print $2}')
  rate=$(( ${runs:-0} / SECONDS_EACH ))
  printf '%-18s %10s %12s %8s %8s %8s %s\n' "$t" "$SECONDS_EACH" "${runs:-0}" "$rate" "${cov:-?}" "${ft:-?}" "${corp:-?}"
done
exit $failed
