// ResNet (He et al. 2016, "Deep Residual Learning for Image Recognition"),
// laid out as torchvision's so state_dict keys match ("layer2.0.downsample.0.weight").
//
//   stem     ImageNet: conv7x7(in -> w, stride 2, pad 3) BN ReLU maxpool3x3(stride 2, pad 1)
//            small_input (28x28 / 32x32): conv3x3(in -> w, stride 1, pad 1) BN ReLU, no max-pool
//   layer1..layer4   blocks[i] residual blocks with planes w, 2w, 4w, 8w; the first block of
//                    layer2..4 has stride 2 (halves the resolution)
//   features = global average pool -> [N, 8w * expansion];  forward = fc(features) -> logits
//
// BasicBlock (expansion 1):  relu(bn2(conv3x3(relu(bn1(conv3x3_s(x))))) + shortcut(x))
// Bottleneck (expansion 4):  1x1 reduce -> 3x3 (stride here, "ResNet v1.5" as torchvision)
//                            -> 1x1 expand to 4 planes, + shortcut
// shortcut = identity, or conv1x1(stride) + BN when the shape changes.
// Initialization as torchvision: convs kaiming_normal_(fan_out, relu), BN weight 1 bias 0,
// fc PyTorch's Linear default; zero_init_residual zeroes each block's last BN weight so
// every block starts as the identity (Goyal et al. 2017).
//
// Parameters (basic blocks, width w, input channels c, k classes, no bias in convs):
//   stem conv k_s^2 c w + BN 2w;  block(in, p, s): 9 in p + 9 p^2 + 4p [+ in p + 2p if in != p or s != 1];
//   fc 8w k + k.  resnet18 (ImageNet stem, 3 -> 1000) = 11,689,512; resnet50 = 25,557,032.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/container.h"
#include "nn/conv.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/norm.h"
#include "nn/pooling.h"

namespace wick::models {

class BasicBlock : public nn::Cloneable<BasicBlock> {
 public:
  static constexpr int64_t expansion = 1;
  BasicBlock(int64_t in_planes, int64_t planes, int64_t stride = 1);
  void reset() override;
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "BasicBlock"; }
  // The BN whose weight zero_init_residual zeroes.
  std::shared_ptr<nn::BatchNorm2d> last_bn() const { return bn2; }

  int64_t in_planes, planes, stride;
  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2;
  std::shared_ptr<nn::Sequential> downsample;  // null for an identity shortcut
};

class Bottleneck : public nn::Cloneable<Bottleneck> {
 public:
  static constexpr int64_t expansion = 4;
  Bottleneck(int64_t in_planes, int64_t planes, int64_t stride = 1);
  void reset() override;
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "Bottleneck"; }
  std::shared_ptr<nn::BatchNorm2d> last_bn() const { return bn3; }

  int64_t in_planes, planes, stride;
  std::shared_ptr<nn::Conv2d> conv1, conv2, conv3;
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<nn::Sequential> downsample;
};

enum class ResNetBlock { Basic, Bottleneck };

struct ResNetOptions {
  int64_t num_classes = 1000;       // 0: no fc, forward() returns the features
  int64_t in_channels = 3;
  bool small_input = false;         // 3x3 stride-1 stem without max-pool (28x28, 32x32 inputs)
  int64_t width = 64;               // planes of layer1; layer i has width * 2^(i-1)
  bool zero_init_residual = false;  // zero the last BN weight of every block
};

class ResNet : public nn::Cloneable<ResNet> {
 public:
  // blocks: the number of blocks in layer1..layer4, e.g. {2, 2, 2, 2} for ResNet-18.
  ResNet(ResNetBlock block, std::vector<int64_t> blocks, ResNetOptions options = {});
  void reset() override;
  // x [N, in_channels, H, W] -> the pooled embedding [N, feature_dim()].
  Tensor features(const Tensor& x);
  // Logits [N, num_classes] (the features when num_classes == 0).
  Tensor forward(const Tensor& x) override;
  int64_t feature_dim() const;
  std::string name() const override { return "ResNet"; }
  std::string extra_repr() const override;

  ResNetBlock block;
  std::vector<int64_t> blocks;
  ResNetOptions options;
  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> bn1;
  std::shared_ptr<nn::MaxPool2d> maxpool;  // null with small_input
  std::shared_ptr<nn::Sequential> layer1, layer2, layer3, layer4;
  std::shared_ptr<nn::Linear> fc;  // null when num_classes == 0
};

std::shared_ptr<ResNet> resnet18(ResNetOptions options = {});
std::shared_ptr<ResNet> resnet34(ResNetOptions options = {});
std::shared_ptr<ResNet> resnet50(ResNetOptions options = {});

}  // namespace wick::models
