#!/usr/bin/env bash
# The GPU check (issue 6): run on a lent GPU machine as ONE call, e.g. through the device tool
#   run(command="bash scripts/gpu_check.sh", carry=[".devdeps"], timeout_s=540)
# Builds wick in Release with CUDA (sm_90), runs every test (the CUDA tests must not skip
# there), compute-sanitizer memcheck on the CUDA tests of copy, elementwise, reduction, GEMM
# and the allocator, then the GPU benchmarks (wick vs cuBLAS, interleaved) and the CPU peak.
# Logs go to $OUT (or ./gpu-check); the console gets the compact summary. Budget: < 8 min on
# 16 cores + one H100.
#
# The lent machines cannot reach a package registry. Debian packages the build needs
# (GoogleTest, Google Benchmark, nlohmann-json, stb, zlib headers) can travel in .devdeps/
# (`apt-get download` them here; .devdeps is git-ignored) and are unpacked into /tmp/deps.
#
# Usage: bash scripts/gpu_check.sh [--quick]
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-$PWD/gpu-check}
mkdir -p "$out"
log=$out/gpu_check.log
exec > >(tee "$log") 2>&1
jobs=$(nproc)
echo "== machine"; date -u; uname -a; nproc
lscpu | grep -E 'Model name|Flags' | sed 's/Flags:/Flags (avx512):/;' | grep -o 'Model name.*\|avx512[a-z_]*' | sort -u | tr '\n' ' '; echo
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
command -v nvcc >/dev/null && nvcc --version | tail -2

prefix=()
if [ -d .devdeps ]; then
  echo "== unpacking .devdeps into /tmp/deps"
  mkdir -p /tmp/deps
  for f in .devdeps/*.deb; do dpkg -x "$f" /tmp/deps; done
  export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
  [ -f /usr/include/stb/stb_image.h ] || prefix+=(-DSTB_INCLUDE_DIR=/tmp/deps/usr/include/stb)
fi
if [ -d .devdeps/fashion-mnist ] && [ ! -d /usr/share/datasets/fashion-mnist ]; then
  mkdir -p /usr/share/datasets && cp -r .devdeps/fashion-mnist /usr/share/datasets/
fi

echo "== build (CUDA for sm_90 only: the CI builds every architecture)"
t0=$(date +%s)
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DWICK_BUILD_BENCH=ON -DWICK_BUILD_EXAMPLES=OFF \
  -DWICK_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90-real "${prefix[@]}" > "$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
cmake --build build-gpu -j "$jobs" -- -k 0 > "$out/build.log" 2>&1 || { grep -E 'error|FAILED' "$out/build.log" | head -40; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"

echo "== is the GPU visible to wick?"
build-gpu/tests/test_cuda_copy --gtest_filter='*' --gtest_brief=1 2>&1 | tail -3
if build-gpu/tests/test_cuda_copy 2>&1 | grep -q "SKIPPED"; then
  echo "GPU CHECK FAILED: the CUDA tests skip on this machine (wick::cuda::is_available() is false)"
fi

echo "== tests (ctest -j$jobs; each test process uses 2 CPU threads; the CUDA tests share the GPU)"
t0=$(date +%s)
(cd build-gpu && ctest -j "$jobs" --timeout 300 --output-on-failure -E 'install_consumer' > "$out/ctest.log" 2>&1)
ctest_rc=$?
grep -E 'tests passed|tests failed|Total Test time' "$out/ctest.log"
grep -E '^\s+[0-9]+ - ' "$out/ctest.log" | head -60
echo "tests: $(( $(date +%s) - t0 )) s, ctest rc $ctest_rc"
echo "== CUDA tests: skipped on a GPU machine would be a bug"
for t in build-gpu/tests/test_cuda_*; do
  [ -x "$t" ] || continue
  printf '%-40s %s\n' "$(basename "$t")" "$("$t" --gtest_brief=1 2>&1 | grep -E '^\[  (PASSED|FAILED|SKIPPED)' | tr '\n' ' ')"
done

echo "== compute-sanitizer (memcheck) on a representative subset"
if command -v compute-sanitizer >/dev/null; then
  for t in test_cuda_copy test_cuda_elementwise test_cuda_reduction test_cuda_gemm test_cuda_allocator; do
    [ -x build-gpu/tests/$t ] || continue
    timeout 120 compute-sanitizer --tool memcheck --error-exitcode 99 --print-limit 5 build-gpu/tests/$t \
      --gtest_brief=1 > "$out/sanitizer_$t.log" 2>&1
    printf '%-28s memcheck rc %s  %s\n' "$t" "$?" "$(grep -E 'ERROR SUMMARY' "$out/sanitizer_$t.log" | tail -1)"
  done
else
  echo "compute-sanitizer not found"
fi
[ "${1:-}" = "--quick" ] && exit 0

echo "== GPU benches (wick vs cuBLAS, interleaved in the same run)"
for b in "bench_cuda_gemm --compare --rounds=3" "bench_cuda_elementwise"; do
  set -- $b
  [ -x build-gpu/bench/$1 ] && timeout 240 build-gpu/bench/$b 2>&1 | tee "$out/$1.txt" | tail -40
done
echo "== CPU benches on this machine's cores"
for b in bench_peak; do
  [ -x build-gpu/bench/$b ] && WICK_NUM_THREADS=$jobs timeout 60 build-gpu/bench/$b --benchmark_min_time=0.2 2>&1 | tee "$out/$b.txt" | tail -12
done
echo "== not measured yet by this script (no wick kernel yet): attention fwd+bwd vs SDPA, GPT-2 124M bf16 step vs"
echo "   PyTorch eager, ResNet-50 224px vs PyTorch eager (issue 6)"
