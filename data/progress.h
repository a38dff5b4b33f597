// A progress bar for long loops (epochs, evaluation, data preparation):
//   ProgressBar bar(steps, "epoch 1");
//   for (...) { ...; bar.update(1, "loss 0.42"); }
//   bar.finish();
// prints
//   epoch 1 [############..................]  40% 400/1000 52.3 it/s eta 0:11  loss 0.42
//
// On a terminal it redraws one line in place (carriage return), at most every
// `min_interval_s`, fitted to the terminal's width (a narrower bar, then a cut)
// so that it never wraps. When
// the stream is not a terminal (CI logs, files) it prints plain lines instead:
// one each time another `plain_percent` of the work is done, and at least
// every `plain_interval_s` seconds for very slow loops. finish() prints the
// final line with the elapsed time. With total <= 0 (unknown length) it shows
// the count and the rate only.
//
// Rate and ETA use the average over the whole run (stable for training loops
// whose first steps include warm-up); rates below 1 it/s are shown as s/it.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

namespace wick::data {

struct ProgressOptions {
  std::FILE* stream = stderr;
  // Terminal mode (redraw in place); detected with isatty when not set.
  std::optional<bool> tty;
  double min_interval_s = 0.1;
  int plain_percent = 10;
  double plain_interval_s = 60;
  int bar_width = 30;
};

class ProgressBar {
 public:
  ProgressBar(int64_t total, std::string label, ProgressOptions options = {});
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Advances by n; a non-empty status replaces the shown one (e.g. the loss).
  void update(int64_t n = 1, const std::string& status = "");
  // Replaces the status without advancing (shown at the next redraw).
  void set_status(const std::string& status) { status_ = status; }
  // Prints the final line (also done by the destructor).
  void finish(const std::string& status = "");

  int64_t done() const { return done_; }
  int64_t total() const { return total_; }
  double elapsed_seconds() const;
  // Items per second so far (0 before any time has passed).
  double rate() const;

  // The line as it would be drawn now (without the terminal control codes).
  std::string line(bool final = false) const;

  // Formats seconds as m:ss or h:mm:ss.
  static std::string format_duration(double seconds);

 private:
  void draw(bool final);
  std::string line(bool final, int bar_width) const;
  int64_t total_, done_ = 0;
  std::string label_, status_;
  ProgressOptions options_;
  bool tty_, finished_ = false;
  int64_t last_plain_step_ = -1;  // plain mode: progress bucket of the last line printed
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace wick::data
