// Dropout, as torch.nn.Dropout (Srivastava et al. 2014, "inverted" form):
// in training each element is zeroed with probability p and the survivors are
// scaled by 1/(1-p), so the expectation is unchanged; in eval() it is the
// identity.
#pragma once

#include "nn/module.h"

namespace wick::nn {

class Dropout : public Cloneable<Dropout> {
 public:
  explicit Dropout(double p = 0.5);
  void reset() override {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "Dropout"; }
  std::string extra_repr() const override;

  double p;
};

}  // namespace wick::nn
