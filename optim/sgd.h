// SGD with momentum, dampening, Nesterov momentum and L2 weight decay, as
// torch.optim.SGD:
//   g = grad + wd * p
//   b = g                                  at a parameter's first step
//   b = momentum * b + (1 - dampening) * g  afterwards
//   d = g + momentum * b  (nesterov)  or  d = b;   (d = g when momentum = 0)
//   p -= lr * d
// Nesterov needs momentum > 0 and dampening = 0. State per parameter:
// momentum_buffer (only when momentum != 0). Group options: lr, momentum,
// dampening, weight_decay, nesterov, maximize.
#pragma once

#include <vector>

#include "optim/optimizer.h"

namespace wick::optim {

struct SGDOptions {
  double lr = 1e-3;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
  bool maximize = false;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SGDOptions options = {});
  SGD(std::vector<ParamGroup> groups, SGDOptions options = {});

 protected:
  void check_group(const ParamGroup& group, size_t index) const override;
  void update(Tensor& param, const Tensor& grad, StateDict& state, const ParamGroup& group) override;
  // The fused multi-tensor kernel (cpu::sgd_step) for the parameters it
  // covers, update() for the others.
  void step_group(const ParamGroup& group) override;
};

}  // namespace wick::optim
