// Containers and structural layers (see container.h).
#include "nn/container.h"

#include "autograd/grad_mode.h"
#include "ops/view.h"

namespace wick::nn {
namespace {

// Deep copy of a container: copy-construct it (configuration, registry and
// training flag, all shallow), then replace each child by its clone and each
// own parameter/buffer by a copy of its value.
template <class C>
std::shared_ptr<Module> clone_container(const C& self) {
  auto copy = std::make_shared<C>(self);
  NoGradGuard no_grad;
  for (const auto& [n, p] : self.named_parameters(false)) {
    Tensor t = p.detach().clone();
    t.requires_grad_(p.requires_grad());
    copy->replace_parameter(n, t);
  }
  for (const auto& [n, b] : self.named_buffers(false)) copy->replace_buffer(n, b.detach().clone());
  for (const auto& [n, c] : self.named_children()) copy->replace_module(n, c->clone());
  return copy;
}

std::shared_ptr<Module> child_at(const Module& m, int64_t i) {
  const auto& ch = m.named_children();
  const int64_t n = static_cast<int64_t>(ch.size());
  WICK_CHECK(i >= -n && i < n, m.name(), ": index ", i, " is out of range for ", n, " children");
  return ch[static_cast<size_t>(i < 0 ? i + n : i)].second;
}

}  // namespace

// ---- Sequential ----------------------------------------------------------------

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& m : modules) push_back(m);
}

Sequential::Sequential(const std::vector<std::shared_ptr<Module>>& modules) {
  for (const auto& m : modules) push_back(m);
}

Sequential::Sequential(const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named) {
  for (const auto& [n, m] : named) push_back(n, m);
}

Sequential& Sequential::push_back(std::shared_ptr<Module> m) { return push_back(std::to_string(size()), std::move(m)); }

Sequential& Sequential::push_back(const std::string& name, std::shared_ptr<Module> m) {
  register_module(name, std::move(m));
  return *this;
}

std::shared_ptr<Module> Sequential::operator[](int64_t i) const { return child_at(*this, i); }

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (const auto& [n, m] : named_children()) h = m->forward(h);
  return h;
}

std::shared_ptr<Module> Sequential::clone() const { return clone_container(*this); }

// ---- ModuleList ----------------------------------------------------------------

ModuleList::ModuleList(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& m : modules) push_back(m);
}

ModuleList::ModuleList(const std::vector<std::shared_ptr<Module>>& modules) { extend(modules); }

ModuleList& ModuleList::push_back(std::shared_ptr<Module> m) {
  register_module(std::to_string(size()), std::move(m));
  return *this;
}

ModuleList& ModuleList::extend(const std::vector<std::shared_ptr<Module>>& modules) {
  for (const auto& m : modules) push_back(m);
  return *this;
}

std::shared_ptr<Module> ModuleList::operator[](int64_t i) const { return child_at(*this, i); }

std::shared_ptr<Module> ModuleList::clone() const { return clone_container(*this); }

// ---- ModuleDict ----------------------------------------------------------------

ModuleDict::ModuleDict(const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named) {
  for (const auto& [k, m] : named) insert(k, m);
}

ModuleDict& ModuleDict::insert(const std::string& key, std::shared_ptr<Module> m) {
  if (contains(key))
    replace_module(key, std::move(m));
  else
    register_module(key, std::move(m));
  return *this;
}

bool ModuleDict::contains(const std::string& key) const {
  for (const auto& [n, m] : named_children())
    if (n == key) return true;
  return false;
}

std::vector<std::string> ModuleDict::keys() const {
  std::vector<std::string> out;
  for (const auto& [n, m] : named_children()) out.push_back(n);
  return out;
}

std::shared_ptr<Module> ModuleDict::operator[](const std::string& key) const {
  for (const auto& [n, m] : named_children())
    if (n == key) return m;
  WICK_FAIL("ModuleDict: no key '", key, "'");
}

std::shared_ptr<Module> ModuleDict::clone() const { return clone_container(*this); }

// ---- Flatten --------------------------------------------------------------------

Tensor Flatten::forward(const Tensor& x) { return x.flatten(start_dim, end_dim); }

std::string Flatten::extra_repr() const {
  return "start_dim=" + std::to_string(start_dim) + ", end_dim=" + std::to_string(end_dim);
}

}  // namespace wick::nn
