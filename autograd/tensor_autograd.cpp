// The autograd methods of Tensor: requires_grad, grad, backward, detach,
// retain_grad and hooks.
#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "tensor/tensor.h"

namespace wick {

bool Tensor::requires_grad() const { return impl_ && (impl_->requires_grad || impl_->grad_fn); }

Tensor& Tensor::requires_grad_(bool on) {
  WICK_CHECK(defined(), "requires_grad_: undefined tensor");
  WICK_CHECK(is_leaf() || on, "requires_grad_: you can only change requires_grad flags of leaf tensors; "
             "use detach() to get a tensor that does not require grad");
  WICK_CHECK(!on || is_floating(dtype()), "requires_grad_: only tensors of floating point dtype can require "
             "gradients, got ", dtype());
  impl_->requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return impl_ ? impl_->grad : Tensor(); }

void Tensor::set_grad(const Tensor& g) const {
  WICK_CHECK(defined(), "set_grad: undefined tensor");
  WICK_CHECK(!g.defined() || g.sizes() == sizes(), "set_grad: assigned grad has shape ", shape_str(g.sizes()),
             " but the tensor has shape ", shape_str(sizes()));
  impl_->grad = g;
}

const std::shared_ptr<autograd::Node>& Tensor::grad_fn() const {
  static const std::shared_ptr<autograd::Node> none;
  return impl_ ? impl_->grad_fn : none;
}

uint32_t Tensor::output_nr() const { return impl_ ? impl_->output_nr : 0; }
bool Tensor::is_leaf() const { return !impl_ || !impl_->grad_fn; }

void Tensor::backward(const Tensor& gradient, bool retain_graph, bool create_graph) const {
  autograd::backward({*this}, gradient.defined() ? tensor_list{gradient} : tensor_list{}, retain_graph || create_graph,
                     create_graph);
}

Tensor Tensor::detach() const {
  WICK_CHECK(defined(), "detach: undefined tensor");
  Tensor t = make_tensor(storage(), sizes(), strides(), offset(), dtype());
  t.impl()->is_view = impl_->is_view;
  return t;
}

Tensor& Tensor::detach_() {
  WICK_CHECK(defined(), "detach_: undefined tensor");
  impl_->grad_fn.reset();
  impl_->requires_grad = false;
  impl_->output_nr = 0;
  return *this;
}

void Tensor::set_data(const Tensor& data) const {
  WICK_CHECK(defined() && data.defined(), "set_data: undefined tensor");
  WICK_CHECK(is_leaf(), "set_data: only leaf tensors (parameters, buffers) can have their data replaced");
  const bool keep_grad = impl_->grad.defined() && impl_->grad.dtype() == data.dtype() &&
                         impl_->grad.device() == data.device() && impl_->grad.sizes() == data.sizes();
  impl_->storage = data.storage();
  impl_->sizes = data.sizes();
  impl_->strides = data.strides();
  impl_->offset = data.offset();
  impl_->dtype = data.dtype();
  impl_->is_view = false;
  if (!keep_grad) impl_->grad = Tensor();
  bump_version();
}

void Tensor::retain_grad() const {
  WICK_CHECK(requires_grad(), "retain_grad: can't retain_grad on a tensor that doesn't require gradient");
  if (is_leaf() || impl_->retains_grad) return;
  impl_->grad_fn->retained.emplace_back(impl_->output_nr, impl_);
  impl_->retains_grad = true;
}

bool Tensor::retains_grad() const { return impl_ && impl_->retains_grad; }

int Tensor::register_hook(GradHook fn) const {
  WICK_CHECK(requires_grad(), "register_hook: cannot register a hook on a tensor that doesn't require gradient");
  int handle = autograd::next_hook_handle();
  if (is_leaf())
    impl_->hooks.emplace_back(handle, std::move(fn));
  else
    impl_->grad_fn->hooks.push_back({impl_->output_nr, handle, std::move(fn)});
  return handle;
}

void Tensor::remove_hook(int handle) const {
  if (!impl_) return;
  std::erase_if(impl_->hooks, [handle](const auto& h) { return h.first == handle; });
  if (impl_->grad_fn) std::erase_if(impl_->grad_fn->hooks, [handle](const auto& h) { return h.handle == handle; });
}

}  // namespace wick
