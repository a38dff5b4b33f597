// The fused CUDA attention kernels (cuda/kernels/attention.cu) through
// scaled_dot_product_attention, against the CPU (its tiled float64 kernel,
// itself checked against the composed reference in
// tests/ops/test_flash_attention.cpp): outputs and dQ, dK, dV through
// autograd on sizes that are not multiples of the tiles, L != S, head dims
// 1..128 (and E != Ev), causal, bool and float masks with broadcasting,
// several (batch, head) slices, non-contiguous q/k/v (MHA's transposed head
// views), empty L, fully masked rows (the CPU's NaN pattern), float16 and
// bfloat16 against a float64 oracle on the same rounded inputs, the fused
// path against the composed path on the device, determinism, a float64
// gradcheck and gradgradcheck on the device, and the fallbacks (dropout,
// heads above 128). Every test skips without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <initializer_list>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "autograd/gradcheck.h"
#ifdef WICK_WITH_CUDA
#include "cuda/kernels/attention.h"
#endif
#include "cuda/kernels/attention_grid.h"  // plain C++: its test runs in every build
#include "cuda/kernels/attention_mask.h"  // likewise
#include "cuda/kernels/attention_tma_map.h"  // likewise
#include "ops/attention.h"
#include "ops/copy.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/reduction.h"
#include "ops/view.h"
#include "support/cuda_util.h"
#include "support/test_util.h"
#include "tensor/random.h"

using namespace wick;
using wick::test::all_close;
using wick::test::all_equal;

namespace {

const Device kCuda("cuda");

// Standard-normal float64 values on the CPU, rounded through dtype `dt` (on
// the device: the CPU has no 16-bit kernels), so that the float64 oracle
// sees exactly the values the device computes with.
Tensor normal_as(const Shape& s, DType dt, uint64_t seed) {
  Generator g(seed);
  Tensor x = randn(s, TensorOptions(kFloat64), &g);
  return dt == kFloat64 ? x : x.to(kCuda).to(dt).to(kFloat64).cpu();
}

// A bool mask of `shape`, ~70% true.
Tensor bool_mask(const Shape& shape, uint64_t seed) {
  Generator g(seed);
  return lt(rand(shape, TensorOptions(kFloat64), &g), 0.7);
}

double tol(DType dt) {
  switch (dt) {
    case kFloat64: return 1e-10;
    case kFloat32: return 1e-4;
    case kFloat16: return 1e-2;
    default: return 4e-2;  // bfloat16: 8 bits of mantissa in the output, p and ds
  }
}

// y and the gradients of <y, gy> w.r.t. `wrt`, as float64 CPU tensors.
tensor_list forward_backward(const std::function<Tensor()>& f, const tensor_list& wrt, const Tensor& gy) {
  Tensor y = f();
  tensor_list g = autograd::grad({y}, wrt, {gy.to(y.device()).to(y.dtype())}, /*retain_graph=*/false,
                                 /*create_graph=*/false, /*allow_unused=*/true);
  tensor_list out{y.detach().to(kFloat64).cpu()};
  for (const Tensor& t : g) out.push_back(t.defined() ? t.to(kFloat64).cpu() : t);
  return out;
}

void expect_lists_close(const tensor_list& a, const tensor_list& b, double t) {
  const char* names[] = {"out", "dq", "dk", "dv"};
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const char* name = i < 4 ? names[i] : "grad";
    ASSERT_TRUE(a[i].defined() && b[i].defined()) << name;
    ASSERT_EQ(a[i].sizes(), b[i].sizes()) << name;
    EXPECT_TRUE(all_close(a[i], b[i], t, t)) << name;
  }
}

// q, k, v (float64 CPU values, already representable in dt) in dtype dt on
// the device through the fused kernel, against the CPU float64 tiled kernel.
void expect_matches_cpu(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, bool causal,
                        std::optional<double> scale, DType dt, uint64_t seed) {
  Tensor mask_g;
  if (mask.defined()) mask_g = mask.dtype() == kBool ? mask.to(kCuda) : mask.to(kCuda).to(dt);
  // The float mask as the device sees it (rounded to dt).
  Tensor mask_c = mask.defined() && mask.dtype() != kBool ? mask_g.to(kFloat64).cpu() : mask;
  Tensor qc = q.detach().requires_grad_(true), kc = k.detach().requires_grad_(true),
         vc = v.detach().requires_grad_(true);
  Tensor qg = q.to(kCuda).to(dt).requires_grad_(true), kg = k.to(kCuda).to(dt).requires_grad_(true),
         vg = v.to(kCuda).to(dt).requires_grad_(true);
  ASSERT_TRUE(scaled_dot_product_attention_uses_flash(qg, kg, vg, mask_g));
  Shape out_shape;
  {
    NoGradGuard ng;
    out_shape = scaled_dot_product_attention(qc, kc, vc, mask_c, 0.0, causal, scale).sizes();
  }
  const Tensor gy = normal_as(out_shape, dt, seed);
  const tensor_list ref = forward_backward(
      [&] { return scaled_dot_product_attention(qc, kc, vc, mask_c, 0.0, causal, scale); }, {qc, kc, vc}, gy);
  const tensor_list got = forward_backward(
      [&] {
        Tensor y = scaled_dot_product_attention(qg, kg, vg, mask_g, 0.0, causal, scale);
        EXPECT_TRUE(y.is_cuda());
        EXPECT_EQ(y.dtype(), dt);
        return y;
      },
      {qg, kg, vg}, gy);
  expect_lists_close(got, ref, tol(dt));
}

}  // namespace

TEST(CudaAttention, OddSizesHeadDimsAndMasksMatchTheCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  // Head dims of both buckets (<= 64, <= 128), E != Ev; lengths off the tiles.
  const std::pair<int64_t, int64_t> heads[] = {{1, 5}, {17, 17}, {64, 64}, {80, 80}, {128, 128}, {33, 100}};
  const std::pair<int64_t, int64_t> lens[] = {{1, 1}, {7, 33}, {65, 64}, {130, 77}, {33, 200}};
  uint64_t seed = 1;
  for (DType dt : {kFloat32, kFloat64})
    for (auto [E, Ev] : heads)
      for (auto [L, S] : lens)
        for (int mode = 0; mode < 4; ++mode) {  // none, causal, bool mask, float mask
          if (dt == kFloat64 && mode != (E + L) % 4) continue;  // float64: one mode per shape
          SCOPED_TRACE(testing::Message() << dt << " L=" << L << " S=" << S << " E=" << E << " Ev=" << Ev
                                          << " mode=" << mode);
          // B = 2, H = 3: six (batch, head) slices.
          Tensor q = normal_as({2, 3, L, E}, dt, seed++), k = normal_as({2, 3, S, E}, dt, seed++),
                 v = normal_as({2, 3, S, Ev}, dt, seed++);
          Tensor mask;
          if (mode == 2) mask = bool_mask({2, 1, L, S}, seed++);
          if (mode == 3) mask = normal_as({L, S}, kFloat64, seed++);
          expect_matches_cpu(q, k, v, mask, mode == 1, {}, dt, seed++);
        }
}

TEST(CudaAttention, HalfPrecisionAgainstAFloat64Oracle) {
  WICK_SKIP_WITHOUT_CUDA();
  uint64_t seed = 300;
  for (DType dt : {kFloat16, kBFloat16})
    for (auto [L, S, E] : {std::tuple<int64_t, int64_t, int64_t>{70, 70, 64}, {33, 130, 128}, {129, 17, 80},
                           {200, 200, 16}})
      for (int mode = 0; mode < 4; ++mode) {
        SCOPED_TRACE(testing::Message() << dt << " L=" << L << " S=" << S << " E=" << E << " mode=" << mode);
        Tensor q = normal_as({2, 2, L, E}, dt, seed++), k = normal_as({2, 2, S, E}, dt, seed++),
               v = normal_as({2, 2, S, E}, dt, seed++);
        Tensor mask;
        if (mode == 2) mask = bool_mask({L, S}, seed++);
        if (mode == 3) mask = normal_as({2, 1, 1, S}, kFloat64, seed++);  // a key-padding-like bias
        expect_matches_cpu(q, k, v, mask, mode == 1, {}, dt, seed++);
      }
}

TEST(CudaAttention, CausalRectangularScaleAndKeyPadding) {
  WICK_SKIP_WITHOUT_CUDA();
  uint64_t seed = 600;
  for (auto [L, S] : {std::pair<int64_t, int64_t>{7, 33}, {130, 7}, {33, 130}, {130, 65}, {65, 130}}) {
    SCOPED_TRACE(testing::Message() << "L=" << L << " S=" << S);
    Tensor q = normal_as({3, L, 24}, kFloat32, seed++), k = normal_as({3, S, 24}, kFloat32, seed++),
           v = normal_as({3, S, 9}, kFloat32, seed++);
    expect_matches_cpu(q, k, v, {}, true, {}, kFloat32, seed++);
    expect_matches_cpu(q, k, v, {}, true, 0.3, kFloat32, seed++);
    // Key padding: batch b attends to its first S - 3b keys ([B, 1, S] broadcast over the queries).
    std::vector<uint8_t> keep;
    for (int64_t b = 0; b < 3; ++b)
      for (int64_t j = 0; j < S; ++j) keep.push_back(j < std::max<int64_t>(1, S - 3 * b) ? 1 : 0);
    Tensor pad = from_vector(keep, Shape{3, 1, S}).to(kBool);
    expect_matches_cpu(q, k, v, pad, false, {}, kFloat32, seed++);
  }
}

TEST(CudaAttention, BroadcastBatchAndMasks) {
  WICK_SKIP_WITHOUT_CUDA();
  const int64_t L = 33, S = 70;
  uint64_t seed = 900;
  // q [2, 1, L, E] against k, v [1, 3, S, E]: batch dims broadcast.
  expect_matches_cpu(normal_as({2, 1, L, 8}, kFloat64, seed++), normal_as({1, 3, S, 8}, kFloat64, seed++),
                     normal_as({1, 3, S, 5}, kFloat64, seed++), {}, false, {}, kFloat64, seed++);
  Tensor q = normal_as({2, 3, L, 16}, kFloat32, seed++), k = normal_as({2, 3, S, 16}, kFloat32, seed++),
         v = normal_as({2, 3, S, 16}, kFloat32, seed++);
  for (const Shape& ms : {Shape{L, S}, Shape{1, S}, Shape{3, 1, S}, Shape{2, 1, L, S}, Shape{2, 3, L, S}}) {
    SCOPED_TRACE(shape_str(ms));
    expect_matches_cpu(q, k, v, bool_mask(ms, seed++), false, {}, kFloat32, seed++);
    expect_matches_cpu(q, k, v, normal_as(ms, kFloat64, seed++), false, {}, kFloat32, seed++);
  }
  // A mask with more batch dims than q, k, v (the output takes them), and a transposed one.
  expect_matches_cpu(normal_as({3, L, 8}, kFloat32, seed++), normal_as({3, S, 8}, kFloat32, seed++),
                     normal_as({3, S, 8}, kFloat32, seed++), bool_mask({4, 1, L, S}, seed++), false, {}, kFloat32,
                     seed++);
  expect_matches_cpu(q, k, v, normal_as({S, L}, kFloat64, seed++).transpose(0, 1), false, {}, kFloat32, seed++);
}

namespace {

// MHA's layout: x [B, T, 3 H d] viewed [B, T, H, d] and transposed to [B, H, T, d];
// the gradient flows back to x through the views. Device against the CPU.
void expect_head_views_match_cpu() {
  const int64_t B = 2, T = 70, H = 3, d = 64;
  for (DType dt : {kFloat32, kBFloat16}) {
    SCOPED_TRACE(testing::Message() << dt);
    const Tensor x0 = normal_as({B, T, 3 * H * d}, dt, 11);
    const Tensor gy = normal_as({B, H, T, d}, dt, 12);
    auto run = [&](const Tensor& x) {
      auto head = [&](int64_t i) { return x.narrow(2, i * H * d, H * d).view({B, T, H, d}).transpose(1, 2); };
      Tensor q = head(0), k = head(1), v = head(2);
      EXPECT_FALSE(q.is_contiguous());
      if (x.is_cuda()) EXPECT_TRUE(scaled_dot_product_attention_uses_flash(q, k, v));
      return forward_backward([&] { return scaled_dot_product_attention(q, k, v, {}, 0.0, true); }, {x}, gy);
    };
    const tensor_list ref = run(x0.detach().requires_grad_(true));
    const tensor_list got = run(x0.to(kCuda).to(dt).requires_grad_(true));
    expect_lists_close(got, ref, tol(dt));
  }
}

}  // namespace

TEST(CudaAttention, NonContiguousHeadViews) {
  WICK_SKIP_WITHOUT_CUDA();
  expect_head_views_match_cpu();
  // Transposed key storage.
  const Tensor kt = normal_as({2, 8, 40}, kFloat32, 13).transpose(-2, -1);
  expect_matches_cpu(normal_as({2, 33, 8}, kFloat32, 14), kt, normal_as({2, 40, 8}, kFloat32, 15), {}, false, {},
                     kFloat32, 16);
}

TEST(CudaAttention, EmptyQueriesAndBatches) {
  WICK_SKIP_WITHOUT_CUDA();
  const TensorOptions o = TensorOptions(kFloat32).device(kCuda);
  Tensor q = zeros({2, 0, 8}, o).requires_grad_(true), k = randn({2, 6, 8}, o).requires_grad_(true),
         v = randn({2, 6, 5}, o).requires_grad_(true);
  ASSERT_TRUE(scaled_dot_product_attention_uses_flash(q, k, v));
  Tensor y = scaled_dot_product_attention(q, k, v);
  EXPECT_EQ(y.sizes(), (Shape{2, 0, 5}));
  EXPECT_TRUE(y.is_cuda());
  sum(y).backward();
  EXPECT_TRUE(all_equal(k.grad().cpu(), zeros({2, 6, 8}, TensorOptions(kFloat32))));
  EXPECT_TRUE(all_equal(v.grad().cpu(), zeros({2, 6, 5}, TensorOptions(kFloat32))));
  // No (batch, head) slices at all.
  Tensor q0 = randn({0, 3, 4, 8}, o).requires_grad_(true), k0 = randn({0, 3, 6, 8}, o).requires_grad_(true),
         v0 = randn({0, 3, 6, 8}, o).requires_grad_(true);
  Tensor y0 = scaled_dot_product_attention(q0, k0, v0, {}, 0.0, true);
  EXPECT_EQ(y0.sizes(), (Shape{0, 3, 4, 8}));
  sum(y0).backward();
  if (k0.grad().defined()) EXPECT_EQ(k0.grad().sizes(), (Shape{0, 3, 6, 8}));
  // No keys: the composed path (weights [L, 0] @ v [0, Ev] = zeros), as on the CPU.
  EXPECT_FALSE(scaled_dot_product_attention_uses_flash(q, zeros({2, 0, 8}, o), zeros({2, 0, 5}, o)));
}

TEST(CudaAttention, FullyMaskedRowsGiveTheCpusNaNs) {
  WICK_SKIP_WITHOUT_CUDA();
  // Query 1 attends to nothing: NaN output and the CPU's (= the composed
  // graph's) NaN pattern in the gradients; bool and -inf float masks differ
  // there (where() sends no gradient to excluded scores, add() does).
  const Tensor bm =
      from_vector(std::vector<uint8_t>{1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1}, Shape{3, 5}).to(kBool);
  const Tensor fm = where(bm, zeros({3, 5}, TensorOptions(kFloat64)), Scalar(-std::numeric_limits<double>::infinity()));
  for (DType dt : {kFloat64, kFloat32, kBFloat16}) {
    SCOPED_TRACE(testing::Message() << dt);
    Tensor q = normal_as({2, 3, 4}, dt, 8), k = normal_as({2, 5, 4}, dt, 9), v = normal_as({2, 5, 3}, dt, 10);
    expect_matches_cpu(q, k, v, bm, false, {}, dt, 11);
    expect_matches_cpu(q, k, v, fm, false, {}, dt, 12);
  }
  // The same over many tiles: a key-padding mask that hides every key of one batch.
  Tensor q = normal_as({2, 2, 100, 32}, kFloat32, 20), k = normal_as({2, 2, 90, 32}, kFloat32, 21),
         v = normal_as({2, 2, 90, 32}, kFloat32, 22);
  std::vector<uint8_t> keep(2 * 90, 1);
  for (int64_t j = 0; j < 90; ++j) keep[90 + j] = 0;
  expect_matches_cpu(q, k, v, from_vector(keep, Shape{2, 1, 1, 90}).to(kBool), false, {}, kFloat32, 23);
}

