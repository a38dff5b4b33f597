// The shape ops on CUDA (cat, stack, repeat, constant pad, flip, roll: copy
// kernels and index_select on the device; reflect pad: cuda/kernels/shape.cu)
// against the CPU, forward and backward, and float64 gradchecks of reflect
// pad on the device. Skips without a GPU.
#include <gtest/gtest.h>

#include <functional>

#include "autograd/gradcheck.h"
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

TEST(CudaShape, ReflectPadMatchesTheCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  const Tensor x = wick::test::randn_t({2, 3, 5, 6, 7}, kFloat64, 2, false);
  const Tensor cube = wick::test::randn_t({2, 3, 7, 7, 7}, kFloat64, 8, false);
  // 1, 2 and 3 padded dims; pads up to size - 1, zero pads, asymmetric pads.
  for (const std::vector<int64_t>& p : std::vector<std::vector<int64_t>>{
           {1, 2}, {6, 6}, {0, 3}, {0, 0}, {2, 1, 4, 0}, {6, 5, 4, 4}, {1, 1, 2, 3, 4, 2}, {0, 6, 0, 5, 0, 4}}) {
    SCOPED_TRACE(str("pads ", p.size(), " first ", p[0], " second ", p[1]));
    expect_same([&p](const Tensor& t) { return pad(t, p, "reflect"); }, x);
    // Non-contiguous input.
    expect_same([&p](const Tensor& t) { return pad(t.transpose(2, 4), p, "reflect"); }, cube);
  }
  // Size-1 dims (pad 0 only), few dims, a big batch.
  expect_same([](const Tensor& t) { return pad(t, {2, 1, 0, 0}, "reflect"); }, wick::test::randn_t({4, 1, 5}, kFloat64, 3, false));
  expect_same([](const Tensor& t) { return pad(t, {3, 2}, "reflect"); }, wick::test::randn_t({4}, kFloat64, 4, false));
  expect_same([](const Tensor& t) { return pad(t, {1, 2, 2, 1}, "reflect"); }, wick::test::randn_t({300, 4, 9}, kFloat64, 5, false));
  expect_same([](const Tensor& t) { return pad(t, {1, 1}, "reflect"); }, zeros({0, 4}, kFloat64));
  // Every dtype moves bit for bit.
  const Tensor v = round(mul(wick::test::randn_t({3, 4, 5}, kFloat64, 6, false), 5.0));
  for (DType dt : {kFloat32, kInt32, kInt64, kUInt8, kBool}) {
    Tensor xd = dt == kBool ? gt(v, 0.0) : dt == kUInt8 ? abs(v).to(dt) : v.to(dt);
    EXPECT_TRUE(all_equal(pad(xd.to(kCuda), {2, 3, 1, 1}, "reflect").cpu(), pad(xd, {2, 3, 1, 1}, "reflect")));
  }
  for (DType dt : {kFloat16, kBFloat16}) {
    Tensor h = v.to(kCuda).to(dt);
    EXPECT_TRUE(all_equal(pad(h, {4, 1, 0, 2}, "reflect").to(kFloat32).cpu(),
                          pad(h.to(kFloat32).cpu(), {4, 1, 0, 2}, "reflect")));
    // The backward in float32 accumulation: the sums of at most 9 terms, close to the CPU's.
    Tensor hl = h.detach().requires_grad_(true);
    Tensor w = wick::test::randn_t({3, 6, 10}, kFloat32, 7, false);
    sum(mul(pad(hl, {4, 1, 0, 2}, "reflect"), w.to(kCuda).to(dt))).backward();
    Tensor c = h.to(kFloat32).cpu().detach().requires_grad_(true);
    sum(mul(pad(c, {4, 1, 0, 2}, "reflect"), w.to(kCuda).to(dt).to(kFloat32).cpu())).backward();
    EXPECT_TRUE(wick::test::all_close(hl.grad().to(kFloat32).cpu(), c.grad(), 5e-2, 2e-2));
  }
  // The checks of the CPU apply on the device.
  EXPECT_WICK_ERROR(pad(ones({1, 2, 5}, TensorOptions(kFloat32).device(kCuda)), {5, 1}, "reflect"),
                    "padding size should be less than the corresponding input dimension");
}

TEST(CudaShape, ReflectPadGradcheckFloat64OnTheDevice) {
  WICK_SKIP_WITHOUT_CUDA();
  auto on_gpu = [](std::function<Tensor(const Tensor&)> f) {
    return [f](const tensor_list& in) { return f(in[0].to(kCuda)).to(kCPU); };
  };
  const Tensor x = wick::test::rand_f64({2, 3, 4, 5});
  EXPECT_TRUE(gradcheck(on_gpu([](const Tensor& t) { return pad(t, {2, 3}, "reflect"); }), {x}));
  EXPECT_TRUE(gradcheck(on_gpu([](const Tensor& t) { return pad(t, {1, 3, 3, 2}, "reflect"); }), {x}));
  EXPECT_TRUE(gradcheck(on_gpu([](const Tensor& t) { return pad(t, {4, 1, 3, 0, 1, 2}, "reflect"); }), {x}));
  // The backward's own backward is reflect pad again.
  EXPECT_TRUE(gradgradcheck(on_gpu([](const Tensor& t) { return pad(t, {2, 1, 1, 3}, "reflect"); }), {x}));
}
