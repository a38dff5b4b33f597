// Lion (see lion.h). The decoupled decay is applied as p *= 1 - lr * wd
// before the signed step, as in the authors' implementation. step_group()
// runs the same arithmetic as one fused multi-tensor kernel (ops/cpu/optim.h)
// over the group's contiguous CPU float/double parameters: bit-identical.
#include "optim/lion.h"

#include <span>
#include <type_traits>

#include "ops/cpu/optim.h"
#include "optim/fused.h"
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

namespace {

// A group's options; `decay` is computed here once for both paths so that
// they use the very same double (the compiler may contract 1 - lr * wd).
cpu::LionHyper hyper_of(const ParamGroup& g) {
  const double lr = g.lr(), wd = g.get("weight_decay");
  return {lr, g.get("beta1"), g.get("beta2"), wd, 1 - lr * wd};
}

}  // namespace

void Lion::update(Tensor& param, const Tensor& grad, StateDict& state, const ParamGroup& group) {
  const cpu::LionHyper h = hyper_of(group);
  const double lr = h.lr, beta1 = h.beta1, beta2 = h.beta2, wd = h.weight_decay;
  if (!state.contains("exp_avg")) state.insert("exp_avg", zeros_like(param));
  Tensor exp_avg = state.at("exp_avg");
  if (wd != 0) param.mul_(h.decay);  // 1 - lr * wd
  Tensor c = mul(exp_avg, beta1).add_(grad, 1 - beta1);
  param.add_(sign(c), -lr);
  exp_avg.mul_(beta2).add_(grad, 1 - beta2);
}

void Lion::step_group(const ParamGroup& group) {
  if (!fused()) return Optimizer::step_group(group);
  const cpu::LionHyper h = hyper_of(group);
  detail::FusedBatch<cpu::LionSegment> batch;
  for (Tensor p : group.params) {
    const Tensor grad = p.grad();
    if (!grad.defined()) continue;
    StateDict& state = state_of(p);
    if (!state.contains("exp_avg")) state.insert("exp_avg", zeros_like(p));
    Tensor exp_avg = state.at("exp_avg");
    if (!fusable(p, grad, {&exp_avg}) || !batch.accepts(p)) {
      update(p, grad, state, group);
      continue;
    }
    p.bump_version();  // as the composed path's in-place ops do
    exp_avg.bump_version();
    auto add = [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      batch.add(p, cpu::LionSegment<T>{p.data_ptr<T>(), grad.data_ptr<T>(), exp_avg.data_ptr<T>(), p.numel()});
    };
    if (p.dtype() == kFloat32)
      add(static_cast<float*>(nullptr));
    else
      add(static_cast<double*>(nullptr));
  }
  batch.run(h);
}

}  // namespace wick::optim
