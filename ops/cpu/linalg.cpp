// CPU kernels for linear algebra.
//
// batched_gemm: cpu::gemm_batched when each operand's matrices lie one
// stride apart (contiguous, 1-D or broadcast batches), else one cpu::gemm
// call per matrix of the batch. Operands are
// addressed through their strides (a transposed or broadcast operand is never
// copied); the batch offsets of each operand are computed once with an
// odometer over the broadcast batch shape. Products too small to be worth
// splitting across threads (< kSmallProduct multiply-adds) run one per
// thread; bigger ones run one after another, each parallel inside gemm.
//
// triangle: tril/triu as a row copy: row i keeps columns [0, i+k] (tril) or
// [i+k, n) (triu) and zeros the rest; rows are independent (parallel).
//
// eigh: cyclic Jacobi (Golub & Van Loan, Matrix Computations, 8.5; the
// rotation formulas of Numerical Recipes 11.1). Each rotation J(p,q,theta) is
// chosen to zero a[p][q]; A <- J^T A J, V <- V J. A sweep visits every pair
// p < q; the off-diagonal mass falls quadratically once it is small, so a few
// sweeps (about 6-10 for n <= 100) reach double rounding. Work is about
// 8 n^3 flops per sweep. Always done in double, also for float32 input.
#include "ops/cpu/linalg.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "ops/cpu/gemm.h"
#include "tensor/parallel.h"

namespace wick::cpu {

namespace {

// Multiply-adds below which a product runs on one thread.
constexpr int64_t kSmallProduct = 1 << 16;

Shape batch_of(const Tensor& t) { return Shape(t.sizes().begin(), t.sizes().end() - 2); }

}  // namespace

// Element offset of each matrix of t (all dims but the last two are batch
// dims) for every index of `batch`, in row-major order; t's batch dims are
// right-aligned with `batch` and broadcast (stride 0) where missing or 1.
std::vector<int64_t> batch_offsets(const Tensor& t, const Shape& batch) {
  const int64_t nb = static_cast<int64_t>(batch.size()), tb = t.dim() - 2;
  Shape st(nb, 0);
  for (int64_t d = 0; d < tb; ++d) st[nb - tb + d] = t.size(d) == 1 ? 0 : t.stride(d);
  const int64_t count = numel_of(batch);
  std::vector<int64_t> off(count);
  std::vector<int64_t> idx(nb, 0);
  int64_t cur = 0;
  for (int64_t i = 0; i < count; ++i) {
    off[i] = cur;
    for (int64_t d = nb - 1; d >= 0; --d) {
      cur += st[d];
      if (++idx[d] < batch[d]) break;
      cur -= st[d] * batch[d];
      idx[d] = 0;
    }
  }
  return off;
}

// ---------------------------------------------------------------------------
// batched products

void batched_gemm(const Tensor& out, const Tensor& a, const Tensor& b, const Scalar& alpha, const Scalar& beta) {
  const int64_t M = out.size(out.dim() - 2), N = out.size(out.dim() - 1), K = a.size(a.dim() - 1);
  const Shape batch = batch_of(out);
  const int64_t count = numel_of(batch);
  if (count == 0 || M == 0 || N == 0) return;
  const std::vector<int64_t> off_a = batch_offsets(a, batch), off_b = batch_offsets(b, batch);
  const int64_t a_rs = a.stride(a.dim() - 2), a_cs = a.stride(a.dim() - 1);
  const int64_t b_rs = b.stride(b.dim() - 2), b_cs = b.stride(b.dim() - 1);
  WICK_DISPATCH_NUMERIC(out.dtype(), "matmul", [&]<typename T>() {
    const T* pa = a.data_ptr<T>();
    const T* pb = b.data_ptr<T>();
    T* pc = out.data_ptr<T>();
    const T al = alpha.to<T>(), be = beta.to<T>();
    auto one = [&](int64_t i) {
      gemm<T>(M, N, K, al, MatRef<const T>{pa + off_a[i], a_rs, a_cs}, MatRef<const T>{pb + off_b[i], b_rs, b_cs},
              be, pc + i * M * N, N);
    };
    // Batch offsets that are one stride apart (a contiguous or 1-D batch, or
    // a broadcast operand): the strided batched entry point.
    auto uniform = [&](const std::vector<int64_t>& off) {
      for (int64_t i = 2; i < count; ++i)
        if (off[i] - off[i - 1] != off[1] - off[0]) return false;
      return true;
    };
    if (count > 1 && uniform(off_a) && uniform(off_b)) {
      gemm_batched<T>(count, M, N, K, al, MatRef<const T>{pa, a_rs, a_cs}, off_a[1] - off_a[0],
                      MatRef<const T>{pb, b_rs, b_cs}, off_b[1] - off_b[0], be, pc, N, M * N);
      return;
    }
    const int64_t work = M * N * std::max<int64_t>(K, 1);
    if (count > 1 && (work < kSmallProduct || count >= get_num_threads())) {
      // Nested parallel_for calls inside gemm run serially: one product per thread.
      parallel_for(0, count, std::max<int64_t>(1, kSmallProduct / work), [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) one(i);
      });
    } else {
      for (int64_t i = 0; i < count; ++i) one(i);
    }
  });
}

