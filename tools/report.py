#!/usr/bin/python3
"""Collects the paper runs into one Markdown report.

For every slug in the build's paper list (build/papers/slugs.txt, one per
line, written by papers/CMakeLists.txt) it reads <runs>/<slug>/result.json
(the contract of papers/common/harness.h) and writes
  <out>/<YYYY-MM-DD>/report.md        the report
  <out>/<YYYY-MM-DD>/<slug>/*.png     each paper's plots, copied next to it
with: the machine, date and mode; a summary table with one row per paper
(claims, baseline, method, measured numbers, verdict); then per paper its
claims (criterion fixed in code before the run, measured value, pass/fail),
arms x metrics (mean ± sample std over seeds) and the plots. A paper whose
executable crashed, or that left no result.json, is listed as FAILED with
the end of its log (<runs>/<slug>/run.log, written by scripts/run_main.sh).
The summary table is printed at the end.

Verdicts per paper: "reproduced" when every claim passes, "partly (k/n)",
"not reproduced (0/n)", "no claims", "FAILED". Quick-mode runs are smoke
tests of the mechanics: the report says so.

Examples:
  tools/report.py --runs runs/quick
  tools/report.py --runs runs/full --slugs build/papers/slugs.txt --out reports
"""
import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import sys


# ---- numbers ------------------------------------------------------------------

def finite(values):
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def mean_std(values):
    """(mean, sample std, n, n_missing) over the finite values; std 0 for n < 2."""
    vals = finite(values)
    missing = len(values) - len(vals)
    if not vals:
        return None, None, 0, missing
    m = sum(vals) / len(vals)
    s = math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
    return m, s, len(vals), missing


def fmt_num(v, ref=None):
    """Two decimals for ordinary magnitudes, four significant digits for small ones."""
    a = abs(ref if ref is not None else v)
    if a != 0 and a < 0.1:
        return f"{v:.4g}"
    if a >= 1e5:
        return f"{v:.4g}"
    return f"{v:.2f}"


def fmt_mean_std(values):
    m, s, n, missing = mean_std(values)
    if n == 0:
        return "n/a" if not values else "nan"
    text = fmt_num(m) if n == 1 else f"{fmt_num(m)} ± {fmt_num(s, ref=m)}"
    if missing:
        text += f" ({missing} nan)"
    return text


def cell(text):
    """A Markdown table cell: pipes escaped, newlines as <br>."""
    return str(text).replace("|", "\\|").replace("\n", "<br>")


# ---- reading runs ---------------------------------------------------------------

def read_slugs(path):
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def read_exit_status(run_dir):
    """What run_main.sh recorded in <run>/exit_status: the exit code (int), the
    string "build" when the executable failed to compile, or None."""
    try:
        with open(os.path.join(run_dir, "exit_status"), encoding="utf-8") as f:
            word = f.read().split()[0]
    except (OSError, IndexError):
        return None
    if word == "build":
        return "build"
    try:
        return int(word)
    except ValueError:
        return None


def tail(path, n=25):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().replace("\r", "\n").splitlines()
    except OSError:
        return None
    lines = [l for l in lines if l.strip()]
    return "\n".join(lines[-n:])


def load_run(runs_dir, slug):
    run_dir = os.path.join(runs_dir, slug)
    run = {"slug": slug, "dir": run_dir, "result": None, "error": None, "exit": read_exit_status(run_dir)}
    path = os.path.join(run_dir, "result.json")
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as f:
                run["result"] = json.load(f)
        except (OSError, ValueError) as e:
            run["error"] = f"result.json unreadable: {e}"
    else:
        run["error"] = "no result.json"
    if run["exit"] == "build":
        run["error"] = "did not build (see run.log)"
        run["result"] = None
    elif run["exit"] not in (None, 0):
        code = run["exit"]
        why = f"killed by signal {code - 128}" if code > 128 else f"exit status {code}"
        run["error"] = f"crashed ({why})" + (f"; {run['error']}" if run["error"] else "")
    return run


# ---- summarizing one paper ----------------------------------------------------------

def verdict(run):
    if run["error"] or run["result"] is None:
        return "FAILED"
    claims = run["result"].get("claims", [])
    if not claims:
        return "no claims"
    passed = sum(1 for c in claims if c.get("verdict") == "pass")
    if passed == len(claims):
        return f"reproduced ({passed}/{len(claims)})"
    if passed == 0:
        return f"not reproduced (0/{len(claims)})"
    return f"partly ({passed}/{len(claims)})"