TEST(CudaAttention, FusedEqualsTheComposedPathOnTheDevice) {
  WICK_SKIP_WITHOUT_CUDA();
  // GPT-2's head shape over 1024 positions (many tiles, causal skipping), and a bool mask.
  for (DType dt : {kFloat32, kFloat64}) {
    SCOPED_TRACE(testing::Message() << dt);
    const int64_t L = dt == kFloat32 ? 1024 : 200;
    const TensorOptions o = TensorOptions(dt).device(kCuda);
    Generator g(5);
    Tensor q = randn({1, 2, L, 64}, o, &g).requires_grad_(true), k = randn({1, 2, L, 64}, o, &g).requires_grad_(true),
           v = randn({1, 2, L, 64}, o, &g).requires_grad_(true);
    Tensor gy = randn({1, 2, L, 64}, o, &g);
    Tensor mask = bool_mask({L, L}, 6).to(kCuda);
    for (bool causal : {true, false}) {
      const Tensor m = causal ? Tensor() : mask;
      const tensor_list a = forward_backward(
          [&] { return scaled_dot_product_attention(q, k, v, m, 0.0, causal); }, {q, k, v}, gy);
      const tensor_list b = forward_backward(
          [&] { return scaled_dot_product_attention_math(q, k, v, m, 0.0, causal); }, {q, k, v}, gy);
      expect_lists_close(a, b, dt == kFloat32 ? 2e-4 : 1e-10);
    }
  }
}

TEST(CudaAttention, Deterministic) {
  WICK_SKIP_WITHOUT_CUDA();
  const TensorOptions o = TensorOptions(kFloat32).device(kCuda);
  Generator g(7);
  Tensor q = randn({2, 4, 300, 64}, o, &g).requires_grad_(true), k = randn({2, 4, 300, 64}, o, &g).requires_grad_(true),
         v = randn({2, 4, 300, 64}, o, &g).requires_grad_(true);
  Tensor gy = randn({2, 4, 300, 64}, o, &g);
  auto once = [&] {
    return forward_backward([&] { return scaled_dot_product_attention(q, k, v, {}, 0.0, true); }, {q, k, v}, gy);
  };
  const tensor_list a = once(), b = once();
  for (size_t i = 0; i < 4; ++i) EXPECT_TRUE(all_equal(a[i], b[i])) << i;
}

TEST(CudaAttention, GradcheckAndGradgradcheckFloat64OnTheDevice) {
  WICK_SKIP_WITHOUT_CUDA();
  using wick::test::rand_f64;
  // The inputs live on the CPU; the function moves them (differentiably) to the device.
  auto on_gpu = [](std::function<Tensor(const tensor_list&)> f) {
    return [f](const tensor_list& in) {
      tensor_list g;
      for (const Tensor& t : in) g.push_back(t.to(kCuda));
      EXPECT_TRUE(scaled_dot_product_attention_uses_flash(g[0], g[1], g[2]));
      Tensor out = f(g);
      EXPECT_TRUE(out.is_cuda());
      return out.to(kCPU);
    };
  };
  Tensor q = rand_f64({2, 7, 5}, 1), k = rand_f64({2, 9, 5}, 2), v = rand_f64({2, 9, 3}, 3);
  EXPECT_TRUE(gradcheck(on_gpu([](const tensor_list& t) { return scaled_dot_product_attention(t[0], t[1], t[2]); }),
                        {q, k, v}));
  EXPECT_TRUE(gradcheck(on_gpu([](const tensor_list& t) {
                          return scaled_dot_product_attention(t[0], t[1], t[2], {}, 0.0, true, 0.7);
                        }),
                        {q, k, v}));
  const Tensor bm = bool_mask({7, 9}, 4).to(kCuda);
  const Tensor fm = rand_f64({1, 9}, 5, false).to(kCuda);
  EXPECT_TRUE(gradcheck(
      on_gpu([bm](const tensor_list& t) { return scaled_dot_product_attention(t[0], t[1], t[2], bm); }), {q, k, v}));
  EXPECT_TRUE(gradcheck(
      on_gpu([fm](const tensor_list& t) { return scaled_dot_product_attention(t[0], t[1], t[2], fm); }), {q, k, v}));
  // Double backward: the node re-runs the composed path under create_graph.
  EXPECT_TRUE(gradgradcheck(on_gpu([](const tensor_list& t) {
                              return scaled_dot_product_attention(t[0], t[1], t[2], {}, 0.0, true);
                            }),
                            {q, k, v}));
}

TEST(CudaAttention, FallbacksToTheComposedPath) {
  WICK_SKIP_WITHOUT_CUDA();
  const TensorOptions o = TensorOptions(kFloat32).device(kCuda);
  // Heads above 128 do not fit the kernel's tiles: the composed path, still correct.
  const Tensor q = normal_as({2, 9, 160}, kFloat32, 1), k = normal_as({2, 11, 160}, kFloat32, 2),
               v = normal_as({2, 11, 160}, kFloat32, 3);
  EXPECT_FALSE(scaled_dot_product_attention_uses_flash(q.to(kCuda), k.to(kCuda), v.to(kCuda)));
#ifdef WICK_WITH_CUDA  // the kernel's own predicate exists in CUDA builds only
  EXPECT_FALSE(cuda::attention_supported(kFloat32, 129, 64, 0));
  EXPECT_TRUE(cuda::attention_supported(kFloat32, 128, 128, 0));
#endif
  EXPECT_TRUE(all_close(scaled_dot_product_attention(q.to(kCuda), k.to(kCuda), v.to(kCuda), {}, 0.0, true).cpu(),
                        scaled_dot_product_attention(q, k, v, {}, 0.0, true), 1e-4, 1e-4));
  // Dropout and a float mask that needs its gradient.
  Tensor a = randn({2, 4, 8}, o);
  EXPECT_FALSE(scaled_dot_product_attention_uses_flash(a, a, a, {}, 0.1));
  Tensor fm = randn({4, 4}, o).requires_grad_(true);
  EXPECT_FALSE(scaled_dot_product_attention_uses_flash(a, a, a, fm));
  EXPECT_TRUE(scaled_dot_product_attention_uses_flash(a, a, a, fm.detach()));
}

// Only some inputs need a gradient: the kernels skip the others' outputs
// (undefined dq, or dk and dv), and what they do compute is unchanged.
TEST(CudaAttention, OnlySomeInputsRequireGrad) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : {kFloat32, kBFloat16}) {
    SCOPED_TRACE(str(dt));
    const Tensor q = normal_as({2, 3, 37, 24}, dt, 31), k = normal_as({2, 3, 45, 24}, dt, 32),
                 v = normal_as({2, 3, 45, 24}, dt, 33);
    const Tensor gy = normal_as({2, 3, 37, 24}, dt, 34);
    for (int which = 0; which < 2; ++which) {  // 0: only q; 1: only k and v
      Tensor qc = q.detach(), kc = k.detach(), vc = v.detach();
      Tensor qg = q.to(kCuda).to(dt), kg = k.to(kCuda).to(dt), vg = v.to(kCuda).to(dt);
      tensor_list wc, wg;
      if (which == 0) {
        qc.requires_grad_(true), qg.requires_grad_(true);
        wc = {qc}, wg = {qg};
      } else {
        kc.requires_grad_(true), vc.requires_grad_(true), kg.requires_grad_(true), vg.requires_grad_(true);
        wc = {kc, vc}, wg = {kg, vg};
      }
      const tensor_list ref = forward_backward(
          [&] { return scaled_dot_product_attention(qc, kc, vc, {}, 0.0, /*is_causal=*/true); }, wc, gy);
      const tensor_list got = forward_backward(
          [&] { return scaled_dot_product_attention(qg, kg, vg, {}, 0.0, /*is_causal=*/true); }, wg, gy);
      ASSERT_EQ(got.size(), ref.size());
      for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(all_close(got[i], ref[i], tol(dt), tol(dt))) << which << " " << i;
    }
  }
}

// More (batch x head) slices than a grid dimension holds.
TEST(CudaAttention, ManySlices) {
  WICK_SKIP_WITHOUT_CUDA();
  const Tensor q = normal_as({70000, 1, 3, 8}, kFloat32, 41), k = normal_as({70000, 1, 5, 8}, kFloat32, 42),
               v = normal_as({70000, 1, 5, 8}, kFloat32, 43);
  const Tensor want = scaled_dot_product_attention(q, k, v);
  const Tensor got = scaled_dot_product_attention(q.to(kCuda).to(kFloat32), k.to(kCuda).to(kFloat32), v.to(kCuda).to(kFloat32));
  EXPECT_TRUE(all_close(got.to(kFloat64).cpu(), want, 1e-4, 1e-4));
}

// The tensor maps' shapes (attention_tma_map.h, on the CPU): packed slices,
// GPT-2's head views of a [B, T, 3 H D] projection (heads 128 bytes apart,
// rows 3 H D elements), one row (its stride the packed one), one slice;
// refused: a broadcast dim (stride 0), rows not whole 16 bytes, N not a whole
// number of batches, no rows.
TEST(CudaAttentionFa2, TensorMapShapes) {
  using cuda::slice_map_shape;
  auto expect = [](const std::optional<cuda::SliceMapShape>& m, std::vector<uint64_t> dims, std::vector<uint64_t> st) {
    ASSERT_TRUE(m.has_value());
    for (int i = 0; i < 4; ++i) EXPECT_EQ(m->dims[i], dims[i]) << "dim " << i;
    for (int i = 0; i < 3; ++i) EXPECT_EQ(m->strides[i], st[i]) << "stride " << i;
  };
  // Packed [4, 100, 64] bf16: heads 1 (the packed stride stands in for its own, 0).
  expect(slice_map_shape(SliceLayout::packed(100, 64), 100, 4, 2), {64, 100, 1, 4}, {128, 12800, 12800});
  // [B = 2, T = 100, 3, H = 2, 64] viewed as q [2, 2, 100, 64]: heads 2, 128 bytes apart, rows 768.
  const SliceLayout heads{2, 100 * 3 * 2 * 64, 64, 3 * 2 * 64};
  expect(slice_map_shape(heads, 100, 4, 2), {64, 100, 2, 2}, {768, 128, 76800});
  // One row: its stride is not used, the packed one stands in.
  expect(slice_map_shape(heads, 1, 4, 2), {64, 1, 2, 2}, {128, 128, 76800});
  // One slice: the batch stride, whatever it is, is not used.
  expect(slice_map_shape(SliceLayout{1, 0, 0, 64}, 7, 1, 2), {64, 7, 1, 1}, {128, 896, 896});
  // Refused.
  EXPECT_FALSE(slice_map_shape(SliceLayout{3, 1000 * 64, 0, 64}, 1000, 6, 2)) << "k shared by 3 heads (stride 0)";
  EXPECT_TRUE(slice_map_shape(SliceLayout{1, 100 * 72, 0, 72}, 100, 4, 2)) << "rows of 144 bytes (padded)";
  EXPECT_FALSE(slice_map_shape(SliceLayout{1, 100 * 68, 0, 68}, 100, 4, 2)) << "rows of 136 bytes";
  EXPECT_FALSE(slice_map_shape(heads, 100, 3, 2)) << "3 slices, heads 2";
  EXPECT_FALSE(slice_map_shape(heads, 0, 4, 2)) << "no rows";
  EXPECT_FALSE(slice_map_shape(SliceLayout{1, int64_t{1} << 40, 0, 64}, 10, 2, 2)) << "a stride of 2^41 bytes";
}

// The attention kernels' grid orders (attention_grid.h), on the CPU: for
// grids of 1..7 slices x 1..5 blocks and every section width from 0 (slices
// slowest) past the slice count, each CTA gets a cell in range and every
// cell is taken once; slices slowest runs a slice's blocks in order; with
// sections, the section of a CTA never precedes an earlier CTA's, and within
// a section block b's CTAs all come before block b + 1's (the heaviest
// first), each block's slices in order. Then section_width on GPT-2's
// shapes and the edges.
TEST(CudaAttentionFa2, LptGridCellsCoverTheGridOnce) {
  namespace G = cuda::attention_grid;
  int bad = 0;
  for (int64_t slices = 1; slices <= 7; ++slices)
    for (int64_t blocks = 1; blocks <= 5; ++blocks)
      for (int64_t section = 0; section <= slices + 1; ++section) {  // (wider than the slices: taken as all)
        const int64_t ctas = slices * blocks;
        std::vector<int> seen(static_cast<size_t>(ctas), 0);
        G::Cell prev{-1, -1};
        for (int64_t c = 0; c < ctas; ++c) {
          const G::Cell x = G::cell(c, ctas, blocks, std::min(section, slices));
          const bool in = x.slice >= 0 && x.slice < slices && x.block >= 0 && x.block < blocks;
          if (!in) {
            if (++bad <= 5) ADD_FAILURE() << slices << "x" << blocks << " section " << section << " cta " << c;
            continue;
          }
          ++seen[static_cast<size_t>(x.slice * blocks + x.block)];
          if (c > 0) {
            bool ordered;
            if (section == 0) {
              ordered = x.slice == prev.slice ? x.block == prev.block + 1 : x.slice == prev.slice + 1 && x.block == 0;
            } else {
              const int64_t w = std::min(section, slices), sx = x.slice / w, sp = prev.slice / w;
              ordered = sx == sp ? (x.block == prev.block ? x.slice == prev.slice + 1 : x.block == prev.block + 1)
                                 : sx == sp + 1 && x.block == 0 && x.slice == sx * w;
            }
            if (!ordered && ++bad <= 5)
              ADD_FAILURE() << slices << "x" << blocks << " section " << section << ": cta " << c << " (" << x.slice
                            << ", " << x.block << ") after (" << prev.slice << ", " << prev.block << ")";
          }
          prev = x;
        }
        for (int64_t i = 0; i < ctas; ++i)
          if (seen[static_cast<size_t>(i)] != 1 && ++bad <= 5)
            ADD_FAILURE() << slices << "x" << blocks << " section " << section << ": cell " << i << " taken "
                          << seen[static_cast<size_t>(i)] << " times";
      }
  EXPECT_EQ(bad, 0);
  const int64_t l2 = 50 * 1024 * 1024;                       // an H100's or H200's
  EXPECT_EQ(G::section_width(96, 1024 * 64 * 8, l2), 48);   // GPT-2's backward: Q, dO, dQ's float32 accumulator
  EXPECT_EQ(G::section_width(96, 1024 * 64 * 4, l2), 96);   // its forward: K, V
  EXPECT_EQ(G::section_width(200, 1024 * 64 * 4, l2), 100);  // 133 fit: two sections of 100
  EXPECT_EQ(G::section_width(5, int64_t(1) << 40, l2), 1);    // a slice larger than the L2
  EXPECT_EQ(G::section_width(5, 0, l2), 5);
  EXPECT_EQ(G::section_width(0, 1024, l2), 1);
}

// The FA2/wgmma kernels' tile-relative masks (attention_mask.h), on the CPU:
// each clamped 32-bit predicate equals the 64-bit one it replaced, for every
// (q, k) of a tile pair, causal or not, tile offsets across and far beyond
// the clamps, lengths before, inside and far past the tile, and starts past
// 2^32.
TEST(CudaAttentionFa2, TileMasksEqualTheAbsoluteCompares) {
  namespace M = cuda::attention_mask;
  const int64_t far = int64_t{1} << 33;
  const std::vector<int64_t> room = {-3, 0, 1, 33, 63, 64, 65, far};  // L - i0, S - j0
  std::vector<int64_t> offsets = {-far, -200, -129, 128, 129, 200, far};  // i0 - j0 (backward), row0 - j0
  for (int64_t d = -80; d <= 80; ++d) offsets.push_back(d);
  int64_t bad = 0, masked = 0, total = 0;
  for (const bool causal : {false, true})
    for (const int64_t off : offsets)
      for (const int64_t lr : room)
        for (const int64_t sr : room) {
          const int64_t j0 = (int64_t{1} << 40) + 64 * 3, i0 = j0 + off;
          // Backward and dQ kernels: query i0 + q, key j0 + k.
          const M::PairMask pm(i0, j0, i0 + lr, j0 + sr, causal);
          for (int q = 0; q < 64; ++q)
            for (int k = 0; k < 64; ++k) {
              const int64_t i = i0 + q, j = j0 + k;
              const bool want = i >= i0 + lr || j >= j0 + sr || (causal && j > i);
              bad += pm.masked(q, k) != want;
              masked += want;
              ++total;
            }
          // Forward: row0 = i0 (any row of the query tile), rows row0 + 8 h; the query bound is not its test.
          const M::RowMask rm(j0, i0, j0 + sr, causal);
          for (int h = 0; h < 2; ++h)
            for (int jc = 0; jc < 64; ++jc) {
              const int64_t i = i0 + 8 * h, j = j0 + jc;
              const bool want = j >= j0 + sr || (causal && j > i);
              bad += rm.masked(jc, h) != want;
              masked += want;
              ++total;
            }
        }
  EXPECT_EQ(bad, 0) << "of " << total;
  EXPECT_GT(masked, total / 10);  // both outcomes well represented
  EXPECT_LT(masked, 9 * total / 10);
}

