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

// Beyond the CPU contract: the loss, lse, the class weight and the incoming
// gradient g may be float32 beside 16-bit logits x (the "mixed" form that
// autocast uses, see cross_entropy_16bit): x is read in its dtype and the
// math is float32 either way, so the results are those of casting x to
// float32 first, without the float32 copy. gx has x's dtype; it is either
// contiguous or, for [outer, C] logits (inner == 1), rows `gx.stride(0)`
// elements apart (rows padded for the GEMMs that read it, see below).
void cross_entropy_forward(const Tensor& loss, const Tensor& lse, const Tensor& x, const Tensor& target,
                           const Tensor& weight, int64_t outer, int64_t C, int64_t inner, int64_t ignore_index,
                           double label_smoothing);

void cross_entropy_backward(const Tensor& gx, const Tensor& g, double scale, const Tensor& x, const Tensor& lse,
                            const Tensor& target, const Tensor& weight, int64_t outer, int64_t C, int64_t inner,
                            int64_t ignore_index, double label_smoothing);

// Whether autocast runs cross_entropy with class-index targets on 16-bit CUDA
// logits in the mixed form above instead of casting the logits to float32
// (the loss is float32 either way), and whether the logits' gradient of an
// [N, C] cross entropy on CUDA is written with rows padded to 16 bytes when
// C's row is not (GPT-2's vocabulary: C = 50257). Why: at GPT-2's 8192 x
// 50257 logits the float32 copy, its float32 gradient and the cast back move
// ~5 GB per step, and the 16-bit gradient's unaligned rows sent both GEMMs of
// the head's backward through a copy into aligned rows first (the wgmma
// kernel's TMA loads need 16-byte strides): another ~3.3 GB. On since
// CudaLoss.CrossEntropy16Bit* passed on an H200 (2026-11-28;
// WICK_CUDA_CE_16BIT=0 to turn off).
void set_cross_entropy_16bit(bool on);
bool cross_entropy_16bit();

}  // namespace wick::cuda
