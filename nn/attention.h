// Multi-head attention, as torch.nn.MultiheadAttention(batch_first=True)
// (Vaswani et al. 2017), with a KV cache for incremental decoding and access
// to the per-head outputs.
//
//   q = query W_q^T + b_q,  k = key W_k^T + b_k,  v = value W_v^T + b_v     [B, L|S, E]
//   split into H heads of size d = E / H                                      [B, H, L|S, d]
//   head_h = softmax(q_h k_h^T / sqrt(d) + mask) v_h                          [B, H, L, d]
//   out    = concat_h(head_h) W_o^T + b_o                                     [B, L, E]
//
// Parameters and their names follow PyTorch, so state_dicts load both ways:
// with kdim == vdim == embed_dim the three projections are packed in
// in_proj_weight [3E, E] (rows q, k, v); otherwise they are q_proj_weight
// [E, E], k_proj_weight [E, kdim], v_proj_weight [E, vdim]. in_proj_bias [3E]
// and out_proj (a Linear) as in PyTorch. Initialization as PyTorch: xavier
// uniform projections, zero biases, out_proj.weight like a Linear.
//
// Masks (every one optional, all combined):
//   key_padding_mask [B, S] bool, true = that key is padding and is ignored
//                    (or float, added to the scores), as PyTorch;
//   attn_mask        bool (true = NOT allowed, PyTorch's MHA convention, the
//                    opposite of scaled_dot_product_attention's) or float
//                    (added to the scores: relative-position biases go here);
//                    [L, S], [B * H, L, S] (PyTorch's layout) or anything that
//                    broadcasts to [B, H, L, S];
//   is_causal        query i attends keys j <= i + (S - L): the last query sits
//                    at the last key's position, which is right both for full
//                    self-attention (S = L) and for a KV-cached step.
// A query whose every key is masked gets NaN, as in PyTorch.
//
// KV cache: the caller owns one KVCache per attention layer. With args.cache
// set, the layer appends this call's (projected, rotated) keys and values to
// the cache and attends over all of them, so feeding tokens one at a time
// with is_causal reproduces the full causal forward. A cache with
// static_kv = true (cross-attention over a fixed memory) is filled on the
// first call and reused afterwards (key and value may then be undefined).
//
// Per-head outputs: args.need_head_outputs returns head_h before the output
// projection, and `head_hook` (if set) replaces them before the projection
// (head ablation, steering, LoFiT's (1 + A) * z + v).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nn/linear.h"
#include "nn/lora.h"

namespace wick::nn {

// Keys and values of earlier steps, [B, H, S, head_dim] (after RoPE when the
// layer uses it). Owned by the caller; reset with clear() between sequences.
struct KVCache {
  Tensor k, v;
  bool static_kv = false;  // cross-attention: computed once from the memory, then reused

  // Number of cached positions.
  int64_t length() const { return k.defined() ? k.size(2) : 0; }
  void clear() {
    k = Tensor();
    v = Tensor();
  }
  // Keeps the batch rows `index` (int64 [B']) in that order: beam search, or
  // dropping finished sequences.
  void select_rows(const Tensor& index);
};

struct AttentionArgs {
  Tensor key_padding_mask;  // [B, S]: bool true = ignore, or float added
  Tensor attn_mask;         // bool true = not allowed, or float added; see the file comment
  bool is_causal = false;
  bool need_weights = false;          // return the attention weights
  bool average_attn_weights = true;   // weights [B, L, S] averaged over heads, else [B, H, L, S]
  bool need_head_outputs = false;     // return the heads before the output projection
  KVCache* cache = nullptr;
};

struct AttentionOutput {
  Tensor output;        // [B, L, E]
  Tensor weights;       // need_weights: [B, L, S] or [B, H, L, S] (after dropout, as PyTorch)
  Tensor head_outputs;  // need_head_outputs: [B, H, L, head_dim] (after head_hook)
};

class MultiheadAttention : public Cloneable<MultiheadAttention> {
 public:
  MultiheadAttention(int64_t embed_dim, int64_t num_heads, double dropout = 0.0, bool bias = true,
                     std::optional<int64_t> kdim = {}, std::optional<int64_t> vdim = {});
  void reset() override;
  // Re-draws the parameters with the default initialization.
  void reset_parameters();

  // query [B, L, E], key [B, S, kdim], value [B, S, vdim].
  AttentionOutput forward(const Tensor& query, const Tensor& key, const Tensor& value, const AttentionArgs& args = {});
  // Self-attention over x [B, T, E] (no mask): the output only.
  Tensor forward(const Tensor& x) override;

  // Adds trainable LoRA updates (see lora.h) to some of the projections:
  // targets among "q", "k", "v", "out". The base projections are left as they
  // are; freeze them with requires_grad_(false) on the model first, then
  // enable LoRA (its parameters require grad).
  void enable_lora(int64_t rank, double alpha = 1.0, const std::vector<std::string>& targets = {"q", "v"},
                   double dropout = 0.0);

  // Projection weights [E, E], [E, kdim], [E, vdim] and biases [E] (views of
  // the packed parameters when packed; undefined biases without bias).
  Tensor q_weight() const;
  Tensor k_weight() const;
  Tensor v_weight() const;
  Tensor q_bias() const;
  Tensor k_bias() const;
  Tensor v_bias() const;

  std::string name() const override { return "MultiheadAttention"; }
  std::string extra_repr() const override;

  // ---- configuration ----
  int64_t embed_dim, num_heads, head_dim, kdim, vdim;
  double dropout;
  bool has_bias;
  bool packed;  // kdim == vdim == embed_dim: in_proj_weight holds q, k, v
  // Rotary position embedding of q and k (self-attention), positions offset
  // by the cache length. Off by default.
  bool use_rope = false;
  double rope_base = 10000.0;
  // Replaces the per-head outputs [B, H, L, head_dim] before the output
  // projection. Copied (shared) by clone().
  std::function<Tensor(const Tensor&)> head_hook;
  // LoRA configuration (rank 0 = none), see enable_lora.
  int64_t lora_rank = 0;
  double lora_alpha = 1.0, lora_dropout = 0.0;
  std::vector<std::string> lora_targets;

  // ---- parameters ----
  Tensor in_proj_weight;                               // [3E, E] when packed
  Tensor q_proj_weight, k_proj_weight, v_proj_weight;  // when not packed
  Tensor in_proj_bias;                                 // [3E]; undefined without bias
  std::shared_ptr<Linear> out_proj;
  std::shared_ptr<LoRA> lora_q, lora_k, lora_v, lora_out;  // set by enable_lora

 private:
  void build_lora();
  // x [B, N, in] -> [B, H, N, head_dim] through projection w/b (+ LoRA).
  Tensor project(const Tensor& x, const Tensor& w, const Tensor& b, const std::shared_ptr<LoRA>& lora) const;
};

// Combines the masks into one for scaled_dot_product_attention's convention:
// bool (true = attend) when every mask is bool, float (added; -inf where
// masked) otherwise; undefined when nothing is masked. Shapes broadcast to
// [B, H, L, S]. Exposed for layers that compute attention themselves.
Tensor combine_attention_masks(const Tensor& key_padding_mask, const Tensor& attn_mask, bool is_causal, int64_t B,
                               int64_t H, int64_t L, int64_t S, DType float_dtype, Device device);

}  // namespace wick::nn
