// A small CNN for 28x28 images (Fashion-MNIST), the network of
// examples/train_cnn.cpp as a module:
//
//   conv3x3(in -> c1, pad 1) ReLU maxpool2      28x28 -> 14x14
//   conv3x3(c1 -> c2, pad 1) ReLU maxpool2      14x14 -> 7x7
//   flatten -> Linear(c2 * 7 * 7 -> hidden) ReLU [Dropout]      = features(x)
//   Linear(hidden -> num_classes)                                = forward(x)
//
// Defaults c1 = 32, c2 = 64, hidden = 128 (about 421k parameters for 10 classes).
// image_size must be divisible by 4.
#pragma once

#include <memory>

#include "nn/conv.h"
#include "nn/dropout.h"
#include "nn/linear.h"
#include "nn/module.h"

namespace wick::models {

struct ConvNetOptions {
  int64_t in_channels = 1;
  int64_t num_classes = 10;
  int64_t image_size = 28;
  int64_t channels1 = 32;
  int64_t channels2 = 64;
  int64_t hidden = 128;
  double dropout = 0.0;
};

class ConvNet : public nn::Cloneable<ConvNet> {
 public:
  explicit ConvNet(ConvNetOptions options = {});
  void reset() override;
  // x [N, in_channels, image_size, image_size] -> the hidden embedding [N, hidden].
  Tensor features(const Tensor& x);
  // Logits [N, num_classes].
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "ConvNet"; }

  ConvNetOptions options;
  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::Linear> fc1, fc2;
  std::shared_ptr<nn::Dropout> drop;
};

}  // namespace wick::models
