// The CUDA eigensolver behind eigh (cuda/kernels/linalg.cu) against the CPU
// solver: sizes on both sides of the shared-memory limit (n = 119 / 120 on
// sm_90) and both parities of n (odd n has a bye in the round-robin
// schedule), batches (broadcast, strided and empty ones), float32/float64,
// transposed inputs (only the lower triangle is read), repeated eigenvalues
// (compared through V diag(w) V^T and V^T V, since their vectors are not
// unique), non-finite inputs, the fast kernel against the one-thread
// reference, and the default path (kernel switched off: a round trip through
// the CPU solver). Skips without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cuda/kernels/linalg.h"
#include "ops/copy.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/linalg.h"
#include "ops/reduction.h"
#include "ops/view.h"
#include "support/cuda_util.h"
#include "support/test_util.h"

using namespace wick;
using wick::test::all_close;
using wick::test::all_equal;

namespace {

const Device kCuda("cuda");

// Selects the CUDA kernel (or not) for a scope and restores the previous
// setting. The kernels' entry points exist in CUDA builds only; without CUDA
// every test skips before anything runs.
class EighKernel {
 public:
#ifdef WICK_WITH_CUDA
  explicit EighKernel(bool on) : prev_(cuda::eigh_kernel()) { cuda::set_eigh_kernel(on); }
  ~EighKernel() { cuda::set_eigh_kernel(prev_); }
#else
  explicit EighKernel(bool) {}
#endif
  EighKernel(const EighKernel&) = delete;
  EighKernel& operator=(const EighKernel&) = delete;

 private:
  [[maybe_unused]] bool prev_ = false;
};

// A random symmetric [batch..., n, n] matrix, (M + M^T) / 2 with M normal, in dtype dt (CPU).
Tensor random_symmetric(Shape batch, int64_t n, DType dt, uint64_t seed) {
  batch.push_back(n);
  batch.push_back(n);
  Tensor m = wick::test::normal(batch, kFloat64, seed);
  return mul(add(m, m.mT()), 0.5).to(dt);
}

// The symmetric matrix eigh sees: x's lower triangle mirrored (float64, CPU).
Tensor symmetric_from_lower(const Tensor& x) {
  const Tensor x64 = x.cpu().to(kFloat64);
  return add(tril(x64), tril(x64, -1).mT());
}

// w, v (any device) decompose x: V diag(w) V^T = sym(x), V^T V = I, w
// ascending, each column's largest-magnitude component positive.
void expect_decomposes(const Tensor& x, const Tensor& w_any, const Tensor& v_any, double tol) {
  const int64_t n = x.size(-1);
  const Tensor w = w_any.cpu().to(kFloat64), v = v_any.cpu().to(kFloat64);
  ASSERT_EQ(w.sizes(), Shape(x.sizes().begin(), x.sizes().end() - 1));
  ASSERT_EQ(v.sizes(), x.sizes());
  if (x.numel() == 0) return;
  const Tensor a = symmetric_from_lower(x);
  const double scale = std::max(1.0, max(abs(a)).item<double>());
  EXPECT_TRUE(all_close(matmul(mul(v, w.unsqueeze(-2)), v.mT()), a, tol * scale, 0)) << "V diag(w) V^T != A";
  EXPECT_TRUE(all_close(matmul(v.mT(), v), eye(n, {}, kFloat64).expand(x.sizes()), tol, 0)) << "V not orthogonal";
  test::expect_eigh_conventions(w, v);
}

double tol_for(DType dt) { return dt == kFloat64 ? 1e-10 : 2e-5; }

// eigh of x (CPU) on CUDA against the CPU: eigenvalues and eigenvectors
// (distinct eigenvalues: the vectors are unique up to the sign convention),
// plus the decomposition itself.
void expect_matches_cpu(const Tensor& x_cpu, const Tensor& x_dev) {
  SCOPED_TRACE(str("shape ", shape_str(x_cpu.sizes()), " dtype ", x_cpu.dtype()));
  auto [cw, cv] = eigh(x_cpu);
  auto [gw, gv] = eigh(x_dev);
  ASSERT_TRUE(gw.is_cuda());
  ASSERT_TRUE(gv.is_cuda());
  EXPECT_EQ(gw.dtype(), x_cpu.dtype());
  EXPECT_EQ(gv.dtype(), x_cpu.dtype());
  const double tol = tol_for(x_cpu.dtype());
  const double scale = x_cpu.numel() ? std::max(1.0, max(abs(cw)).item<double>()) : 1.0;
  EXPECT_TRUE(all_close(gw.cpu(), cw, tol * scale, 0)) << "eigenvalues differ";
  EXPECT_TRUE(all_close(gv.cpu(), cv, 100 * tol, 0)) << "eigenvectors differ";
  expect_decomposes(x_cpu, gw, gv, 10 * tol);
}

void expect_matches_cpu(const Tensor& x_cpu) { expect_matches_cpu(x_cpu, x_cpu.to(kCuda)); }

}  // namespace

