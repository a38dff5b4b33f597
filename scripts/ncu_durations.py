#!/usr/bin/env python3
"""Kernel durations from Nsight Compute's text report (ncu --section SpeedOfLight ... > FILE).

Usage: ncu_durations.py [--total] FILE [FILE ...]

Prints one line per kernel, template arguments included (so wgmma_bwd_kernel<__nv_bfloat16, 0, 0, 0> and
<__nv_bfloat16, 0, 1, 1> are apart), in order of first appearance: launches profiled, median and minimum
duration in microseconds. The duration is the SpeedOfLight section's "Duration" or the metric
gpu__time_duration.sum. --total: then the sum of the kernels' medians (one launch of each kernel: a
step whose kernels each ran once, as one attention forward + backward). scripts/gpu_check.sh prints it after its ncu-attn and ncu-gemm sections: a
kernel's duration ranks kernels where a wall-clock bench also times the host (a slow host's op overhead).
"""
import collections
import re
import sys


def kernel_name(header: str) -> str:
    """The kernel of an ncu report header line ("  void ns::<unnamed>::k<T, 1>(args) (grid)x(block), Context ...")."""
    full = header.strip().removeprefix("void ").replace("<unnamed>::", "").replace("unnamed>::", "")
    # The name ends at the argument list's parenthesis, the first one outside the template arguments.
    depth = 0
    for i, ch in enumerate(full):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == "(" and depth == 0:
            full = full[:i]
            break
    head, lt, rest = full.strip().partition("<")
    return head.rsplit("::", 1)[-1] + lt + rest


def durations(lines):
    """{kernel: [duration in microseconds, ...]} in order of first appearance."""
    d = collections.OrderedDict()
    name = None
    for line in lines:
        if line.startswith("  ") and not line.startswith("   ") and ", Context " in line:
            name = kernel_name(line)
            continue
        m = re.match(r"^\s+(?:Duration|gpu__time_duration\.sum)\s+(ns|us|usecond|nsecond|ms|msecond)\s+([\d,.]+)",
                     line)
        if m and name:
            v = float(m.group(2).replace(",", ""))
            unit = m.group(1)
            us = v / 1e3 if unit.startswith("n") else v * 1e3 if unit.startswith("m") else v
            d.setdefault(name, []).append(us)
    return d


def total_of_medians(d):
    """The sum over kernels of each kernel's median duration: one launch of each (a step whose kernels ran
    once each)."""
    return sum(sorted(v)[len(v) // 2] for v in d.values())


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(argv) >= 2 else 2
    total = "--total" in argv
    files = [a for a in argv[1:] if a != "--total"]
    lines = []
    for f in files:
        with open(f, errors="replace") as fh:
            lines += fh.readlines()
    d = durations(lines)
    if not d:
        print("(no kernel durations in the report)")
    for k, v in d.items():
        s = sorted(v)
        print(f"{k[:78]:78s} n {len(v):2d}  median {s[len(s) // 2]:9.1f}  min {s[0]:9.1f}")
    if total and d:
        print(f"{'total of the kernels medians':78s} {'':4s}  {'':6s} {total_of_medians(d):9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
