// record(): turns an op application into a FunctionNode in the graph.
#include "autograd/function.h"

#include "autograd/graveyard.h"
#include "autograd/profiler.h"

namespace wick::autograd {

namespace {
// A new TensorImpl over the same storage and geometry, with no autograd state.
std::shared_ptr<TensorImpl> geometry_alias(const TensorImpl& t) {
  auto a = std::make_shared<TensorImpl>();
  a->storage = t.storage;
  a->sizes = t.sizes;
  a->strides = t.strides;
  a->offset = t.offset;
  a->dtype = t.dtype;
  return a;
}
}  // namespace

bool needs_grad(std::initializer_list<Tensor> inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

bool needs_grad(const tensor_list& inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

FunctionNode::FunctionNode(const char* name, BackwardFn fn) : Node(name), fn_(std::move(fn)) {}

FunctionNode::~FunctionNode() {
  if (fn_) bury(std::make_shared<BackwardFn>(std::move(fn_)));
}

void FunctionNode::release() {
  if (saves_nothing) return;
  BackwardFn dead = std::move(fn_);
  fn_ = nullptr;
  saved_outputs.clear();
  released_ = true;
}

Tensor FunctionNode::saved_output(size_t i) {
  WICK_CHECK(i < saved_outputs.size(), name(), ": output ", i,
             " was not saved (record() needs save_outputs=true for Ctx::output)");
  const auto& alias = saved_outputs[i];
  WICK_CHECK(alias->storage->version() == saved_output_versions[i],
             "one of the tensors needed for gradient computation has been modified by an in-place operation: "
             "the output ",
             i, " of ", name(), " (shape ", shape_str(alias->sizes), ", ", alias->dtype, ") is at version ",
             alias->storage->version(), "; expected version ", saved_output_versions[i],
             ". Use an out-of-place op, or clone() the tensor before modifying it.");
  auto impl = geometry_alias(*alias);
  impl->requires_grad = true;
  impl->grad_fn = shared_from_this();
  impl->output_nr = static_cast<uint32_t>(i);
  return Tensor(std::move(impl));
}

tensor_list FunctionNode::apply(tensor_list&& grads) {
  WICK_CHECK(!released_, "Trying to backward through the graph a second time (or to use saved tensors after they "
             "were freed). Saved tensors are freed after backward; pass retain_graph=true to the first "
             "backward() or autograd::grad() if you need to backward through the graph again.");
  Ctx ctx(grads, this);
  tensor_list out = fn_(ctx);
  WICK_CHECK(out.size() == next_edges.size(), name(), ": backward returned ", out.size(), " gradients for ",
             next_edges.size(), " inputs");
  for (size_t i = 0; i < out.size(); ++i) {
    if (!out[i].defined() || !next_edges[i].valid()) continue;
    const TensorMeta& m = input_meta[i];
    WICK_CHECK(out[i].sizes() == m.sizes, name(), ": backward returned a gradient of shape ",
               shape_str(out[i].sizes()), " for input ", i, " of shape ", shape_str(m.sizes));
    if (out[i].dtype() != m.dtype) out[i] = out[i].to(m.dtype);
  }
  return out;
}

Tensor Ctx::output(size_t i) const { return node_->saved_output(i); }
bool Ctx::needs_input_grad(size_t i) const { return i < node_->next_edges.size() && node_->next_edges[i].valid(); }

std::shared_ptr<Node> record(const char* name, const tensor_list& inputs, const tensor_list& outputs,
                             BackwardFn backward, bool save_outputs) {
  profiler::mark_forward(name);  // the op's work is queued: charge it to the op
  auto node = std::make_shared<FunctionNode>(name, std::move(backward));
  node->next_edges.reserve(inputs.size());
  for (const Tensor& in : inputs) {
    node->next_edges.push_back(gradient_edge(in));
    if (in.defined())
      node->input_meta.push_back({in.sizes(), in.dtype(), in.device()});
    else
      node->input_meta.push_back({});
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    TensorImpl* impl = outputs[i].impl();
    WICK_CHECK(impl != nullptr, name, ": record() got an undefined output");
    WICK_CHECK(is_floating(impl->dtype), name, ": only floating-point outputs can require grad, output ", i,
               " is ", impl->dtype);
    impl->grad_fn = node;
    impl->output_nr = static_cast<uint32_t>(i);
    impl->requires_grad = true;
    node->output_meta.push_back({impl->sizes, impl->dtype, impl->storage->device()});
    if (save_outputs) {
      node->saved_outputs.push_back(geometry_alias(*impl));
      node->saved_output_versions.push_back(impl->storage->version());
    }
  }
  return node;
}

SavedTensor::SavedTensor(const Tensor& t) : tensor_(t), version_(t.defined() ? t.version() : 0) {}

Tensor SavedTensor::unpack() const {
  if (!tensor_.defined()) return tensor_;
  WICK_CHECK(tensor_.version() == version_,
             "one of the tensors needed for gradient computation has been modified by an in-place operation: "
             "a tensor of shape ",
             shape_str(tensor_.sizes()), " (", tensor_.dtype(), ") is at version ", tensor_.version(),
             "; expected version ", version_, ". Use an out-of-place op, or clone() the tensor before modifying it.");
  return tensor_;
}

}  // namespace wick::autograd
