// Gradient clipping, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_.
//
// clip_grad_norm_ treats the gradients of all `params` as one vector:
//   total = || (||g_1||_p, ..., ||g_n||_p) ||_p      (max_i max |g_i| for p = inf)
//   every g_i *= min(1, max_norm / (total + 1e-6))
// and returns total (before clipping) as a 0-d tensor. Parameters without a
// gradient are skipped. With error_if_nonfinite a NaN/inf total throws instead
// of scaling the gradients by NaN.
#pragma once

#include <limits>
#include <vector>

#include "tensor/tensor.h"

namespace wick::optim {

constexpr double kInfNorm = std::numeric_limits<double>::infinity();

Tensor clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

// Clamps every gradient element into [-clip_value, clip_value].
void clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

}  // namespace wick::optim
