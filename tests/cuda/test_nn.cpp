// The CUDA softmax / log_softmax and layer_norm / rms_norm kernels
// (cuda/kernels/nn.cu) through the ops, against the CPU kernels: last and
// inner dims, odd and empty sizes, non-contiguous inputs, -inf and NaN,
// float16/bfloat16, the fused first-order backward, and float64 gradchecks
// on the device. Every test skips without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "autograd/gradcheck.h"
#include "ops/copy.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/nn.h"
#include "ops/reduction.h"
#include "ops/view.h"
#include "support/cuda_util.h"
#include "support/test_util.h"
#include "tensor/random.h"
#ifdef WICK_WITH_CUDA
#include "cuda/kernels/nn.h"
#endif

using namespace wick;
using wick::test::all_close;
using wick::test::all_equal;

namespace {

const Device kCuda("cuda");

using wick::test::normal;

double tol(DType dt) { return dt == kFloat64 ? 1e-12 : 2e-6; }

// y = f(x) and dL/dx for L = sum(y * w), on the GPU and on the CPU.
struct Pass {
  Tensor y, gx;
};
Pass forward_backward(const std::function<Tensor(const Tensor&)>& f, const Tensor& x, const Tensor& w) {
  Tensor xl = x.detach().requires_grad_(true);
  Tensor y = f(xl);
  sum(mul(y, w)).backward();
  return {y.detach(), xl.grad()};
}

void expect_matches_cpu(const std::function<Tensor(const Tensor&)>& f, const Tensor& x_cpu, double t) {
  const Tensor w = normal(f(x_cpu).sizes(), x_cpu.dtype(), 99);
  const Pass c = forward_backward(f, x_cpu, w);
  const Pass g = forward_backward(f, x_cpu.to(kCuda), w.to(kCuda));
  ASSERT_TRUE(g.y.is_cuda());
  EXPECT_TRUE(all_close(g.y.cpu(), c.y, t, t));
  ASSERT_TRUE(g.gx.defined());
  EXPECT_TRUE(all_close(g.gx.cpu(), c.gx, t, t));
}

}  // namespace

namespace {

void expect_softmax_every_dim_matches_cpu() {
  const std::vector<Shape> shapes = {{7}, {3, 1000}, {4, 5, 6}, {2, 4097}, {33, 2, 17}, {1, 1}};
  for (DType dt : {kFloat32, kFloat64})
    for (const Shape& s : shapes)
      for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d)
        for (bool log : {false, true}) {
          SCOPED_TRACE(str(dt, " ", shape_str(s), " dim ", d, log ? " log_softmax" : " softmax"));
          auto f = [d, log](const Tensor& x) { return log ? log_softmax(x, d) : softmax(x, d); };
          expect_matches_cpu(f, normal(s, dt, 1 + d, 3.0), tol(dt));
        }
}

}  // namespace

TEST(CudaNn, SoftmaxAndLogSoftmaxEveryDimMatchTheCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  expect_softmax_every_dim_matches_cpu();
}

#ifdef WICK_WITH_CUDA
// The chunked row sweeps (cuda::set_row_kernels_chunked): every dim and
// shape above (the rows of [2, 4097], [33, 2, 17], [4, 5, 6] and [7] start
// off a chunk's alignment), and 16-bit rows against the CPU on their rounded
// values.
TEST(CudaNn, SoftmaxRowChunks) {
  WICK_SKIP_WITHOUT_CUDA();
  const test::SwitchScope restore(cuda::row_kernels_chunked, cuda::set_row_kernels_chunked);
  cuda::set_row_kernels_chunked(true);
  expect_softmax_every_dim_matches_cpu();
  for (DType dt : {kFloat16, kBFloat16}) {
    const double t = dt == kFloat16 ? 2e-3 : 1.6e-2;
    const Tensor x = normal({5, 301}, kFloat32, 17, 2.0).to(kCuda).to(dt);
    const Tensor xr = x.to(kFloat32).cpu();
    for (bool log : {false, true}) {
      SCOPED_TRACE(str(dt, log ? " log_softmax" : " softmax"));
      auto f = [log](const Tensor& v) { return log ? log_softmax(v, 1) : softmax(v, 1); };
      const Tensor w = normal({5, 301}, kFloat32, 18);
      const Pass g = forward_backward(f, x, w.to(kCuda).to(dt));
      const Pass c = forward_backward(f, xr, w.to(kCuda).to(dt).to(kFloat32).cpu());
      EXPECT_TRUE(all_close(g.y.to(kFloat32).cpu(), c.y, t, t));
      EXPECT_TRUE(all_close(g.gx.to(kFloat32).cpu(), c.gx, 4 * t, 4 * t));
    }
  }
}
#endif

