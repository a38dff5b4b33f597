// Linear (fully connected) layer, as torch.nn.Linear: y = x W^T + b over the
// last dim of x.
//
// Initialization matches PyTorch: W ~ U(-1/sqrt(in), 1/sqrt(in)) (that is
// kaiming_uniform_ with a = sqrt(5)) and b ~ U(-1/sqrt(in), 1/sqrt(in)).
#pragma once

#include "nn/module.h"

namespace wick::nn {

class Linear : public Cloneable<Linear> {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  void reset() override;
  // Re-draws weight and bias with the default initialization.
  void reset_parameters();
  // x [..., in_features] -> [..., out_features].
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "Linear"; }
  std::string extra_repr() const override;

  int64_t in_features, out_features;
  bool has_bias;
  Tensor weight;  // [out_features, in_features]
  Tensor bias;    // [out_features]; undefined when has_bias = false
};

}  // namespace wick::nn
