// Indexing: gather and scatter along a dim, index_select/index_add, masks,
// nonzero, integer-tensor indexing, one_hot and embedding lookup.
#pragma once

#include "tensor/tensor.h"

namespace wick {

// out = x with out.select(dim, index[i]) += source.select(dim, i); index is 1-d int64.
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& source, const Scalar& alpha = 1);

}  // namespace wick

namespace wick {
// out.select(dim, i) = x.select(dim, index[i]); index is 0-d or 1-d integer.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
}  // namespace wick
