#!/usr/bin/env bash
# The GPU check (issue 6): run on a lent GPU machine as ONE call, e.g. through the device tool
#   run(command="bash scripts/gpu_check.sh", carry=[".devdeps"], timeout_s=540)
# Builds wick in Release with CUDA (sm_90) and runs the CPU tests there (or takes a prebuilt pack, below),
# runs every CUDA test (they must not skip there), compute-sanitizer memcheck on the CUDA tests of the op
# families and racecheck on the never-run opt-in kernels' tests, then the GPU benchmarks (wick vs cuBLAS /
# cuDNN / PyTorch, interleaved), and ends with one table of issue 6's targets against what the run measured
# (scripts/gpu_summary.py). Logs go to $OUT
# (or ./gpu-check); the console gets the compact summary. Budget: < 8 min on 16 cores + one H100-class
# GPU for the check from a pack; a build from source adds its compile time (minutes: elementwise.cu alone).
#
# The lent machines cannot reach a package registry. Debian packages the build needs
# (GoogleTest, Google Benchmark, nlohmann-json, stb, zlib headers) can travel in .devdeps/
# (`apt-get download` them here; .devdeps is git-ignored) and are unpacked into /tmp/deps.
#
# Usage: bash scripts/gpu_check.sh [--quick]
#
# Prebuilt mode, for a lease too short to compile there (elementwise.cu alone takes minutes):
#   scripts/gpu_check.sh --pack              (here) builds the CUDA tests and benches for sm_90
#                                            without MPI into build-gpu90 and packs them into
#                                            .gpubin/wick-sm90.tar.xz (git-ignored)
#   WICK_GPU_PREBUILT=.gpubin/wick-sm90.tar.xz bash scripts/gpu_check.sh
#                                            (there, carry=[".gpubin", ".devdeps/libbenchmark1debian_1.7.1-1_amd64.deb",
#                                            ".devdeps/fashion-mnist"]: test_cuda_amp trains on it)
#                                            runs the CUDA tests, the sanitizer and the benches
#                                            from the pack; the CPU tests already ran in CI (a
#                                            build from source runs them here too).
#                                            WICK_GPU_DEADLINE=S skips what would not end by
#                                            S seconds (see want() below),
#                                            WICK_GPU_TESTS_ONLY=1 stops after the tests,
#                                            WICK_GPU_BENCH_ONLY=1 runs only the benches: two
#                                            calls when one would pass its time limit.
#                                            WICK_GPU_PREVIOUS=.gpubin/prev-detail.tgz (the
#                                            detail.tgz an earlier call of the same pack returned,
#                                            copied into .gpubin here): a second call of extras
#                                            (WICK_GPU_ONLY='alternates ...') takes that call's test
#                                            results instead of running the tests again.
set -uo pipefail
cd "$(dirname "$0")/.."
# Every CUDA test and bench (tests/cuda/test_<x>.cpp -> test_cuda_<x>, bench/*/bench_cuda_<x>.cpp), the NCCL
# test and the CPU peak probe: what a pack holds, and what the sections below run.
pack_targets() {
  for f in tests/cuda/test_*.cpp; do n=$(basename "$f" .cpp); printf 'test_cuda_%s ' "${n#test_}"; done
  for f in bench/*/bench_cuda_*.cpp; do printf '%s ' "$(basename "$f" .cpp)"; done
  echo test_dist_nccl bench_peak
}
if [ "${1:-}" = "--pack" ]; then
  targets=$(pack_targets)
  # libwick as a shared library: the kernels travel once instead of once per binary (a static pack
  # was ~700 MB, 27 MB compressed, and with Fashion-MNIST passed the 64 MiB the device tool carries).
  cmake -S . -B build-gpu90 -G Ninja -DCMAKE_BUILD_TYPE=Release -DWICK_BUILD_BENCH=ON -DWICK_BUILD_EXAMPLES=OFF \
    -DWICK_BUILD_PAPERS=OFF -DWICK_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a-real -DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON \
    -DBUILD_SHARED_LIBS=ON -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache >/dev/null || exit 1
  ninja -C build-gpu90 $targets || exit 1
  mkdir -p .gpubin/pack && rm -f .gpubin/pack/*
  for t in $targets; do cp build-gpu90/tests/$t build-gpu90/bench/$t .gpubin/pack/ 2>/dev/null; done
  cp -L build-gpu90/libwick.so .gpubin/pack/ || exit 1
  strip .gpubin/pack/*
  # One xz stream with a 64 MiB window (single-threaded: threads would cut it into blocks). The device
  # tool carries 64 MiB in all: the working tree (~5 MiB), this pack and Fashion-MNIST (~30 MiB).
  tar -C .gpubin -cf - pack | xz -T1 --lzma2=preset=6,dict=64MiB > .gpubin/wick-sm90.tar.xz && rm -r .gpubin/pack
  ls -l .gpubin/wick-sm90.tar.xz; exit 0
fi
out=${OUT:-$PWD/gpu-check}
mkdir -p "$out"
# A fresh run: what an earlier run into this folder left (its tarball, or the files of a killed run) must
# not mix into this one's results.
rm -rf "$out"/detail "$out"/detail.tgz "$out"/detail.tgz.tmp "$out"/bench_*.txt "$out"/models.jsonl "$out"/models.err \
  "$out"/ncu_* "$out"/profile_*.txt "$out"/torch_*.txt "$out"/configure.log "$out"/build.log "$out"/ctest.log
log=$out/gpu_check.log
exec > >(trap '' TERM INT HUP; exec tee "$log") 2>&1  # tee outlives a TERM to the group: the EXIT trap's writes get no SIGPIPE
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
  export WICK_FASHION_MNIST_ROOT=$PWD/.devdeps/fashion-mnist  # test_cuda_amp's training run reads it
fi

# CUDA libraries: the toolkit's, else the ones PyTorch's wheels bring (cuBLAS, NCCL).
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib \
         $(ls -d /opt/torch/.venv/lib/python3*/site-packages/nvidia/*/lib /usr/local/lib/python3*/dist-packages/nvidia/*/lib 2>/dev/null); do
  [ -d "$d" ] && export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d
done

# WICK_GPU_ONLY="alternates sanitizer racecheck gemm gemm-all elementwise attention conv conv-before models profile
# ncu-attn ncu-gemm ncu-source ncu"
# (any subset): only those sections after the tests, for a short lease. Unset: the check the issue asks
# for, the tests, the sanitizer and the benches (sanitizer racecheck gemm elementwise attention conv models); the
# extras run only when named (alternates: the other paths through the tests and the opt-in verdicts;
# gemm-all, conv-before: the variant and earlier-path columns of those benches; profile, ncu-attn, ncu-gemm,
# ncu-source, ncu: where the time goes; ncu-source down to the SASS instruction). Every section prints its wall time, and the closing summary (scripts/gpu_summary.py)
# the issue's targets against this run's figures and the whole call's time. From the sections' times on
# an H200 (2026-11-28) the default check from a pack took 324 s and 275 s as one run (two leases).
# WICK_GPU_DEADLINE=S (seconds from the start; set it below the call's timeout): a section that would
# not finish by then, by its rough cost below, is skipped with a line saying so, so the call ends on
# its own (and packs its logs) instead of being killed mid-bench.
t_start=$(date +%s)
extras_not_run="" deadline_skipped=""
want() {
  if [ -z "${WICK_GPU_ONLY:-}" ]; then
    case " alternates gemm-all conv-before profile ncu-attn ncu-gemm ncu-source ncu " in
      *" $1 "*) [[ " $extras_not_run " == *" $1 "* ]] || extras_not_run+=" $1"; return 1 ;;
    esac
  elif [[ " $WICK_GPU_ONLY " != *" $1 "* ]]; then
    return 1
  fi
  local need=${2:-60} left
  [ -z "${WICK_GPU_DEADLINE:-}" ] && return 0
  left=$(( WICK_GPU_DEADLINE - ($(date +%s) - t_start) ))
  if [ "$left" -lt "$need" ]; then
    echo "== skipped: $1 (about ${need} s; ${left} s left before WICK_GPU_DEADLINE)"
    [[ " $deadline_skipped " == *" $1 "* ]] || deadline_skipped+=" $1"
    return 1
  fi
}

# The environment of a "wick-opt" run of workload $1 (gpt2, resnet50): the paths still opt-in that could
# serve it (empty: no such run). GPT-2: the embedding backward through the sorted index, cluster split-K
# for the weight gradients' GEMMs, stream-K's fixup fused into its GEMM kernel (for those cluster split-K
# leaves to stream-K; it takes the place of the partials' L2 hints, which bench_cuda_gemm's l2 column
# times alone). (Not the warp-specialized attention forward: 7% slower on an H200.)
wick_opt_env() {
  [ "$1" = gpt2 ] && echo "WICK_CUDA_INDEX_ADD_SORTED=1 WICK_CUDA_GEMM_CLUSTER_K=1 WICK_CUDA_GEMM_SK_FUSED=1"
}
# The attention paths turned on by the third lease of 2026-11-28, off: ncu-attn times one step's kernels
# with them too.
attn_before="WICK_CUDA_ATTENTION_WGMMA_FWD_TMA=0 WICK_CUDA_ATTENTION_LPT=0"
# The 21 paths turned on by default on 2026-11-28 (H200 leases; three after the third; the FA2 backward, which
# the wgmma backward precedes on sm_90, in the session after), turned off: the earlier default paths, kept as
# fallbacks, run through the model tests in the alternates below.
before_1128="WICK_CUDA_SIMT_ASYNC=0 WICK_CUDA_GEMM_BIAS=0 WICK_CUDA_REDUCE_VEC=0 WICK_CUDA_MIXED_BINARY=0"
before_1128="$before_1128 WICK_CUDA_GEMM_STREAMK=0 WICK_CUDA_GEMM_TMA_STORE=0 WICK_CUDA_GEMM_ROWS64=0"
before_1128="$before_1128 WICK_CUDA_ROW_CHUNKS=0 WICK_CUDA_ATTENTION_STRIDED=0 WICK_CUDA_CE_16BIT=0 WICK_CUDA_BN_VEC=0"
before_1128="$before_1128 WICK_CUDA_BN_RELU=0 WICK_CUDA_CONV_PACKS=0 WICK_CUDA_CONV_TRANSPOSE_FWD=0"
before_1128="$before_1128 WICK_CUDA_SIMT_ROWS64=0 WICK_CUDA_ATTENTION_WGMMA_BWD_TMA=0 WICK_CUDA_ATTENTION_WGMMA_BWD_DQ_BULK=0"
before_1128="$before_1128 $attn_before WICK_CUDA_SIMT_TRANSPOSE_K=0 WICK_CUDA_ATTENTION_FA2_BWD=0"

# Sections: `section NAME "title"` closes the one before with its wall time (also into detail/times),
# so every run says where its minutes went.
mkdir -p "$out/detail"
sec_name="" sec_t=$t_start
section() {
  local now; now=$(date +%s)
  if [ -n "$sec_name" ]; then
    echo "   ($sec_name: $(( now - sec_t )) s)"; echo "$sec_name $(( now - sec_t ))" >> "$out/detail/times"
  fi
  sec_name=$1 sec_t=$now
  [ -z "${2:-}" ] || echo "== $2"
}
# At the end, however it ends (a deadline, an error): the summary table of the issue's targets from
# what this run measured, then the logs packed. The device tool returns at most 8 files from $OUT:
# everything but the console log travels as one tarball (the per-binary logs, the bench tables, ncu's
# and the profilers' reports; one call's profiles alone were 6 files and did not come back on 2026-11-28).
# Process groups still running work (the test runs, the sanitizer's), ended by finish when the check
# stops early (a TERM, an error): nothing may go on writing into detail/ after it is packed.
groups=()
runs=() quick="" completed="" reused=""  # reused: WICK_GPU_PREVIOUS below; runs: the test runs, three words each (binary, shard, shards); completed: set
# just before the check's intended exits, else the summary says the run ended early
finish() {
  local rc=$? g
  trap '' TERM INT HUP
  for g in "${groups[@]}"; do kill -TERM -- "-$g" 2>/dev/null; done
  for g in "${groups[@]}"; do wait "$g" 2>/dev/null; done
  # A test run that never wrote its exit status (the check stopped first) has no result, which fails it.
  local i sfx
  for ((i = 0; i + 2 < ${#runs[@]}; i += 3)); do
    sfx=; [ "${runs[i + 2]}" -gt 1 ] && sfx=.s${runs[i + 1]}
    [ -e "$out/detail/$(basename "${runs[i]}")$sfx.rc" ] || echo missing > "$out/detail/$(basename "${runs[i]}")$sfx.rc"
  done
  section end
  [ -z "$extras_not_run" ] || echo "== extras not run (name them in WICK_GPU_ONLY):$extras_not_run"
  local partial=${WICK_GPU_ONLY:+WICK_GPU_ONLY=\'$WICK_GPU_ONLY\' }${WICK_GPU_TESTS:+WICK_GPU_TESTS=\'$WICK_GPU_TESTS\' }
  partial+=${WICK_GPU_TESTS_ONLY:+WICK_GPU_TESTS_ONLY }${WICK_GPU_BENCH_ONLY:+WICK_GPU_BENCH_ONLY }
  partial+=${reused:+tests from WICK_GPU_PREVIOUS }
  partial+=${quick:+--quick }${deadline_skipped:+skipped by WICK_GPU_DEADLINE:$deadline_skipped }
  if [ -z "$completed" ]; then
    partial+="ended early (an error, a failed build or a signal) "
    [ "$rc" != 0 ] || rc=1  # (after a TERM the trap sees 0)
  fi
  local summary_rc=0
  if command -v python3 >/dev/null; then
    python3 scripts/gpu_summary.py "$out" --seconds $(( $(date +%s) - t_start )) ${partial:+--partial "$partial"}
    summary_rc=$?
  fi
  local f files=()
  for f in "$out"/*; do [ "$(basename "$f")" = gpu_check.log ] || files+=("$(basename "$f")"); done
  tar -C "$out" -czf "$out/detail.tgz.tmp" "${files[@]}" && rm -r "${files[@]/#/"$out/"}" && mv "$out/detail.tgz.tmp" "$out/detail.tgz"
  # The exit status: the check's own failure, else 1 when a test or the sanitizer failed (gpu_summary.py).
  [ "$rc" != 0 ] || exit "$summary_rc"
  exit "$rc"
}
trap finish EXIT

if [ -n "${WICK_GPU_PREBUILT:-}" ]; then
  echo "== prebuilt: $WICK_GPU_PREBUILT (built for sm_90 on the CPU machine)"
  rm -rf /tmp/wickgpu && mkdir -p /tmp/wickgpu && tar -C /tmp/wickgpu -xJf "$WICK_GPU_PREBUILT" || exit 1
  # (Which pack this call's results are of: WICK_GPU_PREVIOUS below takes an earlier call's tests only from
  # the same one.)
  sha256sum < "$WICK_GPU_PREBUILT" | cut -c1-64 > "$out/detail/pack_id"
  bin=/tmp/wickgpu/pack
  export LD_LIBRARY_PATH=$bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}  # libwick.so (the pack's RPATH is this machine's)
else
  # From source: every target (the CPU tests too: this machine's AVX-512 paths are not CI's), sm_90 only.
  section build "build (CUDA for sm_90 only: the CI builds every architecture)"
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DWICK_BUILD_BENCH=ON -DWICK_BUILD_EXAMPLES=OFF \
    -DWICK_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a-real "${prefix[@]}" > "$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
  cmake --build build-gpu -j "$jobs" -- -k 0 > "$out/build.log" 2>&1 || { grep -E 'error|FAILED' "$out/build.log" | head -40; exit 1; }
  # The sections below take the binaries from one folder, as from a pack.
  bin=$PWD/build-gpu/gpu-bin
  rm -rf "$bin" && mkdir -p "$bin"
  for t in $(pack_targets); do
    for d in build-gpu/tests build-gpu/bench; do [ -x "$d/$t" ] && ln -s "$PWD/$d/$t" "$bin/$t"; done
  done
  section cpu-tests "the CPU tests on this machine's cores (ctest -j$jobs; CI runs them on its own)"
  # (The CUDA tests' names start with Cuda or Nccl: the tests section runs those on the GPU.)
  (cd build-gpu && ctest -j "$jobs" --timeout 300 --output-on-failure -E '^(Cuda|Nccl)|install_consumer' > "$out/ctest.log" 2>&1)
  echo "ctest rc $?: $(grep -E 'tests passed|tests failed' "$out/ctest.log")"
  grep -E '^\s+[0-9]+ - ' "$out/ctest.log" | head -40
  WICK_NUM_THREADS=$jobs timeout 60 "$bin/bench_peak" --benchmark_min_time=0.2 2>&1 | tee "$out/bench_peak.txt" | tail -6
fi
if "$bin/test_cuda_copy" --gtest_brief=1 2>&1 | grep -q "SKIPPED"; then
  echo "GPU CHECK FAILED: the CUDA tests skip on this machine (wick::cuda::is_available() is false)"
  : > "$out/detail/no_gpu"  # (the summary then fails the tests row whatever they returned)
fi
for f in "$bin"/*; do ldd "$f" | grep 'not found' | sed "s|^|$(basename "$f"): |"; done | sort -u
# WICK_GPU_BENCH_ONLY=1: the benches alone (a second call after a WICK_GPU_TESTS_ONLY=1 one, when the
# whole check would not fit one call's time limit).
if [ -z "${WICK_GPU_BENCH_ONLY:-}" ]; then
section tests "CUDA tests (the CPU tests run in CI), 6 processes at a time on the one GPU"
# WICK_GPU_TESTS="test_cuda_gemm test_cuda_loss": only those binaries, here and in the alternates (a
# rerun after fixes, on what is left of a lease); the opt-in table then judges only their switches.
selected() { [ -z "${WICK_GPU_TESTS:-}" ] || [[ " $WICK_GPU_TESTS " == *" $1 "* ]]; }
tests=(); for t in "$bin"/test_*; do selected "$(basename "$t")" && tests+=("$t"); done
# WICK_GPU_PREVIOUS=<an earlier call's detail.tgz, from the same pack>: that call's test results in place of
# running the tests again (~70-100 s of a lease), for a second call of extras whose verdicts read them
# (the opt-in table). Taken only when the earlier call recorded the same pack (detail/pack_id); else the
# tests run as usual.
if [ -n "${WICK_GPU_PREVIOUS:-}" ]; then
  prev=$(mktemp -d)
  if tar -C "$prev" -xzf "$WICK_GPU_PREVIOUS" --wildcards 'detail/pack_id' 'detail/test_*' 2>/dev/null &&
     [ -s "$out/detail/pack_id" ] && cmp -s "$prev/detail/pack_id" "$out/detail/pack_id"; then
    cp "$prev"/detail/test_* "$out/detail/" && reused=1
    # (Its racecheck logs too, where it ran them: the opt-in table reads them.)
    tar -C "$prev" -xzf "$WICK_GPU_PREVIOUS" --wildcards 'detail/racecheck_*' 2>/dev/null &&
      cp "$prev"/detail/racecheck_* "$out/detail/"
    echo "(the test results of $WICK_GPU_PREVIOUS, the same pack: not run again)"
  else
    echo "WICK_GPU_PREVIOUS: $WICK_GPU_PREVIOUS is not an earlier call's results of this pack: the tests run"
  fi
  rm -rf "$prev"
fi
[ ${#tests[@]} -gt 0 ] || echo "WARNING: WICK_GPU_TESTS names no test binary of the pack: '${WICK_GPU_TESTS:-}'"
# The longest binaries run in gtest shards, started first: on the H200 (2026-11-28) test_cuda_gemm took
# 87 of the section's 97 s (its float64 host reference), test_cuda_attention 23, the next ones 15.
shards() { case $1 in test_cuda_gemm) echo 4 ;; test_cuda_attention | test_cuda_conv | test_cuda_linalg) echo 2 ;; *) echo 1 ;; esac; }
runs=()
for heavy in 1 0; do
  for t in "${tests[@]}"; do
    k=$(shards "$(basename "$t")")
    if { [ "$heavy" = 1 ] && [ "$k" -gt 1 ]; } || { [ "$heavy" = 0 ] && [ "$k" = 1 ]; }; then
      for ((i = 0; i < k; ++i)); do runs+=("$t" "$i" "$k"); done  # (three words a run)
    fi
  done
done
# Each run writes detail/<binary>[.s<shard>].{log,json,rc}. xargs runs in a process group of its own
# (setsid), with every test in it (timeout --foreground keeps them there), so that finish can end them
# all if the check stops early.
if [ -n "$reused" ]; then
  runs=()
elif [ ${#runs[@]} -gt 0 ]; then
  # shellcheck disable=SC2016
  setsid -w xargs -0 -n 3 -P 6 bash -c 'n=$(basename "$1"); sfx=; [ "$3" -gt 1 ] && sfx=.s$2
    GTEST_TOTAL_SHARDS=$3 GTEST_SHARD_INDEX=$2 timeout --foreground 240 "$1" --gtest_brief=1 \
      --gtest_output=json:"$0/detail/$n$sfx.json" > "$0/detail/$n$sfx.log" 2>&1
    echo $? > "$0/detail/$n$sfx.rc"' "$out" < <(printf '%s\0' "${runs[@]}") &
  groups+=($!)
  wait "$!"
fi
for t in "${tests[@]}"; do
  n=$(basename "$t"); k=$(shards "$n"); rcs="" fail=0 logs=()
  for ((i = 0; i < k; ++i)); do
    f="$out/detail/$n.rc"; [ "$k" -gt 1 ] && f="$out/detail/$n.s$i.rc"
    [ -e "$f" ] || echo missing > "$f"  # (no result: the run never ended, or never started)
    r=$(cat "$f"); rcs+=${rcs:+,}$r; [ "$r" = 0 ] || fail=1
    [ -e "${f%.rc}.log" ] && logs+=("${f%.rc}.log")
  done
  [ "$k" -gt 1 ] && shown="$n ($k shards)" || shown=$n
  # gtest's closing lines, the shards' counts added: "[ PASSED ] n tests. [ SKIPPED ] m tests." and each
  # failure; rc: each shard's exit status.
  printf '%-24s rc %-3s %s\n' "$shown" "$rcs" "$(cat "${logs[@]}" /dev/null | awk '
    /^\[  PASSED  \] [0-9]+ test/ { p += $4 } /^\[  SKIPPED \] [0-9]+ test/ { k += $4 }
    /^\[  FAILED  \] [A-Za-z0-9_\/]+\.[A-Za-z0-9_\/]+/ { if (!seen[$4]++) f = f " [ FAILED ] " $4 }
    END { printf "[ PASSED ] %d tests.%s%s", p, (k ? sprintf(" [ SKIPPED ] %d tests.", k) : ""), f }')"
  [ "$fail" = 0 ] || cat "${logs[@]}" /dev/null | grep -E 'Failure|error|Error|FAILED|Expected|Which is|actual|SKIPPED' | head -30
done
grep -h '^ConvNet on Fashion-MNIST' "$out"/detail/test_cuda_amp.log 2>/dev/null
if want alternates 150; then
section alternates "the alternates through the same tests: cuDNN convolutions, the other GEMMs, the old default paths, the opt-in kernels"
# Every opt-in path at once ("optin" below), through the tests of the ops and models they serve; each
# path also has its own tests in the main run above, which switch it on and off themselves, so a
# failure here is traced there. Turn one on when its own tests and these pass (README: the switches).
# (Every other switch is on by default; before_1128 above turns the newest off.)
optin="WICK_CUDA_ATTENTION_FA2_BWD_FUSED=1 WICK_CUDA_SIMT_WIDE=1"
# (Not the pipelined wgmma forward and backward: they would take the launches the lean forward and the
# cp.async-staged backward are to run; their own tests run them.)
optin="$optin WICK_CUDA_TOPK_SELECT=1 WICK_CUDA_ATTENTION_WGMMA_LEAN=1 WICK_CUDA_ATTENTION_WGMMA_BWD_ROWS_ASYNC=1"
# (The warp-specialized forward takes the TMA forward's launches here: the default's own tests run it.)
optin="$optin WICK_CUDA_INDEX_ADD_SORTED=1 WICK_CUDA_ATTENTION_WGMMA_WS=1 WICK_CUDA_GEMM_CLUSTER_K=1"
optin="$optin WICK_CUDA_GEMM_SK_L2=1 WICK_CUDA_GEMM_SK_FUSED=1 WICK_CUDA_SIMT_STREAMK=1 WICK_CUDA_SIMT_KVEC=1"
optin="$optin WICK_CUDA_ATTENTION_FA2_BWD_HD128=1"
# Each spec: environment assignments, then the test binary (the last word). Four at a time, as the main
# run runs six (one after another they took 273 s of a 377 s call on 2026-11-28); the two whole
# test_cuda_gemm runs, the longest (~90 s each), first. Each writes detail/alt_<binary>_<vars>.{log,rc}.
alt_specs=("WICK_CUDA_WGMMA=cpasync test_cuda_gemm" "$optin test_cuda_gemm"
           "WICK_CUDA_CONV=cudnn test_cuda_conv" "WICK_CUDA_CONV=cudnn WICK_CUDNN_FIND=0 test_cuda_conv"
           "WICK_CUDA_GEMM=wick test_cuda_amp" "WICK_CUDA_GEMM=wick test_cuda_models"
           "WICK_CUDA_GEMM=cublaslt test_cuda_models" "WICK_CUDA_WGMMA=cpasync test_cuda_models"
           "WICK_CUDA_COPY_FAST=0 WICK_CUDA_WGMMA_MN=0 test_cuda_models"
           "WICK_CUDA_COPY_FAST=0 WICK_CUDA_WGMMA_MN=0 test_cuda_amp"
           "WICK_CUDA_ATTENTION_FA2=0 test_cuda_attention" "WICK_CUDA_ATTENTION_FA2=0 test_cuda_models"
           "$before_1128 test_cuda_models" "$before_1128 test_cuda_amp" "$before_1128 test_cuda_loss"
           "$optin test_cuda_models" "$optin test_cuda_amp" "$optin test_cuda_nn" "$optin test_cuda_backend_ops"
           "$optin test_cuda_attention" "$optin test_cuda_conv" "$optin test_cuda_norm" "$optin test_cuda_sort"
           "$optin test_cuda_loss" "$optin test_cuda_elementwise")
alt_log() {  # the log of spec $1
  local n=${1##* } vars=${1% *}
  if [ "$vars" = "$optin" ]; then echo "$out/detail/alt_${n}_optin.log"
  elif [ "$vars" = "$before_1128" ]; then echo "$out/detail/alt_${n}_before_1128.log"
  else echo "$out/detail/alt_${n}_$(echo "$vars" | tr -c 'A-Za-z0-9\n' '_').log"; fi
}
alt_runs=()  # (three words a run: the environment, the binary, the log)
for spec in "${alt_specs[@]}"; do
  n=${spec##* }; [ -x "$bin/$n" ] && selected "$n" || continue
  alt_runs+=("${spec% *}" "$bin/$n" "$(alt_log "$spec")")
done
if [ ${#alt_runs[@]} -gt 0 ]; then  # (in a process group of its own, as the main run's, for finish to end)
  # shellcheck disable=SC2016
  setsid -w xargs -0 -n 3 -P 4 bash -c 'env $0 timeout --foreground 150 "$1" --gtest_brief=1 > "$2" 2>&1
    echo $? > "${2%.log}.rc"' < <(printf '%s\0' "${alt_runs[@]}") &
  groups+=($!)
  wait "$!"
fi
for spec in "${alt_specs[@]}"; do
  n=${spec##* }; vars=${spec% *}; [ -x "$bin/$n" ] && selected "$n" || continue
  log=$(alt_log "$spec"); shown=$spec
  [ "$vars" = "$optin" ] && shown="(every opt-in path) $n"
  [ "$vars" = "$before_1128" ] && shown="(the 11-28 paths off) $n"
  rc=$(cat "${log%.log}.rc" 2>/dev/null || echo missing)
  printf '%-52s rc %-3s %s\n' "$shown" "$rc" "$(grep -E '^\[  (PASSED|FAILED)' "$log" 2>/dev/null | tr '\n' ' ')"
  [ "$rc" = 0 ] || grep -E 'Failure|Error|Expected|Which is' "$log" 2>/dev/null | head -12
done
# A failing "every opt-in path" run would keep every switch off below. Find the switch behind it: bisect
# the switch list on the failing tests alone (or the whole binary when it crashed before naming one),
# then confirm the culprit alone; "combination" when no single switch fails on its own.
if want alternates 60; then
: > "$out/detail/bisect_culprits"
for f in "$out"/detail/alt_*_optin.rc; do
  [ -e "$f" ] && [ "$(cat "$f")" != 0 ] || continue
  want alternates 60 || break  # (fewer lines than failed runs: the table keeps every switch off)
  n=$(basename "$f" _optin.rc); n=${n#alt_}
  if [ "$(cat "$f")" = 124 ]; then  # a hang: five more runs of up to the limit each would not fit
    echo "bisect $n: not bisected (the run timed out)"; echo combination >> "$out/detail/bisect_culprits"; continue
  fi
  filter=$(grep -oE '^\[  FAILED  \] [A-Za-z0-9_/]+\.[A-Za-z0-9_/.]+' "$out/detail/alt_${n}_optin.log" | awk '{print $4}' |
           sort -u | paste -sd:)
  # A run cut at 60 s proves nothing: it makes the verdict "combination" (every switch stays off).
  timed_out=0
  fails() { env "$@" timeout 60 "$bin/$n" --gtest_brief=1 ${filter:+--gtest_filter="$filter"} > "$out/detail/bisect_$n.log" 2>&1
            local rc=$?; [ "$rc" = 124 ] && timed_out=1; [ "$rc" != 0 ]; }
  # Failing with no switch on: a failure of the default paths (the main run shows it), no switch's.
  # (Without this check the halving below always lands on the list's first switch.) Only the tests
  # that pass with every switch off are bisected.
  if fails WICK_GPU_BISECT=none; then
    left=$(comm -23 <(tr : '\n' <<< "$filter" | sort -u) <(grep -oE '^\[  FAILED  \] [A-Za-z0-9_/]+\.[A-Za-z0-9_/.]+' \
           "$out/detail/bisect_$n.log" | awk '{print $4}' | sort -u) | paste -sd:)
    if [ "$timed_out" = 1 ]; then
      echo "bisect $n: not bisected (the run with every switch off passed 60 s)"; echo combination >> "$out/detail/bisect_culprits"; continue
    elif [ -z "$filter" ] || [ -z "$left" ]; then
      echo "bisect $n (${filter:-the whole binary}): fails with every opt-in switch off (see the main run)"
      echo default >> "$out/detail/bisect_culprits"; continue
    fi
    filter=$left
  fi
  # shellcheck disable=SC2206
  sw=($optin)
  while [ ${#sw[@]} -gt 1 ]; do
    h=$(( ${#sw[@]} / 2 ))
    if fails "${sw[@]:0:h}"; then sw=("${sw[@]:0:h}"); else sw=("${sw[@]:h}"); fi
  done
  culprit=${sw[0]%%=*}
  fails "${sw[0]}" || culprit=combination
  [ "$timed_out" = 1 ] && culprit=combination
  echo "bisect $n (${filter:-the whole binary}): $culprit"
  echo "$culprit" >> "$out/detail/bisect_culprits"
done
fi
echo "== the opt-in paths: their own tests in the main run, and every opt-in path at once (alternates)"
# "flip" = its own tests ran and passed (from the main run's gtest JSON: not skipped, none missing), every
# "(every opt-in path)" run above passed, and where the racecheck section ran its tests, racecheck found no
# error there that it did not find in the default kernels' run beside it: then check its bench figures and
# turn it on. ("flip?" where its racecheck run is missing or says nothing either way: read the logs.)
python3 - "$out/detail" "$optin" <<'PY'
import glob, json, os, sys
sys.path.insert(0, "scripts")
from gpu_summary import RACECHECK, racecheck_results, racecheck_verdict
d = sys.argv[1]
races = racecheck_results(d)
raced = {s[0] for s in RACECHECK}
optin = {w.split("=")[0] for w in sys.argv[2].split()}
table = [  # switch, test binary, its own tests (Suite or Suite.Test prefixes): the switches still off
    ("WICK_CUDA_ATTENTION_FA2_BWD_FUSED", "test_cuda_attention", ["CudaAttentionFa2Backward.FusedDq"]),
    ("WICK_CUDA_ATTENTION_FA2_BWD_HD128", "test_cuda_attention", ["CudaAttentionFa2Backward.HeadDim128"]),
    ("WICK_CUDA_ATTENTION_WGMMA_PIPE", "test_cuda_attention", ["CudaAttentionFa2.WgmmaPipelined"]),
    ("WICK_CUDA_ATTENTION_WGMMA_LEAN", "test_cuda_attention", ["CudaAttentionFa2.WgmmaLean"]),
    ("WICK_CUDA_ATTENTION_WGMMA_WS", "test_cuda_attention", ["CudaAttentionFa2.WgmmaWs"]),
    ("WICK_CUDA_ATTENTION_WGMMA_BWD_ROWS_ASYNC", "test_cuda_attention", ["CudaAttentionFa2Backward.WgmmaRowsAsync"]),
    ("WICK_CUDA_ATTENTION_WGMMA_BWD_PIPE", "test_cuda_attention", ["CudaAttentionFa2Backward.WgmmaPipelined"]),
    ("WICK_CUDA_TOPK_SELECT", "test_cuda_sort", ["CudaSort.TopkRadixSelect"]),
    ("WICK_CUDA_SIMT_WIDE", "test_cuda_gemm", ["CudaGemm.SimtWideTiles"]),
    ("WICK_CUDA_GEMM_CLUSTER_K", "test_cuda_gemm", ["CudaGemm.ClusterSplitK"]),
    ("WICK_CUDA_GEMM_SK_L2", "test_cuda_gemm", ["CudaGemm.StreamKL2Hints"]),
    ("WICK_CUDA_GEMM_SK_FUSED", "test_cuda_gemm", ["CudaGemm.StreamKFusedFixup"]),
    ("WICK_CUDA_SIMT_STREAMK", "test_cuda_gemm", ["CudaGemm.SimtStreamK"]),
    ("WICK_CUDA_SIMT_KVEC", "test_cuda_gemm", ["CudaGemm.SimtKVec"]),
    ("WICK_CUDA_INDEX_ADD_SORTED", "test_cuda_indexing", ["CudaIndexing.IndexAddSorted"]),
]
rcs = [open(f).read().strip() for f in glob.glob(os.path.join(d, "alt_*_optin.rc"))]
together = "not run" if not rcs else "passed" if all(r == "0" for r in rcs) else "FAILED"
# A failed together-run bisected to single switches (see above) blocks only those switches.
culprits = set()
cpath = os.path.join(d, "bisect_culprits")
if together == "FAILED" and os.path.exists(cpath):
    found = [l.strip() for l in open(cpath) if l.strip()]
    if found and "combination" not in found and len(found) == sum(r != "0" for r in rcs):
        # "default": those tests fail with every switch off too, which blocks no switch.
        culprits = set(found) - {"default"}
        together = "passed but " + ",".join(sorted(culprits) + (["default paths"] if "default" in found else []))
for switch, binary, prefixes in table:
    # A sharded binary wrote <binary>.s<i>.{rc,json} per shard: their tests together are the binary's,
    # and only when every shard ended normally (gtest deals a suite's tests over the shards, so a crashed
    # shard's tests would be missing without a trace).
    runs = [f[:-3] for f in [os.path.join(d, binary + ".rc")] + sorted(glob.glob(os.path.join(d, binary + ".s*.rc")))
            if os.path.exists(f)]
    tests, broken = [], []
    for run in runs:
        try:
            with open(run + ".json") as f:
                tests += [(s["name"] + "." + t["name"], t.get("result"), bool(t.get("failures")))
                          for s in json.load(f).get("testsuites", []) for t in s.get("testsuite", [])]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            broken.append(os.path.basename(run))
    if not runs or broken:
        print(f"{switch:28s} no complete results of {binary} ({' '.join(broken) or 'not run'}: timed out or "
              "crashed?) -> keep off")
        continue
    mine = [t for t in tests if any(t[0].startswith(p) for p in prefixes)]
    missing = [p for p in prefixes if not any(t[0].startswith(p) for t in tests)]
    if missing:
        own = "missing " + " ".join(missing)
    elif any(f for _, _, f in mine):
        own = "FAILED " + " ".join(n for n, _, f in mine if f)
    elif any(r != "COMPLETED" for _, r, _ in mine):
        own = "skipped"
    else:
        own = f"passed ({len(mine)})"
    together_ok = (together == "passed" or (together.startswith("passed but") and switch not in culprits)) and switch in optin
    verdict = "flip" if own.startswith("passed") and together_ok else "keep off"
    shown = "FAILED (bisected here)" if switch in culprits else together if switch in optin else "not in them"
    race = ""
    if switch in raced:
        race_ok, words = racecheck_verdict(races, switch)
        race = "; " + words
        if verdict == "flip" and race_ok is False:
            verdict = "keep off"
        elif verdict == "flip" and race_ok is None:
            verdict = "flip? (" + words + ")"
    if os.environ.get("WICK_GPU_TESTS") and verdict == "flip":
        verdict = "flip? (WICK_GPU_TESTS: only those binaries ran)"
    print(f"{switch:28s} own tests: {own:14s} all opt-in paths at once: {(shown + race):8s} -> {verdict}")
PY
fi
if [ -n "${WICK_GPU_TESTS_ONLY:-}" ]; then completed=1; exit 0; fi
if want sanitizer 110 && command -v compute-sanitizer >/dev/null; then
  section sanitizer "compute-sanitizer memcheck (the binaries in parallel)"
  # --report-api-errors no: the allocator's out-of-memory test fails a cudaMalloc on purpose.
  # WICK_GPU_SANITIZE: the binaries to check, when not the whole representative list.
  # The binaries that take longest run one gtest shard of three under it (memcheck slows kernels ~100x):
  # a third of their tests, a different third as the test list changes; the others whole. Attention: one
  # of six (a third took 134 s on an H200, 2026-11-28); linalg: without FastKernelMatchesReferenceKernel
  # (14 s bare: it alone passed the time limit). Each in a process group of its own (finish ends them if
  # the check stops early).
  pids=()
  for n in ${WICK_GPU_SANITIZE:-test_cuda_copy test_cuda_elementwise test_cuda_reduction test_cuda_gemm test_cuda_nn \
           test_cuda_loss test_cuda_indexing test_cuda_allocator test_cuda_random test_cuda_conv test_cuda_pool \
           test_cuda_norm test_cuda_attention test_cuda_sort test_cuda_fft test_cuda_linalg test_cuda_stream}; do
    [ -x "$bin/$n" ] || continue
    k=1; [ "$(shards "$n")" -gt 1 ] && k=3
    [ "$n" = test_cuda_attention ] && k=6
    filter='*'; [ "$n" = test_cuda_linalg ] && filter='-*.FastKernelMatchesReferenceKernel'
    # shellcheck disable=SC2016
    setsid -w bash -c 'GTEST_TOTAL_SHARDS=$3 GTEST_SHARD_INDEX=0 timeout --foreground 100 compute-sanitizer --tool memcheck \
        --report-api-errors no --error-exitcode 99 --print-limit 5 "$1" --gtest_brief=1 --gtest_filter="$4" > "$2" 2>&1
      echo "$(basename "$1") memcheck rc $?$([ "$3" -gt 1 ] && echo " (shard 1 of $3)")$([ "$4" != "*" ] && echo " ($4)") $(grep -E "ERROR SUMMARY" "$2" | tail -1)"' \
      _ "$bin/$n" "$out/detail/sanitizer_$n.log" "$k" "$filter" &
    pids+=($!) groups+=($!)
  done
  [ ${#pids[@]} -eq 0 ] || wait "${pids[@]}"  # not a bare wait: that would also wait for the tee behind exec
elif [ -z "${WICK_GPU_ONLY:-}" ] || [[ " $WICK_GPU_ONLY " == *" sanitizer "* ]]; then
  command -v compute-sanitizer >/dev/null || echo "== sanitizer: not run (compute-sanitizer not found on PATH)"
fi
# racecheck: shared-memory hazards in the never-run opt-in kernels' own tests, each beside a run of the
# default kernels of its family (the runs and why: RACECHECK in scripts/gpu_summary.py). After memcheck,
# not beside it: its longest binaries come near their limit on a GPU they share. Each writes
# detail/racecheck_<label>.log, read by the summary and by the opt-in table (the alternates section, also
# from WICK_GPU_PREVIOUS's results).
if want racecheck 70 && command -v compute-sanitizer >/dev/null; then
  section racecheck "compute-sanitizer racecheck (the never-run opt-in kernels and their families' defaults)"
  pids=()
  # (A compute-sanitizer without --kernel-name checks every kernel of the tests: then the cuBLAS and wgmma
  # kernels too, alike in a run and in its default run.)
  compute-sanitizer --help 2>/dev/null | grep -q -- '--kernel-name' && kname=1 || kname=
  [ -n "$kname" ] || echo "(this compute-sanitizer has no --kernel-name: every kernel of the tests is checked)"
  while read -r label n filter kernels vars; do
    [ -x "$bin/$n" ] && selected "$n" || continue
    [ "$vars" = - ] && vars=
    [ -n "$kname" ] || kernels=
    # shellcheck disable=SC2016
    setsid -w bash -c 'env $5 timeout --foreground 60 compute-sanitizer --tool racecheck ${6:+--kernel-name kns="$6"} \
        --error-exitcode 99 --print-limit 5 "$1" --gtest_brief=1 --gtest_filter="$3" > "$2" 2>&1
      echo "$4 racecheck rc $? $(grep -E "RACECHECK SUMMARY" "$2" | tail -1)"' \
      _ "$bin/$n" "$out/detail/racecheck_$label.log" "$filter" "$label" "$vars" "$kernels" &
    pids+=($!) groups+=($!)
  done < <(python3 scripts/gpu_summary.py - --racecheck-specs)
  [ ${#pids[@]} -eq 0 ] || wait "${pids[@]}"
fi
if [ "${1:-}" = "--quick" ]; then completed=1 quick=1; exit 0; fi
fi  # WICK_GPU_BENCH_ONLY
export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:/tmp/deps/usr/lib/x86_64-linux-gnu
if want gemm 60; then
section gemm "GEMM: wick's defaults vs cuBLAS and cuBLASLt (interleaved in the same run)"
timeout 120 "$bin/bench_cuda_gemm" --compare --lean --rounds=3 2>&1 | tee "$out/bench_cuda_gemm.txt" | tail -28
# (A failed run, as when an opt-in column's kernel traps: the defaults and the vendors' alone, so the
# summary still has its rows.)
if [ "${PIPESTATUS[0]}" != 0 ]; then
  echo "== the GEMM bench failed: again without the opt-in columns"
  timeout 100 "$bin/bench_cuda_gemm" --compare --lean --no-pending --rounds=3 2>&1 | tee "$out/bench_cuda_gemm.txt" | tail -28
fi
# The opt-in columns against the defaults, by the speed part of the decision rule (bench/README.md).
echo "== opt-in GEMM columns: faster on every row they took, and no other row below 0.98x?"
python3 scripts/gpu_summary.py "$out" --gemm-optin
fi
# gemm-all (an extra): every variant column of the wgmma and SIMT kernels beside them, three times as long.
# (The cp.async wgmma kernel, the 4-warp SIMT experiment and MN-major operands copied K-major had runs of
# their own here until measured: bench/README.md.)
if want gemm-all 150; then
section gemm-all "GEMM: every variant of wick's kernels vs cuBLAS"
timeout 200 "$bin/bench_cuda_gemm" --compare --rounds=3 2>&1 | tee "$out/bench_cuda_gemm_all.txt" | tail -45
fi
if want elementwise 40; then
section elementwise "elementwise kernels: wick vs the readable reference kernels"
# (0.05 s of kernel time a row: its batches of 10 calls and syncs take ten times that in wall clock, and
# at the default 0.5 s the 17 rows ran past the timeout after 5 on 2026-11-28, the index_add rows that
# decide WICK_CUDA_INDEX_ADD_SORTED among those never printed.)
timeout 60 "$bin/bench_cuda_elementwise" --benchmark_min_time=0.05 2>&1 | tee "$out/bench_cuda_elementwise.txt" | tail -30
fi
if want attention 150; then
section attention "attention: wick fused vs wick composed; then PyTorch's scaled_dot_product_attention (same table)"
# Its bf16 rows time the defaults with the paths turned on since 2026-11-28 off (-tma, -bulk: the
# backward's TMA loads and bulk dQ; -fwdtma: the forward's tiles by TMA; -lpt: the grids in LPT order;
# -fwdtma-lpt, -all: the earlier defaults) and the opt-in paths (+lean: the scale in the exponents' fma,
# the row sums by the tensor cores; +ws: the warp-specialized forward; +rowsasync: lse and D staged by
# cp.async); last, bf16 at head dim 128, where +hd128 is the mma.sync FA2 backward (opt-in) against the
# default's general backward.
if [ -x "$bin/bench_cuda_attention" ]; then
  timeout 120 "$bin/bench_cuda_attention" --rounds=3 2>&1 | tee "$out/bench_cuda_attention.txt" | tail -25
  if [ "${PIPESTATUS[0]}" != 0 ]; then  # (as for the GEMM bench above)
    echo "== the attention bench failed: again without the opt-in rows"
    timeout 60 "$bin/bench_cuda_attention" --rounds=3 --no-optin 2>&1 | tee "$out/bench_cuda_attention.txt" | tail -10
  fi
fi
# (The earlier variants' runs, the general forward, the mma.sync FA2 backward and its fused form, the
# 128-row forward, the first wgmma forward and backward, were dropped once measured: bench/README.md.)
# (The pipelined forward and backward, measured slower on an H200: bench/README.md.)
# PyTorch's in three processes: its fwd+bwd wall clock swung 0.225-0.380 ms between runs on one H200
# (2026-11-28) while wick's held 0.226-0.229; the summary takes each row's median over the runs.
rm -f "$out/bench_torch_attention.txt"
for _ in 1 2 3; do
  timeout 90 python3 bench/peer/cuda_attention.py --rounds 3 >> "$out/bench_torch_attention.txt" 2>&1
done
tail -8 "$out/bench_torch_attention.txt"
fi
if want conv 90; then
section conv "convolution: wick vs cuDNN (ResNet-50 layers, interleaved)"
[ -x "$bin/bench_cuda_conv" ] && timeout 120 "$bin/bench_cuda_conv" --compare --rounds=3 2>&1 | tee "$out/bench_cuda_conv.txt" | tail -40
fi
if want conv-before 90; then  # an extra
section conv-before "the same with the input gradients through col2im and one-value copies (the paths before 2026-11-28)"
[ -x "$bin/bench_cuda_conv" ] && WICK_CUDA_CONV_TRANSPOSE_FWD=0 WICK_CUDA_CONV_PACKS=0 timeout 120 \
  "$bin/bench_cuda_conv" --compare --rounds=3 2>&1 | tee "$out/bench_cuda_conv_before_1128.txt" | tail -40
fi
# (About 45 s a round of the three runs of both workloads, from this section's first timed lease.)
if want models $(( 45 * ${WICK_GPU_MODEL_ROUNDS:-2} )) && [ -x "$bin/bench_cuda_models" ]; then
section models "training steps vs PyTorch eager (bfloat16 autocast; wick, torch, wick, torch)"
  # WICK_GPU_MODEL_ROUNDS=1: one round of the three (a short lease).
  for wl in gpt2 resnet50; do
    for r in $(seq "${WICK_GPU_MODEL_ROUNDS:-2}"); do
      timeout 150 "$bin/bench_cuda_models" --workload $wl --steps 5 --warmup 2 --json >> "$out/models.jsonl" \
        2>> "$out/models.err" || echo "wick $wl: failed (rc $?): $(tail -2 "$out/models.err")"
      timeout 150 python3 bench/peer/cuda_models.py --workload $wl --steps 5 --warmup 2 --json >> "$out/models.jsonl" \
        2>> "$out/models.err" || echo "torch $wl: failed (rc $?): $(tail -2 "$out/models.err")"
      # shellcheck disable=SC2046
      [ -n "$(wick_opt_env $wl)" ] && env $(wick_opt_env $wl) timeout 150 "$bin/bench_cuda_models" --workload $wl \
        --steps 5 --warmup 2 --json 2>> "$out/models.err" | sed 's/"framework": "wick"/"framework": "wick-opt"/' \
        >> "$out/models.jsonl"
    done
  done
  python3 scripts/gpu_summary.py "$out" --models
fi
# Where a GPT-2 and a ResNet-50 step's GPU time goes, op by op, at the benchmark's own batch: one
# step under wick's op profiler (CUDA events between ops: no Nsight, no counter permissions), the same
# with every opt-in path on, then the step of the PyTorch twin under torch.profiler (by kernel, then
# by op).
if want profile 110 && [ -x "$bin/bench_cuda_models" ]; then
section profile
for wl in gpt2 resnet50; do
  echo "== $wl: one bf16 step under wick's op profiler"
  timeout 90 "$bin/bench_cuda_models" --workload $wl --steps 1 --warmup 2 --profile 45 2>&1 | tee "$out/profile_$wl.txt"
  if [ -n "$(wick_opt_env $wl)" ]; then
  echo "== $wl: the same with the opt-in paths on (wick-opt, wick_opt_env)"
  # shellcheck disable=SC2046
  env $(wick_opt_env $wl) timeout 90 "$bin/bench_cuda_models" --workload $wl --steps 1 --warmup 2 --profile 45 2>&1 |
    tee "$out/profile_${wl}_opt.txt"
  fi
  echo "== $wl: the same step in PyTorch eager under torch.profiler"
  timeout 90 python3 bench/peer/cuda_models.py --workload $wl --steps 1 --warmup 2 --profile 30 \
    2>&1 >/dev/null | tee "$out/torch_profile_$wl.txt"
done
fi
# Why the attention kernels run where they do (the fused forward is at ~0.65x SDPA, the backward ~0.85x,
# and nothing in their arithmetic explains it: ~15 us of tensor and exp work per SM against ~90 us
# measured for the forward): Nsight Compute's throughput, occupancy, warp-stall and memory sections for
# the first bf16 launches of the default forward and backward kernels at the GPT-2 shape.
if want ncu-attn 200 && [ -x "$bin/bench_cuda_attention" ] && command -v ncu >/dev/null; then
  section ncu-attn
  echo "== attention kernels under ncu (bf16, B8 H12 L1024 D64 causal): speed of light, occupancy, warp stalls"
  timeout 90 ncu -k regex:'wgmma_forward_tma_kernel|wgmma_bwd_tma_kernel' --launch-count 6 --section SpeedOfLight \
    --section Occupancy --section LaunchStats --section WarpStateStats --section MemoryWorkloadAnalysis \
    --section ComputeWorkloadAnalysis --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio' \
    --print-units base "$bin/bench_cuda_attention" --rounds=1 \
    > "$out/ncu_attention.txt" 2> "$out/ncu_attention.err"
  echo "ncu rc $?"
  # The other paths' kernels, each by its switches (the bench's first row takes the environment's settings,
  # so the first launches are that row's warm-up): the opt-in forwards and backward, and the earlier
  # default forward (serial, in LPT order), grids (slices slowest) and backward. Wall-clock rows cannot
  # rank kernels on a host-bound machine (2026-11-28: a 71 us forward kernel in a 0.529 ms call); these
  # durations can.
  for v in "warp-specialized forward|WICK_CUDA_ATTENTION_WGMMA_WS=1|wgmma_forward_ws_kernel|3" \
           "serial forward|WICK_CUDA_ATTENTION_WGMMA_FWD_TMA=0|wgmma_forward_kernel|3" \
           "lean TMA forward|WICK_CUDA_ATTENTION_WGMMA_LEAN=1|wgmma_forward_tma_kernel|3" \
           "slices slowest: 3 serial forwards, a backward|$attn_before|wgmma_[fb][a-z_]*kernel|4" \
           "rows-async backward|WICK_CUDA_ATTENTION_WGMMA_BWD_ROWS_ASYNC=1 WICK_CUDA_ATTENTION_WGMMA_BWD_TMA=0|wgmma_bwd_kernel|2" \
           "the earlier default backward|WICK_CUDA_ATTENTION_WGMMA_BWD_TMA=0 WICK_CUDA_ATTENTION_WGMMA_BWD_DQ_BULK=0|wgmma_bwd_kernel|2"; do
    IFS='|' read -r what vars regex count <<< "$v"
    # shellcheck disable=SC2086
    env $vars timeout 60 ncu -k regex:"$regex" --launch-count "$count" \
      --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
      --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio' --print-units base \
      "$bin/bench_cuda_attention" --rounds=1 >> "$out/ncu_attention.txt" 2>> "$out/ncu_attention.err"
    echo "ncu ($what: $vars) rc $?"
  done
  grep -E '^  [a-z_]+.*\(|Duration|Throughput|Achieved Occupancy|Theoretical Occupancy|Registers Per|Block Limit|Stall|Warp Cycles Per Issued|Issue Slots Busy|Executed Ipc A|L2 Hit|Mem Busy|stalled' \
    "$out/ncu_attention.txt" | head -100
  echo "== attention kernels: duration under ncu by kernel (template arguments included), microseconds"
  python3 scripts/ncu_durations.py "$out/ncu_attention.txt"
  # One forward + backward's kernels, wick's and PyTorch SDPA's, at the benches' clocks (--clock-control
  # none): the target's ratio with the host's time left out (2026-11-28's host made the wall clock of both
  # several times their kernels'). The first 8 launches of each bench's warm-up: 3 forwards and one
  # backward (wick: D's row sums, the backward, dQ's conversion; flash: dot(dO, O) with dQ's accumulator
  # cleared, the backward, dQ's conversion), so each kernel's median is one step's. Not on wick's side:
  # the clearing of its dQ accumulator (cudaMemsetAsync, 25 MB here: about 10 us at HBM speed), which
  # ncu does not profile.
  timeout 60 ncu -k regex:'wgmma_forward|attention_rowdot|wgmma_bwd|fa2_dq_convert' --launch-count 8 \
    --clock-control none --metrics gpu__time_duration.sum --print-units base "$bin/bench_cuda_attention" --rounds=1 \
    > "$out/ncu_attention_step_wick.txt" 2>&1
  echo "ncu (wick's step) rc $?"
  # (Then with the paths the third lease turned on off, the file's first line naming them.)
  echo "# env: $attn_before" > "$out/ncu_attention_step_wick_alt.txt"
  # shellcheck disable=SC2086
  env $attn_before timeout 60 ncu -k regex:'wgmma_forward|attention_rowdot|wgmma_bwd|fa2_dq_convert' --launch-count 8 \
    --clock-control none --metrics gpu__time_duration.sum --print-units base "$bin/bench_cuda_attention" --rounds=1 \
    >> "$out/ncu_attention_step_wick_alt.txt" 2>&1
  echo "ncu (wick's step with $attn_before) rc $?"
  timeout 90 ncu -k regex:'flash|fmha|sdpa' --launch-count 8 --clock-control none --metrics gpu__time_duration.sum \
    --print-units base python3 bench/peer/cuda_attention.py --rounds 1 > "$out/ncu_attention_step_torch.txt" 2>&1
  echo "ncu (PyTorch's step) rc $?"
  echo "== one bf16 causal forward + backward by kernel, microseconds: wick (without its dQ memset), then PyTorch's SDPA"
  python3 scripts/ncu_durations.py --total "$out/ncu_attention_step_wick.txt"
  echo "== the same, wick with $attn_before"
  python3 scripts/ncu_durations.py --total "$out/ncu_attention_step_wick_alt.txt"
  python3 scripts/ncu_durations.py --total "$out/ncu_attention_step_torch.txt"
fi
# The GEMM rows furthest from their targets (H200, 2026-11-28: the bf16 768 x 768 x 8192 weight gradient
# at 0.60x cuBLAS on stream-K, its fixup kernel 12 of its 40 us; the float32 8192 x 768 x 768 forward at
# 0.74x with both operands copied m/n-major first)
# under Nsight Compute beside cuBLAS's kernel for the same row: throughput, occupancy, warp stalls, memory.
if want ncu-gemm 150 && [ -x "$bin/bench_cuda_gemm" ] && command -v ncu >/dev/null; then
  section ncu-gemm "the GEMM rows furthest from cuBLAS under ncu (wick's kernels and cuBLAS's, one round)"
  for row in "bf16 768x768x8192" "fp32 8192x768x768"; do
    # (The first 26 product kernels: wick's two warm-up calls (bf16: main kernel + fixup or split-K sum;
    # float32: the operands' transposing copies (copy_'s tiled transpose), then the product), then
    # cuBLAS's and cuBLASLt's, then the pending columns' (bf16 ck: cluster split-K, one kernel a call;
    # l2: main kernel + fixup, the partials kept in L2; fx: the main kernel with the fixup fused, one a
    # call; float32 sk: the copies, the hybrid stream-K kernel and its fixup; kv: the product alone, its
    # operands copied 16 bytes at a time along k; sk+kv: the hybrid stream-K kernel so and its fixup: 24
    # for float32); the operands' init kernels do not match.)
    # (--cache-control none: the caches kept from one kernel to the next, as in the bench's back-to-back
    # calls. Under ncu's default, which flushes them before every kernel, stream-K's fixup read its 17 MB of
    # partials at a 24% L2 hit rate on 2026-11-28: from DRAM, where the bench's runs find them in L2.)
    timeout 80 ncu -k regex:'gemm|nvjet|xmma|cutlass|fixup|split_reduce|copy_transpose' --launch-count 26 \
      --cache-control none --section SpeedOfLight --section Occupancy --section LaunchStats \
      --section WarpStateStats --section MemoryWorkloadAnalysis \
      --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio' --print-units base \
      "$bin/bench_cuda_gemm" --compare --lean --rounds=1 --rows="$row" >> "$out/ncu_gemm.txt" 2>> "$out/ncu_gemm.err"
    echo "ncu ($row) rc $?"
  done
  grep -E '^  [a-zA-Z_].*\(|Duration|Throughput|Achieved Occupancy|Registers Per|Block Limit|Warp Cycles Per Issued|Issue Slots Busy|L2 Hit|Mem Busy|stalled_(long|wait|barrier|math|not_sel|short|mio|lg)' \
    "$out/ncu_gemm.txt" | head -120
  echo "== GEMM kernels: duration under ncu by kernel, microseconds (both rows' in turn)"
  python3 scripts/ncu_durations.py "$out/ncu_gemm.txt"
fi
# Where in their loops the warps of the kernels furthest from their targets wait: Nsight Compute's warp
# stall samples per SASS instruction (SourceCounters, the source page as CSV, kept in detail/ for the
# sessions without a GPU), summed by scripts/ncu_source_top.py. The float32 GEMM furthest from cuBLAS
# (8192 x 768 x 768, both operands k-major and copied m/n-major first: 0.74x, H200 2026-11-28) beside
# cuBLAS's kernel; the bf16 one (768 x 768 x 8192: stream-K's kernel, 28 us under ncu against cuBLAS's 26.5
# for the whole product, and its fixup); the attention forward (the copies' and the TMA one) and the TMA
# backward.
if want ncu-source 180 && command -v ncu >/dev/null; then
  section ncu-source "per-instruction warp stall samples under ncu (SASS), the kernels furthest from their targets"
  ncu_source() {  # name, kernel regex, launches, then the command
    local name=$1 regex=$2 count=$3 rep="$out/detail/ncu_src_$1"; shift 3
    # (--cache-control none, as in ncu-gemm: the caches as the bench's back-to-back calls leave them.)
    timeout 90 ncu -k regex:"$regex" --launch-count "$count" --cache-control none --section SourceCounters --section WarpStateStats \
      -f -o "$rep" "$@" > "$rep.log" 2>&1
    echo "ncu ($name) rc $?"
    timeout 60 ncu --import "$rep.ncu-rep" --page source --csv --print-source sass > "$rep.csv" 2>> "$rep.log"
    echo "ncu source page ($name) rc $?, $(wc -l < "$rep.csv") lines"
    rm -f "$rep.ncu-rep"  # (megabytes; the CSV holds what is read here)
  }
  # (The row's first product launches: wick's two warm-up calls, then cuBLAS's.)
  [ -x "$bin/bench_cuda_gemm" ] && ncu_source sgemm 'gemm_simt_async|xmma_gemm' 3 \
    "$bin/bench_cuda_gemm" --compare --lean --rounds=1 --rows="fp32 8192x768x768"
  # (wick's two warm-up calls, each the main kernel and the fixup, then cuBLAS's.)
  [ -x "$bin/bench_cuda_gemm" ] && ncu_source bf16_skinny 'gemm_tma|stream_k_fixup|nvjet' 5 \
    "$bin/bench_cuda_gemm" --compare --lean --no-pending --rounds=1 --rows="bf16 768x768x8192"
  # (The bench's first row takes the environment's switches: its warm-up's first launches.)
  [ -x "$bin/bench_cuda_attention" ] && (export WICK_CUDA_ATTENTION_WGMMA_FWD_TMA=0
    ncu_source attn_fwd 'wgmma_forward_kernel' 1 "$bin/bench_cuda_attention" --rounds=1)
  [ -x "$bin/bench_cuda_attention" ] &&
    ncu_source attn_tma 'wgmma_forward_tma_kernel|wgmma_bwd_tma_kernel' 4 "$bin/bench_cuda_attention" --rounds=1
  python3 scripts/ncu_source_top.py "$out"/detail/ncu_src_*.csv | head -120
fi
# The same kernel by kernel: Nsight Compute times every launch of one small step (batch 2 / 8;
# the kernels run one at a time, clocks left alone), summed by kernel name; then the PyTorch twin.
# Last: it is the first thing to drop when the call's time runs short.
if want ncu 200 && [ -x "$bin/bench_cuda_models" ] && command -v ncu >/dev/null; then
section ncu
for spec in gpt2:2 resnet50:8; do  # workload:batch
  wl=${spec%%:*} batch=${spec##*:}
  echo "== $wl (batch $batch, one bf16 step) GPU time by kernel, ncu"
  timeout 120 ncu --metrics gpu__time_duration.sum --csv --print-units base --clock-control none \
    "$bin/bench_cuda_models" --workload $wl --batch $batch --steps 1 --warmup 0 > "$out/ncu_$wl.csv" 2> "$out/ncu_$wl.err"
  echo "ncu rc $?"
  python3 - "$out/ncu_$wl.csv" <<'PY' | tee "$out/ncu_${wl}_top.txt"
import csv, collections, sys
rows = [l for l in open(sys.argv[1]) if l.startswith('"')]
t, n = collections.Counter(), collections.Counter()
for r in csv.DictReader(rows):
    if r.get("Metric Name") != "gpu__time_duration.sum":
        continue
    name = r["Kernel Name"].split("(")[0][:100]
    v = float(r["Metric Value"].replace(",", ""))
    t[name] += v * 1e-3  # --print-units base: nanoseconds
    n[name] += 1
total = sum(t.values())
print(f"{len(t)} kernels, {sum(n.values())} launches, {total / 1e3:.1f} ms of GPU time over the profiled steps (us below)")
for name, v in t.most_common(30):
    print(f"{v:10.0f} us {100 * v / total:5.1f}%  x{n[name]:<5d} {name}")
PY
  echo "== the same step in PyTorch eager (torch.profiler, one step, GPU kernels)"
  timeout 90 python3 bench/peer/cuda_models.py --workload $wl --batch $batch --steps 1 --warmup 1 --profile 30 \
    2>&1 >/dev/null | tee "$out/torch_${wl}_top.txt"
done
fi
completed=1
exit 0
