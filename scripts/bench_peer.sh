#!/usr/bin/env bash
# wick vs PyTorch on the reference training workloads (issue 4), in one command:
# installs what is missing (Debian: python3-torch, Google Benchmark, OpenBLAS),
# builds bench_models in build-bench (Release, -DWICK_BUILD_BENCH=ON), then runs
# bench/peer/run.py, which alternates wick's and PyTorch's runs of each workload,
# prints the table and writes bench/peer/latest.md.
#
#   scripts/bench_peer.sh                         all workloads, 2 threads, 3 rounds
#   scripts/bench_peer.sh --quick                 smoke test (1 round, 5 steps)
#   scripts/bench_peer.sh --threads 2 --rounds 5 --workloads mlp,gpt
#   scripts/bench_peer.sh --no-build ...          use the bench_models already built
# Environment: BUILD_DIR (default build-bench), JOBS (ninja -j, default 2).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BUILD_DIR:-$root/build-bench}"
case "$build_dir" in /*) ;; *) build_dir="$root/$build_dir" ;; esac

build=1
args=()
for a in "$@"; do
  if [ "$a" = "--no-build" ]; then build=0; else args+=("$a"); fi
done

pkgs=(python3-torch libbenchmark-dev libopenblas-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench_peer: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "$build" = 1 ]; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  cmake -S "$root" -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" \
    -DWICK_BUILD_BENCH=ON -DWICK_BUILD_TESTS=OFF -DWICK_BUILD_EXAMPLES=OFF -DWICK_OPENBLAS=ON >/dev/null
  cmake --build "$build_dir" --target bench_models -j "${JOBS:-2}"
fi

export WICK_BENCH_MODELS="$build_dir/bench/bench_models"
exec /usr/bin/python3 "$root/bench/peer/run.py" ${args[@]+"${args[@]}"}
