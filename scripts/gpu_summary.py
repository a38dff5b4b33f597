#!/usr/bin/env python3
"""The GPU check's closing table: issue 6's targets against what this run measured.

    python3 scripts/gpu_summary.py OUT [--seconds S] [--sections "tests sanitizer gemm ..."]

OUT is gpu_check.sh's output folder: detail/ (the test binaries' .rc and .log,
sanitizer_*.log), bench_cuda_gemm.txt, bench_cuda_attention.txt,
bench_torch_attention.txt, models.jsonl. Whatever is missing is reported as not
measured, never guessed. Standard library only (it runs on the lent machine's
python3 and on CI's). Every ratio printed is wick / peer from the same run.
"""
import argparse
import glob
import json
import os
import re
import statistics
import sys


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return None


def span(ratios):
    lo, hi = min(ratios), max(ratios)
    return f"{lo:.2f}x" if abs(hi - lo) < 0.005 else f"{lo:.2f}-{hi:.2f}x"


def tests_line(detail):
    """One line for the test binaries: their .rc files (a sharded binary has one per shard)."""
    rcs = {}
    for f in glob.glob(os.path.join(detail, "test_*.rc")):
        name = os.path.basename(f)[:-3]
        binary = re.sub(r"\.s\d+$", "", name)
        rcs.setdefault(binary, []).append((read(f) or "").strip())
    if not rcs:
        return "not run"
    failed = sorted(b for b, r in rcs.items() if any(x != "0" for x in r))
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for f in glob.glob(os.path.join(detail, "test_*.log")):
        text = read(f) or ""
        for key, pat in (("passed", r"^\[  PASSED  \] (\d+) test"), ("skipped", r"^\[  SKIPPED \] (\d+) test")):
            counts[key] += sum(int(m) for m in re.findall(pat, text, re.M))
        # (--gtest_brief prints no failure count: the failed tests' own lines, each once.)
        counts["failed"] += len(set(re.findall(r"^\[  FAILED  \] ([\w/]+\.[\w/]+)", text, re.M)))
    line = (f"{len(rcs)} binaries, {len(rcs) - len(failed)} passed; tests {counts['passed']} passed, "
            f"{counts['failed']} failed, {counts['skipped']} skipped")
    if os.path.exists(os.path.join(detail, "no_gpu")):
        line += "; FAILED: no GPU visible to wick, so the CUDA tests skipped"
    if failed:
        line += "; FAILED: " + " ".join(failed)
    return line


def ctest_line(text):
    """A build from source runs the CPU tests there too (ctest.log); a pack does not."""
    if text is None:
        return "not run"
    m = re.search(r"(\d+)% tests passed, (\d+) tests failed out of (\d+)", text)
    if not m:
        return "FAILED: ctest printed no summary"
    return f"{m[3]} tests, {m[2]} failed" + ("; FAILED" if m[2] != "0" else "")


def sanitizer_line(detail):
    logs = sorted(glob.glob(os.path.join(detail, "sanitizer_*.log")))
    if not logs:
        return "not run"
    bad, cut = [], []
    for f in logs:
        text = read(f) or ""
        name = os.path.basename(f)[len("sanitizer_"):-4]
        m = re.findall(r"ERROR SUMMARY: (\d+) error", text)
        if not m:
            cut.append(name)  # killed by its time limit before the summary
        elif int(m[-1]) != 0:
            bad.append(f"{name} ({m[-1]})")
    line = f"{len(logs)} binaries, {len(logs) - len(bad) - len(cut)} with 0 errors"
    if bad:
        line += "; ERRORS: " + ", ".join(bad)
    if cut:
        line += "; no summary (time limit?): " + " ".join(cut)
    return line


def gemm_rows(text):
    """{dtype: [(label, wick TFLOP/s, cuBLAS TFLOP/s)]} from `bench_cuda_gemm --compare`."""
    rows, cols = {}, None
    for line in text.splitlines():
        if line.startswith("shape (MxNxK)"):
            cols = line.split()[2:]
            continue
        if cols is None or not re.match(r"(bf16|fp32) \d", line):
            continue
        tok = line.split()
        if len(tok) < len(cols) + 2:
            continue
        vals = dict(zip(cols, tok[-len(cols):]))
        label = " ".join(tok[:-len(cols)])
        try:
            rows.setdefault(tok[0], []).append((label, float(vals["wick"]), float(vals["cublas"])))
        except (KeyError, ValueError):
            continue
    return rows


def gemm_line(rows, dtype, target):
    got = rows.get(dtype)
    if not got:
        return "not measured"
    ratios = [(w / c, label) for label, w, c in got if c > 0]
    met = [r for r, _ in ratios if r >= target]
    worst = min(ratios)
    return (f"{span([r for r, _ in ratios])} over {len(ratios)} shapes, {len(met)} at >= {target}x; "
            f"lowest {worst[0]:.2f}x ({worst[1].split(' ', 2)[1]})")


