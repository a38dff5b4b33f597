// Adam and AdamW (see adam.h for the update rule). The arithmetic follows
// torch.optim's single-tensor implementation operation by operation, so that
// float64 runs agree with PyTorch to the last few bits.
#include "optim/adam.h"

#include <cmath>

#include "ops/creation.h"
#include "ops/elementwise.h"

namespace wick::optim {

namespace {

template <class Options>
HyperParams adam_defaults(const Options& o) {
  return {{"lr", o.lr},       {"beta1", o.beta1},     {"beta2", o.beta2},     {"eps", o.eps},
          {"weight_decay", o.weight_decay}, {"amsgrad", o.amsgrad ? 1.0 : 0.0}, {"maximize", o.maximize ? 1.0 : 0.0}};
}

std::vector<ParamGroup> one_group(std::vector<Tensor> params) { return {ParamGroup(std::move(params))}; }

}  // namespace

Adam::Adam(std::vector<Tensor> params, AdamOptions options) : Adam(one_group(std::move(params)), options) {}

Adam::Adam(std::vector<ParamGroup> groups, AdamOptions options)
    : Adam("Adam", adam_defaults(options), std::move(groups), false) {}

Adam::Adam(std::string name, HyperParams defaults, std::vector<ParamGroup> groups, bool decoupled_weight_decay)
    : Optimizer(std::move(name), std::move(defaults), {"step", "exp_avg", "exp_avg_sq"}, {"max_exp_avg_sq"}),
      decoupled_weight_decay_(decoupled_weight_decay) {
  add_param_groups(std::move(groups));
}

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions options) : AdamW(one_group(std::move(params)), options) {}

AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions options)
    : Adam("AdamW", adam_defaults(options), std::move(groups), true) {}

void Adam::check_group(const ParamGroup& g, size_t index) const {
  const double lr = g.lr(), b1 = g.get("beta1"), b2 = g.get("beta2"), eps = g.get("eps"), wd = g.get("weight_decay");
  WICK_CHECK(lr >= 0, name(), ": invalid learning rate ", lr, " in param group ", index);
  WICK_CHECK(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1, name(), ": betas must be in [0, 1), got (", b1, ", ", b2,
             ") in param group ", index);
  WICK_CHECK(eps >= 0, name(), ": invalid eps ", eps, " in param group ", index);
  WICK_CHECK(wd >= 0, name(), ": invalid weight_decay ", wd, " in param group ", index);
}

void Adam::update(Tensor& param, const Tensor& grad_in, StateDict& state, const ParamGroup& group) {
  const double lr = group.lr(), beta1 = group.get("beta1"), beta2 = group.get("beta2"), eps = group.get("eps"),
               wd = group.get("weight_decay");
  const bool amsgrad = group.flag("amsgrad");
  if (!state.contains("exp_avg")) {
    state.insert("exp_avg", zeros_like(param));
    state.insert("exp_avg_sq", zeros_like(param));
  }
  // Created on first use, also when amsgrad is switched on after a resume.
  if (amsgrad && !state.contains("max_exp_avg_sq")) state.insert("max_exp_avg_sq", zeros_like(param));
  const int64_t step = increment_step(state);

  Tensor grad = group.flag("maximize") ? neg(grad_in) : grad_in;
  if (wd != 0) {
    if (decoupled_weight_decay_)
      param.mul_(1 - lr * wd);
    else
      grad = add(grad, param, wd);
  }
  Tensor exp_avg = state.at("exp_avg"), exp_avg_sq = state.at("exp_avg_sq");
  exp_avg.mul_(beta1).add_(grad, 1 - beta1);
  exp_avg_sq.mul_(beta2).add_(mul(grad, grad), 1 - beta2);

  const double t = static_cast<double>(step);
  const double bias_correction1 = 1 - std::pow(beta1, t);
  const double bias_correction2_sqrt = std::sqrt(1 - std::pow(beta2, t));
  Tensor second = exp_avg_sq;
  if (amsgrad) {
    Tensor max_sq = state.at("max_exp_avg_sq");
    max_sq.copy_(maximum(max_sq, exp_avg_sq));
    second = max_sq;
  }
  Tensor denom = div(sqrt(second), bias_correction2_sqrt).add_(eps);
  param.add_(div(exp_avg, denom), -lr / bias_correction1);
}

}  // namespace wick::optim
