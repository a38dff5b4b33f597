// The profiler's timeline (see profiler.h for what is charged to whom).
#include "autograd/profiler.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "cuda/cuda.h"
#include "cuda/stream.h"
#include "tensor/error.h"

namespace wick::autograd::profiler {

const char* phase_name(Phase p) {
  switch (p) {
    case Phase::Forward: return "forward";
    case Phase::Backward: return "backward";
    case Phase::Range: return "range";
    case Phase::Other: return "other";
  }
  return "?";
}

const OpStats* find(const std::vector<OpStats>& rows, const std::string& name, Phase phase) {
  for (const OpStats& r : rows)
    if (r.name == name && r.phase == phase) return &r;
  return nullptr;
}

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kOther = "(other)";
constexpr const char* kEngine = "(autograd engine)";

// The running session, if any. g_enabled mirrors g_active != nullptr so that
// the hooks cost one relaxed load when nothing runs; g_mu guards the rest.
std::atomic<bool> g_enabled{false};
std::mutex g_mu;
Profile::Session* g_active = nullptr;
std::atomic<uint64_t> g_generation{0};

// Depth of backward formulas running on this thread: their ops' nodes (with
// create_graph) belong to the node being run, not to the forward.
thread_local int t_backward_depth = 0;

}  // namespace

struct Profile::Session {
  struct Label {
    std::string name;
    Phase phase;
  };
  struct Mark {
    int32_t label;  // -1: the origin laid by start()
    double t_ms;    // host time since start()
  };
  struct Range {
    int32_t label;
    int64_t begin, end;  // mark indices
  };

  bool use_cuda = false;
  int device = -1;         // the device whose current stream the events go on
  int events_device = -1;  // the device the pooled events were created on
  std::thread::id thread;
  uint64_t generation = 0;
  Clock::time_point t0;
  std::vector<Label> labels;
  std::unordered_map<std::string, int32_t> index[4];  // per Phase
  std::vector<Mark> marks;
  std::vector<Range> ranges;
  std::vector<cuda::Event> events;  // events[i] for marks[i]; kept across runs (created once)

  int32_t label(const std::string& name, Phase phase) {
    auto& m = index[static_cast<int>(phase)];
    auto it = m.find(name);
    if (it != m.end()) return it->second;
    const auto id = static_cast<int32_t>(labels.size());
    labels.push_back({name, phase});
    m.emplace(name, id);
    return id;
  }

  // Lays a mark (g_mu held). Returns its index.
  int64_t lay(int32_t label_id) {
    const auto i = static_cast<int64_t>(marks.size());
    if (use_cuda) {
      if (static_cast<int64_t>(events.size()) <= i) events.emplace_back(/*enable_timing=*/true);
      events[static_cast<size_t>(i)].record(cuda::Stream::current(device));
    }
    marks.push_back({label_id, std::chrono::duration<double, std::milli>(Clock::now() - t0).count()});
    return i;
  }

  bool mine() const { return std::this_thread::get_id() == thread; }
};

namespace {

// A mark on the running session from its thread; -1 when there is none.
int64_t lay_mark(const std::string& name, Phase phase) {
  if (!g_enabled.load(std::memory_order_relaxed)) return -1;
  std::lock_guard<std::mutex> lock(g_mu);
  Profile::Session* s = g_active;
  if (s == nullptr || !s->mine()) return -1;
  return s->lay(s->label(name, phase));
}

// "Conv2dBackward" -> "Conv2d": the forward op that recorded the node.
std::string forward_name(const char* node_name) {
  std::string n(node_name);
  constexpr std::string_view suffix = "Backward";
  if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
    n.resize(n.size() - suffix.size());
  return n;
}

}  // namespace

bool is_enabled() { return g_enabled.load(std::memory_order_relaxed); }

void mark_forward(const char* node_name) {
  if (!g_enabled.load(std::memory_order_relaxed) || t_backward_depth > 0) return;
  lay_mark(forward_name(node_name), Phase::Forward);
}

BackwardScope::BackwardScope(const std::string& node_name) : name_(node_name) {
  ++t_backward_depth;
  lay_mark(kEngine, Phase::Backward);
}

BackwardScope::~BackwardScope() {
  --t_backward_depth;
  lay_mark(name_, Phase::Backward);
}