// ---- the FlashAttention-2 forward (cuda/kernels/attention_fa2.cu) ----
// Run explicitly with the selection flag on (restored after): out and lse
// against the float64 CPU kernel, the backward fed by its out/lse, and the
// inputs it does not take still going to the general kernels.
#ifdef WICK_WITH_CUDA
#include <tuple>
#include <vector>

#include "cuda/kernels/attention_dq_layout.h"
#include "cuda/kernels/attention_fa2.h"
#include "cuda/kernels/gemm_sm90.h"
#include "ops/shape.h"
#include "ops/cpu/attention.h"

namespace {

// Sets a process-wide kernel selection for a scope (restored after).
class Selection {
 public:
  Selection(bool (*get)(), void (*set)(bool), bool on) : set_(set), prev_(get()) { set(on); }
  ~Selection() { set_(prev_); }
  Selection(const Selection&) = delete;
  Selection& operator=(const Selection&) = delete;

 private:
  void (*set_)(bool);
  bool prev_;
};

struct Fa2Selected : Selection {
  Fa2Selected() : Selection(cuda::attention_fa2, cuda::set_attention_fa2, true) {}
};
struct WgmmaForwardSelected : Selection {
  explicit WgmmaForwardSelected(bool on = true)
      : Selection(cuda::attention_wgmma_forward, cuda::set_attention_wgmma_forward, on) {}
};

struct WgmmaLeanSelected : Selection {
  explicit WgmmaLeanSelected(bool on = true) : Selection(cuda::attention_wgmma_lean, cuda::set_attention_wgmma_lean, on) {}
};
struct WgmmaWsSelected : Selection {
  explicit WgmmaWsSelected(bool on = true) : Selection(cuda::attention_wgmma_ws, cuda::set_attention_wgmma_ws, on) {}
};
// (Every wgmma forward test but the lean ones holds the lean forward off: WICK_CUDA_ATTENTION_WGMMA_LEAN=1
// in the environment would otherwise replace the serial kernel they compare with. The warp-specialized
// forward gives the serial kernel's bits; the lean tests hold it off, since it takes precedence.)
struct WgmmaPipelinedSelected : Selection {
  explicit WgmmaPipelinedSelected(bool on = true)
      : Selection(cuda::attention_wgmma_pipelined, cuda::set_attention_wgmma_pipelined, on) {}
};
struct Fa2Rows128Selected : Selection {
  explicit Fa2Rows128Selected(bool on = true)
      : Selection(cuda::attention_fa2_rows128, cuda::set_attention_fa2_rows128, on) {}
};
struct Fa2BackwardSelected : Selection {
  explicit Fa2BackwardSelected(bool on = true)
      : Selection(cuda::attention_fa2_backward_selected, cuda::set_attention_fa2_backward, on) {}
};
struct WgmmaBackwardSelected : Selection {
  explicit WgmmaBackwardSelected(bool on = true)
      : Selection(cuda::attention_wgmma_backward, cuda::set_attention_wgmma_backward, on) {}
};
struct Fa2FusedDqSelected : Selection {
  explicit Fa2FusedDqSelected(bool on = true)
      : Selection(cuda::attention_fa2_backward_fused, cuda::set_attention_fa2_backward_fused, on) {}
};
struct Fa2BackwardHd128Selected : Selection {
  explicit Fa2BackwardHd128Selected(bool on = true)
      : Selection(cuda::attention_fa2_backward_hd128, cuda::set_attention_fa2_backward_hd128, on) {}
};
// The LPT grid's section width as the test sets it (set_attention_lpt_section), back to the L2 size's after.
struct LptSectionFixed {
  LptSectionFixed() = default;
  LptSectionFixed(const LptSectionFixed&) = delete;
  LptSectionFixed& operator=(const LptSectionFixed&) = delete;
  ~LptSectionFixed() { cuda::set_attention_lpt_section(0); }
};
// The serial wgmma forward selected for a scope: FA2 and the wgmma forward on, every forward variant that
// would take its launches off (from the environment too: gpu_check's opt-in run). A test turns on the
// variant it tests.
struct SerialWgmmaForward {
  Fa2Selected fa2;
  WgmmaForwardSelected wgmma;
  WgmmaPipelinedSelected no_pipe{false};
  WgmmaWsSelected no_ws{false};
  WgmmaLeanSelected no_lean{false};
  Selection no_fwd_tma{cuda::attention_wgmma_forward_tma, cuda::set_attention_wgmma_forward_tma, false};
};

// ||a - b|| / ||b|| over all elements, in float64.
double rel_error(const Tensor& a, const Tensor& b) {
  const Tensor x = a.to(kFloat64).cpu(), y = b.to(kFloat64).cpu();
  const double num = sum(mul(sub(x, y), sub(x, y))).item<double>(), den = sum(mul(y, y)).item<double>();
  return std::sqrt(num / std::max(den, 1e-300));
}

// The FA2 kernel needs sm_80+: probe with inputs it takes everywhere else.
bool fa2_runs_here() {
  const TensorOptions o = TensorOptions(kBFloat16).device(kCuda);
  return cuda::attention_fa2_eligible(zeros({1, 4, 64}, o), zeros({1, 4, 64}, o), zeros({1, 4, 64}, o), Tensor());
}

// Skips below sm_80 only: an H100 (sm_90, where the wgmma GEMM runs) that
// the probe calls ineligible is an eligibility bug, and fails.
#define WICK_SKIP_WITHOUT_FA2()                                                                      \
  do {                                                                                               \
    WICK_SKIP_WITHOUT_CUDA();                                                                        \
    if (!fa2_runs_here()) {                                                                          \
      if (cuda::wgmma_supported(cuda::current_device())) FAIL() << "FA2 refuses eligible inputs on sm_90"; \
      GTEST_SKIP() << "the FA2 attention kernel needs sm_80+";                                       \
    }                                                                                                \
  } while (0)

#define WICK_SKIP_WITHOUT_WGMMA()                                                               \
  do {                                                                                          \
    WICK_SKIP_WITHOUT_FA2();                                                                    \
    if (!cuda::wgmma_supported(cuda::current_device())) GTEST_SKIP() << "wgmma needs sm_90";   \
  } while (0)

// cuda::attention_forward (with whichever kernel is selected) on
// q [N, L, E], k, v [N, S, E] (float64 CPU values representable in dt)
// against cpu::attention_forward in float64: out and lse. `eligible` (when
// given) must accept the device inputs: the kernel under test takes them.
using Eligible = std::function<bool(const Tensor&, const Tensor&, const Tensor&)>;
void expect_forward_matches_cpu(const Tensor& q, const Tensor& k, const Tensor& v, bool causal, double scale,
                                DType dt, const Eligible& eligible) {
  const int64_t N = q.size(0), L = q.size(1), S = k.size(1), E = q.size(2);
  const Tensor qg = q.to(kCuda).to(dt).contiguous(), kg = k.to(kCuda).to(dt).contiguous(),
               vg = v.to(kCuda).to(dt).contiguous();
  ASSERT_TRUE(eligible(qg, kg, vg));
  Tensor out = empty({N, L, E}, TensorOptions(dt).device(kCuda));
  Tensor lse = empty({N * L}, TensorOptions(cuda::attention_lse_dtype(dt)).device(kCuda));
  ASSERT_EQ(lse.dtype(), kFloat32);
  cuda::attention_forward(out, lse, qg, kg, vg, Tensor(), Tensor(), causal, scale);

  const Tensor qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();
  cpu::AttentionProblem<double> p;
  p.N = N, p.L = L, p.S = S, p.E = E, p.Ev = E;
  p.q = slices_of<const double>(qc);
  p.k = slices_of<const double>(kc);
  p.v = slices_of<const double>(vc);
  p.scale = scale;
  p.causal = causal;
  Tensor want_out = empty({N, L, E}, TensorOptions(kFloat64)), want_lse = empty({N * L}, TensorOptions(kFloat64));
  cpu::attention_forward(p, slices_of<double>(want_out), static_cast<double*>(want_lse.data_ptr_raw()));

  EXPECT_TRUE(all_close(out.to(kFloat64).cpu(), want_out, tol(dt), tol(dt))) << "out";
  // lse depends on the 16-bit inputs only through float32 sums (p is rounded
  // only where it multiplies V): much tighter than out.
  EXPECT_TRUE(all_close(lse.to(kFloat64).cpu(), want_lse, 2e-3, 2e-3)) << "lse";
}

}  // namespace

TEST(CudaAttentionFa2, ForwardMatchesTheFloat64Cpu) {
  WICK_SKIP_WITHOUT_FA2();
  Fa2Selected on;
  std::vector<std::pair<int64_t, int64_t>> lens;
  for (int64_t L : {1, 17, 64, 130})
    for (int64_t S : {1, 33, 64, 200}) lens.emplace_back(L, S);
  lens.emplace_back(130, 130);  // causal with L == S off the tiles (and 64 == 64 above)
  lens.emplace_back(200, 200);
  uint64_t seed = 7000;
  for (DType dt : {kBFloat16, kFloat16})
    for (int64_t E : {64, 128})
      for (bool causal : {false, true})
        for (auto [L, S] : lens) {
          SCOPED_TRACE(testing::Message() << dt << " E=" << E << " causal=" << causal << " L=" << L << " S=" << S);
          const Tensor q = normal_as({3, L, E}, dt, seed++), k = normal_as({3, S, E}, dt, seed++),
                       v = normal_as({3, S, E}, dt, seed++);
          const double scale = (L + S) % 3 == 0 ? 0.3 : 1.0 / std::sqrt(static_cast<double>(E));
          expect_forward_matches_cpu(q, k, v, causal, scale, dt,
                                     [](const Tensor& a, const Tensor& b, const Tensor& c) {
                                       return cuda::attention_fa2_eligible(a, b, c, Tensor());
                                     });
        }
}

TEST(CudaAttentionFa2, NoKeysAndNoQueries) {
  WICK_SKIP_WITHOUT_FA2();
  Fa2Selected on;
  for (DType dt : {kBFloat16, kFloat16}) {
    const TensorOptions o = TensorOptions(dt).device(kCuda);
    // S == 0: every row fully masked -> NaN output, lse -inf (attention.h).
    const Tensor q = normal_as({3, 70, 64}, dt, 1).to(kCuda).to(dt), k = zeros({3, 0, 64}, o), v = zeros({3, 0, 64}, o);
    ASSERT_TRUE(cuda::attention_fa2_eligible(q, k, v, Tensor()));
    for (bool causal : {false, true}) {
      Tensor out = full({3, 70, 64}, Scalar(7.0), o), lse = zeros({3 * 70}, TensorOptions(kFloat32).device(kCuda));
      cuda::attention_forward(out, lse, q, k, v, Tensor(), Tensor(), causal, 0.125);
      EXPECT_TRUE(all_equal(isnan(out.to(kFloat32)).cpu(), ones({3, 70, 64}, TensorOptions(kBool))));
      const Tensor want_lse = full({3 * 70}, Scalar(-std::numeric_limits<double>::infinity()), TensorOptions(kFloat32));
      EXPECT_TRUE(all_equal(lse.cpu(), want_lse));
    }
    // L == 0: nothing to do, nothing written.
    Tensor out0 = empty({3, 0, 64}, o), lse0 = empty({0}, TensorOptions(kFloat32).device(kCuda));
    cuda::attention_forward(out0, lse0, zeros({3, 0, 64}, o), zeros({3, 5, 64}, o), zeros({3, 5, 64}, o), Tensor(),
                            Tensor(), true, 0.125);
    cuda::synchronize();
  }
}

TEST(CudaAttentionFa2, BackwardFromItsOutAndLseMatchesTheCpu) {
  WICK_SKIP_WITHOUT_FA2();
  Fa2Selected on;
  uint64_t seed = 8000;
  for (DType dt : {kBFloat16, kFloat16})
    for (int64_t E : {64, 128})
      for (auto [L, S, causal] : {std::tuple<int64_t, int64_t, bool>{130, 200, false}, {130, 130, true},
                                  {17, 33, true}, {64, 64, true}}) {
        SCOPED_TRACE(testing::Message() << dt << " E=" << E << " L=" << L << " S=" << S << " causal=" << causal);
        // [B, H] = [2, 3]: sdpa flattens the heads into six slices.
        const Tensor q = normal_as({2, 3, L, E}, dt, seed++), k = normal_as({2, 3, S, E}, dt, seed++),
                     v = normal_as({2, 3, S, E}, dt, seed++);
        expect_matches_cpu(q, k, v, Tensor(), causal, {}, dt, seed++);
      }
}

TEST(CudaAttentionFa2, IneligibleInputsTakeTheGeneralKernels) {
  WICK_SKIP_WITHOUT_FA2();
  Fa2Selected on;
  const TensorOptions bf = TensorOptions(kBFloat16).device(kCuda);
  uint64_t seed = 9000;
  {  // a bool mask
    const Tensor q = normal_as({2, 70, 64}, kBFloat16, seed++), k = normal_as({2, 90, 64}, kBFloat16, seed++),
                 v = normal_as({2, 90, 64}, kBFloat16, seed++);
    const Tensor mask = bool_mask({70, 90}, seed++);
    EXPECT_FALSE(cuda::attention_fa2_eligible(q.to(kCuda).to(kBFloat16), k.to(kCuda).to(kBFloat16),
                                              v.to(kCuda).to(kBFloat16), mask.to(kCuda)));
    expect_matches_cpu(q, k, v, mask, false, {}, kBFloat16, seed++);
  }
  {  // E = 32
    const Tensor q = normal_as({2, 70, 32}, kBFloat16, seed++), k = normal_as({2, 90, 32}, kBFloat16, seed++),
                 v = normal_as({2, 90, 32}, kBFloat16, seed++);
    EXPECT_FALSE(cuda::attention_fa2_eligible(zeros({2, 70, 32}, bf), zeros({2, 90, 32}, bf), zeros({2, 90, 32}, bf),
                                              Tensor()));
    expect_matches_cpu(q, k, v, Tensor(), true, {}, kBFloat16, seed++);
  }
  {  // float32
    const TensorOptions f = TensorOptions(kFloat32).device(kCuda);
    const Tensor q = normal_as({2, 70, 64}, kFloat32, seed++), k = normal_as({2, 90, 64}, kFloat32, seed++),
                 v = normal_as({2, 90, 64}, kFloat32, seed++);
    EXPECT_FALSE(cuda::attention_fa2_eligible(zeros({2, 70, 64}, f), zeros({2, 90, 64}, f), zeros({2, 90, 64}, f),
                                              Tensor()));
    expect_matches_cpu(q, k, v, Tensor(), false, {}, kFloat32, seed++);
  }
  // E != Ev
  EXPECT_FALSE(
      cuda::attention_fa2_eligible(zeros({2, 70, 64}, bf), zeros({2, 90, 64}, bf), zeros({2, 90, 128}, bf), Tensor()));
}

TEST(CudaAttentionFa2, ManyKeyTilesAgreeWithTheGeneralKernel) {
  WICK_SKIP_WITHOUT_FA2();
  // GPT-2-like lengths: 16 key tiles through the double buffer, causal tile
  // skipping; FA2 against the existing tensor-core forward on the device.
  uint64_t seed = 9500;
  for (DType dt : {kBFloat16, kFloat16})
    for (int64_t E : {64, 128})
      for (bool causal : {true, false}) {
        SCOPED_TRACE(testing::Message() << dt << " E=" << E << " causal=" << causal);
        const TensorOptions o = TensorOptions(dt).device(kCuda);
        Generator g(seed++);
        const Tensor q = randn({4, 1000, E}, o, &g), k = randn({4, 1030, E}, o, &g), v = randn({4, 1030, E}, o, &g);
        const TensorOptions f = TensorOptions(kFloat32).device(kCuda);
        Tensor out_a = empty({4, 1000, E}, o), lse_a = empty({4 * 1000}, f);
        Tensor out_b = empty({4, 1000, E}, o), lse_b = empty({4 * 1000}, f);
        const double scale = 1.0 / std::sqrt(static_cast<double>(E));
        {
          Fa2Selected on;
          cuda::attention_forward(out_a, lse_a, q, k, v, Tensor(), Tensor(), causal, scale);
        }
        const bool prev = cuda::attention_fa2();
        cuda::set_attention_fa2(false);
        cuda::attention_forward(out_b, lse_b, q, k, v, Tensor(), Tensor(), causal, scale);
        cuda::set_attention_fa2(prev);
        EXPECT_TRUE(all_close(out_a.to(kFloat64).cpu(), out_b.to(kFloat64).cpu(), tol(dt), tol(dt))) << "out";
        EXPECT_TRUE(all_close(lse_a.to(kFloat64).cpu(), lse_b.to(kFloat64).cpu(), 1e-3, 1e-3)) << "lse";
      }
}

