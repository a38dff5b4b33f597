#!/usr/bin/env python3
"""Machine instructions (SASS) per basic block of CUDA kernels, without a GPU.

Compiles a .cu file to a cubin (the flags of scripts/ptx_same.py), disassembles
it with nvdisasm and prints, for each kernel whose mangled name contains
KERNEL, its basic blocks in order: the instruction count, the notable
instructions (tensor-core MMAs, MUFU, async copies, barriers, shared and
global memory, atomics, spill traffic) and the branch targets, with loops
marked by their back edges. Summing the blocks of a loop's common path gives
the instructions per iteration, the figure behind an issue-bound kernel's
time; spill loads and stores are reported per loop.

  python3 scripts/sass_blocks.py cuda/kernels/attention_fa2.cu \\
      wgmma_forward_kernelI13__nv_bfloat16Lb0 [--arch sm_90a] [--rev REV]
  python3 scripts/sass_blocks.py --sass dump.txt KERNEL   (an nvdisasm -c output)

--rev REV: the same from git revision REV first, for a before/after.
--same-as OLD (with --rev, or --rev-sass for a listing): compares each
kernel's opcode counts (NOPs aside) with those of REV's one kernel whose name
contains OLD, for a change meant to leave a kernel's code alone while its
name changes (a template argument added); exits 3 where any differs. nvdisasm
is not part of Debian's nvcc packages: `pip install --target /tmp/nvd
nvidia-cuda-nvdisasm` provides one (found there, on PATH or by --nvdisasm).
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ptx_same  # noqa: E402  (nvcc's flags and a revision's tree, shared)

NOTABLE = ("HGMMA", "HMMA", "MUFU", "LDGSTS", "LDGDEPBAR", "BAR", "WARPGROUP", "LDS", "STS", "LDSM", "LDG", "STG",
           "RED", "REDG", "ATOM", "ATOMG", "SHFL", "F2FP", "STL", "LDL", "UTMALDG", "UTMASTG", "SYNCS")
INSTR = re.compile(r"^\s+/\*[0-9a-f]{4,}\*/\s+(.*?)\s*;")
LABEL = re.compile(r"^(\.L_x_\d+):")
TARGET = re.compile(r"`\((\.L_x_\d+)\)")


def opcode(text):
    """The opcode of one instruction's text, its predicate (@P0, @!UP1) dropped."""
    words = text.split()
    if words and words[0].startswith("@"):
        words = words[1:]
    return words[0] if words else ""


def functions(sass):
    """{mangled name: [lines]} of every function (.text.NAME: section) in an nvdisasm -c listing."""
    out, name = {}, None
    for line in sass.splitlines():
        m = re.match(r"^\s*\.text\.(\S+):", line)
        if m:
            name = m.group(1)
            out[name] = []
        elif name is not None:
            out[name].append(line)
    return out


def blocks(lines):
    """[(label, [instruction texts])] in address order; the code before the first label is 'entry'."""
    out = [["entry", []]]
    for line in lines:
        m = LABEL.match(line)
        if m:
            out.append([m.group(1), []])
            continue
        m = INSTR.match(line)
        if m:
            out[-1][1].append(m.group(1))
    return [(name, ins) for name, ins in out if ins or name != "entry"]


def report(name, lines, out):
    bl = blocks(lines)
    index = {label: i for i, (label, _) in enumerate(bl)}
    loops = []  # (head index, tail index): a branch back to an earlier or the same block
    for i, (_, ins) in enumerate(bl):
        for text in ins:
            for t in TARGET.findall(text):
                if t in index and index[t] <= i:
                    loops.append((index[t], i))
    total = sum(len(ins) for _, ins in bl)
    spills = sum(1 for _, ins in bl for t in ins if opcode(t).split(".")[0] in ("STL", "LDL"))
    out.write(f"{name}\n  {total} instructions in {len(bl)} blocks, {spills} spill loads/stores\n")
    for head, tail in sorted(loops):
        n = sum(len(bl[k][1]) for k in range(head, tail + 1))
        s = sum(1 for k in range(head, tail + 1) for t in bl[k][1] if opcode(t).split(".")[0] in ("STL", "LDL"))
        out.write(f"  loop {bl[head][0]} .. {bl[tail][0]}: {n} instructions in its blocks (all paths), "
                  f"{s} spill loads/stores\n")
    heads = {h for h, _ in loops}
    for i, (label, ins) in enumerate(bl):
        ops = Counter(opcode(t).split(".")[0] for t in ins)
        notable = " ".join(f"{k}:{ops[k]}" for k in NOTABLE if ops[k])
        targets = sorted({t for text in ins for t in TARGET.findall(text)}, key=lambda t: index.get(t, -1))
        arrows = " ".join(("<-" if index.get(t, 1 << 30) <= i else "->") + t for t in targets)
        mark = "*" if i in heads else " "
        out.write(f" {mark}{label:<12}{len(ins):6d}  {notable}{'  ' + arrows if arrows else ''}\n")


