// Adam (Kingma & Ba, 2015) as torch.optim.Adam, with bias correction:
//   g = grad (+ wd * p, L2 decay folded into the gradient)
//   m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2           (t = this parameter's step)
//   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// amsgrad (Reddi et al., 2018) uses the running maximum of v in the
// denominator. State per parameter: step, exp_avg (m), exp_avg_sq (v) and,
// with amsgrad, max_exp_avg_sq. Group options: lr, beta1, beta2, eps,
// weight_decay, amsgrad, maximize.
//
// AdamW (Loshchilov & Hutter, 2019) as torch.optim.AdamW: the same moments,
// but the weight decay is decoupled from the gradient and applied to the
// parameter before the Adam step: p *= 1 - lr * wd. Default wd = 0.01.
#pragma once

#include <vector>

#include "optim/optimizer.h"

namespace wick::optim {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool amsgrad = false;
  bool maximize = false;
};

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
  bool amsgrad = false;
  bool maximize = false;
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, AdamOptions options = {});
  Adam(std::vector<ParamGroup> groups, AdamOptions options = {});

 protected:
  // For AdamW: the same algorithm with decoupled weight decay.
  Adam(std::string name, HyperParams defaults, std::vector<ParamGroup> groups, bool decoupled_weight_decay);
  void check_group(const ParamGroup& group, size_t index) const override;
  void update(Tensor& param, const Tensor& grad, StateDict& state, const ParamGroup& group) override;
  // The fused multi-tensor kernel (cpu::adam_step) for the parameters it
  // covers, update() for the others.
  void step_group(const ParamGroup& group) override;

 private:
  bool decoupled_weight_decay_;
};

class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, AdamWOptions options = {});
  AdamW(std::vector<ParamGroup> groups, AdamWOptions options = {});
};

}  // namespace wick::optim
