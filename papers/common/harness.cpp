// The paper harness (see harness.h): command line, configuration printout,
// metrics.jsonl, result.json and the end-of-run summary.
#include "papers/common/harness.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cuda/cuda.h"
#include "io/file_util.h"
#include "ops/creation.h"
#include "tensor/error.h"
#include "tensor/parallel.h"

namespace wick::papers {

using ojson = nlohmann::ordered_json;

// ---- devices ----------------------------------------------------------------

bool cuda_available() { return cuda::is_available(); }

Device resolve_device(const std::string& name) {
  if (name == "cpu") return kCPU;
  if (name == "auto") return cuda_available() ? Device(DeviceType::CUDA, 0) : kCPU;
  if (name == "cuda") {
#ifdef WICK_WITH_CUDA
    WICK_CHECK(cuda_available(), "--device cuda: CUDA is not available: this wick build has CUDA, but no usable CUDA "
                                 "GPU is visible on this machine (check nvidia-smi, the driver version and "
                                 "CUDA_VISIBLE_DEVICES), use --device cpu or auto");
#else
    WICK_FAIL("--device cuda: CUDA is not available: this wick build has no CUDA backend (configured with "
              "WICK_CUDA=OFF or without nvcc); use --device cpu or auto");
#endif
    return Device(DeviceType::CUDA, 0);
  }
  WICK_FAIL("--device: expected cpu, cuda or auto, got '", name, "'");
}

// ---- command line -----------------------------------------------------------

Cli::Cli(std::string slug, std::string title)
    : slug_(std::move(slug)), title_(std::move(title)), app_(std::make_unique<CLI::App>(title_, "paper_" + slug_)) {
  parsed_.slug = slug_;
  parsed_.title = title_;
  CLI::App& a = *app_;
  a.add_flag("--quick", parsed_.quick, "quick mode: a miniature run in seconds (smoke test, not a result)");
  a.add_option("--device", parsed_.device_name, "cpu | cuda | auto (auto: cuda when built and present, else cpu)")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}))
      ->capture_default_str();
  a.add_option("--seeds", seeds_arg_, "number of seeds 0..N-1 (default 3 in full mode, 1 in quick mode)")
      ->check(CLI::Range(1, 1000));
  a.add_option("--out", parsed_.out, "output directory (default runs/" + slug_ + ", runs/" + slug_ + "-quick)");
  a.add_option("--threads", parsed_.threads, "CPU threads (0: WICK_NUM_THREADS or every core)")
      ->check(CLI::Range(0, 4096))
      ->capture_default_str();
  a.add_flag("--no-progress", no_progress_, "hide the progress bars");
}

Cli::~Cli() = default;

CLI::App& Cli::app() { return *app_; }

RunConfig Cli::finish_parse(int default_seeds, int default_quick_seeds) {
  RunConfig run = parsed_;
  run.seeds = seeds_arg_ > 0 ? seeds_arg_ : (run.quick ? default_quick_seeds : default_seeds);
  WICK_CHECK(run.seeds >= 1, "paper_", slug_, ": the number of seeds must be >= 1, got ", run.seeds);
  if (run.out.empty()) run.out = "runs/" + slug_ + (run.quick ? "-quick" : "");
  run.progress = !no_progress_;
  run.device = resolve_device(run.device_name);
  if (run.threads > 0) set_num_threads(run.threads);
  run.threads = get_num_threads();
  return run;
}

RunConfig Cli::parse_args(const std::vector<std::string>& args, int default_seeds, int default_quick_seeds) {
  // CLI11 consumes a vector from the back.
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  app_->parse(reversed);
  return finish_parse(default_seeds, default_quick_seeds);
}

