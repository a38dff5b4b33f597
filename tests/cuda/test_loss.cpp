// The CUDA cross entropy (cuda/kernels/loss.cu) through cross_entropy(),
// against the CPU kernel: class dim last and in the middle, unbatched,
// class weights, ignore_index, label smoothing, every reduction, int32
// targets, float16/bfloat16 logits, the fused backward, out-of-range targets,
// and a float64 gradcheck on the device; plus the composed losses on CUDA,
// and autocast's mixed form (16-bit logits, float32 loss).
// Every test skips without a GPU.
#include <gtest/gtest.h>

#include <functional>

#include "autograd/autocast.h"
#include "autograd/engine.h"
#include "autograd/gradcheck.h"
#include "ops/copy.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "ops/nn.h"
#include "ops/reduction.h"
#include "support/cuda_util.h"
#include "support/test_util.h"
#include "tensor/random.h"
#ifdef WICK_WITH_CUDA
#include "cuda/kernels/loss.h"
#include "cuda/kernels/nn.h"
#endif

using namespace wick;
using wick::test::all_close;

namespace {

const Device kCuda("cuda");

using wick::test::normal;

Tensor classes(const Shape& s, int64_t C, uint64_t seed) {
  Generator g(seed);
  return randint(0, C, s, TensorOptions(kInt64), &g);
}

}  // namespace

namespace {

// cross_entropy on the device against the CPU kernel: shapes, dtypes,
// reductions, label smoothing, class weights, an ignored target.
void expect_cross_entropy_matches_cpu() {
  struct Case {
    Shape x, t;
  };
  const std::vector<Case> cases = {{{7, 10}, {7}}, {{64, 1000}, {64}}, {{3, 5, 4}, {3, 4}}, {{2, 7, 3, 2}, {2, 3, 2}},
                                   {{11}, {}}, {{0, 5}, {0}}};
  for (DType dt : {kFloat32, kFloat64})
    for (const Case& cs : cases)
      for (Reduction red : {Reduction::None, Reduction::Sum, Reduction::Mean})
        for (double eps : {0.0, 0.1})
          for (bool weighted : {false, true}) {
            const int64_t C = cs.x.size() == 1 ? cs.x[0] : cs.x[1];
            SCOPED_TRACE(str(dt, " ", shape_str(cs.x), " reduction ", static_cast<int>(red), " eps ", eps,
                             weighted ? " weighted" : ""));
            Tensor x = normal(cs.x, dt, 1, 2.0);
            Tensor t = classes(cs.t, C, 2);
            if (t.numel() > 2) t.reshape({-1}).narrow(0, 1, 1).fill_(-100);  // one ignored target
            Tensor w = weighted ? add(abs(normal({C}, dt, 3)), 0.1) : Tensor();
            Tensor gy = red == Reduction::None ? normal(cs.t, dt, 4) : Tensor();
            auto run = [&](const Device& dev) {
              Tensor xl = x.to(dev).detach().requires_grad_(true);
              Tensor l = cross_entropy(xl, t.to(dev), w.defined() ? w.to(dev) : Tensor(), -100, red, eps);
              (gy.defined() ? sum(mul(l, gy.to(dev))) : l).backward();
              return std::pair{l.detach().cpu(), xl.grad().cpu()};
            };
            const auto c = run(Device(kCPU)), g = run(kCuda);
            const double tol = dt == kFloat64 ? 1e-12 : 2e-5;
            EXPECT_TRUE(all_close(g.first, c.first, tol, tol));
            EXPECT_TRUE(all_close(g.second, c.second, tol, tol));
          }
}

}  // namespace

TEST(CudaLoss, CrossEntropyMatchesTheCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  expect_cross_entropy_matches_cpu();
}