// ---------------------------------------------------------------------------
// tril / triu

void triangle(const Tensor& out, const Tensor& x, int64_t k, bool lower) {
  const int64_t R = x.size(x.dim() - 2), C = x.size(x.dim() - 1);
  const Shape batch = batch_of(x);
  const int64_t rows = numel_of(batch) * R;
  if (rows == 0 || C == 0) return;
  const std::vector<int64_t> off = batch_offsets(x, batch);
  const int64_t rs = x.stride(x.dim() - 2), cs = x.stride(x.dim() - 1);
  k = std::clamp<int64_t>(k, -R - 1, C + 1);  // beyond these the mask is all or nothing; avoids overflow
  WICK_DISPATCH_ALL(x.dtype(), lower ? "tril" : "triu", [&]<typename T>() {
    const T* px = x.data_ptr<T>();
    T* po = out.data_ptr<T>();
    parallel_for(0, rows, std::max<int64_t>(1, 32768 / C), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t i = r % R;
        const T* src = px + off[r / R] + i * rs;
        T* dst = po + r * C;
        // Kept columns [lo, hi).
        const int64_t lo = lower ? 0 : std::clamp<int64_t>(i + k, 0, C);
        const int64_t hi = lower ? std::clamp<int64_t>(i + k + 1, 0, C) : C;
        std::fill(dst, dst + lo, T(0));
        if (cs == 1)
          std::copy(src + lo, src + hi, dst + lo);
        else
          for (int64_t j = lo; j < hi; ++j) dst[j] = src[j * cs];
        std::fill(dst + hi, dst + C, T(0));
      }
    });
  });
}

// ---------------------------------------------------------------------------
// eigh

