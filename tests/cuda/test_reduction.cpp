// CUDA reductions (cuda/kernels/reduce.cu) through the ops, against the CPU:
// every op over every dim set of odd shapes, reduced sizes 1, 3, 31, 33,
// 1025, 65537 in the inner (rows kernel), outer (columns kernel) and middle
// dim and over everything (the split two-pass path), keepdim, transposed and
// step-sliced inputs, empty reductions, integer/bool/16-bit dtypes, ties and
// NaN for max/argmax, run-to-run determinism, cumsum, and gradcheck in
// float64 with the op on the GPU. Skips cleanly without a GPU.
//
// Tolerances: the GPU accumulates float32 in float32 (the CPU in double), in
// a tree, so a float32 sum of n terms may differ by ~sqrt(n) * 1e-7 * sum|x|
// from the CPU; float64 agrees to ~1e-12; integers exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "ops/copy.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/reduction.h"
#include "ops/view.h"
#include "support/cuda_util.h"
#include "support/test_util.h"
#include "tensor/random.h"

#ifdef WICK_WITH_CUDA
#include "cuda/kernels/reduce.h"
#endif

using namespace wick;
using wick::test::all_close;
using wick::test::all_equal;

namespace {

const Device kCuda("cuda");

Tensor randn64(const Shape& shape, uint64_t seed) {
  Generator g(seed);
  return randn(shape, TensorOptions(kFloat64), &g);
}

// CUDA result vs CPU result: n is the number of reduced elements per output.
::testing::AssertionResult matches(const Tensor& gpu, const Tensor& cpu, int64_t n) {
  if (!gpu.is_cuda()) return ::testing::AssertionFailure() << "result not on CUDA: " << gpu.device();
  if (gpu.sizes() != cpu.sizes())
    return ::testing::AssertionFailure() << "shape " << shape_str(gpu.sizes()) << " != " << shape_str(cpu.sizes());
  Tensor got = gpu.to(kCPU);
  switch (cpu.dtype()) {
    case kFloat64: return all_close(got, cpu, 1e-11, 1e-10);
    case kFloat32: return all_close(got, cpu, 2e-6 * std::sqrt(static_cast<double>(std::max<int64_t>(n, 1))), 2e-5);
    default: return all_equal(got, cpu);
  }
}

// Every subset of {0, .., nd-1} (the empty one means "all dims" to the ops).
std::vector<std::vector<int64_t>> dim_sets(int64_t nd) {
  std::vector<std::vector<int64_t>> r;
  for (int64_t m = 0; m < (1 << nd); ++m) {
    std::vector<int64_t> s;
    for (int64_t d = 0; d < nd; ++d)
      if (m & (1 << d)) s.push_back(d);
    r.push_back(s);
  }
  return r;
}

int64_t reduced_count(const Shape& shape, const std::vector<int64_t>& dims) {
  int64_t n = 1;
  if (dims.empty()) return numel_of(shape);
  for (int64_t d : dims) n *= shape[d];
  return n;
}

// The floating reductions, each as f(x, dims, keepdim).
struct Op {
  std::string name;
  std::function<Tensor(const Tensor&, const std::vector<int64_t>&, bool)> f;
  bool positive = false;  // prod: values near 1
};
std::vector<Op> float_ops() {
  return {
      {"sum", [](const Tensor& x, const std::vector<int64_t>& d, bool k) { return sum(x, d, k); }},
      {"mean", [](const Tensor& x, const std::vector<int64_t>& d, bool k) { return mean(x, d, k); }},
      {"prod", [](const Tensor& x, const std::vector<int64_t>& d, bool k) { return prod(x, d, k); }, true},
      {"var", [](const Tensor& x, const std::vector<int64_t>& d, bool k) { return var(x, d, 1, k); }},
      {"std0", [](const Tensor& x, const std::vector<int64_t>& d, bool k) { return wick::std(x, d, 0, k); }},
      {"logsumexp", [](const Tensor& x, const std::vector<int64_t>& d, bool k) { return logsumexp(x, d, k); }},
      {"norm2", [](const Tensor& x, const std::vector<int64_t>& d, bool k) { return norm(x, 2.0, d, k); }},
      {"norm1", [](const Tensor& x, const std::vector<int64_t>& d, bool k) { return norm(x, 1.0, d, k); }},
      {"norm3", [](const Tensor& x, const std::vector<int64_t>& d, bool k) { return norm(x, 3.0, d, k); }},
      {"norminf", [](const Tensor& x, const std::vector<int64_t>& d, bool k) {
         return norm(x, std::numeric_limits<double>::infinity(), d, k);
       }},
      {"amax", [](const Tensor& x, const std::vector<int64_t>& d, bool k) { return amax(x, d, k); }},
      {"amin", [](const Tensor& x, const std::vector<int64_t>& d, bool k) { return amin(x, d, k); }},
  };
}

Tensor values_for(const Op& op, const Shape& shape, uint64_t seed) {
  Tensor v = randn64(shape, seed);
  return op.positive ? add(mul(v, 0.01), 1.0) : v;
}

}  // namespace

