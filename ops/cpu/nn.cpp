// CPU kernels for softmax and the normalizations (batch_norm's are in
// ops/cpu/batch_norm.cpp): forward passes, and the
// fused first-order backward of softmax / log_softmax / layer_norm / rms_norm.
// The readable reference of each backward is the formula written with ops in
// ops/nn.cpp (used under create_graph); tests/ops/test_fused_nn.cpp checks the
// two agree on odd sizes, other dims, non-contiguous and empty inputs.
//
// softmax along a dim: the tensor is viewed as [outer, n, inner] with n the
// softmax dim. Three passes per row: max, exp(x - max) written to the output
// (vectorized exp) and summed, normalize in place. When
// inner == 1 a row is contiguous; otherwise a block of up to kColBlock
// columns is processed together so that every pass walks contiguous memory
// (x[o, k, j0:j1] for k = 0..n-1) and the per-column max/sum live in a small
// buffer. Work is split over (outer, column block) pairs.
// Cost: 3 reads + 1 write per element, n exp per row; memory bound except for exp.
//
// Normalizations: per row (layer_norm, rms_norm) or per (sample, group)
// (group_norm), the statistics are computed with
// two passes over data that is still in cache (mean, then the centred sum of
// squares, which avoids the cancellation of E[x^2] - E[x]^2), then the output
// is written as x * scale + shift. Accumulation is in acc_t<T>.
//
// Backward kernels (one read of each input, one write of gx; the second pass
// over a row hits L1/L2):
//   softmax:      s = sum(gy * y); gx = y * (gy - s)      2 reads + 1 write / element
//   log_softmax:  s = sum(gy);     gx = gy - exp(y) * s   same bytes, one exp / element
//   layer_norm:   per row sums of gh and gh * xhat, then gx; gw/gb from per-block
//                 partial sums (blocks fixed by the shape, not the thread count),
//                 summed in block order: 2 reads + 1 write / element, deterministic.
// The inner loops are `omp simd` reductions (vectorized under -march=native),
// the exp is ops/cpu/vec_math.h's exp_array (AVX2/AVX-512, runtime dispatch)
// for float.
//
// Measured with bench/kernels/bench_nn.cpp (float32, 2 threads, Zen 3, the
// machine shared with other builds, so only the interleaved ratios mean
// anything; fused vs the composed-of-ops path, CPU time):
//                      [2048, 256] fwd / bwd     [6400, 128] fwd / bwd
//   softmax              2.9x / 2.7x               3.8x / 5.9x
//   log_softmax          1.8x / 7.9x               4.9x / 5.5x
//   layer_norm           1.6x / 11.6x              7.2x / 13x
//   rms_norm             1.9x / 2.5x               3.9x / 4.8x
// and, after vectorizing the forward statistics (omp simd reductions), one
// thread: layer_norm fwd 4.3x / 4.3x, rms_norm fwd 1.7x / 3.2x (the two shapes).
// The fraction of memory bandwidth could not be measured meaningfully on
// the loaded machine (STREAM triad read 1.9 GB/s there); these shapes (2-3
// MiB per tensor) live in L2/L3 anyway.
#include "ops/cpu/nn.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ops/cpu/loops.h"
#include "ops/cpu/vec_math.h"

namespace wick::cpu {

namespace {

constexpr int64_t kColBlock = 64;

// One pass for the max, one writing x - max and its exp (vectorized) into
// the output row while summing, one normalizing it.
template <typename T>
void softmax_rows(T* out, const T* x, int64_t outer, int64_t n, bool log) {
  using A = acc_t<T>;
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(n, 1));
  parallel_for(0, outer, grain, [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const T* xr = x + r * n;
      T* o = out + r * n;
      T m = -std::numeric_limits<T>::infinity();
      for (int64_t i = 0; i < n; ++i) m = std::max(m, xr[i]);
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) o[i] = xr[i] - m;
      exp_into(o, o, n);
      A s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t i = 0; i < n; ++i) s += static_cast<A>(o[i]);
      if (log) {
        const A lse = static_cast<A>(m) + std::log(s);
        for (int64_t i = 0; i < n; ++i) o[i] = static_cast<T>(static_cast<A>(xr[i]) - lse);
      } else {
        const T inv = static_cast<T>(A(1) / s);
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) o[i] *= inv;
      }
    }
  });
}

