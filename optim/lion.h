// Lion (Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms"):
// the update is the sign of an interpolation between the momentum and the
// gradient, so every coordinate moves by exactly lr (plus decoupled decay):
//   c = b1 m + (1 - b1) g
//   p -= lr * (sign(c) + wd * p)
//   m = b2 m + (1 - b2) g
// One state tensor per parameter (exp_avg = m), half of Adam's memory.
// Defaults from the paper: lr 1e-4, betas (0.9, 0.99), wd 0 (use an lr 3-10x
// smaller and a wd 3-10x larger than for AdamW). Group options: lr, beta1,
// beta2, weight_decay.
#pragma once

#include <vector>

#include "optim/optimizer.h"

namespace wick::optim {

struct LionOptions {
  double lr = 1e-4;
  double beta1 = 0.9;
  double beta2 = 0.99;
  double weight_decay = 0.0;
};

class Lion : public Optimizer {
 public:
  Lion(std::vector<Tensor> params, LionOptions options = {});
  Lion(std::vector<ParamGroup> groups, LionOptions options = {});

 protected:
  void check_group(const ParamGroup& group, size_t index) const override;
  void update(Tensor& param, const Tensor& grad, StateDict& state, const ParamGroup& group) override;
  // The fused multi-tensor kernel (cpu::lion_step) for the parameters it
  // covers, update() for the others.
  void step_group(const ParamGroup& group) override;
};

}  // namespace wick::optim
