#include "optim/adam.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "ops/creation.h"
#include "ops/elementwise.h"

namespace wick::optim {

Adam::Adam(std::vector<Tensor> params, AdamOptions options) : params_(std::move(params)), options_(options) {
  WICK_CHECK(options_.lr >= 0, "Adam: invalid learning rate ", options_.lr);
  WICK_CHECK(options_.beta1 >= 0 && options_.beta1 < 1 && options_.beta2 >= 0 && options_.beta2 < 1,
             "Adam: betas must be in [0, 1), got (", options_.beta1, ", ", options_.beta2, ")");
  WICK_CHECK(options_.eps >= 0, "Adam: invalid eps ", options_.eps);
  for (size_t i = 0; i < params_.size(); ++i) {
    WICK_CHECK(params_[i].defined() && params_[i].is_leaf() && params_[i].requires_grad(), "Adam: parameter ", i,
               " must be a leaf tensor that requires grad");
    exp_avg_.push_back(zeros_like(params_[i]));
    exp_avg_sq_.push_back(zeros_like(params_[i]));
  }
}

void Adam::step() {
  NoGradGuard no_grad;
  ++step_;
  const AdamOptions& o = options_;
  const double c1 = 1 - std::pow(o.beta1, static_cast<double>(step_));
  const double c2 = 1 - std::pow(o.beta2, static_cast<double>(step_));
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor g = params_[i].grad();
    if (!g.defined()) continue;
    if (o.weight_decay != 0) g = add(g, params_[i], o.weight_decay);
    exp_avg_[i].mul_(o.beta1).add_(g, 1 - o.beta1);
    exp_avg_sq_[i].mul_(o.beta2).add_(mul(g, g), 1 - o.beta2);
    Tensor denom = add(sqrt(div(exp_avg_sq_[i], c2)), o.eps);
    params_[i].sub_(div(exp_avg_[i], denom), o.lr / c1);
  }
}

void Adam::zero_grad() {
  for (Tensor& p : params_) p.set_grad(Tensor());
}

}  // namespace wick::optim
