// The backward engine: runs a graph of Nodes in dependency order.
//
// backward() accumulates into the .grad of the leaves; grad() returns the
// gradients w.r.t. chosen inputs without touching any .grad (and runs only
// the part of the graph that leads to them). With create_graph=true the
// backward formulas are themselves recorded, for higher-order gradients.
// The traversal is iterative: graph depth is limited by memory, not stack.
#pragma once

#include <functional>
#include <optional>

#include "tensor/tensor.h"

namespace wick::autograd {

// torch.autograd.backward
void backward(const tensor_list& tensors, const tensor_list& grad_tensors = {},
              std::optional<bool> retain_graph = {}, bool create_graph = false);

// torch.autograd.grad. grad_outputs may be empty for one-element outputs.
// With allow_unused=false, an input the outputs do not depend on is an error;
// with true, its gradient is an undefined Tensor.
tensor_list grad(const tensor_list& outputs, const tensor_list& inputs, const tensor_list& grad_outputs = {},
                 std::optional<bool> retain_graph = {}, bool create_graph = false, bool allow_unused = false);

// Runs `fn` once the backward pass that is running on this thread has
// finished (after every node, in the order queued; PyTorch's
// Variable._execution_engine.queue_callback). Called from a hook during
// backward; outside one it throws. If the pass throws, its callbacks are dropped.
void queue_callback(std::function<void()> fn);

}  // namespace wick::autograd
