#!/usr/bin/env python3
"""scripts/gpu_summary.py, the GPU check's closing table, on real H200 outputs
(tests/fixtures/gpu_check) and on an empty folder: every figure it prints is
recomputed here from the fixture's own numbers, and what is missing must say
so. Runs without a GPU (ctest: gpu_check_summary)."""
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "gpu_summary.py")
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "gpu_check")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import check, finish  # noqa: E402 (this folder)


def summary(folder, *args, rc=0):
    """The table's rows by name; rc: the exit status expected (1 when the tests or the sanitizer failed)."""
    r = subprocess.run([sys.executable, SCRIPT, folder, *args], capture_output=True, text=True)
    check(r.returncode == rc, f"exit {r.returncode}, want {rc}: {r.stderr}")
    rows = {}
    for line in r.stdout.splitlines()[1:]:
        rows[line[:11].strip()] = line[11:]
    return rows


def expected_gemm(dtype):
    """wick / cublas per row of the fixture's table, by the header's column names."""
    cols, ratios = None, []
    for line in open(os.path.join(FIXTURE, "bench_cuda_gemm.txt")):
        if line.startswith("shape (MxNxK)"):
            cols = line.split()[2:]
        elif cols and line.startswith(dtype + " "):
            v = dict(zip(cols, line.split()[-len(cols):]))
            ratios.append(float(v["wick"]) / float(v["cublas"]))
    return ratios


rows = summary(FIXTURE, "--seconds", "401", rc=1)
check(set(rows) == {"tests", "sanitizer", "SGEMM fp32", "GEMM bf16", "attention", "GPT-2 step", "ResNet-50", "time"},
      f"rows: {sorted(rows)}")

# Tests: loss failed (rc 1) on the lease; sort passed; gemm ran as two shards, one failing.
t = rows.get("tests", "")
check("NOT met" in t, "tests: a failed binary must fail the row: " + t)
check("3 binaries, 1 passed" in t, "tests: shards are one binary: " + t)
check("FAILED: test_cuda_gemm test_cuda_loss" in t, "tests: the failed binaries: " + t)
loss_passed = int(re.search(r"PASSED  \] (\d+) test", open(os.path.join(FIXTURE, "detail", "test_cuda_loss.log")).read())[1])
sort_passed = int(re.search(r"PASSED  \] (\d+) test", open(os.path.join(FIXTURE, "detail", "test_cuda_sort.log")).read())[1])
check(f"tests {loss_passed + sort_passed + 11 + 8} passed, 2 failed, 1 skipped" in t, "tests: counts: " + t)

s = rows.get("sanitizer", "")
check("NOT met" in s and "3 binaries, 1 with 0 errors" in s, "sanitizer: " + s)
check("test_cuda_gemm (2)" in s and "no summary (time limit?): test_cuda_fft" in s, "sanitizer: " + s)

def expected_best_column(dtype, target):
    """(rows at the target, lowest ratio, column) of the best other column of wick's, each row taking the
    faster of that column and the default: the most rows at the target, then the higher lowest ratio."""
    cols, table = None, []
    for line in open(os.path.join(FIXTURE, "bench_cuda_gemm.txt")):
        if line.startswith("shape (MxNxK)"):
            cols = line.split()[2:]
        elif cols and line.startswith(dtype + " "):
            table.append(dict(zip(cols, line.split()[-len(cols):])))
    best = None
    for col in cols:
        if col in ("wick", "cublas", "cublasLt", "ratio", "best/pk", "cublas/pk") or col.endswith("/"):
            continue
        rs = []
        for v in table:
            w = float(v["wick"])
            if v[col] != "-":
                w = max(w, float(v[col]))
            rs.append(w / float(v["cublas"]))
        key = (sum(r >= target for r in rs), min(rs), col)
        if best is None or key[:2] > best[:2]:
            best = key
    return best