TEST(CudaLoss, CrossEntropyTargetsAndErrors) {
  WICK_SKIP_WITHOUT_CUDA();
  Tensor x = normal({6, 4}, kFloat32, 5).to(kCuda);
  Tensor t64 = tensor({0, 3, 1, 2, 2, 0}, {}, kInt64);
  const double ref = cross_entropy(x.cpu(), t64).item();
  EXPECT_NEAR(cross_entropy(x, t64.to(kInt32).to(kCuda)).item(), ref, 1e-6);  // int32 targets
  EXPECT_WICK_ERROR(cross_entropy(x, tensor({0, 3, 1, 4, 2, 7}, {}, kInt64).to(kCuda)),
                    "cross_entropy: target 4 is out of bounds for 4 classes");
  EXPECT_WICK_ERROR(cross_entropy(x, tensor({0, -2, 1, 2, 2, 0}, {}, kInt64).to(kCuda)), "target -2 is out of bounds");
  EXPECT_WICK_ERROR(cross_entropy(x, t64), "expected all tensors on cuda:0, got cpu");
  // nll_loss on log-probabilities, and its range check, on the device.
  Tensor lp = log_softmax(x, 1);
  EXPECT_NEAR(nll_loss(lp, t64.to(kCuda)).item(), nll_loss(lp.cpu(), t64).item(), 1e-6);
  EXPECT_WICK_ERROR(nll_loss(lp, tensor({0, 3, 1, 4, 2, 0}, {}, kInt64).to(kCuda)), "out of bounds");
}

TEST(CudaLoss, CrossEntropyHalfLogits) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : {kFloat16, kBFloat16}) {
    Tensor x = normal({16, 50}, kFloat32, 6).to(kCuda).to(dt).requires_grad_(true);
    Tensor t = classes({16}, 50, 7).to(kCuda);
    Tensor l = cross_entropy(x, t, Tensor(), -100, Reduction::Mean, 0.1);
    EXPECT_EQ(l.dtype(), dt);
    l.backward();
    Tensor xr = x.detach().to(kFloat32).cpu().requires_grad_(true);
    Tensor lr = cross_entropy(xr, t.cpu(), Tensor(), -100, Reduction::Mean, 0.1);
    lr.backward();
    const double tol = dt == kFloat16 ? 5e-3 : 3e-2;
    EXPECT_NEAR(l.item(), lr.item(), tol * std::abs(lr.item()) + tol) << dt;
    EXPECT_TRUE(all_close(x.grad().to(kFloat32).cpu(), xr.grad(), tol, tol)) << dt;
  }
}

TEST(CudaLoss, GradcheckFloat64OnTheDevice) {
  WICK_SKIP_WITHOUT_CUDA();
  Tensor t = tensor({2, 0, 4, -100, 1}, {}, kInt64).to(kCuda);
  Tensor w = add(abs(normal({5}, kFloat64, 8)), 0.5).to(kCuda);
  auto on_gpu = [](std::function<Tensor(const Tensor&)> f) {
    return [f](const tensor_list& in) { return f(in[0].to(kCuda)).to(kCPU); };
  };
  Tensor x = wick::test::rand_f64({5, 5}, 9);
  for (double eps : {0.0, 0.2}) {
    EXPECT_TRUE(gradcheck(on_gpu([&](const Tensor& v) { return cross_entropy(v, t, w, -100, Reduction::Mean, eps); }), {x}));
    EXPECT_TRUE(gradcheck(on_gpu([&](const Tensor& v) { return cross_entropy(v, t, Tensor(), -100, Reduction::None, eps); }), {x}));
  }
}

TEST(CudaLoss, ComposedLossesRunOnTheDevice) {
  WICK_SKIP_WITHOUT_CUDA();
  Tensor a = normal({4, 6}, kFloat32, 10), b = normal({4, 6}, kFloat32, 11);
  auto check = [&](const std::function<Tensor(const Tensor&, const Tensor&)>& f) {
    Tensor g = f(a.to(kCuda), b.to(kCuda));
    EXPECT_TRUE(g.is_cuda());
    EXPECT_TRUE(all_close(g.cpu(), f(a, b), 2e-6, 2e-6));
  };
  check([](const Tensor& x, const Tensor& y) { return mse_loss(x, y); });
  check([](const Tensor& x, const Tensor& y) { return l1_loss(x, y, Reduction::Sum); });
  check([](const Tensor& x, const Tensor& y) { return smooth_l1_loss(x, y, Reduction::Mean, 0.5); });
  check([](const Tensor& x, const Tensor& y) { return cosine_similarity(x, y, 1); });
  // Cross entropy with class probabilities is composed (log_softmax on the device).
  check([](const Tensor& x, const Tensor& y) { return cross_entropy(x, softmax(y, 1)); });
}

