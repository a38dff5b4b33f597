// Multi-layer perceptron: Linear -> activation [-> Dropout] for each hidden
// width, then a final Linear to the outputs (no activation on the output).
//
//   MLP(784, {256, 128}, 10): 784 -> 256 -> act -> 128 -> act -> 10
//
// Parameters: sum over consecutive widths (d_i, d_{i+1}) of d_i d_{i+1} + d_{i+1}.
// The layers live in a Sequential named "layers", so state_dict keys are
// "layers.0.weight", ... as for torchvision.ops.MLP's numbering.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/container.h"
#include "nn/module.h"

namespace wick::models {

class MLP : public nn::Cloneable<MLP> {
 public:
  // activation: a name accepted by nn::make_activation ("relu", "gelu", "tanh", ...).
  MLP(int64_t in_features, std::vector<int64_t> hidden, int64_t out_features, std::string activation = "relu",
      double dropout = 0.0);
  void reset() override;
  // x [..., in_features] -> [..., out_features].
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "MLP"; }

  int64_t in_features;
  std::vector<int64_t> hidden;
  int64_t out_features;
  std::string activation;
  double dropout;
  std::shared_ptr<nn::Sequential> layers;
};

}  // namespace wick::models
