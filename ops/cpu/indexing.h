// CPU kernels for indexing ops. Index tensors are int64 and contiguous;
// every index is bounds-checked (an out-of-range index is a wick::Error,
// never an out-of-bounds access).
#pragma once

#include "tensor/tensor.h"

namespace wick::cpu {

// out.select(dim, index[i]) += src.select(dim, i)
void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src);
// out.select(dim, i) = x.select(dim, index[i])
void index_select(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index);

}  // namespace wick::cpu