namespace {

// Diagonalizes the symmetric row-major n x n matrix `a` in place (its
// diagonal ends up holding the eigenvalues) and accumulates the rotations
// into v, which must start as the identity.
void jacobi(double* a, double* v, int64_t n) {
  constexpr int kMaxSweeps = 64;
  double frob2 = 0;
  for (int64_t i = 0; i < n * n; ++i) frob2 += a[i] * a[i];
  const double tol2 = 1e-30 * frob2;  // stop when ||offdiag(A)||_F <= 1e-15 ||A||_F
  for (int sweep = 0; sweep < kMaxSweeps; ++sweep) {
    double off2 = 0;
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = p + 1; q < n; ++q) off2 += 2 * a[p * n + q] * a[p * n + q];
    if (off2 <= tol2) return;
    for (int64_t p = 0; p < n; ++p) {
      for (int64_t q = p + 1; q < n; ++q) {
        const double apq = a[p * n + q];
        if (apq == 0) continue;
        const double app = a[p * n + p], aqq = a[q * n + q];
        // After a few sweeps an element below the rounding of both diagonal
        // entries it couples is set to zero instead of rotated (NR 11.1).
        const double g = 100 * std::abs(apq);
        if (sweep > 3 && std::abs(app) + g == std::abs(app) && std::abs(aqq) + g == std::abs(aqq)) {
          a[p * n + q] = a[q * n + p] = 0;
          continue;
        }
        // t = tan(phi) is the smaller root of t^2 + 2 t theta - 1 = 0, which
        // makes the rotated a[p][q] zero; hypot avoids overflow of theta^2.
        const double theta = (aqq - app) / (2 * apq);
        double t = 1 / (std::abs(theta) + std::hypot(theta, 1.0));
        if (theta < 0) t = -t;
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int64_t k = 0; k < n; ++k) {  // A <- A J (columns p, q)
          const double akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (int64_t k = 0; k < n; ++k) {  // A <- J^T A (rows p, q)
          const double apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        a[p * n + p] = app - t * apq;  // the exact values, free of the rounding above
        a[q * n + q] = aqq + t * apq;
        a[p * n + q] = a[q * n + p] = 0;
        for (int64_t k = 0; k < n; ++k) {  // V <- V J
          const double vkp = v[k * n + p], vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
}

}  // namespace

bool eigh(const Tensor& w, const Tensor& v, const Tensor& x) {
  const int64_t n = x.size(x.dim() - 1);
  const Shape batch = batch_of(x);
  const int64_t count = numel_of(batch);
  if (count == 0 || n == 0) return true;
  const std::vector<int64_t> off = batch_offsets(x, batch);
  const int64_t rs = x.stride(x.dim() - 2), cs = x.stride(x.dim() - 1);
  std::atomic<bool> finite{true};
  WICK_DISPATCH_FLOAT(x.dtype(), "eigh", [&]<typename T>() {
    const T* px = x.data_ptr<T>();
    T* pw = w.data_ptr<T>();
    T* pv = v.data_ptr<T>();
    const int64_t grain = std::max<int64_t>(1, 32768 / (n * n * n));
    parallel_for(0, count, grain, [&](int64_t b0, int64_t b1) {
      std::vector<double> a(n * n), vec(n * n);
      std::vector<int64_t> order(n);
      for (int64_t bi = b0; bi < b1; ++bi) {
        const T* src = px + off[bi];
        T* wout = pw + bi * n;
        T* vout = pv + bi * n * n;
        // Symmetric matrix from the lower triangle (like torch's UPLO='L').
        bool ok = true;
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = 0; j <= i; ++j) {
            const double e = static_cast<double>(src[i * rs + j * cs]);
            ok = ok && std::isfinite(e);
            a[i * n + j] = a[j * n + i] = e;
          }
        if (!ok) {
          finite = false;
          std::fill(wout, wout + n, std::numeric_limits<T>::quiet_NaN());
          std::fill(vout, vout + n * n, std::numeric_limits<T>::quiet_NaN());
          continue;
        }
        std::fill(vec.begin(), vec.end(), 0.0);
        for (int64_t i = 0; i < n; ++i) vec[i * n + i] = 1;
        jacobi(a.data(), vec.data(), n);
        // Ascending eigenvalues (stable for ties); columns follow.
        std::iota(order.begin(), order.end(), int64_t{0});
        std::stable_sort(order.begin(), order.end(),
                         [&](int64_t i, int64_t j) { return a[i * n + i] < a[j * n + j]; });
        for (int64_t j = 0; j < n; ++j) {
          const int64_t src_col = order[j];
          wout[j] = static_cast<T>(a[src_col * n + src_col]);
          // Normalize and fix the sign: the largest-magnitude component
          // (first one on ties) is positive.
          double norm2 = 0, big = -1;
          int64_t arg = 0;
          for (int64_t i = 0; i < n; ++i) {
            const double e = vec[i * n + src_col];
            norm2 += e * e;
            if (std::abs(e) > big) big = std::abs(e), arg = i;
          }
          const double scale = (vec[arg * n + src_col] < 0 ? -1.0 : 1.0) / std::sqrt(norm2);
          for (int64_t i = 0; i < n; ++i) vout[i * n + j] = static_cast<T>(vec[i * n + src_col] * scale);
        }
      }
    });
  });
  return finite;
}

}  // namespace wick::cpu