RunConfig Cli::parse(int argc, char** argv, int default_seeds, int default_quick_seeds) {
  try {
    app_->parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    std::exit(app_->exit(e));
  } catch (const CLI::CallForAllHelp& e) {
    std::exit(app_->exit(e));
  } catch (const CLI::ParseError& e) {
    app_->exit(e);
    std::cerr << "see " << (argc > 0 ? argv[0] : ("paper_" + slug_)) << " --help\n";
    std::exit(2);
  }
  try {
    return finish_parse(default_seeds, default_quick_seeds);
  } catch (const Error& e) {
    // An unusable configuration (--device cuda without CUDA): the message, not a crash.
    std::cerr << "error: " << e.what() << "\n";
    std::exit(2);
  }
}

// ---- statistics ---------------------------------------------------------------

MeanStd mean_std(const std::vector<double>& values) {
  MeanStd m;
  m.n = static_cast<int64_t>(values.size());
  if (m.n == 0) return m;
  double sum = 0;
  for (double v : values) sum += v;
  m.mean = sum / static_cast<double>(m.n);
  if (m.n >= 2) {
    double ss = 0;
    for (double v : values) ss += (v - m.mean) * (v - m.mean);
    m.std = std::sqrt(ss / static_cast<double>(m.n - 1));
  }
  return m;
}

Paired paired(const std::vector<double>& a, const std::vector<double>& b) {
  WICK_CHECK(a.size() == b.size(), "papers::paired: the two arms have different numbers of seeds (", a.size(),
             " != ", b.size(), ")");
  Paired p;
  for (size_t i = 0; i < a.size(); ++i) {
    p.diffs.push_back(a[i] - b[i]);
    if (a[i] > b[i]) ++p.wins;
  }
  p.diff = mean_std(p.diffs);
  return p;
}

std::string format_mean_std(const MeanStd& m, int digits) {
  if (m.n == 0) return "n/a";
  char buf[96];
  if (m.n == 1)
    std::snprintf(buf, sizeof(buf), "%.*f", digits, m.mean);
  else
    std::snprintf(buf, sizeof(buf), "%.*f \u00b1 %.*f", digits, m.mean, digits, m.std);
  return buf;
}

// ---- machine description --------------------------------------------------------

namespace {

std::string trim(std::string s) {
  const char* ws = " \t\r\n\"";
  s.erase(0, s.find_first_not_of(ws));
  const size_t end = s.find_last_not_of(ws);
  s.erase(end == std::string::npos ? 0 : end + 1);
  return s;
}

// The value of the first line "key<sep>value" of a text file, or "".
std::string file_field(const std::string& path, const std::string& key, char sep) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const size_t pos = line.find(sep);
    if (pos == std::string::npos) continue;
    if (trim(line.substr(0, pos)) == key) return trim(line.substr(pos + 1));
  }
  return "";
}

ojson machine_info() {
  ojson m;
  std::string cpu = file_field("/proc/cpuinfo", "model name", ':');
  m["cpu"] = cpu.empty() ? "unknown" : cpu;
  m["cores"] = std::thread::hardware_concurrency();
  m["threads"] = get_num_threads();
  std::string os = file_field("/etc/os-release", "PRETTY_NAME", '=');
  m["os"] = os.empty() ? "unknown" : os;
#ifdef __VERSION__
  m["compiler"] = __VERSION__;
#endif
  char host[256] = {0};
  if (::gethostname(host, sizeof(host) - 1) == 0) m["hostname"] = host;
  m["cuda_build"] =
#ifdef WICK_WITH_CUDA
      true;
#else
      false;
#endif
  return m;
}

std::string iso_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string pad(const std::string& s, size_t width) {
  // Width in code points (the ± sign is two bytes in UTF-8).
  size_t cps = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++cps;
  return cps >= width ? s : s + std::string(width - cps, ' ');
}

size_t cp_len(const std::string& s) {
  size_t cps = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++cps;
  return cps;
}

}  // namespace

// ---- result ------------------------------------------------------------------

