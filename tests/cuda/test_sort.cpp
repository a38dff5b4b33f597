// The CUDA sort / argsort / topk kernels (cuda/kernels/sort.cu) against the
// CPU, element for element, indices included (both are stable with the same
// NaN order): every dim, both orders, every dtype, ties, NaN / inf / -0.0,
// non-contiguous inputs, empty and 0-d tensors, rows on the shared-memory
// path (many rows per block, one row per block) and on the merge path (rows
// longer than 2048), topk's k from 0 to n, the backward against the CPU and
// float64 gradchecks on the device. Skips without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "autograd/gradcheck.h"
#include "ops/copy.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/reduction.h"
#include "ops/sort.h"
#include "ops/view.h"
#include "support/cuda_util.h"
#ifdef WICK_WITH_CUDA
#include "cuda/kernels/sort.h"
#endif
#include "support/test_util.h"

using namespace wick;
using wick::test::all_equal;

namespace {

const Device kCuda("cuda");
const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

// Values with many ties: round(N(0, 1) * spread), as dtype (bool: > 0).
Tensor tied(const Shape& s, DType dt, double spread, uint64_t seed) {
  Tensor v = round(mul(wick::test::randn_t(s, kFloat64, seed, false), spread));
  if (dt == kBool) return gt(v, 0.0);
  if (dt == kUInt8) return abs(v).to(dt);
  return v.to(dt);
}

// x (float64, CPU) with every `every`-th element (row-major) set to NaN.
Tensor with_nans(const Tensor& x, int64_t every) {
  Tensor t = x.contiguous().clone();
  double* p = t.data_ptr<double>();
  for (int64_t i = 0; i < t.numel(); i += every) p[i] = kNaN;
  return t;
}

// sort and topk of x on CUDA equal the CPU's (values and indices).
void expect_sort_matches(const Tensor& x, int64_t dim, bool descending) {
  SCOPED_TRACE(str("shape ", shape_str(x.sizes()), " dtype ", x.dtype(), " dim ", dim, descending ? " desc" : " asc"));
  auto [cv, ci] = sort(x, dim, descending);
  auto [gv, gi] = sort(x.to(kCuda), dim, descending);
  EXPECT_TRUE(gv.is_cuda());
  EXPECT_TRUE(all_equal(gv.cpu(), cv));
  EXPECT_TRUE(all_equal(gi.cpu(), ci));
  EXPECT_TRUE(all_equal(argsort(x.to(kCuda), dim, descending).cpu(), ci));
}

void expect_topk_matches(const Tensor& x, int64_t k, int64_t dim, bool largest) {
  SCOPED_TRACE(str("topk shape ", shape_str(x.sizes()), " dtype ", x.dtype(), " k ", k, " dim ", dim,
                   largest ? " largest" : " smallest"));
  auto [cv, ci] = topk(x, k, dim, largest);
  auto [gv, gi] = topk(x.to(kCuda), k, dim, largest);
  EXPECT_TRUE(all_equal(gv.cpu(), cv));
  EXPECT_TRUE(all_equal(gi.cpu(), ci));
}

}  // namespace

TEST(CudaSort, EveryDimDtypeAndOrderMatchesTheCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : {kFloat32, kFloat64, kInt32, kInt64, kUInt8, kBool}) {
    const Tensor x = tied({5, 7, 3}, dt, 2.0, 1);
    for (int64_t d = -1; d < 3; ++d)
      for (bool desc : {false, true}) expect_sort_matches(x, d, desc);
  }
  // Integer extremes (the sign-bit flip of the keys).
  const Tensor big = from_vector<int64_t>({INT64_MAX, INT64_MIN, 0, -1, 1, INT64_MIN, INT64_MAX});
  for (bool desc : {false, true}) {
    expect_sort_matches(big, 0, desc);
    expect_sort_matches(from_vector<int64_t>({INT32_MAX, INT32_MIN, 0, -1, 1, 2, -2}).to(kInt32), 0, desc);
  }
}