for name, dtype, target in (("SGEMM fp32", "fp32", 0.85), ("GEMM bf16", "bf16", 0.7)):
    r = expected_gemm(dtype)
    line = rows.get(name, "")
    want = f"{min(r):.2f}-{max(r):.2f}x over {len(r)} shapes, {sum(x >= target for x in r)} at >= {target}x"
    check(want in line, f"{name}: want '{want}' in '{line}'")
    check(("NOT met" in line) == (min(r) < target), f"{name}: verdict: {line}")
    # The best other column, named with what it would give (the verdict stays the default's).
    n, low, col = expected_best_column(dtype, target)
    want = f"with column {col} where it is faster: {n} at >= {target}x, lowest {low:.2f}x"
    check(want in line, f"{name}: want '{want}' in '{line}'")

# Attention: 0.222 / 0.346 (SDPA / wick, fwd+bwd) on that lease.
a = rows.get("attention", "")
check("NOT met" in a and "0.64x (wick 0.346 ms, SDPA 0.222)" in a, "attention: " + a)

# The opt-in rows bench_cuda_attention prints beside wick-fused: the best one is named, the verdict stays
# the default's.
import shutil
with tempfile.TemporaryDirectory() as var:
    shutil.copy(os.path.join(FIXTURE, "bench_torch_attention.txt"), var)
    with open(os.path.join(FIXTURE, "bench_cuda_attention.txt")) as f, \
            open(os.path.join(var, "bench_cuda_attention.txt"), "w") as g:
        for line in f:
            g.write(line)
            if line.startswith("wick-fused  bf16  B8 H12 L1024 D64 causal"):
                g.write("+lean       bf16  B8 H12 L1024 D64 causal        0.075    170.00       0.340      132.00\n")
                g.write("+dqbulk     bf16  B8 H12 L1024 D64 causal        0.082    156.00       0.300      150.00\n")
    line = summary(var).get("attention", "")
    check("NOT met" in line and "0.64x (wick 0.346" in line and f"best opt-in +dqbulk {0.222 / 0.300:.2f}x" in line,
          "attention with opt-in rows: " + line)

# The head-dim-128 rows (no target): their own line with no verdict, the opt-in +hd128 named; the
# GPT-2 shape's verdict unchanged.
with tempfile.TemporaryDirectory() as var:
    with open(os.path.join(FIXTURE, "bench_torch_attention.txt")) as f, \
            open(os.path.join(var, "bench_torch_attention.txt"), "w") as g:
        g.write(f.read() + "torch-sdpa  bf16  B8 H12 L1024 D128 causal  0.100  250.00  0.400  200.00\n")
    with open(os.path.join(FIXTURE, "bench_cuda_attention.txt")) as f, \
            open(os.path.join(var, "bench_cuda_attention.txt"), "w") as g:
        g.write(f.read() + "wick-fused  bf16  B8 H12 L1024 D128 causal  0.125  200.00  1.000  80.00\n"
                "+hd128      bf16  B8 H12 L1024 D128 causal  0.125  200.00  0.500  160.00\n")
    r128 = summary(var)
    d128 = r128.get("attn D128", "")
    check("0.40x (wick 1.000 ms, SDPA 0.400)" in d128 and "best opt-in +hd128 0.80x" in d128
          and "met" not in d128.split("0.40x")[0], "attention at head dim 128: " + d128)
    check("NOT met" in r128.get("attention", "") and "0.64x (wick 0.346" in r128.get("attention", ""),
          "attention beside the head-dim-128 rows: " + r128.get("attention", ""))

# PyTorch's attention bench run three times into one file: each time's median over the runs, not the
# last run's (nor the fastest).
with tempfile.TemporaryDirectory() as var:
    shutil.copy(os.path.join(FIXTURE, "bench_cuda_attention.txt"), var)
    with open(os.path.join(var, "bench_torch_attention.txt"), "w") as g:
        for fwd, both in ((0.058, 0.225), (0.065, 0.380), (0.059, 0.284)):
            g.write("# torch 2.x, NVIDIA H200, torch-sdpa\n")
            g.write(f"torch-sdpa  bf16  B8 H12 L1024 D64 causal  {fwd}  1.0  {both}  1.0\n")
    line = summary(var).get("attention", "")
    check(f"{0.284 / 0.346:.2f}x (wick 0.346 ms, SDPA 0.284)" in line and "(0.082 / 0.059 ms)" in line
          and "medians of 3 runs" in line, "attention over three PyTorch runs: " + line)