TEST(CudaEigh, MatchesCpuAcrossSizes) {
  WICK_SKIP_WITHOUT_CUDA();
  EighKernel on(true);
  uint64_t seed = 1;
  for (DType dt : {kFloat64, kFloat32}) {
    // Batches of small matrices (one block each, many blocks per SM) ...
    for (int64_t n : {1, 2, 3, 5, 16, 33}) expect_matches_cpu(random_symmetric({3, 2}, n, dt, seed++));
    // ... mid sizes, the largest shared-memory size on sm_90 and the first
    // one past it (global-memory workspace), and a larger one.
    for (int64_t n : {64, 100}) expect_matches_cpu(random_symmetric({2}, n, dt, seed++));
    for (int64_t n : {119, 120, 200}) expect_matches_cpu(random_symmetric({}, n, dt, seed++));
  }
}

TEST(CudaEigh, EmptyAndTinyShapes) {
  WICK_SKIP_WITHOUT_CUDA();
  EighKernel on(true);
  const TensorOptions dev = TensorOptions(kFloat64).device(kCuda);
  auto [w0, v0] = eigh(zeros({0, 3, 3}, dev));
  EXPECT_EQ(w0.sizes(), (Shape{0, 3}));
  EXPECT_EQ(v0.sizes(), (Shape{0, 3, 3}));
  EXPECT_TRUE(w0.is_cuda());
  auto [w1, v1] = eigh(zeros({2, 0, 0}, dev));
  EXPECT_EQ(w1.sizes(), (Shape{2, 0}));
  EXPECT_EQ(v1.sizes(), (Shape{2, 0, 0}));
  auto [w2, v2] = eigh(full({1, 1}, -2.5, dev));
  EXPECT_TRUE(all_equal(w2.cpu(), full({1}, -2.5, kFloat64)));
  EXPECT_TRUE(all_equal(v2.cpu(), ones({1, 1}, kFloat64)));
  // The zero matrix: already diagonal, V = I.
  auto [wz, vz] = eigh(zeros({4, 4}, dev));
  EXPECT_TRUE(all_equal(wz.cpu(), zeros({4}, kFloat64)));
  EXPECT_TRUE(all_equal(vz.cpu(), eye(4, {}, kFloat64)));
  // A diagonal matrix: sorted eigenvalues, permuted unit vectors, exactly.
  Tensor d = tensor({3.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 2.0}, Shape{3, 3}, kFloat64);
  auto [wd, vd] = eigh(d.to(kCuda));
  EXPECT_TRUE(all_equal(wd.cpu(), tensor({-1.0, 2.0, 3.0}, {}, kFloat64)));
  EXPECT_TRUE(all_equal(vd.cpu(), tensor({0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0}, Shape{3, 3}, kFloat64)));
  // Outputs never require grad.
  Tensor xg = random_symmetric({}, 4, kFloat64, 7).to(kCuda).requires_grad_();
  auto [wg, vg] = eigh(xg);
  EXPECT_FALSE(wg.requires_grad());
  EXPECT_FALSE(vg.requires_grad());
}

