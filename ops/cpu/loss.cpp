// CPU kernels for the losses: target validation for class-index losses and
// the fused elementwise binary cross entropy with logits.
#include "ops/cpu/loss.h"

#include <algorithm>
#include <cmath>

#include "ops/cpu/loops.h"

namespace wick::cpu {

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
