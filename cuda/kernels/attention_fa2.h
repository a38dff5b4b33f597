// A FlashAttention-2 style forward for scaled_dot_product_attention on CUDA
// (mma.sync tensor cores, register-resident P, cp.async double-buffered K/V
// tiles), taken by cuda::attention_forward (cuda/kernels/attention.cu) for
// the inputs it is written for when selected with set_attention_fa2(true) or
// the environment variable WICK_CUDA_ATTENTION_FA2=1 (its tests passed on an
// H200 on 2026-11-27, forward 0.099 ms against the general kernel's 0.492 at
// bf16 B8 H12 L1024 D64 causal; off by default until the default flips in a
// commit of its own). Same contract as attention_forward in
// cuda/kernels/attention.h: out [N, L, Ev] in q's dtype, lse [N * L] float32.
// The backward stays the one of attention.cu (it reads this out and lse).
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace wick::cuda {

// Process-wide selection of this kernel (atomic; the initial value is
// WICK_CUDA_ATTENTION_FA2=1 from the environment, else off).
void set_attention_fa2(bool on);
bool attention_fa2();

// Whether attention_fa2_forward takes these inputs: float16 / bfloat16 q, k,
// v (one dtype, contiguous, CUDA, 16-byte aligned), E == Ev in {64, 128}, no
// mask (causal or none), on an sm_80+ device.
bool attention_fa2_eligible(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask);

// out [N, L, Ev] (contiguous, q's dtype) and lse [N * L] (float32) for
// eligible inputs (attention_fa2_eligible); causal masks j > i (top-left).
void attention_fa2_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                           bool causal, double scale);

}  // namespace wick::cuda
