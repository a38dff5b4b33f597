// CUDA kernels of batch_norm and group_norm for ops/nn.cpp. The same
// contracts as the CPU kernels (ops/cpu/batch_norm.h, cpu::group_norm in
// ops/cpu/nn.h): contiguous x viewed as [N, C, S] (S = product of the
// spatial dims), per-channel w, b, running_mean, running_var of x's dtype
// ([C], each may be undefined).
//
// Differences from the CPU kernels:
//  - dtypes: float32, float64, and float16/bfloat16 (stored as such,
//    computed in float32);
//  - the saved statistics (batch_norm's save_mean/save_rstd, group_norm's
//    mean/rstd) have layer_norm_stats_dtype(x) (cuda/kernels/nn.h): float32
//    for 16-bit inputs, else x's dtype;
//  - accumulation: each thread sums in the compute type (float32 for float32
//    and 16-bit, float64 for float64), the per-thread sums are combined in
//    float64 by block tree reductions and fixed-order sums over blocks:
//    deterministic, no atomics; results may differ from the CPU's in the
//    last bits;
//  - group_norm has a fused first-order backward here (the CPU composes it
//    from ops).
#pragma once

#include <cstdint>
#include <initializer_list>

#include "tensor/tensor.h"

namespace wick::cuda {

// See cpu::batch_norm_forward: training statistics over the N * S values of
// each channel (shifted one-pass sums), the running statistics updated in
// place (running_var with the unbiased variance, in the CPU's rounding
// order), eval mode from the running statistics; out = x * scale + shift.
// Parameters (w, b, running statistics; in the backward w, gw, gb) have x's
// dtype, or, for a float16/bfloat16 x, all float32 (mixed: x, out, gy and gx
// stay 16-bit, the statistics are float32 as for any 16-bit x).
void batch_norm_forward(const Tensor& out, const Tensor& save_mean, const Tensor& save_rstd,
                        const Tensor& running_mean, const Tensor& running_var, const Tensor& x, const Tensor& w,
                        const Tensor& b, int64_t N, int64_t C, int64_t S, bool training, double momentum,
                        double eps, const Tensor& residual = {}, bool relu = false);

// See cpu::batch_norm_backward; mean and rstd are the forward's saved [C]
// statistics. gx, gw, gb may each be undefined (not computed).
void batch_norm_backward(const Tensor& gx, const Tensor& gw, const Tensor& gb, const Tensor& gy, const Tensor& x,
                         const Tensor& mean, const Tensor& rstd, const Tensor& w, int64_t N, int64_t C, int64_t S,
                         bool training);

// Whether autocast runs batch_norm on a 16-bit CUDA input as it is, with its
// float32 parameters (the mixed kernels above), instead of casting the input
// to float32 (then the output, the ReLU after it and the next convolution's
// cast all move float32: ~3x the bytes of a ResNet's normalization layers).
// ON by default since CudaNorm.BatchNormMixed and the models' tests passed
// with it on an H100 (2026-11-27); WICK_CUDA_BN_MIXED=0 turns it off for the
// process.
void set_batch_norm_mixed(bool on);
bool batch_norm_mixed();

// Whether the batch_norm kernels move 16 bytes of one channel per thread and
// step (8 bfloat16 / float16, 4 float32, 2 float64 values, one vector load
// or store) where the spatial size S is a multiple of that and the tensors
// are aligned to it (else the widest power of two that fits, down to one
// value: ResNet's 14x14 maps take 4 values, 7x7 one). The scalar kernels
// move 2 bytes per load for 16-bit activations. On since
// CudaNorm.BatchNormVectorized passed on an H200 (2026-11-28;
// WICK_CUDA_BN_VEC=0 or set_batch_norm_vectorized to turn off). The statistics' sums run in a different
// order than the scalar kernels' (same values to rounding).
void set_batch_norm_vectorized(bool on);
bool batch_norm_vectorized();

// Whether batch_norm_relu (ops/nn.h) runs its epilogue, relu(bn(x) +
// residual), inside the apply kernel on CUDA (batch_norm_forward's residual
// and relu: computed in float32 and rounded once) instead of as separate
// add and relu ops. Saves a read and a write of the activation per relu, and
// two reads and two writes more per residual add: ~3.9 GB per ResNet-50
// step at batch 64, counted. On since CudaNorm.BatchNormRelu passed on an
// H200 (2026-11-28; WICK_CUDA_BN_RELU=0 to turn off). The CPU kernel always
// fuses.
void set_batch_norm_relu_fused(bool on);
bool batch_norm_relu_fused();

// The dtype the kernels above take for batch_norm's parameters (weight,
// bias, running statistics, their gradients): x's, or float32 for a 16-bit
// x whose first defined parameter is float32 (the mixed kernels).
DType batch_norm_param_dtype(const Tensor& x, std::initializer_list<Tensor> params);

// See cpu::group_norm: statistics per (n, group) over C / groups channels
// and S positions (two passes: mean, then centred squares); mean and rstd
// receive N * groups values.
void group_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& w,
                const Tensor& b, int64_t N, int64_t C, int64_t S, int64_t groups, double eps);

// First-order backward of group_norm with the forward's mean and rstd. Per
// (n, group), with xhat = (x - mean) * rstd and gh = gy * w[c] (L = C / groups * S):
//   gx = rstd * (gh - sum(gh) / L - xhat * sum(gh * xhat) / L)
// and per channel gw = sum_{n, s}(gy * xhat), gb = sum_{n, s}(gy). Any of gx,
// gw, gb may be undefined.
void group_norm_backward(const Tensor& gx, const Tensor& gw, const Tensor& gb, const Tensor& gy, const Tensor& x,
                         const Tensor& mean, const Tensor& rstd, const Tensor& w, int64_t N, int64_t C, int64_t S,
                         int64_t groups);

}  // namespace wick::cuda
