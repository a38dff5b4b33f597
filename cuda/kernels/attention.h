// CUDA kernels for scaled_dot_product_attention (ops/attention.cpp): the
// fused, tiled (flash-attention style) forward and the FlashAttention-2
// backward. The same contract as the CPU kernels of ops/cpu/attention.h
// (read there what each computes), with tensors instead of raw pointers:
//
//   q [N, L, E], k [N, S, E], v [N, S, Ev]   one dtype: float16, bfloat16,
//                                            float32, float64; each with
//                                            batch dims N and in any
//                                            slice_layout (ops/attention_slices.h:
//                                            rows need not be packed, e.g. the
//                                            heads of a [B, L, H E] projection)
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

// Whether scaled_dot_product_attention (ops/attention.cpp) hands wick's CUDA
// kernels q, k, v, the output gradient, the output and the input gradients
// in the layouts they come in (any slice_layout whose rows start 16-byte
// aligned for 16-bit dtypes) instead of packed copies, the output and the
// input gradients of [B, H, L, E] heads split from a [B, L, H E] projection
// then laid out [B, L, H, E] (as PyTorch's flash attention): for GPT's
// attention that drops 8 copies of a [B, L, E] activation per layer and
// step (3 of q, k, v and 1 of the output's merge in the forward, 1 of the
// output gradient and 3 of the input gradients' merges in the backward).
// The CPU kernels always read in place. Process-wide (atomic); on since
// CudaAttentionStrided.* passed on an H200 (2026-11-28), off when the
// environment has WICK_CUDA_ATTENTION_STRIDED=0.
void set_attention_strided(bool on);
bool attention_strided();

// out [N, L, Ev] (q's dtype, any slice_layout, 16-byte aligned rows for
// 16-bit dtypes) and lse [N * L] (packed).
void attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                       const Tensor& mask, const Tensor& mask_offset, bool causal, double scale);

// From the forward's out and lse and dout [N, L, Ev]: dq [N, L, E],
// dk [N, S, E], dv [N, S, Ev] (q's dtype); any may be undefined (not
// computed). Every tensor in any slice_layout, as q above (the gradients
// must not overlap themselves or each other).
void attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& q, const Tensor& k,
                        const Tensor& v, const Tensor& mask, const Tensor& mask_offset, bool causal, double scale,
                        const Tensor& out, const Tensor& dout, const Tensor& lse);

}  // namespace wick::cuda