TEST(CudaSort, NanInfAndSignedZeroInTheCpuOrder) {
  WICK_SKIP_WITHOUT_CUDA();
  // NaN after +inf (first when descending), -0.0 tied with 0.0 (input order kept), repeated NaNs in input order.
  const std::vector<double> v = {1.0, kNaN, -0.0, kInf, 0.0, -kInf, kNaN, -1.0, 0.0, -0.0, 1.0, kInf, -3.5, kNaN};
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor x = from_vector<double>(v).to(dt);
    for (bool desc : {false, true}) expect_sort_matches(x, 0, desc);
    // The same values in a 2-D tensor along both dims, and NaNs in a long row.
    Tensor x2 = x.reshape({2, 7});
    for (int64_t d : {0, 1})
      for (bool desc : {false, true}) expect_sort_matches(x2, d, desc);
    Tensor xl = with_nans(tied({3000}, kFloat64, 30.0, 2), 97).to(dt);
    for (bool desc : {false, true}) expect_sort_matches(xl, 0, desc);
  }
}

TEST(CudaSort, Float16AndBFloat16MatchTheCpuOnTheirValues) {
  WICK_SKIP_WITHOUT_CUDA();
  // The CPU has no 16-bit floats: sort their values widened to float32 there
  // (exact), and compare values and indices.
  for (DType dt : {kFloat16, kBFloat16}) {
    for (int64_t n : {37, 2500}) {
      SCOPED_TRACE(str(dt, " n ", n));
      Tensor g = with_nans(tied({3, n}, kFloat64, 4.0, 3), 11).to(kCuda).to(dt);
      const Tensor c = g.to(kFloat32).cpu();
      for (bool desc : {false, true}) {
        auto [cv, ci] = sort(c, 1, desc);
        auto [gv, gi] = sort(g, 1, desc);
        EXPECT_EQ(gv.dtype(), dt);
        EXPECT_TRUE(all_equal(gv.to(kFloat32).cpu(), cv));
        EXPECT_TRUE(all_equal(gi.cpu(), ci));
        auto [tv, ti] = topk(g, 5, 1, desc);
        EXPECT_TRUE(all_equal(ti.cpu(), ci.narrow(1, 0, 5)));
      }
    }
  }
}

TEST(CudaSort, RowLengthsAcrossTheSharedMemoryAndMergePaths) {
  WICK_SKIP_WITHOUT_CUDA();
  // 1 and 2 elements, many rows per block (n <= 128), one row per block
  // (1024 < n <= 2048), exactly a tile, and rows of 2049 .. 9000 (merge path,
  // odd run counts); duplicates everywhere so the tie order is checked.
  for (int64_t n : {1, 2, 3, 17, 128, 129, 1000, 2047, 2048, 2049, 4096, 5000, 9000}) {
    const int64_t rows = n > 2048 ? 3 : 20;
    const Tensor x = tied({rows, n}, kFloat32, n > 100 ? 40.0 : 3.0, 10 + n);
    for (bool desc : {false, true}) expect_sort_matches(x, 1, desc);
  }
  // A long dim that is not the last one, and an int64 long row.
  expect_sort_matches(tied({4100, 3}, kFloat64, 50.0, 4), 0, true);
  expect_sort_matches(tied({2, 6000}, kInt64, 100.0, 5), 1, false);
}

