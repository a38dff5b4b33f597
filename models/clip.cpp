// CLIP: text tower, projections, learnable temperature, symmetric loss (see
// clip.h for the formulas).
#include "models/clip.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "nn/contrastive.h"
#include "nn/init.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/indexing.h"
#include "ops/linalg.h"
#include "ops/loss.h"
#include "ops/reduction.h"

namespace wick::models {

// ---------------------------------------------------------------------------
// Text tower.

TextTransformer::TextTransformer(TextTransformerConfig config_) : config(std::move(config_)) {
  const TextTransformerConfig& c = config;
  WICK_CHECK(c.vocab_size > 0 && c.context_length > 0 && c.depth >= 0 && c.width > 0 && c.heads > 0 && c.ffn > 0,
             "TextTransformer: vocab_size, context_length, width, heads and ffn must be positive and depth >= 0");
  WICK_CHECK(c.width % c.heads == 0, "TextTransformer: width (", c.width, ") must be divisible by heads (", c.heads,
             ")");
  WICK_CHECK(c.pad_id >= 0 && c.pad_id < c.vocab_size, "TextTransformer: pad_id ", c.pad_id,
             " is outside the vocabulary [0, ", c.vocab_size, ")");
  reset();
}

void TextTransformer::reset() {
  const TextTransformerConfig& c = config;
  token_embedding = register_module("token_embedding", std::make_shared<nn::Embedding>(c.vocab_size, c.width, c.pad_id));
  position_embedding = register_module("position_embedding", std::make_shared<nn::Embedding>(c.context_length, c.width));
  embedding_dropout = register_module("embedding_dropout", std::make_shared<nn::Dropout>(c.dropout));
  nn::TransformerLayerOptions layer;
  layer.d_model = c.width;
  layer.nhead = c.heads;
  layer.dim_feedforward = c.ffn;
  layer.dropout = c.dropout;
  layer.activation = c.activation;
  transformer = register_module("transformer", std::make_shared<nn::TransformerEncoder>(layer, c.depth, true));
  // N(0, 1) (Embedding's default) is far too large next to unit-scale LayerNorm outputs.
  nn::init::normal_(token_embedding->weight, 0.0, c.init_std);
  nn::init::normal_(position_embedding->weight, 0.0, c.init_std / 2);
  NoGradGuard no_grad;
  Tensor pad_row = token_embedding->weight.select(0, c.pad_id);
  pad_row.zero_();
}

std::string TextTransformer::extra_repr() const {
  const TextTransformerConfig& c = config;
  return str("vocab_size=", c.vocab_size, ", context_length=", c.context_length, ", width=", c.width,
             ", depth=", c.depth, ", heads=", c.heads, ", causal=", c.causal ? "true" : "false",
             ", pooling=", c.pooling == TextPooling::Last ? "last" : "mean");
}

Tensor TextTransformer::padding_mask_of(const Tensor& tokens, const Tensor& padding_mask) const {
  if (!padding_mask.defined()) return eq(tokens, config.pad_id);
  WICK_CHECK(padding_mask.dtype() == kBool && padding_mask.sizes() == tokens.sizes(),
             "TextTransformer: padding_mask must be bool with the tokens' shape ", shape_str(tokens.sizes()), ", got ",
             padding_mask.dtype(), " ", shape_str(padding_mask.sizes()));
  return padding_mask;
}

Tensor TextTransformer::encode(const Tensor& tokens, const Tensor& padding_mask) {
  WICK_CHECK(tokens.defined() && tokens.dim() == 2 && is_integral(tokens.dtype()),
             "TextTransformer: tokens must be an integer tensor [B, T], got ",
             tokens.defined() ? shape_str(tokens.sizes()) : std::string("undefined"));
  const int64_t t = tokens.size(1);
  WICK_CHECK(t >= 1 && t <= config.context_length, "TextTransformer: sequence length ", t,
             " is outside [1, context_length=", config.context_length, "]");
  Tensor h = add(token_embedding->forward(tokens),
                 position_embedding->forward(arange(t, TensorOptions(kInt64).device(tokens.device()))));
  h = embedding_dropout->forward(h);
  nn::EncoderLayerArgs args;
  args.src_key_padding_mask = padding_mask_of(tokens, padding_mask);
  args.is_causal = config.causal;
  return transformer->forward(h, args);
}

Tensor TextTransformer::pool(const Tensor& hidden, const Tensor& padding_mask) const {
  WICK_CHECK(hidden.defined() && hidden.dim() == 3, "TextTransformer::pool: hidden must be [B, T, width], got ",
             hidden.defined() ? shape_str(hidden.sizes()) : std::string("undefined"));
  const int64_t b = hidden.size(0), t = hidden.size(1), w = hidden.size(2);
  WICK_CHECK(padding_mask.defined() && padding_mask.dtype() == kBool && padding_mask.dim() == 2 &&
                 padding_mask.size(0) == b && padding_mask.size(1) == t,
             "TextTransformer::pool: padding_mask must be bool [B, T] matching hidden ", shape_str(hidden.sizes()));
  Tensor keep = logical_not(padding_mask);
  if (config.pooling == TextPooling::Mean) {
    Tensor k = keep.to(hidden.dtype()).unsqueeze(2);
    return div(sum(mul(hidden, k), {1}), clamp_min(sum(k, {1}), 1.0));
  }
  // The last position that is not padding (position 0 for an all-padding row).
  Tensor positions = arange(t, TensorOptions(kInt64).device(hidden.device())).unsqueeze(0);
  Tensor last = argmax(where(keep, positions, int64_t{-1}), 1);  // [B]
  return gather(hidden, 1, last.reshape({b, 1, 1}).expand({b, 1, w})).squeeze(1);
}

Tensor TextTransformer::forward(const Tensor& tokens) {
  Tensor mask = padding_mask_of(tokens, {});
  return pool(encode(tokens, mask), mask);
}

// ---------------------------------------------------------------------------
// CLIP.

Clip::Clip(std::shared_ptr<nn::Module> image_encoder, ClipConfig config_) : config(std::move(config_)) {
  WICK_CHECK(image_encoder, "Clip: the image encoder is null");
  WICK_CHECK(config.embed_dim > 0 && config.image_features > 0, "Clip: embed_dim and image_features must be positive, got ",
             config.embed_dim, " and ", config.image_features);
  WICK_CHECK(config.max_logit_scale > 0, "Clip: max_logit_scale must be positive, got ", config.max_logit_scale);
  visual = register_module("visual", std::move(image_encoder));
  text = register_module("text", std::make_shared<TextTransformer>(config.text));
  image_projection = register_module("image_projection",
                                     std::make_shared<nn::Linear>(config.image_features, config.embed_dim, false));
  text_projection = register_module("text_projection",
                                    std::make_shared<nn::Linear>(config.text.width, config.embed_dim, false));
  logit_scale = register_parameter("logit_scale", scalar_tensor(config.init_logit_scale, kFloat32));
}

std::string Clip::extra_repr() const {
  return str("embed_dim=", config.embed_dim, ", image_features=", config.image_features,
             ", max_logit_scale=", config.max_logit_scale);
}

std::shared_ptr<nn::Module> Clip::clone() const {
  std::shared_ptr<Clip> copy;
  // Building the copy draws fresh initial values; restore the RNG so cloning
  // never shifts a seeded run, then copy every value over.
  nn::reset_with_rng_restored([&] { copy = std::make_shared<Clip>(visual->clone(), config); });
  copy->copy_state_from(*this);
  return copy;
}

Tensor Clip::encode_image(const Tensor& images) {
  Tensor features = visual->forward(images);
  WICK_CHECK(features.dim() == 2 && features.size(1) == config.image_features, "Clip: the image encoder returned ",
             shape_str(features.sizes()), ", expected [B, image_features=", config.image_features, "]");
  return image_projection->forward(features);
}

Tensor Clip::encode_text(const Tensor& tokens, const Tensor& padding_mask) {
  Tensor mask = text->padding_mask_of(tokens, padding_mask);
  return text_projection->forward(text->pool(text->encode(tokens, mask), mask));
}

Tensor Clip::scale() const { return exp(clamp_max(logit_scale, std::log(config.max_logit_scale))); }

ClipOutput Clip::forward(const Tensor& images, const Tensor& tokens, const Tensor& padding_mask) {
  ClipOutput out;
  out.image_embeds = normalize(encode_image(images), 2.0, -1);
  out.text_embeds = normalize(encode_text(tokens, padding_mask), 2.0, -1);
  out.logits_per_image = mul(matmul(out.image_embeds, out.text_embeds.t()), scale());
  out.logits_per_text = out.logits_per_image.t();
  return out;
}

Tensor Clip::loss(const Tensor& images, const Tensor& tokens, const Tensor& padding_mask) {
  ClipOutput out = forward(images, tokens, padding_mask);
  WICK_CHECK(out.logits_per_image.size(0) == out.logits_per_image.size(1), "Clip::loss: needs as many images (",
             out.logits_per_image.size(0), ") as texts (", out.logits_per_image.size(1), ")");
  return nn::clip_loss(out.logits_per_image);
}

}  // namespace wick::models