def headline(result):
    """(baseline arm, method arm, metric) for the summary row."""
    metrics = result.get("metrics", {})
    h = result.get("headline")
    if isinstance(h, dict) and h.get("baseline") in metrics and h.get("method") in metrics:
        return h["baseline"], h["method"], h.get("metric"), True
    arms = list(metrics)
    metric = next(iter(metrics[arms[0]]), None) if arms else None
    return (arms[0] if arms else None), (arms[1] if len(arms) > 1 else None), metric, False


def arm_cell(result, arm, metric):
    if arm is None:
        return "-"
    values = result.get("metrics", {}).get(arm, {}).get(metric)
    if values is None:
        return cell(arm)
    return cell(f"{arm}: {metric} {fmt_mean_std(values)}")


def summary_row(run):
    slug = run["slug"]
    if run["result"] is None or run["error"]:
        return {"paper": slug, "claims": "-", "baseline": "-", "method": "-", "measured": run["error"] or "-",
                "verdict": verdict(run), "wall": "-"}
    r = run["result"]
    claims = r.get("claims", [])
    base, meth, metric, named = headline(r)
    mark = "" if named else " *"  # the paper named no headline: first two arms shown
    return {
        "paper": slug,
        "claims": "\n".join(c.get("statement", "") for c in claims) or "-",
        "baseline": arm_cell(r, base, metric) + (mark if base else ""),
        "method": arm_cell(r, meth, metric) + (mark if meth else ""),
        "measured": "\n".join(c.get("measured", "") for c in claims) or "-",
        "verdict": verdict(run),
        "wall": f"{r.get('wall_seconds', 0):.0f} s",
    }


# ---- writing ------------------------------------------------------------------

def machine_lines(runs):
    """One line per distinct machine description among the results."""
    seen = []
    for run in runs:
        m = (run["result"] or {}).get("machine")
        if m and m not in seen:
            seen.append(m)
    if not seen:  # nothing ran: describe this machine
        cpu = "unknown"
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as f:
                for line in f:
                    if line.startswith("model name"):
                        cpu = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        seen.append({"cpu": cpu, "cores": os.cpu_count(), "os": platform.platform()})
    out = []
    for m in seen:
        parts = [f"CPU {m.get('cpu', '?')}", f"{m.get('cores', '?')} cores"]
        if "threads" in m:
            parts.append(f"{m['threads']} threads used")
        parts.append(f"OS {m.get('os', '?')}")
        if "compiler" in m:
            parts.append(f"compiler {m['compiler']}")
        if m.get("cuda_build"):
            parts.append("CUDA build")
        out.append(", ".join(str(p) for p in parts))
    return out


def paper_section(run, report_dir):
    slug, r = run["slug"], run["result"]
    lines = []
    title = (r or {}).get("title", "")
    lines.append(f"## {slug}" + (f" — {title}" if title else ""))
    lines.append("")
    if run["error"] or r is None:
        lines.append(f"**FAILED**: {run['error']}. Run directory: `{run['dir']}`.")
        log = tail(os.path.join(run["dir"], "run.log"))
        if log:
            lines += ["", "End of `run.log`:", "", "```", log, "```"]
        lines.append("")
        return lines
    seeds = r.get("seeds", "?")
    lines.append(f"Verdict: **{verdict(run)}**. Mode {r.get('mode', '?')}, {seeds} seed(s), device "
                 f"{r.get('device', '?')}, {r.get('wall_seconds', 0):.1f} s wall, run {r.get('date', '?')}, "
                 f"output `{run['dir']}`.")
    lines.append("")
    config = r.get("config", {})
    if config:
        shown = {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in config.items()}
        lines.append("Configuration: " + ", ".join(f"`{k}={v}`" for k, v in shown.items()) + ".")
        lines.append("")
    claims = r.get("claims", [])
    if claims:
        lines += ["| claim | criterion (fixed before the run) | measured | verdict |", "|---|---|---|---|"]
        for c in claims:
            v = c.get("verdict", "?")
            lines.append(f"| {cell(c.get('statement', ''))} | {cell(c.get('criterion', ''))} | "
                         f"{cell(c.get('measured', ''))} | {'PASS' if v == 'pass' else 'FAIL' if v == 'fail' else cell(v)} |")
        lines.append("")
    metrics = r.get("metrics", {})
    names = []
    for arm in metrics.values():
        for name in arm:
            if name not in names:
                names.append(name)
    if metrics:
        lines.append(f"Metrics (mean ± sample std over seeds):")
        lines.append("")
        lines.append("| arm | " + " | ".join(cell(n) for n in names) + " |")
        lines.append("|---|" + "---|" * len(names))
        for arm, vals in metrics.items():
            row = [fmt_mean_std(vals[n]) if n in vals else "-" for n in names]
            lines.append(f"| {cell(arm)} | " + " | ".join(cell(x) for x in row) + " |")
        lines.append("")
    for plot in r.get("plots", []):
        name = plot.get("file", "")
        src = os.path.join(run["dir"], name)
        if name and os.path.basename(name) == name and os.path.exists(src):
            os.makedirs(os.path.join(report_dir, slug), exist_ok=True)
            shutil.copy2(src, os.path.join(report_dir, slug, name))
            lines.append(f"![{plot.get('title', name)}]({slug}/{name})")
        else:
            lines.append(f"*(plot `{name}` was not drawn: run tools/plot_result.py; needs python3-matplotlib)*")
        lines.append("")
    return lines


