// Bottleneck adapter (see adapter.h).
#include "nn/adapter.h"

#include <sstream>

#include "nn/init.h"
#include "nn/transformer.h"
#include "ops/elementwise.h"

namespace wick::nn {

Adapter::Adapter(int64_t dim_, int64_t bottleneck_, std::string activation_, double scale_)
    : dim(dim_), bottleneck(bottleneck_), activation(std::move(activation_)), scale(scale_) {
  WICK_CHECK(dim > 0 && bottleneck > 0, "Adapter: dim and bottleneck must be positive, got ", dim, ", ", bottleneck);
  WICK_CHECK(activation == "relu" || activation == "gelu" || activation == "gelu_tanh" || activation == "silu",
             "Adapter: unknown activation '", activation, "' (expected relu, gelu, gelu_tanh or silu)");
  reset();
}

void Adapter::reset() {
  down = register_module("down", std::make_shared<Linear>(dim, bottleneck));
  up = register_module("up", std::make_shared<Linear>(bottleneck, dim));
  init::zeros_(up->weight);
  init::zeros_(up->bias);
}

Tensor Adapter::delta(const Tensor& x) {
  WICK_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) == dim, "Adapter: expected input [..., ", dim, "], got ",
             x.defined() ? shape_str(x.sizes()) : std::string("an undefined tensor"));
  return up->forward(apply_activation(down->forward(x), activation));
}

Tensor Adapter::forward(const Tensor& x) {
  Tensor d = delta(x);
  return add(x, scale == 1.0 ? d : mul(d, scale));
}

std::string Adapter::extra_repr() const {
  std::ostringstream s;
  s << "dim=" << dim << ", bottleneck=" << bottleneck << ", activation=" << activation;
  if (scale != 1.0) s << ", scale=" << scale;
  return s.str();
}

}  // namespace wick::nn
