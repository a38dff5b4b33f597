// SGD (see sgd.h), operation by operation as torch.optim.SGD.
#include "optim/sgd.h"

#include "ops/elementwise.h"

namespace wick::optim {

SGD::SGD(std::vector<Tensor> params, SGDOptions options)
    : SGD(std::vector<ParamGroup>{ParamGroup(std::move(params))}, options) {}

SGD::SGD(std::vector<ParamGroup> groups, SGDOptions o)
    : Optimizer("SGD",
                {{"lr", o.lr},
                 {"momentum", o.momentum},
                 {"dampening", o.dampening},
                 {"weight_decay", o.weight_decay},
                 {"nesterov", o.nesterov ? 1.0 : 0.0},
                 {"maximize", o.maximize ? 1.0 : 0.0}},
                {}, {"momentum_buffer"}) {
  add_param_groups(std::move(groups));
}

void SGD::check_group(const ParamGroup& g, size_t index) const {
  const double lr = g.lr(), momentum = g.get("momentum"), wd = g.get("weight_decay");
  WICK_CHECK(lr >= 0, "SGD: invalid learning rate ", lr, " in param group ", index);
  WICK_CHECK(momentum >= 0, "SGD: invalid momentum ", momentum, " in param group ", index);
  WICK_CHECK(wd >= 0, "SGD: invalid weight_decay ", wd, " in param group ", index);
  WICK_CHECK(!g.flag("nesterov") || (momentum > 0 && g.get("dampening") == 0),
             "SGD: nesterov momentum requires a momentum and zero dampening (param group ", index, ")");
}

void SGD::update(Tensor& param, const Tensor& grad, StateDict& state, const ParamGroup& group) {
  const double lr = group.lr(), momentum = group.get("momentum"), wd = group.get("weight_decay");
  Tensor d = group.flag("maximize") ? neg(grad) : grad;
  if (wd != 0) d = add(d, param, wd);
  if (momentum != 0) {
    const Tensor* found = state.find("momentum_buffer");
    Tensor buf;
    if (!found) {
      buf = d.clone();
      state.insert("momentum_buffer", buf);
    } else {
      buf = *found;
      buf.mul_(momentum).add_(d, 1 - group.get("dampening"));
    }
    d = group.flag("nesterov") ? add(d, buf, momentum) : buf;
  }
  param.add_(d, -lr);
}

}  // namespace wick::optim
