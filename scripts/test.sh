#!/usr/bin/env bash
# Sets up, builds and runs every test suite:
#   1. build/        the normal build: unit and functional tests (ctest)
#   2. build-asan/   unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer
#   3. build-fuzz/   every libFuzzer target for 30 s (scripts/fuzz.sh)
# Usage: ./scripts/test.sh [--no-setup] [--no-asan] [--no-fuzz] [-- extra ctest args]
set -euo pipefail
cd "$(dirname "$0")/.."

setup=1 asan=1 fuzz=1
while [ $# -gt 0 ]; do
  case "$1" in
    --no-setup) setup=0 ;;
    --no-asan) asan=0 ;;
    --no-fuzz) fuzz=0 ;;
    --) shift; break ;;
    *) echo "usage: $0 [--no-setup] [--no-asan] [--no-fuzz] [-- ctest args]" >&2; exit 2 ;;
  esac
  shift
done

if [ "$setup" = 1 ]; then ./scripts/setup.sh; fi

jobs=$(nproc)
testdata="${MEDCHAIN_TESTDATA:-$(cd .. && pwd)/shared/testdata}"

echo "== FHIR R4 definitions and the test FHIR client (npm, pinned versions)"
MEDCHAIN_FHIR_DEFINITIONS="$(./scripts/fhir-definitions.sh)"
export MEDCHAIN_FHIR_DEFINITIONS
if [ ! -f tests/integration/fhir_client/node_modules/fhir-kit-client/package.json ]; then
  (cd tests/integration/fhir_client && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi

echo "== build (RelWithDebInfo)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMEDCHAIN_TESTDATA="$testdata"
cmake --build build -j "$jobs"

echo "== tests"
(cd build && ctest --output-on-failure -j "$jobs" "$@")

if [ "$asan" = 1 ]; then
  echo "== unit tests under ASan + UBSan"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMEDCHAIN_SANITIZE=ON \
    -DMEDCHAIN_UNIT_ONLY=ON -DMEDCHAIN_BENCH=OFF -DMEDCHAIN_TESTDATA="$testdata"
  cmake --build build-asan -j "$jobs"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
     UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     ctest --output-on-failure -j "$jobs" -L unit "$@")
fi
if [ "$fuzz" = 1 ]; then
  echo "== fuzz targets, 30 s each"
  MEDCHAIN_TESTDATA="$testdata" ./scripts/fuzz.sh 30
fi
echo "== all tests passed"
