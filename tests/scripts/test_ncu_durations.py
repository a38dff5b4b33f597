#!/usr/bin/env python3
"""scripts/ncu_durations.py on an excerpt of a real Nsight Compute report
(tests/fixtures/ncu/attention_h200.txt: gpu_check's ncu-attn on an H200,
2026-11-28) and on constructed header lines. Runs without ncu or a GPU
(ctest: ncu_durations)."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "ncu_durations.py")
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "ncu", "attention_h200.txt")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import ncu_durations  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import check, finish  # noqa: E402 (this folder)


with open(FIXTURE) as f:
    d = ncu_durations.durations(f.readlines())
check(list(d) == ["wgmma_forward_kernel<__nv_bfloat16, 0>", "wgmma_bwd_kernel<__nv_bfloat16, 0, 0, 0>",
                  "wgmma_forward_ws_kernel<__nv_bfloat16>", "wgmma_bwd_tma_kernel<__nv_bfloat16, 1>"],
      f"kernels {list(d)}")
check(abs(d.get("wgmma_bwd_tma_kernel<__nv_bfloat16, 1>", [0])[0] - 143.744) < 1e-9, f"tma duration {d}")
check(abs(d.get("wgmma_forward_kernel<__nv_bfloat16, 0>", [0])[0] - 72.096) < 1e-9, f"forward duration {d}")

# Header forms: namespaces (wick::<unnamed>::), no template arguments (a vendor kernel), parentheses
# inside template arguments, and other duration units.
lines = [
    "  void wick::<unnamed>::gemm_simt_async_kernel<2, 2, 0>(wick::<unnamed>::SaParams) (24, 64, 1)x(128, 1, 1), Context 1, Stream 13, Device 0, CC 9.0\n",
    "    Duration                         ns        1,336,224\n",
    "  nvjet_sm90_tst_96x64_64x8_2x4_h_bz_NTN (8, 12, 1)x(384, 1, 1), Context 1, Stream 13, Device 0, CC 9.0\n",
    "    Duration                         us            26.14\n",
    "  void k<(int)3, float>(float *) (1, 1, 1)x(32, 1, 1), Context 1, Stream 7, Device 0, CC 9.0\n",
    "    Duration                         ms             1.5\n",
    "  nvjet_sm90_tst_96x64_64x8_2x4_h_bz_NTN (8, 12, 1)x(384, 1, 1), Context 1, Stream 13, Device 0, CC 9.0\n",
    "    Duration                         ns           26,000\n",
]
d = ncu_durations.durations(lines)
check(list(d) == ["gemm_simt_async_kernel<2, 2, 0>", "nvjet_sm90_tst_96x64_64x8_2x4_h_bz_NTN", "k<(int)3, float>"],
      f"names {list(d)}")
check(d.get("gemm_simt_async_kernel<2, 2, 0>") == [1336.224], f"ns {d}")
check(d.get("nvjet_sm90_tst_96x64_64x8_2x4_h_bz_NTN") == [26.14, 26.0], f"us and a second launch {d}")
check(d.get("k<(int)3, float>") == [1500.0], f"ms {d}")

# The metric form (ncu --metrics gpu__time_duration.sum) and --total.
metric = ["  flash_fwd_kernel<Flash_fwd_kernel_traits<64, 128, 64, 4>, true> (768, 8, 12)x(128, 1, 1), Context 1, Stream 7, Device 0, CC 9.0\n",
          "    gpu__time_duration.sum                         ns        50,000\n",
          "  flash_bwd_dot_do_o_kernel<true> (16, 8, 12)x(128, 1, 1), Context 1, Stream 7, Device 0, CC 9.0\n",
          "    gpu__time_duration.sum                         ns        10,000\n",
          "  flash_fwd_kernel<Flash_fwd_kernel_traits<64, 128, 64, 4>, true> (768, 8, 12)x(128, 1, 1), Context 1, Stream 7, Device 0, CC 9.0\n",
          "    gpu__time_duration.sum                         ns        52,000\n"]
d = ncu_durations.durations(metric)
check(d.get("flash_fwd_kernel<Flash_fwd_kernel_traits<64, 128, 64, 4>, true>") == [50.0, 52.0]
      and d.get("flash_bwd_dot_do_o_kernel<true>") == [10.0], f"the metric form {d}")
with open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "ncu_durations_metric.txt"), "w") as f:
    f.writelines(metric)
out = subprocess.run([sys.executable, SCRIPT, "--total", f.name], capture_output=True, text=True)
check(out.returncode == 0 and out.stdout.strip().splitlines()[-1].split()[-1] == "62.0",
      f"--total (medians 52 + 10): {out.stdout!r}")
os.unlink(f.name)

out = subprocess.run([sys.executable, SCRIPT, FIXTURE], capture_output=True, text=True)
check(out.returncode == 0 and "wgmma_bwd_tma_kernel<__nv_bfloat16, 1>" in out.stdout and "143.7" in out.stdout,
      f"the command: {out.returncode} {out.stdout!r} {out.stderr!r}")
check(subprocess.run([sys.executable, SCRIPT, "--help"], capture_output=True).returncode == 0, "--help")

finish("test_ncu_durations")