namespace {

// S == 0 through whichever forward is selected: every row NaN, lse -inf
// (70 rows: a partial last tile in every tiling).
void expect_no_keys_gives_nan_rows(DType dt, uint64_t seed) {
  const TensorOptions o = TensorOptions(dt).device(kCuda), f = TensorOptions(kFloat32).device(kCuda);
  const Tensor q = normal_as({3, 70, 64}, dt, seed).to(kCuda).to(dt), k = zeros({3, 0, 64}, o), v = zeros({3, 0, 64}, o);
  Tensor out = full({3, 70, 64}, Scalar(7.0), o), lse = zeros({3 * 70}, f);
  cuda::attention_forward(out, lse, q, k, v, Tensor(), Tensor(), true, 0.125);
  EXPECT_TRUE(all_equal(isnan(out.to(kFloat32)).cpu(), ones({3, 70, 64}, TensorOptions(kBool))));
  EXPECT_TRUE(
      all_equal(lse.cpu(), full({3 * 70}, Scalar(-std::numeric_limits<double>::infinity()), TensorOptions(kFloat32))));
}

// GPT-2-like lengths (4 slices, L = 1000, S = 1030, head dim 64) through the
// forward with select(true), then select(false): out within out_bound
// (norm-wise) and lse within lse_tol of each other.
void expect_forward_variants_agree(DType dt, bool causal, uint64_t seed, const std::function<void(bool)>& select,
                                   double out_bound, double lse_tol) {
  SCOPED_TRACE(testing::Message() << dt << " causal=" << causal);
  const TensorOptions o = TensorOptions(dt).device(kCuda), f = TensorOptions(kFloat32).device(kCuda);
  Generator g(seed);
  const Tensor q = randn({4, 1000, 64}, o, &g), k = randn({4, 1030, 64}, o, &g), v = randn({4, 1030, 64}, o, &g);
  Tensor out[2], lse[2];
  for (int i = 0; i < 2; ++i) {
    out[i] = empty({4, 1000, 64}, o), lse[i] = empty({4 * 1000}, f);
    select(i == 0);
    cuda::attention_forward(out[i], lse[i], q, k, v, Tensor(), Tensor(), causal, 0.125);
  }
  EXPECT_LE(rel_error(out[0], out[1]), out_bound) << "out";
  EXPECT_TRUE(all_close(lse[0].to(kFloat64).cpu(), lse[1].to(kFloat64).cpu(), lse_tol, lse_tol)) << "lse";
}

}  // namespace

// The 128-row variant (set_attention_fa2_rows128, head dim 64): lengths
// around its 128-row CTA tile (a partial or empty second Q tile, the causal
// diagonal crossing two key tiles of one CTA), against the float64 CPU.
TEST(CudaAttentionFa2, Rows128ForwardMatchesTheFloat64Cpu) {
  WICK_SKIP_WITHOUT_FA2();
  Fa2Selected on;
  Fa2Rows128Selected rows128;
  std::vector<std::pair<int64_t, int64_t>> lens;
  for (int64_t L : {1, 17, 64, 65, 127, 128, 130, 257})
    for (int64_t S : {1, 33, 64, 200}) lens.emplace_back(L, S);
  for (int64_t L : {128, 130, 200, 257}) lens.emplace_back(L, L);  // causal diagonals off and on the tiles
  uint64_t seed = 7500;
  for (DType dt : {kBFloat16, kFloat16})
    for (bool causal : {false, true})
      for (auto [L, S] : lens) {
        SCOPED_TRACE(testing::Message() << dt << " causal=" << causal << " L=" << L << " S=" << S);
        const Tensor q = normal_as({3, L, 64}, dt, seed++), k = normal_as({3, S, 64}, dt, seed++),
                     v = normal_as({3, S, 64}, dt, seed++);
        const double scale = (L + S) % 3 == 0 ? 0.3 : 0.125;
        expect_forward_matches_cpu(q, k, v, causal, scale, dt, [](const Tensor& a, const Tensor& b, const Tensor& c) {
          return cuda::attention_fa2_eligible(a, b, c, Tensor());
        });
      }
}

TEST(CudaAttentionFa2, Rows128NoKeysAndManyTilesAgreeWithTheRows64Kernel) {
  WICK_SKIP_WITHOUT_FA2();
  Fa2Selected on;
  WgmmaForwardSelected no_wgmma(false);  // (on sm_90 the wgmma forward would run for both settings)
  const test::SwitchScope restore(cuda::attention_fa2_rows128, cuda::set_attention_fa2_rows128);
  uint64_t seed = 9700;
  for (DType dt : {kBFloat16, kFloat16}) {
    cuda::set_attention_fa2_rows128(true);
    expect_no_keys_gives_nan_rows(dt, seed++);
    // Per row the two tilings do the same operations in the same order (a
    // 128-row CTA only adds fully masked key tiles, which change nothing), so
    // they agree to far below the dtype's tolerance.
    for (bool causal : {true, false})
      expect_forward_variants_agree(dt, causal, seed++, cuda::set_attention_fa2_rows128, 1e-6, 1e-6);
  }
}

TEST(CudaAttentionFa2, Rows128ThroughSdpaForwardAndBackward) {
  WICK_SKIP_WITHOUT_FA2();
  Fa2Selected on;
  Fa2Rows128Selected rows128;
  uint64_t seed = 8500;
  for (DType dt : {kBFloat16, kFloat16})
    for (auto [L, S, causal] : {std::tuple<int64_t, int64_t, bool>{130, 200, false}, {257, 257, true}, {17, 33, true}}) {
      SCOPED_TRACE(testing::Message() << dt << " L=" << L << " S=" << S << " causal=" << causal);
      const Tensor q = normal_as({2, 3, L, 64}, dt, seed++), k = normal_as({2, 3, S, 64}, dt, seed++),
                   v = normal_as({2, 3, S, 64}, dt, seed++);
      expect_matches_cpu(q, k, v, Tensor(), causal, {}, dt, seed++);
    }
}

// The forward on wgmma (set_attention_wgmma_forward; sm_90, head dim 64):
// the float64 CPU on the same lengths as the mma.sync kernels, S = 0 (NaN
// rows), GPT-2 lengths against the 64-row mma.sync kernel (the same
// roundings to 16 bits; float32 sums in other orders), and the op's forward
// and backward through it.
namespace {

// The wgmma forwards' lengths around the 64-key tiles (one tile, partial
// tiles, the causal diagonal, S != L), both dtypes, causal or not, against
// the float64 CPU. Returns how many forwards ran.
int64_t expect_wgmma_forward_lengths_match_cpu(uint64_t seed) {
  std::vector<std::pair<int64_t, int64_t>> lens;
  for (int64_t L : {1, 17, 64, 65, 130})
    for (int64_t S : {1, 33, 64, 200}) lens.emplace_back(L, S);
  for (int64_t L : {130, 200}) lens.emplace_back(L, L);
  for (DType dt : {kBFloat16, kFloat16})
    for (bool causal : {false, true})
      for (auto [L, S] : lens) {
        SCOPED_TRACE(testing::Message() << dt << " causal=" << causal << " L=" << L << " S=" << S);
        const Tensor q = normal_as({3, L, 64}, dt, seed++), k = normal_as({3, S, 64}, dt, seed++),
                     v = normal_as({3, S, 64}, dt, seed++);
        expect_forward_matches_cpu(q, k, v, causal, (L + S) % 3 == 0 ? 0.3 : 0.125, dt,
                                   [](const Tensor& a, const Tensor& b, const Tensor& c) {
                                     return cuda::attention_fa2_eligible(a, b, c, Tensor());
                                   });
      }
  return static_cast<int64_t>(2 * 2 * lens.size());
}

}  // namespace

TEST(CudaAttentionFa2, WgmmaForwardMatchesTheFloat64Cpu) {
  WICK_SKIP_WITHOUT_FA2();
  if (!cuda::wgmma_supported(cuda::current_device())) GTEST_SKIP() << "wgmma needs sm_90";
  Fa2Selected on;
  WgmmaForwardSelected wgmma;
  expect_wgmma_forward_lengths_match_cpu(7700);
}

TEST(CudaAttentionFa2, WgmmaForwardNoKeysAndManyTilesAgreeWithTheMmaSyncKernel) {
  WICK_SKIP_WITHOUT_FA2();
  if (!cuda::wgmma_supported(cuda::current_device())) GTEST_SKIP() << "wgmma needs sm_90";
  Fa2Selected on;
  WgmmaLeanSelected no_lean(false);
  Fa2Rows128Selected rows64(false);  // the 64-row mma.sync kernel when wgmma is off
  const test::SwitchScope restore(cuda::attention_wgmma_forward, cuda::set_attention_wgmma_forward);
  uint64_t seed = 9800;
  for (DType dt : {kBFloat16, kFloat16}) {
    cuda::set_attention_wgmma_forward(true);
    expect_no_keys_gives_nan_rows(dt, seed++);
    for (bool causal : {true, false})
      expect_forward_variants_agree(dt, causal, seed++, cuda::set_attention_wgmma_forward,
                                    dt == kBFloat16 ? 4e-3 : 1e-3, 1e-4);
  }
}

TEST(CudaAttentionFa2, WgmmaForwardThroughSdpaForwardAndBackward) {
  WICK_SKIP_WITHOUT_FA2();
  if (!cuda::wgmma_supported(cuda::current_device())) GTEST_SKIP() << "wgmma needs sm_90";
  Fa2Selected on;
  WgmmaForwardSelected wgmma;
  uint64_t seed = 8700;
  for (DType dt : {kBFloat16, kFloat16})
    for (auto [L, S, causal] : {std::tuple<int64_t, int64_t, bool>{130, 200, false}, {257, 257, true}, {17, 33, true}}) {
      SCOPED_TRACE(testing::Message() << dt << " L=" << L << " S=" << S << " causal=" << causal);
      const Tensor q = normal_as({2, 3, L, 64}, dt, seed++), k = normal_as({2, 3, S, 64}, dt, seed++),
                   v = normal_as({2, 3, S, 64}, dt, seed++);
      expect_matches_cpu(q, k, v, Tensor(), causal, {}, dt, seed++);
    }
}

namespace {

// out and lse of the serial wgmma forward (set(false)) against a variant's
// (set(true)), bit for bit: lengths around the 64-key tiles (one tile, a
// partial last tile, the causal diagonal inside a CTA's tiles, S != L) and
// the 128-row CTAs (rows of the second half all past L: L = 1, 17, 64; one
// row in it: 65), more key tiles than any ring has stages, GPT-2 lengths,
// query and key head views read in place (strided rows, heads 128 bytes
// apart). Returns the number of variant calls.
int64_t expect_forward_variant_bit_equal(const std::function<void(bool)>& set, uint64_t seed) {
  std::vector<std::pair<int64_t, int64_t>> lens;
  for (int64_t L : {1, 17, 64, 65, 130})
    for (int64_t S : {1, 33, 64, 65, 128, 200}) lens.emplace_back(L, S);
  for (int64_t L : {130, 200, 1000}) lens.emplace_back(L, L);
  lens.emplace_back(1000, 1030);
  int64_t calls = 0;
  for (DType dt : {kBFloat16, kFloat16})
    for (bool causal : {false, true})
      for (bool views : {false, true})
        for (auto [L, S] : lens) {
          SCOPED_TRACE(testing::Message() << dt << " causal=" << causal << " views=" << views << " L=" << L
                                          << " S=" << S);
          const TensorOptions o = TensorOptions(dt).device(kCuda), f = TensorOptions(kFloat32).device(kCuda);
          Generator g(seed++);
          Tensor q, k, v;
          if (views) {  // heads of [B, T, 3 H D]-style projections: rows 3 x 2 x 64 apart
            q = randn({2, L, 3, 2, 64}, o, &g).select(2, 0).transpose(1, 2);
            const Tensor kv = randn({2, S, 3, 2, 64}, o, &g);
            k = kv.select(2, 1).transpose(1, 2), v = kv.select(2, 2).transpose(1, 2);
          } else {
            q = randn({4, L, 64}, o, &g), k = randn({4, S, 64}, o, &g), v = randn({4, S, 64}, o, &g);
          }
          Tensor out[2], lse[2];
          for (int i = 0; i < 2; ++i) {
            set(i == 1);
            Shape os = q.sizes();
            out[i] = empty(os, o), lse[i] = empty({q.numel() / 64}, f);
            cuda::attention_forward(out[i], lse[i], q, k, v, Tensor(), Tensor(), causal, (L + S) % 3 ? 0.125 : 0.3);
          }
          ++calls;
          // (16-bit tensors compare as float32, an exact cast: the CPU holds no 16-bit dtypes.)
          EXPECT_TRUE(all_equal(out[0].to(kFloat32).cpu(), out[1].to(kFloat32).cpu())) << "out";
          EXPECT_TRUE(all_equal(lse[0].cpu(), lse[1].cpu())) << "lse";
        }
  return calls;
}

// The op's forward and backward against the float64 CPU (expect_matches_cpu) with whichever wgmma forward
// the switches select: a non-causal rectangle, causal squares of several tiles and of one partial tile,
// both 16-bit dtypes.
void expect_wgmma_forward_op_matches_cpu(uint64_t& seed) {
  for (DType dt : {kBFloat16, kFloat16})
    for (auto [L, S, causal] : {std::tuple<int64_t, int64_t, bool>{130, 200, false}, {257, 257, true}, {17, 33, true}}) {
      SCOPED_TRACE(testing::Message() << dt << " L=" << L << " S=" << S << " causal=" << causal << " (op)");
      const Tensor q = normal_as({2, 3, L, 64}, dt, seed++), k = normal_as({2, 3, S, 64}, dt, seed++),
                   v = normal_as({2, 3, S, 64}, dt, seed++);
      expect_matches_cpu(q, k, v, Tensor(), causal, {}, dt, seed++);
    }
}

// A forward variant reading q, k and v through tensor maps (set(true); launches: its launch counter): key
// and value heads broadcast from one (a stride of 0, which no tensor map takes) run the copies' kernel
// instead, with the same out and lse; S = 0 (no keys: no tensor map either) gives NaN rows; then the
// float64 CPU through the op, forward and backward, with the variant taken.
void expect_tensor_map_forward_fallback_and_op(const std::function<void(bool)>& set,
                                               const std::function<int64_t()>& launches, uint64_t& seed,
                                               const char* kernel) {
  for (DType dt : {kBFloat16, kFloat16}) {
    SCOPED_TRACE(testing::Message() << dt << " (broadcast heads)");
    const TensorOptions o = TensorOptions(dt).device(kCuda), f = TensorOptions(kFloat32).device(kCuda);
    Generator g(seed++);
    const Tensor q = randn({2, 3, 130, 64}, o, &g), k = randn({2, 1, 200, 64}, o, &g).expand({2, 3, 200, 64}),
                 v = randn({2, 1, 200, 64}, o, &g).expand({2, 3, 200, 64});
    Tensor out[2], lse[2];
    const int64_t launched = launches();
    for (int i = 0; i < 2; ++i) {
      set(i == 1);
      out[i] = empty({2, 3, 130, 64}, o), lse[i] = empty({2 * 3 * 130}, f);
      cuda::attention_forward(out[i], lse[i], q, k, v, Tensor(), Tensor(), true, 0.125);
    }
    EXPECT_EQ(launches(), launched) << "a stride-0 head dim took the tensor maps";
    EXPECT_TRUE(all_equal(out[0].to(kFloat32).cpu(), out[1].to(kFloat32).cpu())) << "out";
    EXPECT_TRUE(all_equal(lse[0].cpu(), lse[1].cpu())) << "lse";
    set(true);
    expect_no_keys_gives_nan_rows(dt, seed++);
  }
  set(true);
  const int64_t before_op = launches();
  expect_wgmma_forward_op_matches_cpu(seed);
  EXPECT_GT(launches(), before_op) << "the op did not run " << kernel;
}

// expect_forward_variant_bit_equal for a variant (set, its launch counter `launches`) in each
// configuration (lean softmax on both sides or not, the LPT grid's section width: 0 from the L2 size),
// every call through the variant (its counter) and, lean, through the lean kernel on both sides (its
// counter twice a call); the lean forward off and the width from the L2 size after.
void expect_forward_variant_in_configs(void (*set)(bool), int64_t (*launches)(),
                                       std::initializer_list<std::pair<bool, int64_t>> configs, uint64_t& seed,
                                       const char* kernel) {
  for (auto [lean_on, width] : configs) {
    SCOPED_TRACE(testing::Message() << (lean_on ? "lean" : "serial") << ", sections of " << width);
    cuda::set_attention_wgmma_lean(lean_on);
    cuda::set_attention_lpt_section(width);
    const int64_t before = launches(), lean_before = cuda::attention_wgmma_lean_launches();
    const int64_t calls = expect_forward_variant_bit_equal(set, seed);
    seed += 1000;
    EXPECT_EQ(launches(), before + calls) << "not every call took " << kernel;
    EXPECT_EQ(cuda::attention_wgmma_lean_launches(), lean_before + (lean_on ? 2 * calls : 0));
  }
  cuda::set_attention_wgmma_lean(false);
  cuda::set_attention_lpt_section(0);
}

}  // namespace