# The kernel-level attention row (ncu-attn's one-step files): PyTorch's total over wick's, medians per
# kernel; absent files leave the row out.
check("attn ncu" not in rows, "attn kernels without ncu files: " + str(rows.get("attn ncu")))
with tempfile.TemporaryDirectory() as var:
    hdr = ", Context 1, Stream 7, Device 0, CC 9.0\n"
    with open(os.path.join(var, "ncu_attention_step_wick.txt"), "w") as g:
        for name, us in (("wgmma_forward_kernel<bf16, 0>", 55), ("wgmma_forward_kernel<bf16, 0>", 57),
                         ("attention_rowdot_kernel<bf16>", 8), ("wgmma_bwd_tma_kernel<bf16, 1>", 110),
                         ("fa2_dq_convert_bulk_kernel<bf16>", 12)):
            g.write(f"  void {name}(args) (1, 1, 1)x(128, 1, 1){hdr}    gpu__time_duration.sum    ns    {us * 1000}\n")
    with open(os.path.join(var, "ncu_attention_step_torch.txt"), "w") as g:
        for name, us in (("flash_fwd_kernel<T>", 50), ("flash_bwd_dot_do_o_kernel<true>", 15),
                         ("flash_bwd_dq_dk_dv_loop_seqk_parallel_kernel<T>", 130), ("flash_bwd_convert_dq_kernel<T>", 10)):
            g.write(f"  void {name}(args) (1, 1, 1)x(128, 1, 1){hdr}    gpu__time_duration.sum    ns    {us * 1000}\n")
    line = summary(var).get("attn ncu", "")
    check(f"{205 / 187:.2f}x" in line and "wick 187.0 us over 4 kernels" in line and "SDPA 205.0 us over 4" in line,
          "attn ncu: " + line)
    check("; with" not in line, "attn ncu without the other step: " + line)
    with open(os.path.join(var, "ncu_attention_step_wick_alt.txt"), "w") as g:
        g.write("# env: WICK_CUDA_ATTENTION_LPT=0\n")
        for name, us in (("wgmma_forward_tma_kernel<bf16, 0>", 50), ("attention_rowdot_kernel<bf16>", 8),
                         ("wgmma_bwd_tma_kernel<bf16, 1>", 100), ("fa2_dq_convert_bulk_kernel<bf16>", 12)):
            g.write(f"  void {name}(args) (1, 1, 1)x(128, 1, 1){hdr}    gpu__time_duration.sum    ns    {us * 1000}\n")
    line = summary(var).get("attn ncu", "")
    check(f"with WICK_CUDA_ATTENTION_LPT=0 {205 / 170:.2f}x (wick 170.0 us over 4)" in line, "attn ncu other step: " + line)

# Models: medians of the wick and torch runs in models.jsonl.
import json
import statistics
runs = [json.loads(l) for l in open(os.path.join(FIXTURE, "models.jsonl")) if l.strip()]
for wl, name, target in (("gpt2", "GPT-2 step", 1.0), ("resnet50", "ResNet-50", 0.8)):
    w = statistics.median(r["throughput"] for r in runs if r["workload"] == wl and r["framework"] == "wick")
    p = statistics.median(r["throughput"] for r in runs if r["workload"] == wl and r["framework"] == "torch")
    line = rows.get(name, "")
    check(f"{w / p:.2f}x (wick {w:.0f}" in line, f"{name}: want {w / p:.2f}x in '{line}'")
    check(("NOT met" in line) == (w / p < target), f"{name}: verdict: {line}")

# --models: the models section's detail lines (the same medians), and no crash on malformed lines.
out = subprocess.run([sys.executable, SCRIPT, FIXTURE, "--models"], capture_output=True, text=True)
w = statistics.median(r["throughput"] for r in runs if r["workload"] == "gpt2" and r["framework"] == "wick")
p = statistics.median(r["throughput"] for r in runs if r["workload"] == "gpt2" and r["framework"] == "torch")
check(out.returncode == 0 and f"gpt2      wick {w:10.0f} tokens/s  torch {p:10.0f}  ratio {w / p:5.2f}x" in out.stdout,
      "--models: " + out.stdout + out.stderr)
