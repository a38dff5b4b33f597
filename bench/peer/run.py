#!/usr/bin/python3
"""wick against PyTorch on the reference workloads, in one run.

For each workload, runs wick's bench_models and PyTorch's bench/peer/models.py
ALTERNATELY (wick, torch, wick, torch, ... for --rounds rounds), each run in
its own process (so peak RSS is per workload), so that swings of the machine's
load hit both sides alike. A side's step time is the median over rounds of
each run's median step time; its peak RSS the largest over rounds.

Prints one table (workload | wick ms | PyTorch ms | ratio wick/torch | wick
peak RSS | PyTorch peak RSS) and writes it as markdown, with the date, the
machine, the thread count and the git revision, to bench/peer/latest.md.

  scripts/bench_peer.sh [--threads 2] [--rounds 3] [--workloads mlp,gpt] [--quick]

(the script builds bench_models first; this file is what it runs). Each run's
JSON line is also appended to bench/peer/latest.jsonl for later analysis.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKLOADS = ["mlp", "cnn", "resnet18", "vit", "gpt", "adamw10m", "lion10m"]
DESCRIPTIONS = {
    "mlp": "a. MLP 784-512-512-10, batch 256, Adam",
    "cnn": "b. CNN conv32-conv64-pool-fc128-fc10, batch 128, SGD+momentum",
    "resnet18": "c. ResNet-18 (28x28, widths 32..256), batch 64, SGD+momentum",
    "vit": "d. ViT-tiny (patch 4, dim 128, depth 6), batch 128, AdamW",
    "gpt": "e. GPT-tiny (ctx 128, dim 256, 4 layers), batch 16, AdamW",
    "adamw10m": "f. AdamW step, 10M parameters",
    "lion10m": "f. Lion step, 10M parameters",
}


def machine():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine()


def git_revision():
    """HEAD's commit, read from .git without running git."""
    git = os.path.join(ROOT, ".git")
    try:
        head = open(os.path.join(git, "HEAD")).read().strip()
        if not head.startswith("ref: "):
            return head[:12]
        ref = head[5:]
        path = os.path.join(git, ref)
        if os.path.exists(path):
            return open(path).read().strip()[:12] + f" ({ref.rsplit('/', 1)[-1]})"
        packed = os.path.join(git, "packed-refs")
        if os.path.exists(packed):
            for line in open(packed):
                parts = line.split()
                if len(parts) == 2 and parts[1] == ref:
                    return parts[0][:12] + f" ({ref.rsplit('/', 1)[-1]})"
    except OSError:
        pass
    return "unknown"


