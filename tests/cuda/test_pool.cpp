// The CUDA pooling and resampling kernels (cuda/kernels/pool.cu) through the
// ops, against the CPU kernels: max_pool2d (stride, padding, dilation,
// ceil_mode, ties, indices), avg_pool2d (count_include_pad, ceil_mode,
// kernels that do not divide), adaptive_avg_pool2d (non-divisible and
// overlapping bins), interpolate (nearest / bilinear, align_corners, sizes
// and scale factors); forward and backward through autograd, unbatched,
// non-contiguous and empty inputs, float16/bfloat16 against the float64 CPU
// result, float64 gradchecks on the device, deterministic backward. Every
// test skips without a GPU.
#include <gtest/gtest.h>

#include <array>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "autograd/gradcheck.h"
#include "ops/copy.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/pool.h"
#include "ops/reduction.h"
#include "ops/view.h"
#include "support/cuda_util.h"
#include "support/test_util.h"

using namespace wick;
using wick::test::all_close;
using wick::test::all_equal;

namespace {

const Device kCuda("cuda");
using Fn = std::function<Tensor(const Tensor&)>;

using wick::test::normal;

double tol(DType dt) { return dt == kFloat64 ? 1e-12 : 2e-6; }

// y = f(x) and dL/dx for L = sum(y * w).
struct Pass {
  Tensor y, gx;
};
Pass forward_backward(const Fn& f, const Tensor& x, const Tensor& w) {
  Tensor xl = x.detach().requires_grad_(true);
  Tensor y = f(xl);
  sum(mul(y, w)).backward();
  return {y.detach(), xl.grad()};
}

// f on the GPU against f on the CPU, forward and backward, of view(x) for a
// CPU tensor x (the view is taken on each device: .to() makes a copy
// contiguous).
void expect_matches_cpu(const Fn& f, const Tensor& x, double t, const Fn& view = {}) {
  const Tensor xc = view ? view(x) : x, xg = view ? view(x.to(kCuda)) : x.to(kCuda);
  ASSERT_EQ(xc.is_contiguous(), xg.is_contiguous());
  const Tensor w = normal(f(xc).sizes(), x.dtype(), 99);
  const Pass c = forward_backward(f, xc, w);
  const Pass g = forward_backward(f, xg, w.to(kCuda));
  ASSERT_TRUE(g.y.is_cuda());
  ASSERT_EQ(g.y.sizes(), c.y.sizes());
  EXPECT_TRUE(all_close(g.y.cpu(), c.y, t, t));
  ASSERT_TRUE(g.gx.defined());
  EXPECT_TRUE(g.gx.is_cuda());
  EXPECT_TRUE(all_close(g.gx.cpu(), c.gx, t, t));
}

// Every pooling/resampling configuration the tests sweep, named.
struct Case {
  std::string name;
  Fn f;
};
std::vector<Case> all_cases() {
  std::vector<Case> cs;
  using P = std::array<int64_t, 2>;
  for (bool ceil : {false, true}) {
    const std::string c = ceil ? " ceil" : "";
    cs.push_back({"max k2" + c, [=](const Tensor& x) { return max_pool2d(x, {2, 2}, {}, {0, 0}, {1, 1}, ceil); }});
    cs.push_back({"max k3 s2 p1" + c,
                  [=](const Tensor& x) { return max_pool2d(x, {3, 3}, P{2, 2}, {1, 1}, {1, 1}, ceil); }});
    cs.push_back({"max k3x2 s1x3 p1x0 d1x2" + c,
                  [=](const Tensor& x) { return max_pool2d(x, {3, 2}, P{1, 3}, {1, 0}, {1, 2}, ceil); }});
    cs.push_back({"max k3 s1 d2 (overlapping)" + c,
                  [=](const Tensor& x) { return max_pool2d(x, {3, 3}, P{1, 1}, {1, 1}, {2, 2}, ceil); }});
    for (bool cip : {false, true}) {
      const std::string n = c + (cip ? " count_pad" : "");
      cs.push_back({"avg k3 s2 p1" + n,
                    [=](const Tensor& x) { return avg_pool2d(x, {3, 3}, P{2, 2}, {1, 1}, ceil, cip); }});
      cs.push_back({"avg k2x3 s1x2 p1x1 (overlapping)" + n,
                    [=](const Tensor& x) { return avg_pool2d(x, {2, 3}, P{1, 2}, {1, 1}, ceil, cip); }});
      cs.push_back({"avg k4 s3" + n, [=](const Tensor& x) { return avg_pool2d(x, {4, 4}, P{3, 3}, {0, 0}, ceil, cip); }});
    }
  }
  for (P o : {P{3, 4}, P{5, 7}, P{1, 1}, P{9, 13}, P{7, 2}})
    cs.push_back({"adaptive " + shape_str({o[0], o[1]}), [=](const Tensor& x) { return adaptive_avg_pool2d(x, o); }});
  for (P s : {P{11, 5}, P{14, 18}, P{3, 4}, P{7, 9}}) {
    cs.push_back({"nearest size " + shape_str({s[0], s[1]}), [=](const Tensor& x) { return interpolate(x, s); }});
    for (bool ac : {false, true})
      cs.push_back({"bilinear size " + shape_str({s[0], s[1]}) + (ac ? " align" : ""),
                    [=](const Tensor& x) { return interpolate(x, s, {}, "bilinear", ac); }});
  }
  using D = std::array<double, 2>;
  for (D sf : {D{2.0, 2.0}, D{0.5, 1.5}, D{1.7, 0.6}, D{3.0, 1.0}}) {
    const std::string n = " scale " + std::to_string(sf[0]) + "x" + std::to_string(sf[1]);
    cs.push_back({"nearest" + n, [=](const Tensor& x) { return interpolate(x, {}, sf); }});
    for (bool ac : {false, true})
      cs.push_back({"bilinear" + n + (ac ? " align" : ""),
                    [=](const Tensor& x) { return interpolate(x, {}, sf, "bilinear", ac); }});
  }
  return cs;
}

}  // namespace

