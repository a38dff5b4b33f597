#!/usr/bin/python3
"""Draws the plots a paper executable declared in its result.json to PNG files.

A paper (papers/<slug>/main.cpp, via papers::Result::plot) writes plot specs
rather than images, so the C++ side stays free of plotting code:
  "plots": [{"file": "acc.png", "title": ..., "xlabel": ..., "ylabel": ...,
             "series": [{"label": ..., "x": [...], "y": [...]}, ...]}, ...]
Each spec becomes one line chart <out>/<file> (out defaults to the directory
of the result.json), one line with markers per series. null values (NaN in
the run, e.g. a diverged loss) leave gaps. Optional keys a spec may carry:
"logx"/"logy" (true: log axis).

Examples:
  tools/plot_result.py runs/quick/lion/result.json
  tools/plot_result.py runs/full/*/result.json
  tools/plot_result.py runs/quick/lion/result.json --out /tmp/plots

Needs matplotlib (Debian: apt-get install python3-matplotlib). Exit status:
0 when every plot was drawn, 1 when a file could not be read or a spec is
malformed (the other plots are still drawn).
"""
import argparse
import json
import math
import os
import sys


def as_float(v):
    """A JSON number, or NaN for null (a gap in the line)."""
    return float("nan") if v is None else float(v)


def draw(spec, out_dir, plt):
    """Draws one plot spec; returns the PNG path."""
    name = spec.get("file")
    if not name or os.path.basename(name) != name or not name.endswith(".png"):
        raise ValueError(f"plot 'file' must be a plain PNG file name, got {name!r}")
    series = spec.get("series", [])
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    drawn = 0
    for s in series:
        x = [as_float(v) for v in s.get("x", [])]
        y = [as_float(v) for v in s.get("y", [])]
        if len(x) != len(y):
            raise ValueError(f"{name}: series {s.get('label')!r} has {len(x)} x but {len(y)} y values")
        if not x:
            continue
        # Markers only when the line is short enough for them to be readable.
        ax.plot(x, y, label=s.get("label", ""), marker="o" if len(x) <= 40 else None, markersize=3, linewidth=1.4)
        drawn += 1
    ax.set_title(spec.get("title", ""))
    ax.set_xlabel(spec.get("xlabel", ""))
    ax.set_ylabel(spec.get("ylabel", ""))
    if spec.get("logx"):
        ax.set_xscale("log")
    if spec.get("logy"):
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    if drawn > 1 or (drawn == 1 and series[0].get("label")):
        ax.legend(fontsize=8)
    if drawn == 0:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    path = os.path.join(out_dir, name)
    fig.savefig(path)
    plt.close(fig)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", nargs="+", help="result.json files")
    ap.add_argument("--out", help="output directory (default: each result.json's directory)")
    ap.add_argument("--quiet", action="store_true", help="do not list the files written")
    args = ap.parse_args(argv)

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot_result.py: matplotlib is missing (apt-get install python3-matplotlib)", file=sys.stderr)
        return 1

    status = 0
    for path in args.results:
        try:
            with open(path, encoding="utf-8") as f:
                result = json.load(f)
        except (OSError, ValueError) as e:
            print(f"plot_result.py: cannot read {path}: {e}", file=sys.stderr)
            status = 1
            continue
        out_dir = args.out or os.path.dirname(os.path.abspath(path))
        os.makedirs(out_dir, exist_ok=True)
        for spec in result.get("plots", []):
            try:
                png = draw(spec, out_dir, plt)
                if not args.quiet:
                    print(png)
            except (ValueError, TypeError) as e:
                print(f"plot_result.py: {path}: {e}", file=sys.stderr)
                status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
