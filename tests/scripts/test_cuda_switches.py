#!/usr/bin/env python3
"""The README's tables of CUDA environment switches ("Environment switches") against the code, so that
neither drifts from the other (ctest: cuda_switches_documented). Runs without a GPU.

- Every OptInSwitch in cuda/ (`OptInSwitch s("WICK_CUDA_X", /*default_on=*/true)`) has one row in the
  README, "on" or "off" as in the code, and every row names a switch of the code.
- Every backend variable the code reads with getenv (WICK_CUDA_GEMM, ...) is in the backends table.
- Every switch still off by default is in scripts/gpu_check.sh, whose alternates and opt-in table are
  where a lent GPU decides it."""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import check, finish  # noqa: E402 (this folder)


def code_switches():
    """{name: default_on} of every OptInSwitch, and the set of variables read with getenv, in cuda/."""
    switches, getenv = {}, set()
    decl = re.compile(r'OptInSwitch\s+\w+\(\s*"(WICK_[A-Z0-9_]+)"\s*(?:,\s*(?:/\*\s*default_on\s*=\s*\*/)?\s*(true|false))?\s*\)')
    for path in sorted(glob.glob(os.path.join(ROOT, "cuda", "**", "*.*"), recursive=True)):
        if not path.endswith((".cu", ".cpp", ".h", ".cuh")):
            continue
        with open(path) as f:
            text = f.read()
        found = decl.findall(text)
        # (A declaration the pattern does not read, spelled another way, would go unchecked: count them.)
        loose = re.findall(r'OptInSwitch\s+\w+\s*[({]\s*"(WICK_[A-Z0-9_]+)"', text)
        check(len(loose) == len(found), f"{os.path.relpath(path, ROOT)}: OptInSwitch declarations not read: "
              f"{sorted(set(loose) - {n for n, _ in found})}")
        for name, default in found:
            check(name not in switches, f"{name} declared twice (again in {os.path.relpath(path, ROOT)})")
            switches[name] = default == "true"
        getenv.update(re.findall(r'getenv\("(WICK_[A-Z0-9_]+)"\)', text))
    return switches, getenv - set(switches)


def readme_tables():
    """{name: "on" | "off"} of the switch rows and the set of names in the backends table, from the
    README's "### Environment switches" section."""
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    start = text.find("### Environment switches")
    check(start >= 0, "README.md has no '### Environment switches' section")
    end = text.find("\n### ", start + 1)
    section = text[start:end if end > 0 else len(text)]
    rows, backends = {}, set()
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) < 2 or not cells[0].startswith("`WICK_"):
            continue
        name = cells[0].strip("`")
        if cells[1] in ("on", "off"):
            check(name not in rows, f"README: {name} has two rows")
            rows[name] = cells[1]
        else:
            backends.add(name)
            backends.update(re.findall(r"`(WICK_[A-Z0-9_]+)=", cells[1]))
    return rows, backends


switches, getenv = code_switches()
rows, backends = readme_tables()
check(len(switches) >= 40, f"found only {len(switches)} OptInSwitch declarations: the pattern no longer matches the code?")
for name, on in sorted(switches.items()):
    if name not in rows:
        check(False, f"{name} (default {'on' if on else 'off'}) has no row in README.md's switch tables")
    else:
        check(rows[name] == ("on" if on else "off"), f"README.md says {name} is {rows[name]}, the code says {'on' if on else 'off'}")
for name in sorted(set(rows) - set(switches)):
    check(False, f"README.md has a row for {name}, which the code does not declare")
for name in sorted(getenv):
    check(name in backends, f"{name} (read with getenv in cuda/) is not in README.md's backends table")
with open(os.path.join(ROOT, "scripts", "gpu_check.sh")) as f:
    gpu_check = f.read()
for name, on in sorted(switches.items()):
    if not on:
        check(name in gpu_check, f"{name} is off by default but not in scripts/gpu_check.sh (its alternates and opt-in table)")

finish("cuda_switches_documented")
