#!/usr/bin/env bash
# The main job: the paper report. On a fresh Debian 12 machine (as root):
#   1. installs what is missing (scripts/setup_debian.sh),
#   2. builds wick in Release (ccache when present) and every paper
#      executable paper_<slug> listed in build/papers/slugs.txt,
#   3. runs each paper in quick mode (default; seconds to minutes each) or
#      full mode (--full), writing runs/<mode>/<slug>/{result.json,
#      metrics.jsonl, run.log, exit_status}; a paper that fails to build or
#      crashes is recorded as FAILED and the others still run,
#   4. draws the plots (tools/plot_result.py) and writes the report
#      reports/<YYYY-MM-DD>/report.md (tools/report.py), printing its summary.
# Usage:
#   scripts/run_main.sh                  # quick mode, every paper
#   scripts/run_main.sh --full           # full mode (the measured report)
#   scripts/run_main.sh --seeds 5        # seeds per arm (default: each paper's own)
#   scripts/run_main.sh --only lion,swav # a subset of the papers
#   scripts/run_main.sh --no-setup       # skip the apt step (not root, packages present)
# Environment: WICK_BUILD_DIR (default build), WICK_JOBS (default nproc).
# Exit status: 0 when every paper ran, 1 when any failed to build or crashed
# (the report is written either way). The claims' verdicts are data, not the
# exit status. The SimCLR encoder some papers compare against is cached in
# $WICK_DATA_DIR (default ~/.cache/wick); build it ahead with
# build/papers/paper_simclr_pretrain.
set -uo pipefail
cd "$(dirname "$0")/.."

mode=quick
seeds=()
only=""
setup=1
while [ $# -gt 0 ]; do
  case "$1" in
    --full) mode=full ;;
    --quick) mode=quick ;;
    --seeds) [ $# -ge 2 ] || { echo "run_main.sh: --seeds needs a number" >&2; exit 2; }
             seeds=(--seeds "$2"); shift ;;
    --seeds=*) seeds=(--seeds "${1#--seeds=}") ;;
    --only) [ $# -ge 2 ] || { echo "run_main.sh: --only needs slug[,slug...]" >&2; exit 2; }
            only="$2"; shift ;;
    --no-setup) setup=0 ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_main.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

set -e
if [ "$setup" = 1 ]; then
  bash scripts/setup_debian.sh
fi
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
build="${WICK_BUILD_DIR:-build}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}"
jobs="${WICK_JOBS:-$(nproc)}"
# The shared harness and the SimCLR cache builder first: an error here is fatal.
cmake --build "$build" -j "$jobs" --target wick_papers_common paper_simclr_pretrain
set +e

slugs=()
while IFS= read -r s; do [ -n "$s" ] && slugs+=("$s"); done < "$build/papers/slugs.txt"
if [ -n "$only" ]; then
  IFS=',' read -r -a wanted <<< "$only"
  for w in "${wanted[@]}"; do
    printf '%s\n' "${slugs[@]}" | grep -qx -- "$w" || { echo "run_main.sh: no paper '$w' in $build/papers/slugs.txt" >&2; exit 2; }
  done
  slugs=("${wanted[@]}")
fi
echo "== papers ($mode mode): ${slugs[*]:-none}"

runs="runs/$mode"
mkdir -p "$runs"
failed=()
flag=()
[ "$mode" = quick ] && flag=(--quick)
for slug in "${slugs[@]}"; do
  dir="$runs/$slug"
  mkdir -p "$dir"
  rm -f "$dir/result.json" "$dir/exit_status" "$dir"/*.png   # never report a stale run
  echo
  echo "== building paper_$slug"
  if ! cmake --build "$build" -j "$jobs" --target "paper_$slug" > "$dir/run.log" 2>&1; then
    tail -n 30 "$dir/run.log"
    echo build > "$dir/exit_status"
    failed+=("$slug")
    echo "== paper_$slug: BUILD FAILED (see $dir/run.log)"
    continue
  fi
  echo "== running paper_$slug ${flag[*]} ${seeds[*]} --out $dir"
  "$build/papers/paper_$slug" "${flag[@]}" "${seeds[@]}" --out "$dir" 2>&1 | tee "$dir/run.log"
  rc=${PIPESTATUS[0]}
  echo "$rc" > "$dir/exit_status"
  if [ "$rc" -ne 0 ]; then
    failed+=("$slug")
    echo "== paper_$slug: FAILED (exit status $rc, see $dir/run.log)"
  fi
done

echo
results=()
for slug in "${slugs[@]}"; do
  [ -f "$runs/$slug/result.json" ] && results+=("$runs/$slug/result.json")
done
if [ ${#results[@]} -gt 0 ]; then
  if /usr/bin/python3 -c "import matplotlib" 2>/dev/null; then
    /usr/bin/python3 tools/plot_result.py --quiet "${results[@]}" || echo "run_main.sh: some plots failed (see above)"
  else
    echo "run_main.sh: python3-matplotlib is missing: the report will have no plots"
  fi
fi
cmd="scripts/run_main.sh"
[ "$mode" = full ] && cmd+=" --full"
[ ${#seeds[@]} -gt 0 ] && cmd+=" ${seeds[*]}"
[ -n "$only" ] && cmd+=" --only $only"
# The report's paper list: the build's (every paper), or the --only subset.
list="$build/papers/slugs.txt"
if [ -n "$only" ]; then
  list="$runs/slugs-only.txt"
  printf '%s\n' "${slugs[@]}" > "$list"
fi
/usr/bin/python3 tools/report.py --runs "$runs" --slugs "$list" --out reports --command "$cmd"
report_rc=$?
if [ ${#failed[@]} -gt 0 ]; then
  echo "run_main.sh: ${#failed[@]} paper(s) failed: ${failed[*]}"
  exit 1
fi
exit "$report_rc"
