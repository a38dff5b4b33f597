// CPU kernels of batch_norm (ops/nn.cpp): the fused forward (statistics,
// running-statistics update and affine output in one kernel) and the fused
// first-order backward (input, weight and bias gradients from two passes).
// Tensors are contiguous, viewed as [N, C, S] (S = product of the spatial
// dims); per-channel tensors are [C]; all share x's floating dtype.
#pragma once

#include "tensor/tensor.h"

namespace wick::cpu {

// Forward of batch_norm. With M = N * S values per channel:
//   training: mean[c] = sum(x) / M, var = sum((x - mean)^2) / M (biased),
//             and, where given, the running statistics are updated in place:
//             running_mean = (1 - momentum) * running_mean + momentum * mean,
//             running_var  = (1 - momentum) * running_var  + momentum * var * M / (M - 1)
//   eval:     mean = running_mean, var = running_var (both must be given)
//   rstd = 1 / sqrt(var + eps);  out = (x - mean) * rstd * w + b
// save_mean and save_rstd ([C], may be undefined) receive mean and rstd for
// the backward. w, b, running_mean, running_var may be undefined. An empty
// batch (M = 0) in training gives NaN statistics and leaves the running ones
// as they are. The batch variance is computed in one pass with a per-channel
// shift (see batch_norm.cpp).
// With a residual (contiguous, x's shape and dtype) and/or relu, the output
// is relu(out + residual) in the same pass (batch_norm_relu, ops/nn.h).
void batch_norm_forward(const Tensor& out, const Tensor& save_mean, const Tensor& save_rstd,
                        const Tensor& running_mean, const Tensor& running_var, const Tensor& x, const Tensor& w,
                        const Tensor& b, int64_t N, int64_t C, int64_t S, bool training, double momentum,
                        double eps, const Tensor& residual = {}, bool relu = false);

// First-order backward of batch_norm with the forward's mean and rstd ([C]).
// With xhat = (x - mean) * rstd, per channel
//   gb = sum(gy),  gw = sum(gy * xhat)
//   training: gx = w * rstd * (gy - gb / M - xhat * gw / M)   (mean, rstd depend on x)
//   eval:     gx = w * rstd * gy                               (constant statistics)
// (w = 1 when undefined). gx, gw, gb may each be undefined (not computed).
// The sums are formed over blocks of rows fixed by the shape and added in
// block order, so the results do not depend on the thread count.
void batch_norm_backward(const Tensor& gx, const Tensor& gw, const Tensor& gb, const Tensor& gy, const Tensor& x,
                         const Tensor& mean, const Tensor& rstd, const Tensor& w, int64_t N, int64_t C, int64_t S,
                         bool training);

}  // namespace wick::cpu