TEST(CudaSort, NonContiguousEmptyAndZeroDim) {
  WICK_SKIP_WITHOUT_CUDA();
  const Tensor x = tied({6, 9, 4}, kFloat64, 3.0, 6);
  // Transposed and sliced CUDA inputs against the CPU on the same views.
  for (int64_t d = 0; d < 3; ++d) {
    Tensor gv = x.to(kCuda).transpose(0, 2).slice(1, 1, 8, 2);
    Tensor cv = x.transpose(0, 2).slice(1, 1, 8, 2);
    for (bool desc : {false, true}) {
      auto [a, ai] = sort(gv, d, desc);
      auto [b, bi] = sort(cv, d, desc);
      EXPECT_TRUE(all_equal(a.cpu(), b));
      EXPECT_TRUE(all_equal(ai.cpu(), bi));
    }
  }
  // Empty: zero rows and zero-length rows.
  for (const Shape& s : {Shape{3, 0}, Shape{0, 5}}) {
    auto [v, i] = sort(zeros(s, TensorOptions(kFloat32).device(kCuda)), 1);
    EXPECT_EQ(v.sizes(), s);
    EXPECT_EQ(i.dtype(), kInt64);
    EXPECT_TRUE(i.is_cuda());
  }
  auto [ev, ei] = topk(zeros({4, 6}, TensorOptions(kFloat32).device(kCuda)), 0, 1);
  EXPECT_EQ(ev.sizes(), (Shape{4, 0}));
  // 0-d.
  auto [sv, si] = sort(scalar_tensor(2.5, TensorOptions(kFloat64).device(kCuda)));
  EXPECT_EQ(sv.dim(), 0);
  EXPECT_EQ(sv.cpu().item<double>(), 2.5);
  EXPECT_EQ(si.cpu().item<int64_t>(), 0);
  auto [tv, ti] = topk(scalar_tensor(-1.0, TensorOptions(kFloat64).device(kCuda)), 1);
  EXPECT_EQ(tv.cpu().item<double>(), -1.0);
}

TEST(CudaSort, TopkEveryKDimAndDirection) {
  WICK_SKIP_WITHOUT_CUDA();
  const Tensor x = tied({4, 9, 5}, kFloat32, 2.0, 7);
  for (int64_t d = 0; d < 3; ++d)
    for (int64_t k : {int64_t{0}, int64_t{1}, int64_t{3}, x.size(d)})
      for (bool largest : {true, false}) expect_topk_matches(x, k, d, largest);
  const Tensor lg = tied({2, 7000}, kFloat64, 200.0, 8);
  for (bool largest : {true, false}) expect_topk_matches(lg, 7, 1, largest);
  for (DType dt : {kInt32, kUInt8}) expect_topk_matches(tied({6, 33}, dt, 3.0, 9), 4, 1, true);
  EXPECT_WICK_ERROR(topk(x.to(kCuda), 10, 1), "topk: k (10) is out of range for dimension 1 of size 9");
}

TEST(CudaSort, BackwardMatchesTheCpuAndGradchecks) {
  WICK_SKIP_WITHOUT_CUDA();
  const Tensor x = tied({5, 6, 7}, kFloat64, 2.0, 11);  // ties: the gradient follows the stable order
  const Tensor gy = wick::test::randn_t({5, 6, 7}, kFloat64, 12, false);
  for (int64_t d = 0; d < 3; ++d) {
    SCOPED_TRACE(str("dim ", d));
    auto grads = [&](const Device& dev, bool use_topk) {
      Tensor xl = x.to(dev).detach().requires_grad_(true);
      Tensor v = use_topk ? topk(xl, 3, d, false).first : sort(xl, d, true).first;
      Tensor w = gy.to(dev).narrow(d, 0, v.size(d));
      sum(mul(v, w)).backward();
      return xl.grad().cpu();
    };
    for (bool use_topk : {false, true}) EXPECT_TRUE(all_equal(grads(kCuda, use_topk), grads(Device(kCPU), use_topk)));
  }
  auto on_gpu = [](std::function<Tensor(const Tensor&)> f) {
    return [f](const tensor_list& in) { return f(in[0].to(kCuda)).to(kCPU); };
  };
  Tensor xr = wick::test::rand_f64({4, 5}, 13);  // distinct values: finite differences keep the order
  EXPECT_TRUE(gradcheck(on_gpu([](const Tensor& v) { return sort(v, 1).first; }), {xr}));
  EXPECT_TRUE(gradcheck(on_gpu([](const Tensor& v) { return sort(v, 0, true).first; }), {xr}));
  EXPECT_TRUE(gradcheck(on_gpu([](const Tensor& v) { return topk(v, 2, 1).first; }), {xr}));
  EXPECT_TRUE(gradgradcheck(on_gpu([](const Tensor& v) { return mul(topk(v, 3, 0, false).first, topk(v, 3, 0, false).first); }), {xr}));
}