TEST(CudaEigh, BatchesAndNonContiguousInputs) {
  WICK_SKIP_WITHOUT_CUDA();
  EighKernel on(true);
  for (DType dt : {kFloat64, kFloat32}) {
    for (int64_t n : {5, 16, 33, 130}) {
      SCOPED_TRACE(str("n ", n));
      // A non-symmetric matrix transposed: the lower triangle read is the
      // original's upper triangle (strides (1, n)).
      Tensor m = wick::test::normal({2, n, n}, kFloat64, 100 + n).to(dt);
      expect_matches_cpu(m.mT(), m.to(kCuda).mT());
      // A broadcast batch (stride 0) and a strided batch (every other matrix).
      Tensor s = random_symmetric({}, n, dt, 200 + n);
      expect_matches_cpu(s.expand({3, n, n}), s.to(kCuda).expand({3, n, n}));
      Tensor b = random_symmetric({4, 2}, n, dt, 300 + n);
      expect_matches_cpu(b.slice(0, 0, 4, 2), b.to(kCuda).slice(0, 0, 4, 2));
      // Garbage above the diagonal is never read.
      Tensor junk = add(tril(b), triu(full(b.sizes(), 1e3, dt), 1));
      auto [gw, gv] = eigh(junk.to(kCuda));
      EXPECT_TRUE(all_close(gw.cpu(), eigh(b).first, tol_for(dt) * std::max<double>(1.0, n), 0));
    }
  }
}

// A batch larger than one launch of the global-memory path (4 blocks per
// SM): every copy of the broadcast matrix gets the CPU's answer, bit for bit
// the same in every copy.
TEST(CudaEigh, LargeBatchOnTheGlobalMemoryPath) {
  WICK_SKIP_WITHOUT_CUDA();
  EighKernel on(true);
  const int64_t n = 130, count = 600;
  const Tensor x = random_symmetric({}, n, kFloat64, 800);
  auto [cw, cv] = eigh(x);
  auto [gw, gv] = eigh(x.to(kCuda).expand({count, n, n}));
  const Tensor w = gw.cpu(), v = gv.cpu();
  EXPECT_TRUE(all_close(w.select(0, 0), cw, 1e-10 * std::max(1.0, max(abs(cw)).item<double>()), 0));
  EXPECT_TRUE(all_close(v.select(0, 0), cv, 1e-8, 0));
  EXPECT_TRUE(all_equal(w, w.select(0, 0).expand({count, n})));
  EXPECT_TRUE(all_equal(v, v.select(0, 0).expand({count, n, n})));
}

TEST(CudaEigh, RepeatedEigenvalues) {
  WICK_SKIP_WITHOUT_CUDA();
  EighKernel on(true);
  for (int64_t n : {16, 33}) {
    SCOPED_TRACE(str("n ", n));
    // The identity: nothing to rotate.
    auto [wi, vi] = eigh(eye(n, {}, TensorOptions(kFloat64).device(kCuda)));
    EXPECT_TRUE(all_equal(wi.cpu(), ones({n}, kFloat64)));
    EXPECT_TRUE(all_equal(vi.cpu(), eye(n, {}, kFloat64)));
    // Q diag(d) Q^T with d = 0, 1, 2, 0, 1, 2, ... (every value repeated) and
    // Q orthogonal (the eigenvectors of a random symmetric matrix).
    std::vector<double> dv(n);
    for (int64_t i = 0; i < n; ++i) dv[i] = static_cast<double>(i % 3);
    const Tensor d = from_vector(dv, {}, kFloat64);
    const Tensor q = eigh(random_symmetric({}, n, kFloat64, 400 + n)).second;
    const Tensor a = matmul(mul(q, d.unsqueeze(0)), q.mT());
    for (DType dt : {kFloat64, kFloat32}) {
      const Tensor x = a.to(dt);
      auto [w, v] = eigh(x.to(kCuda));
      std::vector<double> sorted = dv;
      std::sort(sorted.begin(), sorted.end());
      EXPECT_TRUE(all_close(w.cpu().to(kFloat64), from_vector(sorted, {}, kFloat64), 10 * tol_for(dt), 0));
      expect_decomposes(x, w, v, 10 * tol_for(dt));
    }
  }
}

