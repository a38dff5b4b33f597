// Transformer encoder/decoder layers and the encoder stack (see transformer.h).
#include "nn/transformer.h"

#include <sstream>

#include "nn/container.h"
#include "ops/elementwise.h"

namespace wick::nn {

Tensor apply_activation(const Tensor& x, const std::string& activation) {
  if (activation == "relu") return relu(x);
  if (activation == "gelu") return gelu(x);
  if (activation == "gelu_tanh") return gelu(x, "tanh");
  if (activation == "silu") return silu(x);
  WICK_FAIL("apply_activation: unknown activation '", activation, "' (expected relu, gelu, gelu_tanh or silu)");
}

namespace {

void check_options(const char* op, const TransformerLayerOptions& o) {
  WICK_CHECK(o.d_model > 0 && o.nhead > 0 && o.dim_feedforward > 0, op,
             ": d_model, nhead and dim_feedforward must be positive, got ", o.d_model, ", ", o.nhead, ", ",
             o.dim_feedforward);
  WICK_CHECK(o.activation == "relu" || o.activation == "gelu" || o.activation == "gelu_tanh" || o.activation == "silu",
             op, ": unknown activation '", o.activation, "' (expected relu, gelu, gelu_tanh or silu)");
}

TransformerLayerOptions make_options(int64_t d_model, int64_t nhead, int64_t dim_feedforward, double dropout,
                                     std::string activation, double layer_norm_eps, bool norm_first, bool bias) {
  TransformerLayerOptions o;
  o.d_model = d_model;
  o.nhead = nhead;
  o.dim_feedforward = dim_feedforward;
  o.dropout = dropout;
  o.activation = std::move(activation);
  o.layer_norm_eps = layer_norm_eps;
  o.norm_first = norm_first;
  o.bias = bias;
  return o;
}

std::string options_repr(const TransformerLayerOptions& o) {
  std::ostringstream s;
  s << "d_model=" << o.d_model << ", nhead=" << o.nhead << ", dim_feedforward=" << o.dim_feedforward
    << ", dropout=" << o.dropout << ", activation=" << o.activation << ", norm_first=" << (o.norm_first ? "true" : "false");
  return s.str();
}

void check_input(const char* op, const char* what, const Tensor& x, int64_t d_model) {
  WICK_CHECK(x.defined() && x.dim() == 3 && x.size(2) == d_model, op, ": expected ", what, " [B, T, ", d_model,
             "], got ", x.defined() ? shape_str(x.sizes()) : std::string("an undefined tensor"));
}

}  // namespace

// ---- TransformerEncoderLayer ------------------------------------------------------

TransformerEncoderLayer::TransformerEncoderLayer(int64_t d_model, int64_t nhead, int64_t dim_feedforward,
                                                 double dropout_, std::string activation, double layer_norm_eps,
                                                 bool norm_first, bool bias)
    : TransformerEncoderLayer(make_options(d_model, nhead, dim_feedforward, dropout_, std::move(activation),
                                           layer_norm_eps, norm_first, bias)) {}

TransformerEncoderLayer::TransformerEncoderLayer(TransformerLayerOptions options_) : options(std::move(options_)) {
  check_options("TransformerEncoderLayer", options);
  reset();
}

void TransformerEncoderLayer::reset() {
  const auto& o = options;
  // Registration order = PyTorch's, so state_dict keys come out in the same order.
  self_attn = register_module("self_attn", std::make_shared<MultiheadAttention>(o.d_model, o.nhead, o.dropout, o.bias));
  linear1 = register_module("linear1", std::make_shared<Linear>(o.d_model, o.dim_feedforward, o.bias));
  dropout = register_module("dropout", std::make_shared<Dropout>(o.dropout));
  linear2 = register_module("linear2", std::make_shared<Linear>(o.dim_feedforward, o.d_model, o.bias));
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(std::vector<int64_t>{o.d_model}, o.layer_norm_eps));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(std::vector<int64_t>{o.d_model}, o.layer_norm_eps));
  dropout1 = register_module("dropout1", std::make_shared<Dropout>(o.dropout));
  dropout2 = register_module("dropout2", std::make_shared<Dropout>(o.dropout));
}

Tensor TransformerEncoderLayer::feed_forward(const Tensor& x) {
  return linear2->forward(dropout->forward(apply_activation(linear1->forward(x), options.activation)));
}

Tensor TransformerEncoderLayer::forward(const Tensor& src, const EncoderLayerArgs& args) {
  check_input("TransformerEncoderLayer", "src", src, options.d_model);
  AttentionArgs a;
  a.attn_mask = args.src_mask;
  a.key_padding_mask = args.src_key_padding_mask;
  a.is_causal = args.is_causal;
  a.cache = args.cache;
  auto sa = [&](const Tensor& x) { return dropout1->forward(self_attn->forward(x, x, x, a).output); };
  Tensor x = src;
  if (options.norm_first) {
    x = add(x, sa(norm1->forward(x)));
    x = add(x, dropout2->forward(feed_forward(norm2->forward(x))));
  } else {
    x = norm1->forward(add(x, sa(x)));
    x = norm2->forward(add(x, dropout2->forward(feed_forward(x))));
  }
  return x;
}

std::string TransformerEncoderLayer::extra_repr() const { return options_repr(options); }

// ---- TransformerDecoderLayer ------------------------------------------------------

TransformerDecoderLayer::TransformerDecoderLayer(int64_t d_model, int64_t nhead, int64_t dim_feedforward,
                                                 double dropout_, std::string activation, double layer_norm_eps,
                                                 bool norm_first, bool bias)
    : TransformerDecoderLayer(make_options(d_model, nhead, dim_feedforward, dropout_, std::move(activation),
                                           layer_norm_eps, norm_first, bias)) {}

