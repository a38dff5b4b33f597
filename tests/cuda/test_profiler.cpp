// The op profiler on the device clock (autograd/profiler.h with use_cuda):
// the device time between marks goes to the op that queued the work, the
// rows partition the device time, ranges measure their extents on the
// device, also on a stream a StreamGuard made current. The
// host-side rules are tested in tests/autograd/test_profiler.cpp.
#include "autograd/profiler.h"

#include <gtest/gtest.h>

#include <chrono>

#include "cuda/cuda.h"
#include "cuda/stream.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/linalg.h"
#include "ops/reduction.h"
#include "support/cuda_util.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::autograd::profiler;

TEST(CudaProfiler, DeviceTimeGoesToTheOpThatQueuedIt) {
  WICK_SKIP_WITHOUT_CUDA();
  const Tensor x = test::randn_t({2048, 2048}, kFloat32, 5, false).to(Device("cuda")).requires_grad_();
  // Once unprofiled first: a kernel's first launch loads its module (lazy loading), host time that the
  // device clock between two marks would count against the op (a first sum measured 32 ms on an H200).
  sum(matmul(x, x)).backward();
  x.set_grad(Tensor());
  cuda::synchronize();
  Profile p(/*use_cuda=*/true);
  EXPECT_TRUE(p.use_cuda());
  const auto before = std::chrono::steady_clock::now();
  p.start();
  const Tensor y = matmul(x, x);  // 17 GFLOP: the device is busy long after the host moved on
  const Tensor s = sum(y);
  s.backward();
  p.stop();
  const double wall = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - before).count();
  const OpStats* mm = find(p.ops(), "Mm", Phase::Forward);
  const OpStats* sm = find(p.ops(), "Sum", Phase::Forward);
  const OpStats* mmb = find(p.ops(), "MmBackward", Phase::Backward);
  ASSERT_NE(mm, nullptr);
  ASSERT_NE(sm, nullptr);
  ASSERT_NE(mmb, nullptr);
  EXPECT_GT(mm->cuda_ms, 0.0);
  EXPECT_GT(mm->cuda_ms, sm->cuda_ms);    // one matmul against one sum over its output
  EXPECT_GT(mmb->cuda_ms, sm->cuda_ms);   // two matmuls in the backward
  double sum_rows = 0.0;
  for (const OpStats& r : p.ops()) {
    EXPECT_GE(r.cuda_ms, 0.0) << r.name;
    sum_rows += r.cuda_ms;
  }
  EXPECT_NEAR(sum_rows, p.total_cuda_ms(), 1e-6);
  // The device reached the first mark after start() was called and the last before stop() returned.
  EXPECT_LE(p.total_cuda_ms(), wall);
  EXPECT_NE(p.table().find("cuda ms"), std::string::npos);
}

TEST(CudaProfiler, RangesMeasureTheirDeviceExtent) {
  WICK_SKIP_WITHOUT_CUDA();
  const Tensor a = test::randn_t({1024, 1024}, kFloat32, 6, false).to(Device("cuda"));
  Profile p(/*use_cuda=*/true);
  p.start();
  {
    RecordFunction r("matmuls");
    Tensor acc = a;
    for (int i = 0; i < 8; ++i) acc = matmul(acc, a);  // no grad: no op marks inside
  }
  {
    RecordFunction r("synchronized");
    (void)matmul(a, a);
    cuda::synchronize();
  }
  p.stop();
  const OpStats* mms = find(p.ranges(), "matmuls", Phase::Range);
  const OpStats* syn = find(p.ranges(), "synchronized", Phase::Range);
  ASSERT_NE(mms, nullptr);
  ASSERT_NE(syn, nullptr);
  EXPECT_GT(mms->cuda_ms, 0.0);
  // Nothing inside was marked, so the whole range is its row in ops().
  EXPECT_NEAR(find(p.ops(), "matmuls", Phase::Range)->cuda_ms, mms->cuda_ms, 1e-6);
  // A range the host waits out lasts at least as long on the host as on the device.
  EXPECT_LE(syn->cuda_ms, syn->cpu_ms + 0.05);
}

TEST(CudaProfiler, SeesTheStreamCurrentAtStart) {
  WICK_SKIP_WITHOUT_CUDA();
  const Tensor a = test::randn_t({2048, 2048}, kFloat32, 7, false).to(Device("cuda"));
  cuda::Stream side;
  Profile p(/*use_cuda=*/true);
  p.start();
  {
    cuda::StreamGuard g(side);
    RecordFunction r("elsewhere");
    for (int i = 0; i < 4; ++i) (void)matmul(a, a);
  }
  p.stop();
  side.synchronize();
  // The range's events went on `side` (the current stream when they were laid), so it measures its work.
  const OpStats* r = find(p.ranges(), "elsewhere", Phase::Range);
  ASSERT_NE(r, nullptr);
  EXPECT_GT(r->cuda_ms, 0.0);
}
