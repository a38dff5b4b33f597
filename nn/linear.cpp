// Linear layer (see linear.h).
#include "nn/linear.h"

#include <cmath>

#include "nn/init.h"
#include "ops/nn.h"

namespace wick::nn {

Linear::Linear(int64_t in_features_, int64_t out_features_, bool bias_)
    : in_features(in_features_), out_features(out_features_), has_bias(bias_) {
  WICK_CHECK(in_features >= 0 && out_features >= 0, "Linear: feature counts must be non-negative, got in_features=",
             in_features, ", out_features=", out_features);
  reset();
}

void Linear::reset() {
  weight = register_parameter("weight", empty({out_features, in_features}));
  bias = has_bias ? register_parameter("bias", empty({out_features})) : Tensor();
  reset_parameters();
}

void Linear::reset_parameters() {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const double bound = in_features > 0 ? 1.0 / std::sqrt(static_cast<double>(in_features)) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}

Tensor Linear::forward(const Tensor& x) {
  WICK_CHECK(x.dim() >= 1 && x.size(-1) == in_features, "Linear: expected input [..., ", in_features, "], got ",
             shape_str(x.sizes()));
  return linear(x, weight, bias);
}

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(in_features) + ", out_features=" + std::to_string(out_features) +
         ", bias=" + (has_bias ? "true" : "false");
}

}  // namespace wick::nn
