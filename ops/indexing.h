// Indexing: gather and scatter along a dim, index_select/index_add, masks,
// nonzero, integer-tensor (advanced) indexing, one_hot and embedding lookup.
// Index tensors are int64 (int32 accepted); every index is bounds-checked and
// an out-of-range index is a wick::Error naming the op, index and size.
#pragma once

#include <vector>

#include "tensor/tensor.h"

namespace wick {

// out.select(dim, i) = x.select(dim, index[i]); index is 0-d or 1-d.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// out = x with out.select(dim, index[i]) += alpha * source.select(dim, i).
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& source, const Scalar& alpha = 1);
// out[i][j][k] = x[index[i][j][k]][j][k] (dim 0), etc. index.dim() == x.dim().
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// out = x with out[index[i][j]][j] = src[i][j] (dim 0), etc.
Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Scalar& value);
// Like scatter, but adds (duplicates accumulate).
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
// 1-D tensor of the elements of x where mask (bool, broadcast) is true.
Tensor masked_select(const Tensor& x, const Tensor& mask);
// [n, ndim] int64 coordinates of the nonzero elements, row-major order.
Tensor nonzero(const Tensor& x);
// Advanced indexing x[i0, i1, ...]: indices[k] indexes dim k (undefined
// Tensor = take the whole dim, like ':'); index tensors broadcast together;
// a bool tensor is a mask (converted with nonzero). Result shape follows
// NumPy/PyTorch (indexed dims replaced by the broadcast index shape).
Tensor index(const Tensor& x, const std::vector<Tensor>& indices);
// x[indices] = values (accumulate: +=); out of place.
Tensor index_put(const Tensor& x, const std::vector<Tensor>& indices, const Tensor& values, bool accumulate = false);
// [..., num_classes] int64 one-hot; num_classes = -1 infers max + 1.
Tensor one_hot(const Tensor& index, int64_t num_classes = -1);
// Rows of weight [V, D] for every index: out shape index.shape + [D].
// padding_idx >= 0: that row gets no gradient.
Tensor embedding(const Tensor& weight, const Tensor& index, int64_t padding_idx = -1);

}  // namespace wick
