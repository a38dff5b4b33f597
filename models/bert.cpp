// BERT-style encoder (see bert.h for the architecture and its formulas).
#include "models/bert.h"

#include "autograd/grad_mode.h"
#include "nn/init.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/linalg.h"
#include "ops/loss.h"
#include "ops/reduction.h"

namespace wick::models {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Bert::Bert(BertConfig config_) : config(std::move(config_)) {
  const BertConfig& c = config;
  WICK_CHECK(c.vocab_size > 0 && c.max_len > 0 && c.depth >= 0 && c.width > 0 && c.heads > 0 && c.ffn > 0,
             "Bert: vocab_size, max_len, width, heads and ffn must be positive and depth >= 0, got vocab_size=",
             c.vocab_size, ", max_len=", c.max_len, ", depth=", c.depth, ", width=", c.width, ", heads=", c.heads,
             ", ffn=", c.ffn);
  WICK_CHECK(c.width % c.heads == 0, "Bert: width (", c.width, ") must be divisible by heads (", c.heads, ")");
  WICK_CHECK(c.pad_id >= 0 && c.pad_id < c.vocab_size, "Bert: pad_id ", c.pad_id, " is outside the vocabulary [0, ",
             c.vocab_size, ")");
  WICK_CHECK(c.type_vocab_size >= 0, "Bert: type_vocab_size must be >= 0, got ", c.type_vocab_size);
  reset();
}

void Bert::reset() {
  const BertConfig& c = config;
  token_embedding = register_module("token_embedding", std::make_shared<nn::Embedding>(c.vocab_size, c.width, c.pad_id));
  position_embedding = register_module("position_embedding", std::make_shared<nn::Embedding>(c.max_len, c.width));
  segment_embedding = c.type_vocab_size > 0 ? register_module("segment_embedding", std::make_shared<nn::Embedding>(
                                                                                       c.type_vocab_size, c.width))
                                            : nullptr;
  embedding_dropout = register_module("embedding_dropout", std::make_shared<nn::Dropout>(c.dropout));
  nn::TransformerLayerOptions layer;
  layer.d_model = c.width;
  layer.nhead = c.heads;
  layer.dim_feedforward = c.ffn;
  layer.dropout = c.dropout;
  layer.activation = c.activation;
  layer.layer_norm_eps = c.layer_norm_eps;
  layer.norm_first = true;
  encoder = register_module("encoder", std::make_shared<nn::TransformerEncoder>(layer, c.depth, /*final_norm=*/true));
  mlm_dense = register_module("mlm_dense", std::make_shared<nn::Linear>(c.width, c.width));
  mlm_norm = register_module("mlm_norm", std::make_shared<nn::LayerNorm>(std::vector<int64_t>{c.width}, c.layer_norm_eps));
  mlm_bias = register_parameter("mlm_bias", zeros({c.vocab_size}));

  // BERT's initialization: matrices and embeddings N(0, std²), biases 0.
  for (auto [pname, p] : named_parameters()) {
    if (p.dim() >= 2)
      nn::init::normal_(p, 0.0, c.init_std);
    else if (ends_with(pname, "bias"))
      nn::init::zeros_(p);
  }
  NoGradGuard no_grad;
  Tensor pad_row = token_embedding->weight.select(0, c.pad_id);
  pad_row.zero_();
}

std::string Bert::extra_repr() const {
  const BertConfig& c = config;
  return str("vocab_size=", c.vocab_size, ", max_len=", c.max_len, ", depth=", c.depth, ", width=", c.width,
             ", heads=", c.heads, ", ffn=", c.ffn, ", pooling=", c.pooling == BertPooling::Cls ? "cls" : "mean");
}

Tensor Bert::padding_mask_of(const Tensor& input_ids, const Tensor& padding_mask) const {
  if (!padding_mask.defined()) return eq(input_ids, config.pad_id);
  WICK_CHECK(padding_mask.dtype() == kBool && padding_mask.sizes() == input_ids.sizes(),
             "Bert: padding_mask must be bool with input_ids' shape ", shape_str(input_ids.sizes()), ", got ",
             padding_mask.dtype(), " ", shape_str(padding_mask.sizes()));
  return padding_mask;
}

Tensor Bert::encode(const Tensor& input_ids, const Tensor& token_type_ids, const Tensor& padding_mask) {
  WICK_CHECK(input_ids.defined() && input_ids.dim() == 2 && is_integral(input_ids.dtype()),
             "Bert: input_ids must be an integer tensor [B, T], got ",
             input_ids.defined() ? shape_str(input_ids.sizes()) : std::string("undefined"));
  const int64_t t = input_ids.size(1);
  WICK_CHECK(t >= 1 && t <= config.max_len, "Bert: sequence length ", t, " is outside [1, max_len=", config.max_len,
             "]");
  Tensor h = token_embedding->forward(input_ids);
  h = add(h, position_embedding->forward(arange(t, TensorOptions(kInt64).device(input_ids.device()))));
  if (segment_embedding) {
    if (token_type_ids.defined()) {
      WICK_CHECK(token_type_ids.sizes() == input_ids.sizes(), "Bert: token_type_ids has shape ",
                 shape_str(token_type_ids.sizes()), " but input_ids has ", shape_str(input_ids.sizes()));
      h = add(h, segment_embedding->forward(token_type_ids));
    } else {
      h = add(h, segment_embedding->weight.select(0, 0));
    }
  } else {
    WICK_CHECK(!token_type_ids.defined(), "Bert: token_type_ids given but the model has no segment embeddings "
               "(type_vocab_size = 0)");
  }
  h = embedding_dropout->forward(h);
  nn::EncoderLayerArgs args;
  args.src_key_padding_mask = padding_mask_of(input_ids, padding_mask);
  return encoder->forward(h, args);
}

Tensor Bert::mlm_logits(const Tensor& hidden) {
  Tensor x = mlm_norm->forward(gelu(mlm_dense->forward(hidden)));
  return add(matmul(x, token_embedding->weight.t()), mlm_bias);
}

Tensor Bert::pool(const Tensor& hidden, const Tensor& padding_mask) const {
  WICK_CHECK(hidden.defined() && hidden.dim() == 3, "Bert::pool: hidden must be [B, T, width], got ",
             hidden.defined() ? shape_str(hidden.sizes()) : std::string("undefined"));
  if (config.pooling == BertPooling::Cls) return hidden.select(1, 0);
  if (!padding_mask.defined()) return mean(hidden, {1});
  WICK_CHECK(padding_mask.dtype() == kBool && padding_mask.dim() == 2 && padding_mask.size(0) == hidden.size(0) &&
                 padding_mask.size(1) == hidden.size(1),
             "Bert::pool: padding_mask must be bool [B, T] matching hidden ", shape_str(hidden.sizes()), ", got ",
             shape_str(padding_mask.sizes()));
  Tensor keep = logical_not(padding_mask).to(hidden.dtype()).unsqueeze(2);  // [B, T, 1]
  return div(sum(mul(hidden, keep), {1}), clamp_min(sum(keep, {1}), 1.0));
}

Tensor Bert::embed(const Tensor& input_ids, const Tensor& token_type_ids, const Tensor& padding_mask) {
  Tensor hidden = encode(input_ids, token_type_ids, padding_mask);
  return pool(hidden, padding_mask_of(input_ids, padding_mask));
}

Tensor Bert::forward(const Tensor& input_ids) { return mlm_logits(encode(input_ids)); }

Tensor Bert::mlm_loss(const Tensor& input_ids, const Tensor& labels, const Tensor& token_type_ids) {
  WICK_CHECK(labels.defined() && labels.sizes() == input_ids.sizes(), "Bert::mlm_loss: labels must have input_ids' shape ",
             shape_str(input_ids.sizes()), ", got ", labels.defined() ? shape_str(labels.sizes()) : std::string("undefined"));
  Tensor logits = mlm_logits(encode(input_ids, token_type_ids));
  return cross_entropy(logits.reshape({-1, config.vocab_size}), labels.reshape({-1}));
}

}  // namespace wick::models
