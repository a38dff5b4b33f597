// The DataLoader's non-template parts: the default collate functions, the
// epoch order and per-example seeds, and error wrapping (the loader itself is
// a template in data/dataloader.h).
//
// Seeds are derived with splitmix64 (Steele et al., "Fast splittable
// pseudorandom number generators", OOPSLA'14), a bijective 64-bit mixer, so
// that nearby (seed, epoch, index) triples give unrelated Philox keys.
#include "data/dataloader.h"

#include <exception>
#include <string>

#include "ops/shape.h"
#include "tensor/parallel.h"

namespace wick::data {

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

uint64_t combine(uint64_t h, uint64_t v) { return splitmix64(h + splitmix64(v)); }

// Distinct domains for the shuffling and the augmentation streams.
constexpr uint64_t kOrderDomain = 0x6F72646572ULL;    // "order"
constexpr uint64_t kExampleDomain = 0x6578616D70ULL;  // "examp"

Tensor stack_all(std::vector<Tensor>& ts, const char* what) {
  bool any = false, all = true;
  for (const Tensor& t : ts) {
    any = any || t.defined();
    all = all && t.defined();
  }
  if (!any) return Tensor();
  WICK_CHECK(all, "default_collate: ", what, " is defined for some examples of the batch and undefined for others");
  for (size_t i = 1; i < ts.size(); ++i)
    WICK_CHECK(ts[i].sizes() == ts[0].sizes(), "default_collate: ", what, " of example ", i, " has shape ",
               shape_str(ts[i].sizes()), " but example 0 has ", shape_str(ts[0].sizes()),
               "; pass a collate function to batch examples of different shapes");
  return stack(ts, 0);
}

}  // namespace

Example default_collate(std::vector<Example>&& examples) {
  WICK_CHECK(!examples.empty(), "default_collate: empty batch");
  std::vector<Tensor> xs, ys;
  xs.reserve(examples.size());
  ys.reserve(examples.size());
  for (Example& e : examples) {
    xs.push_back(std::move(e.x));
    ys.push_back(std::move(e.y));
  }
  return {stack_all(xs, "x"), stack_all(ys, "y")};
}

Tensor default_collate(std::vector<Tensor>&& examples) {
  WICK_CHECK(!examples.empty(), "default_collate: empty batch");
  return stack_all(examples, "the tensor");
}

std::vector<Tensor> default_collate(std::vector<std::vector<Tensor>>&& examples) {
  WICK_CHECK(!examples.empty(), "default_collate: empty batch");
  const size_t k = examples[0].size();
  for (size_t i = 1; i < examples.size(); ++i)
    WICK_CHECK(examples[i].size() == k, "default_collate: example ", i, " holds ", examples[i].size(),
               " tensors but example 0 holds ", k);
  std::vector<Tensor> out;
  for (size_t j = 0; j < k; ++j) {
    std::vector<Tensor> column;
    column.reserve(examples.size());
    for (auto& e : examples) column.push_back(std::move(e[j]));
    out.push_back(stack_all(column, "a tensor"));
  }
  return out;
}

namespace detail {

std::vector<int64_t> epoch_order(int64_t n, bool shuffle, uint64_t seed, int64_t epoch) {
  if (!shuffle || n == 0) {
    std::vector<int64_t> order(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
    return order;
  }
  Generator gen(combine(combine(seed, kOrderDomain), static_cast<uint64_t>(epoch)));
  return randperm(n, {}, &gen).tolist<int64_t>();
}

uint64_t example_seed(uint64_t seed, int64_t epoch, int64_t index) {
  return combine(combine(combine(seed, kExampleDomain), static_cast<uint64_t>(epoch)), static_cast<uint64_t>(index));
}

void rethrow_batch_error(int64_t batch, int64_t first_example, int64_t count) {
  const std::string where = str("DataLoader: building batch ", batch, " (positions ", first_example, "..",
                                first_example + count - 1, " of the epoch's order) failed: ");
  try {
    throw;
  } catch (const std::exception& e) {
    throw Error(where + e.what());
  } catch (...) {
    throw Error(where + "an exception that is not a std::exception");
  }
}

void check_options(const DataLoaderOptions& opt) {
  WICK_CHECK(opt.batch_size >= 1, "DataLoader: batch_size must be at least 1, got ", opt.batch_size);
  WICK_CHECK(opt.num_workers >= 0, "DataLoader: num_workers must be >= 0, got ", opt.num_workers);
  WICK_CHECK(opt.prefetch >= 1, "DataLoader: prefetch must be at least 1, got ", opt.prefetch);
}

// Worker threads build batches while the training loop runs its kernels on the
// OpenMP team. A kernel called on a worker would fork a team of its own (OpenMP
// keeps one per forking thread): k workers x n threads on n cores. The workers'
// kernels run serially instead; the loop keeps the cores.
void worker_thread_setup() { set_thread_serial(true); }

}  // namespace detail

}  // namespace wick::data