#ifdef WICK_WITH_CUDA
// cuda::cross_entropy_16bit: under autocast the fused kernels read 16-bit
// logits as they are, with float32 math, lse and loss. Casting 16-bit values
// to float32 is exact and both forms run the same float32 arithmetic in the
// same order, so the loss and the logits' gradient (rounded once to the
// logits' dtype either way) must equal the cast-first form bit for bit; the
// gradient of [N, C] logits whose rows are not whole 16 bytes comes with
// padded rows. Vocabularies of 1 and 7 (rows shorter than a 16-byte chunk),
// 1001 and GPT-2's 50257, and logits whose storage starts 6 or 10 bytes off
// 16-byte alignment.
namespace {

void expect_16bit_equals_the_float32_cast() {
  const test::SwitchScope restore(cuda::cross_entropy_16bit, cuda::set_cross_entropy_16bit);
  struct Case {
    Shape x, t;
    int64_t offset = 0;  // elements before the logits in their storage (a contiguous view off alignment)
  };
  const std::vector<Case> cases = {{{37, 1001}, {37}},   {{16, 64}, {16}},     {{3, 7, 5}, {3, 5}}, {{9}, {}},
                                   {{4, 50257}, {4}},    {{5, 1}, {5}},        {{5, 7}, {5}},
                                   {{6, 40}, {6}, 3},    {{5, 301}, {5}, 5}};
  for (DType dt : {kBFloat16, kFloat16})
    for (const Case& cs : cases)
      for (Reduction red : {Reduction::None, Reduction::Mean})
        for (double eps : {0.0, 0.1})
          for (bool weighted : {false, true}) {
            const int64_t C = cs.x.size() == 1 ? cs.x[0] : cs.x[1];
            SCOPED_TRACE(str(dt, " ", shape_str(cs.x), " offset ", cs.offset, " reduction ", static_cast<int>(red),
                             " eps ", eps, weighted ? " weighted" : ""));
            const Tensor x = normal({numel_of(cs.x) + cs.offset}, kFloat32, 21, 3.0)
                                 .to(kCuda)
                                 .to(dt)
                                 .narrow(0, cs.offset, numel_of(cs.x))
                                 .view(cs.x);
            Tensor t = classes(cs.t, C, 22).to(kCuda);
            if (t.numel() > 2) t.reshape({-1}).narrow(0, 1, 1).fill_(-100);
            const Tensor w = weighted ? add(abs(normal({C}, kFloat32, 23)), 0.1).to(kCuda) : Tensor();
            const Tensor gy = red == Reduction::None ? normal(cs.t, kFloat32, 24).to(kCuda) : Tensor();
            auto run = [&](bool mixed) {
              cuda::set_cross_entropy_16bit(mixed);
              Tensor xl = x.detach().requires_grad_(true);
              Tensor l;
              {
                Autocast ac(kCuda, dt);
                l = cross_entropy(xl, t, w, -100, red, eps);
              }
              EXPECT_EQ(l.dtype(), kFloat32);
              const Tensor out = gy.defined() ? sum(mul(l, gy)) : l;
              const Tensor g = autograd::grad({out}, {xl})[0];
              return std::pair{l.detach(), g};
            };
            const auto cast = run(false), mixed = run(true);
            EXPECT_EQ(mixed.second.dtype(), dt);
            EXPECT_EQ(max(abs(sub(mixed.first, cast.first))).item(), 0.0);
            EXPECT_EQ(max(abs(sub(mixed.second.to(kFloat32), cast.second.to(kFloat32)))).item(), 0.0);
            const bool padded = cs.x.size() == 2 && C % 8 != 0;
            EXPECT_EQ(mixed.second.is_contiguous(), !padded);
            if (padded) EXPECT_EQ(mixed.second.stride(0), (C + 7) / 8 * 8);
          }
}

}  // namespace

