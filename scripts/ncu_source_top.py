#!/usr/bin/env python3
"""Where a kernel's warps wait, per SASS instruction, from Nsight Compute's source page as CSV
(ncu --import REPORT --page source --csv --print-source sass, of a report with the SourceCounters section).

Usage: ncu_source_top.py FILE.csv [FILE.csv ...] [--top N]

For each table in each file (one per profiled launch): the total warp stall samples, the instructions
with the most samples (share of the total, address, SASS), the samples summed by opcode, and where the
table has per-reason columns, the reasons' totals. scripts/gpu_check.sh's ncu-source section prints it;
the CSVs come back in detail.tgz for the sessions without a GPU. A file with no table it recognizes gets
its first lines printed instead, so a change of ncu's format shows.
"""
import csv
import re
import sys


def is_header(row):
    names = [c.strip().lower() for c in row]
    return "source" in names and any("address" in n or "sampl" in n for n in names)


def number(s):
    s = s.strip().replace(",", "")
    try:
        return float(s)
    except ValueError:
        return None


def tables(lines):
    """[(label, header, rows)] from a CSV text: a header row starts a table; a one-cell or non-numeric row
    before it (a kernel's name, if ncu prints one) labels it."""
    out, label, cur = [], None, None
    for row in csv.reader(lines):
        if not row or all(not c.strip() for c in row):
            continue
        if is_header(row):
            cur = (label or f"table {len(out) + 1}", [c.strip() for c in row], [])
            out.append(cur)
            label = None
        elif cur is not None and len(row) == len(cur[1]):
            cur[2].append(row)
        else:
            label = " ".join(c.strip() for c in row if c.strip())[:120]
            cur = None
    return out


def sample_column(header):
    low = [h.lower() for h in header]
    for want in ("warp stall sampling (all samples)", "warp stall sampling (all", "sampling (all", "samples"):
        for i, h in enumerate(low):
            if want in h and "not-issued" not in h and "not issued" not in h:
                return i
    return None


def opcode(sass):
    toks = sass.split()
    while toks and toks[0].startswith("@"):
        toks = toks[1:]
    return toks[0].split(".")[0] if toks else "?"


def report(label, header, rows, top):
    si, src = sample_column(header), [h.lower() for h in header].index("source")
    addr = next((i for i, h in enumerate(header) if "address" in h.lower()), None)
    print(f"== {label}: {len(rows)} instructions")
    if si is None:
        print("   (no warp stall sampling column: columns " + ", ".join(header[:12]) + ")")
        return
    samples = [(number(r[si]) or 0.0, r) for r in rows]
    total = sum(s for s, _ in samples)
    print(f"   {header[si]}: {total:.0f} in all")
    if total <= 0:
        return
    for s, r in sorted(samples, key=lambda x: -x[0])[:top]:
        where = r[addr].strip() if addr is not None else ""
        print(f"   {s:9.0f} {100 * s / total:5.1f}%  {where:>10s}  {r[src].strip()[:70]}")
    by_op = {}
    for s, r in samples:
        by_op[opcode(r[src])] = by_op.get(opcode(r[src]), 0.0) + s
    print("   by opcode: " + ", ".join(f"{k} {100 * v / total:.1f}%" for k, v in
                                      sorted(by_op.items(), key=lambda x: -x[1])[:10]))
    # Per-reason columns (ncu names them after the stall reasons), where the table has them.
    reasons = []
    for i, h in enumerate(header):
        if i in (si, src, addr) or not re.search(r"stall|long_sb|short_sb|barrier|wait|mio|lg_throttle", h, re.I):
            continue
        if "sampling" in h.lower():
            continue
        v = sum(number(r[i]) or 0.0 for r in rows)
        if v > 0:
            reasons.append((v, h))
    if reasons:
        print("   by reason: " + ", ".join(f"{h} {v:.0f}" for v, h in sorted(reasons, reverse=True)[:10]))


def main(argv):
    args = argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if args else 2
    top = 20
    if "--top" in args:
        i = args.index("--top")
        top = int(args[i + 1])
        del args[i:i + 2]
    for f in args:
        with open(f, errors="replace") as fh:
            text = fh.read().splitlines()
        found = tables(text)
        print(f"# {f}")
        if not found:
            print("   (no source table recognized; its first lines:)")
            for line in text[:5]:
                print("   " + line[:160])
            continue
        for label, header, rows in found:
            report(label, header, rows, top)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
