// MultiheadAttention and KVCache (see attention.h).
//
// Without need_weights the heads come from scaled_dot_product_attention (so a
// fused kernel there speeds this layer up); with it, the same computation is
// written out here to keep the weights. Both give the same output.
#include "nn/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "nn/init.h"
#include "nn/positional.h"
#include "ops/attention.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/indexing.h"
#include "ops/linalg.h"
#include "ops/nn.h"
#include "ops/reduction.h"
#include "ops/shape.h"
#include "ops/view.h"

namespace wick::nn {

// ---- KVCache -------------------------------------------------------------------

void KVCache::select_rows(const Tensor& index) {
  if (!k.defined()) return;
  k = index_select(k, 0, index);
  v = index_select(v, 0, index);
}

// ---- masks -----------------------------------------------------------------------

Tensor combine_attention_masks(const Tensor& key_padding_mask, const Tensor& attn_mask, bool is_causal, int64_t B,
                               int64_t H, int64_t L, int64_t S, DType float_dtype, Device device) {
  const char* op = "MultiheadAttention";
  Tensor allowed;  // bool, true = attend
  Tensor bias;     // added to the scores
  auto restrict_to = [&](const Tensor& m) { allowed = allowed.defined() ? logical_and(allowed, m) : m; };
  auto add_bias = [&](const Tensor& b) { bias = bias.defined() ? add(bias, b) : b; };

  if (key_padding_mask.defined()) {
    const Tensor& m = key_padding_mask;
    WICK_CHECK(m.dim() == 2 && m.size(0) == B && m.size(1) == S, op, ": expected key_padding_mask [", B, ", ", S,
               "] (batch, keys), got ", shape_str(m.sizes()));
    if (m.dtype() == kBool)
      restrict_to(logical_not(m.to(device)).view({B, 1, 1, S}));
    else {
      WICK_CHECK(m.is_floating_point(), op, ": key_padding_mask must be bool or floating, got ", m.dtype());
      add_bias(m.to(device, float_dtype).view({B, 1, 1, S}));
    }
  }
  if (attn_mask.defined()) {
    Tensor m = attn_mask.to(device);
    // PyTorch's 3-D layout is [B * H, L, S].
    if (m.dim() == 3 && m.size(0) == B * H && B * H > 1) m = m.reshape({B, H, m.size(1), m.size(2)});
    const Shape full{B, H, L, S};
    bool fits = m.dim() <= 4;
    for (int64_t i = 1; fits && i <= m.dim(); ++i) fits = m.size(-i) == 1 || m.size(-i) == full[4 - i];
    WICK_CHECK(fits, op, ": attn_mask ",
               shape_str(m.sizes()), " does not broadcast to [B, H, L, S] = ", shape_str(full),
               " (accepted: [L, S], [B * H, L, S], [B, H, L, S])");
    if (m.dtype() == kBool)
      restrict_to(logical_not(m));
    else {
      WICK_CHECK(m.is_floating_point(), op, ": attn_mask must be bool or floating, got ", m.dtype());
      add_bias(m.to(float_dtype));
    }
  }
  if (is_causal) {
    WICK_CHECK(S >= L, op, ": is_causal needs at least as many keys as queries, got L=", L, ", S=", S);
    // Query i sits at position i + (S - L) of the key sequence.
    const TensorOptions idx = TensorOptions(kInt64).device(device);
    restrict_to(le(arange(S, idx).view({1, S}), add(arange(L, idx).view({L, 1}), Scalar(S - L))));
  }
  if (!bias.defined()) return allowed;
  if (!allowed.defined()) return bias;
  return where(allowed, bias, Scalar(-std::numeric_limits<double>::infinity()));
}

// ---- MultiheadAttention ------------------------------------------------------------

MultiheadAttention::MultiheadAttention(int64_t embed_dim_, int64_t num_heads_, double dropout_, bool bias_,
                                       std::optional<int64_t> kdim_, std::optional<int64_t> vdim_)
    : embed_dim(embed_dim_),
      num_heads(num_heads_),
      head_dim(0),
      kdim(kdim_.value_or(embed_dim_)),
      vdim(vdim_.value_or(embed_dim_)),
      dropout(dropout_),
      has_bias(bias_),
      packed(false) {
  WICK_CHECK(embed_dim > 0 && num_heads > 0, "MultiheadAttention: embed_dim and num_heads must be positive, got ",
             embed_dim, ", ", num_heads);
  WICK_CHECK(embed_dim % num_heads == 0, "MultiheadAttention: embed_dim (", embed_dim,
             ") must be divisible by num_heads (", num_heads, ")");
  WICK_CHECK(kdim > 0 && vdim > 0, "MultiheadAttention: kdim and vdim must be positive, got ", kdim, ", ", vdim);
  WICK_CHECK(dropout >= 0.0 && dropout < 1.0, "MultiheadAttention: dropout must be in [0, 1), got ", dropout);
  head_dim = embed_dim / num_heads;
  packed = kdim == embed_dim && vdim == embed_dim;
  reset();
}

void MultiheadAttention::reset() {
  const int64_t E = embed_dim;
  if (packed) {
    in_proj_weight = register_parameter("in_proj_weight", empty({3 * E, E}));
  } else {
    q_proj_weight = register_parameter("q_proj_weight", empty({E, E}));
    k_proj_weight = register_parameter("k_proj_weight", empty({E, kdim}));
    v_proj_weight = register_parameter("v_proj_weight", empty({E, vdim}));
  }
  if (has_bias) in_proj_bias = register_parameter("in_proj_bias", empty({3 * E}));
  out_proj = register_module("out_proj", std::make_shared<Linear>(E, E, has_bias));
  reset_parameters();
  lora_q = lora_k = lora_v = lora_out = nullptr;
  build_lora();
}

void MultiheadAttention::reset_parameters() {
  // As PyTorch: xavier_uniform_ over the packed [3E, E] matrix (or each
  // projection), zero biases; out_proj.weight keeps the Linear initialization.
  if (packed) {
    init::xavier_uniform_(in_proj_weight);
  } else {
    init::xavier_uniform_(q_proj_weight);
    init::xavier_uniform_(k_proj_weight);
    init::xavier_uniform_(v_proj_weight);
  }
  if (has_bias) {
    init::zeros_(in_proj_bias);
    init::zeros_(out_proj->bias);
  }
}

void MultiheadAttention::enable_lora(int64_t rank, double alpha, const std::vector<std::string>& targets,
                                     double dropout_) {
  WICK_CHECK(lora_rank == 0, "MultiheadAttention::enable_lora: LoRA is already enabled (rank ", lora_rank, ")");
  WICK_CHECK(rank > 0, "MultiheadAttention::enable_lora: rank must be positive, got ", rank);
  WICK_CHECK(!targets.empty(), "MultiheadAttention::enable_lora: no targets given");
  for (const auto& t : targets)
    WICK_CHECK(t == "q" || t == "k" || t == "v" || t == "out", "MultiheadAttention::enable_lora: unknown target '", t,
               "' (expected q, k, v or out)");
  lora_rank = rank;
  lora_alpha = alpha;
  lora_dropout = dropout_;
  lora_targets = targets;
  build_lora();
}

void MultiheadAttention::build_lora() {
  if (lora_rank == 0) return;
  auto wants = [&](const char* t) { return std::find(lora_targets.begin(), lora_targets.end(), t) != lora_targets.end(); };
  auto make = [&](const char* name, int64_t in) {
    return register_module(name, std::make_shared<LoRA>(in, embed_dim, lora_rank, lora_alpha, lora_dropout));
  };
  // Fixed registration order (q, k, v, out) whatever the order of targets,
  // so that clones line up.
  if (wants("q")) lora_q = make("lora_q", embed_dim);
  if (wants("k")) lora_k = make("lora_k", kdim);
  if (wants("v")) lora_v = make("lora_v", vdim);
  if (wants("out")) lora_out = make("lora_out", embed_dim);
}

Tensor MultiheadAttention::q_weight() const { return packed ? narrow(in_proj_weight, 0, 0, embed_dim) : q_proj_weight; }
Tensor MultiheadAttention::k_weight() const {
  return packed ? narrow(in_proj_weight, 0, embed_dim, embed_dim) : k_proj_weight;
}
Tensor MultiheadAttention::v_weight() const {
  return packed ? narrow(in_proj_weight, 0, 2 * embed_dim, embed_dim) : v_proj_weight;
}
Tensor MultiheadAttention::q_bias() const { return has_bias ? narrow(in_proj_bias, 0, 0, embed_dim) : Tensor(); }
Tensor MultiheadAttention::k_bias() const { return has_bias ? narrow(in_proj_bias, 0, embed_dim, embed_dim) : Tensor(); }
Tensor MultiheadAttention::v_bias() const {
  return has_bias ? narrow(in_proj_bias, 0, 2 * embed_dim, embed_dim) : Tensor();
}

Tensor MultiheadAttention::project(const Tensor& x, const Tensor& w, const Tensor& b,
                                   const std::shared_ptr<LoRA>& lora) const {
  Tensor y = linear(x, w, b);
  if (lora) y = add(y, lora->forward(x));
  return y.view({x.size(0), x.size(1), num_heads, head_dim}).transpose(1, 2);
}

AttentionOutput MultiheadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                            const AttentionArgs& args) {
  const char* op = "MultiheadAttention";
  WICK_CHECK(query.defined() && query.dim() == 3 && query.size(2) == embed_dim, op, ": expected query [B, L, ",
             embed_dim, "], got ", query.defined() ? shape_str(query.sizes()) : std::string("an undefined tensor"));
  const int64_t B = query.size(0), L = query.size(1), H = num_heads;
  KVCache* cache = args.cache;
  // A filled static cache already holds the projected memory.
  const bool reuse = cache && cache->static_kv && cache->k.defined();
  if (!reuse) {
    WICK_CHECK(key.defined() && value.defined(), op, ": key and value are required (unless a filled static cache is given)");
    WICK_CHECK(key.dim() == 3 && key.size(0) == B && key.size(2) == kdim, op, ": expected key [", B, ", S, ", kdim,
               "], got ", shape_str(key.sizes()));
    WICK_CHECK(value.dim() == 3 && value.size(0) == B && value.size(2) == vdim && value.size(1) == key.size(1), op,
               ": expected value [", B, ", ", key.size(1), ", ", vdim, "], got ", shape_str(value.sizes()));
  }
  WICK_CHECK(!(use_rope && cache && cache->static_kv), op, ": rotary embeddings are for self-attention; they cannot "
             "be used with a static (cross-attention) cache");

  Tensor q, k, v;
  if (packed && !reuse && query.is_same(key) && key.is_same(value)) {
    // Self-attention: one [B, T, 3E] product for q, k and v.
    const int64_t E = embed_dim;
    std::vector<Tensor> qkv = split(linear(query, in_proj_weight, in_proj_bias), E, -1);
    auto heads = [&](Tensor y, const std::shared_ptr<LoRA>& lora) {
      if (lora) y = add(y, lora->forward(query));
      return y.view({B, L, H, head_dim}).transpose(1, 2);
    };
    q = heads(qkv[0], lora_q);
    k = heads(qkv[1], lora_k);
    v = heads(qkv[2], lora_v);
  } else {
    q = project(query, q_weight(), q_bias(), lora_q);
    if (!reuse) {
      k = project(key, k_weight(), k_bias(), lora_k);
      v = project(value, v_weight(), v_bias(), lora_v);
    }
  }

  if (use_rope) {
    const int64_t offset = cache ? cache->length() : 0;
    q = apply_rotary_embedding(q, offset, rope_base);
    k = apply_rotary_embedding(k, offset, rope_base);
  }
  if (cache) {
    if (reuse) {
      WICK_CHECK(cache->k.size(0) == B, op, ": static cache holds batch ", cache->k.size(0), ", query has ", B);
      k = cache->k;
      v = cache->v;
    } else if (!cache->static_kv && cache->k.defined()) {
      WICK_CHECK(cache->k.size(0) == B && cache->k.size(1) == H && cache->k.size(3) == head_dim, op,
                 ": KV cache holds [", shape_str(cache->k.sizes()), "], incompatible with batch ", B, ", ", H,
                 " heads of ", head_dim);
      k = cat({cache->k, k}, 2);
      v = cat({cache->v, v}, 2);
    }
    if (!reuse) {
      cache->k = k;
      cache->v = v;
    }
  }
  const int64_t S = k.size(2);

  // Causal alone needs no mask tensor: with S == L it is
  // scaled_dot_product_attention's own is_causal (the tiled kernel then skips
  // the masked blocks), and a one-query step (KV cache) sees every key.
  const bool causal_only = args.is_causal && !args.key_padding_mask.defined() && !args.attn_mask.defined() &&
                           !args.need_weights && S >= L && (S == L || L == 1);
  const bool sdpa_causal = causal_only && S == L;
  Tensor mask = causal_only ? Tensor()
                            : combine_attention_masks(args.key_padding_mask, args.attn_mask, args.is_causal, B, H, L,
                                                      S, q.dtype(), q.device());
  const double p = is_training() ? dropout : 0.0;
  AttentionOutput out;
  Tensor heads;
  if (args.need_weights) {
    Tensor scores = mul(matmul(q, k.transpose(-2, -1)), 1.0 / std::sqrt(static_cast<double>(head_dim)));
    if (mask.defined())
      scores = mask.dtype() == kBool ? where(mask, scores, Scalar(-std::numeric_limits<double>::infinity()))
                                     : add(scores, mask);
    Tensor w = softmax(scores, -1);
    if (p > 0.0) w = wick::dropout(w, p, /*training=*/true);
    heads = matmul(w, v);
    out.weights = args.average_attn_weights ? mean(w, {1}) : w;
  } else {
    heads = scaled_dot_product_attention(q, k, v, mask, p, sdpa_causal);
  }
  if (head_hook) {
    heads = head_hook(heads);
    WICK_CHECK(heads.defined() && heads.sizes() == Shape({B, H, L, head_dim}), op,
               ": head_hook must return [B, H, L, head_dim] = ", shape_str({B, H, L, head_dim}), ", got ",
               heads.defined() ? shape_str(heads.sizes()) : std::string("an undefined tensor"));
  }
  Tensor merged = heads.transpose(1, 2).reshape({B, L, embed_dim});
  out.output = out_proj->forward(merged);
  if (lora_out) out.output = add(out.output, lora_out->forward(merged));
  if (args.need_head_outputs) out.head_outputs = heads;
  return out;
}

Tensor MultiheadAttention::forward(const Tensor& x) { return forward(x, x, x).output; }

std::string MultiheadAttention::extra_repr() const {
  std::ostringstream s;
  s << "embed_dim=" << embed_dim << ", num_heads=" << num_heads;
  if (dropout > 0.0) s << ", dropout=" << dropout;
  if (!has_bias) s << ", bias=false";
  if (!packed) s << ", kdim=" << kdim << ", vdim=" << vdim;
  if (use_rope) s << ", rope_base=" << rope_base;
  return s.str();
}

}  // namespace wick::nn
