// Recording an op in the autograd graph: the API every op in ops/ uses.
//
//   Tensor out = ...forward kernel...;
//   if (autograd::needs_grad({a, b})) {
//     autograd::record("MulBackward", {a, b}, {out},
//         [sa = autograd::SavedTensor(a), sb = autograd::SavedTensor(b)](const autograd::Ctx& c) {
//           return tensor_list{c.grad(0) * sb.unpack(), c.grad(0) * sa.unpack()};
//         });
//   }
//
// The backward lambda is written with ops, so it is itself recorded when the
// engine runs with create_graph=true: higher-order gradients come for free.
// It returns one gradient per input (an undefined Tensor where none flows).
// SavedTensor remembers the storage version at save time; unpacking after an
// in-place modification throws a clear error instead of computing garbage.
#pragma once

#include <functional>
#include <initializer_list>

#include "autograd/grad_mode.h"
#include "autograd/node.h"

namespace wick::autograd {

class FunctionNode;

// What a backward lambda sees.
class Ctx {
 public:
  Ctx(const tensor_list& grads, FunctionNode* node) : grads_(grads), node_(node) {}
  // Gradient w.r.t. output i (zero-filled by the engine if none flowed).
  const Tensor& grad(size_t i = 0) const { return grads_[i]; }
  const tensor_list& grads() const { return grads_; }
  // The forward output i, connected to this node (for formulas such as exp's).
  // Requires record(..., save_outputs=true).
  Tensor output(size_t i = 0) const;
  // Whether input i needs a gradient; formulas may skip work when false.
  bool needs_input_grad(size_t i) const;

 private:
  const tensor_list& grads_;
  FunctionNode* node_;
};

using BackwardFn = std::function<tensor_list(const Ctx&)>;

// True when grad mode is on and any defined tensor requires grad.
bool needs_grad(std::initializer_list<Tensor> inputs);
bool needs_grad(const tensor_list& inputs);

// Connects `outputs` to a new node computing `backward`. Inputs that do not
// require grad get invalid edges. Returns the node.
std::shared_ptr<Node> record(const char* name, const tensor_list& inputs, const tensor_list& outputs,
                             BackwardFn backward, bool save_outputs = false);

// A tensor saved for backward, checked against in-place modification.
class SavedTensor {
 public:
  SavedTensor() = default;
  explicit SavedTensor(const Tensor& t);
  Tensor unpack() const;
  bool defined() const { return tensor_.defined(); }

 private:
  Tensor tensor_;
  uint64_t version_ = 0;
};

class FunctionNode : public Node {
 public:
  FunctionNode(const char* name, BackwardFn fn);
  ~FunctionNode() override;
  tensor_list apply(tensor_list&& grads) override;
  void release() override;
  Tensor saved_output(size_t i);

  std::vector<TensorMeta> input_meta;  // to check gradient shapes and dtypes
  std::vector<std::shared_ptr<TensorImpl>> saved_outputs;  // detached aliases of the outputs
  std::vector<uint64_t> saved_output_versions;
  // Set by ops whose backward holds no tensor (split's, a concatenation of
  // the incoming gradients): release() has nothing to free, so the node may
  // run again in a later backward pass, as PyTorch frees saved tensors, not
  // nodes.
  bool saves_nothing = false;

 private:
  BackwardFn fn_;
  bool released_ = false;
};

}  // namespace wick::autograd
