// Small CNN for 28x28 images (see convnet.h).
#include "models/convnet.h"

#include "ops/elementwise.h"
#include "ops/pool.h"

namespace wick::models {

ConvNet::ConvNet(ConvNetOptions o) : options(o) {
  WICK_CHECK(o.in_channels > 0 && o.num_classes > 0 && o.channels1 > 0 && o.channels2 > 0 && o.hidden > 0,
             "ConvNet: channel, hidden and class counts must be positive");
  WICK_CHECK(o.image_size >= 4 && o.image_size % 4 == 0, "ConvNet: image_size must be a positive multiple of 4, got ",
             o.image_size);
  WICK_CHECK(o.dropout >= 0.0 && o.dropout < 1.0, "ConvNet: dropout must be in [0, 1), got ", o.dropout);
  reset();
}

void ConvNet::reset() {
  const int64_t side = options.image_size / 4;
  conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(options.in_channels, options.channels1, 3, 1, 1));
  conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(options.channels1, options.channels2, 3, 1, 1));
  fc1 = register_module("fc1", std::make_shared<nn::Linear>(options.channels2 * side * side, options.hidden));
  drop = register_module("dropout", std::make_shared<nn::Dropout>(options.dropout));
  fc2 = register_module("fc2", std::make_shared<nn::Linear>(options.hidden, options.num_classes));
}

Tensor ConvNet::features(const Tensor& x) {
  const int64_t s = options.image_size;
  WICK_CHECK(x.dim() == 4 && x.size(1) == options.in_channels && x.size(2) == s && x.size(3) == s,
             "ConvNet: expected input [N, ", options.in_channels, ", ", s, ", ", s, "], got ", shape_str(x.sizes()));
  Tensor h = max_pool2d(relu(conv1->forward(x)), {2, 2});
  h = max_pool2d(relu(conv2->forward(h)), {2, 2});
  return drop->forward(relu(fc1->forward(h.flatten(1))));
}

Tensor ConvNet::forward(const Tensor& x) { return fc2->forward(features(x)); }

}  // namespace wick::models
