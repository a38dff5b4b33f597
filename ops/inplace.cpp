#include "ops/inplace.h"

#include "ops/copy.h"

namespace wick {

void apply_inplace(Tensor& self, const tensor_list& others, const char* name, const std::function<void()>& kernel,
                   autograd::BackwardFn backward, bool save_output) {
  check_writable(self, name);
  tensor_list all = others;
  all.insert(all.begin(), self);
  const bool grad = autograd::needs_grad(all);
  Tensor prev;
  if (grad) {
    WICK_CHECK(!(self.is_leaf() && self.requires_grad()), name,
               ": a leaf tensor that requires grad is being used in an in-place operation; use the out-of-place "
               "op, or modify it under NoGradGuard (as optimizers do)");
    WICK_CHECK(!self.impl()->is_view, name,
               ": in-place modification of a view is not supported when autograd records the op (shape ",
               shape_str(self.sizes()), "); use the out-of-place op, or clone() the view first");
    // A handle carrying self's current history, to become the node's first input.
    auto impl = std::make_shared<TensorImpl>(*self.impl());
    impl->hooks.clear();
    impl->grad = Tensor();
    prev = Tensor(std::move(impl));
  }
  kernel();
  self.bump_version();
  if (grad) {
    all[0] = prev;
    autograd::record(name, all, {self}, std::move(backward), save_output);
  }
}

}  // namespace wick