with tempfile.TemporaryDirectory() as d:
    with open(os.path.join(d, "models.jsonl"), "w") as f:
        f.write('null\n{"framework": "wick", "workload": "gpt2", "throughput": 5.0}\nnot json\n'
                '{"framework": "torch", "workload": "gpt2", "throughput": 0.0}\n')
    out = subprocess.run([sys.executable, SCRIPT, d, "--models"], capture_output=True, text=True)
    check(out.returncode == 0 and "n/a" in out.stdout and "resnet50  incomplete" in out.stdout,
          "--models on malformed input: " + out.stdout + out.stderr)

check(rows.get("time", "").split()[:4] == ["<", "480", "s", "met"], "time: " + rows.get("time", ""))
over = summary(FIXTURE, "--seconds", "481", rc=1)
check("NOT met" in over.get("time", ""), "time over the limit: " + over.get("time", ""))
part = summary(FIXTURE, "--seconds", "900", "--partial", "WICK_GPU_ONLY='gemm'", rc=1)
check("met" not in part.get("time", "") and "a partial check" in part.get("time", ""), "partial: " + part.get("time", ""))

# A build from source ran the CPU tests there (ctest.log): their row appears, and fails on a failure.
with tempfile.TemporaryDirectory() as src:
    for log, verdict in (("100% tests passed, 0 tests failed out of 900", "met"),
                         ("99% tests passed, 2 tests failed out of 900", "NOT met"), ("(killed)", "NOT met")):
        with open(os.path.join(src, "ctest.log"), "w") as f:
            f.write(log + "\n")
        line = summary(src, rc=0 if verdict == "met" else 1).get("CPU tests", "")
        check(re.search(r"\s" + verdict + r"\s", line) is not None, f"CPU tests for '{log}': {line}")
check("CPU tests" not in summary(FIXTURE, rc=1), "a pack's run has no CPU tests row")

def write(folder, name, text):
    os.makedirs(os.path.dirname(os.path.join(folder, name)), exist_ok=True)
    with open(os.path.join(folder, name), "w") as f:
        f.write(text)


GEMM_HEAD = "shape (MxNxK)                                     wick    cublas  cublasLt   ratio\n"
GEMM_END = "(TFLOP/s, medians of 3 interleaved rounds; ...)\n"

