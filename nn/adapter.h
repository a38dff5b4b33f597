// Bottleneck adapter (Houlsby et al. 2019, "Parameter-Efficient Transfer
// Learning for NLP"): a small residual MLP inserted into a frozen network,
//   adapter(x) = x + scale * up(activation(down(x))),
//   down: Linear(dim -> bottleneck), up: Linear(bottleneck -> dim).
// `up` starts at zero (weight and bias), so a freshly inserted adapter is the
// identity and training starts from the frozen network's behavior.
#pragma once

#include <memory>
#include <string>

#include "nn/linear.h"

namespace wick::nn {

class Adapter : public Cloneable<Adapter> {
 public:
  // activation: relu, gelu, gelu_tanh or silu.
  Adapter(int64_t dim, int64_t bottleneck, std::string activation = "relu", double scale = 1.0);
  void reset() override;
  // x [..., dim] -> x + scale * delta(x).
  Tensor forward(const Tensor& x) override;
  // The residual branch alone, up(activation(down(x))) (for parallel adapters).
  Tensor delta(const Tensor& x);
  std::string name() const override { return "Adapter"; }
  std::string extra_repr() const override;

  int64_t dim, bottleneck;
  std::string activation;
  double scale;
  std::shared_ptr<Linear> down, up;
};

}  // namespace wick::nn