def opcode_counts(lines):
    """{opcode with its modifiers: count} of a function's instructions, NOPs (alignment padding) left out."""
    c = Counter(opcode(m.group(1)) for m in map(INSTR.match, lines) if m)
    c.pop("NOP", None)
    return c


def compare_opcodes(new_name, new_lines, old_name, old_lines, out):
    """Writes whether new's opcode counts equal old's (and the differences); returns whether they do."""
    a, b = opcode_counts(old_lines), opcode_counts(new_lines)
    diff = {k: (a[k], b[k]) for k in sorted(set(a) | set(b)) if a[k] != b[k]}
    if not diff:
        out.write(f"  opcode counts equal to {old_name} ({sum(b.values())} instructions)\n")
        return True
    out.write(f"  opcode counts differ from {old_name} ({sum(a.values())} -> {sum(b.values())}): "
              + ", ".join(f"{k} {x} -> {y}" for k, (x, y) in diff.items()) + "\n")
    return False


def find_nvdisasm(given):
    for cand in [given, shutil.which("nvdisasm"), "/tmp/nvd/nvidia/cu13/bin/nvdisasm",
                 "/usr/local/cuda/bin/nvdisasm"]:
        if cand and os.path.exists(cand):
            return cand
    sys.exit("sass_blocks: no nvdisasm (pip install --target /tmp/nvd nvidia-cuda-nvdisasm, or --nvdisasm PATH)")


def disassemble(nvcc, nvdisasm, root, cu, arch):
    with tempfile.TemporaryDirectory() as tmp:
        cubin = os.path.join(tmp, "k.cubin")
        ptx_same.compile_cu(nvcc, root, cu, arch, "cubin", cubin, tool="sass_blocks")
        r = subprocess.run([nvdisasm, "-c", cubin], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"sass_blocks: nvdisasm failed:\n{r.stderr[-2000:]}")
        return r.stdout


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", nargs="?", help=".cu file relative to the repository root (not with --sass)")
    ap.add_argument("kernel", help="a substring of the kernels' mangled names")
    ap.add_argument("--sass", help="an nvdisasm -c listing to read instead of compiling")
    ap.add_argument("--arch", default="sm_90a")
    ap.add_argument("--rev", help="also report the kernels as of this git revision, first")
    ap.add_argument("--same-as", metavar="OLD", help="with --rev or --rev-sass: compare each kernel's opcode counts "
                    "with REV's one kernel whose name contains OLD")
    ap.add_argument("--rev-sass", help="an nvdisasm -c listing standing for --rev's (with --sass)")
    ap.add_argument("--nvcc", default="/usr/local/cuda/bin/nvcc")
    ap.add_argument("--nvdisasm")
    a = ap.parse_args(argv)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # piped into head: stop quietly
    listings = []
    if a.same_as is not None and not (a.rev or a.rev_sass):
        ap.error("--same-as compares with --rev's kernels (or --rev-sass's)")
    if a.rev_sass and not a.sass:
        ap.error("--rev-sass goes with --sass")
    if a.sass:
        if a.rev_sass:
            with open(a.rev_sass) as f:
                listings.append(("[rev] ", f.read()))
        with open(a.sass) as f:
            listings.append(("[tree] " if a.rev_sass else "", f.read()))
    else:
        if not a.source:
            ap.error("give a .cu file or --sass")
        nvdisasm = find_nvdisasm(a.nvdisasm)
        root = ptx_same.repo_root()
        if a.rev:
            with tempfile.TemporaryDirectory() as old_root:
                ptx_same.extract_rev(root, a.rev, old_root)
                listings.append((f"[{a.rev}] ", disassemble(a.nvcc, nvdisasm, old_root, a.source, a.arch)))
        listings.append(("[tree] " if a.rev else "", disassemble(a.nvcc, nvdisasm, root, a.source, a.arch)))
    old = None  # (name, lines) of --same-as's kernel in the revision's listing
    if a.same_as is not None:
        matches = [(n, ls) for n, ls in functions(listings[0][1]).items() if a.same_as in n]
        if len(matches) != 1:
            sys.exit(f"sass_blocks: --same-as {a.same_as!r} names {len(matches)} kernels of the revision, not one")
        old = matches[0]
    found, same = 0, True
    for i, (tag, sass) in enumerate(listings):
        for name, lines in functions(sass).items():
            if a.kernel in name:
                found += 1
                sys.stdout.write(tag)
                report(name, lines, sys.stdout)
                if old is not None and i == len(listings) - 1:
                    same = compare_opcodes(name, lines, old[0], old[1], sys.stdout) and same
    if not found:
        sys.exit(f"sass_blocks: no kernel name contains {a.kernel!r}")
    return 0 if same else 3


if __name__ == "__main__":
    sys.exit(main())