template <typename T>
void softmax_cols(T* out, const T* x, int64_t outer, int64_t n, int64_t inner, bool log) {
  using A = acc_t<T>;
  const int64_t blocks = (inner + kColBlock - 1) / kColBlock;
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(n * kColBlock, 1));
  parallel_for(0, outer * blocks, grain, [&](int64_t tb, int64_t te) {
    T mx[kColBlock];
    A s[kColBlock];
    for (int64_t t = tb; t < te; ++t) {
      const int64_t o = t / blocks, j0 = (t % blocks) * kColBlock;
      const int64_t w = std::min(kColBlock, inner - j0);
      const T* xb = x + o * n * inner + j0;
      T* ob = out + o * n * inner + j0;
      for (int64_t j = 0; j < w; ++j) mx[j] = -std::numeric_limits<T>::infinity();
      for (int64_t k = 0; k < n; ++k)
        for (int64_t j = 0; j < w; ++j) mx[j] = std::max(mx[j], xb[k * inner + j]);
      for (int64_t j = 0; j < w; ++j) s[j] = 0;
      for (int64_t k = 0; k < n; ++k) {
        T* ok = ob + k * inner;
        for (int64_t j = 0; j < w; ++j) ok[j] = xb[k * inner + j] - mx[j];
        exp_into(ok, ok, w);
        for (int64_t j = 0; j < w; ++j) s[j] += ok[j];
      }
      if (log) {
        A lse[kColBlock];
        for (int64_t j = 0; j < w; ++j) lse[j] = static_cast<A>(mx[j]) + std::log(s[j]);
        for (int64_t k = 0; k < n; ++k)
          for (int64_t j = 0; j < w; ++j)
            ob[k * inner + j] = static_cast<T>(static_cast<A>(xb[k * inner + j]) - lse[j]);
      } else {
        T inv[kColBlock];
        for (int64_t j = 0; j < w; ++j) inv[j] = static_cast<T>(A(1) / s[j]);
        for (int64_t k = 0; k < n; ++k)
          for (int64_t j = 0; j < w; ++j) ob[k * inner + j] *= inv[j];
      }
    }
  });
}

// mean and rstd of a contiguous run of n values (n > 0); mean is 0 for rms.
template <typename T>
void moments(const T* x, int64_t n, double eps, bool rms, acc_t<T>& mean, acc_t<T>& rstd) {
  using A = acc_t<T>;
  A m = 0;
  if (!rms) {
#pragma omp simd reduction(+ : m)
    for (int64_t i = 0; i < n; ++i) m += static_cast<A>(x[i]);
    m /= static_cast<A>(n);
  }
  A ss = 0;
#pragma omp simd reduction(+ : ss)
  for (int64_t i = 0; i < n; ++i) {
    const A d = static_cast<A>(x[i]) - m;
    ss += d * d;
  }
  mean = m;
  rstd = A(1) / std::sqrt(ss / static_cast<A>(n) + static_cast<A>(eps));
}

template <typename T>
T* opt_ptr(const Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

// ---- backward --------------------------------------------------------------

template <typename T>
void softmax_bwd_row(T* gx, const T* gy, const T* y, int64_t n, bool log) {
  using A = acc_t<T>;
  A s = 0;
  if (log) {
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; ++i) s += static_cast<A>(gy[i]);
    exp_into(y, gx, n);
    const T st = static_cast<T>(s);
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) gx[i] = gy[i] - gx[i] * st;
  } else {
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; ++i) s += static_cast<A>(gy[i]) * static_cast<A>(y[i]);
    const T st = static_cast<T>(s);
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) gx[i] = y[i] * (gy[i] - st);
  }
}

template <typename T>
void softmax_bwd_rows(T* gx, const T* gy, const T* y, int64_t outer, int64_t n, bool log) {
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(n, 1));
  parallel_for(0, outer, grain, [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) softmax_bwd_row<T>(gx + r * n, gy + r * n, y + r * n, n, log);
  });
}