// The pipelined wgmma forward (set_attention_wgmma_pipelined): the same
// operations as the serial wgmma kernel on every value, reordered in time, so
// its out and lse are bit for bit the serial kernel's
// (expect_forward_variant_bit_equal); S = 0; then the float64 CPU through the
// op, forward and backward.

TEST(CudaAttentionFa2, WgmmaPipelinedForwardEqualsTheSerialKernel) {
  WICK_SKIP_WITHOUT_WGMMA();
  const SerialWgmmaForward serial;
  const test::SwitchScope restore(cuda::attention_wgmma_pipelined, cuda::set_attention_wgmma_pipelined);
  uint64_t seed = 7900;
  expect_forward_variant_bit_equal(cuda::set_attention_wgmma_pipelined, seed);
  seed += 1000;
  for (DType dt : {kBFloat16, kFloat16}) {
    cuda::set_attention_wgmma_pipelined(true);
    expect_no_keys_gives_nan_rows(dt, seed++);
  }
  cuda::set_attention_wgmma_pipelined(true);
  expect_wgmma_forward_op_matches_cpu(seed);
}

// The warp-specialized wgmma forward (set_attention_wgmma_ws): each of its
// consumer warpgroups multiplies the serial kernel's tiles in the serial
// kernel's order with its arithmetic, so out and lse are bit for bit the
// serial kernel's (expect_forward_variant_bit_equal), every call through the
// warp-specialized kernel (its launch counter); key and value heads
// broadcast from one (a stride of 0, which no tensor map takes) run the
// serial kernel instead, with the same result; S = 0 (the serial kernel: no
// keys, no tensor map) gives NaN rows; then the float64 CPU through the op,
// forward and backward.

TEST(CudaAttentionFa2, WgmmaWsForwardEqualsTheSerialKernel) {
  WICK_SKIP_WITHOUT_WGMMA();
  const SerialWgmmaForward serial;
  const test::SwitchScope restore(cuda::attention_wgmma_ws, cuda::set_attention_wgmma_ws);
  uint64_t seed = 11900;
  const int64_t before = cuda::attention_wgmma_ws_launches();
  const int64_t calls = expect_forward_variant_bit_equal(cuda::set_attention_wgmma_ws, seed);
  EXPECT_EQ(cuda::attention_wgmma_ws_launches(), before + calls) << "not every call took the warp-specialized kernel";
  seed += 1000;
  expect_tensor_map_forward_fallback_and_op(cuda::set_attention_wgmma_ws, cuda::attention_wgmma_ws_launches, seed,
                                            "the warp-specialized kernel");
}

// The wgmma forward loading its tiles by TMA (set_attention_wgmma_forward_tma):
// the serial kernel's products on the same tiles (the copy engine zero-fills
// the rows past L and S as the copies do), so out and lse are bit for bit the
// serial kernel's (expect_forward_variant_bit_equal: lengths around the tiles,
// more key tiles than buffers, GPT-2 lengths, head views read in place), and
// with the lean softmax on both sides the lean kernel's; every call through
// the TMA kernel (its launch counter; the lean counter too); key and value
// heads broadcast from one (a stride of 0, which no tensor map takes) run the
// copies' kernel instead, with the same result; S = 0 (no keys: the copies'
// kernel) gives NaN rows; then the float64 CPU through the op, forward and
// backward.
TEST(CudaAttentionFa2, WgmmaFwdTmaEqualsTheSerialKernel) {
  WICK_SKIP_WITHOUT_WGMMA();
  const SerialWgmmaForward serial;
  const test::SwitchScope restore(cuda::attention_wgmma_forward_tma, cuda::set_attention_wgmma_forward_tma);
  const LptSectionFixed sections;
  uint64_t seed = 15900;
  // (Its grid is in LPT order: 4 slices in one section from the L2 size, or in sections of 3 and 1.)
  expect_forward_variant_in_configs(cuda::set_attention_wgmma_forward_tma, cuda::attention_wgmma_forward_tma_launches,
                                    {{false, 0}, {true, 0}, {false, 3}}, seed, "the TMA kernel");
  expect_tensor_map_forward_fallback_and_op(cuda::set_attention_wgmma_forward_tma,
                                            cuda::attention_wgmma_forward_tma_launches, seed, "the TMA kernel");
}

// The wgmma forwards' grid in LPT order (set_attention_lpt; the slices
// fastest within sections): every CTA computes the query block it did, so
// out and lse are bit for bit those of the slices-slowest grid
// (expect_forward_variant_bit_equal:
// lengths around the tiles, one and many query blocks per slice, GPT-2
// lengths, head views), for the serial and the lean kernel; every call
// takes the order (the counter); then the float64 CPU through the op,
// forward and backward (the backward in that order too).
TEST(CudaAttentionFa2, LptOrderForwardEqualsTheSlicesSlowestGrid) {
  WICK_SKIP_WITHOUT_WGMMA();
  const SerialWgmmaForward serial;
  const test::SwitchScope restore(cuda::attention_lpt, cuda::set_attention_lpt);
  const LptSectionFixed sections;
  uint64_t seed = 16900;
  // (4 slices: sections from the L2 size hold all 4; sections of 3 leave a narrower last one.)
  expect_forward_variant_in_configs(cuda::set_attention_lpt, cuda::attention_lpt_launches,
                                    {{false, 0}, {false, 3}, {true, 3}}, seed, "the LPT grid");
  cuda::set_attention_lpt(true);
  const int64_t before_op = cuda::attention_lpt_launches();
  expect_wgmma_forward_op_matches_cpu(seed);
  EXPECT_GT(cuda::attention_lpt_launches(), before_op) << "the op did not take the LPT grid";
}

// The lean wgmma forward (set_attention_wgmma_lean): the scale folded into
// each exponent's fma and the row sums computed by the tensor cores (P times
// a tile of ones), so its l is the sum of the rounded P. Against the float64
// CPU on lengths around the 64-key tiles (the wgmma forward's cases), then
// against the serial kernel on long rows: out within the bound the wgmma
// forward meets against the mma.sync kernel, lse within the rounded-P sum's
// worst case (the unit roundoff, 2^-8 of l for bf16 and 2^-11 for fp16:
// 4e-3 and 5e-4) plus as much times |lse|; no keys gives NaN rows; a
// negative scale (its row max is taken unscaled) runs the serial kernel; the
// op's forward and backward against the CPU. The launch counter shows which
// kernel ran; the pipelined forward, which would take precedence, is held off.

TEST(CudaAttentionFa2, WgmmaLeanForwardMatchesTheFloat64Cpu) {
  WICK_SKIP_WITHOUT_FA2();
  if (!cuda::wgmma_supported(cuda::current_device())) GTEST_SKIP() << "wgmma needs sm_90";
  Fa2Selected on;
  WgmmaForwardSelected wgmma;
  WgmmaPipelinedSelected no_pipe(false);
  WgmmaWsSelected no_ws(false);  // (it would take precedence)
  WgmmaLeanSelected lean;
  const int64_t before = cuda::attention_wgmma_lean_launches();
  const int64_t runs = expect_wgmma_forward_lengths_match_cpu(10700);
  EXPECT_EQ(cuda::attention_wgmma_lean_launches(), before + runs) << "not every forward took the lean kernel";
}

TEST(CudaAttentionFa2, WgmmaLeanAgreesWithTheSerialKernel) {
  WICK_SKIP_WITHOUT_FA2();
  if (!cuda::wgmma_supported(cuda::current_device())) GTEST_SKIP() << "wgmma needs sm_90";
  Fa2Selected on;
  WgmmaForwardSelected wgmma;
  WgmmaPipelinedSelected no_pipe(false);
  WgmmaWsSelected no_ws(false);  // (it would take precedence)
  const test::SwitchScope restore(cuda::attention_wgmma_lean, cuda::set_attention_wgmma_lean);
  uint64_t seed = 10800;
  for (DType dt : {kBFloat16, kFloat16}) {
    cuda::set_attention_wgmma_lean(true);
    expect_no_keys_gives_nan_rows(dt, seed++);
    for (bool causal : {true, false}) {
      const int64_t launched = cuda::attention_wgmma_lean_launches();
      expect_forward_variants_agree(dt, causal, seed++, cuda::set_attention_wgmma_lean,
                                    dt == kBFloat16 ? 4e-3 : 1e-3, dt == kBFloat16 ? 4e-3 : 5e-4);
      EXPECT_EQ(cuda::attention_wgmma_lean_launches(), launched + 1) << "the lean side did not run the lean kernel";
    }
    // A negative scale: the serial kernel, bit for bit.
    cuda::set_attention_wgmma_lean(true);
    const TensorOptions o = TensorOptions(dt).device(kCuda), f = TensorOptions(kFloat32).device(kCuda);
    Generator g(seed++);
    const Tensor q = randn({2, 130, 64}, o, &g), k = randn({2, 200, 64}, o, &g), v = randn({2, 200, 64}, o, &g);
    Tensor out[2], lse[2];
    const int64_t before = cuda::attention_wgmma_lean_launches();
    for (int i = 0; i < 2; ++i) {
      cuda::set_attention_wgmma_lean(i == 0);
      out[i] = empty({2, 130, 64}, o), lse[i] = empty({2 * 130}, f);
      cuda::attention_forward(out[i], lse[i], q, k, v, Tensor(), Tensor(), false, -0.125);
    }
    EXPECT_EQ(cuda::attention_wgmma_lean_launches(), before) << "a negative scale took the lean kernel";
    EXPECT_TRUE(all_equal(out[0].to(kFloat32).cpu(), out[1].to(kFloat32).cpu())) << "negative scale: out";
    EXPECT_TRUE(all_equal(lse[0].cpu(), lse[1].cpu())) << "negative scale: lse";
  }
}

TEST(CudaAttentionFa2, WgmmaLeanThroughSdpaForwardAndBackward) {
  WICK_SKIP_WITHOUT_FA2();
  if (!cuda::wgmma_supported(cuda::current_device())) GTEST_SKIP() << "wgmma needs sm_90";
  Fa2Selected on;
  WgmmaForwardSelected wgmma;
  WgmmaPipelinedSelected no_pipe(false);
  WgmmaWsSelected no_ws(false);  // (it would take precedence)
  WgmmaLeanSelected lean;
  uint64_t seed = 10900;
  const int64_t before = cuda::attention_wgmma_lean_launches();
  for (DType dt : {kBFloat16, kFloat16})
    for (auto [L, S, causal] : {std::tuple<int64_t, int64_t, bool>{130, 200, false}, {257, 257, true}, {17, 33, true}}) {
      SCOPED_TRACE(testing::Message() << dt << " L=" << L << " S=" << S << " causal=" << causal);
      const Tensor q = normal_as({2, 3, L, 64}, dt, seed++), k = normal_as({2, 3, S, 64}, dt, seed++),
                   v = normal_as({2, 3, S, 64}, dt, seed++);
      expect_matches_cpu(q, k, v, Tensor(), causal, {}, dt, seed++);
    }
  EXPECT_GT(cuda::attention_wgmma_lean_launches(), before) << "the op did not run the lean kernel";
}

// ---- the FlashAttention-2 backward (cuda/kernels/attention_fa2.cu) ----
// With both FA2 selections on: gradients through the op against the float64
// CPU, then on GPT-2-like lengths against the general backward on the device,
// each gradient alone, and the inputs it does not take.

namespace {

Tensor f32(const Tensor& t) { return t.to(kFloat32).cpu(); }

struct DeviceGrads {
  Tensor dq, dk, dv;
};

// cuda::attention_backward on q [N, L, E], k, v [N, S, E] (CUDA, dt) with the
// FA2 backward selected or not; out and lse from the (FA2) forward.
DeviceGrads device_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& dout, bool causal,
                            double scale, bool fa2_backward, bool want_q, bool want_kv) {
  const TensorOptions o = TensorOptions(q.dtype()).device(kCuda);
  Tensor out = empty(q.sizes(), o), lse = empty({q.size(0) * q.size(1)}, TensorOptions(kFloat32).device(kCuda));
  cuda::attention_forward(out, lse, q, k, v, Tensor(), Tensor(), causal, scale);
  Fa2BackwardSelected sel(fa2_backward);
  // !fa2_backward: the general kernels, so the wgmma backward (its own switch) is off too.
  WgmmaBackwardSelected wgmma(fa2_backward && cuda::attention_wgmma_backward());
  DeviceGrads g;
  if (want_q) g.dq = full(q.sizes(), Scalar(7.0), o);  // every element must be overwritten
  if (want_kv) g.dk = full(k.sizes(), Scalar(7.0), o), g.dv = full(v.sizes(), Scalar(7.0), o);
  cuda::attention_backward(g.dq, g.dk, g.dv, q, k, v, Tensor(), Tensor(), causal, scale, out, dout, lse);
  cuda::synchronize();
  return g;
}

// Random CUDA q [3, L, E], k, v [3, S, E] and an upstream gradient, and the
// GPT-2-like lengths the backward variants are compared on (16 tiles through
// both double buffers, causal tile skipping with L == S and L != S).
struct BackwardInputs {
  Tensor q, k, v, dout;
  BackwardInputs(DType dt, int64_t L, int64_t S, int64_t E, uint64_t seed) {
    const TensorOptions o = TensorOptions(dt).device(kCuda);
    Generator g(seed);
    q = randn({3, L, E}, o, &g), k = randn({3, S, E}, o, &g), v = randn({3, S, E}, o, &g);
    dout = randn({3, L, E}, o, &g);
  }
};
const std::tuple<int64_t, int64_t, bool> kLongCases[] = {{1000, 1030, false}, {1024, 1024, true}, {700, 1000, true}};

// Gradients through the op against the float64 CPU (expect_matches_cpu) for
// each (L, S, causal) case, 16-bit dtype and head dim, on [2, 3] heads; the
// scale 0.3 where (L + S) % 3 == 0 and explicit_scale, else the default.
// (At head dim 128 a scale of 0.3 is 3.4x the default 1/sqrt(128): a softmax
// so sharp that D = rowsum(dO * O), taken from the bfloat16 output as every
// backward takes it, moves dq and dk past tol(kBFloat16) by itself in 7-15%
// of the slices of the causal shapes (scripts/attention_rounding_model.py),
// for a kernel rounding exactly as these do. Those shapes are compared with
// the general backward instead, which takes the same D.)
using LenCase = std::tuple<int64_t, int64_t, bool>;
void expect_gradients_match_cpu(const std::vector<LenCase>& cases, const std::vector<int64_t>& head_dims,
                                uint64_t seed, bool explicit_scale = true) {
  for (DType dt : {kBFloat16, kFloat16})
    for (int64_t E : head_dims)
      for (auto [L, S, causal] : cases) {
        SCOPED_TRACE(testing::Message() << dt << " E=" << E << " L=" << L << " S=" << S << " causal=" << causal);
        const Tensor q = normal_as({2, 3, L, E}, dt, seed++), k = normal_as({2, 3, S, E}, dt, seed++),
                     v = normal_as({2, 3, S, E}, dt, seed++);
        const std::optional<double> scale =
            explicit_scale && (L + S) % 3 == 0 ? std::optional<double>(0.3) : std::nullopt;
        expect_matches_cpu(q, k, v, Tensor(), causal, scale, dt, seed++);
      }
}

// The lengths of the FA2 backward's float64 checks: single rows, lengths off the 64-row tiles, one and two
// tiles, L < S and L > S under the causal mask.
const std::vector<LenCase> kFa2BackwardCases = {{1, 1, false},   {1, 1, true},     {17, 33, false},
                                                {17, 33, true},   {64, 64, true},   {64, 64, false},
                                                {130, 200, false}, {130, 130, true}, {200, 70, true},
                                                {70, 200, true}};

}  // namespace

TEST(CudaAttentionFa2Backward, GradientsMatchTheFloat64Cpu) {
  WICK_SKIP_WITHOUT_FA2();
  Fa2Selected fwd;
  Fa2BackwardSelected bwd;
  WgmmaBackwardSelected mma_sync(false);  // the mma.sync kernels (the wgmma ones: below)
  expect_gradients_match_cpu(kFa2BackwardCases, {64}, 11000);
}