TEST(CudaNn, SoftmaxEdgeCases) {
  WICK_SKIP_WITHOUT_CUDA();
  // A 0-d tensor, an empty tensor, a transposed (non-contiguous) input.
  Tensor s = scalar_tensor(2.5, TensorOptions(kFloat32));
  EXPECT_TRUE(all_equal(softmax(s.to(kCuda), 0).cpu(), softmax(s, 0)));
  EXPECT_EQ(softmax(empty({0, 5}, TensorOptions(kFloat32).device(kCuda)), 1).numel(), 0);
  Tensor x = normal({6, 9}, kFloat32, 3);
  EXPECT_TRUE(all_close(softmax(x.to(kCuda).t(), 1).cpu(), softmax(x.t(), 1), 2e-6, 2e-6));
  // Large values (stability), -inf (a masked entry), a row of NaN.
  Tensor v = tensor({1e4, 1e4 - 1, -1e4, 3.0, -std::numeric_limits<double>::infinity(), 0.5,
                     std::nan(""), 1.0, 2.0}, {}, kFloat32)
                 .reshape({3, 3});
  for (int64_t d : {0, 1})
    for (bool log : {false, true}) {
      Tensor c = log ? log_softmax(v, d) : softmax(v, d), g = (log ? log_softmax(v.to(kCuda), d) : softmax(v.to(kCuda), d)).cpu();
      EXPECT_TRUE(all_equal(isnan(g), isnan(c))) << d << log;
      EXPECT_TRUE(all_close(where(isnan(c), 0.0, c), where(isnan(g), 0.0, g), 2e-6, 2e-6)) << d << log;
    }
}

TEST(CudaNn, HalfPrecisionSoftmaxAndLayerNorm) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : {kFloat16, kBFloat16}) {
    const double t = dt == kFloat16 ? 2e-3 : 1.6e-2;
    Tensor x = normal({5, 300}, kFloat32, 7, 2.0).to(kCuda).to(dt);
    Tensor xr = x.to(kFloat32).cpu();  // the rounded input, as the reference sees it
    Tensor y = softmax(x, 1);
    EXPECT_EQ(y.dtype(), dt);
    EXPECT_TRUE(all_close(y.to(kFloat32).cpu(), softmax(xr, 1), t, t)) << dt;
    EXPECT_TRUE(all_close(log_softmax(x, 0).to(kFloat32).cpu(), log_softmax(xr, 0), t, t)) << dt;
    Tensor w = normal({300}, kFloat32, 8), b = normal({300}, kFloat32, 9);
    Tensor ln = layer_norm(x, {300}, w.to(kCuda).to(dt), b.to(kCuda).to(dt));
    Tensor ref = layer_norm(xr, {300}, w.to(kCuda).to(dt).to(kFloat32).cpu(), b.to(kCuda).to(dt).to(kFloat32).cpu());
    EXPECT_TRUE(all_close(ln.to(kFloat32).cpu(), ref, 4 * t, 4 * t)) << dt;
    // The backward runs too (statistics saved in float32).
    Tensor xl = x.detach().requires_grad_(true);
    sum(rms_norm(xl, {300}, Tensor())).backward();
    ASSERT_TRUE(xl.grad().defined());
    EXPECT_EQ(xl.grad().dtype(), dt);
  }
}