RecordFunction::RecordFunction(std::string name) : name_(std::move(name)) {
  if (!g_enabled.load(std::memory_order_relaxed)) return;
  std::lock_guard<std::mutex> lock(g_mu);
  Profile::Session* s = g_active;
  if (s == nullptr || !s->mine()) return;
  start_mark_ = s->lay(s->label(kOther, Phase::Other));
  generation_ = s->generation;
}

RecordFunction::~RecordFunction() {
  if (start_mark_ < 0 || !g_enabled.load(std::memory_order_relaxed)) return;
  std::lock_guard<std::mutex> lock(g_mu);
  Profile::Session* s = g_active;
  if (s == nullptr || !s->mine() || s->generation != generation_) return;  // its profile stopped meanwhile
  const int32_t id = s->label(name_, Phase::Range);
  const int64_t end = s->lay(id);
  s->ranges.push_back({id, start_mark_, end});
}

Profile::Profile(bool use_cuda) : use_cuda_(use_cuda), session_(std::make_unique<Session>()) {}

Profile::~Profile() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_active == session_.get()) {
    g_active = nullptr;
    g_enabled.store(false, std::memory_order_relaxed);
  }
}

bool Profile::running() const {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_active == session_.get();
}

void Profile::start() {
  if (use_cuda_)
    WICK_CHECK(cuda::is_available(), "profiler::Profile::start: use_cuda needs a usable CUDA device (",
               cuda::is_built() ? "none found" : "this build has no CUDA backend",
               "); profile the host alone with Profile(/*use_cuda=*/false)");
  std::lock_guard<std::mutex> lock(g_mu);
  WICK_CHECK(g_active == nullptr, "profiler::Profile::start: ",
             g_active == session_.get() ? "this profile is already running"
                                        : "another profile is running (one at a time: stop it first)");
  Session& s = *session_;
  s.use_cuda = use_cuda_;
  if (use_cuda_) {
    s.device = cuda::current_device();
    if (s.events_device != s.device) {  // events are bound to the device they were first recorded on
      s.events.clear();
      s.events_device = s.device;
    }
  }
  s.thread = std::this_thread::get_id();
  s.generation = g_generation.fetch_add(1) + 1;
  s.labels.clear();
  for (auto& m : s.index) m.clear();
  s.marks.clear();
  s.ranges.clear();
  ops_.clear();
  ranges_.clear();
  has_results_ = false;
  s.t0 = Clock::now();
  s.lay(-1);  // the origin
  g_active = &s;
  g_enabled.store(true, std::memory_order_relaxed);
}

void Profile::stop() {
  Session& s = *session_;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    WICK_CHECK(g_active == &s, "profiler::Profile::stop: this profile is not running (call start() first)");
    s.lay(s.label(kOther, Phase::Other));
    g_active = nullptr;
    g_enabled.store(false, std::memory_order_relaxed);
  }
  const size_t n = s.marks.size();
  // Every event, not only the last: marks laid while another stream was current (a StreamGuard inside
  // the profile) went on that stream, whose work the last mark's stream does not wait for.
  if (s.use_cuda)
    for (size_t i = 0; i < n; ++i) s.events[i].synchronize();
  std::vector<double> cuda_ms(n, 0.0);  // device time from the origin to each mark
  for (size_t i = 1; i < n; ++i)
    cuda_ms[i] = cuda_ms[i - 1] + (s.use_cuda ? s.events[i - 1].elapsed_time(s.events[i]) : 0.0);

  std::vector<int32_t> row_of(s.labels.size(), -1);
  total_cpu_ms_ = total_cuda_ms_ = 0.0;
  for (size_t i = 1; i < n; ++i) {
    const int32_t l = s.marks[i].label;
    if (row_of[l] < 0) {
      row_of[l] = static_cast<int32_t>(ops_.size());
      ops_.push_back({s.labels[l].name, s.labels[l].phase, 0, 0.0, 0.0});
    }
    OpStats& r = ops_[row_of[l]];
    const double cpu = s.marks[i].t_ms - s.marks[i - 1].t_ms, dev = cuda_ms[i] - cuda_ms[i - 1];
    ++r.calls;
    r.cpu_ms += cpu;
    r.cuda_ms += dev;
    total_cpu_ms_ += cpu;
    total_cuda_ms_ += dev;
  }
  std::unordered_map<int32_t, size_t> range_row;
  for (const auto& rg : s.ranges) {
    auto [it, fresh] = range_row.emplace(rg.label, ranges_.size());
    if (fresh) ranges_.push_back({s.labels[rg.label].name, Phase::Range, 0, 0.0, 0.0});
    OpStats& r = ranges_[it->second];
    ++r.calls;
    r.cpu_ms += s.marks[rg.end].t_ms - s.marks[rg.begin].t_ms;
    r.cuda_ms += cuda_ms[rg.end] - cuda_ms[rg.begin];
  }
  num_marks_ = static_cast<int64_t>(n);
  has_results_ = true;
}

