// CLIP (Radford et al. 2021): an image tower and a text tower trained so that
// matching image-text pairs have the highest cosine similarity in a joint
// space, with a learnable temperature.
//
//   u_i = normalize(image_encoder(image_i) P_img)        [B, E]
//   v_j = normalize(text_pool(text_transformer(tok_j)) P_txt)
//   S_ij = exp(s) · u_i·v_j,   s learnable, init log(1/0.07), exp(s) clamped at 100
//   loss = ½(CE(S, I) + CE(Sᵀ, I))                      (nn::clip_loss)
//
// The image tower is any nn::Module whose one-tensor forward maps images to
// features [B, image_features] (a ViT's pooled token, a CNN's pooled map);
// CLIP adds a bias-free linear projection. The text tower is a transformer
// over token ids (token + learned position embeddings, pre-LN blocks, final
// LayerNorm), causal as in CLIP by default, with padding masked out, pooled
// at the last non-padding token (the EOT token when the tokenizer appends
// one; CLIP takes the argmax token id, which is EOT in its vocabulary) or by
// the mean over non-padding tokens.
//
// The logit scale is clamped inside the forward (its gradient is 0 beyond
// log 100), which has the effect of the reference's clamp after each step.
#pragma once

#include <memory>
#include <string>

#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/transformer.h"

namespace wick::models {

enum class TextPooling {
  Last,  // the last non-padding token (EOT)
  Mean,  // the mean over non-padding tokens
};

struct TextTransformerConfig {
  int64_t vocab_size = 2048;
  int64_t context_length = 16;
  int64_t width = 64;
  int64_t depth = 3;
  int64_t heads = 4;
  int64_t ffn = 256;
  int64_t pad_id = 0;
  bool causal = true;
  TextPooling pooling = TextPooling::Last;
  double dropout = 0.0;
  std::string activation = "gelu";
  double init_std = 0.02;  // embeddings ~ N(0, std²) (CLIP: 0.02 tokens, 0.01 positions)
};

// The text tower alone (also usable as a text encoder elsewhere, e.g. the
// context of a text-conditioned UNet).
class TextTransformer : public nn::Cloneable<TextTransformer> {
 public:
  explicit TextTransformer(TextTransformerConfig config);
  void reset() override;
  // tokens [B, T] int64 (T <= context_length); padding_mask [B, T] bool, true
  // = padding (undefined: tokens == pad_id). -> token features [B, T, width]
  // after the final LayerNorm.
  Tensor encode(const Tensor& tokens, const Tensor& padding_mask = {});
  // [B, T, width] -> [B, width] with config.pooling.
  Tensor pool(const Tensor& hidden, const Tensor& padding_mask) const;
  // Pooled features [B, width] of tokens (padding = tokens == pad_id).
  Tensor forward(const Tensor& tokens) override;
  std::string name() const override { return "TextTransformer"; }
  std::string extra_repr() const override;

  // padding_mask, or tokens == pad_id when it is undefined (checked).
  Tensor padding_mask_of(const Tensor& tokens, const Tensor& padding_mask) const;

  TextTransformerConfig config;
  std::shared_ptr<nn::Embedding> token_embedding, position_embedding;
  std::shared_ptr<nn::Dropout> embedding_dropout;
  std::shared_ptr<nn::TransformerEncoder> transformer;  // with the final LayerNorm
};

struct ClipConfig {
  int64_t embed_dim = 64;        // the joint space
  int64_t image_features = 64;   // the image encoder's output width
  TextTransformerConfig text;
  double init_logit_scale = 2.659260036932778;  // log(1 / 0.07)
  double max_logit_scale = 100.0;               // exp(s) is clamped here
};

struct ClipOutput {
  Tensor logits_per_image;  // [B_img, B_txt] = scale · u vᵀ
  Tensor logits_per_text;   // its transpose
  Tensor image_embeds;      // u, L2-normalized [B_img, E]
  Tensor text_embeds;       // v, L2-normalized [B_txt, E]
};

// Not a Cloneable: the image tower is given by the caller, so clone() clones
// it through its own clone() (like the containers do) and rebuilds the rest.
class Clip : public nn::Module {
 public:
  Clip(std::shared_ptr<nn::Module> image_encoder, ClipConfig config);

  // Unnormalized projections [B, embed_dim].
  Tensor encode_image(const Tensor& images);
  Tensor encode_text(const Tensor& tokens, const Tensor& padding_mask = {});
  // exp(logit_scale) clamped at max_logit_scale (0-d).
  Tensor scale() const;
  ClipOutput forward(const Tensor& images, const Tensor& tokens, const Tensor& padding_mask = {});
  // The symmetric contrastive loss of a batch of B matching pairs.
  Tensor loss(const Tensor& images, const Tensor& tokens, const Tensor& padding_mask = {});

  std::string name() const override { return "Clip"; }
  std::string extra_repr() const override;
  std::shared_ptr<nn::Module> clone() const override;

  ClipConfig config;
  std::shared_ptr<nn::Module> visual;          // the image tower ("visual")
  std::shared_ptr<TextTransformer> text;       // "text"
  std::shared_ptr<nn::Linear> image_projection, text_projection;  // bias-free
  Tensor logit_scale;                          // 0-d parameter s
};

}  // namespace wick::models
