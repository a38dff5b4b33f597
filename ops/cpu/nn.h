// CPU kernels for ops/nn.cpp: fused softmax / log_softmax and the forward
// passes of the normalizations. Inputs are contiguous (the ops make them so);
// statistics are accumulated in acc_t (double for float32).
#pragma once

#include "tensor/tensor.h"

namespace wick::cpu {

// out = softmax(x) (or log_softmax when `log`) along `dim`; x and out are
// contiguous with the same shape and floating dtype. A 0-d x counts as [1].
void softmax(const Tensor& out, const Tensor& x, int64_t dim, bool log);

// x, out contiguous, viewed as [rows, cols]. Per row:
//   mean = sum(x) / cols, rstd = 1 / sqrt(sum((x - mean)^2) / cols + eps)
//   out  = (x - mean) * rstd * w[col] + b[col]
// With `rms`: mean is 0 (rms_norm) and b is unused. w, b are [cols] or undefined;
// mean and rstd receive `rows` values (mean may be undefined).
void layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& w,
                const Tensor& b, int64_t rows, int64_t cols, double eps, bool rms);

// x, out contiguous [N, C, S]; statistics per (n, group) over the group's
// C / groups channels and S positions; w, b are [C] or undefined.
// mean and rstd receive N * groups values.
void group_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& w,
                const Tensor& b, int64_t N, int64_t C, int64_t S, int64_t groups, double eps);

// Per-channel mean and biased variance of contiguous x [N, C, S] over N and S.
void channel_moments(const Tensor& mean, const Tensor& var, const Tensor& x, int64_t N, int64_t C, int64_t S);

// out[n, c, s] = x[n, c, s] * scale[c] + shift[c] for contiguous [N, C, S].
void channel_affine(const Tensor& out, const Tensor& x, const Tensor& scale, const Tensor& shift, int64_t N,
                    int64_t C, int64_t S);

}  // namespace wick::cpu