namespace {

// The mma.sync FA2 backward (two kernels, or the fused dQ where its switch is on) against the general
// backward on the same forward (so the same lse and D) for each (L, S, causal, scale) case (scale 0: the
// default) at head dim E, and each gradient alone; the FA2 kernels must have run (their launch counter at
// head dim 128).
using ScaledCase = std::tuple<int64_t, int64_t, bool, double>;
void expect_fa2_backward_agrees_with_the_general_one(int64_t E, const std::vector<ScaledCase>& cases,
                                                     uint64_t seed) {
  WgmmaBackwardSelected mma_sync(false);
  for (DType dt : {kBFloat16, kFloat16})
    for (auto [L, S, causal, explicit_scale] : cases) {
      const double scale = explicit_scale > 0 ? explicit_scale : 1.0 / std::sqrt(static_cast<double>(E));
      SCOPED_TRACE(testing::Message() << dt << " E=" << E << " L=" << L << " S=" << S << " causal=" << causal
                                      << " scale=" << scale);
      const TensorOptions o = TensorOptions(dt).device(kCuda);
      const auto [q, k, v, dout] = BackwardInputs(dt, L, S, E, seed++);
      ASSERT_TRUE(cuda::attention_fa2_backward_eligible(empty({3, L, E}, o), empty({3, S, E}, o),
                                                        empty({3, S, E}, o), q, k, v, Tensor(), dout));
      const DeviceGrads want = device_backward(q, k, v, dout, causal, scale, false, true, true);
      const int64_t launched = cuda::attention_fa2_backward_hd128_launches();
      const DeviceGrads got = device_backward(q, k, v, dout, causal, scale, true, true, true);
      EXPECT_EQ(cuda::attention_fa2_backward_hd128_launches() - launched, E == 128 ? 1 : 0);
      // Both round p and ds to 16 bits, in different orders: a few 16-bit ulps of the norm.
      const double bound = dt == kBFloat16 ? 2e-2 : 4e-3;
      EXPECT_LT(rel_error(got.dq, want.dq), bound) << "dq";
      EXPECT_LT(rel_error(got.dk, want.dk), bound) << "dk";
      EXPECT_LT(rel_error(got.dv, want.dv), bound) << "dv";
      const DeviceGrads only_q = device_backward(q, k, v, dout, causal, scale, true, true, false);
      // dq alone always takes the dQ kernel; with dk or dv it takes the fused kernel where it is on
      // (float32 atomics: the same value up to the order of its sums).
      if (cuda::attention_fa2_backward_fused())
        EXPECT_LT(rel_error(only_q.dq, got.dq), dt == kBFloat16 ? 4e-3 : 1e-3) << "dq alone";
      else
        EXPECT_TRUE(all_equal(f32(only_q.dq), f32(got.dq))) << "dq alone";
      const DeviceGrads only_kv = device_backward(q, k, v, dout, causal, scale, true, false, true);
      EXPECT_TRUE(all_equal(f32(only_kv.dk), f32(got.dk))) << "dk alone";
      EXPECT_TRUE(all_equal(f32(only_kv.dv), f32(got.dv))) << "dv alone";
    }
}

std::vector<ScaledCase> long_cases() {
  std::vector<ScaledCase> c;
  for (auto [L, S, causal] : kLongCases) c.emplace_back(L, S, causal, 0.0);
  return c;
}

}  // namespace

// GPT-2-like lengths, and each gradient alone.
TEST(CudaAttentionFa2Backward, ManyTilesAgreeWithTheGeneralBackward) {
  WICK_SKIP_WITHOUT_FA2();
  expect_fa2_backward_agrees_with_the_general_one(64, long_cases(), 12000);
}

// Head dim 128 (set_attention_fa2_backward_hd128): through the op against the float64 CPU at the default
// scale (see expect_gradients_match_cpu), and against the general backward on the lengths above, on the
// causal shapes whose explicit scale of 0.3 the CPU check leaves out, and in the fused variant.
TEST(CudaAttentionFa2Backward, HeadDim128GradientsMatchTheFloat64Cpu) {
  WICK_SKIP_WITHOUT_FA2();
  Fa2Selected fwd;
  Fa2BackwardSelected bwd;
  Fa2BackwardHd128Selected hd128;
  WgmmaBackwardSelected mma_sync(false);
  const int64_t launched = cuda::attention_fa2_backward_hd128_launches();
  for (bool fused : {false, true}) {  // the two-kernel backward, then the fused dQ
    SCOPED_TRACE(fused ? "fused dQ" : "two kernels");
    Fa2FusedDqSelected variant(fused);
    expect_gradients_match_cpu(kFa2BackwardCases, {128}, fused ? 11800 : 11700, /*explicit_scale=*/false);
  }
  EXPECT_EQ(cuda::attention_fa2_backward_hd128_launches() - launched,
            4 * static_cast<int64_t>(kFa2BackwardCases.size()));  // each shape in 2 dtypes, 2 variants
}

TEST(CudaAttentionFa2Backward, HeadDim128AgreesWithTheGeneralBackward) {
  WICK_SKIP_WITHOUT_FA2();
  Fa2BackwardHd128Selected hd128;
  std::vector<ScaledCase> cases = long_cases();
  cases.insert(cases.end(), {{200, 70, true, 0.3}, {70, 200, true, 0.3}, {130, 200, false, 0.3}});
  {
    Fa2FusedDqSelected two_kernels(false);  // (the environment may turn the fused one on)
    expect_fa2_backward_agrees_with_the_general_one(128, cases, 12200);
  }
  Fa2FusedDqSelected fused;
  expect_fa2_backward_agrees_with_the_general_one(128, {{1000, 1030, false, 0.0}, {700, 1000, true, 0.0}}, 12300);
}

TEST(CudaAttentionFa2Backward, KeysNoQuerySeesGetZeroGradients) {
  WICK_SKIP_WITHOUT_FA2();
  WgmmaBackwardSelected mma_sync(false);
  Fa2BackwardSelected bwd;
  for (DType dt : {kBFloat16, kFloat16}) {
    const TensorOptions o = TensorOptions(dt).device(kCuda);
    Generator g(13000);
    // Causal with L = 70 < S = 300: keys 70.. are never attended (whole key tiles past the queries).
    const Tensor q = randn({2, 70, 64}, o, &g), k = randn({2, 300, 64}, o, &g), v = randn({2, 300, 64}, o, &g),
                 dout = randn({2, 70, 64}, o, &g);
    const DeviceGrads got = device_backward(q, k, v, dout, true, 0.125, true, true, true);
    const TensorOptions f = TensorOptions(kFloat32);
    EXPECT_TRUE(all_equal(got.dk.slice(1, 70, 300).to(kFloat32).cpu(), zeros({2, 230, 64}, f)));
    EXPECT_TRUE(all_equal(got.dv.slice(1, 70, 300).to(kFloat32).cpu(), zeros({2, 230, 64}, f)));
    const DeviceGrads want = device_backward(q, k, v, dout, true, 0.125, false, true, true);
    EXPECT_LT(rel_error(got.dk, want.dk), 2e-2);
    EXPECT_LT(rel_error(got.dq, want.dq), 2e-2);
  }
}

TEST(CudaAttentionFa2Backward, IneligibleGradientsTakeTheGeneralKernels) {
  WICK_SKIP_WITHOUT_FA2();
  const TensorOptions o = TensorOptions(kBFloat16).device(kCuda);
  const Tensor q = zeros({2, 70, 64}, o), k = zeros({2, 90, 64}, o), v = zeros({2, 90, 64}, o);
  const Tensor dout = zeros({2, 70, 64}, o);
  EXPECT_TRUE(cuda::attention_fa2_backward_eligible(Tensor(), Tensor(), Tensor(), q, k, v, Tensor(), dout));
  // Head dim 128: the general backward, unless set_attention_fa2_backward_hd128 (attention_fa2.h); never
  // another head dim.
  const Tensor q128 = zeros({2, 70, 128}, o), k128 = zeros({2, 90, 128}, o);
  {
    Fa2BackwardHd128Selected off(false);
    EXPECT_FALSE(cuda::attention_fa2_backward_eligible(Tensor(), Tensor(), Tensor(), q128, k128, k128, Tensor(),
                                                       zeros({2, 70, 128}, o)));
  }
  {
    Fa2BackwardHd128Selected on(true);
    EXPECT_TRUE(cuda::attention_fa2_backward_eligible(Tensor(), Tensor(), Tensor(), q128, k128, k128, Tensor(),
                                                      zeros({2, 70, 128}, o)));
    const Tensor q96 = zeros({2, 70, 96}, o), k96 = zeros({2, 90, 96}, o);
    EXPECT_FALSE(cuda::attention_fa2_backward_eligible(Tensor(), Tensor(), Tensor(), q96, k96, k96, Tensor(),
                                                       zeros({2, 70, 96}, o)));
  }
  // dout starting 2 bytes into its storage: not 16-byte aligned.
  const Tensor shifted = zeros({2 * 70 * 64 + 1}, o).slice(0, 1, 2 * 70 * 64 + 1).view({2, 70, 64});
  EXPECT_FALSE(cuda::attention_fa2_backward_eligible(Tensor(), Tensor(), Tensor(), q, k, v, Tensor(), shifted));
  // A transposed (non-contiguous) gradient buffer, a float32 one, a mask.
  EXPECT_FALSE(cuda::attention_fa2_backward_eligible(zeros({2, 64, 70}, o).mT(), Tensor(), Tensor(), q, k, v,
                                                     Tensor(), dout));
  EXPECT_FALSE(cuda::attention_fa2_backward_eligible(zeros({2, 70, 64}, TensorOptions(kFloat32).device(kCuda)),
                                                     Tensor(), Tensor(), q, k, v, Tensor(), dout));
  EXPECT_FALSE(cuda::attention_fa2_backward_eligible(Tensor(), Tensor(), Tensor(), q, k, v,
                                                     ones({70, 90}, TensorOptions(kBool).device(kCuda)), dout));
  // With the misaligned upstream gradient the general backward runs: the
  // very same bits as with the FA2 backward deselected.
  Generator g(14000);
  const Tensor qr = randn({2, 70, 64}, o, &g), kr = randn({2, 90, 64}, o, &g), vr = randn({2, 90, 64}, o, &g);
  Tensor dshift = zeros({2 * 70 * 64 + 1}, o).slice(0, 1, 2 * 70 * 64 + 1).view({2, 70, 64});
  dshift.copy_(randn({2, 70, 64}, o, &g));
  const DeviceGrads want = device_backward(qr, kr, vr, dshift, true, 0.125, false, true, true);
  const DeviceGrads got = device_backward(qr, kr, vr, dshift, true, 0.125, true, true, true);
  EXPECT_TRUE(all_equal(f32(got.dq), f32(want.dq)));
  EXPECT_TRUE(all_equal(f32(got.dk), f32(want.dk)));
  EXPECT_TRUE(all_equal(f32(got.dv), f32(want.dv)));
}

// The fused variant (dQ by float32 atomics in the dK/dV kernel): the float64
// CPU through the op, then against the two-kernel FA2 backward on GPT-2-like
// lengths. dk and dv do not depend on the variant (same kernel, same order):
// bit for bit. dq is summed in a timing-dependent order: a tolerance.
TEST(CudaAttentionFa2Backward, FusedDqGradientsMatchTheFloat64Cpu) {
  WICK_SKIP_WITHOUT_FA2();
  Fa2Selected fwd;
  Fa2BackwardSelected bwd;
  Fa2FusedDqSelected fused;
  WgmmaBackwardSelected mma_sync(false);
  expect_gradients_match_cpu(
      {{1, 1, false}, {17, 33, true}, {64, 64, true}, {130, 200, false}, {130, 130, true}, {200, 70, true}, {70, 200, true}},
      {64}, 11500);
}

TEST(CudaAttentionFa2Backward, FusedDqAgreesWithTheTwoKernelBackward) {
  WICK_SKIP_WITHOUT_FA2();
  WgmmaBackwardSelected mma_sync(false);
  uint64_t seed = 12500;
  // Head dim 64; 128 only where its switch is on (its own tests: HeadDim128*).
  std::vector<int64_t> dims = {64};
  if (cuda::attention_fa2_backward_hd128()) dims.push_back(128);
  for (DType dt : {kBFloat16, kFloat16})
    for (int64_t E : dims)
      for (auto [L, S, causal] : kLongCases) {
        SCOPED_TRACE(testing::Message() << dt << " E=" << E << " L=" << L << " S=" << S << " causal=" << causal);
        const auto [q, k, v, dout] = BackwardInputs(dt, L, S, E, seed++);
        const double scale = 1.0 / std::sqrt(static_cast<double>(E));
        DeviceGrads two, one;
        {
          Fa2FusedDqSelected off(false);
          two = device_backward(q, k, v, dout, causal, scale, true, true, true);
        }
        {
          Fa2FusedDqSelected on(true);
          one = device_backward(q, k, v, dout, causal, scale, true, true, true);
        }
        EXPECT_TRUE(all_equal(f32(one.dk), f32(two.dk))) << "dk";
        EXPECT_TRUE(all_equal(f32(one.dv), f32(two.dv))) << "dv";
        // ds from s^T = K Q^T here and s = Q K^T there (a 16-bit rounding of
        // ds may flip by an ulp), float32 sums in another order, then one
        // rounding to 16 bits each: far below the bound against the general backward.
        EXPECT_LT(rel_error(one.dq, two.dq), dt == kBFloat16 ? 4e-3 : 1e-3) << "dq";
        // And the general backward, as the two-kernel test does.
        const DeviceGrads want = device_backward(q, k, v, dout, causal, scale, false, true, true);
        EXPECT_LT(rel_error(one.dq, want.dq), dt == kBFloat16 ? 2e-2 : 4e-3) << "dq vs the general backward";
      }
}

// The fused backward on wgmma (sm_90, head dim 64): through the op against
// the float64 CPU, then against the mma.sync fused backward on GPT-2-like
// lengths (the same algorithm and roundings to 16 bits; float32 sums in
// other orders), each gradient alone, and head dim 128 (not taken: the
// mma.sync kernels run it).
TEST(CudaAttentionFa2Backward, WgmmaGradientsMatchTheFloat64Cpu) {
  WICK_SKIP_WITHOUT_WGMMA();
  Fa2Selected fwd;
  Fa2BackwardSelected bwd;
  WgmmaBackwardSelected wgmma;
  expect_gradients_match_cpu({{1, 1, false},
                              {17, 33, true},
                              {64, 64, true},
                              {64, 64, false},
                              {130, 200, false},
                              {130, 130, true},
                              {200, 70, true},
                              {70, 200, true}},
                             {64}, 11700);
}

// The wgmma backward with its dQ product overlapping dV and dK
// (set_attention_wgmma_backward_pipelined): dk and dv bit for bit the serial
// kernel's, dq within the atomics' reordering; the short lengths (one tile,
// partial tiles, causal diagonals) and GPT-2's; then against the float64 CPU.
namespace {

// A variant of the wgmma backward (`select` on) against the default kernel
// (off) on the short lengths (one tile, partial tiles, causal diagonals) and
// GPT-2's, both dtypes: dk and dv bit for bit, dq within the atomics'
// reordering. Returns how many backwards ran with the variant selected.
int64_t expect_backward_variant_equals_default(void (*select)(bool), uint64_t seed) {
  std::vector<std::tuple<int64_t, int64_t, bool>> cases = {
      {1, 1, false}, {17, 33, true}, {64, 64, true}, {130, 200, false}, {200, 70, true}, {70, 200, true},
      {65, 2048, false}};  // (the last: 32 key tiles adding into each of 2 query tiles)
  for (const auto& c : kLongCases) cases.push_back(c);
  int64_t runs = 0;
  for (DType dt : {kBFloat16, kFloat16})
    for (auto [L, S, causal] : cases) {
      SCOPED_TRACE(testing::Message() << dt << " L=" << L << " S=" << S << " causal=" << causal);
      const auto [q, k, v, dout] = BackwardInputs(dt, L, S, 64, seed++);
      DeviceGrads g[2];
      for (int on = 0; on < 2; ++on) {
        select(on == 1);
        g[on] = device_backward(q, k, v, dout, causal, 0.125, true, true, true);
      }
      ++runs;
      EXPECT_TRUE(all_equal(f32(g[1].dk), f32(g[0].dk))) << "dk";
      EXPECT_TRUE(all_equal(f32(g[1].dv), f32(g[0].dv))) << "dv";
      EXPECT_LT(rel_error(g[1].dq, g[0].dq), dt == kBFloat16 ? 4e-3 : 1e-3) << "dq";
    }
  return runs;
}

}  // namespace

TEST(CudaAttentionFa2Backward, WgmmaPipelinedEqualsTheSerialKernel) {
  WICK_SKIP_WITHOUT_WGMMA();
  Fa2Selected fwd;
  Fa2BackwardSelected bwd;
  WgmmaBackwardSelected wgmma;
  const test::SwitchScope restore(cuda::attention_wgmma_backward_pipelined,
                                  cuda::set_attention_wgmma_backward_pipelined);
  expect_backward_variant_equals_default(cuda::set_attention_wgmma_backward_pipelined, 12900);
  cuda::set_attention_wgmma_backward_pipelined(true);
  expect_gradients_match_cpu({{1, 1, false}, {17, 33, true}, {130, 200, false}, {200, 70, true}}, {64}, 13100);
}

