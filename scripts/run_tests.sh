#!/usr/bin/env bash
# The test command: installs what is missing, builds wick in Release and runs
# every test, then builds with AddressSanitizer + UndefinedBehaviorSanitizer
# and runs every test again. Usage: bash scripts/run_tests.sh [--no-sanitize]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_debian.sh
jobs=$(nproc)
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
  # Paths inside the checkout hash as relative ones, so any clone of the repo
  # (CI clones afresh) reuses objects compiled by another.
  export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
fi

echo "== Release build"
# The benchmarks are built (not run) so that none of them rots.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DWICK_BUILD_BENCH=ON -DWICK_OPENBLAS=ON "${launcher[@]}"
cmake --build build -j "$jobs"
echo "== Release tests"
# Tests run two at a time on 2 threads each: OpenMP threads that sleep instead
# of spinning while they wait keep the oversubscribed runs fast.
export OMP_WAIT_POLICY=passive
(cd build && ctest --output-on-failure -j "$jobs" --timeout 900)

if [ "${1:-}" != "--no-sanitize" ]; then
  echo "== ASan+UBSan build"
  # -O1 -g1: quick to compile, still fast enough to run, with line numbers in reports.
  # CPU-only (WICK_CUDA=OFF): nvcc takes no -fsanitize, and the Release pass already compiles the CUDA backend.
  cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=Sanitize -DCMAKE_CXX_FLAGS_SANITIZE="-O1 -g1" \
    -DWICK_SANITIZE=ON -DWICK_CUDA=OFF -DWICK_BUILD_EXAMPLES=OFF "${launcher[@]}"
  cmake --build build-sanitize -j "$jobs"
  echo "== ASan+UBSan tests"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  # The papers' end-to-end quick runs (*.QuickRun*: whole experiments through
  # the executables) run ~30x slower under ASan (over 10 minutes each on 2
  # cores); the Release pass runs them, and every piece they are made of has
  # its own test here.
  (cd build-sanitize && ctest --output-on-failure -j "$jobs" --timeout 1800 -E '\.QuickRun')
fi