struct Result::Impl {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  std::string date = iso_now();
  ojson machine = machine_info();
  ojson config = ojson::object();
  // arm -> metric -> value per seed (NaN where a seed is missing), in insertion order.
  std::vector<std::string> arms;
  std::map<std::string, std::vector<std::string>> metric_names;
  std::map<std::pair<std::string, std::string>, std::vector<double>> values;
  ojson claims = ojson::array();
  ojson plots = ojson::array();
  ojson headline;  // null unless set
  std::unique_ptr<data::MetricsLogger> logger;
  bool finished = false;
};

Result::Result(RunConfig run) : run_(std::move(run)), impl_(std::make_unique<Impl>()) {
  std::error_code ec;
  std::filesystem::create_directories(run_.out, ec);
  WICK_CHECK(!ec, "paper_", run_.slug, ": cannot create the output directory '", run_.out, "': ", ec.message());
  impl_->logger = std::make_unique<data::MetricsLogger>(path("metrics.jsonl"), /*append=*/false);
  std::printf("== paper_%s: %s\n", run_.slug.c_str(), run_.title.c_str());
  std::printf("   mode %s | device %s (asked %s) | seeds %d | threads %d | out %s\n", run_.quick ? "quick" : "full",
              run_.device.str().c_str(), run_.device_name.c_str(), run_.seeds, run_.threads, run_.out.c_str());
  std::printf("   machine: %s, %u cores, %s\n", impl_->machine["cpu"].get<std::string>().c_str(),
              impl_->machine["cores"].get<unsigned>(), impl_->machine["os"].get<std::string>().c_str());
  std::fflush(stdout);
}

Result::~Result() = default;

std::string Result::path(const std::string& file) const {
  return (std::filesystem::path(run_.out) / file).string();
}

namespace {
void print_config(const std::string& key, const ojson& v) {
  std::printf("   config %s = %s\n", key.c_str(), v.is_string() ? v.get<std::string>().c_str() : v.dump().c_str());
  std::fflush(stdout);
}
}  // namespace

void Result::config(const std::string& key, double v) {
  impl_->config[key] = v;
  print_config(key, impl_->config[key]);
}
void Result::config(const std::string& key, int64_t v) {
  impl_->config[key] = v;
  print_config(key, impl_->config[key]);
}
void Result::config(const std::string& key, bool v) {
  impl_->config[key] = v;
  print_config(key, impl_->config[key]);
}
void Result::config(const std::string& key, const std::string& v) {
  impl_->config[key] = v;
  print_config(key, impl_->config[key]);
}

void Result::metric(const std::string& arm, int seed, const std::string& name, double value) {
  WICK_CHECK(seed >= 0, "Result::metric: seed must be >= 0, got ", seed, " (arm '", arm, "', metric '", name, "')");
  if (std::find(impl_->arms.begin(), impl_->arms.end(), arm) == impl_->arms.end()) impl_->arms.push_back(arm);
  auto& names = impl_->metric_names[arm];
  if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  auto& vals = impl_->values[{arm, name}];
  if (static_cast<int>(vals.size()) <= seed) vals.resize(seed + 1, std::nan(""));
  vals[seed] = value;
  // Final metrics go to the log too, as split "final/<arm>" at step = seed.
  impl_->logger->log(seed, "final/" + arm, {{"seed", seed}, {name, value}});
}

const std::vector<double>& Result::values(const std::string& arm, const std::string& name) const {
  auto it = impl_->values.find({arm, name});
  WICK_CHECK(it != impl_->values.end(), "Result::values: no metric '", name, "' for arm '", arm, "'");
  return it->second;
}

void Result::log(int64_t step, const std::string& arm, const data::MetricRecord& values) {
  impl_->logger->log(step, arm, values);
}

void Result::claim(const std::string& statement, const std::string& criterion, const std::string& measured,
                   bool passed) {
  impl_->claims.push_back(
      {{"statement", statement}, {"criterion", criterion}, {"measured", measured}, {"verdict", passed ? "pass" : "fail"}});
}

void Result::headline(const std::string& baseline_arm, const std::string& method_arm, const std::string& metric) {
  impl_->headline = {{"baseline", baseline_arm}, {"method", method_arm}, {"metric", metric}};
}