TEST(CudaPool, EveryOptionMatchesTheCpuForwardAndBackward) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : {kFloat32, kFloat64})
    for (const Shape& s : {Shape{2, 3, 7, 9}, Shape{3, 8, 5}, Shape{1, 2, 10, 10}})
      for (const Case& c : all_cases()) {
        SCOPED_TRACE(str(dt, " ", shape_str(s), " ", c.name));
        expect_matches_cpu(c.f, normal(s, dt, 3), tol(dt));
      }
}

TEST(CudaPool, NonContiguousInputs) {
  WICK_SKIP_WITHOUT_CUDA();
  // A transposed plane ([2, 3, 9, 7] -> [2, 3, 7, 9]) and a channel-sliced view.
  const Fn transposed = [](const Tensor& v) { return v.transpose(2, 3); };
  const Fn sliced = [](const Tensor& v) { return v.slice(1, 1, {}, 2); };
  const Tensor t = normal({2, 3, 9, 7}, kFloat32, 5), sl = normal({2, 6, 7, 9}, kFloat32, 6);
  ASSERT_FALSE(transposed(t.to(kCuda)).is_contiguous());
  ASSERT_FALSE(sliced(sl.to(kCuda)).is_contiguous());
  for (const Case& c : all_cases()) {
    SCOPED_TRACE(c.name);
    expect_matches_cpu(c.f, t, tol(kFloat32), transposed);
    expect_matches_cpu(c.f, sl, tol(kFloat32), sliced);
  }
}

