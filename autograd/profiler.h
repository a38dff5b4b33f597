// Where a training step's time goes, op by op: torch.autograd.profiler's
// `profile` and `record_function`, on the host clock and, with use_cuda, on
// the device's clock through CUDA events.
//
//   autograd::profiler::Profile prof(/*use_cuda=*/true);
//   prof.start();
//   Tensor loss = cross_entropy(model(x), y);
//   loss.backward();
//   { autograd::profiler::RecordFunction r("optimizer.step"); opt.step(); }
//   prof.stop();
//   std::cout << prof.table();
//
// How time is attributed. The profiler lays marks on one timeline and charges
// each interval between two consecutive marks to the later mark's label, so
// the rows partition the profiled time exactly (they sum to the total):
// - forward: autograd::record() lays a mark as each differentiable op records
//   its node, after the op queued its work: the interval since the previous
//   mark is that op's ("Conv2d" for the node "Conv2dBackward"). Ops that
//   record no node (no input requires grad, or grad mode is off) are charged
//   to the next op that does;
// - backward: the engine lays a mark after each node's backward (the node's
//   name: "Conv2dBackward", "AccumulateGrad") and one before it, which takes
//   the engine's own work since the last node (summing the gradients of
//   tensors used more than once, zero-filling missing ones, hooks) as
//   "(autograd engine)". A backward formula's ops are the node's, even with
//   create_graph=true;
// - RecordFunction: a mark at its start ("(other)": whatever ran since the
//   last mark outside any op) and at its end (its name: the tail after its
//   last op, or all of it when it records no node, as an optimizer step).
//   Its whole extent is also reported on its own (ranges()).
// A mark's host time is the steady clock when it is laid. Its device time
// is a CUDA event recorded on the device current at start(), on that
// device's current stream when the mark is laid (a StreamGuard's, inside
// one): the device time charged to an op is from the moment the device
// reached the previous mark to the moment it reached the op's, so it is the
// op's kernels when the device had work queued, and also includes the time
// it sat idle waiting for the host when it did not (then device and host
// totals come out alike: the step is bound by the host). Work on two
// streams at once is charged by wall time between the marks, not per
// kernel. Only the thread that called start() is profiled, and one Profile
// runs at a time.
// Cost: a relaxed atomic load per op when no profile runs; with one, a
// mutex, a clock read and (use_cuda) an event record per mark.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace wick::autograd::profiler {

enum class Phase { Forward, Backward, Range, Other };
const char* phase_name(Phase p);

// One row: the time charged to a label (ops), or a RecordFunction's extents (ranges).
struct OpStats {
  std::string name;
  Phase phase = Phase::Other;
  int64_t calls = 0;
  double cpu_ms = 0.0;
  double cuda_ms = 0.0;  // 0 without use_cuda
};

// The row of `name` in `phase` among rows (ops() or ranges()), or nullptr.
const OpStats* find(const std::vector<OpStats>& rows, const std::string& name, Phase phase);

class Profile {
 public:
  // use_cuda: time the device too (wick::Error at start() without a usable GPU).
  explicit Profile(bool use_cuda = false);
  ~Profile();  // stops a running profile (its results are dropped)
  Profile(const Profile&) = delete;
  Profile& operator=(const Profile&) = delete;

  // Starts (or restarts, dropping earlier results) on the calling thread.
  // wick::Error if another Profile is running.
  void start();
  // Stops, waits for the device to reach the last mark (use_cuda), and
  // computes the rows. wick::Error if this profile is not running.
  void stop();
  bool running() const;
  bool use_cuda() const { return use_cuda_; }

  // After stop() (wick::Error while running): one row per (label, phase),
  // in order of first appearance; they sum to total_cpu_ms / total_cuda_ms.
  const std::vector<OpStats>& ops() const;
  // One row per RecordFunction name: calls and the summed extents.
  const std::vector<OpStats>& ranges() const;
  // ops() sorted by device time (use_cuda) or host time, largest first.
  std::vector<OpStats> key_averages() const;
  double total_cpu_ms() const;
  double total_cuda_ms() const;
  int64_t num_marks() const;
  // The sorted rows (the first row_limit), their shares and per-call times,
  // the totals, then the ranges: what `print(prof.key_averages().table())` shows.
  std::string table(int row_limit = 30) const;

  struct Session;  // the timeline being recorded (profiler.cpp)

 private:
  void check_stopped(const char* what) const;
  bool use_cuda_;
  std::unique_ptr<Session> session_;
  std::vector<OpStats> ops_, ranges_;
  double total_cpu_ms_ = 0.0, total_cuda_ms_ = 0.0;
  int64_t num_marks_ = 0;
  bool has_results_ = false;
};

// A named range of the profiled thread (torch.autograd.profiler.record_function).
// Ranges nest; each is reported in ranges() and charged its tail in ops().
// Costs one atomic load when no profile runs.
class RecordFunction {
 public:
  explicit RecordFunction(std::string name);
  ~RecordFunction();
  RecordFunction(const RecordFunction&) = delete;
  RecordFunction& operator=(const RecordFunction&) = delete;

 private:
  std::string name_;
  int64_t start_mark_ = -1;  // -1: no profile was running on this thread at construction
  uint64_t generation_ = 0;  // the profile run it belongs to
};

// The hooks autograd calls (not for users).
bool is_enabled();
// An op recorded its node `node_name` (forward; skipped inside a backward formula).
void mark_forward(const char* node_name);
// Around one node's backward in the engine: the "(autograd engine)" mark on
// construction, the node's mark on destruction; in between, the ops its
// formula runs (and records, with create_graph) lay no forward marks.
class BackwardScope {
 public:
  explicit BackwardScope(const std::string& node_name);
  ~BackwardScope();
  BackwardScope(const BackwardScope&) = delete;
  BackwardScope& operator=(const BackwardScope&) = delete;

 private:
  const std::string& name_;
};

}  // namespace wick::autograd::profiler
