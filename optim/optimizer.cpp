// Optimizer base: parameter groups, per-parameter state and its flattening
// into a StateDict (see optimizer.h for the key layout).
#include "optim/optimizer.h"

#include <algorithm>
#include <charconv>
#include <unordered_set>

#include "autograd/grad_mode.h"
#include "ops/creation.h"
#include "ops/elementwise.h"

namespace wick::optim {

namespace {

std::string join_names(const HyperParams& options) {
  std::string s;
  for (const auto& [name, v] : options) s += (s.empty() ? "" : ", ") + name;
  return s;
}

// Parses a non-negative decimal integer that spans all of `s`.
bool parse_index(const std::string& s, int64_t& out) {
  if (s.empty() || s.size() > 18) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && out >= 0;
}

// Splits "<index>.<rest>" (the part after "state." or "param_groups.").
bool split_key(const std::string& key, size_t prefix_len, int64_t& index, std::string& rest) {
  const size_t dot = key.find('.', prefix_len);
  if (dot == std::string::npos) return false;
  rest = key.substr(dot + 1);
  return !rest.empty() && parse_index(key.substr(prefix_len, dot - prefix_len), index);
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

}  // namespace

double ParamGroup::get(const std::string& name) const {
  auto it = options.find(name);
  WICK_CHECK(it != options.end(), "ParamGroup: no option '", name, "' (options: ", join_names(options), ")");
  return it->second;
}

void ParamGroup::set(const std::string& name, double value) {
  auto it = options.find(name);
  WICK_CHECK(it != options.end(), "ParamGroup: no option '", name, "' (options: ", join_names(options), ")");
  it->second = value;
}

Optimizer::Optimizer(std::string name, HyperParams defaults, std::vector<std::string> state_names,
                     std::vector<std::string> optional_state_names)
    : name_(std::move(name)),
      defaults_(std::move(defaults)),
      state_names_(std::move(state_names)),
      optional_state_names_(std::move(optional_state_names)) {
  WICK_CHECK(defaults_.count("lr"), name_, ": defaults must include lr");
}

void Optimizer::add_param_groups(std::vector<ParamGroup> groups) {
  WICK_CHECK(!groups.empty(), name_, ": optimizer got no parameter groups");
  for (ParamGroup& g : groups) add_param_group(std::move(g));
  size_t total = 0;
  for (const ParamGroup& g : groups_) total += g.params.size();
  WICK_CHECK(total > 0, name_, ": optimizer got an empty parameter list");
}

void Optimizer::add_param_group(ParamGroup group) {
  const size_t index = groups_.size();
  for (const auto& [name, v] : group.options)
    WICK_CHECK(defaults_.count(name), name_, ": unknown option '", name, "' in param group ", index,
               " (options: ", join_names(defaults_), ")");
  for (const auto& [name, v] : defaults_) group.options.emplace(name, v);  // keeps the group's own values

  std::unordered_set<const TensorImpl*> seen;
  for (const ParamGroup& g : groups_)
    for (const Tensor& p : g.params) seen.insert(p.impl());
  for (size_t i = 0; i < group.params.size(); ++i) {
    const Tensor& p = group.params[i];
    // Frozen parameters (requires_grad=false) are accepted and skipped while
    // they have no grad, as in PyTorch, so model->parameters() works with LoRA.
    WICK_CHECK(p.defined() && p.is_leaf(), name_, ": parameter ", i, " of param group ", index,
               " must be a leaf tensor (can't optimize a non-leaf tensor; pass the parameters, not results of ops)");
    WICK_CHECK(p.is_floating_point(), name_, ": parameter ", i, " of param group ", index,
               " has dtype ", p.dtype(), "; parameters must be floating point");
    WICK_CHECK(seen.insert(p.impl()).second, name_, ": parameter ", i, " of param group ", index,
               " appears in more than one place in the parameter groups");
  }
  check_group(group, index);
  groups_.push_back(std::move(group));
}

void Optimizer::step() {
  NoGradGuard no_grad;
  for (const ParamGroup& group : groups_) step_group(group);
}

void Optimizer::step_group(const ParamGroup& group) {
  for (Tensor p : group.params) {
    Tensor grad = p.grad();
    if (!grad.defined()) continue;
    update(p, grad, state_[p.impl()], group);
  }
}

bool Optimizer::fusable(const Tensor& param, const Tensor& grad, std::initializer_list<const Tensor*> state) {
  const DType dt = param.dtype();
  if (dt != kFloat32 && dt != kFloat64) return false;
  std::vector<const Tensor*> all{&param, &grad};
  for (const Tensor* t : state)
    if (t && t->defined()) all.push_back(t);
#ifdef WICK_WITH_CUDA
  if (!param.is_cpu() && !param.is_cuda()) return false;
#else
  if (!param.is_cpu()) return false;
#endif
  for (const Tensor* t : all)
    if (t->device() != param.device() || t->dtype() != dt || t->numel() != param.numel() || !t->is_contiguous())
      return false;
  // The kernels read and write through __restrict pointers: no two operands may overlap.
  for (size_t i = 0; i < all.size(); ++i)
    for (size_t j = i + 1; j < all.size(); ++j)
      if (all[i]->numel() > 0 && all[i]->storage() == all[j]->storage()) return false;
  return true;
}

void Optimizer::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (const ParamGroup& group : groups_)
    for (const Tensor& p : group.params) {
      Tensor g = p.grad();
      if (!g.defined()) continue;
      if (set_to_none) {
        p.set_grad(Tensor());
      } else {
        g = g.detach();  // a grad built with create_graph must not keep its history
        g.zero_();
        p.set_grad(g);
      }
    }
}

StateDict Optimizer::state(const Tensor& param) const {
  auto it = state_.find(param.impl());
  return it == state_.end() ? StateDict() : it->second;
}

int64_t Optimizer::increment_step(StateDict& state) {
  const Tensor* t = state.find("step");
  if (!t) {
    state.insert("step", scalar_tensor(int64_t{1}, kInt64));
    return 1;
  }
  Tensor step = *t;
  const int64_t next = step.item<int64_t>() + 1;
  step.fill_(next);
  return next;
}

StateDict Optimizer::state_dict() const {
  StateDict sd;
  int64_t index = 0;
  for (const ParamGroup& group : groups_)
    for (const Tensor& p : group.params) {
      auto it = state_.find(p.impl());
      if (it != state_.end())
        for (const auto& [name, t] : it->second) sd.insert("state." + std::to_string(index) + "." + name, t);
      ++index;
    }
  index = 0;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const std::string prefix = "param_groups." + std::to_string(g) + ".";
    std::vector<int64_t> ids(groups_[g].params.size());
    for (int64_t& id : ids) id = index++;
    sd.insert(prefix + "params", from_vector(ids, Shape{static_cast<int64_t>(ids.size())}, kInt64));
    for (const auto& [name, v] : groups_[g].options) sd.insert(prefix + name, scalar_tensor(v, kFloat64));
  }
  return sd;
}

