// ResNet (see resnet.h).
#include "models/resnet.h"

#include "nn/init.h"
#include "ops/elementwise.h"
#include "ops/reduction.h"

namespace wick::models {
namespace {

std::shared_ptr<nn::Conv2d> conv3x3(int64_t in, int64_t out, int64_t stride) {
  return std::make_shared<nn::Conv2d>(in, out, 3, stride, 1, 1, 1, /*bias=*/false);
}
std::shared_ptr<nn::Conv2d> conv1x1(int64_t in, int64_t out, int64_t stride) {
  return std::make_shared<nn::Conv2d>(in, out, 1, stride, 0, 1, 1, /*bias=*/false);
}

// conv1x1 + BN when the residual changes shape, else null (identity).
std::shared_ptr<nn::Sequential> make_downsample(int64_t in, int64_t out, int64_t stride) {
  if (stride == 1 && in == out) return nullptr;
  return std::make_shared<nn::Sequential>(
      nn::Sequential{conv1x1(in, out, stride), std::make_shared<nn::BatchNorm2d>(out)});
}

void check_block(const char* name, int64_t in, int64_t planes, int64_t stride) {
  WICK_CHECK(in > 0 && planes > 0 && stride > 0, name, ": in_planes, planes and stride must be positive, got ", in,
             ", ", planes, ", ", stride);
}

}  // namespace

// ---- BasicBlock -------------------------------------------------------------------

BasicBlock::BasicBlock(int64_t in, int64_t p, int64_t s) : in_planes(in), planes(p), stride(s) {
  check_block("BasicBlock", in, p, s);
  reset();
}

void BasicBlock::reset() {
  conv1 = register_module("conv1", conv3x3(in_planes, planes, stride));
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(planes));
  conv2 = register_module("conv2", conv3x3(planes, planes, 1));
  bn2 = register_module("bn2", std::make_shared<nn::BatchNorm2d>(planes));
  downsample = make_downsample(in_planes, planes * expansion, stride);
  if (downsample) register_module("downsample", downsample);
}

Tensor BasicBlock::forward(const Tensor& x) {
  Tensor out = conv2->forward(bn1->forward_relu(conv1->forward(x)));
  return bn2->forward_relu(out, downsample ? downsample->forward(x) : x);
}

// ---- Bottleneck ---------------------------------------------------------------------

Bottleneck::Bottleneck(int64_t in, int64_t p, int64_t s) : in_planes(in), planes(p), stride(s) {
  check_block("Bottleneck", in, p, s);
  reset();
}

void Bottleneck::reset() {
  conv1 = register_module("conv1", conv1x1(in_planes, planes, 1));
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(planes));
  conv2 = register_module("conv2", conv3x3(planes, planes, stride));
  bn2 = register_module("bn2", std::make_shared<nn::BatchNorm2d>(planes));
  conv3 = register_module("conv3", conv1x1(planes, planes * expansion, 1));
  bn3 = register_module("bn3", std::make_shared<nn::BatchNorm2d>(planes * expansion));
  downsample = make_downsample(in_planes, planes * expansion, stride);
  if (downsample) register_module("downsample", downsample);
}

Tensor Bottleneck::forward(const Tensor& x) {
  Tensor out = bn1->forward_relu(conv1->forward(x));
  out = conv3->forward(bn2->forward_relu(conv2->forward(out)));
  return bn3->forward_relu(out, downsample ? downsample->forward(x) : x);
}

// ---- ResNet -------------------------------------------------------------------------

ResNet::ResNet(ResNetBlock b, std::vector<int64_t> n, ResNetOptions o) : block(b), blocks(std::move(n)), options(o) {
  WICK_CHECK(blocks.size() == 4, "ResNet: expected 4 block counts (layer1..layer4), got ", blocks.size());
  for (int64_t k : blocks) WICK_CHECK(k > 0, "ResNet: block counts must be positive, got ", shape_str(blocks));
  WICK_CHECK(o.width > 0 && o.in_channels > 0 && o.num_classes >= 0,
             "ResNet: width and in_channels must be positive and num_classes non-negative, got width=", o.width,
             ", in_channels=", o.in_channels, ", num_classes=", o.num_classes);
  reset();
}

