#include "data/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace wick::data {

namespace {

// Columns of the terminal behind `stream`, or 0 when unknown.
int terminal_columns(std::FILE* stream) {
  struct winsize ws {};
  if (::ioctl(::fileno(stream), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 0;
}

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

}  // namespace

ProgressBar::ProgressBar(int64_t total, std::string label, ProgressOptions options)
    : total_(total), label_(std::move(label)), options_(options),
      tty_(options.tty.value_or(::isatty(::fileno(options.stream)) != 0)),
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

double ProgressBar::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

double ProgressBar::rate() const {
  const double t = elapsed_seconds();
  return t > 0 ? static_cast<double>(done_) / t : 0.0;
}

std::string ProgressBar::format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<long long>(std::llround(seconds));
  char buf[48];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  return buf;
}

std::string ProgressBar::line(bool final) const { return line(final, options_.bar_width); }

std::string ProgressBar::line(bool final, int bar_width) const {
  const double elapsed = elapsed_seconds();
  const double r = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
  std::string out = label_;
  if (total_ > 0) {
    const double frac = std::clamp(static_cast<double>(done_) / static_cast<double>(total_), 0.0, 1.0);
    const int width = std::max(bar_width, 0);
    const int filled = static_cast<int>(frac * width);
    if (width > 0) {
      if (!out.empty()) out += ' ';
      out += '[';
      out.append(static_cast<size_t>(filled), '#');
      out.append(static_cast<size_t>(width - filled), '.');
      out += ']';
    }
    out += fmt(" %3.0f%%", std::floor(frac * 100));
    out += ' ';
    out += std::to_string(done_);
    out += '/';
    out += std::to_string(total_);
  } else {
    if (!out.empty()) out += ' ';
    out += std::to_string(done_);
  }
  if (r >= 1 || r == 0)
    out += fmt(" %.1f it/s", r);
  else
    out += fmt(" %.2f s/it", 1 / r);
  if (final)
    out += " elapsed " + format_duration(elapsed);
  else if (total_ > 0)
    out += " eta " + (r > 0 ? format_duration(static_cast<double>(std::max<int64_t>(total_ - done_, 0)) / r) : "?");
  if (!status_.empty()) out += "  " + status_;
  return out;
}

void ProgressBar::draw(bool final) {
  const auto now = std::chrono::steady_clock::now();
  const double since_draw = std::chrono::duration<double>(now - last_draw_).count();
  if (tty_) {
    if (!final && since_draw < options_.min_interval_s) return;
  } else if (!final) {
    // Plain lines: one per `plain_percent` of progress, or after a long quiet spell.
    const int pct = std::max(options_.plain_percent, 1);
    const int64_t bucket =
        total_ > 0 ? static_cast<int64_t>(std::floor(static_cast<double>(done_) * 100 / static_cast<double>(total_) / pct))
                   : -1;
    const bool new_bucket = total_ > 0 && bucket != last_plain_step_ && done_ < total_;  // 100% comes from finish()
    if (!new_bucket && since_draw < options_.plain_interval_s) return;
    last_plain_step_ = bucket;
  }
  last_draw_ = now;
  std::string text = line(final);
  if (tty_) {
    // Never wrap: a wrapped line cannot be redrawn with a carriage return.
    // Narrow the bar first (the status matters more), then cut the line.
    const int cols = terminal_columns(options_.stream);
    if (cols > 1 && text.size() >= static_cast<size_t>(cols)) {
      const int excess = static_cast<int>(text.size()) - cols + 1;
      const int narrower = options_.bar_width - excess;
      text = line(final, narrower >= 10 ? narrower : 0);
      if (text.size() >= static_cast<size_t>(cols)) text.resize(static_cast<size_t>(cols - 1));
    }
    std::fprintf(options_.stream, "\r%s\033[K%s", text.c_str(), final ? "\n" : "");
  } else {
    std::fprintf(options_.stream, "%s\n", text.c_str());
  }
  std::fflush(options_.stream);
}

}  // namespace wick::data
