// CPU kernels for the losses: target validation for class-index losses, the
// fused cross entropy with class-index targets, and the fused elementwise
// binary cross entropy with logits.
//
// Fused cross entropy. The composed path (log_softmax, gather, the smoothing
// sum; kept in ops/loss.cpp as the readable reference and for double
// backward) writes and reads a log_softmax tensor of the input's size and
// several more of the targets' size. Here, per row of C logits:
//   forward:  max, exp(x - max) into a C-sized scratch row (vectorized exp),
//             sum -> lse; loss = (1-eps) wt (lse - x_t) + eps/C (W lse - sum w_c x_c)
//             1 read of x, nothing of size C written (only lse and the loss per row).
//   backward: gx = s (a p - (1-eps) wt onehot(t) - eps/C w),  p = exp(x - lse)
//             1 read of x + 1 write of gx, no softmax tensor materialized.
// Rows with the class dim not last ([N, C, d...]) are gathered into the
// scratch row and scattered back (strided, but the loss is small there).
// FLOPs: ~4 per element + one exp; bytes: 4 (fwd) / 8 (bwd) per float element.
// Measured (bench/kernels/bench_nn.cpp, float32, Zen 3 shared with other
// builds; fused vs log_softmax + nll_loss composed, CPU time): [2048, 256]
// forward 1.7x, backward 2.4x (2 threads) / 3.4x (1 thread); [256, 10]
// forward 1.1x, backward 1.5x (small: fixed per-call costs dominate).
#include "ops/cpu/loss.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ops/cpu/loops.h"
#include "ops/cpu/nn.h"

namespace wick::cpu {

namespace {

// What every row of a cross entropy needs besides its logits.
template <typename T>
struct CeRowArgs {
  const T* w;      // class weights or nullptr
  acc_t<T> W;      // sum of the class weights (C without weight)
  double eps;      // label smoothing
  int64_t C;
};

// One contiguous row xr[C] (scratch buf[C]) with target t (not ignored).
template <typename T>
void ce_row_forward(const T* xr, T* buf, int64_t t, const CeRowArgs<T>& a, T& lse_out, T& loss_out) {
  using A = acc_t<T>;
  const int64_t C = a.C;
  T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
  for (int64_t i = 0; i < C; ++i) m = xr[i] > m ? xr[i] : m;
#pragma omp simd
  for (int64_t i = 0; i < C; ++i) buf[i] = xr[i] - m;
  exp_into(buf, buf, C);
  A s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < C; ++i) s += static_cast<A>(buf[i]);
  const A lse = static_cast<A>(m) + std::log(s);
  const A wt = a.w ? static_cast<A>(a.w[t]) : A(1);
  A loss = static_cast<A>(1.0 - a.eps) * wt * (lse - static_cast<A>(xr[t]));
  if (a.eps > 0) {
    A sw = 0;
    if (a.w) {
#pragma omp simd reduction(+ : sw)
      for (int64_t i = 0; i < C; ++i) sw += static_cast<A>(a.w[i]) * static_cast<A>(xr[i]);
    } else {
#pragma omp simd reduction(+ : sw)
      for (int64_t i = 0; i < C; ++i) sw += static_cast<A>(xr[i]);
    }
    loss += static_cast<A>(a.eps) / static_cast<A>(C) * (a.W * lse - sw);
  }
  lse_out = static_cast<T>(lse);
  loss_out = static_cast<T>(loss);
}

// gx row (contiguous, may not alias xr) for a non-ignored target t; s = g * scale.
template <typename T>
void ce_row_backward(T* o, const T* xr, T lse, int64_t t, acc_t<T> s, const CeRowArgs<T>& a) {
  using A = acc_t<T>;
  const int64_t C = a.C;
#pragma omp simd
  for (int64_t i = 0; i < C; ++i) o[i] = xr[i] - lse;
  exp_into(o, o, C);
  const A wt = a.w ? static_cast<A>(a.w[t]) : A(1);
  const A one_m = static_cast<A>(1.0 - a.eps), e_c = static_cast<A>(a.eps) / static_cast<A>(C);
  const T cp = static_cast<T>(s * (one_m * wt + e_c * a.W));
  if (a.eps > 0) {
    const T ce = static_cast<T>(s * e_c);
    if (a.w) {
#pragma omp simd
      for (int64_t i = 0; i < C; ++i) o[i] = o[i] * cp - ce * a.w[i];
    } else {
#pragma omp simd
      for (int64_t i = 0; i < C; ++i) o[i] = o[i] * cp - ce;
    }
  } else {
#pragma omp simd
    for (int64_t i = 0; i < C; ++i) o[i] *= cp;
  }
  o[t] -= static_cast<T>(s * one_m * wt);
}

template <typename T>
CeRowArgs<T> ce_args(const Tensor& weight, int64_t C, double eps) {
  CeRowArgs<T> a{weight.defined() ? weight.data_ptr<T>() : nullptr, 0, eps, C};
  if (a.w) {
    for (int64_t c = 0; c < C; ++c) a.W += static_cast<acc_t<T>>(a.w[c]);
  } else {
    a.W = static_cast<acc_t<T>>(C);
  }
  return a;
}

}  // namespace