# Verdicts come from the unrounded ratios: 0.846 prints as 0.85x but is under 0.85; 0.9950 as 0.99x, 1.00x.
with tempfile.TemporaryDirectory() as d:
    write(d, "bench_cuda_gemm.txt", GEMM_HEAD + "fp32 4096x4096x4096 square NN  42.3  50.0  50.1  0.846\n"
          "bf16 4096x4096x4096 square NN  700.0  1000.0  990.0  0.700\n" + GEMM_END)
    write(d, "bench_cuda_attention.txt", "wick-fused  bf16  B8 H12 L1024 D64 causal  0.050  1.0  0.223  1.0\n")
    write(d, "bench_torch_attention.txt", "torch-sdpa  bf16  B8 H12 L1024 D64 causal  0.056  1.0  0.222  1.0\n")
    write(d, "models.jsonl", "\n".join(json.dumps(r) for r in [
        {"framework": "wick", "workload": "gpt2", "throughput": 199000.0, "unit": "tokens/s"},
        {"framework": "torch", "workload": "gpt2", "throughput": 199900.0, "unit": "tokens/s"},
        {"framework": "wick", "workload": "resnet50", "throughput": 80.0},
        {"framework": "torch", "workload": "resnet50", "throughput": 100.0}]) + "\n")
    rows = summary(d)
    for name, verdict in (("SGEMM fp32", "NOT met"), ("GEMM bf16", "met"), ("attention", "NOT met"),
                          ("GPT-2 step", "NOT met"), ("ResNet-50", "met")):
        line = rows.get(name, "")
        check(re.search(r"\s" + verdict + r"\s", line) is not None and (verdict != "met" or "NOT met" not in line),
              f"rounding at the target, {name}: want {verdict}: {line}")
    # A table cut short by the time limit (no closing note) is not a pass, and says so.
    write(d, "bench_cuda_gemm.txt", GEMM_HEAD + "bf16 4096x4096x4096 square NN  900.0  1000.0  990.0  0.900\n")
    line = summary(d).get("GEMM bf16", "")
    check("NOT met" in line and "cut short" in line, "a cut GEMM table: " + line)
    # WICK_GPU_ONLY=gemm-all: the variant table has the same wick and cublas columns.
    os.remove(os.path.join(d, "bench_cuda_gemm.txt"))
    write(d, "bench_cuda_gemm_all.txt", "shape (MxNxK)  wick  async  cublas  cublasLt  ratio\n"
          "bf16 4096x4096x4096 square NN  900.0  -  1000.0  990.0  0.900\n" + GEMM_END)
    line = summary(d).get("GEMM bf16", "")
    check(re.search(r"\smet\s", line) is not None and "0.90x over 1 shapes" in line, "gemm-all fallback: " + line)
    # The lean table's opt-in column (ck): named where it meets the target on rows the default misses,
    # silent where it adds none; a "-" (not applicable) row counts the default; the verdict is the default's.
    os.remove(os.path.join(d, "bench_cuda_gemm_all.txt"))
    write(d, "bench_cuda_gemm.txt", "shape (MxNxK)  wick  ck  cublas  cublasLt  ratio  ck/  lt/  best/pk  cublas/pk\n"
          "bf16 768x768x8192 dW TN  300.0  480.0  500.0  510.0  0.600  0.960  1.020  0.49  0.51\n"
          "bf16 4096x4096x4096 square NN  750.0  -  1000.0  990.0  0.750  -  0.990  0.76  1.01\n" + GEMM_END)
    line = summary(d).get("GEMM bf16", "")
    check("NOT met" in line and "with column ck where it is faster: 2 at >= 0.7x, lowest 0.75x" in line,
          "an opt-in column that meets the target: " + line)
    write(d, "bench_cuda_gemm.txt", "shape (MxNxK)  wick  ck  cublas  cublasLt  ratio  ck/  lt/  best/pk  cublas/pk\n"
          "bf16 768x768x8192 dW TN  300.0  290.0  500.0  510.0  0.600  0.580  1.020  0.31  0.51\n" + GEMM_END)
    line = summary(d).get("GEMM bf16", "")
    check("with column" not in line, "an opt-in column that adds nothing: " + line)
    # A -x column (a default path turned off, gemm-all) is never proposed, even where it is faster.
    write(d, "bench_cuda_gemm.txt", "shape (MxNxK)  wick  -tk  cublas  cublasLt  ratio  -tk/  lt/  best/pk  cublas/pk\n"
          "bf16 768x768x8192 dW TN  300.0  480.0  500.0  510.0  0.600  0.960  1.020  0.49  0.51\n" + GEMM_END)
    line = summary(d).get("GEMM bf16", "")
    check("with column" not in line and "0.60x over 1 shapes" in line, "a -x column: " + line)

# Malformed input never loses the table: a cuBLAS column of zeros, models.jsonl lines without a
# throughput, null, NaN, a zero torch throughput, a binary without a result.
with tempfile.TemporaryDirectory() as d:
    write(d, "bench_cuda_gemm.txt", GEMM_HEAD + "fp32 4096x4096x4096 square NN  42.3  0.0  50.1  0.846\n" + GEMM_END)
    write(d, "models.jsonl", 'null\n{"framework": "wick", "workload": "gpt2"}\n'
          '{"framework": "wick", "workload": "gpt2", "throughput": NaN}\n'
          '{"framework": "wick", "workload": "resnet50", "throughput": 5.0}\n'
          '{"framework": "torch", "workload": "resnet50", "throughput": 0.0}\nnot json\n')
    write(d, "detail/test_cuda_gemm.rc", "missing\n")
    write(d, "detail/test_cuda_copy.rc", "0\n")
    rows = summary(d, rc=1)
    check("not measured" in rows.get("SGEMM fp32", "") and "met" not in rows.get("SGEMM fp32", "").replace(
        "not measured", ""), "zero cuBLAS time: " + rows.get("SGEMM fp32", ""))
    for name in ("GPT-2 step", "ResNet-50"):
        check("not measured" in rows.get(name, ""), f"malformed models.jsonl, {name}: " + rows.get(name, ""))
    check("NOT met" in rows.get("tests", "") and "FAILED: test_cuda_gemm" in rows.get("tests", ""),
          "a binary without a result: " + rows.get("tests", ""))