int64_t ResNet::feature_dim() const {
  return options.width * 8 * (block == ResNetBlock::Basic ? BasicBlock::expansion : Bottleneck::expansion);
}

void ResNet::reset() {
  const int64_t w = options.width;
  if (options.small_input)
    conv1 = register_module("conv1", conv3x3(options.in_channels, w, 1));
  else
    conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(options.in_channels, w, 7, 2, 3, 1, 1, false));
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(w));
  maxpool = options.small_input ? nullptr : register_module("maxpool", std::make_shared<nn::MaxPool2d>(3, 2, 1));

  int64_t in = w;
  auto make_layer = [&](const std::string& name, int64_t planes, int64_t count, int64_t stride) {
    auto layer = std::make_shared<nn::Sequential>();
    for (int64_t i = 0; i < count; ++i) {
      const int64_t s = i == 0 ? stride : 1;
      if (block == ResNetBlock::Basic) {
        layer->push_back(std::make_shared<BasicBlock>(in, planes, s));
        in = planes * BasicBlock::expansion;
      } else {
        layer->push_back(std::make_shared<Bottleneck>(in, planes, s));
        in = planes * Bottleneck::expansion;
      }
    }
    return register_module(name, layer);
  };
  layer1 = make_layer("layer1", w, blocks[0], 1);
  layer2 = make_layer("layer2", 2 * w, blocks[1], 2);
  layer3 = make_layer("layer3", 4 * w, blocks[2], 2);
  layer4 = make_layer("layer4", 8 * w, blocks[3], 2);
  fc = options.num_classes > 0 ? register_module("fc", std::make_shared<nn::Linear>(in, options.num_classes))
                               : nullptr;

  // torchvision's initialization.
  apply([&](nn::Module& m) {
    if (auto* conv = dynamic_cast<nn::Conv2d*>(&m)) {
      nn::init::kaiming_normal_(conv->weight, 0.0, "fan_out", "relu");
    } else if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(&m)) {
      nn::init::ones_(bn->weight);
      nn::init::zeros_(bn->bias);
    }
  });
  if (options.zero_init_residual)
    apply([](nn::Module& m) {
      if (auto* b = dynamic_cast<BasicBlock*>(&m)) nn::init::zeros_(b->last_bn()->weight);
      if (auto* b = dynamic_cast<Bottleneck*>(&m)) nn::init::zeros_(b->last_bn()->weight);
    });
}

Tensor ResNet::features(const Tensor& x) {
  WICK_CHECK(x.dim() == 4 && x.size(1) == options.in_channels, "ResNet: expected input [N, ", options.in_channels,
             ", H, W], got ", shape_str(x.sizes()));
  Tensor h = bn1->forward_relu(conv1->forward(x));
  if (maxpool) h = maxpool->forward(h);
  h = layer4->forward(layer3->forward(layer2->forward(layer1->forward(h))));
  return mean(h, {2, 3});  // global average pool (AdaptiveAvgPool2d(1) + flatten)
}

Tensor ResNet::forward(const Tensor& x) {
  Tensor f = features(x);
  return fc ? fc->forward(f) : f;
}

std::string ResNet::extra_repr() const {
  return std::string("block=") + (block == ResNetBlock::Basic ? "basic" : "bottleneck") + ", blocks=" +
         shape_str(blocks) + ", width=" + std::to_string(options.width) +
         ", stem=" + (options.small_input ? "small" : "imagenet");
}

std::shared_ptr<ResNet> resnet18(ResNetOptions o) {
  return std::make_shared<ResNet>(ResNetBlock::Basic, std::vector<int64_t>{2, 2, 2, 2}, o);
}
std::shared_ptr<ResNet> resnet34(ResNetOptions o) {
  return std::make_shared<ResNet>(ResNetBlock::Basic, std::vector<int64_t>{3, 4, 6, 3}, o);
}
std::shared_ptr<ResNet> resnet50(ResNetOptions o) {
  return std::make_shared<ResNet>(ResNetBlock::Bottleneck, std::vector<int64_t>{3, 4, 6, 3}, o);
}

}  // namespace wick::models
