// Node bookkeeping, AccumulateGrad, and destruction without recursion.
//
// A graph of 100,000 chained nodes would overflow the stack if each node's
// destructor released its parent, which released its parent, and so on. Node
// destructors instead move what they own into a thread-local graveyard that
// the outermost destructor drains in a loop (PyTorch does the same).
#include "autograd/node.h"

#include <atomic>

#include "autograd/grad_mode.h"
#include "autograd/graveyard.h"
#include "ops/elementwise.h"

namespace wick::autograd {

namespace {
std::atomic<uint64_t> g_sequence_nr{0};
std::atomic<int> g_hook_handle{0};

thread_local std::vector<std::shared_ptr<void>> t_graveyard;
thread_local bool t_draining = false;
}  // namespace

void bury(std::shared_ptr<void> p) {
  if (!p) return;
  t_graveyard.push_back(std::move(p));
  if (t_draining) return;
  t_draining = true;
  while (!t_graveyard.empty()) {
    std::shared_ptr<void> victim = std::move(t_graveyard.back());
    t_graveyard.pop_back();
    victim.reset();  // may call bury() re-entrantly, which only appends
  }
  t_draining = false;
}

int next_hook_handle() { return ++g_hook_handle; }

Node::Node(std::string name) : name_(std::move(name)), sequence_nr_(g_sequence_nr++) {}
Node::Node(std::string name, uint64_t sequence_nr) : name_(std::move(name)), sequence_nr_(sequence_nr) {}

Node::~Node() {
  for (Edge& e : next_edges) bury(std::move(e.fn));
}

Tensor Node::run_hooks(uint32_t nr, Tensor grad) {
  for (const Hook& h : hooks) {
    if (h.nr != nr) continue;
    Tensor r = h.fn(grad);
    if (r.defined()) grad = r;
  }
  for (auto& [rnr, weak] : retained) {
    if (rnr != nr) continue;
    if (auto impl = weak.lock()) {
      Tensor g = grad.detach();
      impl->grad = impl->grad.defined() ? add(impl->grad, g) : g.clone();
    }
  }
  return grad;
}

AccumulateGrad::AccumulateGrad(std::shared_ptr<TensorImpl> leaf)
    : Node("AccumulateGrad", UINT64_MAX), leaf_(std::move(leaf)) {
  output_meta.push_back({leaf_->sizes, leaf_->dtype, leaf_->storage->device()});
}

Tensor AccumulateGrad::run_hooks(uint32_t, Tensor grad) {
  for (auto& [handle, fn] : leaf_->hooks) {
    Tensor r = fn(grad);
    if (r.defined()) grad = r;
  }
  return grad;
}

tensor_list AccumulateGrad::apply(tensor_list&& grads) {
  Tensor g = grads.at(0);
  TensorImpl& leaf = *leaf_;
  WICK_CHECK(g.sizes() == leaf.sizes, "AccumulateGrad: gradient of shape ", shape_str(g.sizes()),
             " does not match the leaf's shape ", shape_str(leaf.sizes));
  if (g.dtype() != leaf.dtype) g = g.to(leaf.dtype);
  if (GradMode::is_enabled()) {
    // create_graph: keep the gradient differentiable.
    leaf.grad = leaf.grad.defined() ? add(leaf.grad, g) : g;
  } else if (!leaf.grad.defined()) {
    leaf.grad = g.detach().clone();  // the engine may share g with other edges
  } else {
    leaf.grad.add_(g.detach());
  }
  return {};
}

Edge gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return {};
  TensorImpl* impl = t.impl();
  if (impl->grad_fn) return {impl->grad_fn, impl->output_nr};
  std::shared_ptr<Node> acc = impl->grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t.impl_ptr());
    impl->grad_accumulator = acc;
  }
  return {acc, 0};
}

}  // namespace wick::autograd
