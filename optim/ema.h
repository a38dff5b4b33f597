// Exponential moving average of parameters: the momentum encoder of MoCo and
// BYOL, the teacher of DINO, "EMA weights" for evaluation.
//   target = decay * target + (1 - decay) * source     (every parameter)
//   target buffer = source buffer                       (BatchNorm statistics, ...)
// The target is a separate model with the source's structure, usually made by
// `auto teacher = nn::clone(student); teacher->requires_grad_(false);`.
// Updates run under no_grad and modify the target's tensors in place.
#pragma once

#include <vector>

#include "nn/module.h"
#include "tensor/tensor.h"

namespace wick::optim {

class EMA {
 public:
  // Pairs the modules' parameters and buffers by name; both must have the
  // same names and shapes (throws naming the first difference).
  EMA(const nn::Module& source, nn::Module& target);
  // Tensor lists paired by position (parameters only; no buffers).
  EMA(std::vector<Tensor> source, std::vector<Tensor> target);

  // One update with decay in [0, 1] (0 copies the source, 1 keeps the target).
  void update(double decay);
  // target = source for everything (start of training, as MoCo/BYOL do).
  void copy_source();

 private:
  std::vector<Tensor> source_params_, target_params_, source_buffers_, target_buffers_;
};

}  // namespace wick::optim
