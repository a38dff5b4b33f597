// CPU kernels for sorting and selection along a dim, and unique.
//
// Order: ascending with NaN after every number (descending: NaN first), ties
// broken by the original position, so every result is deterministic and
// equal to a stable sort's.
#pragma once

#include "tensor/tensor.h"

namespace wick::cpu {

// values, indices (contiguous, x's shape; indices int64) = x sorted along dim.
void sort(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t dim, bool descending);
// values, indices (contiguous, x's shape with size k along dim) = the first k
// of x sorted along dim (descending when largest).
void topk(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t k, int64_t dim, bool largest);
// Sorted unique elements of x (flattened), the index of each element of x in
// them (x's shape) and their counts. Every NaN is its own unique element.
void unique(const Tensor& x, Tensor& values, Tensor& inverse, Tensor& counts);

}  // namespace wick::cpu