TEST(CudaReduction, EveryOpEveryDimSetOf3d) {
  WICK_SKIP_WITHOUT_CUDA();
  const Shape shape{3, 5, 7};
  for (const Op& op : float_ops()) {
    for (DType dt : {kFloat32, kFloat64}) {
      Tensor x = values_for(op, shape, 1).to(dt);
      Tensor xg = x.to(kCuda);
      for (const auto& dims : dim_sets(3)) {
        for (bool keepdim : {false, true}) {
          SCOPED_TRACE(op.name + " " + dtype_name(dt) + " dims " + shape_str(dims) + (keepdim ? " keepdim" : ""));
          EXPECT_TRUE(matches(op.f(xg, dims, keepdim), op.f(x, dims, keepdim), reduced_count(shape, dims)));
        }
      }
    }
  }
}

TEST(CudaReduction, ReducedSizesInnerOuterMiddleAndAll) {
  WICK_SKIP_WITHOUT_CUDA();
  for (int64_t n : {1, 3, 31, 33, 1025, 65537}) {
    // {shape, dims}: inner (rows kernel), outer (columns kernel), middle, all.
    const std::vector<std::pair<Shape, std::vector<int64_t>>> cases = {
        {{4, n}, {1}}, {{n, 5}, {0}}, {{2, n, 3}, {1}}, {{n}, {}}, {{3, n}, {}}};
    for (const Op& op : float_ops()) {
      for (const auto& [shape, dims] : cases) {
        SCOPED_TRACE(op.name + " n=" + std::to_string(n) + " shape " + shape_str(shape) + " dims " +
                     shape_str(dims));
        Tensor x = values_for(op, shape, static_cast<uint64_t>(n)).to(kFloat32);
        EXPECT_TRUE(matches(op.f(x.to(kCuda), dims, false), op.f(x, dims, false), reduced_count(shape, dims)));
      }
    }
  }
}

TEST(CudaReduction, NonContiguousInputs) {
  WICK_SKIP_WITHOUT_CUDA();
  Tensor base = randn64({40, 67}, 5).to(kFloat32);
  Tensor bg = base.to(kCuda);
  const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> views = {
      {"transposed", [](const Tensor& t) { return t.t(); }},
      {"step 3 in dim 1", [](const Tensor& t) { return slice(t, 1, 2, 65, 3); }},
      {"step 2 in dim 0", [](const Tensor& t) { return slice(t, 0, 1, std::nullopt, 2); }},
      {"expanded", [](const Tensor& t) { return select(t, 0, 3).unsqueeze(0).expand({9, 67}); }},
  };
  for (const auto& [name, view] : views) {
    Tensor xc = view(base), xg = view(bg);
    for (const Op& op : float_ops()) {
      if (op.positive) continue;
      for (const auto& dims : dim_sets(2)) {
        SCOPED_TRACE(name + " " + op.name + " dims " + shape_str(dims));
        EXPECT_TRUE(matches(op.f(xg, dims, true), op.f(xc, dims, true), reduced_count(xc.sizes(), dims)));
      }
    }
  }
}

