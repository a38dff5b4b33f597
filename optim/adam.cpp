// Adam and AdamW (see adam.h for the update rule). The arithmetic follows
// torch.optim's single-tensor implementation operation by operation, so that
// float64 runs agree with PyTorch to the last few bits. step_group() runs the
// same arithmetic as one fused multi-tensor kernel (ops/cpu/optim.h) over the
// group's contiguous CPU float/double parameters: bit-identical, one pass.
#include "optim/adam.h"

#include <cmath>
#include <span>
#include <type_traits>

#include "ops/creation.h"
#include "ops/cpu/optim.h"
#include "optim/fused.h"
#include "ops/elementwise.h"

namespace wick::optim {

namespace {

template <class Options>
HyperParams adam_defaults(const Options& o) {
  return {{"lr", o.lr},       {"beta1", o.beta1},     {"beta2", o.beta2},     {"eps", o.eps},
          {"weight_decay", o.weight_decay}, {"amsgrad", o.amsgrad ? 1.0 : 0.0}, {"maximize", o.maximize ? 1.0 : 0.0}};
}

std::vector<ParamGroup> one_group(std::vector<Tensor> params) { return {ParamGroup(std::move(params))}; }

// A group's options; `decay` is computed here once for both paths so that
// they use the very same double (the compiler may contract 1 - lr * wd).
cpu::AdamHyper hyper_of(const ParamGroup& g, bool decoupled) {
  const double lr = g.lr(), wd = g.get("weight_decay");
  return {lr, g.get("beta1"), g.get("beta2"), g.get("eps"), wd, 1 - lr * wd, g.flag("amsgrad"), g.flag("maximize"),
          decoupled};
}

// Creates the moments on first use (also max_exp_avg_sq when amsgrad is
// switched on after a resume), in the order the state_dict lists them.
void init_state(const Tensor& param, StateDict& state, bool amsgrad) {
  if (!state.contains("exp_avg")) {
    state.insert("exp_avg", zeros_like(param));
    state.insert("exp_avg_sq", zeros_like(param));
  }
  if (amsgrad && !state.contains("max_exp_avg_sq")) state.insert("max_exp_avg_sq", zeros_like(param));
}

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
  const cpu::AdamHyper h = hyper_of(group, decoupled_weight_decay_);
  const double lr = h.lr, beta1 = h.beta1, beta2 = h.beta2, eps = h.eps, wd = h.weight_decay;
  const bool amsgrad = h.amsgrad;
  init_state(param, state, amsgrad);
  const int64_t step = increment_step(state);

  Tensor grad = h.maximize ? neg(grad_in) : grad_in;
  if (wd != 0) {
    if (decoupled_weight_decay_)
      param.mul_(h.decay);  // 1 - lr * wd
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

void Adam::step_group(const ParamGroup& group) {
  if (!fused()) return Optimizer::step_group(group);
  const cpu::AdamHyper h = hyper_of(group, decoupled_weight_decay_);
  detail::FusedBatch<cpu::AdamSegment> batch;
  for (Tensor p : group.params) {
    const Tensor grad = p.grad();
    if (!grad.defined()) continue;
    StateDict& state = state_of(p);
    init_state(p, state, h.amsgrad);
    Tensor exp_avg = state.at("exp_avg"), exp_avg_sq = state.at("exp_avg_sq");
    Tensor max_sq = h.amsgrad ? state.at("max_exp_avg_sq") : Tensor();
    if (!fusable(p, grad, {&exp_avg, &exp_avg_sq, &max_sq}) || !batch.accepts(p)) {
      update(p, grad, state, group);
      continue;
    }
    const int64_t step = increment_step(state);
    for (const Tensor* t : {&p, &exp_avg, &exp_avg_sq, &max_sq})
      if (t->defined()) t->bump_version();  // as the composed path's in-place ops do
    auto add = [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      batch.add(p, cpu::AdamSegment<T>{p.data_ptr<T>(), grad.data_ptr<T>(), exp_avg.data_ptr<T>(),
                                       exp_avg_sq.data_ptr<T>(), max_sq.defined() ? max_sq.data_ptr<T>() : nullptr,
                                       p.numel(), step});
    };
    if (p.dtype() == kFloat32)
      add(static_cast<float*>(nullptr));
    else
      add(static_cast<double*>(nullptr));
  }
  batch.run(h);
}

}  // namespace wick::optim