namespace {

// The wgmma backward's opt-in variants held off for a test's lifetime (and
// restored after): one left on by the environment (gpu_check's opt-in run)
// would take the launches a variant's test counts, or replace the default
// kernel it compares with. The test turns on what it tests.
struct BackwardVariantsOff {
  test::SwitchScope pipe{cuda::attention_wgmma_backward_pipelined, cuda::set_attention_wgmma_backward_pipelined};
  test::SwitchScope rows{cuda::attention_wgmma_backward_rows_async, cuda::set_attention_wgmma_backward_rows_async};
  test::SwitchScope bulk{cuda::attention_wgmma_backward_dq_bulk, cuda::set_attention_wgmma_backward_dq_bulk};
  test::SwitchScope tma{cuda::attention_wgmma_backward_tma, cuda::set_attention_wgmma_backward_tma};
  BackwardVariantsOff() {
    cuda::set_attention_wgmma_backward_pipelined(false);
    cuda::set_attention_wgmma_backward_rows_async(false);
    cuda::set_attention_wgmma_backward_dq_bulk(false);
    cuda::set_attention_wgmma_backward_tma(false);
  }
};

}  // namespace

// The wgmma backward staging lse and D by cp.async
// (set_attention_wgmma_backward_rows_async): the same values in shared memory
// and the same rounded lse * log2(e), so dk and dv bit for bit the default
// kernel's, dq within the atomics' reordering; lengths whose query tiles end
// past L (the zero-filled rows), GPT-2's; the launch counter; then against
// the float64 CPU.
TEST(CudaAttentionFa2Backward, WgmmaRowsAsyncEqualsTheDefaultKernel) {
  WICK_SKIP_WITHOUT_WGMMA();
  Fa2Selected fwd;
  Fa2BackwardSelected bwd;
  WgmmaBackwardSelected wgmma;
  const BackwardVariantsOff others;
  const int64_t before = cuda::attention_wgmma_backward_rows_async_launches();
  const int64_t runs = expect_backward_variant_equals_default(cuda::set_attention_wgmma_backward_rows_async, 13300);
  EXPECT_EQ(cuda::attention_wgmma_backward_rows_async_launches(), before + runs)
      << "not every backward took the cp.async staging";
  cuda::set_attention_wgmma_backward_rows_async(true);
  expect_gradients_match_cpu({{1, 1, false}, {17, 33, true}, {130, 200, false}, {200, 70, true}}, {64}, 13500);
}

// The bulk dQ reduction's accumulator order (attention_dq_layout.h), on the
// CPU: slot and element are inverse permutations of a 64 x 64 tile, each
// warp's share is its own contiguous 4 KiB, and every accumulator lands on
// the element the wgmma m64n64 layout gives it: thread (warp w, lane 4 g +
// t) holds d[4 j + 2 h + e] = D[16 w + g + 8 h][8 j + 2 t + e].
TEST(CudaAttentionFa2Backward, DqBulkLayoutIsTheAccumulatorsOrder) {
  namespace L = cuda::dq_bulk;
  std::vector<int> seen(L::kTileFloats, 0);
  int bad = 0;
  for (int w = 0; w < 4; ++w)
    for (int j = 0; j < 8; ++j)
      for (int lane = 0; lane < 32; ++lane)
        for (int x = 0; x < 4; ++x) {  // x = 2 h + e
          const int off = L::slot(w, j, lane) + x;
          ASSERT_GE(off, 0);
          ASSERT_LT(off, L::kTileFloats);
          ++seen[off];
          EXPECT_EQ(L::slot(w, j, lane) % 4, 0) << "16-byte stores";
          EXPECT_EQ(off / L::kWarpFloats, w) << "warp " << w << "'s 4 KiB";
          const L::RowCol rc = L::element(off);
          const int g = lane / 4, t = lane % 4, h = x / 2, e = x % 2;
          if ((rc.row != 16 * w + g + 8 * h || rc.col != 8 * j + 2 * t + e) && ++bad <= 5)
            ADD_FAILURE() << "w " << w << " j " << j << " lane " << lane << " x " << x << ": (" << rc.row << ", "
                          << rc.col << ")";
        }
  EXPECT_EQ(bad, 0);
  for (int i = 0; i < L::kTileFloats; ++i) EXPECT_EQ(seen[i], 1) << "offset " << i;
  EXPECT_EQ(L::kTileRows, 64);
}

// The bulk dQ reduction (set_attention_wgmma_backward_dq_bulk): dk and dv bit
// for bit the default kernel's, dq the same parts summed in another order;
// query lengths that end inside a tile (the accumulator's zero padding), one
// query, GPT-2's; the launch counter; alone and with the cp.async row
// staging (both instantiations); then against the float64 CPU.
TEST(CudaAttentionFa2Backward, WgmmaDqBulkEqualsTheDefaultKernel) {
  WICK_SKIP_WITHOUT_WGMMA();
  Fa2Selected fwd;
  Fa2BackwardSelected bwd;
  WgmmaBackwardSelected wgmma;
  const BackwardVariantsOff others;  // (WgmmaTmaEqualsTheDefaultKernel runs bulk dQ with the TMA loads)
  for (bool rows_async : {false, true}) {
    SCOPED_TRACE(rows_async ? "with the cp.async row staging" : "alone");
    cuda::set_attention_wgmma_backward_rows_async(rows_async);
    const int64_t before = cuda::attention_wgmma_backward_dq_bulk_launches();
    const int64_t runs =
        expect_backward_variant_equals_default(cuda::set_attention_wgmma_backward_dq_bulk, rows_async ? 13900 : 13700);
    EXPECT_EQ(cuda::attention_wgmma_backward_dq_bulk_launches(), before + runs)
        << "not every backward took the bulk dQ reduction";
  }
  cuda::set_attention_wgmma_backward_rows_async(false);
  cuda::set_attention_wgmma_backward_dq_bulk(true);
  expect_gradients_match_cpu({{1, 1, false}, {17, 33, true}, {130, 200, false}, {200, 70, true}}, {64}, 14100);
}

// The wgmma backward loading Q and dO by TMA and lse and D by cp.async onto
// mbarriers (set_attention_wgmma_backward_tma): the default kernel's values
// in shared memory (the copy engine's zero-filled rows past L, rows-async's
// lse and D), so dk and dv bit for bit the default kernel's, dq within the
// atomics' reordering; lengths whose query tiles end past L, one query,
// GPT-2's; alone and with the bulk dQ reduction (both instantiations); the
// launch counter; then against the float64 CPU.
TEST(CudaAttentionFa2Backward, WgmmaTmaEqualsTheDefaultKernel) {
  WICK_SKIP_WITHOUT_WGMMA();
  Fa2Selected fwd;
  Fa2BackwardSelected bwd;
  WgmmaBackwardSelected wgmma;
  const BackwardVariantsOff others;  // (rows-async, say, would be the other side instead of the default kernel)
  for (bool bulk : {false, true}) {
    SCOPED_TRACE(bulk ? "with the bulk dQ reduction" : "alone");
    cuda::set_attention_wgmma_backward_dq_bulk(bulk);
    const int64_t before = cuda::attention_wgmma_backward_tma_launches();
    const int64_t runs =
        expect_backward_variant_equals_default(cuda::set_attention_wgmma_backward_tma, bulk ? 14500 : 14300);
    EXPECT_EQ(cuda::attention_wgmma_backward_tma_launches(), before + runs) << "not every backward took the TMA loads";
  }
  cuda::set_attention_wgmma_backward_dq_bulk(false);
  // Head views read in place, as GPT-2's: q, k, v of a [B, L, 3, H, 64] projection (rows 768 bytes apart,
  // heads 128), dout of a [B, L, H, 64] gradient (rows 256 bytes apart): q's and dout's maps with heads
  // and strides of their own.
  uint64_t seed = 14600;
  for (DType dt : {kBFloat16, kFloat16})
    for (auto [L, causal] : {std::pair<int64_t, bool>{200, false}, {200, true}, {1024, true}}) {
      SCOPED_TRACE(testing::Message() << dt << " views L=" << L << " causal=" << causal);
      const TensorOptions o = TensorOptions(dt).device(kCuda);
      Generator g(seed++);
      const Tensor qkv = randn({2, L, 3, 2, 64}, o, &g);
      const Tensor q = qkv.select(2, 0).transpose(1, 2), k = qkv.select(2, 1).transpose(1, 2),
                   v = qkv.select(2, 2).transpose(1, 2), dout = randn({2, L, 2, 64}, o, &g).transpose(1, 2);
      Tensor out = empty({2, 2, L, 64}, o), lse = empty({4 * L}, TensorOptions(kFloat32).device(kCuda));
      cuda::attention_forward(out, lse, q, k, v, Tensor(), Tensor(), causal, 0.125);
      DeviceGrads gr[2];
      const int64_t launched = cuda::attention_wgmma_backward_tma_launches();
      for (int on = 0; on < 2; ++on) {
        cuda::set_attention_wgmma_backward_tma(on == 1);
        gr[on].dq = full({2, 2, L, 64}, Scalar(7.0), o), gr[on].dk = full({2, 2, L, 64}, Scalar(7.0), o),
        gr[on].dv = full({2, 2, L, 64}, Scalar(7.0), o);
        cuda::attention_backward(gr[on].dq, gr[on].dk, gr[on].dv, q, k, v, Tensor(), Tensor(), causal, 0.125, out,
                                 dout, lse);
      }
      EXPECT_EQ(cuda::attention_wgmma_backward_tma_launches(), launched + 1) << "the views did not take the TMA loads";
      EXPECT_TRUE(all_equal(f32(gr[1].dk), f32(gr[0].dk))) << "dk";
      EXPECT_TRUE(all_equal(f32(gr[1].dv), f32(gr[0].dv))) << "dv";
      EXPECT_LT(rel_error(gr[1].dq, gr[0].dq), dt == kBFloat16 ? 4e-3 : 1e-3) << "dq";
    }
  cuda::set_attention_wgmma_backward_tma(true);
  const int64_t before_op = cuda::attention_wgmma_backward_tma_launches();
  expect_gradients_match_cpu({{1, 1, false}, {17, 33, true}, {130, 200, false}, {200, 70, true}}, {64}, 14700);
  EXPECT_GT(cuda::attention_wgmma_backward_tma_launches(), before_op) << "the op did not run the TMA loads";
}

// The wgmma backward's grid in LPT order (set_attention_lpt):
// every CTA computes the key block it did, so dk and dv are bit for bit
// those of the slices-slowest grid and dq within the reordering of its sums
// (expect_backward_variant_equals_default: one tile, partial tiles, causal
// diagonals, GPT-2's lengths) in every wgmma backward kernel, with sections
// from the L2 size and fixed ones; each run's forward and backward take the
// order (the counter, the TMA forward held off); then against the float64
// CPU.
TEST(CudaAttentionFa2Backward, LptOrderEqualsTheSlicesSlowestGrid) {
  WICK_SKIP_WITHOUT_WGMMA();
  const SerialWgmmaForward serial;  // (the forward each run starts with: the serial kernel, in the same order)
  Fa2BackwardSelected bwd;
  WgmmaBackwardSelected wgmma;
  const BackwardVariantsOff others;
  const test::SwitchScope restore(cuda::attention_lpt, cuda::set_attention_lpt);
  const LptSectionFixed sections;
  uint64_t seed = 17100;
  // Each wgmma backward kernel: TMA loads with bulk dQ (the defaults), the copies' loads with atomics,
  // with bulk dQ and lse and D by cp.async, and the pipelined dQ. (3 slices: sections from the L2 size hold
  // all 3; sections of 2 leave a narrower last one.)
  struct Config {
    const char* name;
    bool tma, bulk, rows_async, pipe;
    int64_t width;
  };
  for (const Config& c : {Config{"TMA loads, bulk dQ", true, true, false, false, 0},
                          Config{"TMA loads, bulk dQ", true, true, false, false, 2},
                          Config{"copies, atomics", false, false, false, false, 2},
                          Config{"copies, rows-async, bulk dQ", false, true, true, false, 2},
                          Config{"pipelined", false, false, false, true, 2}}) {
    SCOPED_TRACE(testing::Message() << c.name << ", sections of " << c.width);
    cuda::set_attention_wgmma_backward_tma(c.tma);
    cuda::set_attention_wgmma_backward_dq_bulk(c.bulk);
    cuda::set_attention_wgmma_backward_rows_async(c.rows_async);
    cuda::set_attention_wgmma_backward_pipelined(c.pipe);
    cuda::set_attention_lpt_section(c.width);
    const int64_t before = cuda::attention_lpt_launches(), tma_before = cuda::attention_wgmma_backward_tma_launches();
    const int64_t runs = expect_backward_variant_equals_default(cuda::set_attention_lpt, seed);
    seed += 200;
    EXPECT_EQ(cuda::attention_lpt_launches(), before + 2 * runs) << "not every forward and backward took the order";
    EXPECT_EQ(cuda::attention_wgmma_backward_tma_launches(), tma_before + (c.tma ? 2 * runs : 0));
  }
  cuda::set_attention_wgmma_backward_rows_async(false);
  cuda::set_attention_wgmma_backward_pipelined(false);
  cuda::set_attention_wgmma_backward_tma(true);
  cuda::set_attention_wgmma_backward_dq_bulk(true);
  cuda::set_attention_lpt_section(0);
  cuda::set_attention_lpt(true);
  const int64_t before_op = cuda::attention_lpt_launches();
  expect_gradients_match_cpu({{1, 1, false}, {17, 33, true}, {130, 200, false}, {200, 70, true}}, {64}, 17500);
  EXPECT_GT(cuda::attention_lpt_launches(), before_op) << "the op did not take the LPT grid";
}

TEST(CudaAttentionFa2Backward, WgmmaAgreesWithTheMmaSyncFusedBackward) {
  WICK_SKIP_WITHOUT_WGMMA();
  Fa2FusedDqSelected fused;
  uint64_t seed = 12700;
  for (DType dt : {kBFloat16, kFloat16})
    for (auto [L, S, causal] : kLongCases) {
      SCOPED_TRACE(testing::Message() << dt << " L=" << L << " S=" << S << " causal=" << causal);
      const auto [q, k, v, dout] = BackwardInputs(dt, L, S, 64, seed++);
      DeviceGrads mma, wg;
      {
        WgmmaBackwardSelected off(false);
        mma = device_backward(q, k, v, dout, causal, 0.125, true, true, true);
      }
      WgmmaBackwardSelected on(true);
      wg = device_backward(q, k, v, dout, causal, 0.125, true, true, true);
      const double bound = dt == kBFloat16 ? 4e-3 : 1e-3;
      EXPECT_LT(rel_error(wg.dq, mma.dq), bound) << "dq";
      EXPECT_LT(rel_error(wg.dk, mma.dk), bound) << "dk";
      EXPECT_LT(rel_error(wg.dv, mma.dv), bound) << "dv";
      // One gradient alone takes the two-kernel mma.sync path (the fused ones need dq and dk or dv).
      const DeviceGrads only_kv = device_backward(q, k, v, dout, causal, 0.125, true, false, true);
      EXPECT_LT(rel_error(only_kv.dk, wg.dk), bound) << "dk alone";
      const DeviceGrads want = device_backward(q, k, v, dout, causal, 0.125, false, true, true);
      EXPECT_LT(rel_error(wg.dq, want.dq), dt == kBFloat16 ? 2e-2 : 4e-3) << "dq vs the general backward";
    }
  // Head dim 128 with the switch on: not taken (the wgmma backward takes head dim 64 only), the general
  // kernels in both settings (or the mma.sync ones, with set_attention_fa2_backward_hd128).
  const auto [q, k, v, dout] = BackwardInputs(kBFloat16, 300, 300, 128, seed);
  DeviceGrads a, b;
  {
    WgmmaBackwardSelected on(true);
    a = device_backward(q, k, v, dout, true, 0.1, true, true, true);
  }
  {
    WgmmaBackwardSelected off(false);
    b = device_backward(q, k, v, dout, true, 0.1, true, true, true);
  }
  EXPECT_TRUE(all_equal(f32(a.dk), f32(b.dk)));
  EXPECT_TRUE(all_equal(f32(a.dv), f32(b.dv)));
  EXPECT_LT(rel_error(a.dq, b.dq), 4e-3);  // atomics: the order of dq's sums varies
}

