// In-place ops and autograd.
//
// An in-place op overwrites `self`. When a gradient is needed it becomes a
// node whose inputs are self's previous history and the other operands, and
// self's grad_fn moves to that node (PyTorch's "rebase history"). A formula
// that needs self's old value must save a clone() of it *before* calling
// apply_inplace. Leaves that require grad cannot be modified in place, and
// neither can views when autograd is involved (a clear error says so).
#pragma once

#include <functional>

#include "autograd/function.h"

namespace wick {

// Runs kernel() (which writes into self), bumps self's version, and records
// `backward` (gradients for {self's old value, others...}) when needed.
void apply_inplace(Tensor& self, const tensor_list& others, const char* name, const std::function<void()>& kernel,
                   autograd::BackwardFn backward, bool save_output = false);

}  // namespace wick
