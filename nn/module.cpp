#include "nn/module.h"

#include <algorithm>
#include <sstream>

#include "autograd/grad_mode.h"
#include "tensor/random.h"

namespace wick::nn {

void reset_with_rng_restored(const std::function<void()>& reset) {
  Generator& g = default_generator();
  const uint64_t seed = g.seed(), offset = g.offset();
  NoGradGuard no_grad;
  reset();
  g.manual_seed(seed);
  g.set_offset(offset);
}

// ---- registration ------------------------------------------------------------

void Module::check_new_name(const std::string& name, const char* what) const {
  WICK_CHECK(!name.empty() && name.find('.') == std::string::npos, this->name(), ": ", what, " name '", name,
             "' must be non-empty and contain no '.'");
  auto taken = [&](const auto& v) {
    return std::any_of(v.begin(), v.end(), [&](const auto& e) {
      if constexpr (std::is_same_v<std::decay_t<decltype(e)>, BufferSlot>)
        return e.name == name;
      else
        return e.first == name;
    });
  };
  WICK_CHECK(!taken(params_) && !taken(buffers_) && !taken(children_), this->name(), ": attribute '", name,
             "' is already registered");
}

Tensor Module::register_parameter(const std::string& name, Tensor t, bool requires_grad) {
  check_new_name(name, "parameter");
  WICK_CHECK(t.defined(), this->name(), ": register_parameter('", name, "') got an undefined tensor");
  WICK_CHECK(!requires_grad || t.is_floating_point(), this->name(), ": parameter '", name,
             "' must be floating point to require grad, got ", t.dtype());
  if (!t.is_leaf()) t = t.detach();
  t.requires_grad_(requires_grad);
  params_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t, bool persistent) {
  check_new_name(name, "buffer");
  WICK_CHECK(t.defined(), this->name(), ": register_buffer('", name, "') got an undefined tensor");
  if (!t.is_leaf() || t.requires_grad()) t = t.detach();
  buffers_.push_back({name, t, persistent});
  return t;
}

void Module::register_module_impl(const std::string& name, std::shared_ptr<Module> m) {
  check_new_name(name, "module");
  WICK_CHECK(m != nullptr, this->name(), ": register_module('", name, "') got a null module");
  children_.emplace_back(name, std::move(m));
}

void Module::replace_parameter(const std::string& name, Tensor t) {
  for (auto& [n, p] : params_)
    if (n == name) {
      if (!t.is_leaf()) t = t.detach();
      p = t;
      return;
    }
  WICK_FAIL(this->name(), ": no parameter '", name, "' to replace");
}

void Module::replace_buffer(const std::string& name, Tensor t) {
  for (auto& b : buffers_)
    if (b.name == name) {
      b.tensor = t;
      return;
    }
  WICK_FAIL(this->name(), ": no buffer '", name, "' to replace");
}

void Module::replace_module(const std::string& name, std::shared_ptr<Module> m) {
  WICK_CHECK(m != nullptr, this->name(), ": replace_module('", name, "') got a null module");
  for (auto& [n, c] : children_)
    if (n == name) {
      c = std::move(m);
      return;
    }
  WICK_FAIL(this->name(), ": no child module '", name, "' to replace");
}

void Module::clear_registry() {
  params_.clear();
  buffers_.clear();
  children_.clear();
}

// ---- traversal -----------------------------------------------------------------

std::vector<std::pair<std::string, Tensor>> Module::named_parameters(bool recurse) const {
  std::vector<std::pair<std::string, Tensor>> out(params_.begin(), params_.end());
  if (recurse)
    for (const auto& [cname, c] : children_)
      for (auto& [n, p] : c->named_parameters(true)) out.emplace_back(cname + "." + n, p);
  // A tensor shared by two modules (tied weights) is reported once, as torch does.
  std::vector<std::pair<std::string, Tensor>> unique;
  for (auto& e : out)
    if (std::none_of(unique.begin(), unique.end(), [&](const auto& u) { return u.second.is_same(e.second); }))
      unique.push_back(std::move(e));
  return unique;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, p] : named_parameters(recurse)) out.push_back(p);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers(bool recurse) const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& b : buffers_) out.emplace_back(b.name, b.tensor);
  if (recurse)
    for (const auto& [cname, c] : children_)
      for (auto& [n, b] : c->named_buffers(true)) out.emplace_back(cname + "." + n, b);
  return out;
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, b] : named_buffers(recurse)) out.push_back(b);
  return out;
}

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  for (const auto& [n, c] : children_) out.push_back(c);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_modules() {
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> out;
  // A module on the stack (not owned by a shared_ptr) is reported through a
  // non-owning pointer; the caller keeps it alive either way.
  std::shared_ptr<Module> self = weak_from_this().lock();
  if (!self) self = std::shared_ptr<Module>(std::shared_ptr<Module>(), this);
  out.emplace_back("", std::move(self));
  for (const auto& [cname, c] : children_)
    for (auto& [n, m] : c->named_modules()) out.emplace_back(n.empty() ? cname : cname + "." + n, m);
  return out;
}