TEST(CudaReduction, IntegerBoolAndHalfDTypes) {
  WICK_SKIP_WITHOUT_CUDA();
  Tensor v = round(mul(randn64({6, 45}, 7), 4.0));
  for (DType dt : {kUInt8, kInt32, kInt64, kBool}) {
    SCOPED_TRACE(dtype_name(dt));
    Tensor x = (dt == kUInt8 ? abs(v) : v).to(dt);
    Tensor xg = x.to(kCuda);
    for (const auto& dims : dim_sets(2)) {
      EXPECT_TRUE(matches(sum(xg, dims), sum(x, dims), 0));  // int64 results
      EXPECT_TRUE(matches(all(xg, dims), all(x, dims), 0));
      EXPECT_TRUE(matches(any(xg, dims), any(x, dims), 0));
      EXPECT_TRUE(matches(amax(xg, dims), amax(x, dims), 0));
      EXPECT_TRUE(matches(amin(xg, dims), amin(x, dims), 0));
      if (dt != kBool) EXPECT_TRUE(matches(prod(xg, dims), prod(x, dims), 0));
    }
    EXPECT_TRUE(matches(argmax(xg, 1), argmax(x, 1), 0));
    EXPECT_TRUE(matches(argmin(xg), argmin(x), 0));
  }
  // Wrapping int64 sums, like the CPU.
  Tensor big = full({1000}, INT64_MAX / 500, TensorOptions(kInt64));
  EXPECT_TRUE(matches(sum(big.to(kCuda)), sum(big), 0));
  // float16 / bfloat16: accumulated in float32, rounded once.
  Tensor f = randn64({7, 300}, 8).to(kFloat32);
  for (DType dt : {kFloat16, kBFloat16}) {
    Tensor hg = f.to(kCuda).to(dt);
    Tensor ref = hg.to(kFloat32).to(kCPU);  // the same rounded inputs
    const double tol = dt == kFloat16 ? 2e-3 : 1.6e-2;
    EXPECT_TRUE(all_close(sum(hg, {1}).to(kFloat32).to(kCPU), sum(ref, {1}), 0.05, tol)) << dt;
    EXPECT_TRUE(all_close(mean(hg, {0}).to(kFloat32).to(kCPU), mean(ref, {0}), 2e-3, tol)) << dt;
    EXPECT_TRUE(all_close(amax(hg, {1}).to(kFloat32).to(kCPU), amax(ref, {1}), 0, 0)) << dt;
    EXPECT_TRUE(all_equal(argmax(hg, 1).to(kCPU), argmax(ref, 1))) << dt;
  }
}

#ifdef WICK_WITH_CUDA
// The vectorized columns kernel (reduce.cu), in both switch settings: sums
// over the leading dims of contiguous [rows, C] blocks with C a multiple of
// the vector width (16 bytes) and aligned rows, in every dtype; row counts
// across its unrolled loop and its tail, one row, bias-gradient sizes; a
// [B, T, C] block over (0, 1); unaligned views (an offset start, an odd row
// stride), which take the scalar kernel; ties for argmax/argmin.
TEST(CudaReduction, VectorizedColumns) {
  WICK_SKIP_WITHOUT_CUDA();
  const test::SwitchScope restore(cuda::reduce_columns_vectorized, cuda::set_reduce_columns_vectorized);
  for (bool on : {true, false}) {
    SCOPED_TRACE(on ? "vectorized" : "scalar");
    cuda::set_reduce_columns_vectorized(on);
    for (const Shape& shape : std::vector<Shape>{{1, 16}, {3, 32}, {33, 64}, {1025, 48}, {8192, 768}, {4, 9, 80}}) {
      const std::vector<int64_t> dims = shape.size() == 3 ? std::vector<int64_t>{0, 1} : std::vector<int64_t>{0};
      const int64_t n = reduced_count(shape, dims);
      for (const Op& op : float_ops()) {
        for (DType dt : {kFloat32, kFloat64}) {
          SCOPED_TRACE(op.name + " " + dtype_name(dt) + " shape " + shape_str(shape));
          Tensor x = values_for(op, shape, 21).to(dt);
          EXPECT_TRUE(matches(op.f(x.to(kCuda), dims, false), op.f(x, dims, false), n));
        }
      }
      Tensor v = round(mul(randn64(shape, 22), 2.0));  // integer values: many ties along the rows
      for (DType dt : {kUInt8, kInt32, kInt64, kBool}) {
        SCOPED_TRACE(dtype_name(dt) + std::string(" shape ") + shape_str(shape));
        Tensor x = (dt == kUInt8 ? abs(v) : v).to(dt);
        Tensor xg = x.to(kCuda);
        EXPECT_TRUE(matches(sum(xg, dims), sum(x, dims), 0));
        EXPECT_TRUE(matches(amax(xg, dims), amax(x, dims), 0));
        EXPECT_TRUE(matches(any(xg, dims), any(x, dims), 0));
        EXPECT_TRUE(matches(all(xg, dims), all(x, dims), 0));
        if (shape.size() == 2) {
          EXPECT_TRUE(matches(argmax(xg, 0), argmax(x, 0), 0));
          EXPECT_TRUE(matches(argmin(xg, 0), argmin(x, 0), 0));
        }
      }
      for (DType dt : {kFloat16, kBFloat16}) {
        SCOPED_TRACE(dtype_name(dt) + std::string(" shape ") + shape_str(shape));
        Tensor hg = randn64(shape, 23).to(kFloat32).to(kCuda).to(dt);
        Tensor ref = hg.to(kFloat32).to(kCPU);  // the same rounded inputs, summed in double
        const double tol = dt == kFloat16 ? 2e-3 : 1.6e-2;
        EXPECT_TRUE(all_close(sum(hg, dims).to(kFloat32).to(kCPU), sum(ref, dims),
                              1e-3 * std::sqrt(static_cast<double>(n)), tol));
        EXPECT_TRUE(all_close(var(hg, dims, 1).to(kFloat32).to(kCPU), var(ref, dims, 1), 1e-3, tol));
        if (shape.size() == 2) EXPECT_TRUE(all_equal(argmax(hg, 0).to(kCPU), argmax(ref, 0)));
      }
    }
    // Unaligned: a start 1 element in, rows of an odd stride.
    Tensor base = randn64({200, 129}, 24).to(kFloat32);
    Tensor bg = base.to(kCuda);
    EXPECT_TRUE(matches(sum(slice(bg, 1, 1, 129), {0}), sum(slice(base, 1, 1, 129), {0}), 200));
    EXPECT_TRUE(matches(sum(slice(bg, 1, 0, 128), {0}), sum(slice(base, 1, 0, 128), {0}), 200));
  }
}
#endif

