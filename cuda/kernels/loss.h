// CUDA kernels for the class-index cross entropy of ops/loss.cpp: the same
// entry points and contracts as ops/cpu/loss.h (read there what each
// computes), for float16/bfloat16/float32/float64 logits (16-bit computed in
// float32). One block per position (a row of C logits); the row's classes
// are read with stride `inner`.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace wick::cuda {

// Validates class-index targets (int32/int64, each in [0, C) or ignore_index)
// and writes t_safe (int64, 0 where ignored) and wt (weight[t], 1 without
// weight, 0 where ignored). An out-of-range target throws
// "<op>: target <t> is out of bounds for <C> classes", naming the first one,
// as on the CPU; the check reads one value back from the device (a sync).
void class_target_weights(const Tensor& t_safe, const Tensor& wt, const Tensor& target, const Tensor& weight,
                          int64_t C, int64_t ignore_index, const char* op);

void cross_entropy_forward(const Tensor& loss, const Tensor& lse, const Tensor& x, const Tensor& target,
                           const Tensor& weight, int64_t outer, int64_t C, int64_t inner, int64_t ignore_index,
                           double label_smoothing);

void cross_entropy_backward(const Tensor& gx, const Tensor& g, double scale, const Tensor& x, const Tensor& lse,
                            const Tensor& target, const Tensor& weight, int64_t outer, int64_t C, int64_t inner,
                            int64_t ignore_index, double label_smoothing);

}  // namespace wick::cuda
