// Containers and structural layers, as torch.nn: Sequential (chains its
// children's one-tensor forwards), ModuleList (an indexable list of
// children), ModuleDict (children by name), Identity, Flatten.
//
// Containers hold children given by the user rather than built from a
// configuration, so they are not Cloneable: their clone() copies the
// container and replaces every child by the child's own clone().
#pragma once

#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nn/module.h"

namespace wick::nn {

class Sequential : public Module {
 public:
  Sequential() = default;
  // Children named "0", "1", ... in order.
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
  explicit Sequential(const std::vector<std::shared_ptr<Module>>& modules);
  // Named children, like Sequential(OrderedDict(...)).
  explicit Sequential(const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named);

  // Appends a child named by its position.
  Sequential& push_back(std::shared_ptr<Module> m);
  Sequential& push_back(const std::string& name, std::shared_ptr<Module> m);
  size_t size() const { return named_children().size(); }
  bool empty() const { return size() == 0; }
  // Negative indices count from the end.
  std::shared_ptr<Module> operator[](int64_t i) const;
  // The child at i as its concrete type (throws if it is another type).
  template <class M>
  std::shared_ptr<M> at(int64_t i) const {
    auto m = std::dynamic_pointer_cast<M>((*this)[i]);
    WICK_CHECK(m, "Sequential::at: child ", i, " is a ", (*this)[i]->name(), ", not the requested type");
    return m;
  }

  // x -> m_n(...m_1(m_0(x))).
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "Sequential"; }
  std::shared_ptr<Module> clone() const override;
};

class ModuleList : public Module {
 public:
  ModuleList() = default;
  ModuleList(std::initializer_list<std::shared_ptr<Module>> modules);
  explicit ModuleList(const std::vector<std::shared_ptr<Module>>& modules);

  ModuleList& push_back(std::shared_ptr<Module> m);
  ModuleList& extend(const std::vector<std::shared_ptr<Module>>& modules);
  size_t size() const { return named_children().size(); }
  bool empty() const { return size() == 0; }
  std::shared_ptr<Module> operator[](int64_t i) const;
  template <class M>
  std::shared_ptr<M> at(int64_t i) const {
    auto m = std::dynamic_pointer_cast<M>((*this)[i]);
    WICK_CHECK(m, "ModuleList::at: child ", i, " is a ", (*this)[i]->name(), ", not the requested type");
    return m;
  }
  std::string name() const override { return "ModuleList"; }
  std::shared_ptr<Module> clone() const override;
};

class ModuleDict : public Module {
 public:
  ModuleDict() = default;
  explicit ModuleDict(const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named);

  // Adds a child, or replaces the child with that name.
  ModuleDict& insert(const std::string& key, std::shared_ptr<Module> m);
  bool contains(const std::string& key) const;
  std::vector<std::string> keys() const;
  size_t size() const { return named_children().size(); }
  std::shared_ptr<Module> operator[](const std::string& key) const;
  template <class M>
  std::shared_ptr<M> at(const std::string& key) const {
    auto m = std::dynamic_pointer_cast<M>((*this)[key]);
    WICK_CHECK(m, "ModuleDict::at: child '", key, "' is a ", (*this)[key]->name(), ", not the requested type");
    return m;
  }
  std::string name() const override { return "ModuleDict"; }
  std::shared_ptr<Module> clone() const override;
};

// Returns its input.
class Identity : public Cloneable<Identity> {
 public:
  void reset() override {}
  Tensor forward(const Tensor& x) override { return x; }
  std::string name() const override { return "Identity"; }
};

// Flattens dims start_dim..end_dim into one (default: all but the batch dim).
class Flatten : public Cloneable<Flatten> {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1) : start_dim(start_dim), end_dim(end_dim) {}
  void reset() override {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "Flatten"; }
  std::string extra_repr() const override;
  int64_t start_dim, end_dim;
};

}  // namespace wick::nn
