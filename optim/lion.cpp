// Lion (see lion.h). The decoupled decay is applied as p *= 1 - lr * wd
// before the signed step, as in the authors' implementation.
#include "optim/lion.h"

#include "ops/creation.h"
#include "ops/elementwise.h"

namespace wick::optim {

Lion::Lion(std::vector<Tensor> params, LionOptions options)
    : Lion(std::vector<ParamGroup>{ParamGroup(std::move(params))}, options) {}

Lion::Lion(std::vector<ParamGroup> groups, LionOptions o)
    : Optimizer("Lion", {{"lr", o.lr}, {"beta1", o.beta1}, {"beta2", o.beta2}, {"weight_decay", o.weight_decay}},
                {"exp_avg"}) {
  add_param_groups(std::move(groups));
}

void Lion::check_group(const ParamGroup& g, size_t index) const {
  const double lr = g.lr(), b1 = g.get("beta1"), b2 = g.get("beta2"), wd = g.get("weight_decay");
  WICK_CHECK(lr >= 0, "Lion: invalid learning rate ", lr, " in param group ", index);
  WICK_CHECK(b1 >= 0 && b1 <= 1 && b2 >= 0 && b2 <= 1, "Lion: betas must be in [0, 1], got (", b1, ", ", b2,
             ") in param group ", index);
  WICK_CHECK(wd >= 0, "Lion: invalid weight_decay ", wd, " in param group ", index);
}

void Lion::update(Tensor& param, const Tensor& grad, StateDict& state, const ParamGroup& group) {
  const double lr = group.lr(), beta1 = group.get("beta1"), beta2 = group.get("beta2"),
               wd = group.get("weight_decay");
  if (!state.contains("exp_avg")) state.insert("exp_avg", zeros_like(param));
  Tensor exp_avg = state.at("exp_avg");
  if (wd != 0) param.mul_(1 - lr * wd);
  Tensor c = mul(exp_avg, beta1).add_(grad, 1 - beta1);
  param.add_(sign(c), -lr);
  exp_avg.mul_(beta2).add_(grad, 1 - beta2);
}

}  // namespace wick::optim
