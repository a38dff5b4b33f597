// Sorting and selection: sort/argsort (stable), topk, unique.
#pragma once

#include <utility>

#include "tensor/tensor.h"

namespace wick {

// (values, int64 indices) along dim; stable (ties keep input order); NaN sorts
// as larger than every number, like PyTorch.
std::pair<Tensor, Tensor> sort(const Tensor& x, int64_t dim = -1, bool descending = false);
Tensor argsort(const Tensor& x, int64_t dim = -1, bool descending = false);
// The k largest (or smallest) along dim: (values, indices), sorted.
std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim = -1, bool largest = true, bool sorted = true);

struct UniqueResult {
  Tensor values;   // sorted unique elements (1-D)
  Tensor inverse;  // for each input element, its index in values (x's shape), int64
  Tensor counts;   // occurrences of each unique value, int64
};
// torch.unique(sorted=True, return_inverse=True, return_counts=True) over the flattened input.
UniqueResult unique(const Tensor& x);

}  // namespace wick