TransformerDecoderLayer::TransformerDecoderLayer(TransformerLayerOptions options_) : options(std::move(options_)) {
  check_options("TransformerDecoderLayer", options);
  reset();
}

void TransformerDecoderLayer::reset() {
  const auto& o = options;
  const std::vector<int64_t> d{o.d_model};
  self_attn = register_module("self_attn", std::make_shared<MultiheadAttention>(o.d_model, o.nhead, o.dropout, o.bias));
  multihead_attn =
      register_module("multihead_attn", std::make_shared<MultiheadAttention>(o.d_model, o.nhead, o.dropout, o.bias));
  linear1 = register_module("linear1", std::make_shared<Linear>(o.d_model, o.dim_feedforward, o.bias));
  dropout = register_module("dropout", std::make_shared<Dropout>(o.dropout));
  linear2 = register_module("linear2", std::make_shared<Linear>(o.dim_feedforward, o.d_model, o.bias));
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(d, o.layer_norm_eps));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(d, o.layer_norm_eps));
  norm3 = register_module("norm3", std::make_shared<LayerNorm>(d, o.layer_norm_eps));
  dropout1 = register_module("dropout1", std::make_shared<Dropout>(o.dropout));
  dropout2 = register_module("dropout2", std::make_shared<Dropout>(o.dropout));
  dropout3 = register_module("dropout3", std::make_shared<Dropout>(o.dropout));
}

Tensor TransformerDecoderLayer::feed_forward(const Tensor& x) {
  return linear2->forward(dropout->forward(apply_activation(linear1->forward(x), options.activation)));
}

Tensor TransformerDecoderLayer::forward(const Tensor& tgt, const Tensor& memory, const DecoderLayerArgs& args) {
  const char* op = "TransformerDecoderLayer";
  check_input(op, "tgt", tgt, options.d_model);
  if (args.cross_cache) args.cross_cache->static_kv = true;
  const bool memory_cached = args.cross_cache && args.cross_cache->k.defined();
  if (!memory_cached) check_input(op, "memory", memory, options.d_model);

  AttentionArgs sa_args;
  sa_args.attn_mask = args.tgt_mask;
  sa_args.key_padding_mask = args.tgt_key_padding_mask;
  sa_args.is_causal = args.tgt_is_causal;
  sa_args.cache = args.self_cache;
  AttentionArgs ca_args;
  ca_args.attn_mask = args.memory_mask;
  ca_args.key_padding_mask = args.memory_key_padding_mask;
  ca_args.cache = args.cross_cache;

  auto sa = [&](const Tensor& x) { return dropout1->forward(self_attn->forward(x, x, x, sa_args).output); };
  auto ca = [&](const Tensor& x) {
    return dropout2->forward(multihead_attn->forward(x, memory, memory, ca_args).output);
  };
  Tensor x = tgt;
  if (options.norm_first) {
    x = add(x, sa(norm1->forward(x)));
    x = add(x, ca(norm2->forward(x)));
    x = add(x, dropout3->forward(feed_forward(norm3->forward(x))));
  } else {
    x = norm1->forward(add(x, sa(x)));
    x = norm2->forward(add(x, ca(x)));
    x = norm3->forward(add(x, dropout3->forward(feed_forward(x))));
  }
  return x;
}

std::string TransformerDecoderLayer::extra_repr() const { return options_repr(options); }

// ---- TransformerEncoder -----------------------------------------------------------

TransformerEncoder::TransformerEncoder(TransformerLayerOptions layer_options_, int64_t num_layers_, bool final_norm_)
    : layer_options(std::move(layer_options_)), num_layers(num_layers_), final_norm(final_norm_) {
  check_options("TransformerEncoder", layer_options);
  WICK_CHECK(num_layers >= 0, "TransformerEncoder: num_layers must be non-negative, got ", num_layers);
  reset();
}

void TransformerEncoder::reset() {
  layers.clear();
  auto list = std::make_shared<ModuleList>();
  for (int64_t i = 0; i < num_layers; ++i) {
    layers.push_back(std::make_shared<TransformerEncoderLayer>(layer_options));
    list->push_back(layers.back());
  }
  register_module("layers", list);
  norm = final_norm ? register_module("norm", std::make_shared<LayerNorm>(std::vector<int64_t>{layer_options.d_model},
                                                                          layer_options.layer_norm_eps))
                    : nullptr;
}

Tensor TransformerEncoder::forward(const Tensor& src, const EncoderLayerArgs& args, std::vector<KVCache>* caches) {
  WICK_CHECK(args.cache == nullptr, "TransformerEncoder: pass per-layer caches through the `caches` argument, not "
             "args.cache");
  if (caches) {
    if (caches->empty()) caches->resize(static_cast<size_t>(num_layers));
    WICK_CHECK(caches->size() == static_cast<size_t>(num_layers), "TransformerEncoder: expected ", num_layers,
               " caches (one per layer), got ", caches->size());
  }
  Tensor x = src;
  for (size_t i = 0; i < layers.size(); ++i) {
    EncoderLayerArgs a = args;
    a.cache = caches ? &(*caches)[i] : nullptr;
    x = layers[i]->forward(x, a);
  }
  return norm ? norm->forward(x) : x;
}

std::string TransformerEncoder::extra_repr() const {
  return "num_layers=" + std::to_string(num_layers) + ", final_norm=" + (final_norm ? "true" : "false");
}

}  // namespace wick::nn