void Result::plot(const std::string& file, const std::string& title, const std::string& xlabel,
                  const std::string& ylabel, std::vector<Series> series) {
  ojson s = ojson::array();
  for (const auto& se : series) {
    WICK_CHECK(se.x.size() == se.y.size(), "Result::plot '", file, "': series '", se.label, "' has ", se.x.size(),
               " x values but ", se.y.size(), " y values");
    s.push_back({{"label", se.label}, {"x", se.x}, {"y", se.y}});
  }
  impl_->plots.push_back({{"file", file}, {"title", title}, {"xlabel", xlabel}, {"ylabel", ylabel}, {"series", s}});
}

int Result::finish() {
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - impl_->start).count();
  ojson metrics = ojson::object();
  for (const auto& arm : impl_->arms) {
    ojson a = ojson::object();
    for (const auto& name : impl_->metric_names[arm]) a[name] = impl_->values[{arm, name}];  // NaN -> null
    metrics[arm] = a;
  }
  impl_->machine["threads"] = run_.threads;
  ojson j;
  j["paper"] = run_.slug;
  j["title"] = run_.title;
  j["mode"] = run_.quick ? "quick" : "full";
  j["device"] = run_.device.str();
  j["seeds"] = run_.seeds;
  j["date"] = impl_->date;
  j["machine"] = impl_->machine;
  j["wall_seconds"] = wall;
  j["config"] = impl_->config;
  j["metrics"] = metrics;
  j["claims"] = impl_->claims;
  if (!impl_->headline.is_null()) j["headline"] = impl_->headline;
  j["plots"] = impl_->plots;
  io::AtomicFileWriter w(path("result.json"), "Result::finish");
  w.write(j.dump(2) + "\n");
  w.commit();
  impl_->finished = true;

  // Summary: arms x metrics, then the claims.
  std::vector<std::string> all_metrics;
  for (const auto& arm : impl_->arms)
    for (const auto& n : impl_->metric_names[arm])
      if (std::find(all_metrics.begin(), all_metrics.end(), n) == all_metrics.end()) all_metrics.push_back(n);
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"arm"});
  for (const auto& n : all_metrics) rows[0].push_back(n);
  for (const auto& arm : impl_->arms) {
    std::vector<std::string> r{arm};
    for (const auto& n : all_metrics) {
      auto it = impl_->values.find({arm, n});
      r.push_back(it == impl_->values.end() ? "-" : format_mean_std(mean_std(it->second)));
    }
    rows.push_back(r);
  }
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& r : rows)
    for (size_t c = 0; c < r.size(); ++c) widths[c] = std::max(widths[c], cp_len(r[c]));
  std::printf("\n== paper_%s: results (%s mode, %d seed%s, mean \u00b1 std over seeds, %.1f s)\n",
              run_.slug.c_str(), run_.quick ? "quick" : "full", run_.seeds, run_.seeds == 1 ? "" : "s", wall);
  for (size_t i = 0; i < rows.size(); ++i) {
    std::string line = "  ";
    for (size_t c = 0; c < rows[i].size(); ++c) line += pad(rows[i][c], widths[c] + 2);
    std::printf("%s\n", line.c_str());
    if (i == 0) {
      size_t total = 0;
      for (size_t w2 : widths) total += w2 + 2;
      std::printf("  %s\n", std::string(total, '-').c_str());
    }
  }
  if (!impl_->claims.empty()) std::printf("\n== claims\n");
  for (const auto& c : impl_->claims) {
    std::printf("  [%s] %s\n         criterion: %s\n         measured:  %s\n",
                c["verdict"].get<std::string>() == "pass" ? "PASS" : "FAIL",
                c["statement"].get<std::string>().c_str(), c["criterion"].get<std::string>().c_str(),
                c["measured"].get<std::string>().c_str());
  }
  std::printf("\nwrote %s and %s\n", path("result.json").c_str(), path("metrics.jsonl").c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace wick::papers