def run_one(cmd, env, timeout):
    """Runs one benchmark process; returns its JSON record, or {'error': ...}."""
    t0 = time.time()
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    for line in reversed(p.stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            rec = json.loads(line)
            rec["wall_s"] = round(time.time() - t0, 1)
            return rec
    tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
    return {"error": f"exit {p.returncode}: " + " | ".join(tail)}


def fmt_ms(v):
    return "—" if v is None else (f"{v:.1f}" if v >= 10 else f"{v:.2f}")


def fmt_mb(v):
    return "—" if v is None else f"{v:.0f} MB"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2, help="threads for both (WICK_NUM_THREADS, torch.set_num_threads)")
    ap.add_argument("--rounds", type=int, default=None, help="alternating rounds per workload (default 3, quick 1)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated subset of " + ",".join(WORKLOADS))
    ap.add_argument("--quick", action="store_true", help="smoke test: 1 round, 2 warm-up + 5 timed steps")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per run (default 20, quick 5)")
    ap.add_argument("--warmup", type=int, default=None, help="warm-up steps per run (default 3, quick 2)")
    ap.add_argument("--bench-bin", default=os.environ.get("WICK_BENCH_MODELS") or
                    os.path.join(ROOT, "build-bench", "bench", "bench_models"),
                    help="wick's bench_models (default: $WICK_BENCH_MODELS, else build-bench/bench/bench_models)")
    ap.add_argument("--python", default="/usr/bin/python3", help="the Python with torch")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per process")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "peer", "latest.md"))
    a = ap.parse_args()

    steps = a.steps or (5 if a.quick else 20)
    warmup = a.warmup if a.warmup is not None else (2 if a.quick else 3)
    rounds = a.rounds or (1 if a.quick else 3)
    workloads = [w.strip() for w in a.workloads.split(",") if w.strip()]
    bad = [w for w in workloads if w not in WORKLOADS]
    if bad:
        sys.exit(f"run.py: unknown workload(s) {bad}; known: {', '.join(WORKLOADS)}")
    if not os.access(a.bench_bin, os.X_OK):
        sys.exit(f"run.py: {a.bench_bin} not found: build with -DWICK_BUILD_BENCH=ON (scripts/bench_peer.sh does)")

    env = dict(os.environ, WICK_NUM_THREADS=str(a.threads), OMP_NUM_THREADS=str(a.threads))
    peer = os.path.join(ROOT, "bench", "peer", "models.py")
    common = ["--steps", str(steps), "--warmup", str(warmup), "--json"]
    jsonl = os.path.splitext(a.out)[0] + ".jsonl"
    started = datetime.datetime.now(datetime.timezone.utc)
    print(f"wick vs PyTorch: {len(workloads)} workloads x {rounds} rounds, {a.threads} threads, "
          f"{warmup} warm-up + {steps} timed steps per run", flush=True)

    results = {}
    with open(jsonl, "w") as log:
        for w in workloads:
            runs = {"wick": [], "torch": []}
            for r in range(rounds):
                for side, cmd in (("wick", [a.bench_bin, "--workload", w] + common),
                                  ("torch", [a.python, peer, "--workload", w, "--threads", str(a.threads)] + common)):
                    rec = run_one(cmd, env, a.timeout)
                    rec.update(side=side, round=r)
                    log.write(json.dumps(rec) + "\n")
                    log.flush()
                    runs[side].append(rec)
                    msg = rec.get("error") or f"{rec['median_ms']:.2f} ms, {rec['peak_rss_mb']:.0f} MB"
                    print(f"  {w:9s} round {r + 1}/{rounds} {side:5s} {msg}", flush=True)
            results[w] = runs

    rows = []
    for w in workloads:
        row = {"workload": w}
        for side in ("wick", "torch"):
            ok = [x for x in results[w][side] if "error" not in x]
            row[side + "_ms"] = statistics.median([x["median_ms"] for x in ok]) if ok else None
            row[side + "_rss"] = max(x["peak_rss_mb"] for x in ok) if ok else None
            row[side + "_params"] = ok[0]["params"] if ok else None
            errs = [x["error"] for x in results[w][side] if "error" in x]
            row[side + "_error"] = errs[0] if errs else None
        row["ratio"] = (row["wick_ms"] / row["torch_ms"]) if row["wick_ms"] and row["torch_ms"] else None
        rows.append(row)

    header = ["workload", "wick ms", "PyTorch ms", "ratio (wick/torch)", "wick peak RSS", "PyTorch peak RSS"]
    table = [header]
    for r in rows:
        table.append([r["workload"], fmt_ms(r["wick_ms"]), fmt_ms(r["torch_ms"]),
                      "—" if r["ratio"] is None else f"{r['ratio']:.2f}x", fmt_mb(r["wick_rss"]),
                      fmt_mb(r["torch_rss"])])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    print()
    for i, row in enumerate(table):
        print("  ".join(c.ljust(widths[j]) if j == 0 else c.rjust(widths[j]) for j, c in enumerate(row)))
        if i == 0:
            print("  ".join("-" * wd for wd in widths))
    for r in rows:
        for side in ("wick", "torch"):
            if r[side + "_error"]:
                print(f"{r['workload']}: {side} failed: {r[side + '_error']}")
        if r["wick_params"] and r["torch_params"] and r["wick_params"] != r["torch_params"]:
            print(f"{r['workload']}: parameter counts differ: wick {r['wick_params']}, torch {r['torch_params']}")

    torch_version = next((x.get("torch") for w in workloads for x in results[w]["torch"] if "torch" in x), "?")
    md = [
        "# wick vs PyTorch: training-step benchmarks",
        "",
        f"- date: {started.strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {machine()} ({os.cpu_count()} logical CPUs), load average at start "
        f"{os.getloadavg()[0]:.1f}",
        f"- threads: {a.threads} (WICK_NUM_THREADS / torch.set_num_threads)",
        f"- wick revision: {git_revision()}; PyTorch {torch_version} (Debian python3-torch)",
        f"- protocol: {rounds} alternating round(s) per workload (wick, torch, wick, torch, ...), each run a fresh "
        f"process with {warmup} warm-up + {steps} timed steps; ms = median over rounds of each run's median step "
        "time (forward + backward + optimizer step, float32); RSS = the largest ru_maxrss over rounds "
        "(PyTorch's includes about 230 MB for importing torch)",
        f"- command: `scripts/bench_peer.sh {' '.join(sys.argv[1:])}`".rstrip() + "",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    for r, t in zip(rows, table[1:]):
        md.append("| " + " | ".join([DESCRIPTIONS[r["workload"]]] + t[1:]) + " |")
    md += ["", "Parameters: " + ", ".join(f"{r['workload']} {r['wick_params']:,}" for r in rows if r["wick_params"]),
           "", f"Raw runs: `{os.path.relpath(jsonl, ROOT)}`.", ""]
    with open(a.out, "w") as f:
        f.write("\n".join(md))
    print(f"\nwrote {os.path.relpath(a.out, ROOT)}")
    return 0 if all(r["ratio"] is not None for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
