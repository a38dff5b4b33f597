// nn::Module: the base of every layer and model, as torch.nn.Module.
//
// A module registers, by name and in order:
//   parameters  leaf tensors that require grad (trainable state),
//   buffers     tensors that are state but not trained (running statistics);
//               persistent ones go into state_dict,
//   children    sub-modules, recursively.
// Layers keep the handles they registered as members (`Tensor weight;`,
// `std::shared_ptr<Linear> fc;`). Handles share data with the registry, so
// Module::to() replaces data in place (Tensor::set_data) and members follow.
//
// Deep copy (clone): a module that derives from Cloneable<Derived> builds all
// its parameters, buffers and children in `reset()`, which its constructor
// calls. reset() must assign every member handle (an optional child or bias
// that is absent is set to null/undefined there), because the copy starts as
// a member-wise copy of the original. clone() copy-constructs Derived (copying its configuration), runs
// reset() on the copy to create fresh tensors and children, then copies every
// value over. The default RNG is restored afterwards, so cloning never shifts
// a seeded run. Containers (Sequential, ModuleList, ModuleDict) clone their
// children directly.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tensor/state_dict.h"
#include "tensor/tensor.h"

namespace wick::nn {

// What load_state_dict found when strict=false (strict=true throws instead).
struct LoadResult {
  std::vector<std::string> missing_keys;
  std::vector<std::string> unexpected_keys;
};

class Module : public std::enable_shared_from_this<Module> {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = default;             // shallow: used by Cloneable::clone
  Module& operator=(const Module&) = delete;

  // The type name shown when printing ("Linear"); set by each layer.
  virtual std::string name() const { return "Module"; }
  // One-line configuration shown when printing ("in_features=4, out_features=2").
  virtual std::string extra_repr() const { return ""; }
  // Multi-line tree like PyTorch's print(model).
  std::string to_string() const;

  // The one-tensor forward that Sequential and ModuleList chain. Layers with
  // other signatures (attention, models taking several inputs) declare their
  // own forward overloads; calling this one on them throws.
  virtual Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  // ---- registration ------------------------------------------------------
  // Returns the registered handle (keep it as a member). A parameter is made a
  // leaf that requires grad unless requires_grad=false.
  Tensor register_parameter(const std::string& name, Tensor t, bool requires_grad = true);
  // Buffers: non-persistent ones are left out of state_dict.
  Tensor register_buffer(const std::string& name, Tensor t, bool persistent = true);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    register_module_impl(name, m);
    return m;
  }
  // Replaces a registered parameter/buffer/child. Callers must also update
  // the member that holds the old handle.
  void replace_parameter(const std::string& name, Tensor t);
  void replace_buffer(const std::string& name, Tensor t);
  void replace_module(const std::string& name, std::shared_ptr<Module> m);

  // ---- traversal (registration order, depth first like PyTorch) ---------
  std::vector<Tensor> parameters(bool recurse = true) const;
  std::vector<std::pair<std::string, Tensor>> named_parameters(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  std::vector<std::pair<std::string, Tensor>> named_buffers(bool recurse = true) const;
  std::vector<std::shared_ptr<Module>> children() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const { return children_; }
  // Includes this module (name "") first, as torch's named_modules.
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_modules();
  std::vector<std::shared_ptr<Module>> modules();
  // Direct lookups by (dotted) name; throw naming the missing key.
  Tensor parameter(const std::string& name) const;
  Tensor buffer(const std::string& name) const;
  std::shared_ptr<Module> child(const std::string& name) const;
  int64_t num_parameters(bool only_trainable = false) const;

  // ---- modes and state ---------------------------------------------------
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Moves/casts parameters and buffers in place (floating tensors only are
  // cast by dtype, as in PyTorch; integer buffers keep their dtype).
  Module& to(Device device);
  Module& to(DType dtype);
  Module& to(Device device, DType dtype);
  // set_to_none=true drops the grads (PyTorch's default since 2.0).
  void zero_grad(bool set_to_none = true);
  // Freezes (false) or unfreezes (true) every parameter.
  Module& requires_grad_(bool on = true);
  // Calls fn on every module, children first, then this one (torch's apply).
  Module& apply(const std::function<void(Module&)>& fn);

  // Parameters and persistent buffers by dotted name ("layer1.0.conv1.weight").
  StateDict state_dict() const;
  // Copies values into the registered tensors (shapes must match; dtypes are
  // converted). strict=true throws one error listing every missing,
  // unexpected and mis-shaped key; strict=false returns them (mis-shaped keys
  // still throw).
  LoadResult load_state_dict(const StateDict& sd, bool strict = true);

  // Deep copy (see the file comment). Modules that are not Cloneable throw.
  virtual std::shared_ptr<Module> clone() const;

 protected:
  // Clears the registries (used by Cloneable before re-running reset()).
  void clear_registry();
  // Copies values, requires_grad flags and the training flag from `src`,
  // which must have the same structure; recursive.
  void copy_state_from(const Module& src);

 private:
  void register_module_impl(const std::string& name, std::shared_ptr<Module> m);
  void check_new_name(const std::string& name, const char* what) const;
  void collect_state(const std::string& prefix, StateDict& out) const;
  void apply_to_tensors(const std::function<Tensor(const Tensor&)>& fn);
  void to_string_impl(std::string& out, int indent) const;

  struct BufferSlot {
    std::string name;
    Tensor tensor;
    bool persistent;
  };
  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<BufferSlot> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;

  template <class Derived>
  friend class Cloneable;
};

std::ostream& operator<<(std::ostream& os, const Module& m);

// Base for modules that support clone(): build everything in reset().
template <class Derived>
class Cloneable : public Module {
 public:
  // (Re)creates this module's parameters, buffers and children from its
  // configuration. Constructors call it; clone() calls it on the copy.
  virtual void reset() = 0;

  std::shared_ptr<Module> clone() const override {
    auto copy = std::make_shared<Derived>(static_cast<const Derived&>(*this));
    copy->clear_registry();
    reset_preserving_rng(*copy);
    copy->copy_state_from(*this);
    return copy;
  }

 private:
  static void reset_preserving_rng(Cloneable& m);
};

// Typed deep copy: auto teacher = nn::clone(student);
template <class M>
std::shared_ptr<M> clone(const std::shared_ptr<M>& m) {
  auto c = std::dynamic_pointer_cast<M>(m->clone());
  WICK_CHECK(c, "nn::clone: ", m->name(), "::clone() returned a different type");
  return c;
}

// Implemented in module.cpp (keeps random.h out of every layer header).
void reset_with_rng_restored(const std::function<void()>& reset);

template <class Derived>
void Cloneable<Derived>::reset_preserving_rng(Cloneable& m) {
  reset_with_rng_restored([&] { m.reset(); });
}

}  // namespace wick::nn
