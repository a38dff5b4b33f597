// CUDA kernels for scaled_dot_product_attention (ops/attention.cpp): the
// fused, tiled (flash-attention style) forward and the FlashAttention-2
// backward. The same contract as the CPU kernels of ops/cpu/attention.h
// (read there what each computes), with tensors instead of raw pointers:
//
//   q [N, L, E], k [N, S, E], v [N, S, Ev]   contiguous, one dtype:
//                                            float16, bfloat16, float32, float64
//   mask (optional)   bool (true = attend) or q's dtype (added to the
//                     scores), element (n, i, j) at
//                     mask + mask_offset[n] + i * mask.stride(-2) + j * mask.stride(-1)
//                     (any strides; 0 for broadcast dims). mask_offset is an
//                     int64 CUDA tensor [N].
//   causal            masks j > i (top-left aligned, as the CPU kernel).
//   lse [N * L]       log-sum-exp of each score row, in attention_lse_dtype(q)
//                     (float32 for 16-bit inputs): -inf for a fully masked row,
//                     whose output is then NaN (0 / 0), exactly like the CPU
//                     kernel and the composed softmax.
//
// Differences from the CPU kernels: float32 accumulates in float32; 16-bit
// inputs run on tensor cores (sm_80+) with float32 accumulation and the
// softmax in float32, the probabilities p and the backward's ds rounded to
// the 16-bit type before they multiply V, dO, Q or K (as FlashAttention
// does); older devices compute 16-bit inputs entirely in float32.
// Deterministic: no atomics (dK, dV per key tile, dQ per query tile in a
// second kernel).
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace wick::cuda {

// Largest head dim (E and Ev) the fused kernels take; larger heads use the
// composed path (their tiles would not fit in shared memory).
constexpr int64_t kAttentionMaxHeadDim = 128;

// Whether the fused kernels handle this dtype and head dims on CUDA device
// `device` (dtype supported, 1 <= E, Ev <= kAttentionMaxHeadDim, and the
// tiles' shared memory available on that device).
bool attention_supported(DType dtype, int64_t E, int64_t Ev, int device);

// The dtype of the saved log-sum-exp for inputs of `dtype`.
DType attention_lse_dtype(DType dtype);

// Which implementation runs the fused attention: wick's kernels, or cuDNN's
// SDPA node (cuda/vendor/cudnn_attention.h) for the inputs it takes (16-bit,
// no mask, not causal; the rest run wick's kernels). Process-wide, read on
// every call; initially from the environment variable
// WICK_CUDA_ATTENTION=wick|cudnn (wick when unset; any other value, or cudnn
// in a build without cuDNN, is a wick::Error at the first attention call).
enum class AttentionBackend : uint8_t { Wick, Cudnn };
void set_attention_backend(AttentionBackend b);
AttentionBackend attention_backend();
const char* attention_backend_name(AttentionBackend b);

// out [N, L, Ev] (contiguous, q's dtype) and lse [N * L].
void attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                       const Tensor& mask, const Tensor& mask_offset, bool causal, double scale);

// From the forward's out and lse and dout [N, L, Ev] (contiguous): dq [N, L, E],
// dk [N, S, E], dv [N, S, Ev] (contiguous, q's dtype); any may be undefined
// (not computed).
void attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& q, const Tensor& k,
                        const Tensor& v, const Tensor& mask, const Tensor& mask_offset, bool causal, double scale,
                        const Tensor& out, const Tensor& dout, const Tensor& lse);

}  // namespace wick::cuda