std::vector<std::shared_ptr<Module>> Module::modules() {
  std::vector<std::shared_ptr<Module>> out;
  for (auto& [n, m] : named_modules()) out.push_back(m);
  return out;
}

Tensor Module::parameter(const std::string& name) const {
  for (const auto& [n, p] : named_parameters(true))
    if (n == name) return p;
  WICK_FAIL(this->name(), ": no parameter '", name, "'");
}

Tensor Module::buffer(const std::string& name) const {
  for (const auto& [n, b] : named_buffers(true))
    if (n == name) return b;
  WICK_FAIL(this->name(), ": no buffer '", name, "'");
}

std::shared_ptr<Module> Module::child(const std::string& name) const {
  const size_t dot = name.find('.');
  const std::string head = name.substr(0, dot);
  for (const auto& [n, c] : children_)
    if (n == head) return dot == std::string::npos ? c : c->child(name.substr(dot + 1));
  WICK_FAIL(this->name(), ": no child module '", name, "'");
}

int64_t Module::num_parameters(bool only_trainable) const {
  int64_t n = 0;
  for (const Tensor& p : parameters())
    if (!only_trainable || p.requires_grad()) n += p.numel();
  return n;
}

// ---- modes and state -------------------------------------------------------------

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, c] : children_) c->train(on);
}

void Module::apply_to_tensors(const std::function<Tensor(const Tensor&)>& fn) {
  NoGradGuard no_grad;
  for (auto& [n, p] : params_) p.set_data(fn(p));
  for (auto& b : buffers_) b.tensor.set_data(fn(b.tensor));
  for (auto& [n, c] : children_) c->apply_to_tensors(fn);
}

Module& Module::to(Device device) {
  apply_to_tensors([&](const Tensor& t) { return t.device() == device ? t : t.detach().to(device); });
  return *this;
}

Module& Module::to(DType dtype) {
  WICK_CHECK(is_floating(dtype), name(), ".to: modules can only be cast to a floating dtype, got ", dtype);
  apply_to_tensors([&](const Tensor& t) {
    return (!t.is_floating_point() || t.dtype() == dtype) ? t : t.detach().to(dtype);
  });
  return *this;
}

Module& Module::to(Device device, DType dtype) {
  to(device);
  return to(dtype);
}

void Module::zero_grad(bool set_to_none) {
  for (Tensor& p : parameters()) {
    if (!p.grad().defined()) continue;
    if (set_to_none)
      p.set_grad(Tensor());
    else
      p.grad().zero_();
  }
}

Module& Module::requires_grad_(bool on) {
  for (Tensor& p : parameters()) p.requires_grad_(on);
  return *this;
}

Module& Module::apply(const std::function<void(Module&)>& fn) {
  for (auto& [n, c] : children_) c->apply(fn);
  fn(*this);
  return *this;
}

