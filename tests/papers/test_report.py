#!/usr/bin/python3
"""Tests the report pipeline: tools/plot_result.py and tools/report.py.

Builds a fake runs directory with four papers:
  demo     a result.json written by the real C++ harness (the PapersResult
           test of test_papers_common, run with WICK_TEST_RESULT_OUT), when
           --harness names that binary; otherwise a hand-written one
  good     every claim passes, two plots
  mixed    one claim passes, one fails, a NaN metric
  crashed  the executable died (exit_status 134, run.log, no result.json)
  missing  listed in slugs.txt but never run
then runs the two scripts and checks report.md (summary rows, verdicts,
tables, plot links), the copied PNGs and the printed summary.

Run by ctest (papers_report_pipeline) only when /usr/bin/python3 has
matplotlib; by hand:
  /usr/bin/python3 tests/papers/test_report.py --harness build/tests/test_papers_common
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLOT = os.path.join(ROOT, "tools", "plot_result.py")
REPORT = os.path.join(ROOT, "tools", "report.py")
HARNESS = None  # set from --harness


def result(slug, claims, metrics, plots=(), headline=None):
    r = {"paper": slug, "title": f"the {slug} paper", "mode": "quick", "device": "cpu", "seeds": 2,
         "date": "2026-01-01T00:00:00Z",
         "machine": {"cpu": "Test CPU", "cores": 2, "threads": 2, "os": "Debian GNU/Linux 12 (bookworm)"},
         "wall_seconds": 1.5, "config": {"epochs": 1}, "metrics": metrics,
         "claims": [{"statement": s, "criterion": c, "measured": m, "verdict": v} for s, c, m, v in claims],
         "plots": list(plots)}
    if headline:
        r["headline"] = headline
    return r


class ReportPipeline(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="wick_test_report_")
        t = cls.tmp.name
        cls.runs = os.path.join(t, "runs", "quick")
        cls.out = os.path.join(t, "reports")
        slugs = ["demo", "good", "mixed", "crashed", "missing"]
        cls.slugs = os.path.join(t, "slugs.txt")
        with open(cls.slugs, "w") as f:
            f.write("\n".join(slugs) + "\n")
        for s in slugs[:4]:
            os.makedirs(os.path.join(cls.runs, s))

        def write(slug, r):
            with open(os.path.join(cls.runs, slug, "result.json"), "w") as f:
                json.dump(r, f)
            with open(os.path.join(cls.runs, slug, "exit_status"), "w") as f:
                f.write("0\n")

        cls.from_harness = False
        if HARNESS:
            env = dict(os.environ, WICK_TEST_RESULT_OUT=os.path.join(cls.runs, "demo"))
            p = subprocess.run([HARNESS, "--gtest_filter=PapersResult.WritesResultJson"], env=env,
                               capture_output=True, text=True)
            assert p.returncode == 0, p.stdout + p.stderr
            with open(os.path.join(cls.runs, "demo", "exit_status"), "w") as f:
                f.write("0\n")
            cls.from_harness = True
        else:
            write("demo", result("demo", [("method beats baseline", "mean diff > 1pt", "+5.00 ± 0.00", "pass"),
                                          ("a claim that fails", "never", "0", "fail")],
                                 {"baseline": {"test_acc": [80, 81]}, "method": {"test_acc": [85, 86]}},
                                 [{"file": "acc.png", "title": "accuracy", "xlabel": "seed", "ylabel": "%",
                                   "series": [{"label": "method", "x": [0, 1], "y": [85, 86]}]}],
                                 {"baseline": "baseline", "method": "method", "metric": "test_acc"}))
        write("good", result(
            "good", [("Lion matches AdamW", "lion >= adamw - 0.5", "91.20 vs 90.80", "pass")],
            {"adamw": {"test_acc": [90.5, 91.1], "loss": [0.31, 0.29]},
             "lion": {"test_acc": [91.0, 91.4], "loss": [0.30, 0.28]}},
            [{"file": "curves.png", "title": "test accuracy", "xlabel": "epoch", "ylabel": "%",
              "series": [{"label": "adamw", "x": [1, 2, 3], "y": [80, 88, 90.5]},
                         {"label": "lion", "x": [1, 2, 3], "y": [81, None, 91]}]},
             {"file": "loss.png", "title": "loss", "xlabel": "step", "ylabel": "loss", "logy": True,
              "series": [{"label": "lion", "x": [1, 2], "y": [1.0, 0.5]}]}],
            {"baseline": "adamw", "method": "lion", "metric": "test_acc"}))
        write("mixed", result(
            "mixed", [("soup beats best ingredient", "soup > best + 0.1", "+0.30", "pass"),
                      ("greedy soup beats uniform", "greedy > uniform", "-0.20", "fail")],
            {"best": {"acc": [85.0, 84.0]}, "soup": {"acc": [85.3, None]}}))
        with open(os.path.join(cls.runs, "crashed", "run.log"), "w") as f:
            f.write("== paper_crashed\nepoch 1 [####......] 40%\rterminate called after throwing 'wick::Error'\n"
                    "  what():  matmul: inner dimensions differ\n")
        with open(os.path.join(cls.runs, "crashed", "exit_status"), "w") as f:
            f.write("134\n")

        p = subprocess.run([sys.executable, PLOT] + [os.path.join(cls.runs, s, "result.json") for s in slugs[:3]],
                           capture_output=True, text=True)
        cls.plot_rc, cls.plot_out = p.returncode, p.stdout + p.stderr
        p = subprocess.run([sys.executable, REPORT, "--runs", cls.runs, "--slugs", cls.slugs, "--out", cls.out,
                            "--date", "2026-01-02", "--command", "scripts/run_main.sh"], capture_output=True, text=True)
        cls.report_rc, cls.report_out = p.returncode, p.stdout + p.stderr
        cls.report_dir = os.path.join(cls.out, "2026-01-02")
        with open(os.path.join(cls.report_dir, "report.md"), encoding="utf-8") as f:
            cls.md = f.read()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_plots_drawn(self):
        self.assertEqual(self.plot_rc, 0, self.plot_out)
        for slug, png in [("demo", "acc.png"), ("good", "curves.png"), ("good", "loss.png")]:
            path = os.path.join(self.runs, slug, png)
            self.assertTrue(os.path.exists(path), path)
            with open(path, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")

    def test_bad_plot_spec_fails(self):
        bad = os.path.join(self.tmp.name, "bad.json")
        with open(bad, "w") as f:
            json.dump({"plots": [{"file": "../x.png", "series": []}]}, f)
        p = subprocess.run([sys.executable, PLOT, bad], capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)
        self.assertIn("plain PNG file name", p.stderr)

    def test_report_summary(self):
        self.assertEqual(self.report_rc, 0, self.report_out)
        self.assertIn("Mode: **quick**", self.md)
        self.assertIn("not results", self.md)  # quick mode is labelled a smoke test
        self.assertIn("Test CPU", self.md)
        rows = [l for l in self.md.splitlines() if l.startswith("| ") and "|---" not in l]
        summary = {l.split("|")[1].strip(): l for l in rows if l.split("|")[1].strip() in
                   ("demo", "good", "mixed", "crashed", "missing")}
        self.assertEqual(set(summary), {"demo", "good", "mixed", "crashed", "missing"})
        self.assertIn("reproduced (1/1)", summary["good"])
        self.assertIn("adamw: test_acc 90.80 ± 0.42", summary["good"])
        self.assertIn("lion: test_acc 91.20 ± 0.28", summary["good"])
        self.assertIn("partly (1/2)", summary["mixed"])
        self.assertIn("partly (1/2)", summary["demo"])
        self.assertIn("method: test_acc 85.50 ± 0.71", summary["demo"])
        self.assertIn("FAILED", summary["crashed"])
        self.assertIn("signal 6", summary["crashed"])
        self.assertIn("best: acc 84.50 ± 0.71 *", summary["mixed"])  # no headline named: marked
        self.assertIn("FAILED", summary["missing"])
        self.assertIn("no result.json", summary["missing"])

    def test_report_sections(self):
        self.assertIn("## good — the good paper", self.md)
        self.assertIn("| Lion matches AdamW | lion >= adamw - 0.5 | 91.20 vs 90.80 | PASS |", self.md)
        self.assertIn("| greedy soup beats uniform | greedy > uniform | -0.20 | FAIL |", self.md)
        self.assertIn("| lion | 91.20 ± 0.28 | 0.29 ± 0.01 |", self.md)
        self.assertIn("85.30 (1 nan)", self.md)  # a missing seed is shown, not hidden
        self.assertIn("matmul: inner dimensions differ", self.md)  # the crash log's end
        for slug, png in [("good", "curves.png"), ("good", "loss.png"), ("demo", "acc.png")]:
            self.assertIn(f"]({slug}/{png})", self.md)
            self.assertTrue(os.path.exists(os.path.join(self.report_dir, slug, png)))

    def test_printed_summary(self):
        self.assertIn("== paper report (quick mode)", self.report_out)
        for slug in ("demo", "good", "mixed", "crashed", "missing"):
            self.assertIn(slug, self.report_out)

    def test_harness_result_used(self):
        if not HARNESS:
            self.skipTest("--harness not given")
        self.assertTrue(self.from_harness)
        self.assertIn("## demo — a demo paper", self.md)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--harness", help="the test_papers_common binary (its Result test writes a real result.json)")
    args, rest = ap.parse_known_args()
    HARNESS = args.harness
    unittest.main(argv=[sys.argv[0]] + rest)
