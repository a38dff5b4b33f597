// The autograd graph: a Node is the backward of one op application. It maps
// the gradients of the op's outputs to the gradients of its inputs; its
// next_edges point, per input, to the node that produced that input (or to
// the input's AccumulateGrad node if it is a leaf that requires grad).
//
// Op authors do not subclass Node: they call autograd::record() (function.h)
// with a backward lambda written with ops, which makes higher-order gradients
// work without extra code.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace wick::autograd {

class Node;

struct Edge {
  std::shared_ptr<Node> fn;
  uint32_t input_nr = 0;  // which of fn's gradient inputs this edge feeds
  bool valid() const { return fn != nullptr; }
};

// Shape/dtype/device of a tensor the node produced or consumed: used to
// zero-fill missing gradients and to check gradient shapes.
struct TensorMeta {
  Shape sizes;
  DType dtype = kFloat32;
  Device device;
};

class Node : public std::enable_shared_from_this<Node> {
 public:
  explicit Node(std::string name);
  // With a fixed sequence number (the engine runs ready nodes highest first).
  Node(std::string name, uint64_t sequence_nr);
  virtual ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // grads[i] is the gradient w.r.t. output i (never undefined: the engine
  // zero-fills). Returns one gradient per next edge (undefined = none).
  virtual tensor_list apply(tensor_list&& grads) = 0;
  // Frees saved tensors after a backward pass without retain_graph.
  virtual void release() {}
  // Runs the tensor hooks registered on output `nr`.
  virtual Tensor run_hooks(uint32_t nr, Tensor grad);

  const std::string& name() const { return name_; }
  uint64_t sequence_nr() const { return sequence_nr_; }
  size_t num_outputs() const { return output_meta.size(); }

  std::vector<Edge> next_edges;
  std::vector<TensorMeta> output_meta;
  // Hooks on the gradient of output `nr`: (nr, handle, fn).
  struct Hook {
    uint32_t nr;
    int handle;
    GradHook fn;
  };
  std::vector<Hook> hooks;
  // Run after apply() in a backward pass that executed this node, in order.
  // On a leaf's AccumulateGrad they run once its .grad is final for this
  // pass (PyTorch's post-accumulate-grad hook; DistributedDataParallel
  // launches its gradient all-reduces from them). Whoever registers one keeps
  // the node alive (a leaf only holds its AccumulateGrad weakly): `(handle, fn)`.
  std::vector<std::pair<int, std::function<void()>>> post_hooks;
  std::vector<std::pair<uint32_t, std::weak_ptr<TensorImpl>>> retained;  // retain_grad() targets

 private:
  std::string name_;
  uint64_t sequence_nr_;
};

// Accumulates the incoming gradient into a leaf's .grad. Its sequence number
// is the highest (as in PyTorch), so it runs as soon as its gradient is
// complete even if it was created long before the graph (a node kept alive
// for its post_hooks): a gradient is final, and its hooks fire, early in backward.
class AccumulateGrad : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf);
  tensor_list apply(tensor_list&& grads) override;
  Tensor run_hooks(uint32_t nr, Tensor grad) override;
  const std::shared_ptr<TensorImpl>& leaf() const { return leaf_; }

 private:
  std::shared_ptr<TensorImpl> leaf_;
};

// The edge through which gradient flows back into `t` (invalid if `t` does
// not require grad). Creates a leaf's AccumulateGrad node on first use.
Edge gradient_edge(const Tensor& t);

// A new handle id for hooks.
int next_hook_handle();

}  // namespace wick::autograd
