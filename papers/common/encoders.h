// The encoders the papers share (vision-and-more.md conventions):
//
// SmallCnn: 4 conv layers (3x3, pad 1) 32 -> 64 -> 64 -> 128 channels with
// BatchNorm + ReLU, stride-2 on layers 2 and 4 (28 -> 14 -> 7), global average
// pooling -> features [N, 128] (about 0.15M parameters). Global average pooling
// lets it take any input size >= 8 (multi-crop at 14x14 and 28x28).
// features(x) is the representation; forward(x) = head(features(x)) when
// num_classes > 0, else features(x).
//
// tiny_vit(): models::ViT with patch 4 on 28x28, width 64, depth 2, 4 heads,
// mean pooling (the design's tiny ViT), features [N, 64].
//
// ProjectionHead: Linear(in, hidden) BN ReLU Linear(hidden, out), the SimCLR/SwAV MLP.
#pragma once

#include <memory>

#include "models/vit.h"
#include "nn/conv.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/norm.h"

namespace wick::papers {

struct SmallCnnOptions {
  int64_t in_channels = 1;
  int64_t width = 32;         // channels of layer 1; then 2w, 2w, 4w
  int64_t num_classes = 0;    // 0: no classification head
};

class SmallCnn : public nn::Cloneable<SmallCnn> {
 public:
  explicit SmallCnn(SmallCnnOptions options = {});
  void reset() override;
  Tensor features(const Tensor& x);  // [N, feature_dim()]
  Tensor forward(const Tensor& x) override;
  int64_t feature_dim() const { return 4 * options.width; }
  std::string name() const override { return "SmallCnn"; }

  SmallCnnOptions options;
  std::shared_ptr<nn::Conv2d> conv1, conv2, conv3, conv4;
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2, bn3, bn4;
  std::shared_ptr<nn::Linear> head;  // null when num_classes == 0
};

// The tiny ViT of the designs; num_classes 0 gives a feature extractor.
std::shared_ptr<models::ViT> tiny_vit(int64_t num_classes = 10, int64_t width = 64, int64_t depth = 2);

class ProjectionHead : public nn::Cloneable<ProjectionHead> {
 public:
  ProjectionHead(int64_t in, int64_t hidden, int64_t out);
  void reset() override;
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "ProjectionHead"; }

  int64_t in, hidden, out;
  std::shared_ptr<nn::Linear> fc1, fc2;
  std::shared_ptr<nn::BatchNorm1d> bn;
};

}  // namespace wick::papers
