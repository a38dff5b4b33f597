// The harness every paper executable shares: one command-line contract, the
// configuration printed at start, metrics as JSON lines, and result.json.
//
//   int main(int argc, char** argv) {
//     papers::Cli cli("lion", "Lion vs AdamW on Fashion-MNIST and a byte LM");
//     int epochs = 3;
//     cli.app().add_option("--epochs", epochs, "epochs per run");   // paper-specific options
//     papers::RunConfig run = cli.parse(argc, argv);   // exits on --help / bad input
//     papers::Result result(run);                      // out dir created, config printed
//     result.config("epochs", epochs);
//     ... for each seed, arm: result.metric(arm, seed, "test_acc", 91.2); result.log(...)
//     result.claim("Lion matches AdamW on the CNN", "best Lion >= best AdamW - 0.5pt",
//                  measured, passed);
//     result.plot(...);
//     return result.finish();                           // writes result.json, prints the summary
//   }
//
// Contract (every paper_<slug>): --quick (seconds, for tests), default full
// mode (minutes on this CPU), --device cpu|cuda|auto, --seeds N, --out DIR,
// --help. result.json:
//   {"paper": slug, "title": ..., "mode": "quick"|"full", "device": ..., "seeds": N,
//    "date": ISO-8601, "machine": {...}, "wall_seconds": ..., "config": {...},
//    "metrics": {arm: {metric: [value per seed]}},
//    "claims": [{"statement", "criterion", "measured", "verdict": "pass"|"fail"}],
//    "headline": {"baseline": arm, "method": arm, "metric": name}   (optional),
//    "plots": [{"file", "title", "xlabel", "ylabel", "series": [{"label", "x": [...], "y": [...]}]}]}
// The plots are drawn to PNG by tools/plot_result.py (Debian's matplotlib),
// which the report script runs; the executables themselves stay pure C++.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "data/metrics.h"
#include "tensor/device.h"

namespace CLI {
class App;
}

namespace wick::papers {

struct RunConfig {
  std::string slug;
  std::string title;
  bool quick = false;
  std::string device_name = "auto";  // as given
  Device device;                     // resolved: cuda when asked and built+present, else cpu
  int seeds = 3;                     // number of seeds: 0, 1, ..., seeds-1
  std::string out;                   // output directory (default runs/<slug>[-quick])
  int threads = 0;                   // 0: WICK_NUM_THREADS or all cores
  bool progress = true;              // --no-progress hides the bars
};

class Cli {
 public:
  Cli(std::string slug, std::string title);
  ~Cli();
  // Add paper-specific options here before parse().
  CLI::App& app();
  // Parses argv. On --help prints the help and exits 0; on a bad option or
  // value prints the error and the hint "see --help" and exits 2. Resolves
  // --device (cuda without a CUDA build or GPU: the wick::Error that says so
  // is printed as "error: ..." and it exits 2; parse_args throws it), sets
  // the thread count, and default_seeds (quick mode's default is 1).
  RunConfig parse(int argc, char** argv, int default_seeds = 3, int default_quick_seeds = 1);
  // The same without exiting (tests, embedding): args exclude the program
  // name; a bad option or value throws CLI::ParseError (CLI::CallForHelp for
  // --help), an unavailable device throws wick::Error.
  RunConfig parse_args(const std::vector<std::string>& args, int default_seeds = 3, int default_quick_seeds = 1);

 private:
  RunConfig finish_parse(int default_seeds, int default_quick_seeds);

  std::string slug_, title_;
  std::unique_ptr<CLI::App> app_;
  // Targets of the common options (bound in the constructor so --help lists them).
  RunConfig parsed_;
  int seeds_arg_ = -1;  // -1: not given, use the mode's default
  bool no_progress_ = false;
};

// Whether --device cuda can work here: a CUDA build (WICK_WITH_CUDA) with a GPU present.
bool cuda_available();
// Maps "cpu" | "cuda" | "auto" to a device; "cuda" without cuda_available()
// throws wick::Error saying why, "auto" picks cuda when available, else cpu.
Device resolve_device(const std::string& name);

// Per-seed differences and their summary, for verdicts on paired runs.
struct MeanStd {
  double mean = 0, std = 0;  // std: sample standard deviation (n-1), 0 for n < 2
  int64_t n = 0;
};
MeanStd mean_std(const std::vector<double>& values);
struct Paired {
  std::vector<double> diffs;  // a[i] - b[i]
  MeanStd diff;
  int64_t wins = 0;           // seeds where a > b
};
Paired paired(const std::vector<double>& a, const std::vector<double>& b);
// "91.23 ± 0.45" with `digits` decimals (no ± for one value).
std::string format_mean_std(const MeanStd& m, int digits = 2);

struct Series {
  std::string label;
  std::vector<double> x, y;
};

class Result {
 public:
  // Creates run.out, prints the configuration, opens <out>/metrics.jsonl (new file).
  explicit Result(RunConfig run);
  ~Result();

  const RunConfig& run() const { return run_; }
  std::string path(const std::string& file) const;  // <out>/<file>

  // Configuration entries (printed when set, written to result.json "config").
  void config(const std::string& key, double v);
  void config(const std::string& key, int64_t v);
  void config(const std::string& key, int v) { config(key, static_cast<int64_t>(v)); }
  void config(const std::string& key, bool v);
  void config(const std::string& key, const std::string& v);
  void config(const std::string& key, const char* v) { config(key, std::string(v)); }

  // A final metric of one arm and seed (result.json "metrics"); also logged as a JSON line.
  void metric(const std::string& arm, int seed, const std::string& name, double value);
  const std::vector<double>& values(const std::string& arm, const std::string& name) const;
  // A progress metric as a JSON line in metrics.jsonl: {"step", "split": arm, ...}.
  void log(int64_t step, const std::string& arm, const data::MetricRecord& values);

  // A claim with its criterion (fixed in code before the run) and the measured value.
  void claim(const std::string& statement, const std::string& criterion, const std::string& measured, bool passed);
  // Optional: the headline comparison the report's summary table shows (one
  // row per paper: baseline arm vs method arm on `metric`, mean ± std). Without
  // it the report uses the first two arms and the first metric.
  void headline(const std::string& baseline_arm, const std::string& method_arm, const std::string& metric);
  // A line plot; file is the PNG name the plotting script writes under out.
  void plot(const std::string& file, const std::string& title, const std::string& xlabel, const std::string& ylabel,
            std::vector<Series> series);

  // Writes <out>/result.json (atomically), prints a summary table of arms x
  // metrics (mean ± std) and the claims. Returns 0 (the verdict is data, not
  // an exit status; a crash is the only failure).
  int finish();

 private:
  struct Impl;
  RunConfig run_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wick::papers
