// Optimizer: the base of every optimizer, as torch.optim.Optimizer.
//
// Parameters live in parameter groups. A group is a list of tensors and its
// hyper-parameters by name ("lr", "weight_decay", "momentum", "beta1", ...),
// like the dict of a torch param group; names a group leaves out take the
// optimizer's defaults, and a name the optimizer does not know is an error
// (it catches typos). Booleans (nesterov, amsgrad) are stored as 0/1.
// Schedulers change a group's lr between steps with set_lr().
//
// Each parameter has a state (a StateDict: "exp_avg", "momentum_buffer", ...)
// created lazily at its first update. "step", where an optimizer keeps one,
// is a 0-d int64 CPU tensor counting the updates of that parameter.
//
// state_dict() flattens everything a checkpoint needs into named tensors,
// numbering parameters across groups in order (0, 1, ...) as PyTorch does:
//   state.<i>.<name>          a parameter's state tensors
//   param_groups.<g>.params   int64 [n]: the numbers of group g's parameters
//   param_groups.<g>.<option> 0-d float64 hyper-parameter (lr, betas, ...)
// load_state_dict() restores them into an optimizer built over the same
// parameters, so training continues bit-identically. Like Module's, the
// state_dict shares the state tensors (it does not copy them); loading copies.
#pragma once

#include <initializer_list>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "tensor/state_dict.h"
#include "tensor/tensor.h"

namespace wick::optim {

// A group's hyper-parameters by name.
using HyperParams = std::map<std::string, double>;

struct ParamGroup {
  ParamGroup() = default;
  ParamGroup(std::vector<Tensor> params, HyperParams options = {})
      : params(std::move(params)), options(std::move(options)) {}

  std::vector<Tensor> params;
  HyperParams options;

  double lr() const { return get("lr"); }
  void set_lr(double lr) { set("lr", lr); }
  bool has(const std::string& name) const { return options.count(name) != 0; }
  // Throws naming the option when the group has no such option.
  double get(const std::string& name) const;
  bool flag(const std::string& name) const { return get(name) != 0; }
  // Changes an existing option (throws on unknown names, which are typos).
  void set(const std::string& name, double value);
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // "Adam", "SGD", ... (used in messages).
  const std::string& name() const { return name_; }

  // One update of every parameter that has a .grad, under no_grad.
  virtual void step();

  // SGD, Adam, AdamW and Lion update the parameters of a group that sit on
  // the CPU (or on one CUDA device), contiguous, in float or double, with one
  // fused multi-tensor kernel (ops/cpu/optim.h, cuda/kernels/optim.h) instead
  // of ~7 tensor ops each; any other parameter takes the op-composed path.
  // Both give bit-identical results.
  // set_fused(false) sends every parameter through the composed path (tests
  // and benchmarks compare the two). Not part of the state_dict; optimizers
  // without a fused kernel (LARS) ignore it.
  void set_fused(bool enabled) { fused_ = enabled; }
  bool fused() const { return fused_; }

  // Drops every parameter's .grad (set_to_none) or fills it with zeros.
  void zero_grad(bool set_to_none = true);

  // Adds a group; options it leaves out take the defaults. A parameter may be
  // in only one group.
  void add_param_group(ParamGroup group);
  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  const HyperParams& defaults() const { return defaults_; }

  // One parameter's state (empty before its first update); the tensors are
  // the optimizer's own, not copies.
  StateDict state(const Tensor& param) const;

  StateDict state_dict() const;
  // Throws a wick::Error (and changes nothing) when `sd` does not fit this
  // optimizer: another number of groups or parameters per group, unknown or
  // missing keys, state tensors whose shape differs from their parameter's.
  void load_state_dict(const StateDict& sd);

 protected:
  // `state_names`: the per-parameter state this optimizer keeps, every one
  // present once a parameter has state; `optional_state_names` may be absent.
  // Derived constructors then call add_param_groups in their body (so that
  // their check_group override applies).
  Optimizer(std::string name, HyperParams defaults, std::vector<std::string> state_names,
            std::vector<std::string> optional_state_names = {});

  // Adds the groups a derived constructor received; at least one parameter.
  void add_param_groups(std::vector<ParamGroup> groups);

  // Checks a group's hyper-parameter values (throws wick::Error).
  virtual void check_group(const ParamGroup& group, size_t index) const = 0;
  // Updates one parameter in place from its gradient (called under no_grad).
  virtual void update(Tensor& param, const Tensor& grad, StateDict& state, const ParamGroup& group) = 0;

  // One step over a group (under no_grad): by default update() for each
  // parameter that has a grad. Optimizers with a fused kernel override it.
  virtual void step_group(const ParamGroup& group);
  // A parameter's state, created empty on first use.
  StateDict& state_of(const Tensor& param) { return state_[param.impl()]; }
  // Whether a fused kernel may update `param` in place from `grad` and the
  // given state tensors (undefined ones are skipped): all on one device (the
  // CPU, or a CUDA device in a CUDA build), contiguous, of one floating dtype
  // (float or double), with equal numel, and no two sharing storage.
  static bool fusable(const Tensor& param, const Tensor& grad, std::initializer_list<const Tensor*> state = {});

  // Increments the state's "step" counter (creating it at 0) and returns it.
  static int64_t increment_step(StateDict& state);

 private:
  std::string name_;
  HyperParams defaults_;
  std::vector<std::string> state_names_, optional_state_names_;
  std::vector<ParamGroup> groups_;
  std::unordered_map<const TensorImpl*, StateDict> state_;
  bool fused_ = true;
};

// The usual split of a model's parameters for AdamW/LARS recipes (GPT, ViT,
// SimCLR, BYOL): group 0 holds the matrices and kernels (ndim >= 2) with the
// optimizer's defaults, group 1 the biases and normalization gains (ndim <= 1)
// with `options_1d`, e.g. {{"weight_decay", 0}} for AdamW or {{"exclude", 1}}
// for LARS. Both groups are always present (possibly empty).
std::vector<ParamGroup> split_by_ndim(const std::vector<Tensor>& params, HyperParams options_1d);

}  // namespace wick::optim
