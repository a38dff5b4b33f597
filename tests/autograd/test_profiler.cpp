// The op profiler (autograd/profiler.h): one row per recorded forward op and
// per backward node, rows that partition the profiled time, ranges, the
// thread and nesting rules, and the errors. The device clock is tested in
// tests/cuda/test_profiler.cpp.
#include "autograd/profiler.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "cuda/cuda.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::autograd::profiler;

namespace {

int64_t calls(const std::vector<OpStats>& rows, const std::string& name, Phase phase) {
  const OpStats* r = find(rows, name, phase);
  return r ? r->calls : 0;
}

int64_t rows_of(const std::vector<OpStats>& rows, Phase phase) {
  int64_t n = 0;
  for (const OpStats& r : rows) n += r.phase == phase;
  return n;
}

Tensor leaf(int64_t n) { return test::randn_t({n, n}, kFloat64, 3, false).requires_grad_(); }

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

}  // namespace

TEST(Profiler, OneRowPerForwardOpAndBackwardNode) {
  const Tensor x = leaf(40);
  Profile p;
  p.start();
  EXPECT_TRUE(p.running());
  const Tensor a = mul(x, x);
  const Tensor b = add(a, x);
  const Tensor c = sum(b);
  c.backward();
  p.stop();
  EXPECT_FALSE(p.running());
  const auto& rows = p.ops();
  EXPECT_EQ(calls(rows, "Mul", Phase::Forward), 1);
  EXPECT_EQ(calls(rows, "Add", Phase::Forward), 1);
  EXPECT_EQ(calls(rows, "Sum", Phase::Forward), 1);
  EXPECT_EQ(rows_of(rows, Phase::Forward), 3);
  EXPECT_EQ(calls(rows, "SumBackward", Phase::Backward), 1);
  EXPECT_EQ(calls(rows, "AddBackward", Phase::Backward), 1);
  EXPECT_EQ(calls(rows, "MulBackward", Phase::Backward), 1);
  EXPECT_EQ(calls(rows, "AccumulateGrad", Phase::Backward), 1);
  EXPECT_EQ(calls(rows, "(autograd engine)", Phase::Backward), 4);  // one before each node
  EXPECT_EQ(calls(rows, "(other)", Phase::Other), 1);                // stop()
  EXPECT_EQ(p.num_marks(), 1 + 3 + 8 + 1);
  // In order of first appearance: the forward first.
  ASSERT_GE(rows.size(), 3u);
  EXPECT_EQ(rows[0].name, "Mul");
  EXPECT_EQ(rows[1].name, "Add");
  EXPECT_EQ(p.total_cuda_ms(), 0.0);
  for (const OpStats& r : rows) EXPECT_EQ(r.cuda_ms, 0.0) << r.name;
}

TEST(Profiler, RowsPartitionTheProfiledTime) {
  const Tensor x = leaf(60);
  Profile p;
  const auto before = std::chrono::steady_clock::now();
  p.start();
  Tensor y = sum(mul(exp(x), x));
  {
    RecordFunction r("sleep");
    sleep_ms(30);  // no op inside: all of it is the range's tail
  }
  y.backward();
  p.stop();
  const double wall = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - before).count();
  double sum_rows = 0.0;
  for (const OpStats& r : p.ops()) {
    EXPECT_GE(r.cpu_ms, 0.0) << r.name;
    sum_rows += r.cpu_ms;
  }
  EXPECT_NEAR(sum_rows, p.total_cpu_ms(), 1e-9);
  EXPECT_LE(p.total_cpu_ms(), wall);
  EXPECT_GE(p.total_cpu_ms(), 30.0);
  const OpStats* tail = find(p.ops(), "sleep", Phase::Range);
  ASSERT_NE(tail, nullptr);
  EXPECT_GE(tail->cpu_ms, 30.0);
  ASSERT_EQ(p.ranges().size(), 1u);
  EXPECT_EQ(p.ranges()[0].name, "sleep");
  EXPECT_EQ(p.ranges()[0].calls, 1);
  EXPECT_GE(p.ranges()[0].cpu_ms, tail->cpu_ms);
  // key_averages: largest host time first (no device clock).
  const auto sorted = p.key_averages();
  EXPECT_EQ(sorted.size(), p.ops().size());
  EXPECT_EQ(sorted[0].name, "sleep");
  for (size_t i = 1; i < sorted.size(); ++i) EXPECT_GE(sorted[i - 1].cpu_ms, sorted[i].cpu_ms);
}

TEST(Profiler, RangesNestAndCountCalls) {
  const Tensor x = leaf(20);
  Profile p;
  p.start();
  {
    RecordFunction outer("step");
    for (int i = 0; i < 3; ++i) {
      RecordFunction inner("op");
      sleep_ms(2);
      (void)mul(x, 2.0);
    }
    sleep_ms(5);
  }
  p.stop();
  const OpStats* outer = find(p.ranges(), "step", Phase::Range);
  const OpStats* inner = find(p.ranges(), "op", Phase::Range);
  ASSERT_NE(outer, nullptr);
  ASSERT_NE(inner, nullptr);
  EXPECT_EQ(outer->calls, 1);
  EXPECT_EQ(inner->calls, 3);
  EXPECT_GE(outer->cpu_ms, inner->cpu_ms + 5.0);
  EXPECT_GE(inner->cpu_ms, 6.0);
  EXPECT_EQ(calls(p.ops(), "Mul", Phase::Forward), 3);
  // The outer range's own row is only its tail (the 5 ms after the last inner range).
  EXPECT_GE(find(p.ops(), "step", Phase::Range)->cpu_ms, 5.0);
  EXPECT_LT(find(p.ops(), "step", Phase::Range)->cpu_ms, outer->cpu_ms);
}

