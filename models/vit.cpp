// Vision Transformer (see vit.h).
#include "models/vit.h"

#include "nn/init.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/reduction.h"
#include "ops/shape.h"
#include "ops/view.h"

namespace wick::models {

ViT::ViT(ViTConfig config_) : config(std::move(config_)) {
  const ViTConfig& c = config;
  WICK_CHECK(c.image_size > 0 && c.patch_size > 0 && c.channels > 0 && c.depth >= 0 && c.width > 0 && c.heads > 0 &&
                 c.mlp_ratio > 0 && c.num_classes >= 0,
             "ViT: sizes must be positive (depth, num_classes >= 0), got image_size=", c.image_size,
             ", patch_size=", c.patch_size, ", channels=", c.channels, ", depth=", c.depth, ", width=", c.width,
             ", heads=", c.heads, ", mlp_ratio=", c.mlp_ratio, ", num_classes=", c.num_classes);
  WICK_CHECK(c.image_size % c.patch_size == 0, "ViT: image_size (", c.image_size,
             ") must be divisible by patch_size (", c.patch_size, ")");
  WICK_CHECK(c.width % c.heads == 0, "ViT: width (", c.width, ") must be divisible by heads (", c.heads, ")");
  reset();
}

void ViT::reset() {
  const ViTConfig& c = config;
  patch_embed = register_module("patch_embed", std::make_shared<nn::Conv2d>(c.channels, c.width, c.patch_size,
                                                                            c.patch_size));
  const bool cls = c.pooling == ViTPooling::Cls;
  cls_token = cls ? register_parameter("cls_token", zeros({1, 1, c.width})) : Tensor();
  pos_embed = register_parameter("pos_embed", zeros({1, num_patches() + (cls ? 1 : 0), c.width}));
  dropout = register_module("dropout", std::make_shared<nn::Dropout>(c.dropout));
  nn::TransformerLayerOptions layer;
  layer.d_model = c.width;
  layer.nhead = c.heads;
  layer.dim_feedforward = c.mlp_ratio * c.width;
  layer.dropout = c.dropout;
  layer.activation = "gelu";
  layer.layer_norm_eps = 1e-6;  // as timm's ViT
  layer.norm_first = true;
  encoder = register_module("encoder", std::make_shared<nn::TransformerEncoder>(layer, c.depth, true));
  head = c.num_classes > 0 ? register_module("head", std::make_shared<nn::Linear>(c.width, c.num_classes)) : nullptr;

  nn::init::trunc_normal_(pos_embed, 0.0, 0.02, -0.04, 0.04);
  if (cls) nn::init::trunc_normal_(cls_token, 0.0, 0.02, -0.04, 0.04);
  for (auto& l : encoder->layers) {
    for (auto* lin : {l->linear1.get(), l->linear2.get(), l->self_attn->out_proj.get()}) {
      nn::init::trunc_normal_(lin->weight, 0.0, 0.02, -0.04, 0.04);
      nn::init::zeros_(lin->bias);
    }
  }
  if (head) {
    nn::init::trunc_normal_(head->weight, 0.0, 0.02, -0.04, 0.04);
    nn::init::zeros_(head->bias);
  }
}

Tensor ViT::tokens(const Tensor& images) {
  const ViTConfig& c = config;
  WICK_CHECK(images.defined() && images.dim() == 4 && images.size(1) == c.channels &&
                 images.size(2) == c.image_size && images.size(3) == c.image_size,
             "ViT: expected images [B, ", c.channels, ", ", c.image_size, ", ", c.image_size, "], got ",
             images.defined() ? shape_str(images.sizes()) : std::string("an undefined tensor"));
  const int64_t B = images.size(0);
  // [B, W, h, w] -> [B, N, W]
  Tensor x = patch_embed->forward(images).flatten(2).transpose(1, 2);
  if (cls_token.defined()) x = cat({cls_token.expand({B, 1, c.width}), x}, 1);
  x = dropout->forward(add(x, pos_embed));
  return encoder->forward(x);
}

Tensor ViT::features(const Tensor& images) {
  Tensor h = tokens(images);
  return config.pooling == ViTPooling::Cls ? h.select(1, 0) : mean(h, {1});
}

Tensor ViT::forward(const Tensor& images) {
  Tensor f = features(images);
  return head ? head->forward(f) : f;
}

std::string ViT::extra_repr() const {
  const ViTConfig& c = config;
  return str("image_size=", c.image_size, ", patch_size=", c.patch_size, ", channels=", c.channels, ", depth=",
             c.depth, ", width=", c.width, ", heads=", c.heads, ", num_classes=", c.num_classes,
             ", pooling=", c.pooling == ViTPooling::Cls ? "cls" : "mean");
}

}  // namespace wick::models