// topk by radix select (cuda::set_topk_select; rows longer than 2048, k up to
// 2048): the CPU's values and indices on ties everywhere (every dtype: bool and
// uint8 rows are almost all ties at the k-th key), NaN / inf / -0.0, k from 1
// to 2048, both directions, several rows, a long dim that is not the last,
// rows of one repeated value; k past 2048 still goes through the sort.
#ifdef WICK_WITH_CUDA
TEST(CudaSort, TopkRadixSelectMatchesTheCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  const test::SwitchScope restore(cuda::topk_select, cuda::set_topk_select);
  cuda::set_topk_select(true);
  uint64_t seed = 300;
  for (int64_t n : {2049, 5000, 50257})
    for (int64_t k : {1, 7, 50, 1000, 2048})
      for (bool largest : {true, false}) {
        expect_topk_matches(tied({3, n}, kFloat32, 200.0, seed++), k, 1, largest);
        expect_topk_matches(with_nans(tied({2, n}, kFloat64, 30.0, seed++), 97), k, 1, largest);
      }
  for (DType dt : {kInt32, kInt64, kUInt8, kBool})
    for (int64_t k : {1, 300, 2048})
      for (bool largest : {true, false}) expect_topk_matches(tied({2, 4000}, dt, 50.0, seed++), k, 1, largest);
  // NaN, infinities and both zeros, repeated through a long row.
  const std::vector<double> v = {1.0, kNaN, -0.0, kInf, 0.0, -kInf, kNaN, -1.0, 0.0, -0.0, 1.0, kInf, -3.5};
  std::vector<double> lv;
  for (int r = 0; r < 400; ++r) lv.insert(lv.end(), v.begin(), v.end());  // 5200 elements
  for (DType dt : {kFloat32, kFloat64})
    for (int64_t k : {1, 5, 401, 2048})
      for (bool largest : {true, false}) expect_topk_matches(from_vector<double>(lv).to(dt), k, 0, largest);
  // One value repeated: the k-th key's ties are the whole row.
  for (bool largest : {true, false}) expect_topk_matches(full({2, 3000}, Scalar(2.5), TensorOptions(kFloat32)), 77, 1, largest);
  // A long dim that is not the last; k past 2048 (the sort).
  expect_topk_matches(tied({4100, 3}, kFloat64, 50.0, seed++), 64, 0, true);
  expect_topk_matches(tied({2, 5000}, kFloat32, 40.0, seed++), 3000, 1, true);
  // 16-bit floats: the CPU's order of their float32 values.
  for (DType dt : {kFloat16, kBFloat16})
    for (bool largest : {true, false}) {
      SCOPED_TRACE(str(dt, largest ? " largest" : " smallest"));
      Tensor g = with_nans(tied({3, 6000}, kFloat64, 4.0, seed++), 11).to(kCuda).to(dt);
      auto [cv, ci] = topk(g.to(kFloat32).cpu(), 100, 1, largest);
      auto [gv, gi] = topk(g, 100, 1, largest);
      EXPECT_TRUE(all_equal(gv.to(kFloat32).cpu(), cv));
      EXPECT_TRUE(all_equal(gi.cpu(), ci));
    }
}

// The select path against the sort path on the device, rows of many lengths
// (5 rows each).
TEST(CudaSort, TopkRadixSelectAgreesWithTheSortPath) {
  WICK_SKIP_WITHOUT_CUDA();
  const test::SwitchScope restore(cuda::topk_select, cuda::set_topk_select);
  uint64_t seed = 400;
  for (int64_t n : {2049, 2050, 3000, 4097, 20000})
    for (int64_t k : {1, 2, 3, 64, 129, 2047}) {
      const Tensor x = tied({5, n}, kFloat32, 1000.0, seed++).to(kCuda);
      cuda::set_topk_select(false);
      auto [sv, si] = topk(x, k, 1, true);
      cuda::set_topk_select(true);
      auto [rv, ri] = topk(x, k, 1, true);
      EXPECT_TRUE(all_equal(rv.cpu(), sv.cpu())) << "n " << n << " k " << k;
      EXPECT_TRUE(all_equal(ri.cpu(), si.cpu())) << "n " << n << " k " << k;
    }
}
#endif  // WICK_WITH_CUDA
