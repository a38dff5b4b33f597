#!/usr/bin/env bash
# The GPU check: run on a lent GPU machine (see DEVELOPERS.md / the device tool) as ONE call.
# Builds wick in Release (CUDA on when nvcc is found), runs every test, then the kernel
# benchmarks that matter on that machine's CPU and GPU. Logs go to $OUT (or ./gpu-check).
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

echo "== build"
t0=$(date +%s)
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DWICK_BUILD_BENCH=ON -DWICK_BUILD_EXAMPLES=OFF \
  "${prefix[@]}" || exit 1
cmake --build build-gpu -j "$jobs" -- -k 0 || exit 1
echo "build: $(( $(date +%s) - t0 )) s"

echo "== tests (ctest -j$jobs; each test process uses 2 threads)"
(cd build-gpu && ctest -j "$jobs" --timeout 600 --output-on-failure -E install_consumer) | tail -40
echo "== kernel tests again with every core per process"
for t in build-gpu/tests/test_ops_gemm build-gpu/tests/test_ops_conv_kernels build-gpu/tests/test_ops_flash_attention \
         build-gpu/tests/test_tensor_allocator build-gpu/tests/test_tensor_parallel build-gpu/tests/test_optim_fused_step; do
  [ -x "$t" ] && WICK_NUM_THREADS=$jobs "$t" --gtest_brief=1 2>&1 | tail -3
done
[ "${1:-}" = "--quick" ] && exit 0
echo "== benches"
for b in bench_peak bench_gemm; do
  [ -x build-gpu/bench/$b ] && WICK_NUM_THREADS=$jobs build-gpu/bench/$b --benchmark_min_time=0.2 2>&1 | tee "$out/$b.txt" | tail -30
done
