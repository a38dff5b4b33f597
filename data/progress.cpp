#include "data/progress.h"

#include <unistd.h>

#include <cstdio>

namespace wick::data {

ProgressBar::ProgressBar(int64_t total, std::string label)
    : total_(total), label_(std::move(label)), tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

ProgressBar::~ProgressBar() {
  if (!finished_) finish();
}

void ProgressBar::update(int64_t n, const std::string& status) {
  done_ += n;
  if (!status.empty()) status_ = status;
  draw(false);
}

void ProgressBar::finish(const std::string& status) {
  if (finished_) return;
  if (!status.empty()) status_ = status;
  draw(true);
  finished_ = true;
}

void ProgressBar::draw(bool final) {
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double frac = total_ > 0 ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0;
  const int decile = static_cast<int>(frac * 10);
  if (tty_) {
    if (!final && now - last_draw_ < std::chrono::milliseconds(100)) return;
  } else if (!final && (decile == last_decile_ || decile >= 10)) {  // 100% is printed by finish()
    return;
  }
  last_draw_ = now;
  last_decile_ = decile;
  const int width = 30, filled = static_cast<int>(frac * width);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.append(static_cast<size_t>(width - filled), '.');
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : 0.0;
  std::fprintf(stderr, "%s%s [%s] %3d%% %lld/%lld %.1f it/s %s %.0fs%s%s%s", tty_ ? "\r" : "", label_.c_str(),
               bar.c_str(), static_cast<int>(frac * 100), static_cast<long long>(done_),
               static_cast<long long>(total_), rate, final ? "elapsed" : "eta", final ? elapsed : eta,
               status_.empty() ? "" : "  ", status_.c_str(), (final || !tty_) ? "\n" : "\033[K");
  std::fflush(stderr);
}

}  // namespace wick::data