void cross_entropy_forward(const Tensor& loss, const Tensor& lse, const Tensor& x, const Tensor& target,
                           const Tensor& weight, int64_t outer, int64_t C, int64_t inner, int64_t ignore_index,
                           double label_smoothing) {
  const int64_t P = outer * inner;
  if (P == 0) return;
  WICK_DISPATCH_FLOAT(x.dtype(), "cross_entropy", [&]<typename T>() {
    const CeRowArgs<T> a = ce_args<T>(weight, C, label_smoothing);
    const T* xp = x.data_ptr<T>();
    const int64_t* tp = target.data_ptr<int64_t>();
    T* lp = loss.data_ptr<T>();
    T* sp = lse.data_ptr<T>();
    const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(C, 1));
    parallel_for(0, P, grain, [&](int64_t pb, int64_t pe) {
      std::vector<T> buf(static_cast<size_t>(inner == 1 ? C : 2 * C));
      for (int64_t p = pb; p < pe; ++p) {
        const int64_t t = tp[p];
        if (t == ignore_index) {
          lp[p] = T(0);
          sp[p] = T(0);
          continue;
        }
        const int64_t o = p / inner, j = p % inner;
        const T* xr = xp + o * C * inner + j;
        if (inner != 1) {  // gather the strided row
          T* row = buf.data() + C;
          for (int64_t c = 0; c < C; ++c) row[c] = xr[c * inner];
          xr = row;
        }
        ce_row_forward<T>(xr, buf.data(), t, a, sp[p], lp[p]);
      }
    });
  });
}

void cross_entropy_backward(const Tensor& gx, const Tensor& g, double scale, const Tensor& x, const Tensor& lse,
                            const Tensor& target, const Tensor& weight, int64_t outer, int64_t C, int64_t inner,
                            int64_t ignore_index, double label_smoothing) {
  const int64_t P = outer * inner;
  if (P == 0 || C == 0) return;
  WICK_DISPATCH_FLOAT(x.dtype(), "cross_entropy_backward", [&]<typename T>() {
    using A = acc_t<T>;
    const CeRowArgs<T> a = ce_args<T>(weight, C, label_smoothing);
    const T* xp = x.data_ptr<T>();
    const T* gp = g.data_ptr<T>();
    const bool per_pos = g.numel() != 1;
    const int64_t* tp = target.data_ptr<int64_t>();
    const T* sp = lse.data_ptr<T>();
    T* op = gx.data_ptr<T>();
    const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(C, 1));
    parallel_for(0, P, grain, [&](int64_t pb, int64_t pe) {
      std::vector<T> buf(static_cast<size_t>(inner == 1 ? 0 : 2 * C));
      for (int64_t p = pb; p < pe; ++p) {
        const int64_t t = tp[p];
        const int64_t o = p / inner, j = p % inner;
        T* orow = op + o * C * inner + j;
        if (t == ignore_index) {
          for (int64_t c = 0; c < C; ++c) orow[c * inner] = T(0);
          continue;
        }
        const A s = static_cast<A>(gp[per_pos ? p : 0]) * static_cast<A>(scale);
        const T* xr = xp + o * C * inner + j;
        if (inner == 1) {
          ce_row_backward<T>(orow, xr, sp[p], t, s, a);
        } else {
          T* row = buf.data();
          T* res = buf.data() + C;
          for (int64_t c = 0; c < C; ++c) row[c] = xr[c * inner];
          ce_row_backward<T>(res, row, sp[p], t, s, a);
          for (int64_t c = 0; c < C; ++c) orow[c * inner] = res[c];
        }
      }
    });
  });
}

void class_target_weights(const Tensor& t_safe, const Tensor& wt, const Tensor& target, const Tensor& weight,
                          int64_t C, int64_t ignore_index, const char* op) {
  const int64_t n = target.numel();
  if (n == 0) return;
  // Contiguous copies keep the loop flat; the target is small next to the input.
  const Tensor tc = target.contiguous();
  WICK_DISPATCH_FLOAT(wt.dtype(), op, [&]<typename W>() {
    const W* wp = weight.defined() ? weight.contiguous().data_ptr<W>() : nullptr;
    W* out_w = wt.data_ptr<W>();
    int64_t* out_t = t_safe.data_ptr<int64_t>();
    auto run = [&]<typename I>(const I* tp) {
      for (int64_t i = 0; i < n; ++i) {
        const int64_t t = static_cast<int64_t>(tp[i]);
        if (t == ignore_index) {
          out_t[i] = 0;
          out_w[i] = W(0);
          continue;
        }
        WICK_CHECK(t >= 0 && t < C, op, ": target ", t, " is out of bounds for ", C, " classes");
        out_t[i] = t;
        out_w[i] = wp ? wp[t] : W(1);
      }
    };
    if (tc.dtype() == kInt64) run(tc.data_ptr<int64_t>());
    else if (tc.dtype() == kInt32) run(tc.data_ptr<int32_t>());
    else WICK_FAIL(op, ": expected an int64 or int32 class-index target, got ", tc.dtype());
  });
}

void bce_with_logits(const Tensor& out, const Tensor& x, const Tensor& t, const Tensor& pw) {
  WICK_DISPATCH_FLOAT(x.dtype(), "binary_cross_entropy_with_logits", [&]<typename T>() {
    // softplus(-x) = log(1 + exp(-x)), never overflowing.
    auto sp_neg = [](T v) { return std::max(-v, T(0)) + std::log1p(std::exp(-std::abs(v))); };
    if (pw.defined()) {
      // pw is broadcast to out's shape by the loop (stride 0 in broadcast dims).
      ternary_loop<T, T, T, T>(out, x, t, pw, [&](T v, T y, T p) {
        return (T(1) - y) * v + (T(1) + (p - T(1)) * y) * sp_neg(v);
      });
    } else {
      binary_loop<T, T, T>(out, x, t, [&](T v, T y) { return (T(1) - y) * v + sp_neg(v); });
    }
  });
}

}  // namespace wick::cpu