TEST(Profiler, OpsThatRecordNoNodeLayNoMark) {
  const Tensor x = leaf(20);
  Profile p;
  p.start();
  {
    autograd::NoGradGuard g;
    RecordFunction r("eval");
    (void)sum(mul(x, x));
  }
  (void)sum(mul(x.detach(), 2.0));  // nothing requires grad
  p.stop();
  EXPECT_EQ(rows_of(p.ops(), Phase::Forward), 0);
  EXPECT_EQ(rows_of(p.ops(), Phase::Backward), 0);
  EXPECT_EQ(calls(p.ops(), "eval", Phase::Range), 1);
}

TEST(Profiler, BackwardFormulasWithCreateGraphStayInTheirNode) {
  const Tensor x = leaf(10);
  Profile p;
  p.start();
  const Tensor y = sum(mul(mul(x, x), x));
  const auto g = autograd::grad({y}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/true);
  p.stop();
  ASSERT_TRUE(g[0].requires_grad());  // the formulas recorded nodes...
  EXPECT_EQ(calls(p.ops(), "Mul", Phase::Forward), 2);  // ...that are not forward ops
  EXPECT_EQ(calls(p.ops(), "Sum", Phase::Forward), 1);
  EXPECT_EQ(calls(p.ops(), "MulBackward", Phase::Backward), 2);
  EXPECT_EQ(calls(p.ops(), "SumBackward", Phase::Backward), 1);
  // Marks after the formulas ran: ops record again as forward.
  p.start();
  (void)sum(g[0]);
  p.stop();
  EXPECT_EQ(calls(p.ops(), "Sum", Phase::Forward), 1);
}

TEST(Profiler, OnlyTheStartingThreadIsProfiled) {
  const Tensor x = leaf(20);
  Profile p;
  p.start();
  std::thread other([&] {
    RecordFunction r("elsewhere");
    (void)sum(mul(x, x));
  });
  other.join();
  (void)add(x, 1.0);
  p.stop();
  EXPECT_EQ(calls(p.ops(), "Add", Phase::Forward), 1);
  EXPECT_EQ(calls(p.ops(), "Mul", Phase::Forward), 0);
  EXPECT_EQ(calls(p.ops(), "Sum", Phase::Forward), 0);
  EXPECT_TRUE(p.ranges().empty());
}

TEST(Profiler, RestartDropsEarlierResults) {
  const Tensor x = leaf(10);
  Profile p;
  for (int run = 0; run < 2; ++run) {
    p.start();
    (void)mul(x, x);
    p.stop();
    EXPECT_EQ(calls(p.ops(), "Mul", Phase::Forward), 1) << "run " << run;
  }
  // A range still open when its profile stops is dropped, even once a new run started.
  auto r = std::make_unique<RecordFunction>("stale");
  p.start();
  r.reset();
  p.stop();
  EXPECT_TRUE(p.ranges().empty());
}

TEST(Profiler, TableListsRowsTotalsAndRanges) {
  const Tensor x = leaf(30);
  Profile p;
  p.start();
  {
    RecordFunction r("forward");
    sum(mul(x, x)).backward();
  }
  p.stop();
  const std::string t = p.table();
  for (const char* s : {"name", "phase", "calls", "cpu ms", "MulBackward", "Mul ", "total:", "ranges", "forward"})
    EXPECT_NE(t.find(s), std::string::npos) << s << " in\n" << t;
  EXPECT_EQ(t.find("cuda ms"), std::string::npos);
  const std::string one = p.table(1);
  EXPECT_NE(one.find("more rows"), std::string::npos) << one;
}

TEST(Profiler, ErrorsSayWhatToDo) {
  Profile p;
  EXPECT_WICK_ERROR(p.stop(), "not running");
  EXPECT_WICK_ERROR(p.ops(), "nothing was profiled yet");
  p.start();
  EXPECT_WICK_ERROR(p.start(), "already running");
  EXPECT_WICK_ERROR(p.ops(), "still running");
  EXPECT_WICK_ERROR(p.table(), "still running");
  Profile q;
  EXPECT_WICK_ERROR(q.start(), "another profile is running");
  p.stop();
  q.start();  // now it may
  q.stop();
  {
    Profile dropped;
    dropped.start();
  }  // destroyed while running: stops
  EXPECT_FALSE(is_enabled());
  p.start();
  p.stop();
  if (!cuda::is_available()) {
    Profile dev(/*use_cuda=*/true);
    EXPECT_WICK_ERROR(dev.start(), "use_cuda needs a usable CUDA device");
    EXPECT_FALSE(dev.running());
  }
}