// Softmax dim not last: blocks of kColBlock adjacent columns, every pass
// walking contiguous memory (as softmax_cols does).
template <typename T>
void softmax_bwd_cols(T* gx, const T* gy, const T* y, int64_t outer, int64_t n, int64_t inner, bool log) {
  using A = acc_t<T>;
  const int64_t blocks = (inner + kColBlock - 1) / kColBlock;
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(n * kColBlock, 1));
  parallel_for(0, outer * blocks, grain, [&](int64_t tb, int64_t te) {
    A s[kColBlock];
    T st[kColBlock];
    for (int64_t t = tb; t < te; ++t) {
      const int64_t o = t / blocks, j0 = (t % blocks) * kColBlock;
      const int64_t w = std::min(kColBlock, inner - j0);
      const int64_t base = o * n * inner + j0;
      for (int64_t j = 0; j < w; ++j) s[j] = 0;
      for (int64_t k = 0; k < n; ++k) {
        const T* g = gy + base + k * inner;
        const T* yv = y + base + k * inner;
        if (log) {
          for (int64_t j = 0; j < w; ++j) s[j] += static_cast<A>(g[j]);
        } else {
          for (int64_t j = 0; j < w; ++j) s[j] += static_cast<A>(g[j]) * static_cast<A>(yv[j]);
        }
      }
      for (int64_t j = 0; j < w; ++j) st[j] = static_cast<T>(s[j]);
      for (int64_t k = 0; k < n; ++k) {
        const T* g = gy + base + k * inner;
        const T* yv = y + base + k * inner;
        T* o_ = gx + base + k * inner;
        if (log) {
          exp_into(yv, o_, w);
          for (int64_t j = 0; j < w; ++j) o_[j] = g[j] - o_[j] * st[j];
        } else {
          for (int64_t j = 0; j < w; ++j) o_[j] = yv[j] * (g[j] - st[j]);
        }
      }
    }
  });
}

// Rows [r0, r1) of the layer_norm / rms_norm backward. Writes gx rows (when
// NeedGx) and adds gy * xhat, gy into the partials pw, pb (when NeedGwb).
template <typename T, bool HasW, bool NeedGx, bool NeedGwb>
void norm_bwd_rows(T* gx, acc_t<T>* pw, acc_t<T>* pb, const T* gy, const T* x, const T* mean, const T* rstd,
                   const T* w, int64_t r0, int64_t r1, int64_t cols) {
  using A = acc_t<T>;
  const A inv_n = A(1) / static_cast<A>(cols);
  for (int64_t r = r0; r < r1; ++r) {
    const T* xr = x + r * cols;
    const T* gr = gy + r * cols;
    const T mt = mean ? mean[r] : T(0), rt = rstd[r];
    if constexpr (NeedGx) {
      A sg = 0, sgx = 0;
#pragma omp simd reduction(+ : sg, sgx)
      for (int64_t i = 0; i < cols; ++i) {
        const T xh = (xr[i] - mt) * rt;
        const T gh = HasW ? gr[i] * w[i] : gr[i];
        sg += static_cast<A>(gh);
        sgx += static_cast<A>(gh) * static_cast<A>(xh);
      }
      const T a = mean ? static_cast<T>(sg * inv_n) : T(0), b = static_cast<T>(sgx * inv_n);
      T* o = gx + r * cols;
#pragma omp simd
      for (int64_t i = 0; i < cols; ++i) {
        const T xh = (xr[i] - mt) * rt;
        const T gh = HasW ? gr[i] * w[i] : gr[i];
        o[i] = rt * (gh - a - xh * b);
      }
    }
    if constexpr (NeedGwb) {
#pragma omp simd
      for (int64_t i = 0; i < cols; ++i) {
        const T xh = (xr[i] - mt) * rt;
        pw[i] += static_cast<A>(gr[i]) * static_cast<A>(xh);
        pb[i] += static_cast<A>(gr[i]);
      }
    }
  }
}