TEST(CudaPool, MaxPoolIndicesAndTiesMatchTheCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  // Values on a coarse grid: many ties inside each window (the first maximum
  // wins), and overlapping windows sharing their argmax (the backward sums).
  Tensor x = round(mul(normal({2, 3, 8, 11}, kFloat32, 9), 1.5));
  using P = std::array<int64_t, 2>;
  for (auto [k, s, p, d, ceil] : std::vector<std::tuple<P, P, P, P, bool>>{
           {{3, 3}, {1, 1}, {1, 1}, {1, 1}, false},
           {{3, 2}, {2, 1}, {1, 1}, {2, 1}, true},
           {{2, 2}, {2, 2}, {0, 0}, {1, 1}, true},
           {{3, 3}, {2, 2}, {0, 0}, {2, 2}, false}}) {
    SCOPED_TRACE(str(shape_str({k[0], k[1]}), " s ", shape_str({s[0], s[1]}), " ceil ", ceil));
    auto [vc, ic] = max_pool2d_with_indices(x, k, s, p, d, ceil);
    auto [vg, ig] = max_pool2d_with_indices(x.to(kCuda), k, s, p, d, ceil);
    EXPECT_EQ(ig.dtype(), kInt64);
    EXPECT_TRUE(all_equal(vg.cpu(), vc));
    EXPECT_TRUE(all_equal(ig.cpu(), ic));
    expect_matches_cpu([=](const Tensor& v) { return max_pool2d(v, k, s, p, d, ceil); }, x, 1e-6);
  }
  // A window entirely in the padding (one row, kernel 2 with dilation 2 and
  // padding 1: taps -1 and 1): -inf and index -1, like the CPU.
  Tensor one = normal({1, 2, 1, 5}, kFloat32, 10);
  auto [vc, ic] = max_pool2d_with_indices(one, {2, 1}, P{1, 1}, {1, 0}, {2, 1});
  auto [vg, ig] = max_pool2d_with_indices(one.to(kCuda), {2, 1}, P{1, 1}, {1, 0}, {2, 1});
  ASSERT_EQ(ic.sizes(), (Shape{1, 2, 1, 5}));
  EXPECT_EQ(ic.tolist<int64_t>()[0], -1);
  EXPECT_TRUE(all_equal(ig.cpu(), ic));
  EXPECT_TRUE(all_equal(vg.cpu(), vc));
}

TEST(CudaPool, BackwardIsDeterministic) {
  WICK_SKIP_WITHOUT_CUDA();
  Tensor x = round(mul(normal({4, 8, 33, 31}, kFloat32, 11), 2.0)).to(kCuda);
  const std::vector<Fn> fs = {
      [](const Tensor& v) { return max_pool2d(v, {3, 3}, std::array<int64_t, 2>{1, 1}, {1, 1}); },
      [](const Tensor& v) { return avg_pool2d(v, {5, 5}, std::array<int64_t, 2>{2, 2}, {2, 2}); },
      [](const Tensor& v) { return adaptive_avg_pool2d(v, {7, 6}); },
      [](const Tensor& v) { return interpolate(v, {}, std::array<double, 2>{0.3, 0.45}, "bilinear"); },
      [](const Tensor& v) { return interpolate(v, std::array<int64_t, 2>{70, 65}, {}, "bilinear", true); }};
  for (size_t i = 0; i < fs.size(); ++i) {
    const Tensor w = normal(fs[i](x).sizes(), kFloat32, 12).to(kCuda);
    const Tensor a = forward_backward(fs[i], x, w).gx.cpu(), b = forward_backward(fs[i], x, w).gx.cpu();
    EXPECT_TRUE(all_equal(a, b)) << i;
  }
}

TEST(CudaPool, EmptyBatch) {
  WICK_SKIP_WITHOUT_CUDA();
  Tensor x = empty({0, 3, 6, 5}, TensorOptions(kFloat32).device(kCuda));
  for (const Case& c : all_cases()) {
    SCOPED_TRACE(c.name);
    Tensor xl = x.detach().requires_grad_(true);
    Tensor y = c.f(xl);
    EXPECT_TRUE(y.is_cuda());
    EXPECT_EQ(y.size(0), 0);
    EXPECT_EQ(y.sizes(), c.f(empty({0, 3, 6, 5}, TensorOptions(kFloat32))).sizes());
    sum(y).backward();
    ASSERT_TRUE(xl.grad().defined());
    EXPECT_EQ(xl.grad().sizes(), x.sizes());
  }
}

