#!/usr/bin/env python3
"""scripts/grid_order_model.py (the attention grid orders' scheduling model) on cases worked by hand,
then its claim's direction on GPT-2's shape. Runs without a GPU (ctest: grid_order_model)."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import grid_order_model as m  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import check, finish  # noqa: E402 (this folder)


def close(a, b):
    return abs(a - b) < 1e-6


one = lambda c: c  # noqa: E731 (a CTA's work is its id)
# One SM, one slot: the CTAs one after another.
check(close(m.makespan([1, 2, 3], 1, 1, 1, one), 6.0), "serial")
# One SM, two slots, saturated by one CTA: two resident CTAs share the SM, so the total is still the sum.
check(close(m.makespan([1, 2, 3], 1, 2, 1, one), 6.0), "shared, saturated at 1")
# Saturated at 2: two resident CTAs share the SM's peak (half each), a lone one runs at half it too
# (min(1, 2) / 2). 1 and 2 start together; 1 ends at 2; 3 starts (2 has 1 left): 2 ends at 4; 3 has 2
# left, alone at half speed: ends at 4 + 4 = 8.
check(close(m.makespan([1, 2, 3], 1, 2, 2, one), 8.0), "saturated at 2")
# Two SMs, one slot each: greedy list scheduling, [3, 1, 1, 1] -> SM0 3, SM1 1 + 1 + 1: 3.
check(close(m.makespan([3, 1, 1, 1], 2, 1, 1, one), 3.0), "two SMs")
# Longest first beats a heavy CTA last: [1, 1, 1, 3] on two SMs -> SM1 ends its 3 at 1 + 3 = 4.
check(close(m.makespan([1, 1, 1, 3], 2, 1, 1, one), 4.0), "heavy last")

# GPT-2's causal backward: the slices-fastest order is shorter and near the ideal; no mask: the same.
slow, fast, ideal = m.compare(96, 16, 132, 3, 2, 0.5, True)
check(fast < slow and ideal <= fast < 1.05 * ideal, f"causal: {slow} {fast} {ideal}")
slow, fast, ideal = m.compare(96, 16, 132, 3, 2, 0.5, False)
check(close(slow, fast), f"full: {slow} {fast}")

# The sections: lpt_section's rule (2/3 of a 50 MB L2; equal widths) and lpt_order's coverage.
check(m.balanced_section(96, 512 * 1024, 50 * 1024 * 1024) == 48, "backward section")
check(m.balanced_section(96, 256 * 1024, 50 * 1024 * 1024) == 96, "forward section")
check(m.balanced_section(5, 10**12, 50 * 1024 * 1024) == 1, "a slice larger than L2")
check(m.balanced_section(5, 0, 50 * 1024 * 1024) == 5 and m.balanced_section(0, 1024, 1 << 20) == 1, "edges")
# 10 slices, 3 fit (2/3 of 9 bytes, 2 a slice): 4 sections of ceil(10 / 4) = 3, the last one of 1.
check(m.balanced_section(10, 2, 9) == 3, "10 slices, 3 fit: " + str(m.balanced_section(10, 2, 9)))
for sec in (1, 7, 48, 96, 200):
    o = m.lpt_order(96, 16, sec)
    check(sorted(o) == [(n, b) for n in range(96) for b in range(16)], f"section {sec}: every CTA once")
o = m.lpt_order(10, 3, 4)  # sections of 4, 4, 2 slices
check(o[:8] == [(0, 0), (1, 0), (2, 0), (3, 0), (0, 1), (1, 1), (2, 1), (3, 1)] and o[24:] == [(8, 0), (9, 0),
      (8, 1), (9, 1), (8, 2), (9, 2)], "section order: " + str(o))

for bad in (["--slices", "0"], ["--section", "0"]):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "grid_order_model.py"), *bad],
                       capture_output=True, text=True)
    check(r.returncode != 0 and "at least 1" in r.stderr, f"{bad}: " + r.stderr)
r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "grid_order_model.py")], capture_output=True,
                   text=True)
check(r.returncode == 0 and r.stdout.count("shorter") == 4 and "sections of 48" in r.stdout,
      "the default cases: " + r.stdout + r.stderr)

finish("test_grid_order_model")