# A build from source: the build's and the CPU tests' times are not the check's.
with tempfile.TemporaryDirectory() as d:
    write(d, "detail/times", "build 300\ncpu-tests 40\ntests 50\n")
    line = summary(d, "--seconds", "800").get("time", "")
    check(re.search(r"\smet\s", line) is not None and "460 s for the check (800 s with the build" in line,
          "build time: " + line)

# Nothing measured: every row says so, none claims a verdict.
with tempfile.TemporaryDirectory() as empty:
    rows = summary(empty)
    for name, line in rows.items():
        check(("not run" in line or "not measured" in line) and "met" not in line.replace("not measured", ""),
              f"empty folder, {name}: {line}")

# --gemm-optin: each opt-in column against the defaults by the decision rule (faster on every row it
# took, no row elsewhere below 0.98x), the rows it took told by the bench's notes that a path did not run.
table = """shape (MxNxK)                                     wick        sk        kv     sk+kv        fx    cublas  cublasLt   ratio     sk/     kv/  sk+kv/     fx/     lt/   best/pk cublas/pk
fp32 8192x768x768 NT                              30.8      36.0      32.0      38.0         -      41.9      41.0   0.735   0.859   0.764   0.907       -   0.978     0.567     0.626
fp32 4096x4096x4096 NN                            42.3      41.0      43.5      42.9         -      51.0      50.0   0.829   0.804   0.853   0.841       -   0.980     0.649     0.761
  (sk: no hybrid stream-K for this row; the columns that turn it on ran without it)
fp32 768x768x8192 TN                              42.5      42.6      42.4      42.5         -      48.2      48.0   0.882   0.884   0.880   0.882       -   0.996     0.636     0.719
  (sk: no hybrid stream-K for this row; the columns that turn it on ran without it)
  (kv: no 16-byte k-contiguous copy for this row; the columns that turn it on ran without it)
bf16 768x768x8192 TN                             314.1         -         -         -     380.2     525.3     520.0   0.598       -       -       -   0.724   0.990     0.384     0.531
bf16 4096x4096x4096 NN                           646.7         -         -         -     640.0     660.6     650.0   0.979       -       -       -   0.969   0.984     0.654     0.668
  (fx: no fused stream-K for this row; the columns that turn it on ran without it)
(TFLOP/s, medians of 3 interleaved rounds; ...)
"""
with tempfile.TemporaryDirectory() as d:
    write(d, "bench_cuda_gemm.txt", table)
    r = subprocess.run([sys.executable, SCRIPT, d, "--gemm-optin"], capture_output=True, text=True)
    lines = {l.split()[0]: l for l in r.stdout.splitlines() if l.strip()}
    check(r.returncode == 0 and set(lines) == {"sk", "kv", "sk+kv", "fx"}, f"--gemm-optin: {r.stdout} {r.stderr}")
    # sk took 8192x768x768 only (1.169x); elsewhere lowest 0.969x (4096^3, where it timed the default: noise
    # past 2%): kept off.
    check("took fp32 8192x768x768 1.169x" in lines.get("sk", "") and "0.969x" in lines.get("sk", "") and
          "keep off (lost over 2% elsewhere)" in lines.get("sk", ""), "sk: " + lines.get("sk", ""))
    # kv took 8192x768x768 and 4096^3, faster on both; elsewhere 0.998x: turn on.
    check("1.039x" in lines.get("kv", "") and "1.028x" in lines.get("kv", "") and
          lines.get("kv", "").endswith("turn on"), "kv: " + lines.get("kv", ""))
    # sk+kv took a row where either path ran: both of the first two (4096^3 through kv); 768x768x8192 (neither
    # ran) is elsewhere.
    check("8192x768x768 1.234x" in lines.get("sk+kv", "") and "4096x4096x4096 1.014x" in lines.get("sk+kv", "") and
          "elsewhere lowest 1.000x" in lines.get("sk+kv", "") and lines.get("sk+kv", "").endswith("turn on"),
          "sk+kv: " + lines.get("sk+kv", ""))
    # fx took the bf16 weight gradient (1.210x); 4096^3 timed the default's path (0.990x, within 2%).
    check("bf16 768x768x8192 1.210x" in lines.get("fx", "") and lines.get("fx", "").endswith("turn on"),
          "fx: " + lines.get("fx", ""))

