// StateDict: named tensors in insertion order, the currency of checkpoints
// (Module::state_dict, Optimizer::state_dict, safetensors files). Like
// PyTorch's OrderedDict[str, Tensor]: iteration follows insertion, lookup by
// name is O(1), inserting an existing name replaces its tensor in place.
#pragma once

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace wick {

class StateDict {
 public:
  using Item = std::pair<std::string, Tensor>;

  void insert(const std::string& name, Tensor t) {
    auto it = index_.find(name);
    if (it != index_.end()) {
      items_[it->second].second = std::move(t);
      return;
    }
    index_.emplace(name, items_.size());
    items_.emplace_back(name, std::move(t));
  }
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  // Throws wick::Error naming the missing key.
  const Tensor& at(const std::string& name) const {
    auto it = index_.find(name);
    WICK_CHECK(it != index_.end(), "StateDict: no key '", name, "'");
    return items_[it->second].second;
  }
  const Tensor* find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &items_[it->second].second;
  }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }
  std::vector<std::string> keys() const {
    std::vector<std::string> k;
    k.reserve(items_.size());
    for (const auto& [name, t] : items_) k.push_back(name);
    return k;
  }
  // The entries whose name starts with `prefix`, with the prefix removed.
  StateDict with_prefix_removed(const std::string& prefix) const {
    StateDict out;
    for (const auto& [name, t] : items_)
      if (name.compare(0, prefix.size(), prefix) == 0) out.insert(name.substr(prefix.size()), t);
    return out;
  }
  // Adds every entry of `other` with `prefix` prepended to its name.
  void update(const StateDict& other, const std::string& prefix = "") {
    for (const auto& [name, t] : other) insert(prefix + name, t);
  }

 private:
  std::vector<Item> items_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace wick