template <typename T, bool HasW, bool NeedGx, bool NeedGwb>
void norm_bwd(T* gx, T* gw, T* gb, const T* gy, const T* x, const T* mean, const T* rstd, const T* w,
              int64_t rows, int64_t cols) {
  using A = acc_t<T>;
  if constexpr (!NeedGwb) {
    const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(cols, 1));
    parallel_for(0, rows, grain, [&](int64_t rb, int64_t re) {
      norm_bwd_rows<T, HasW, NeedGx, false>(gx, nullptr, nullptr, gy, x, mean, rstd, w, rb, re, cols);
    });
  } else {
    // Blocks of rows depend only on the shape, so the sums below do not
    // depend on how many threads run them.
    const int64_t want = std::clamp<int64_t>(rows * cols / kParallelGrain, 1, 64);
    const int64_t per = (rows + want - 1) / want;
    const int64_t nblocks = (rows + per - 1) / per;
    std::vector<A> part(static_cast<size_t>(2 * nblocks * cols), A(0));
    parallel_for(0, nblocks, 1, [&](int64_t bb, int64_t be) {
      for (int64_t blk = bb; blk < be; ++blk) {
        A* pw = part.data() + 2 * blk * cols;
        norm_bwd_rows<T, HasW, NeedGx, true>(gx, pw, pw + cols, gy, x, mean, rstd, w, blk * per,
                                             std::min(rows, (blk + 1) * per), cols);
      }
    });
    parallel_for(0, cols, kParallelGrain / std::max<int64_t>(nblocks, 1), [&](int64_t cb, int64_t ce) {
      for (int64_t c = cb; c < ce; ++c) {
        A sw = 0, sb = 0;
        for (int64_t blk = 0; blk < nblocks; ++blk) {
          sw += part[2 * blk * cols + c];
          sb += part[2 * blk * cols + cols + c];
        }
        if (gw) gw[c] = static_cast<T>(sw);
        if (gb) gb[c] = static_cast<T>(sb);
      }
    });
  }
}

}  // namespace

void exp_into(const float* x, float* y, int64_t n) { exp_array(x, y, n); }

void exp_into(const double* x, double* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
}

void softmax_backward(const Tensor& gx, const Tensor& gy, const Tensor& y, int64_t dim, bool log) {
  if (y.numel() == 0) return;
  int64_t outer = 1, n = 1, inner = 1;
  for (int64_t d = 0; d < y.dim(); ++d) {
    if (d < dim) outer *= y.size(d);
    else if (d == dim) n = y.size(d);
    else inner *= y.size(d);
  }
  WICK_DISPATCH_FLOAT(y.dtype(), log ? "log_softmax_backward" : "softmax_backward", [&]<typename T>() {
    if (inner == 1) softmax_bwd_rows<T>(gx.data_ptr<T>(), gy.data_ptr<T>(), y.data_ptr<T>(), outer, n, log);
    else softmax_bwd_cols<T>(gx.data_ptr<T>(), gy.data_ptr<T>(), y.data_ptr<T>(), outer, n, inner, log);
  });
}

void layer_norm_backward(const Tensor& gx, const Tensor& gw, const Tensor& gb, const Tensor& gy, const Tensor& x,
                         const Tensor& mean, const Tensor& rstd, const Tensor& w, int64_t rows, int64_t cols,
                         bool rms) {
  WICK_DISPATCH_FLOAT(x.dtype(), rms ? "rms_norm_backward" : "layer_norm_backward", [&]<typename T>() {
    T* gwp = opt_ptr<T>(gw);
    T* gbp = opt_ptr<T>(gb);
    if (rows == 0 || cols == 0) {  // empty: weight/bias gradients are sums of nothing
      for (int64_t c = 0; c < cols; ++c) {
        if (gwp) gwp[c] = T(0);
        if (gbp) gbp[c] = T(0);
      }
      return;
    }
    T* gxp = opt_ptr<T>(gx);
    const T* gyp = gy.data_ptr<T>();
    const T* xp = x.data_ptr<T>();
    const T* mp = rms ? nullptr : mean.data_ptr<T>();
    const T* rp = rstd.data_ptr<T>();
    const T* wp = opt_ptr<T>(w);
    const bool need_wb = gwp || gbp;
    auto run = [&]<bool HasW>() {
      if (gxp && need_wb) norm_bwd<T, HasW, true, true>(gxp, gwp, gbp, gyp, xp, mp, rp, wp, rows, cols);
      else if (gxp) norm_bwd<T, HasW, true, false>(gxp, gwp, gbp, gyp, xp, mp, rp, wp, rows, cols);
      else if (need_wb) norm_bwd<T, HasW, false, true>(gxp, gwp, gbp, gyp, xp, mp, rp, wp, rows, cols);
    };
    if (wp) run.template operator()<true>();
    else run.template operator()<false>();
  });
}