namespace {

void expect_layer_and_rms_norm_match_cpu() {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{6, 33}, {33}}, {{2, 3, 257}, {257}}, {{5, 1024}, {1024}}, {{4, 3, 5}, {3, 5}}, {{700, 7}, {7}}};
  for (DType dt : {kFloat32, kFloat64})
    for (const auto& [xs, ns] : cases)
      for (bool rms : {false, true})
        for (bool affine : {false, true}) {
          SCOPED_TRACE(str(dt, " ", shape_str(xs), rms ? " rms" : " layer", affine ? " affine" : ""));
          Tensor x = add(normal(xs, dt, 11, 2.0), 0.7);
          Tensor w = affine ? add(normal(ns, dt, 12), 1.0) : Tensor();
          Tensor b = affine && !rms ? normal(ns, dt, 13) : Tensor();
          Tensor gy = normal(xs, dt, 14);
          auto run = [&](const Device& dev) {
            Tensor xl = x.to(dev).detach().requires_grad_(true);
            Tensor wl = w.defined() ? w.to(dev).detach().requires_grad_(true) : Tensor();
            Tensor bl = b.defined() ? b.to(dev).detach().requires_grad_(true) : Tensor();
            Tensor y = rms ? rms_norm(xl, ns, wl, 1e-5) : layer_norm(xl, ns, wl, bl, 1e-5);
            sum(mul(y, gy.to(dev))).backward();
            return std::vector<Tensor>{y.detach().cpu(), xl.grad().cpu(), wl.defined() ? wl.grad().cpu() : Tensor(),
                                       bl.defined() ? bl.grad().cpu() : Tensor()};
          };
          const auto c = run(Device(kCPU)), g = run(kCuda);
          const double t = dt == kFloat64 ? 1e-11 : 2e-5;
          for (size_t i = 0; i < c.size(); ++i) {
            ASSERT_EQ(c[i].defined(), g[i].defined()) << i;
            if (c[i].defined()) EXPECT_TRUE(all_close(g[i], c[i], t, t)) << "output " << i;
          }
        }
}

}  // namespace

TEST(CudaNn, LayerNormAndRmsNormMatchTheCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  expect_layer_and_rms_norm_match_cpu();
}

#ifdef WICK_WITH_CUDA
// The chunked row sweeps for layer_norm / rms_norm (rows of 33, 257, 1024,
// 15 and 7 values: chunks cut short, rows off alignment), in float32 and
// float64, then in float16 and bfloat16 (8 values per 16-byte chunk) against
// the CPU on the rounded inputs: the output and the gradients of x, the
// weight and the bias.
TEST(CudaNn, LayerNormRowChunks) {
  WICK_SKIP_WITHOUT_CUDA();
  const test::SwitchScope restore(cuda::row_kernels_chunked, cuda::set_row_kernels_chunked);
  cuda::set_row_kernels_chunked(true);
  expect_layer_and_rms_norm_match_cpu();
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{6, 33}, {33}}, {{5, 1024}, {1024}}, {{4, 3, 5}, {3, 5}}, {{700, 7}, {7}}};
  auto f32 = [](const Tensor& v) { return v.defined() ? v.to(kFloat32).cpu() : v; };
  for (DType dt : {kFloat16, kBFloat16})
    for (const auto& [xs, ns] : cases)
      for (bool rms : {false, true}) {
        SCOPED_TRACE(str(dt, " ", shape_str(xs), rms ? " rms" : " layer"));
        const double t = 4 * (dt == kFloat16 ? 2e-3 : 1.6e-2);
        const Tensor x = add(normal(xs, kFloat32, 11, 2.0), 0.7).to(kCuda).to(dt);
        const Tensor w = add(normal(ns, kFloat32, 12), 1.0).to(kCuda).to(dt);
        const Tensor b = rms ? Tensor() : normal(ns, kFloat32, 13).to(kCuda).to(dt);
        const Tensor gy = normal(xs, kFloat32, 14).to(kCuda).to(dt);
        auto run = [&](const Tensor& x0, const Tensor& w0, const Tensor& b0, const Tensor& g0) {
          Tensor xl = x0.detach().requires_grad_(true), wl = w0.detach().requires_grad_(true);
          Tensor bl = b0.defined() ? b0.detach().requires_grad_(true) : Tensor();
          Tensor y = rms ? rms_norm(xl, ns, wl, 1e-5) : layer_norm(xl, ns, wl, bl, 1e-5);
          sum(mul(y, g0)).backward();
          return std::vector<Tensor>{y.detach(), xl.grad(), wl.grad(), bl.defined() ? bl.grad() : Tensor()};
        };
        const std::vector<Tensor> g = run(x, w, b, gy), c = run(f32(x), f32(w), f32(b), f32(gy));
        for (size_t i = 0; i < c.size(); ++i) {
          ASSERT_EQ(c[i].defined(), g[i].defined()) << i;
          if (!c[i].defined()) continue;
          EXPECT_EQ(g[i].dtype(), dt) << "output " << i;
          EXPECT_TRUE(all_close(f32(g[i]), c[i], t, t)) << "output " << i;
        }
      }
}
#endif

