#!/usr/bin/env python3
"""scripts/ncu_source_top.py on constructed Nsight Compute source-page CSVs (the format as ncu 2025
prints it is not yet checked against a real one: gpu_check's ncu-source section will bring one back).
Runs without ncu or a GPU (ctest: ncu_source_top)."""
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "ncu_source_top.py")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import check, finish  # noqa: E402 (this folder)


def run(text, *extra):
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        f.write(text)
    try:
        r = subprocess.run([sys.executable, SCRIPT, f.name, *extra], capture_output=True, text=True)
    finally:
        os.unlink(f.name)
    check(r.returncode == 0, f"exit {r.returncode}: {r.stderr}")
    return r.stdout


two = '''"Kernel","gemm_simt_async_kernel<2, 2, 0>"
"Address","Source","Warp Stall Sampling (All Samples)","Warp Stall Sampling (Not-issued Samples)","stall_long_sb"
"0x10","DEPBAR.LE SB0, 0x2","300","290","250"
"0x20","@P1 LDGSTS.E [R79], desc[UR12][R64.64], P3","50","40","0"
"0x30","FFMA R1, R2, R3, R1","1,650","100","0"
"Kernel","sm80_xmma_gemm"
"Address","Source","Warp Stall Sampling (All Samples)","Warp Stall Sampling (Not-issued Samples)","stall_long_sb"
"0x10","FFMA R1, R2, R3, R1","900","10","0"
"0x20","BAR.SYNC 0x0","100","100","0"
'''
out = run(two, "--top", "2")
check("== Kernel gemm_simt_async_kernel<2, 2, 0>: 3 instructions" in out, f"first table's label: {out}")
check("2000 in all" in out, f"total with a thousands separator: {out}")
check(" 1650  82.5%" in out and "   300  15.0%" in out, f"top rows and shares: {out}")
check("LDGSTS.E" not in out.split("== Kernel sm80")[0].split("by opcode")[0], f"--top 2 keeps two rows: {out}")
check("by opcode: FFMA 82.5%, DEPBAR 15.0%, LDGSTS 2.5%" in out, f"opcodes, predicate stripped: {out}")
check("by reason: stall_long_sb 250" in out, f"reasons: {out}")
check("== Kernel sm80_xmma_gemm: 2 instructions" in out and "1000 in all" in out, f"second table: {out}")

out = run("some,thing,else\n1,2,3\n")
check("no source table recognized" in out and "some,thing,else" in out, f"unknown format: {out}")
out = run('"Address","Source","Instructions Executed"\n"0x0","MOV R1, R2","4"\n')
check("no warp stall sampling column" in out, f"no samples column: {out}")
check(subprocess.run([sys.executable, SCRIPT, "--help"], capture_output=True).returncode == 0, "--help")

finish("test_ncu_source_top")