# Racecheck (gpu_check's racecheck section, RACECHECK in the script): the row, the opt-in verdicts the
# opt-in table applies, and the runs' specs against the tests they name.
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import gpu_summary  # noqa: E402

CLEAN = "========= RACECHECK SUMMARY: 0 hazards displayed (0 errors, 0 warnings)\n"


def race(errors, warnings=0):
    return (f"========= Error: Race reported between Write access at f+0x10 and Read access at f+0x20\n"
            f"========= RACECHECK SUMMARY: {errors + warnings} hazards displayed ({errors} errors, {warnings} warnings)\n")


labels = [r[0] for r in gpu_summary.RACECHECK]
optins = [r[0] for r in gpu_summary.RACECHECK if r[-1]]
check(len(set(labels)) == len(labels) and all(r[-1] in labels and r[-1].startswith("default.")
                                              for r in gpu_summary.RACECHECK if r[-1]),
      "each opt-in racecheck run is read beside a default run of the list: " + str(labels))
check(gpu_summary.racecheck_counts(CLEAN) == (0, 0, 0) and gpu_summary.racecheck_counts(race(1, 1)) == (2, 1, 1)
      and gpu_summary.racecheck_counts("========= RACECHECK SUMMARY: 1 hazard displayed (1 error, 0 warnings)")
      == (1, 1, 0) and gpu_summary.racecheck_counts("killed\n") is None, "racecheck summary lines")
# Every run names tests that exist (a renamed test would leave its run with nothing to check), kernels
# that exist (a kernel-name filter that matches none checks nothing), switches the code declares, and
# every opt-in one is a switch of gpu_check.sh's opt-in table; a run and the default run beside it check
# the same kernels under the same environment.
sources = "".join(open(os.path.join(ROOT, "tests", "cuda", f)).read() for f in os.listdir(os.path.join(ROOT, "tests", "cuda")))
kernel_dir = os.path.join(ROOT, "cuda", "kernels")
kernel_sources = "".join(open(os.path.join(kernel_dir, f)).read() for f in sorted(os.listdir(kernel_dir))
                         if f.endswith((".cu", ".cuh")))
kernels = set(re.findall(r"__global__\s+void\s+(?:__launch_bounds__\([^)]*\)\s*)?(\w+)\s*\(", kernel_sources))
cuda_sources = kernel_sources + "".join(open(os.path.join(ROOT, "cuda", f)).read()
                                        for f in os.listdir(os.path.join(ROOT, "cuda")) if f.endswith(".cpp"))
gpu_check = open(os.path.join(ROOT, "scripts", "gpu_check.sh")).read()
spec = {r[0]: r for r in gpu_summary.RACECHECK}
for label, binary, filt, names, env, base in gpu_summary.RACECHECK:
    check(any(names in k for k in kernels), f"racecheck run {label}: no kernel named like '{names}'")
    check(not env or all(f'OptInSwitch s("{v.split("=")[0]}"' in cuda_sources for v in env.split()),
          f"racecheck run {label}: an environment switch no code declares: {env}")
    check(base is None or spec[base][3:5] == (names, env), f"racecheck run {label}: not like {base}'s")
    suite, name = filt.split(".")
    check(re.search(r"^TEST\(" + suite + r", " + re.escape(name.rstrip("*")), sources, re.M) is not None
          and os.path.exists(os.path.join(ROOT, "tests", "cuda", binary.replace("test_cuda_", "test_") + ".cpp")),
          f"racecheck run {label}: no test {filt} in {binary}")
    check(label.startswith("default.") or f'("{label}", "{binary}"' in gpu_check,
          f"racecheck run {label}: not a switch of gpu_check.sh's opt-in table")
