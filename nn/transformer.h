// Transformer layers, as torch.nn.TransformerEncoderLayer /
// TransformerDecoderLayer / TransformerEncoder with batch_first=True.
//
// Pre-LN (norm_first = true, the default here; Xiong et al. 2020), x [B, T, d]:
//   encoder:  x = x + dropout1(self_attn(norm1(x)))
//             x = x + dropout2(ff(norm2(x)))
//   decoder:  x = x + dropout1(self_attn(norm1(x)))            (causal over the target)
//             x = x + dropout2(cross_attn(norm2(x), memory))
//             x = x + dropout3(ff(norm3(x)))
//   ff(x) = linear2(dropout(activation(linear1(x))))
// Post-LN (norm_first = false, the original Transformer and BERT) applies each
// norm after its residual sum instead: x = norm1(x + dropout1(self_attn(x))).
// Submodule names equal PyTorch's (self_attn, multihead_attn, linear1,
// linear2, norm1..3, dropout, dropout1..3), so state_dicts load both ways.
//
// Incremental decoding: the encoder layer with is_causal is a GPT block; give
// it a KVCache (one per layer) to feed tokens step by step. The decoder layer
// takes one cache for its self-attention and one for its cross-attention (the
// latter holds the projected memory, computed on the first step).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/attention.h"
#include "nn/dropout.h"
#include "nn/linear.h"
#include "nn/norm.h"

namespace wick::nn {

// Configuration shared by both layer types (PyTorch's constructor arguments;
// norm_first defaults to true here).
struct TransformerLayerOptions {
  int64_t d_model = 512;
  int64_t nhead = 8;
  int64_t dim_feedforward = 2048;
  double dropout = 0.1;
  std::string activation = "relu";  // relu, gelu, gelu_tanh or silu
  double layer_norm_eps = 1e-5;
  bool norm_first = true;
  bool bias = true;
};

// x -> activation(x) for the names accepted by TransformerLayerOptions.
Tensor apply_activation(const Tensor& x, const std::string& activation);

struct EncoderLayerArgs {
  Tensor src_mask;              // attn_mask of MultiheadAttention (bool true = not allowed, or float)
  Tensor src_key_padding_mask;  // [B, S] bool, true = padding
  bool is_causal = false;
  KVCache* cache = nullptr;     // incremental decoding (with is_causal)
};

class TransformerEncoderLayer : public Cloneable<TransformerEncoderLayer> {
 public:
  TransformerEncoderLayer(int64_t d_model, int64_t nhead, int64_t dim_feedforward = 2048, double dropout = 0.1,
                          std::string activation = "relu", double layer_norm_eps = 1e-5, bool norm_first = true,
                          bool bias = true);
  explicit TransformerEncoderLayer(TransformerLayerOptions options);
  void reset() override;
  // src [B, T, d_model] -> [B, T, d_model].
  Tensor forward(const Tensor& src, const EncoderLayerArgs& args);
  Tensor forward(const Tensor& src) override { return forward(src, EncoderLayerArgs{}); }
  // The feed-forward block ff(x) alone.
  Tensor feed_forward(const Tensor& x);
  std::string name() const override { return "TransformerEncoderLayer"; }
  std::string extra_repr() const override;

  TransformerLayerOptions options;
  std::shared_ptr<MultiheadAttention> self_attn;
  std::shared_ptr<Linear> linear1, linear2;
  std::shared_ptr<Dropout> dropout, dropout1, dropout2;
  std::shared_ptr<LayerNorm> norm1, norm2;
};

struct DecoderLayerArgs {
  Tensor tgt_mask;                  // self-attention attn_mask
  Tensor memory_mask;               // cross-attention attn_mask
  Tensor tgt_key_padding_mask;      // [B, T]
  Tensor memory_key_padding_mask;   // [B, S]
  bool tgt_is_causal = false;
  KVCache* self_cache = nullptr;    // incremental decoding of the target
  KVCache* cross_cache = nullptr;   // made static: holds the projected memory
};

class TransformerDecoderLayer : public Cloneable<TransformerDecoderLayer> {
 public:
  TransformerDecoderLayer(int64_t d_model, int64_t nhead, int64_t dim_feedforward = 2048, double dropout = 0.1,
                          std::string activation = "relu", double layer_norm_eps = 1e-5, bool norm_first = true,
                          bool bias = true);
  explicit TransformerDecoderLayer(TransformerLayerOptions options);
  void reset() override;
  // tgt [B, T, d], memory [B, S, d] -> [B, T, d]. memory may be undefined when
  // a filled cross_cache is given.
  Tensor forward(const Tensor& tgt, const Tensor& memory, const DecoderLayerArgs& args = {});
  Tensor feed_forward(const Tensor& x);
  std::string name() const override { return "TransformerDecoderLayer"; }
  std::string extra_repr() const override;

  TransformerLayerOptions options;
  std::shared_ptr<MultiheadAttention> self_attn, multihead_attn;
  std::shared_ptr<Linear> linear1, linear2;
  std::shared_ptr<Dropout> dropout, dropout1, dropout2, dropout3;
  std::shared_ptr<LayerNorm> norm1, norm2, norm3;
};

// A stack of num_layers encoder layers ("layers.0", ...) and an optional
// final LayerNorm ("norm"), as torch.nn.TransformerEncoder. Unlike PyTorch,
// which deep-copies one prototype (identical initial weights in every layer),
// each layer is initialized independently.
class TransformerEncoder : public Cloneable<TransformerEncoder> {
 public:
  TransformerEncoder(TransformerLayerOptions layer_options, int64_t num_layers, bool final_norm = false);
  void reset() override;
  // caches: one KVCache per layer (resized to num_layers when empty).
  Tensor forward(const Tensor& src, const EncoderLayerArgs& args, std::vector<KVCache>* caches = nullptr);
  Tensor forward(const Tensor& src) override { return forward(src, EncoderLayerArgs{}); }
  std::string name() const override { return "TransformerEncoder"; }
  std::string extra_repr() const override;

  TransformerLayerOptions layer_options;
  int64_t num_layers;
  bool final_norm;
  std::vector<std::shared_ptr<TransformerEncoderLayer>> layers;
  std::shared_ptr<LayerNorm> norm;  // null without final_norm
};

}  // namespace wick::nn
