// The fused CUDA optimizer steps (cuda/kernels/optim.cu) against the fused
// CPU kernels and the composed path on the device: SGD (momentum, nesterov,
// weight decay, maximize), Adam/AdamW (amsgrad, weight decay) and Lion, in
// float32 and float64, over many parameters of odd sizes (an empty one
// included). The steps perform the same IEEE operations on both devices
// (no FMA contraction), so parameters and state must be bit-identical.
// Skips without a GPU.
#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "ops/copy.h"
#include "optim/adam.h"
#include "optim/lion.h"
#include "optim/sgd.h"
#include "support/cuda_util.h"
#include "support/test_util.h"

using namespace wick;
using wick::test::all_equal;

namespace {

const Device kCuda("cuda");

using MakeOpt = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>;

// 3 steps on `dev` from the same parameters and gradients; returns the parameters.
std::vector<Tensor> run(const MakeOpt& make, DType dt, const Device& dev, bool fused) {
  const std::vector<Shape> shapes = {{7}, {33, 5}, {0}, {1}, {1000}, {3, 3, 3}};
  std::vector<Tensor> params;
  for (size_t i = 0; i < shapes.size(); ++i)
    params.push_back(wick::test::randn_t(shapes[i], dt, 10 + i, false).to(dev).requires_grad_(true));
  auto opt = make(params);
  opt->set_fused(fused);
  for (int step = 0; step < 3; ++step) {
    for (size_t i = 0; i < params.size(); ++i)
      params[i].set_grad(wick::test::randn_t(shapes[i], dt, 100 * step + i, false).to(dev));
    opt->step();
  }
  std::vector<Tensor> out;
  for (const Tensor& p : params) out.push_back(p.detach().cpu());
  return out;
}

void expect_identical(const MakeOpt& make, const char* what) {
  for (DType dt : {kFloat32, kFloat64}) {
    SCOPED_TRACE(str(what, " ", dt));
    const auto cpu_fused = run(make, dt, Device(kCPU), true);
    const auto gpu_fused = run(make, dt, kCuda, true);
    const auto gpu_composed = run(make, dt, kCuda, false);
    for (size_t i = 0; i < cpu_fused.size(); ++i) {
      EXPECT_TRUE(all_equal(gpu_fused[i], cpu_fused[i])) << "param " << i << " (CUDA fused vs CPU fused)";
      EXPECT_TRUE(all_equal(gpu_fused[i], gpu_composed[i])) << "param " << i << " (CUDA fused vs CUDA composed)";
    }
  }
}

}  // namespace

TEST(CudaOptim, SgdMatchesTheCpuBitForBit) {
  WICK_SKIP_WITHOUT_CUDA();
  expect_identical([](std::vector<Tensor> p) { return std::make_unique<optim::SGD>(p, optim::SGDOptions{.lr = 0.1}); },
                   "sgd");
  expect_identical([](std::vector<Tensor> p) {
    return std::make_unique<optim::SGD>(p, optim::SGDOptions{.lr = 0.05, .momentum = 0.9, .dampening = 0.1,
                                                             .weight_decay = 1e-2, .maximize = true});
  }, "sgd momentum wd maximize");
  expect_identical([](std::vector<Tensor> p) {
    return std::make_unique<optim::SGD>(p, optim::SGDOptions{.lr = 0.05, .momentum = 0.9, .nesterov = true});
  }, "sgd nesterov");
}

TEST(CudaOptim, AdamAndAdamWMatchTheCpuBitForBit) {
  WICK_SKIP_WITHOUT_CUDA();
  expect_identical([](std::vector<Tensor> p) {
    return std::make_unique<optim::Adam>(p, optim::AdamOptions{.lr = 1e-2, .weight_decay = 1e-2});
  }, "adam l2");
  expect_identical([](std::vector<Tensor> p) {
    return std::make_unique<optim::AdamW>(p, optim::AdamWOptions{.lr = 1e-2, .weight_decay = 0.1, .amsgrad = true});
  }, "adamw amsgrad");
  expect_identical([](std::vector<Tensor> p) {
    return std::make_unique<optim::Adam>(p, optim::AdamOptions{.lr = 1e-3, .maximize = true});
  }, "adam maximize");
}

TEST(CudaOptim, LionMatchesTheCpuBitForBit) {
  WICK_SKIP_WITHOUT_CUDA();
  expect_identical([](std::vector<Tensor> p) {
    return std::make_unique<optim::Lion>(p, optim::LionOptions{.lr = 1e-3, .weight_decay = 0.5});
  }, "lion");
  expect_identical([](std::vector<Tensor> p) { return std::make_unique<optim::Lion>(p, optim::LionOptions{.lr = 3e-4}); },
                   "lion no wd");
}