def text_table(rows, columns):
    """A plain-text table (the summary printed at the end)."""
    def flat(v):
        return str(v).replace("\n", "; ")
    widths = {c: max([len(c)] + [len(flat(r[c])) for r in rows]) for c in columns}
    out = ["  ".join(c.ljust(widths[c]) for c in columns), "  ".join("-" * widths[c] for c in columns)]
    for r in rows:
        out.append("  ".join(flat(r[c]).ljust(widths[c]) for c in columns))
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", default="runs/quick", help="directory holding <slug>/result.json (default runs/quick)")
    ap.add_argument("--slugs", default="build/papers/slugs.txt", help="the paper list (one slug per line)")
    ap.add_argument("--out", default="reports", help="reports root; the report goes to <out>/<YYYY-MM-DD>/")
    ap.add_argument("--date", help="report date YYYY-MM-DD (default: today, UTC)")
    ap.add_argument("--command", default="", help="the command that produced the runs (shown in the report)")
    args = ap.parse_args(argv)

    try:
        slugs = read_slugs(args.slugs)
    except OSError as e:
        print(f"report.py: cannot read the paper list {args.slugs}: {e} (configure the build first)", file=sys.stderr)
        return 1
    date = args.date or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        print(f"report.py: --date must be YYYY-MM-DD, got {date!r}", file=sys.stderr)
        return 1
    report_dir = os.path.join(args.out, date)
    os.makedirs(report_dir, exist_ok=True)

    runs = [load_run(args.runs, s) for s in slugs]
    modes = sorted({r["result"].get("mode", "?") for r in runs if r["result"]})
    mode = "/".join(modes) if modes else os.path.basename(os.path.normpath(args.runs))
    rows = [summary_row(r) for r in runs]
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    md = [f"# wick paper reproductions — {date}", ""]
    md.append(f"Generated {now} from `{args.runs}` ({len(slugs)} paper(s) listed in `{args.slugs}`).")
    if args.command:
        md.append(f"Command: `{args.command}`.")
    md.append("")
    md.append(f"Mode: **{mode}**.")
    if "quick" in modes:
        md.append("Quick mode runs each paper in miniature (seconds) to test the mechanics end to end; its numbers "
                  "are not results. Use `scripts/run_main.sh --full` for the measured report.")
    md.append("")
    md.append("Machine:")
    md.append("")
    md += [f"- {line}" for line in machine_lines(runs)]
    md.append("")
    counts = {}
    for r in runs:
        v = verdict(r).split(" ")[0]
        counts[v] = counts.get(v, 0) + 1
    md.append("Verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ".")
    md.append("")
    md.append("## Summary")
    md.append("")
    md.append("| paper | claim(s) | baseline | method | measured | verdict | wall |")
    md.append("|---|---|---|---|---|---|---|")
    for row in rows:
        md.append("| " + " | ".join(cell(row[c]) for c in
                                   ("paper", "claims", "baseline", "method", "measured", "verdict", "wall")) + " |")
    md.append("")
    md.append("Baseline and method: the arms and metric the paper named as its headline (`Result::headline`), "
              "mean ± sample std over seeds; * marks a paper that named none (its first two arms and first metric "
              "are shown).")
    md.append("")
    for run in runs:
        md += paper_section(run, report_dir)

    path = os.path.join(report_dir, "report.md")
    tmp = path + f".tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(md) + "\n")
    os.replace(tmp, path)

    print(f"\n== paper report ({mode} mode): {path}\n")
    print(text_table(rows, ["paper", "verdict", "baseline", "method", "wall"]))
    if not slugs:
        print("(no papers in the list)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
