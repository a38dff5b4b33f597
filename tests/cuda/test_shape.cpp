// The shape ops on CUDA (cat, stack, repeat, constant pad, flip, roll: copy
// kernels and index_select on the device) against the CPU, forward and
// backward, and reflect pad's clear CPU-only error. Skips without a GPU.
#include <gtest/gtest.h>

#include <functional>

#include "ops/copy.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/reduction.h"
#include "ops/shape.h"
#include "ops/view.h"
#include "support/cuda_util.h"
#include "support/test_util.h"

using namespace wick;
using wick::test::all_equal;

namespace {

const Device kCuda("cuda");

// f on the CPU and on CUDA: equal outputs and equal gradients of sum(f(x) * w).
void expect_same(const std::function<Tensor(const Tensor&)>& f, const Tensor& x) {
  auto run = [&](const Device& dev) {
    Tensor xl = x.to(dev).detach().requires_grad_(true);
    Tensor y = f(xl);
    Tensor w = wick::test::randn_t(y.sizes(), kFloat64, 7, false).to(dev);
    sum(mul(y, w)).backward();
    return std::pair{y.detach().cpu(), xl.grad().cpu()};
  };
  const auto c = run(Device(kCPU)), g = run(kCuda);
  EXPECT_TRUE(all_equal(g.first, c.first));
  EXPECT_TRUE(wick::test::all_close(g.second, c.second, 1e-12, 1e-12));
}

}  // namespace

TEST(CudaShape, CopyBasedShapeOpsMatchTheCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  const Tensor x = wick::test::randn_t({3, 4, 5}, kFloat64, 1, false);
  expect_same([](const Tensor& t) { return cat({t, mul(t, 2.0), t.narrow(1, 0, 2)}, 1); }, x);
  expect_same([](const Tensor& t) { return cat({t.transpose(0, 2), t.transpose(0, 2)}, 2); }, x);
  expect_same([](const Tensor& t) { return stack({t, t}, 1); }, x);
  expect_same([](const Tensor& t) { return repeat(t, {2, 1, 3}); }, x);
  expect_same([](const Tensor& t) { return repeat(t, {2, 1, 1, 2}); }, x);
  expect_same([](const Tensor& t) { return pad(t, {1, 2, 0, 3}, "constant", 0.5); }, x);
  expect_same([](const Tensor& t) { return pad(t, {-1, 2, 1, -2}, "constant", -1.0); }, x);
  expect_same([](const Tensor& t) { return flip(t, {0, 2}); }, x);
  expect_same([](const Tensor& t) { return flip(t.transpose(1, 2), {1}); }, x);
  expect_same([](const Tensor& t) { return roll(t, {2, -1}, {2, 0}); }, x);
  expect_same([](const Tensor& t) { return roll(t, {7}, {}); }, x);
  // Mixed dtypes in cat promote, as on the CPU.
  Tensor a = ones({2, 2}, TensorOptions(kInt64).device(kCuda)), b = full({1, 2}, 0.5, TensorOptions(kFloat32).device(kCuda));
  EXPECT_TRUE(all_equal(cat({a, b}, 0).cpu(), cat({a.cpu(), b.cpu()}, 0)));
}

TEST(CudaShape, ReflectPadIsCpuOnly) {
  WICK_SKIP_WITHOUT_CUDA();
  Tensor x = ones({1, 2, 5}, TensorOptions(kFloat32).device(kCuda));
  EXPECT_WICK_ERROR(pad(x, {1, 1}, "reflect"), "no kernel for device cuda:0");
}
