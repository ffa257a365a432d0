#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) in build-fuzz/ and runs
# each for SECONDS (default 30), starting from its checked-in corpus
# fuzz/corpus/<target>/. New inputs the fuzzer finds go to
# build-fuzz/corpus/<target>/; a crash or broken property stops that target
# and leaves its input in build-fuzz/artifacts/. Exit 1 if any target failed.
#
# Usage: ./scripts/fuzz.sh [SECONDS] [TARGET...]     (targets: fuzz/CMakeLists.txt)
# A failure becomes a regression test: copy the artifact into
# fuzz/corpus/<target>/, fix the bug, and `ctest -L fuzz` replays it forever.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-30}"
shift || true
testdata="${MEDCHAIN_TESTDATA:-$(cd .. && pwd)/shared/testdata}"
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  read -r -a targets <<<"$(sed -n 's/^set(medchain_fuzz_targets \(.*\))$/\1/p' fuzz/CMakeLists.txt)"
fi

CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMEDCHAIN_FUZZ=ON -DMEDCHAIN_UNIT_ONLY=ON -DMEDCHAIN_BENCH=OFF -DMEDCHAIN_TESTDATA="$testdata" >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target fuzz_all

mkdir -p build-fuzz/artifacts
failed=()
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t"
  log="build-fuzz/fuzz-$t.log"
  echo "== fuzz_$t for ${seconds}s"
  if ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     "build-fuzz/bin/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -max_len=1048576 -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$t-" \
       "build-fuzz/corpus/$t" "fuzz/corpus/$t" >"$log" 2>&1; then
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$log" | tr '\n' ' '; echo
  else
    echo "FAILED: fuzz_$t (log $log):"
    grep -E "ERROR|property failed|Test unit written" "$log" | head -5
    failed+=("$t")
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}"
  exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${seconds}s each, nothing found"