def attention_rows(text):
    """{(impl, dtype, shape): (fwd ms, fwd+bwd ms)} from bench_cuda_attention / cuda_attention.py."""
    out = {}
    for line in (text or "").splitlines():
        m = re.match(r"(\S+)\s+(bf16|fp16|fp32)\s+(B\d+ H\d+ L\d+ D\d+ \w+)\s+([\d.]+)\s+[\d.]+\s+([\d.]+)", line)
        if m:
            out[(m.group(1), m.group(2), m.group(3))] = (float(m.group(4)), float(m.group(5)))
    return out


def attention_line(wick, torch, shape="B8 H12 L1024 D64 causal"):
    w, t = wick.get(("wick-fused", "bf16", shape)), torch.get(("torch-sdpa", "bf16", shape))
    if not w or not t:
        return f"not measured ({'wick' if not w else 'SDPA'} missing)"
    line = (f"{t[1] / w[1]:.2f}x (wick {w[1]:.3f} ms, SDPA {t[1]:.3f}); forward alone {t[0] / w[0]:.2f}x "
            f"({w[0]:.3f} / {t[0]:.3f} ms), bf16 {shape}")
    # The opt-in variants bench_cuda_attention times beside the default (rows named +lean, +dqbulk, ...).
    opt = [(t[1] / v[1], impl) for (impl, dt, sh), v in wick.items() if impl.startswith("+") and dt == "bf16"
           and sh == shape]
    if opt:
        best = max(opt)
        line += f"; best opt-in {best[1]} {best[0]:.2f}x"
    return line


def models_lines(text):
    rows = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            rows.append(json.loads(line.replace(": -nan", ": NaN").replace(": nan", ": NaN")))
        except ValueError:
            continue
    out = {}
    for wl in ("gpt2", "resnet50"):
        by = {fw: [r["throughput"] for r in rows if r.get("workload") == wl and r.get("framework") == fw]
              for fw in ("wick", "torch", "wick-opt")}
        if not by["wick"] or not by["torch"]:
            out[wl] = f"not measured (wick {len(by['wick'])} runs, torch {len(by['torch'])})"
            continue
        w, t = statistics.median(by["wick"]), statistics.median(by["torch"])
        unit = next(r["unit"] for r in rows if r.get("workload") == wl)
        line = f"{w / t:.2f}x (wick {w:.0f} {unit}, PyTorch eager {t:.0f}; medians of {len(by['wick'])} runs)"
        if by["wick-opt"]:
            line += f"; with the opt-in paths {statistics.median(by['wick-opt']) / t:.2f}x"
        out[wl] = line
    return out


def verdict(line, ratio_target):
    """'met' / 'NOT met' from a line's first ratio; '' when nothing was measured."""
    m = re.match(r"([\d.]+)(?:-[\d.]+)?x", line)
    if not m:
        return ""
    lowest = float(m.group(1))
    return "met" if lowest >= ratio_target else "NOT met"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="gpu_check.sh's output folder")
    ap.add_argument("--seconds", type=int, help="the check's wall time so far")
    ap.add_argument("--limit", type=int, default=480, help="the time the issue allows (s)")
    ap.add_argument("--partial", help="what this call ran when not the whole check (no verdict on its time)")
    a = ap.parse_args()
    detail = os.path.join(a.out, "detail")
    gemm = gemm_rows(read(os.path.join(a.out, "bench_cuda_gemm.txt")) or "")
    wick_att = attention_rows(read(os.path.join(a.out, "bench_cuda_attention.txt")))
    torch_att = attention_rows(read(os.path.join(a.out, "bench_torch_attention.txt")))
    models = models_lines(read(os.path.join(a.out, "models.jsonl")))

    table = [
        ("tests", "every CUDA test binary passes", tests_line(detail), None),
        ("CPU tests", "every test passes", ctest_line(read(os.path.join(a.out, "ctest.log"))), None),
        ("sanitizer", "memcheck: 0 errors", sanitizer_line(detail), None),
        ("SGEMM fp32", ">= 0.85x cuBLAS", gemm_line(gemm, "fp32", 0.85), 0.85),
        ("GEMM bf16", ">= 0.7x cuBLAS (aim 0.9)", gemm_line(gemm, "bf16", 0.7), 0.7),
        ("attention", ">= 1.0x SDPA fwd+bwd", attention_line(wick_att, torch_att), 1.0),
        ("GPT-2 step", ">= 1.0x PyTorch", models["gpt2"], 1.0),
        ("ResNet-50", ">= 0.8x PyTorch", models["resnet50"], 0.8),
    ]
    print("== summary: issue 6's targets, ratios from this run (wick / peer)")
    for name, target, line, ratio in table:
        if name == "CPU tests" and line == "not run":
            continue  # (a pack: CI ran them)
        if ratio is None:
            state = "" if line == "not run" else ("met" if "FAILED" not in line and "ERRORS" not in line
                                                  and "no summary" not in line else "NOT met")
        else:
            state = verdict(line, ratio)
        print(f"{name:11s} {target:30s} {state:8s} {line}")
    if a.seconds is not None:
        state = "" if a.partial else "met" if a.seconds < a.limit else "NOT met"
        what = f" (a partial check: {a.partial.strip()})" if a.partial else ""
        print(f"{'time':11s} {'< %d s' % a.limit:30s} {state:8s} {a.seconds} s for this call{what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