TEST(CudaEigh, NonFiniteInput) {
  WICK_SKIP_WITHOUT_CUDA();
  EighKernel on(true);
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  for (DType dt : {kFloat64, kFloat32}) {
    for (double bad : {nan, inf}) {
      // Matrix 1 of 3 has a non-finite entry in its lower triangle.
      Tensor x = random_symmetric({3}, 6, kFloat64, 500).contiguous();
      x.data_ptr<double>()[36 + 4 * 6 + 1] = bad;
      const Tensor xd = x.to(dt).to(kCuda);
      EXPECT_WICK_ERROR(eigh(xd), "eigh: the input [3,6,6] contains non-finite values (NaN or Inf)");
#ifdef WICK_WITH_CUDA
      // The kernel itself: false, NaN outputs for that matrix, the others solved.
      Tensor w = empty({3, 6}, TensorOptions(dt).device(kCuda)), v = empty({3, 6, 6}, TensorOptions(dt).device(kCuda));
      EXPECT_FALSE(cuda::eigh(w, v, xd));
      Tensor wc = w.cpu().to(kFloat64), vc = v.cpu().to(kFloat64);
      EXPECT_TRUE(all_equal(isnan(wc.select(0, 1)), ones({6}, kBool)));
      EXPECT_TRUE(all_equal(isnan(vc.select(0, 1)), ones({6, 6}, kBool)));
      for (int64_t i : {0, 2}) {
        auto [cw, cv] = eigh(x.select(0, i).to(dt));
        EXPECT_TRUE(all_close(wc.select(0, i), cw.to(kFloat64), 10 * tol_for(dt), 0));
        EXPECT_TRUE(all_close(vc.select(0, i), cv.to(kFloat64), 100 * tol_for(dt), 0));
      }
#endif
    }
    // A NaN above the diagonal is not read.
    Tensor y = random_symmetric({}, 5, kFloat64, 501).contiguous();
    y.data_ptr<double>()[1] = nan;  // (0, 1)
    auto [wy, vy] = eigh(y.to(dt).to(kCuda));
    EXPECT_FALSE(any(isnan(wy.cpu())).item<bool>());
    expect_decomposes(y.to(dt), wy, vy, 10 * tol_for(dt));
  }
}

#ifdef WICK_WITH_CUDA  // the kernels' own entry points exist in CUDA builds only
TEST(CudaEigh, FastKernelMatchesReferenceKernel) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : {kFloat64, kFloat32}) {
    for (int64_t n : {2, 7, 32, 65, 130}) {
      SCOPED_TRACE(str("n ", n, " dtype ", dt));
      const Tensor x = random_symmetric({3}, n, dt, 600 + n);
      const Tensor xd = x.to(kCuda).mT();  // symmetric: the same matrix, column-major
      const TensorOptions dev = TensorOptions(dt).device(kCuda);
      Tensor wf = empty({3, n}, dev), vf = empty({3, n, n}, dev);
      Tensor wr = empty({3, n}, dev), vr = empty({3, n, n}, dev);
      ASSERT_TRUE(cuda::eigh(wf, vf, xd));
      ASSERT_TRUE(cuda::eigh_reference(wr, vr, xd));
      const double tol = tol_for(dt);
      const double scale = std::max(1.0, max(abs(wr.cpu())).item<double>());
      EXPECT_TRUE(all_close(wf.cpu(), wr.cpu(), tol * scale, 0));
      EXPECT_TRUE(all_close(vf.cpu(), vr.cpu(), 100 * tol, 0));
      // The reference is the CPU algorithm step for step.
      auto [cw, cv] = eigh(x);
      EXPECT_TRUE(all_close(wr.cpu(), cw, tol * scale, 0));
      EXPECT_TRUE(all_close(vr.cpu(), cv, 100 * tol, 0));
      expect_decomposes(x, wf, vf, 10 * tol);
    }
  }
}

#endif

TEST(CudaEigh, SwitchedOffGoesThroughTheCpuSolver) {
  WICK_SKIP_WITHOUT_CUDA();
  EighKernel off(false);
  for (DType dt : {kFloat64, kFloat32}) {
    const Tensor x = random_symmetric({2, 3}, 9, dt, 700);
    auto [cw, cv] = eigh(x);
    auto [gw, gv] = eigh(x.to(kCuda).mT());
    ASSERT_TRUE(gw.is_cuda());
    ASSERT_TRUE(gv.is_cuda());
    // The same solver on the same (symmetric) matrix: bit for bit.
    EXPECT_TRUE(all_equal(gw.cpu(), cw));
    EXPECT_TRUE(all_equal(gv.cpu(), cv));
  }
  EXPECT_TRUE(all_equal(eigh(zeros({0, 2, 2}, TensorOptions(kFloat32).device(kCuda))).second.cpu(), zeros({0, 2, 2})));
  Tensor bad = full({2, 2}, std::numeric_limits<double>::quiet_NaN(), TensorOptions(kFloat64).device(kCuda));
  EXPECT_WICK_ERROR(eigh(bad), "eigh: the input [2,2] contains non-finite values (NaN or Inf)");
}
