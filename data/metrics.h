// Metrics as JSON lines: one object per call, one line per object,
//   {"step": 120, "split": "train", "loss": 0.4132, "lr": 0.00095}
// flushed at once, so a crashed or running job leaves a readable file that
// tools/plot_metrics.py turns into PNG curves (and that jq, pandas or a text
// editor read as well).
//
// The file is opened in append mode so that a resumed run continues its log.
// A run that died mid-write may have left a partial last line: the logger
// ends it with a newline first, and readers skip lines that do not parse.
// After resuming from a checkpoint at step k, drop_metrics_after(path, k)
// removes the lines the crashed run wrote past k, so no step appears twice.
//
// Values are numbers, booleans or strings. JSON has no NaN or infinity: they
// are written as null (a diverged loss shows as a gap in the plot).
#pragma once

#include <concepts>
#include <type_traits>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace wick::data {

class MetricValue {
 public:
  using Variant = std::variant<bool, int64_t, double, std::string>;
  template <std::integral I>
  MetricValue(I v) {  // NOLINT: implicit on purpose ({"epoch", 3})
    if constexpr (std::is_same_v<I, bool>)
      v_ = v;
    else
      v_ = static_cast<int64_t>(v);
  }
  template <std::floating_point F>
  MetricValue(F v) : v_(static_cast<double>(v)) {}  // NOLINT
  MetricValue(std::string v) : v_(std::move(v)) {}   // NOLINT
  MetricValue(const char* v) : v_(std::string(v)) {}  // NOLINT
  const Variant& value() const { return v_; }

 private:
  Variant v_;
};

using MetricRecord = std::vector<std::pair<std::string, MetricValue>>;

class MetricsLogger {
 public:
  // append=false starts a new file (truncating an old one).
  explicit MetricsLogger(std::string path, bool append = true);
  ~MetricsLogger();
  MetricsLogger(const MetricsLogger&) = delete;
  MetricsLogger& operator=(const MetricsLogger&) = delete;

  // Writes {"step": step, "split": split, name: value, ...} in the given
  // order and flushes. Thread-safe. Names "step" and "split" are reserved.
  void log(int64_t step, const std::string& split, const MetricRecord& values);

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  std::mutex mutex_;
};

// Rewrites `path` (atomically) keeping only the lines whose "step" is <= step,
// and dropping lines that do not parse; returns how many lines were dropped.
// Call it before opening a logger on the file. A missing file stays missing.
int64_t drop_metrics_after(const std::string& path, int64_t step);

// One line of a metrics file.
struct MetricsEntry {
  int64_t step = 0;
  std::string split;
  MetricRecord values;  // in file order, without step and split
};
// Reads every line that parses as a JSON object with an integer "step" (others
// are skipped, as a partial line from a crash is); null values read as NaN.
// Throws wick::Error when the file cannot be opened.
std::vector<MetricsEntry> read_metrics(const std::string& path);

}  // namespace wick::data