TEST(CudaNn, LayerNormWeightGradientIsDeterministic) {
  WICK_SKIP_WITHOUT_CUDA();
  Tensor x = normal({4096, 96}, kFloat32, 21).to(kCuda), gy = normal({4096, 96}, kFloat32, 22).to(kCuda);
  Tensor w = ones({96}, TensorOptions(kFloat32).device(kCuda)), b = zeros({96}, TensorOptions(kFloat32).device(kCuda));
  auto grad_w = [&] {
    Tensor wl = w.detach().requires_grad_(true), bl = b.detach().requires_grad_(true);
    sum(mul(layer_norm(x, {96}, wl, bl), gy)).backward();
    return std::pair{wl.grad().cpu(), bl.grad().cpu()};
  };
  const auto a = grad_w(), r = grad_w();
  EXPECT_TRUE(all_equal(a.first, r.first));
  EXPECT_TRUE(all_equal(a.second, r.second));
}

TEST(CudaNn, GradcheckFloat64OnTheDevice) {
  WICK_SKIP_WITHOUT_CUDA();
  auto on_gpu = [](std::function<Tensor(const tensor_list&)> f) {
    return [f](const tensor_list& in) {
      tensor_list g;
      for (const Tensor& t : in) g.push_back(t.defined() ? t.to(kCuda) : t);
      Tensor out = f(g);
      EXPECT_TRUE(out.is_cuda());
      return out.to(kCPU);
    };
  };
  Tensor x = wick::test::rand_f64({3, 5}, 1), x3 = wick::test::rand_f64({2, 3, 4}, 2);
  Tensor w = wick::test::rand_f64({5}, 3), b = wick::test::rand_f64({5}, 4);
  EXPECT_TRUE(gradcheck(on_gpu([](const tensor_list& t) { return softmax(t[0], 1); }), {x}));
  EXPECT_TRUE(gradcheck(on_gpu([](const tensor_list& t) { return log_softmax(t[0], 0); }), {x}));
  EXPECT_TRUE(gradcheck(on_gpu([](const tensor_list& t) { return softmax(t[0], 1); }), {x3}));
  EXPECT_TRUE(gradcheck(on_gpu([](const tensor_list& t) { return log_softmax(t[0], 2); }), {x3}));
  EXPECT_TRUE(gradcheck(on_gpu([](const tensor_list& t) { return layer_norm(t[0], {5}, t[1], t[2]); }), {x, w, b}));
  EXPECT_TRUE(gradcheck(on_gpu([](const tensor_list& t) { return rms_norm(t[0], {5}, t[1]); }), {x, w}));
  EXPECT_TRUE(gradgradcheck(on_gpu([](const tensor_list& t) { return log_softmax(t[0], 1); }), {x}));
  EXPECT_TRUE(gradgradcheck(on_gpu([](const tensor_list& t) { return layer_norm(t[0], {5}, t[1], t[2]); }), {x, w, b}));
}