TEST(CudaReduction, MaxMinWithIndicesTiesAndNaN) {
  WICK_SKIP_WITHOUT_CUDA();
  // Integer-valued floats: many ties; the first index must win, as on the CPU.
  for (int64_t n : {3, 33, 1025, 65537}) {
    Tensor x = round(mul(randn64({3, n}, 9), 1.5)).to(kFloat32);
    Tensor xg = x.to(kCuda);
    for (int64_t dim : {0, 1}) {
      SCOPED_TRACE("n=" + std::to_string(n) + " dim " + std::to_string(dim));
      auto [vg, ig] = max(xg, dim);
      auto [vc, ic] = max(x, dim);
      EXPECT_TRUE(matches(vg, vc, 0));
      EXPECT_TRUE(matches(ig, ic, 0));
      auto [vg2, ig2] = min(xg, dim, true);
      auto [vc2, ic2] = min(x, dim, true);
      EXPECT_TRUE(matches(vg2, vc2, 0));
      EXPECT_TRUE(matches(ig2, ic2, 0));
    }
    EXPECT_TRUE(matches(argmax(xg), argmax(x), 0));
    EXPECT_TRUE(matches(argmin(xg.t()), argmin(x.t()), 0));
    EXPECT_TRUE(matches(max(xg), max(x), 0));
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Tensor x = from_vector(std::vector<double>{1, nan, 3, nan, -1, 2, 2, 0}, Shape{2, 4});
  Tensor xg = x.to(kCuda);
  for (int64_t dim : {0, 1}) {
    EXPECT_TRUE(matches(amax(xg, {dim}), amax(x, {dim}), 0));
    EXPECT_TRUE(matches(argmax(xg, dim), argmax(x, dim), 0));
    EXPECT_TRUE(matches(argmin(xg, dim), argmin(x, dim), 0));
  }
  EXPECT_TRUE(matches(sum(xg, {1}), sum(x, {1}), 4));
  EXPECT_TRUE(matches(logsumexp(xg, {1}), logsumexp(x, {1}), 4));
}

TEST(CudaReduction, EmptyReductionsFollowTheCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  Tensor x = empty({0, 5}, TensorOptions(kFloat32));
  Tensor xg = x.to(kCuda);
  EXPECT_TRUE(matches(sum(xg, {0}), sum(x, {0}), 0));    // zeros
  EXPECT_TRUE(matches(prod(xg, {0}), prod(x, {0}), 0));  // ones
  EXPECT_TRUE(matches(mean(xg, {0}), mean(x, {0}), 0));  // nan
  EXPECT_TRUE(matches(logsumexp(xg, {0}), logsumexp(x, {0}), 0));
  EXPECT_TRUE(matches(any(xg, {0}), any(x, {0}), 0));
  EXPECT_TRUE(matches(all(xg, {0}), all(x, {0}), 0));
  EXPECT_TRUE(matches(sum(xg, {1}), sum(x, {1}), 0));  // an empty output
  EXPECT_WICK_ERROR(amax(xg, {0}), "amax");
  EXPECT_WICK_ERROR(max(xg), "cannot reduce an empty tensor");
  // 0-d input.
  Tensor s = scalar_tensor(3.5, TensorOptions(kFloat32));
  EXPECT_TRUE(matches(sum(s.to(kCuda)), sum(s), 1));
  EXPECT_TRUE(matches(amax(s.to(kCuda)), amax(s), 1));
}

TEST(CudaReduction, DeterministicRunToRun) {
  WICK_SKIP_WITHOUT_CUDA();
  Tensor xg = randn64({1 << 22}, 10).to(kFloat32).to(kCuda);
  Tensor first = sum(xg).to(kCPU);
  Tensor col = sum(xg.view({1 << 12, 1 << 10}), {0}).to(kCPU);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(all_equal(sum(xg).to(kCPU), first));
    EXPECT_TRUE(all_equal(sum(xg.view({1 << 12, 1 << 10}), {0}).to(kCPU), col));
  }
  EXPECT_TRUE(matches(sum(xg), sum(xg.to(kCPU)), 1 << 22));
}

