#!/usr/bin/env python3
"""scripts/sass_blocks.py, the per-block SASS counter, on nvdisasm listings
(tests/fixtures/sass): a real sm_90a kernel of wick's (fa2_dq_convert_kernel)
and a hand-written one with a spill inside its loop. Runs without nvcc,
nvdisasm or a GPU (ctest: sass_blocks)."""
import io
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "sass_blocks.py")
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "sass")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import sass_blocks  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import check, finish  # noqa: E402 (this folder)


def run(*args, rc=0):
    r = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)
    check(r.returncode == rc, f"{args}: exit {r.returncode}, want {rc}: {r.stderr}")
    return r.stdout


# The hand-written listing: 3 blocks plus the trailing self-loop, a loop .L_x_0 -> .L_x_0 with one of the two
# spill operations inside it, a predicated MUFU and HMMA counted by opcode.
with open(os.path.join(FIXTURES, "spill_loop.txt")) as f:
    text = f.read()
fns = sass_blocks.functions(text)
check(sorted(fns) == ["_Z5otherv", "_Z7spilledPf"], f"functions: {sorted(fns)}")
bl = sass_blocks.blocks(fns["_Z7spilledPf"])
check([b[0] for b in bl] == ["entry", ".L_x_0", ".L_x_1", ".L_x_2"], f"blocks: {[b[0] for b in bl]}")
check([len(b[1]) for b in bl] == [3, 6, 2, 1], f"block sizes: {[len(b[1]) for b in bl]}")
check(sass_blocks.opcode("@!UP0 MUFU.EX2 R5, R4") == "MUFU.EX2", "predicated opcode")
check(sass_blocks.opcode("BRA `(.L_x_2)") == "BRA", "plain opcode")
out = io.StringIO()
sass_blocks.report("_Z7spilledPf", fns["_Z7spilledPf"], out)
rep = out.getvalue()
check("12 instructions in 4 blocks, 2 spill loads/stores" in rep, rep)
check("loop .L_x_0 .. .L_x_0: 6 instructions in its blocks (all paths), 1 spill loads/stores" in rep, rep)
check("loop .L_x_2 .. .L_x_2: 1 instructions" in rep, rep)
row = next(line for line in rep.splitlines() if ".L_x_0 " in line and "loop" not in line)
check(row.lstrip().startswith("*.L_x_0"), f"loop head not marked: {row!r}")
for want in ("HMMA:1", "MUFU:1", "LDS:1", "LDL:1", "<-.L_x_0"):
    check(want in row, f"{want} missing from {row!r}")
entry = next(line for line in rep.splitlines() if line.strip().startswith("entry"))
check("STL:1" in entry and "->.L_x_1" in entry, f"entry row: {entry!r}")

# The real listing: every instruction line is counted once, in some block; the grid-stride loop's back edge
# is found; no spills.
with open(os.path.join(FIXTURES, "dq_convert_sm90a.txt")) as f:
    real = f.read()
want_total = len(re.findall(r"^\s+/\*[0-9a-f]{4,}\*/\s", real, re.M))
stdout = run("--sass", os.path.join(FIXTURES, "dq_convert_sm90a.txt"), "fa2_dq_convert_kernel")
m = re.search(r"(\d+) instructions in (\d+) blocks, (\d+) spill", stdout)
check(m is not None and int(m.group(1)) == want_total and int(m.group(3)) == 0, stdout[:300])
rows = [line for line in stdout.splitlines() if re.match(r"^ [* ](entry|\.L_x_\d+)\s", line)]
check(sum(int(line.split()[1]) for line in rows) == want_total, "block rows do not add up to the total")
check(re.search(r"loop \.L_x_\d+ \.\. \.L_x_\d+: \d+ instructions", stdout) is not None, "no loop found")
check(any("LDG:2" in line and "STG:1" in line and "<-" in line for line in rows), "the loop's body row")

# --same-as: the kernel renamed (a template argument added) with alignment NOPs more has the same opcode
# counts (exit 0); with an instruction more, the difference is named (exit 3); a name the revision lacks, or
# --same-as without a revision's listing, is an error.
import tempfile  # noqa: E402
old_path = os.path.join(FIXTURES, "spill_loop.txt")
renamed = text.replace("_Z7spilledPf", "_Z7spilledPfl").replace(
    "        /*00b0*/                   BRA `(.L_x_2);",
    "        /*00b0*/                   BRA `(.L_x_2);\n        /*00c0*/                   NOP;")
grown = renamed.replace("        /*0090*/                   STG.E", "        /*008c*/                   FFMA R1, R2, R3, R4 ;\n"
                        "        /*0090*/                   STG.E")
with tempfile.TemporaryDirectory() as d:
    for name, body in (("renamed.txt", renamed), ("grown.txt", grown)):
        with open(os.path.join(d, name), "w") as f:
            f.write(body)
    same = run("--sass", os.path.join(d, "renamed.txt"), "--rev-sass", old_path, "--same-as", "_Z7spilledPf",
               "spilledPfl")
    check("opcode counts equal to _Z7spilledPf (12 instructions)" in same, same)
    diff = run("--sass", os.path.join(d, "grown.txt"), "--rev-sass", old_path, "--same-as", "_Z7spilledPf",
               "spilledPfl", rc=3)
    check("opcode counts differ from _Z7spilledPf (12 -> 13): FFMA 0 -> 1" in diff, diff)
    run("--sass", os.path.join(d, "renamed.txt"), "--rev-sass", old_path, "--same-as", "nothing", "spilledPfl",
        rc=1)
    run("--sass", os.path.join(d, "renamed.txt"), "--same-as", "_Z7spilledPf", "spilledPfl", rc=2)

# A name no kernel has: exit 1 with a message.
run("--sass", os.path.join(FIXTURES, "spill_loop.txt"), "no_such_kernel", rc=1)

finish("test_sass_blocks")