void Profile::check_stopped(const char* what) const {
  WICK_CHECK(!running(), "profiler::Profile::", what, ": the profile is still running (call stop() first)");
  WICK_CHECK(has_results_, "profiler::Profile::", what, ": nothing was profiled yet (start(), run, stop())");
}

const std::vector<OpStats>& Profile::ops() const {
  check_stopped("ops");
  return ops_;
}
const std::vector<OpStats>& Profile::ranges() const {
  check_stopped("ranges");
  return ranges_;
}
double Profile::total_cpu_ms() const {
  check_stopped("total_cpu_ms");
  return total_cpu_ms_;
}
double Profile::total_cuda_ms() const {
  check_stopped("total_cuda_ms");
  return total_cuda_ms_;
}
int64_t Profile::num_marks() const {
  check_stopped("num_marks");
  return num_marks_;
}

std::vector<OpStats> Profile::key_averages() const {
  check_stopped("key_averages");
  std::vector<OpStats> rows = ops_;
  const bool dev = use_cuda_;
  std::stable_sort(rows.begin(), rows.end(), [dev](const OpStats& a, const OpStats& b) {
    return dev ? a.cuda_ms > b.cuda_ms : a.cpu_ms > b.cpu_ms;
  });
  return rows;
}

std::string Profile::table(int row_limit) const {
  const std::vector<OpStats> rows = key_averages();
  std::string out;
  char line[256];
  auto pct = [](double part, double whole) { return whole > 0 ? 100.0 * part / whole : 0.0; };
  std::snprintf(line, sizeof line, "%-34s %-8s %6s %10s %6s", "name", "phase", "calls", "cpu ms", "cpu %");
  out += line;
  if (use_cuda_) {
    std::snprintf(line, sizeof line, " %10s %6s %11s", "cuda ms", "cuda %", "cuda us/call");
    out += line;
  } else {
    std::snprintf(line, sizeof line, " %11s", "cpu us/call");
    out += line;
  }
  out += '\n';
  const size_t shown = std::min(rows.size(), static_cast<size_t>(std::max(row_limit, 0)));
  for (size_t i = 0; i < shown; ++i) {
    const OpStats& r = rows[i];
    std::snprintf(line, sizeof line, "%-34.34s %-8s %6lld %10.3f %6.1f", r.name.c_str(), phase_name(r.phase),
                  static_cast<long long>(r.calls), r.cpu_ms, pct(r.cpu_ms, total_cpu_ms_));
    out += line;
    const double calls = static_cast<double>(std::max<int64_t>(r.calls, 1));
    const double per_call = 1e3 * (use_cuda_ ? r.cuda_ms : r.cpu_ms) / calls;
    if (use_cuda_)
      std::snprintf(line, sizeof line, " %10.3f %6.1f %11.1f", r.cuda_ms, pct(r.cuda_ms, total_cuda_ms_), per_call);
    else
      std::snprintf(line, sizeof line, " %11.1f", per_call);
    out += line;
    out += '\n';
  }
  if (shown < rows.size()) out += str("... ", rows.size() - shown, " more rows\n");
  out += str("total: ", num_marks_ - 1, " intervals, cpu ");
  std::snprintf(line, sizeof line, "%.3f ms", total_cpu_ms_);
  out += line;
  if (use_cuda_) {
    std::snprintf(line, sizeof line, ", cuda %.3f ms", total_cuda_ms_);
    out += line;
  }
  out += '\n';
  if (!ranges_.empty()) {
    out += "ranges (record_function, whole extents):\n";
    for (const OpStats& r : ranges_) {
      std::snprintf(line, sizeof line, "  %-32.32s %6lld calls  cpu %10.3f ms", r.name.c_str(),
                    static_cast<long long>(r.calls), r.cpu_ms);
      out += line;
      if (use_cuda_) {
        std::snprintf(line, sizeof line, "  cuda %10.3f ms", r.cuda_ms);
        out += line;
      }
      out += '\n';
    }
  }
  return out;
}

}  // namespace wick::autograd::profiler