void Module::collect_state(const std::string& prefix, StateDict& out) const {
  for (const auto& [n, p] : params_) out.insert(prefix + n, p.detach());
  for (const auto& b : buffers_)
    if (b.persistent) out.insert(prefix + b.name, b.tensor.detach());
  for (const auto& [cname, c] : children_) c->collect_state(prefix + cname + ".", out);
}

StateDict Module::state_dict() const {
  StateDict out;
  collect_state("", out);
  return out;
}

LoadResult Module::load_state_dict(const StateDict& sd, bool strict) {
  StateDict own;
  collect_state("", own);
  LoadResult result;
  std::vector<std::string> mis_shaped;
  for (const auto& [name, t] : own) {
    const Tensor* src = sd.find(name);
    if (!src) {
      result.missing_keys.push_back(name);
      continue;
    }
    if (src->sizes() != t.sizes())
      mis_shaped.push_back(name + ": checkpoint " + shape_str(src->sizes()) + " vs model " + shape_str(t.sizes()));
  }
  for (const auto& [name, t] : sd)
    if (!own.contains(name)) result.unexpected_keys.push_back(name);

  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + ("'" + v[i] + "'");
    return s;
  };
  const bool bad = !mis_shaped.empty() || (strict && (!result.missing_keys.empty() || !result.unexpected_keys.empty()));
  if (bad) {
    std::ostringstream msg;
    msg << "Error(s) in loading state_dict for " << name() << ":";
    if (strict && !result.missing_keys.empty()) msg << "\n  Missing key(s): " << join(result.missing_keys) << ".";
    if (strict && !result.unexpected_keys.empty())
      msg << "\n  Unexpected key(s): " << join(result.unexpected_keys) << ".";
    for (const auto& m : mis_shaped) msg << "\n  Size mismatch for " << m << ".";
    throw Error(msg.str());
  }
  NoGradGuard no_grad;
  for (const auto& [name, t] : own)
    if (const Tensor* src = sd.find(name)) {
      Tensor target = t;  // a detached alias of the registered tensor
      target.copy_(src->device() == t.device() ? *src : src->to(t.device()));
    }
  return result;
}

Tensor Module::forward(const Tensor&) {
  WICK_FAIL(name(), ": forward(Tensor) is not defined for this module; call its own forward overload");
}

std::shared_ptr<Module> Module::clone() const {
  WICK_FAIL(name(), "::clone: this module is not cloneable; derive it from nn::Cloneable<", name(),
            "> and build its parameters and children in reset()");
}

void Module::copy_state_from(const Module& src) {
  NoGradGuard no_grad;
  auto same_names = [&](const auto& a, const auto& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (a[i].first != b[i].first) return false;
    return true;
  };
  WICK_CHECK(same_names(params_, src.params_) && same_names(children_, src.children_) &&
                 buffers_.size() == src.buffers_.size(),
             name(), "::clone: reset() built a different structure than the original has; build every parameter, "
             "buffer and child in reset()");
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i].second;
    const Tensor& s = src.params_[i].second;
    p.set_data(s.detach().clone());
    p.requires_grad_(s.requires_grad());
  }
  for (size_t i = 0; i < buffers_.size(); ++i) {
    buffers_[i].tensor.set_data(src.buffers_[i].tensor.detach().clone());
    buffers_[i].persistent = src.buffers_[i].persistent;
  }
  training_ = src.training_;
  for (size_t i = 0; i < children_.size(); ++i) children_[i].second->copy_state_from(*src.children_[i].second);
}

// ---- printing --------------------------------------------------------------------

void Module::to_string_impl(std::string& out, int indent) const {
  out += name() + "(" + extra_repr();
  if (!children_.empty()) {
    out += "\n";
    for (const auto& [n, c] : children_) {
      out += std::string(indent + 2, ' ') + "(" + n + "): ";
      c->to_string_impl(out, indent + 2);
      out += "\n";
    }
    out += std::string(indent, ' ');
  }
  out += ")";
}

std::string Module::to_string() const {
  std::string out;
  to_string_impl(out, 0);
  return out;
}

std::ostream& operator<<(std::ostream& os, const Module& m) { return os << m.to_string(); }

}  // namespace wick::nn
