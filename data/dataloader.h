// DataLoader: batches of a map-style Dataset, as torch.utils.data.DataLoader.
//
//   auto ds = std::make_shared<data::TensorDataset>(x, y);
//   data::DataLoader loader(ds, {.batch_size = 64, .shuffle = true, .seed = 0, .num_workers = 2});
//   for (int epoch = 0; epoch < 10; ++epoch) {
//     loader.set_epoch(epoch);
//     for (auto& batch : loader) step(batch.x, batch.y);
//   }
//
// Order. Epoch e visits the examples in the order randperm(n) drawn with a
// generator seeded by (seed, e) when shuffling, else 0..n-1, and cuts it
// into batches of batch_size (the last one smaller unless drop_last). A
// random dataset (augmentations) gets example i of epoch e from a generator
// seeded by (seed, e, i). So the batches are a pure function of (seed, e):
// the same for any num_workers, and reproducible on resume with set_epoch.
// Each iteration uses the current epoch and then advances it by one, so
// plain consecutive loops see new orders; set_epoch(e) picks the next one.
//
// Workers. num_workers = 0 builds each batch on the calling thread when the
// loop asks for it. num_workers = k > 0 starts k threads at the start of the
// loop; they build batches ahead, at most `prefetch` per worker in flight,
// into a ring of slots, and the loop receives them in order. An exception
// thrown while building a batch is rethrown in the loop, at that batch, as a
// wick::Error naming the batch. Breaking out of the loop (or an exception)
// destroys the iterator, which stops the workers and joins them; the work
// in flight is discarded.
//
// Collate. The default collate stacks: Example -> Example{stack(x), stack(y)},
// Tensor -> stack, std::vector<Tensor> -> stack position by position. Other
// example types pass a collate function std::vector<T> -> Batch.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "data/dataset.h"

namespace wick::data {

struct DataLoaderOptions {
  int64_t batch_size = 1;
  bool shuffle = false;
  bool drop_last = false;  // drop the last batch when it is smaller than batch_size
  uint64_t seed = 0;       // the shuffling and augmentation seed
  int num_workers = 0;     // background threads; 0 builds batches on the calling thread
  int prefetch = 2;        // batches in flight per worker (PyTorch's prefetch_factor)
};

// ---- the default collate ----
Example default_collate(std::vector<Example>&& examples);
Tensor default_collate(std::vector<Tensor>&& examples);
std::vector<Tensor> default_collate(std::vector<std::vector<Tensor>>&& examples);

template <typename T>
concept DefaultCollatable = requires(std::vector<T> v) {
  default_collate(std::move(v));
};

// ---- the pieces of the loader that are not templates (dataloader.cpp) ----
namespace detail {
// The order of the examples in an epoch (see the top comment).
std::vector<int64_t> epoch_order(int64_t n, bool shuffle, uint64_t seed, int64_t epoch);
// The seed of example `index`'s generator in `epoch`.
uint64_t example_seed(uint64_t seed, int64_t epoch, int64_t index);
// Rethrows the exception being handled as a wick::Error that names the batch.
[[noreturn]] void rethrow_batch_error(int64_t batch, int64_t first_example, int64_t count);
void check_options(const DataLoaderOptions& opt);
// Run first on each worker thread: its kernels run serially (tensor/parallel.h).
void worker_thread_setup();
}  // namespace detail

template <typename T = Example, typename Batch = T>
class DataLoader {
 public:
  using Collate = std::function<Batch(std::vector<T>&&)>;

  DataLoader(std::shared_ptr<const Dataset<T>> dataset, DataLoaderOptions options, Collate collate = default_fn())
      : dataset_(std::move(dataset)), options_(options), collate_(std::move(collate)) {
    WICK_CHECK(dataset_ != nullptr, "DataLoader: the dataset is null");
    WICK_CHECK(static_cast<bool>(collate_), "DataLoader: no collate function for this example type; pass one");
    detail::check_options(options_);
  }

  // The number of batches per epoch (len(loader)).
  int64_t len() const {
    const int64_t n = dataset_->size(), b = options_.batch_size;
    return options_.drop_last ? n / b : (n + b - 1) / b;
  }
  int64_t size() const { return len(); }
  // The epoch the next iteration uses.
  int64_t epoch() const { return epoch_; }
  void set_epoch(int64_t epoch) { epoch_ = epoch; }
  const DataLoaderOptions& options() const { return options_; }
  const Dataset<T>& dataset() const { return *dataset_; }
  // The example order of `epoch`, before it is cut into batches.
  std::vector<int64_t> order(int64_t epoch) const {
    return detail::epoch_order(dataset_->size(), options_.shuffle, options_.seed, epoch);
  }

  class Iterator;
  // Starts an epoch (the workers, if any) and returns its first batch.
  Iterator begin() { return Iterator(std::make_shared<Epoch>(*this, epoch_++)); }
  std::default_sentinel_t end() const { return {}; }

 private:
  static Collate default_fn() {
    if constexpr (DefaultCollatable<T>) {
      if constexpr (std::is_same_v<Batch, decltype(default_collate(std::declval<std::vector<T>>()))>)
        return [](std::vector<T>&& v) { return default_collate(std::move(v)); };
      else
        return {};
    } else {
      return {};
    }
  }

