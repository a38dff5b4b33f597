// The shared encoders of the papers (see encoders.h).
#include "papers/common/encoders.h"

#include "ops/elementwise.h"
#include "ops/reduction.h"

namespace wick::papers {

// ---- SmallCnn ---------------------------------------------------------------

SmallCnn::SmallCnn(SmallCnnOptions o) : options(o) {
  WICK_CHECK(o.in_channels > 0 && o.width > 0 && o.num_classes >= 0,
             "SmallCnn: in_channels and width must be positive and num_classes >= 0, got ", o.in_channels, ", ",
             o.width, ", ", o.num_classes);
  reset();
}

void SmallCnn::reset() {
  const int64_t w = options.width;
  // Convolutions without bias: each is followed by BatchNorm, whose shift
  // makes a bias redundant. Parameters: 9 (in w + 2w^2 + 4w^2 + 8w^2) for the
  // convolutions, 2 (w + 2w + 2w + 4w) for the BatchNorm affines, 4w K + K for the head.
  conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(options.in_channels, w, 3, 1, 1, 1, 1, false));
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(w));
  conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(w, 2 * w, 3, 2, 1, 1, 1, false));
  bn2 = register_module("bn2", std::make_shared<nn::BatchNorm2d>(2 * w));
  conv3 = register_module("conv3", std::make_shared<nn::Conv2d>(2 * w, 2 * w, 3, 1, 1, 1, 1, false));
  bn3 = register_module("bn3", std::make_shared<nn::BatchNorm2d>(2 * w));
  conv4 = register_module("conv4", std::make_shared<nn::Conv2d>(2 * w, 4 * w, 3, 2, 1, 1, 1, false));
  bn4 = register_module("bn4", std::make_shared<nn::BatchNorm2d>(4 * w));
  head = options.num_classes > 0 ? register_module("head", std::make_shared<nn::Linear>(4 * w, options.num_classes))
                                 : nullptr;
}

Tensor SmallCnn::features(const Tensor& x) {
  WICK_CHECK(x.dim() == 4 && x.size(1) == options.in_channels && x.size(2) >= 8 && x.size(3) >= 8,
             "SmallCnn: expected input [N, ", options.in_channels, ", H >= 8, W >= 8], got ", shape_str(x.sizes()));
  Tensor h = relu(bn1->forward(conv1->forward(x)));
  h = relu(bn2->forward(conv2->forward(h)));
  h = relu(bn3->forward(conv3->forward(h)));
  h = relu(bn4->forward(conv4->forward(h)));
  return mean(h, {2, 3});  // global average pooling: any input size
}

Tensor SmallCnn::forward(const Tensor& x) {
  Tensor f = features(x);
  return head ? head->forward(f) : f;
}

// ---- tiny ViT -----------------------------------------------------------------

std::shared_ptr<models::ViT> tiny_vit(int64_t num_classes, int64_t width, int64_t depth) {
  models::ViTConfig c;
  c.image_size = 28;
  c.patch_size = 4;
  c.channels = 1;
  c.depth = depth;
  c.width = width;
  c.heads = 4;
  c.mlp_ratio = 4;
  c.num_classes = num_classes;
  c.pooling = models::ViTPooling::Mean;
  return std::make_shared<models::ViT>(c);
}

// ---- projection head ------------------------------------------------------------

ProjectionHead::ProjectionHead(int64_t in_, int64_t hidden_, int64_t out_) : in(in_), hidden(hidden_), out(out_) {
  WICK_CHECK(in > 0 && hidden > 0 && out > 0, "ProjectionHead: sizes must be positive, got ", in, ", ", hidden, ", ",
             out);
  reset();
}

void ProjectionHead::reset() {
  fc1 = register_module("fc1", std::make_shared<nn::Linear>(in, hidden));
  bn = register_module("bn", std::make_shared<nn::BatchNorm1d>(hidden));
  fc2 = register_module("fc2", std::make_shared<nn::Linear>(hidden, out));
}

Tensor ProjectionHead::forward(const Tensor& x) { return fc2->forward(relu(bn->forward(fc1->forward(x)))); }

}  // namespace wick::papers
