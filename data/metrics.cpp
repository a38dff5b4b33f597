#include "data/metrics.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

#include "tensor/error.h"

namespace wick::data {

namespace {

using ojson = nlohmann::ordered_json;

ojson to_json(const MetricValue& v) {
  return std::visit(
      [](const auto& x) -> ojson {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, double>) {
          if (!std::isfinite(x)) return nullptr;  // JSON has no NaN/Inf
        }
        return x;
      },
      v.value());
}

// The object on `line`, if it is one with an integer step.
std::optional<ojson> parse_line(const std::string& line) {
  ojson j = ojson::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("step") || !j["step"].is_number_integer()) return std::nullopt;
  return j;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream f(path);
  WICK_CHECK(f.good(), "read_metrics: cannot open ", path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(f, line);) lines.push_back(line);
  return lines;
}

}  // namespace

MetricsLogger::MetricsLogger(std::string path, bool append) : path_(std::move(path)) {
  file_ = std::fopen(path_.c_str(), append ? "a+" : "w");
  WICK_CHECK(file_ != nullptr, "MetricsLogger: cannot open ", path_, ": ", std::strerror(errno));
  if (append) {
    // A run killed mid-write may have left a partial last line: end it, so ours starts on a fresh line.
    if (std::fseek(file_, -1, SEEK_END) == 0) {
      const int last = std::fgetc(file_);
      std::fseek(file_, 0, SEEK_END);  // a read must be followed by a seek before a write
      if (last != '\n' && last != EOF) std::fputc('\n', file_);
    }
    std::fflush(file_);
  }
}

MetricsLogger::~MetricsLogger() {
  if (file_) std::fclose(file_);
}

void MetricsLogger::log(int64_t step, const std::string& split, const MetricRecord& values) {
  ojson j = ojson::object();
  j["step"] = step;
  j["split"] = split;
  for (const auto& [name, v] : values) {
    WICK_CHECK(name != "step" && name != "split", "MetricsLogger::log: the name '", name, "' is reserved");
    j[name] = to_json(v);
  }
  std::string line;
  try {
    line = j.dump() + "\n";
  } catch (const ojson::exception& e) {  // strings that are not UTF-8
    WICK_FAIL("MetricsLogger::log: cannot encode the record: ", e.what());
  }
  std::lock_guard<std::mutex> lock(mutex_);
  // One fwrite per line: lines from several threads never interleave.
  WICK_CHECK(std::fwrite(line.data(), 1, line.size(), file_) == line.size() && std::fflush(file_) == 0,
             "MetricsLogger: writing ", path_, " failed: ", std::strerror(errno));
}

int64_t drop_metrics_after(const std::string& path, int64_t step) {
  if (::access(path.c_str(), F_OK) != 0) return 0;
  const std::vector<std::string> lines = read_lines(path);
  std::string kept;
  int64_t dropped = 0;
  for (const std::string& line : lines) {
    auto j = parse_line(line);
    if (j && (*j)["step"].get<int64_t>() <= step) {
      kept += line + "\n";
    } else {
      ++dropped;
    }
  }
  if (dropped == 0) return 0;
  // Replace the file atomically: a crash here keeps the old log.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  WICK_CHECK(f != nullptr, "drop_metrics_after: cannot write ", tmp, ": ", std::strerror(errno));
  bool ok = std::fwrite(kept.data(), 1, kept.size(), f) == kept.size() && std::fflush(f) == 0 &&
            ::fsync(::fileno(f)) == 0;
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    WICK_FAIL("drop_metrics_after: cannot rewrite ", path, ": ", std::strerror(errno));
  }
  return dropped;
}

std::vector<MetricsEntry> read_metrics(const std::string& path) {
  std::vector<MetricsEntry> out;
  for (const std::string& line : read_lines(path)) {
    auto j = parse_line(line);
    if (!j) continue;
    MetricsEntry e;
    e.step = (*j)["step"].get<int64_t>();
    if (j->contains("split") && (*j)["split"].is_string()) e.split = (*j)["split"].get<std::string>();
    for (const auto& [name, v] : j->items()) {
      if (name == "step" || name == "split") continue;
      if (v.is_boolean())
        e.values.emplace_back(name, v.get<bool>());
      else if (v.is_number_integer())
        e.values.emplace_back(name, v.get<int64_t>());
      else if (v.is_number())
        e.values.emplace_back(name, v.get<double>());
      else if (v.is_string())
        e.values.emplace_back(name, v.get<std::string>());
      else if (v.is_null())
        e.values.emplace_back(name, std::numeric_limits<double>::quiet_NaN());
      // nested objects/arrays are not metrics: skipped
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace wick::data
