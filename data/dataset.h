// Map-style datasets, as torch.utils.data.Dataset: a size and a get(i).
//
//   Dataset<T>       the interface a DataLoader reads; T is the example type
//   Example          the default example: an input x and a target y
//   TensorDataset    rows of tensors that share their first dimension
//   Subset           a dataset restricted to a list of indices; random_split
//   MapDataset       applies a (possibly random) function to each example,
//                    e.g. data augmentation; made by map_dataset()
//
// Randomness. A dataset whose examples are random (augmentations) draws from
// the Generator handed to get_random(i, gen). The DataLoader hands it a
// generator seeded by (loader seed, epoch, i), so an epoch's examples are the
// same whatever the number of worker threads and whichever thread builds
// them. get(i) alone draws from the default generator, as PyTorch does.
//
// Thread safety: the DataLoader calls get/get_random from several threads at
// once, so they must not modify shared state (read-only datasets are fine).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace wick::data {

// The default example type: an input and a target (y may be undefined).
// The default collate stacks both along a new first dimension.
struct Example {
  Tensor x;
  Tensor y;
};

template <typename T>
class Dataset {
 public:
  using ExampleType = T;
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  // Example `index`, 0 <= index < size().
  virtual T get(int64_t index) const = 0;
  // The example drawn with `gen` (see the top comment). Datasets whose
  // examples are deterministic keep this default.
  virtual T get_random(int64_t index, Generator& gen) const {
    (void)gen;
    return get(index);
  }
};

// Checks 0 <= index < size, naming the dataset in the error.
inline void check_index(const char* dataset, int64_t index, int64_t size) {
  WICK_CHECK(index >= 0 && index < size, dataset, ": index ", index, " is out of range for ", size, " examples");
}

// Rows of x (and y): example i is {x[i], y[i]}; x and y share dim 0.
// torch.utils.data.TensorDataset(x, y). The rows are views, not copies.
class TensorDataset : public Dataset<Example> {
 public:
  explicit TensorDataset(Tensor x, Tensor y = {}) : x_(std::move(x)), y_(std::move(y)) {
    WICK_CHECK(x_.defined() && x_.dim() >= 1, "TensorDataset: x must have at least one dimension");
    WICK_CHECK(!y_.defined() || (y_.dim() >= 1 && y_.size(0) == x_.size(0)), "TensorDataset: x has ", x_.size(0),
               " rows but y has shape ", y_.defined() ? shape_str(y_.sizes()) : std::string("undefined"));
  }
  int64_t size() const override { return x_.size(0); }
  Example get(int64_t index) const override {
    check_index("TensorDataset", index, size());
    return {x_.select(0, index), y_.defined() ? y_.select(0, index) : Tensor()};
  }
  const Tensor& x() const { return x_; }
  const Tensor& y() const { return y_; }

 private:
  Tensor x_, y_;
};

// The examples of `dataset` at `indices` (torch.utils.data.Subset).
template <typename T>
class Subset : public Dataset<T> {
 public:
  Subset(std::shared_ptr<const Dataset<T>> dataset, std::vector<int64_t> indices)
      : dataset_(std::move(dataset)), indices_(std::move(indices)) {
    WICK_CHECK(dataset_ != nullptr, "Subset: the dataset is null");
    for (int64_t i : indices_) check_index("Subset", i, dataset_->size());
  }
  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  T get(int64_t index) const override { return dataset_->get(at(index)); }
  T get_random(int64_t index, Generator& gen) const override { return dataset_->get_random(at(index), gen); }
  const std::vector<int64_t>& indices() const { return indices_; }

 private:
  int64_t at(int64_t index) const {
    check_index("Subset", index, size());
    return indices_[static_cast<size_t>(index)];
  }
  std::shared_ptr<const Dataset<T>> dataset_;
  std::vector<int64_t> indices_;
};

// A random partition of 0..n-1 into pieces of the given lengths (which must
// sum to n): consecutive pieces of randperm(n) drawn with Generator(seed).
inline std::vector<std::vector<int64_t>> random_split_indices(int64_t n, const std::vector<int64_t>& lengths,
                                                              uint64_t seed) {
  int64_t total = 0;
  for (int64_t l : lengths) {
    WICK_CHECK(l >= 0, "random_split: negative length ", l);
    total += l;
  }
  WICK_CHECK(total == n, "random_split: the lengths sum to ", total, " but the dataset has ", n, " examples");
  Generator gen(seed);
  std::vector<int64_t> perm = randperm(n, {}, &gen).tolist<int64_t>();
  std::vector<std::vector<int64_t>> out;
  auto it = perm.begin();
  for (int64_t l : lengths) {
    out.emplace_back(it, it + l);
    it += l;
  }
  return out;
}

// torch.utils.data.random_split: disjoint random subsets of the given lengths.
template <typename T>
std::vector<std::shared_ptr<Subset<T>>> random_split(std::shared_ptr<const Dataset<T>> dataset,
                                                     const std::vector<int64_t>& lengths, uint64_t seed) {
  WICK_CHECK(dataset != nullptr, "random_split: the dataset is null");
  std::vector<std::shared_ptr<Subset<T>>> out;
  for (auto& idx : random_split_indices(dataset->size(), lengths, seed))
    out.push_back(std::make_shared<Subset<T>>(dataset, std::move(idx)));
  return out;
}

// Example i is fn(base[i], gen): the way to attach augmentations to a
// dataset. fn must be safe to call from several threads at once.
template <typename In, typename Out>
class MapDataset : public Dataset<Out> {
 public:
  using Fn = std::function<Out(In, Generator&)>;
  MapDataset(std::shared_ptr<const Dataset<In>> base, Fn fn) : base_(std::move(base)), fn_(std::move(fn)) {
    WICK_CHECK(base_ != nullptr, "MapDataset: the dataset is null");
    WICK_CHECK(static_cast<bool>(fn_), "MapDataset: the function is empty");
  }
  int64_t size() const override { return base_->size(); }
  Out get(int64_t index) const override { return get_random(index, default_generator()); }
  Out get_random(int64_t index, Generator& gen) const override { return fn_(base_->get_random(index, gen), gen); }

 private:
  std::shared_ptr<const Dataset<In>> base_;
  Fn fn_;
};

// map_dataset(ds, [](Example e, Generator& g) { e.x = aug(e.x, &g); return e; })
template <typename D, typename F>
auto map_dataset(std::shared_ptr<D> base, F fn) {
  using In = typename D::ExampleType;
  using Out = std::invoke_result_t<F, In, Generator&>;
  return std::make_shared<MapDataset<In, Out>>(std::shared_ptr<const Dataset<In>>(std::move(base)),
                                               typename MapDataset<In, Out>::Fn(std::move(fn)));
}

}  // namespace wick::data
