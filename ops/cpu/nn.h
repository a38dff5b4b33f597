// CPU kernels for ops/nn.cpp: fused softmax / log_softmax forward and
// backward, the forward passes of the normalizations and the fused backward of
// layer_norm / rms_norm. Inputs are contiguous (the ops make them so);
// statistics are accumulated in acc_t (double for float32).
#pragma once

#include "tensor/tensor.h"

namespace wick::cpu {

// out = softmax(x) (or log_softmax when `log`) along `dim`; x and out are
// contiguous with the same shape and floating dtype. A 0-d x counts as [1].
void softmax(const Tensor& out, const Tensor& x, int64_t dim, bool log);

// Backward of softmax along `dim` (first-order only: the op uses it when the
// backward is not recorded). gy, y (the forward output) and gx are contiguous
// with the same shape; a 0-d tensor counts as [1]. Per softmax row:
//   softmax:      gx = y * (gy - sum(gy * y))
//   log_softmax:  gx = gy - exp(y) * sum(gy)
void softmax_backward(const Tensor& gx, const Tensor& gy, const Tensor& y, int64_t dim, bool log);

// y = exp(x) for n values (y may alias x): the vectorized exp of
// ops/cpu/vec_math.h for float, std::exp otherwise. Shared with the fused
// cross entropy (ops/cpu/loss.cpp).
void exp_into(const float* x, float* y, int64_t n);
void exp_into(const double* x, double* y, int64_t n);

// x, out contiguous, viewed as [rows, cols]. Per row:
//   mean = sum(x) / cols, rstd = 1 / sqrt(sum((x - mean)^2) / cols + eps)
//   out  = (x - mean) * rstd * w[col] + b[col]
// With `rms`: mean is 0 (rms_norm) and b is unused. w, b are [cols] or undefined;
// mean and rstd receive `rows` values (mean may be undefined).
void layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& w,
                const Tensor& b, int64_t rows, int64_t cols, double eps, bool rms);

// Backward of layer_norm (rms_norm with `rms`, mean undefined) over contiguous
// x, gy [rows, cols] with the forward's per-row mean and rstd (`rows` values).
// With xhat = (x - mean) * rstd and gh = gy * w (gy without w):
//   gx = rstd * (gh - mean(gh) - xhat * mean(gh * xhat))   (no mean(gh) term for rms)
//   gw = sum_rows(gy * xhat),  gb = sum_rows(gy)
// Any of gx, gw ([cols] values), gb may be undefined (not computed). gw and gb
// are summed from per-block partials in a fixed order: deterministic for any
// thread count.
void layer_norm_backward(const Tensor& gx, const Tensor& gw, const Tensor& gb, const Tensor& gy, const Tensor& x,
                         const Tensor& mean, const Tensor& rstd, const Tensor& w, int64_t rows, int64_t cols,
                         bool rms);

// x, out contiguous [N, C, S]; statistics per (n, group) over the group's
// C / groups channels and S positions; w, b are [C] or undefined.
// mean and rstd receive N * groups values.
void group_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& w,
                const Tensor& b, int64_t N, int64_t C, int64_t S, int64_t groups, double eps);

}  // namespace wick::cpu
