// CPU kernels for ops/loss.cpp.
#pragma once

#include "tensor/tensor.h"

namespace wick::cpu {

// For class-index targets (int64 or int32, any strides): writes, per target
// element, t_safe (int64; ignored targets become 0 so they can index) and wt
// (input's dtype: weight[t], or 1 without weight, and 0 where t == ignore_index).
// A target outside [0, C) that is not ignore_index throws, naming `op`.
void class_target_weights(const Tensor& t_safe, const Tensor& wt, const Tensor& target, const Tensor& weight,
                          int64_t C, int64_t ignore_index, const char* op);

// Fused cross entropy with class-index targets, forward. x is contiguous
// [outer, C, inner] logits (the class dim in the middle; inner = 1 for [N, C]);
// target is contiguous int64 with outer * inner entries, already validated
// (each in [0, C) or ignore_index); weight is [C] or undefined. Per position p:
//   lse[p]  = log(sum_c exp(x[c]))
//   loss[p] = (1 - eps) wt (lse - x[t]) + eps / C (W lse - sum_c w_c x[c])
// with wt = w[t], W = sum_c w_c (1 and C without weight), eps the label
// smoothing; loss[p] = 0 where t == ignore_index. Nothing of size C is written.
void cross_entropy_forward(const Tensor& loss, const Tensor& lse, const Tensor& x, const Tensor& target,
                           const Tensor& weight, int64_t outer, int64_t C, int64_t inner, int64_t ignore_index,
                           double label_smoothing);

// Its backward, first order: with p_c = exp(x[c] - lse) and s = g[p] * scale
// (g has one value per position, or a single value for all),
//   gx[c] = s ((1 - eps) wt + eps W / C) p_c - s (1 - eps) wt [c == t] - s eps w_c / C
// and gx = 0 where t == ignore_index. Same layout as the forward.
void cross_entropy_backward(const Tensor& gx, const Tensor& g, double scale, const Tensor& x, const Tensor& lse,
                            const Tensor& target, const Tensor& weight, int64_t outer, int64_t C, int64_t inner,
                            int64_t ignore_index, double label_smoothing);

// Elementwise binary cross entropy with logits, the stable form:
//   out = (1 - t) x + lw (max(-x, 0) + log1p(exp(-|x|))),  lw = 1 + (pw - 1) t
// (lw = 1 without pos_weight). x, t, out share a shape and dtype; pw is
// undefined or broadcastable to it.
void bce_with_logits(const Tensor& out, const Tensor& x, const Tensor& t, const Tensor& pw);

}  // namespace wick::cpu