TEST(CudaPool, HalfPrecisionMatchesTheFloat64Cpu) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : {kFloat16, kBFloat16}) {
    const double t = dt == kFloat16 ? 4e-3 : 3e-2;
    Tensor x = normal({2, 3, 9, 10}, kFloat32, 13).to(kCuda).to(dt);
    Tensor xr = x.to(kFloat32).cpu().to(kFloat64);  // the rounded input, as the reference sees it
    for (const Case& c : all_cases()) {
      SCOPED_TRACE(str(dt, " ", c.name));
      const Tensor ref_y = c.f(xr);
      const Tensor w = normal(ref_y.sizes(), kFloat32, 14).to(kCuda).to(dt);
      const Tensor wr = w.to(kFloat32).cpu().to(kFloat64);
      const Pass g = forward_backward(c.f, x, w), r = forward_backward(c.f, xr, wr);
      EXPECT_EQ(g.y.dtype(), dt);
      EXPECT_EQ(g.gx.dtype(), dt);
      EXPECT_TRUE(all_close(g.y.to(kFloat32).cpu().to(kFloat64), r.y, t, t));
      // The gradient sums up to (k d / s)^2 rounded products: looser.
      EXPECT_TRUE(all_close(g.gx.to(kFloat32).cpu().to(kFloat64), r.gx, 4 * t, 4 * t));
    }
  }
}

TEST(CudaPool, GradcheckFloat64OnTheDevice) {
  WICK_SKIP_WITHOUT_CUDA();
  auto on_gpu = [](Fn f) {
    return [f](const tensor_list& in) {
      Tensor out = f(in[0].to(kCuda));
      EXPECT_TRUE(out.is_cuda());
      return out.to(kCPU);
    };
  };
  // rand_f64 values are distinct, so every max window has a unique argmax.
  Tensor x = wick::test::rand_f64({2, 2, 5, 6}, 1);
  using P = std::array<int64_t, 2>;
  const std::vector<Fn> fs = {
      [](const Tensor& v) { return max_pool2d(v, {3, 2}, P{1, 2}, {1, 1}, {1, 1}, true); },
      [](const Tensor& v) { return avg_pool2d(v, {3, 3}, P{2, 1}, {1, 1}, true, false); },
      [](const Tensor& v) { return adaptive_avg_pool2d(v, {3, 4}); },
      [](const Tensor& v) { return interpolate(v, P{7, 4}, {}, "bilinear", false); },
      [](const Tensor& v) { return interpolate(v, P{4, 9}, {}, "bilinear", true); },
      [](const Tensor& v) { return interpolate(v, {}, std::array<double, 2>{1.5, 0.7}); }};
  for (size_t i = 0; i < fs.size(); ++i) {
    EXPECT_TRUE(gradcheck(on_gpu(fs[i]), {x})) << i;
    EXPECT_TRUE(gradgradcheck(on_gpu(fs[i]), {x})) << i;
  }
}

TEST(CudaPool, Errors) {
  WICK_SKIP_WITHOUT_CUDA();
  Tensor i = zeros({1, 2, 4, 4}, TensorOptions(kInt64).device(kCuda));
  EXPECT_WICK_ERROR(max_pool2d(i, {2, 2}), "expected a floating input");
  EXPECT_WICK_ERROR(interpolate(i, std::array<int64_t, 2>{8, 8}), "expected a floating input");
  Tensor x = zeros({1, 2, 4, 4}, TensorOptions(kFloat32).device(kCuda));
  EXPECT_WICK_ERROR(avg_pool2d(x, {5, 5}), "too small");
  EXPECT_WICK_ERROR(interpolate(x, std::array<int64_t, 2>{8, 8}, {}, "bicubic"), "unsupported mode");
}
