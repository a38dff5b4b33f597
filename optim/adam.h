// Adam (Kingma & Ba, 2015), with PyTorch's defaults and bias correction:
//   m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2
//   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
// weight_decay adds wd * p to g (L2, as torch.optim.Adam does).
// The optimizer family (param groups, AdamW, SGD, Lion, schedulers,
// state_dict) grows around this in optim/.
#pragma once

#include <vector>

#include "tensor/tensor.h"

namespace wick::optim {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

class Adam {
 public:
  Adam(std::vector<Tensor> params, AdamOptions options = {});
  // One update from the parameters' .grad (parameters without a grad are skipped).
  void step();
  // Clears every parameter's .grad.
  void zero_grad();
  const AdamOptions& options() const { return options_; }

 private:
  std::vector<Tensor> params_, exp_avg_, exp_avg_sq_;
  AdamOptions options_;
  int64_t step_ = 0;
};

}  // namespace wick::optim
