// LARS (see lars.h). The trust ratio stays a 0-d tensor on the parameter's
// device (no host synchronization per parameter).
#include "optim/lars.h"

#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/reduction.h"

namespace wick::optim {

LARS::LARS(std::vector<Tensor> params, LARSOptions options)
    : LARS(std::vector<ParamGroup>{ParamGroup(std::move(params))}, options) {}

LARS::LARS(std::vector<ParamGroup> groups, LARSOptions o)
    : Optimizer("LARS",
                {{"lr", o.lr},
                 {"momentum", o.momentum},
                 {"weight_decay", o.weight_decay},
                 {"eta", o.eta},
                 {"nesterov", o.nesterov ? 1.0 : 0.0},
                 {"exclude", o.exclude ? 1.0 : 0.0}},
                {"momentum_buffer"}) {
  add_param_groups(std::move(groups));
}

void LARS::check_group(const ParamGroup& g, size_t index) const {
  const double lr = g.lr(), momentum = g.get("momentum"), wd = g.get("weight_decay"), eta = g.get("eta");
  WICK_CHECK(lr >= 0, "LARS: invalid learning rate ", lr, " in param group ", index);
  WICK_CHECK(momentum >= 0, "LARS: invalid momentum ", momentum, " in param group ", index);
  WICK_CHECK(wd >= 0, "LARS: invalid weight_decay ", wd, " in param group ", index);
  WICK_CHECK(eta > 0, "LARS: invalid eta ", eta, " in param group ", index);
}

void LARS::update(Tensor& param, const Tensor& grad, StateDict& state, const ParamGroup& group) {
  const double lr = group.lr(), momentum = group.get("momentum"), wd = group.get("weight_decay"),
               eta = group.get("eta");
  Tensor d = grad;
  if (!group.flag("exclude")) {
    Tensor w_norm = norm(param), g_norm = norm(grad);
    Tensor ratio = div(mul(w_norm, eta), add(g_norm, w_norm, wd));
    Tensor trust = where(logical_and(gt(w_norm, 0.0), gt(g_norm, 0.0)), ratio, 1.0);
    if (wd != 0) d = add(d, param, wd);
    d = mul(d, trust);
  }
  if (!state.contains("momentum_buffer")) state.insert("momentum_buffer", zeros_like(param));
  Tensor buf = state.at("momentum_buffer");
  buf.mul_(momentum).add_(d, lr);
  if (group.flag("nesterov"))
    param.sub_(add(mul(buf, momentum), d, lr));
  else
    param.sub_(buf);
}

}  // namespace wick::optim