r = subprocess.run([sys.executable, SCRIPT, "-", "--racecheck-specs"], capture_output=True, text=True)
check(r.returncode == 0 and [l.split() for l in r.stdout.splitlines()] ==
      [list(x[:4]) + [x[4] or "-"] for x in gpu_summary.RACECHECK],
      "--racecheck-specs: " + r.stdout + r.stderr)

kvec, hd128 = "WICK_CUDA_SIMT_KVEC", "WICK_CUDA_ATTENTION_FA2_BWD_HD128"
check(kvec in optins and hd128 in optins, "racecheck runs: " + str(optins))
with tempfile.TemporaryDirectory() as d:
    # Clean everywhere: met; every opt-in run clean.
    for label in labels:
        write(d, f"detail/racecheck_{label}.log", "[==========] 3 tests ran.\n" + CLEAN)
    rows = summary(d)
    check(re.search(r"\smet\s", rows.get("racecheck", "")) is not None and f"{len(labels)} runs" in rows["racecheck"]
          and "keeps off" not in rows["racecheck"], "racecheck clean: " + rows.get("racecheck", ""))
    res = gpu_summary.racecheck_results(os.path.join(d, "detail"))
    check(all(gpu_summary.racecheck_verdict(res, l)[0] is True for l in optins), "clean opt-in runs")
    check(gpu_summary.racecheck_verdict(res, "WICK_CUDA_GEMM_SK_FUSED") == (None, "no racecheck run"),
          "a switch without a racecheck run")
    # An opt-in run's errors where its default run has none: that switch stays off; the row stays met
    # (the defaults are clean) and names it. Warnings alone are no errors.
    write(d, f"detail/racecheck_{kvec}.log", race(2, 3))
    write(d, f"detail/racecheck_{hd128}.log", race(0, 4))
    rows = summary(d)
    res = gpu_summary.racecheck_results(os.path.join(d, "detail"))
    check(gpu_summary.racecheck_verdict(res, kvec)[0] is False and "keeps off: " + kvec in rows.get("racecheck", "")
          and re.search(r"\smet\s", rows["racecheck"]) is not None, "opt-in errors: " + rows.get("racecheck", ""))
    check(gpu_summary.racecheck_verdict(res, hd128) == (True, "racecheck clean (4 warnings)"), "warnings only")
    # Errors in a default run too (or the default run cut): the opt-in verdict is no verdict, the row NOT
    # met (exit status 1), like memcheck's.
    write(d, "detail/racecheck_default.simt.log", race(1))
    rows = summary(d, rc=1)
    res = gpu_summary.racecheck_results(os.path.join(d, "detail"))
    check(gpu_summary.racecheck_verdict(res, kvec)[0] is None and "NOT met" in rows.get("racecheck", ""),
          "errors in the default run: " + rows.get("racecheck", ""))
    write(d, "detail/racecheck_default.simt.log", "[==========] killed by its time limit\n")
    rows = summary(d, rc=1)
    check("NOT met" in rows.get("racecheck", "") and "default.simt no summary" in rows["racecheck"],
          "a cut default run: " + rows.get("racecheck", ""))
    res = gpu_summary.racecheck_results(os.path.join(d, "detail"))
    check(gpu_summary.racecheck_verdict(res, kvec)[0] is None, "an opt-in run beside a cut default run")
    # A cut or missing opt-in run: no verdict either way.
    write(d, f"detail/racecheck_{hd128}.log", "")
    os.remove(os.path.join(d, "detail", f"racecheck_{kvec}.log"))
    res = gpu_summary.racecheck_results(os.path.join(d, "detail"))
    check(gpu_summary.racecheck_verdict(res, hd128)[0] is None and gpu_summary.racecheck_verdict(res, kvec) ==
          (None, "racecheck not run"), "cut and missing opt-in runs")

finish("test_gpu_summary")
