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

// Elementwise binary cross entropy with logits, the stable form:
//   out = (1 - t) x + lw (max(-x, 0) + log1p(exp(-|x|))),  lw = 1 + (pw - 1) t
// (lw = 1 without pos_weight). x, t, out share a shape and dtype; pw is
// undefined or broadcastable to it.
void bce_with_logits(const Tensor& out, const Tensor& x, const Tensor& t, const Tensor& pw);

}  // namespace wick::cpu
