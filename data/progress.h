// A terminal progress bar for long loops (epochs, evaluation):
//   ProgressBar bar(steps, "epoch 1");
//   for (...) { ...; bar.update(1, "loss 0.42"); }
//   bar.finish();
// On a terminal it redraws one line at most 10 times a second; when stderr is
// not a terminal (CI logs) it prints a line at every 10% instead.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace wick::data {

class ProgressBar {
 public:
  ProgressBar(int64_t total, std::string label);
  ~ProgressBar();
  void update(int64_t n = 1, const std::string& status = "");
  void finish(const std::string& status = "");

 private:
  void draw(bool final);
  int64_t total_, done_ = 0;
  std::string label_, status_;
  bool tty_, finished_ = false;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace wick::data
