#!/usr/bin/python3
"""Plots metrics logged as JSON lines (wick::data::MetricsLogger) into PNGs.

Each input line is an object such as
  {"step": 120, "split": "train", "loss": 0.41, "lr": 0.00095}
Every selected metric gets one PNG (<out>/<prefix><metric>.png) with one line
per (file, split): train and val curves of one run, or the same curve of
several runs. Lines that do not parse (a run killed mid-write) are skipped
with a warning; null values (NaN or infinity when logged) leave gaps.

Examples:
  tools/plot_metrics.py runs/a/metrics.jsonl --out runs/a/plots
  tools/plot_metrics.py runs/*/metrics.jsonl --metrics loss acc --split val --logy loss
  tools/plot_metrics.py metrics.jsonl --x epoch --smooth 0.9

Needs matplotlib (Debian: apt-get install python3-matplotlib).
"""
import argparse
import json
import math
import os
import sys
from collections import OrderedDict


def read_jsonl(path):
    """The records of one file, skipping (and counting) lines that do not parse."""
    records, bad = [], 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if isinstance(rec, dict):
                records.append(rec)
            else:
                bad += 1
    if bad:
        print(f"plot_metrics: {path}: skipped {bad} line(s) that are not JSON objects", file=sys.stderr)
    return records


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def smooth(values, factor):
    """Exponential moving average with bias correction (TensorBoard's smoothing); NaN gaps are kept."""
    if factor <= 0:
        return values
    out, avg, weight = [], 0.0, 0.0
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(float("nan"))
            continue
        avg = factor * avg + (1 - factor) * v
        weight = factor * weight + (1 - factor)
        out.append(avg / weight)
    return out


def collect(files, x_key, splits):
    """{metric: {label: (xs, ys)}} over all files, in order of first appearance."""
    series = OrderedDict()
    many = len(files) > 1
    for path in files:
        for rec in read_jsonl(path):
            if x_key not in rec or not is_number(rec[x_key]):
                continue
            split = rec.get("split", "")
            if splits and split not in splits:
                continue
            label = (f"{path}:{split}" if split else path) if many else (split or os.path.basename(path))
            for key, value in rec.items():
                if key in (x_key, "split", "step") or not (is_number(value) or value is None):
                    continue
                xs, ys = series.setdefault(key, OrderedDict()).setdefault(label, ([], []))
                xs.append(rec[x_key])
                ys.append(float("nan") if value is None else float(value))
    return series


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="plot_metrics.py",
        description="Plot metrics from JSON-lines files (one object per line with 'step', 'split' and values) "
        "into PNG curves, one PNG per metric and one line per file and split.",
    )
    ap.add_argument("files", nargs="+", help="metrics files (JSON lines)")
    ap.add_argument("--metrics", nargs="+", metavar="NAME", help="metrics to plot (default: every numeric one)")
    ap.add_argument("--split", nargs="+", metavar="SPLIT", help="only these splits (e.g. train val)")
    ap.add_argument("--x", default="step", help="the x-axis key (default: step)")
    ap.add_argument("--out", default=".", help="output directory (default: .)")
    ap.add_argument("--prefix", default="", help="prefix of the PNG file names")
    ap.add_argument("--logy", nargs="*", metavar="NAME", default=None,
                    help="log-scale y for these metrics (no names: all)")
    ap.add_argument("--smooth", type=float, default=0.0, metavar="F",
                    help="exponential smoothing factor in [0, 1) (default 0: none)")
    ap.add_argument("--title", default=None, help="title prefix of each plot")
    ap.add_argument("--dpi", type=int, default=120)
    args = ap.parse_args(argv)
    if not 0 <= args.smooth < 1:
        ap.error("--smooth must be in [0, 1)")

    for path in args.files:
        if not os.path.isfile(path):
            print(f"plot_metrics: no such file: {path}", file=sys.stderr)
            return 2
    series = collect(args.files, args.x, set(args.split or []))
    names = args.metrics or list(series)
    missing = [m for m in names if m not in series]
    if missing:
        print(f"plot_metrics: no numeric values for {', '.join(missing)} "
              f"(found: {', '.join(series) or 'none'})", file=sys.stderr)
        return 2
    if not names:
        print("plot_metrics: nothing to plot", file=sys.stderr)
        return 2
    try:
        from matplotlib.figure import Figure  # no pyplot: no global figure state, no GUI backend
    except ImportError:
        print("plot_metrics: matplotlib is missing (Debian: apt-get install python3-matplotlib)", file=sys.stderr)
        return 2

    os.makedirs(args.out, exist_ok=True)
    for metric in names:
        fig = Figure(figsize=(6.4, 4.0))
        ax = fig.add_subplot()
        for label, (xs, ys) in series[metric].items():
            # Sparse series (evaluations every few epochs) get markers so single points show.
            ax.plot(xs, smooth(ys, args.smooth), label=label, linewidth=1.4,
                    marker="o" if len(xs) <= 50 else None, markersize=3)
        ax.set_xlabel(args.x)
        ax.set_ylabel(metric)
        if args.logy is not None and (not args.logy or metric in args.logy):
            ax.set_yscale("log")
        ax.set_title(f"{args.title}: {metric}" if args.title else metric)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
        fig.tight_layout()
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in metric)
        out = os.path.join(args.out, f"{args.prefix}{safe}.png")
        fig.savefig(out, dpi=args.dpi)
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