  // One pass over the data: the order, the workers and the ring of slots
  // they fill. Owned by the Iterator (and so by the loop).
  class Epoch {
   public:
    Epoch(const DataLoader& loader, int64_t epoch)
        : dataset_(loader.dataset_),
          collate_(loader.collate_),
          seed_(loader.options_.seed),
          epoch_(epoch),
          batch_size_(loader.options_.batch_size),
          num_batches_(loader.len()),
          order_(loader.order(epoch)) {
      const int workers = static_cast<int>(std::min<int64_t>(loader.options_.num_workers, num_batches_));
      if (workers == 0) return;
      slots_.resize(static_cast<size_t>(static_cast<int64_t>(workers) * loader.options_.prefetch));
      try {
        for (int w = 0; w < workers; ++w)
          threads_.emplace_back([this] {
            detail::worker_thread_setup();
            work();
          });
      } catch (...) {  // could not start a thread: stop the ones running
        shutdown();
        throw;
      }
    }
    ~Epoch() { shutdown(); }
    Epoch(const Epoch&) = delete;
    Epoch& operator=(const Epoch&) = delete;

    int64_t num_batches() const { return num_batches_; }

    // Batch b (b = 0, 1, ... in order): from the workers or built here.
    Batch take(int64_t b) {
      if (threads_.empty()) return build(b);
      Slot& s = slots_[static_cast<size_t>(b) % slots_.size()];
      std::unique_lock<std::mutex> lock(mutex_);
      to_consumer_.wait(lock, [&] { return s.ready; });
      std::optional<Batch> batch = std::move(s.batch);
      std::exception_ptr error = s.error;
      s = Slot();
      next_take_ = b + 1;
      lock.unlock();
      to_workers_.notify_all();
      if (error) std::rethrow_exception(error);
      return std::move(*batch);
    }

   private:
    void shutdown() {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
      }
      to_workers_.notify_all();
      for (auto& t : threads_) t.join();
      threads_.clear();
    }

    struct Slot {
      bool ready = false;
      std::optional<Batch> batch;
      std::exception_ptr error;
    };

    Batch build(int64_t b) const {
      const int64_t first = b * batch_size_;
      const int64_t count = std::min<int64_t>(batch_size_, static_cast<int64_t>(order_.size()) - first);
      try {
        std::vector<T> examples;
        examples.reserve(static_cast<size_t>(count));
        for (int64_t k = first; k < first + count; ++k) {
          const int64_t i = order_[static_cast<size_t>(k)];
          Generator gen(detail::example_seed(seed_, epoch_, i));
          examples.push_back(dataset_->get_random(i, gen));
        }
        return collate_(std::move(examples));
      } catch (...) {
        detail::rethrow_batch_error(b, first, count);
      }
    }

    // A worker: claims the next batch while the ring has room, builds it
    // without the lock, and files it (or its exception) in its slot.
    void work() {
      const int64_t capacity = static_cast<int64_t>(slots_.size());
      for (;;) {
        int64_t b;
        {
          std::unique_lock<std::mutex> lock(mutex_);
          to_workers_.wait(lock,
                           [&] { return stop_ || next_claim_ >= num_batches_ || next_claim_ < next_take_ + capacity; });
          if (stop_ || next_claim_ >= num_batches_) return;
          b = next_claim_++;
        }
        std::optional<Batch> batch;
        std::exception_ptr error;
        try {
          batch.emplace(build(b));
        } catch (...) {
          error = std::current_exception();
        }
        {
          std::lock_guard<std::mutex> lock(mutex_);
          // Batch b - capacity was taken before b was claimed, so the slot is free.
          Slot& s = slots_[static_cast<size_t>(b % capacity)];
          s.batch = std::move(batch);
          s.error = error;
          s.ready = true;
        }
        to_consumer_.notify_all();
      }
    }

    std::shared_ptr<const Dataset<T>> dataset_;
    Collate collate_;
    uint64_t seed_;
    int64_t epoch_, batch_size_, num_batches_;
    std::vector<int64_t> order_;

    std::mutex mutex_;
    std::condition_variable to_workers_, to_consumer_;
    std::vector<Slot> slots_;  // batch b lives in slot b % size
    int64_t next_claim_ = 0, next_take_ = 0;
    bool stop_ = false;
    std::vector<std::thread> threads_;  // last: started after everything above exists
  };

 public:
  // An input iterator over one epoch's batches; move-only (it owns the epoch).
  class Iterator {
   public:
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    explicit Iterator(std::shared_ptr<Epoch> epoch) : epoch_(std::move(epoch)) { fetch(); }
    Iterator(Iterator&&) noexcept = default;
    Iterator& operator=(Iterator&&) noexcept = default;
    Batch& operator*() const { return *current_; }
    Batch* operator->() const { return &*current_; }
    Iterator& operator++() {
      ++index_;
      fetch();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const Iterator& it, std::default_sentinel_t) { return it.epoch_ == nullptr; }
    // The batch's position in the epoch.
    int64_t index() const { return index_; }

   private:
    void fetch() {
      current_.reset();
      if (!epoch_ || index_ >= epoch_->num_batches()) {
        epoch_.reset();  // stops and joins the workers
        return;
      }
      try {
        current_.emplace(epoch_->take(index_));
      } catch (...) {
        epoch_.reset();
        throw;
      }
    }
    std::shared_ptr<Epoch> epoch_;
    int64_t index_ = 0;
    mutable std::optional<Batch> current_;
  };

 private:
  std::shared_ptr<const Dataset<T>> dataset_;
  DataLoaderOptions options_;
  Collate collate_;
  int64_t epoch_ = 0;
};

// DataLoader loader(std::make_shared<TensorDataset>(x, y), opts) deduces the
// example type; with a collate function, the batch type too.
template <typename D>
DataLoader(std::shared_ptr<D>, DataLoaderOptions) -> DataLoader<typename D::ExampleType>;
template <typename D, typename F>
DataLoader(std::shared_ptr<D>, DataLoaderOptions, F)
    -> DataLoader<typename D::ExampleType, std::invoke_result_t<F, std::vector<typename D::ExampleType>&&>>;

}  // namespace wick::data
