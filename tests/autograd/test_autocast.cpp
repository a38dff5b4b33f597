// Autocast's scope state (nesting, enabled=false, per thread, the errors) and
// what can be checked without a GPU: a CUDA scope leaves CPU tensors alone,
// ops run once under a Cast, and the engine suspends autocast during
// backward. The casting itself is tested on the device in
// tests/cuda/test_amp.cpp.
#include <gtest/gtest.h>

#include <thread>

#include "autograd/autocast.h"
#include "ops/elementwise.h"
#include "ops/linalg.h"
#include "ops/loss.h"
#include "ops/nn.h"
#include "ops/reduction.h"
#include "support/test_util.h"

using namespace wick;
using autograd::AutocastMode;
using autograd::AutocastSuspend;
using wick::test::all_equal;

namespace {
constexpr DeviceType kCudaType = DeviceType::CUDA;
}

TEST(Autocast, ScopesNestAndRestore) {
  EXPECT_FALSE(AutocastMode::is_enabled(kCudaType));
  {
    Autocast outer(Device("cuda"), kBFloat16);
    EXPECT_TRUE(AutocastMode::is_enabled(kCudaType));
    EXPECT_EQ(AutocastMode::dtype(kCudaType), kBFloat16);
    EXPECT_FALSE(AutocastMode::is_enabled(DeviceType::CPU));
    {
      Autocast inner(Device("cuda:0"), kFloat16);
      EXPECT_EQ(AutocastMode::dtype(kCudaType), kFloat16);
      {
        Autocast off(Device("cuda"), kFloat16, /*enabled=*/false);
        EXPECT_FALSE(AutocastMode::is_enabled(kCudaType));
      }
      EXPECT_TRUE(AutocastMode::is_enabled(kCudaType));
      {
        AutocastSuspend s;
        EXPECT_FALSE(AutocastMode::is_enabled(kCudaType));
      }
      EXPECT_TRUE(AutocastMode::is_enabled(kCudaType));
    }
    EXPECT_EQ(AutocastMode::dtype(kCudaType), kBFloat16);
  }
  EXPECT_FALSE(AutocastMode::is_enabled(kCudaType));
}

TEST(Autocast, StateIsPerThread) {
  Autocast ac(Device("cuda"), kBFloat16);
  bool other = true;
  std::thread t([&] { other = AutocastMode::is_enabled(kCudaType); });
  t.join();
  EXPECT_FALSE(other);
  EXPECT_TRUE(AutocastMode::is_enabled(kCudaType));
}

TEST(Autocast, Errors) {
  EXPECT_THROW(Autocast(Device("cuda"), kFloat32), Error);
  EXPECT_THROW(Autocast(Device("cuda"), kFloat64), Error);
  try {
    Autocast ac(Device("cpu"), kBFloat16);
    FAIL() << "a CPU autocast scope must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA"), std::string::npos) << e.what();
  }
  // A disabled CPU scope is allowed (it changes nothing).
  EXPECT_NO_THROW(Autocast(Device("cpu"), kBFloat16, /*enabled=*/false));
  EXPECT_FALSE(AutocastMode::is_enabled(kCudaType));
}

TEST(Autocast, CudaScopeLeavesCpuTensorsAlone) {
  const Tensor x = wick::test::randn_t({5, 7}, kFloat32, 1, false);
  const Tensor w = wick::test::randn_t({3, 7}, kFloat32, 2, false);
  const Tensor b = wick::test::randn_t({3}, kFloat32, 3, false);
  const Tensor target = tensor({0, 2, 1, 1, 0}, {}, kInt64);
  auto run = [&] {
    Tensor y = linear(x, w, b);
    return std::vector<Tensor>{y, matmul(x, w.t()), softmax(y, 1), sum(y), cross_entropy(y, target),
                               layer_norm(x, {7})};
  };
  const std::vector<Tensor> plain = run();
  Autocast ac(Device("cuda"), kFloat16);
  const std::vector<Tensor> scoped = run();
  for (size_t i = 0; i < plain.size(); ++i) {
    EXPECT_EQ(scoped[i].dtype(), kFloat32) << i;
    EXPECT_TRUE(all_equal(scoped[i], plain[i])) << i;
  }
}

TEST(Autocast, CastIsActiveOnlyForFloatingInputsOnTheScopeDevice) {
  const Tensor f = wick::test::randn_t({2}, kFloat32, 1, false);
  const Tensor i = tensor({1, 2}, {}, kInt64);
  {
    autocast::Cast c{f};
    EXPECT_FALSE(c) << "no scope";
  }
  Autocast ac(Device("cuda"), kBFloat16);
  autocast::Cast c{f, i};
  EXPECT_FALSE(c) << "CPU tensors in a CUDA scope";
  EXPECT_TRUE(c.lower(f).is_same(f));
  EXPECT_TRUE(c.fp32(f).is_same(f));
  EXPECT_TRUE(AutocastMode::is_enabled(kCudaType)) << "an inactive Cast must not suspend autocast";
}

TEST(Autocast, EngineSuspendsAutocastDuringBackward) {
  Tensor w = wick::test::randn_t({4}, kFloat64, 5, true);
  std::vector<bool> seen;
  Tensor y = mul(w, 2.0);
  y.register_hook([&](const Tensor& g) {
    seen.push_back(AutocastMode::is_enabled(kCudaType));
    return g;
  });
  Autocast ac(Device("cuda"), kBFloat16);
  sum(y).backward();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_FALSE(seen[0]);
  EXPECT_TRUE(AutocastMode::is_enabled(kCudaType)) << "restored after backward";
}