void softmax(const Tensor& out, const Tensor& x, int64_t dim, bool log) {
  if (x.numel() == 0) return;
  int64_t outer = 1, n = 1, inner = 1;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d < dim) outer *= x.size(d);
    else if (d == dim) n = x.size(d);
    else inner *= x.size(d);
  }
  WICK_DISPATCH_FLOAT(x.dtype(), log ? "log_softmax" : "softmax", [&]<typename T>() {
    if (inner == 1) softmax_rows<T>(out.data_ptr<T>(), x.data_ptr<T>(), outer, n, log);
    else softmax_cols<T>(out.data_ptr<T>(), x.data_ptr<T>(), outer, n, inner, log);
  });
}

void layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& w,
                const Tensor& b, int64_t rows, int64_t cols, double eps, bool rms) {
  if (rows == 0) return;
  WICK_DISPATCH_FLOAT(x.dtype(), rms ? "rms_norm" : "layer_norm", [&]<typename T>() {
    using A = acc_t<T>;
    const T* xp = x.data_ptr<T>();
    T* op = out.data_ptr<T>();
    const T* wp = opt_ptr<T>(w);
    const T* bp = opt_ptr<T>(b);
    T* mp = opt_ptr<T>(mean);
    T* rp = rstd.data_ptr<T>();
    const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(cols, 1));
    parallel_for(0, rows, grain, [&](int64_t rb, int64_t re) {
      for (int64_t r = rb; r < re; ++r) {
        const T* xr = xp + r * cols;
        T* o = op + r * cols;
        A m = 0, rs = 0;
        if (cols > 0) moments<T>(xr, cols, eps, rms, m, rs);
        else rs = std::numeric_limits<A>::quiet_NaN();
        if (mp) mp[r] = static_cast<T>(m);
        rp[r] = static_cast<T>(rs);
        // (x - m) * rs in T: for float the statistics are rounded once here.
        const T mt = static_cast<T>(m), rt = static_cast<T>(rs);
        if (wp && bp) {
          _Pragma("omp simd")  // inside WICK_DISPATCH_FLOAT: #pragma is not allowed in a macro argument
          for (int64_t i = 0; i < cols; ++i) o[i] = (xr[i] - mt) * rt * wp[i] + bp[i];
        } else if (wp) {
          _Pragma("omp simd")
          for (int64_t i = 0; i < cols; ++i) o[i] = (xr[i] - mt) * rt * wp[i];
        } else if (bp) {
          _Pragma("omp simd")
          for (int64_t i = 0; i < cols; ++i) o[i] = (xr[i] - mt) * rt + bp[i];
        } else {
          _Pragma("omp simd")
          for (int64_t i = 0; i < cols; ++i) o[i] = (xr[i] - mt) * rt;
        }
      }
    });
  });
}

void group_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& w,
                const Tensor& b, int64_t N, int64_t C, int64_t S, int64_t groups, double eps) {
  const int64_t rows = N * groups, cpg = C / groups, len = cpg * S;
  if (rows == 0) return;
  WICK_DISPATCH_FLOAT(x.dtype(), "group_norm", [&]<typename T>() {
    using A = acc_t<T>;
    const T* xp = x.data_ptr<T>();
    T* op = out.data_ptr<T>();
    const T* wp = opt_ptr<T>(w);
    const T* bp = opt_ptr<T>(b);
    T* mp = mean.data_ptr<T>();
    T* rp = rstd.data_ptr<T>();
    const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(len, 1));
    parallel_for(0, rows, grain, [&](int64_t rb, int64_t re) {
      for (int64_t r = rb; r < re; ++r) {
        const T* xr = xp + r * len;
        T* o = op + r * len;
        A m = 0, rs = std::numeric_limits<A>::quiet_NaN();
        if (len > 0) moments<T>(xr, len, eps, false, m, rs);
        mp[r] = static_cast<T>(m);
        rp[r] = static_cast<T>(rs);
        const int64_t c0 = (r % groups) * cpg;
        for (int64_t c = 0; c < cpg; ++c) {
          // y = (x - m) * rs * w + b = x * scale + shift
          const A scale = rs * (wp ? static_cast<A>(wp[c0 + c]) : A(1));
          const A shift = (bp ? static_cast<A>(bp[c0 + c]) : A(0)) - m * scale;
          const T sc = static_cast<T>(scale), sh = static_cast<T>(shift);
          const T* xc = xr + c * S;
          T* oc = o + c * S;
          for (int64_t s = 0; s < S; ++s) oc[s] = xc[s] * sc + sh;
        }
      }
    });
  });
}

}  // namespace wick::cpu