TEST(CudaReduction, Cumsum) {
  WICK_SKIP_WITHOUT_CUDA();
  for (const Shape& shape : std::vector<Shape>{{7}, {1000}, {3, 300}, {300, 3}, {4, 37, 5}}) {
    Tensor x = randn64(shape, 11);
    for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
      SCOPED_TRACE(shape_str(shape) + " dim " + std::to_string(d));
      EXPECT_TRUE(matches(cumsum(x.to(kCuda), d), cumsum(x, d), 0));
      Tensor xf = x.to(kFloat32);
      EXPECT_TRUE(matches(cumsum(xf.to(kCuda), d), cumsum(xf, d), 1));
      Tensor xi = round(mul(x, 5.0)).to(kInt32);
      EXPECT_TRUE(matches(cumsum(xi.to(kCuda), d), cumsum(xi, d), 0));
    }
  }
}

TEST(CudaReduction, GradcheckFloat64OnTheDevice) {
  WICK_SKIP_WITHOUT_CUDA();
  auto on_gpu = [](std::function<Tensor(const Tensor&)> f) {
    return [f](const tensor_list& in) {
      Tensor out = f(in[0].to(kCuda));
      EXPECT_TRUE(out.is_cuda());
      return out.to(kCPU);
    };
  };
  Tensor x = wick::test::rand_f64({3, 5}, 1);
  Tensor p = add(abs(wick::test::rand_f64({3, 5}, 2, false)), 0.5).requires_grad_(true);
  EXPECT_TRUE(gradcheck(on_gpu([](const Tensor& t) { return sum(t, {1}); }), {x}));
  EXPECT_TRUE(gradcheck(on_gpu([](const Tensor& t) { return mean(t, {0}, true); }), {x}));
  EXPECT_TRUE(gradcheck(on_gpu([](const Tensor& t) { return prod(t, {1}); }), {p}));
  EXPECT_TRUE(gradcheck(on_gpu([](const Tensor& t) { return var(t, {1}, 1); }), {x}));
  EXPECT_TRUE(gradcheck(on_gpu([](const Tensor& t) { return wick::std(t, {0}, 1); }), {x}));
  EXPECT_TRUE(gradcheck(on_gpu([](const Tensor& t) { return logsumexp(t, {1}); }), {x}));
  EXPECT_TRUE(gradcheck(on_gpu([](const Tensor& t) { return norm(t, 2.0, {1}); }), {x}));
  EXPECT_TRUE(gradcheck(on_gpu([](const Tensor& t) { return amax(t, {1}); }), {x}));
  EXPECT_TRUE(gradcheck(on_gpu([](const Tensor& t) { return max(t, 0).first; }), {x}));
  EXPECT_TRUE(gradcheck(on_gpu([](const Tensor& t) { return cumsum(t, 1); }), {x}));
  EXPECT_TRUE(gradgradcheck(on_gpu([](const Tensor& t) { return var(t, {1}, 1); }), {x}));
}
