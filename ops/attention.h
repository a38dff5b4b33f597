// Scaled dot-product attention (torch.nn.functional.scaled_dot_product_attention).
#pragma once

#include <optional>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace wick {

// q [..., L, E], k [..., S, E], v [..., S, Ev] -> [..., L, Ev].
// softmax(q k^T * scale + mask) v, scale defaults to 1/sqrt(E).
// attn_mask: bool (true = attend) or float (added to the scores), broadcast to
// [..., L, S]. is_causal masks j > i (cannot be combined with attn_mask).
// dropout_p applies to the attention weights.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn_mask = {},
                                    double dropout_p = 0.0, bool is_causal = false,
                                    std::optional<double> scale = {}, Generator* gen = nullptr);

// The same function composed from differentiable ops (matmul, where, softmax,
// dropout, matmul): the readable reference, which materializes the [..., L, S]
// scores. scaled_dot_product_attention uses it where the tiled kernel does not
// apply (dropout, a float mask that requires grad, S = 0, E = 0, a device
// or dtype without a tiled kernel, CUDA head dims above 128) and to
// differentiate twice (create_graph).
Tensor scaled_dot_product_attention_math(const Tensor& q, const Tensor& k, const Tensor& v,
                                         const Tensor& attn_mask = {}, double dropout_p = 0.0, bool is_causal = false,
                                         std::optional<double> scale = {}, Generator* gen = nullptr);

// Whether scaled_dot_product_attention takes a tiled kernel for these
// arguments (CPU float32/64: ops/cpu/attention.h; CUDA float16, bfloat16,
// float32, float64 with head dims <= 128: cuda/kernels/attention.h).
bool scaled_dot_product_attention_uses_flash(const Tensor& q, const Tensor& k, const Tensor& v,
                                             const Tensor& attn_mask = {}, double dropout_p = 0.0);

}  // namespace wick