// ---- cuDNN's SDPA node as the alternate (cuda/vendor/cudnn_attention.cpp) ----
// Selected for a scope: the non-causal, unmasked 16-bit inputs it takes
// against the float64 CPU (out, lse, and the gradients through the op, by
// cuDNN's backward where cuDNN builds one, else wick's on cuDNN's lse), that
// cuDNN really ran them (its plan cache grew), and that the requests it does
// not take (causal, masks, float32) run wick's kernels bit for bit.
#include "cuda/vendor/cudnn.h"
#include "cuda/vendor/cudnn_attention.h"

namespace {

class BackendScope {
 public:
  explicit BackendScope(cuda::AttentionBackend b) : prev_(cuda::attention_backend()) { cuda::set_attention_backend(b); }
  ~BackendScope() { cuda::set_attention_backend(prev_); }
  BackendScope(const BackendScope&) = delete;
  BackendScope& operator=(const BackendScope&) = delete;

 private:
  cuda::AttentionBackend prev_;
};

// Whether cuDNN's node takes plain inputs here (an sm_80+ device, cuDNN built).
bool cudnn_attention_runs_here() {
  const TensorOptions o = TensorOptions(kBFloat16).device(kCuda);
  return cuda::vendor::cudnn_attention_eligible(zeros({1, 4, 64}, o), zeros({1, 4, 64}, o), zeros({1, 4, 64}, o),
                                                Tensor(), false);
}

// Skips without cuDNN or below sm_80; on sm_90 a refusal is a bug.
#define WICK_SKIP_WITHOUT_CUDNN_ATTENTION()                                                              \
  do {                                                                                                   \
    WICK_SKIP_WITHOUT_CUDA();                                                                            \
    if (!cuda::vendor::cudnn_built()) GTEST_SKIP() << "this build has no cuDNN";                          \
    if (!cudnn_attention_runs_here()) {                                                                  \
      if (cuda::wgmma_supported(cuda::current_device())) FAIL() << "cuDNN attention refuses plain inputs on sm_90"; \
      GTEST_SKIP() << "cuDNN's fused attention needs sm_80+";                                            \
    }                                                                                                    \
  } while (0)

}  // namespace

TEST(CudaAttentionCudnn, BackendSelection) {
  EXPECT_STREQ(cuda::attention_backend_name(cuda::AttentionBackend::Wick), "wick");
  EXPECT_STREQ(cuda::attention_backend_name(cuda::AttentionBackend::Cudnn), "cudnn");
  const char* env = std::getenv("WICK_CUDA_ATTENTION");
  const bool cudnn_env = env != nullptr && std::string(env) == "cudnn";
  EXPECT_EQ(cuda::attention_backend(), cudnn_env ? cuda::AttentionBackend::Cudnn : cuda::AttentionBackend::Wick);
  if (cuda::vendor::cudnn_built()) {
    BackendScope scope(cuda::AttentionBackend::Cudnn);
    EXPECT_EQ(cuda::attention_backend(), cuda::AttentionBackend::Cudnn);
  } else {
    EXPECT_THROW(cuda::set_attention_backend(cuda::AttentionBackend::Cudnn), Error);
    EXPECT_FALSE(cuda::vendor::cudnn_attention_eligible(Tensor(), Tensor(), Tensor(), Tensor(), false));
  }
}

TEST(CudaAttentionCudnn, ForwardMatchesTheFloat64Cpu) {
  WICK_SKIP_WITHOUT_CUDNN_ATTENTION();
  BackendScope scope(cuda::AttentionBackend::Cudnn);
  uint64_t seed = 15000;
  for (DType dt : {kBFloat16, kFloat16})
    for (int64_t E : {64, 128})
      for (auto [L, S] : {std::pair<int64_t, int64_t>{128, 128}, {100, 160}, {1, 33}, {257, 64}}) {
        SCOPED_TRACE(testing::Message() << dt << " E=" << E << " L=" << L << " S=" << S);
        const Tensor q = normal_as({3, L, E}, dt, seed++), k = normal_as({3, S, E}, dt, seed++),
                     v = normal_as({3, S, E}, dt, seed++);
        const size_t plans = cuda::vendor::cudnn_attention_plan_count();
        expect_forward_matches_cpu(q, k, v, false, 1.0 / std::sqrt(static_cast<double>(E)), dt,
                                   [](const Tensor& a, const Tensor& b, const Tensor& c) {
                                     return cuda::vendor::cudnn_attention_eligible(a, b, c, Tensor(), false);
                                   });
        EXPECT_EQ(cuda::vendor::cudnn_attention_plan_count(), plans + 1) << "cuDNN built a plan for the shape";
      }
}

TEST(CudaAttentionCudnn, GradientsThroughTheOpMatchTheFloat64Cpu) {
  WICK_SKIP_WITHOUT_CUDNN_ATTENTION();
  BackendScope scope(cuda::AttentionBackend::Cudnn);
  uint64_t seed = 16000;
  for (DType dt : {kBFloat16, kFloat16})
    for (int64_t E : {64, 128})
      for (auto [L, S] : {std::pair<int64_t, int64_t>{128, 128}, {100, 160}}) {
        SCOPED_TRACE(testing::Message() << dt << " E=" << E << " L=" << L << " S=" << S);
        const Tensor q = normal_as({2, 3, L, E}, dt, seed++), k = normal_as({2, 3, S, E}, dt, seed++),
                     v = normal_as({2, 3, S, E}, dt, seed++);
        expect_matches_cpu(q, k, v, Tensor(), false, {}, dt, seed++);
      }
  std::printf("cuDNN attention: %zu plans cached (forward and backward shapes, refused backward ones included)\n",
              cuda::vendor::cudnn_attention_plan_count());
}

TEST(CudaAttentionCudnn, RequestsItDoesNotTakeRunWicksKernels) {
  WICK_SKIP_WITHOUT_CUDNN_ATTENTION();
  const TensorOptions o = TensorOptions(kBFloat16).device(kCuda);
  Generator g(17000);
  const Tensor q = randn({2, 70, 64}, o, &g), k = randn({2, 90, 64}, o, &g), v = randn({2, 90, 64}, o, &g);
  const Tensor mask = ones({70, 90}, TensorOptions(kBool).device(kCuda));
  EXPECT_FALSE(cuda::vendor::cudnn_attention_eligible(q, k, v, Tensor(), true)) << "causal";
  EXPECT_FALSE(cuda::vendor::cudnn_attention_eligible(q, k, v, mask, false)) << "mask";
  EXPECT_FALSE(cuda::vendor::cudnn_attention_eligible(q.to(kFloat32), k.to(kFloat32), v.to(kFloat32), Tensor(), false))
      << "float32";
  EXPECT_FALSE(cuda::vendor::cudnn_attention_eligible(q.slice(2, 0, 60).contiguous(), k.slice(2, 0, 60).contiguous(),
                                                      v.slice(2, 0, 60).contiguous(), Tensor(), false))
      << "head dim 60, not a multiple of 8";
  auto run = [&](cuda::AttentionBackend b) {
    BackendScope scope(b);
    Tensor out = empty({2, 70, 64}, o), lse = empty({140}, TensorOptions(kFloat32).device(kCuda));
    cuda::attention_forward(out, lse, q, k, v, Tensor(), Tensor(), true, 0.125);
    return out.to(kFloat32).cpu();
  };
  const size_t plans = cuda::vendor::cudnn_attention_plan_count();
  EXPECT_TRUE(all_equal(run(cuda::AttentionBackend::Cudnn), run(cuda::AttentionBackend::Wick)));
  EXPECT_EQ(cuda::vendor::cudnn_attention_plan_count(), plans) << "a causal request must not reach cuDNN";
}

// ---- q, k, v read in place (set_attention_strided) ---------------------------
//
// With the switch on, scaled_dot_product_attention hands the kernels the
// heads of a [B, T, 3 H D] projection as they are (no packed copies) and
// lays the output and the gradients out [B, T, H, D]. The kernels compute
// the same sums in the same order either way, so the results must equal the
// packed path's bit for bit, except dq where the backward adds it with
// atomics (the wgmma and fused FA2 backwards: summation order by timing).

namespace {

struct StridedSelected : Selection {
  explicit StridedSelected(bool on = true) : Selection(cuda::attention_strided, cuda::set_attention_strided, on) {}
};

// out and dx of causal attention on the heads of x [B, T, 3 H D] (CUDA).
tensor_list head_views_attention(const Tensor& x0, int64_t H, bool causal, const Tensor& gy, bool strided,
                                 bool expect_in_place) {
  StridedSelected sel(strided);
  const int64_t B = x0.size(0), T = x0.size(1), D = x0.size(2) / (3 * H);
  Tensor x = x0.detach().requires_grad_(true);
  std::vector<Tensor> qkv = split(x, H * D, -1);
  auto heads = [&](const Tensor& t) { return t.view({B, T, H, D}).transpose(1, 2); };
  Tensor q = heads(qkv[0]), k = heads(qkv[1]), v = heads(qkv[2]);
  if (expect_in_place && strided) EXPECT_TRUE(cuda::attention_fa2_eligible(q, k, v, Tensor())) << "FA2 in place";
  Tensor y = scaled_dot_product_attention(q, k, v, {}, 0.0, causal);
  if (strided)
    EXPECT_TRUE(y.transpose(1, 2).is_contiguous()) << "the output laid out [B, T, H, D]";
  else
    EXPECT_TRUE(y.is_contiguous());
  tensor_list g = autograd::grad({y}, {x}, {gy.to(kCuda).to(y.dtype())});
  return {y.detach(), g[0]};
}

void expect_strided_equals_packed(DType dt, int64_t D, bool causal, uint64_t seed, bool dq_by_atomics) {
  SCOPED_TRACE(testing::Message() << dt << " head dim " << D << (causal ? " causal" : ""));
  const int64_t B = 2, T = 130, H = 3;
  const Tensor x = normal_as({B, T, 3 * H * D}, dt, seed).to(kCuda).to(dt);
  const Tensor gy = normal_as({B, H, T, D}, dt, seed + 1);
  const bool fa2 = (dt == kBFloat16 || dt == kFloat16) && (D == 64 || D == 128);
  const tensor_list a = head_views_attention(x, H, causal, gy, true, fa2);
  const tensor_list b = head_views_attention(x, H, causal, gy, false, fa2);
  // (As float32, an exact cast: the CPU holds no 16-bit dtypes.)
  EXPECT_TRUE(all_equal(a[0].to(kFloat32).cpu(), b[0].to(kFloat32).cpu())) << "out";
  const Tensor da = a[1].to(kFloat32).cpu(), db = b[1].to(kFloat32).cpu();
  EXPECT_TRUE(all_equal(da.narrow(2, H * D, 2 * H * D), db.narrow(2, H * D, 2 * H * D))) << "dk, dv";
  if (dq_by_atomics)
    EXPECT_LT(rel_error(da.narrow(2, 0, H * D), db.narrow(2, 0, H * D)), 1e-3) << "dq";
  else
    EXPECT_TRUE(all_equal(da.narrow(2, 0, H * D), db.narrow(2, 0, H * D))) << "dq";
}

}  // namespace

TEST(CudaAttentionStrided, HeadViewsEqualThePackedPathInEveryKernel) {
  WICK_SKIP_WITHOUT_CUDA();
  uint64_t seed = 9000;
  // The general kernels: float32 (SIMT), 16-bit head dim 40 (tensor cores, not FA2).
  for (bool causal : {false, true}) {
    expect_strided_equals_packed(kFloat32, 64, causal, seed += 2, false);
    expect_strided_equals_packed(kBFloat16, 40, causal, seed += 2, false);
  }
  if (!fa2_runs_here()) GTEST_SKIP() << "the FA2 kernels need sm_80+";
  const bool wgmma = cuda::wgmma_supported(cuda::current_device());
  for (DType dt : {kBFloat16, kFloat16})
    for (bool causal : {false, true}) {
      {  // the defaults (sm_90: the wgmma forward and backward, dq by atomics)
        SCOPED_TRACE("defaults");
        // (dq by atomics: the wgmma backward, or the fused FA2 one where the environment turns it on.)
        expect_strided_equals_packed(dt, 64, causal, seed += 2,
                                     cuda::attention_fa2_backward_fused() || (wgmma && cuda::attention_wgmma_backward()));
        // (Head dim 128: the general backward, or with WICK_CUDA_ATTENTION_FA2_BWD_HD128 the FA2 one, fused
        // (dq by atomics) where the environment turns that on too.)
        expect_strided_equals_packed(dt, 128, causal, seed += 2,
                                     cuda::attention_fa2_backward_hd128() && cuda::attention_fa2_backward_fused());
      }
      {  // the mma.sync kernels: 64- and 128-row forwards, the two-kernel and fused FA2 backwards
        SCOPED_TRACE("mma.sync");
        WgmmaForwardSelected no_wgmma_fwd(false);
        WgmmaBackwardSelected no_wgmma_bwd(false);
        Fa2BackwardSelected fa2_bwd(true);
        {
          Fa2FusedDqSelected two_kernels(false);  // (the environment may turn the fused one on)
          expect_strided_equals_packed(dt, 64, causal, seed += 2, false);
        }
        {
          Fa2Rows128Selected rows64(false);
          Fa2FusedDqSelected fused(true);
          expect_strided_equals_packed(dt, 64, causal, seed += 2, true);
        }
        {  // head dim 128 (set_attention_fa2_backward_hd128), both backwards: the views and the packed copies
          Fa2BackwardHd128Selected hd128;
          const int64_t launched = cuda::attention_fa2_backward_hd128_launches();
          {
            Fa2FusedDqSelected two_kernels(false);
            expect_strided_equals_packed(dt, 128, causal, seed += 2, false);
          }
          Fa2FusedDqSelected fused(true);
          expect_strided_equals_packed(dt, 128, causal, seed += 2, true);
          EXPECT_EQ(cuda::attention_fa2_backward_hd128_launches() - launched, 4) << "the FA2 backward at 128";
        }
      }
      {  // the general tensor-core kernels at head dim 64
        SCOPED_TRACE("general");
        Selection no_fa2(cuda::attention_fa2, cuda::set_attention_fa2, false);
        WgmmaBackwardSelected no_wgmma_bwd(false);
        // (The FA2 backward is chosen apart from the forward: held off, or it (on by default before sm_90,
        // WICK_CUDA_ATTENTION_FA2_BWD) would take this backward, with WICK_CUDA_ATTENTION_FA2_BWD_FUSED=1 adding
        // dq by atomics.)
        Fa2BackwardSelected no_fa2_bwd(false);
        Fa2FusedDqSelected no_fused(false);
        expect_strided_equals_packed(dt, 64, causal, seed += 2, false);
      }
    }
}

TEST(CudaAttentionStrided, HeadViewsMatchTheFloat64Cpu) {
  WICK_SKIP_WITHOUT_CUDA();
  StridedSelected on;
  expect_head_views_match_cpu();  // NonContiguousHeadViews' check, the views read in place
}

TEST(CudaAttentionStrided, SharedKeysAndUnalignedViews) {
  WICK_SKIP_WITHOUT_CUDA();
  StridedSelected on;
  uint64_t seed = 9100;
  // The views are made on each device from leaves (a copy to the device
  // would pack them): out and the leaves' gradients, device against CPU.
  auto both = [&](DType dt, const std::vector<Tensor>& leaves, const Shape& out_shape,
                  const std::function<Tensor(const tensor_list&)>& f) {
    tensor_list cpu, dev;
    for (const Tensor& t : leaves) {
      cpu.push_back(t.detach().requires_grad_(true));
      dev.push_back(t.to(kCuda).to(dt).requires_grad_(true));
    }
    const Tensor gy = normal_as(out_shape, dt, seed++);
    expect_lists_close(forward_backward([&] { return f(dev); }, dev, gy),
                       forward_backward([&] { return f(cpu); }, cpu, gy), tol(dt));
  };
  for (DType dt : {kFloat32, kBFloat16}) {
    SCOPED_TRACE(testing::Message() << dt);
    // Keys and values shared by the heads: a stride-0 head dim, read in place.
    const Shape kv{2, 4, 60, 64};
    both(dt, {normal_as({2, 4, 50, 64}, dt, seed++), normal_as({2, 1, 60, 64}, dt, seed++),
              normal_as({2, 1, 60, 64}, dt, seed++)},
         {2, 4, 50, 64}, [&](const tensor_list& t) {
           return scaled_dot_product_attention(t[0], t[1].expand(kv), t[2].expand(kv), {}, 0.0, true);
         });
    // Query rows 8 bytes off 16-byte alignment: copied packed for 16-bit
    // dtypes (the FA2 kernels move 16-byte chunks), read in place for float32.
    both(dt, {normal_as({2, 50, 68}, dt, seed++), normal_as({2, 60, 64}, dt, seed++),
              normal_as({2, 60, 64}, dt, seed++)},
         {2, 50, 64}, [&](const tensor_list& t) {
           return scaled_dot_product_attention(t[0].narrow(2, 4, 64), t[1], t[2], {}, 0.0, false);
         });
  }
}
#endif  // WICK_WITH_CUDA