TEST(CudaLoss, CrossEntropy16BitEqualsTheFloat32Cast) {
  WICK_SKIP_WITHOUT_CUDA();
  expect_16bit_equals_the_float32_cast();
}

// The chunked row sweeps (cuda::set_row_kernels_chunked): the two checks
// above, whose [37, 1001] rows start off 16-byte alignment (scalar loads in
// flight together) and whose float32 and 16-bit forms must still agree bit
// for bit; and a GPT-2-wide row against the CPU.
TEST(CudaLoss, CrossEntropyRowChunks) {
  WICK_SKIP_WITHOUT_CUDA();
  const test::SwitchScope restore(cuda::row_kernels_chunked, cuda::set_row_kernels_chunked);
  cuda::set_row_kernels_chunked(true);
  expect_cross_entropy_matches_cpu();
  expect_16bit_equals_the_float32_cast();
  const Tensor x = normal({5, 50257}, kFloat32, 41, 2.0);
  const Tensor t = classes({5}, 50257, 42);
  auto run = [&](const Device& dev) {
    Tensor xl = x.to(dev).detach().requires_grad_(true);
    Tensor l = cross_entropy(xl, t.to(dev), Tensor(), -100, Reduction::Mean, 0.1);
    l.backward();
    return std::pair{l.detach().cpu(), xl.grad().cpu()};
  };
  const auto c = run(Device(kCPU)), g = run(kCuda);
  EXPECT_TRUE(all_close(g.first, c.first, 2e-5, 2e-5));
  EXPECT_TRUE(all_close(g.second, c.second, 2e-5, 2e-5));
}

// The padded gradient through a language-model head (linear, then cross
// entropy): the head's backward GEMMs read it in place; the weight and input
// gradients match the cast-first form's, and a second derivative
// (create_graph) runs the mixed form's recorded formula.
TEST(CudaLoss, CrossEntropy16BitThroughALinearHead) {
  WICK_SKIP_WITHOUT_CUDA();
  const test::SwitchScope restore(cuda::cross_entropy_16bit, cuda::set_cross_entropy_16bit);
  const int64_t N = 300, D = 64, V = 1001;
  const Tensor h0 = normal({N, D}, kFloat32, 31).to(kCuda);
  const Tensor w0 = mul(normal({V, D}, kFloat32, 32), 0.1).to(kCuda);
  const Tensor t = classes({N}, V, 33).to(kCuda);
  auto run = [&](bool mixed, bool second) {
    cuda::set_cross_entropy_16bit(mixed);
    Tensor h = h0.detach().requires_grad_(true), w = w0.detach().requires_grad_(true);
    Tensor l;
    {
      Autocast ac(kCuda, kBFloat16);
      l = cross_entropy(linear(h, w), t);
    }
    if (second) {
      const Tensor gh = autograd::grad({l}, {h}, {}, true, true)[0];
      sum(mul(gh, gh)).backward();
    } else {
      l.backward();
    }
    return std::tuple{l.item(), h.grad().cpu(), w.grad().cpu()};
  };
  for (bool second : {false, true}) {
    SCOPED_TRACE(second ? "second derivative" : "first derivative");
    const auto [lc, hc, wc] = run(false, second);
    const auto [lm, hm, wm] = run(true, second);
    EXPECT_EQ(lm, lc);
    // The GEMMs may read the operand in another layout (in place vs a copy): float32 sums in another order.
    EXPECT_TRUE(all_close(hm, hc, 1e-2, 1e-5));
    EXPECT_TRUE(all_close(wm, wc, 1e-2, 1e-5));
  }
}
#endif
