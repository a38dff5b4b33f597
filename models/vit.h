// Vision Transformer (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words").
//
//   patches = Conv2d(C -> W, kernel = stride = P)(images)            [B, W, H/P, W/P]
//   x0 = [cls; patches as tokens] + pos_embed                        [B, N (+1), W],  N = (H/P)(W/P)
//   h  = LayerNorm(block_depth(... block_1(dropout(x0))))            pre-LN blocks, GELU MLP of mlp_ratio*W
//   features = h[:, 0] (class token)  or  mean_t h[:, t] (mean pooling, no class token)
//   logits   = head(features)                                        [B, num_classes]
// Initialization as DeiT/timm: pos_embed, cls_token and the blocks' Linear
// weights ~ N(0, 0.02^2) truncated at +-2 std, zero biases; the patch
// projection keeps Conv2d's default initialization, LayerNorms 1/0, and the
// attention in-projections MultiheadAttention's xavier-uniform.
#pragma once

#include <memory>
#include <string>

#include "nn/conv.h"
#include "nn/dropout.h"
#include "nn/linear.h"
#include "nn/transformer.h"

namespace wick::models {

enum class ViTPooling { Cls, Mean };

struct ViTConfig {
  int64_t image_size = 28;
  int64_t patch_size = 7;
  int64_t channels = 1;
  int64_t depth = 4;
  int64_t width = 64;
  int64_t heads = 4;
  int64_t mlp_ratio = 4;
  int64_t num_classes = 10;  // 0: no head (forward returns the features)
  ViTPooling pooling = ViTPooling::Cls;
  double dropout = 0.0;
};

class ViT : public nn::Cloneable<ViT> {
 public:
  explicit ViT(ViTConfig config);
  void reset() override;

  // images [B, C, S, S] -> every token's final hidden state [B, N (+1 class token first), W].
  Tensor tokens(const Tensor& images);
  // Pooled features [B, W].
  Tensor features(const Tensor& images);
  // Logits [B, num_classes] (the features when num_classes == 0).
  Tensor forward(const Tensor& images) override;

  int64_t num_patches() const {
    return (config.image_size / config.patch_size) * (config.image_size / config.patch_size);
  }
  std::string name() const override { return "ViT"; }
  std::string extra_repr() const override;

  ViTConfig config;
  std::shared_ptr<nn::Conv2d> patch_embed;
  Tensor cls_token;  // [1, 1, W]; undefined with mean pooling
  Tensor pos_embed;  // [1, N (+1), W]
  std::shared_ptr<nn::Dropout> dropout;
  std::shared_ptr<nn::TransformerEncoder> encoder;  // with the final LayerNorm
  std::shared_ptr<nn::Linear> head;                 // null when num_classes == 0
};

}  // namespace wick::models
