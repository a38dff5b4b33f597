// SGD (see sgd.h), operation by operation as torch.optim.SGD. step_group()
// runs the same arithmetic as one fused multi-tensor kernel (ops/cpu/optim.h)
// over the group's contiguous CPU float/double parameters: bit-identical.
#include "optim/sgd.h"

#include <span>
#include <type_traits>

#include "ops/cpu/optim.h"
#include "optim/fused.h"
#include "ops/creation.h"
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

void SGD::step_group(const ParamGroup& group) {
  if (!fused()) return Optimizer::step_group(group);
  const cpu::SgdHyper h{group.lr(),           group.get("momentum"), group.get("dampening"),
                        group.get("weight_decay"), group.flag("nesterov"), group.flag("maximize")};
  detail::FusedBatch<cpu::SgdSegment> batch;
  for (Tensor p : group.params) {
    const Tensor grad = p.grad();
    if (!grad.defined()) continue;
    StateDict& state = state_of(p);
    Tensor buf;
    if (h.momentum != 0)
      if (const Tensor* found = state.find("momentum_buffer")) buf = *found;
    if (!fusable(p, grad, {&buf}) || !batch.accepts(p)) {
      update(p, grad, state, group);
      continue;
    }
    const bool init = h.momentum != 0 && !buf.defined();
    if (init) {
      buf = empty_like(p);  // the kernel sets it to the gradient, as the composed path's clone
      state.insert("momentum_buffer", buf);
    }
    p.bump_version();  // as the composed path's in-place ops do
    if (buf.defined()) buf.bump_version();
    auto add = [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      batch.add(p, cpu::SgdSegment<T>{p.data_ptr<T>(), grad.data_ptr<T>(), buf.defined() ? buf.data_ptr<T>() : nullptr,
                                      p.numel(), init});
    };
    if (p.dtype() == kFloat32)
      add(static_cast<float*>(nullptr));
    else
      add(static_cast<double*>(nullptr));
  }
  batch.run(h);
}

}  // namespace wick::optim