void Optimizer::load_state_dict(const StateDict& sd) {
  const std::string who = name_ + ".load_state_dict: ";

  // Groups: same count, same number of parameters each; the saved parameter
  // numbers map to this optimizer's parameters in order (as PyTorch does).
  size_t saved_groups = 0;
  while (sd.contains("param_groups." + std::to_string(saved_groups) + ".params")) ++saved_groups;
  WICK_CHECK(saved_groups == groups_.size(), who, "the state has ", saved_groups, " parameter group(s), the optimizer has ",
             groups_.size());
  std::unordered_map<int64_t, const Tensor*> param_of_id;
  std::vector<ParamGroup> new_groups;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const std::string prefix = "param_groups." + std::to_string(g) + ".";
    const Tensor& ids = sd.at(prefix + "params");
    WICK_CHECK(ids.dtype() == kInt64 && ids.dim() == 1, who, prefix, "params must be a 1-d int64 tensor, got ",
               ids.dtype(), " ", shape_str(ids.sizes()));
    WICK_CHECK(ids.numel() == static_cast<int64_t>(groups_[g].params.size()), who, "parameter group ", g, " has ",
               ids.numel(), " parameter(s) in the state but ", groups_[g].params.size(), " in the optimizer");
    const std::vector<int64_t> id_list = ids.contiguous().tolist<int64_t>();
    for (size_t j = 0; j < id_list.size(); ++j)
      WICK_CHECK(param_of_id.emplace(id_list[j], &groups_[g].params[j]).second, who, "parameter number ", id_list[j],
                 " appears twice in param_groups");

    ParamGroup loaded(groups_[g].params, {});
    for (const auto& [name, v] : groups_[g].options) {
      const Tensor* t = sd.find(prefix + name);
      WICK_CHECK(t, who, "missing key '", prefix, name, "'");
      WICK_CHECK(t->dim() == 0 && t->is_floating_point(), who, "'", prefix, name,
                 "' must be a 0-d floating tensor, got ", t->dtype(), " ", shape_str(t->sizes()));
      loaded.options[name] = t->item<double>();
    }
    check_group(loaded, g);
    new_groups.push_back(std::move(loaded));
  }

  // Every other key must be a known piece of a parameter's state.
  std::unordered_map<const TensorImpl*, StateDict> new_state;
  std::unordered_map<const TensorImpl*, int64_t> id_of;  // for messages
  for (const auto& [key, t] : sd) {
    int64_t index = 0;
    std::string rest;
    if (starts_with(key, "param_groups.")) {
      const bool known = split_key(key, 13, index, rest) && index < static_cast<int64_t>(groups_.size()) &&
                         (rest == "params" || groups_[index].has(rest));
      WICK_CHECK(known, who, "unexpected key '", key, "'");
      continue;
    }
    WICK_CHECK(starts_with(key, "state.") && split_key(key, 6, index, rest), who, "unexpected key '", key, "'");
    auto it = param_of_id.find(index);
    WICK_CHECK(it != param_of_id.end(), who, "'", key, "' is the state of parameter number ", index,
               ", which is in no parameter group");
    const bool known = std::count(state_names_.begin(), state_names_.end(), rest) ||
                       std::count(optional_state_names_.begin(), optional_state_names_.end(), rest);
    WICK_CHECK(known, who, "unexpected key '", key, "' (", name_, " keeps no state named '", rest, "')");
    const Tensor& p = *it->second;
    Tensor owned;
    if (rest == "step") {
      WICK_CHECK(t.dim() == 0 && t.dtype() == kInt64, who, "'", key, "' must be a 0-d int64 tensor, got ", t.dtype(),
                 " ", shape_str(t.sizes()));
      owned = t.detach().cpu().clone();
    } else {
      WICK_CHECK(t.sizes() == p.sizes(), who, "'", key, "' has shape ", shape_str(t.sizes()), " but parameter ", index,
                 " has shape ", shape_str(p.sizes()));
      WICK_CHECK(t.is_floating_point(), who, "'", key, "' has dtype ", t.dtype(), "; expected a floating dtype");
      owned = t.detach().to(p.device(), p.dtype());
      if (owned.is_same(t) || owned.storage() == t.storage()) owned = owned.clone();
    }
    new_state[p.impl()].insert(rest, owned);
    id_of[p.impl()] = index;
  }
  for (const auto& [impl, st] : new_state)
    for (const std::string& name : state_names_)
      WICK_CHECK(st.contains(name), who, "the state of parameter ", id_of[impl], " lacks '", name, "' (missing key 'state.",
                 id_of[impl], ".", name, "')");

  for (size_t g = 0; g < groups_.size(); ++g) groups_[g].options = std::move(new_groups[g].options);
  state_ = std::move(new_state);
}

std::vector<ParamGroup> split_by_ndim(const std::vector<Tensor>& params, HyperParams options_1d) {
  ParamGroup matrices, vectors({}, std::move(options_1d));
  for (const Tensor& p : params) (p.dim() >= 2 ? matrices : vectors).params.push_back(p);
  return {std::move(matrices), std::move(vectors)};
}

}  // namespace wick::optim
