// CPU kernels for the indexing ops (ops/indexing.h). The ops decide shapes
// and dtypes; these kernels only move data. Index tensors are int64. Every
// index is bounds-checked here, before or while it is used: an out-of-range
// index is a wick::Error naming the op, the index and the dim size, never an
// out-of-bounds access. Kernels that accumulate (index_add, scatter add,
// index_put accumulate) split work only across output positions that no two
// indices can share, so repeated indices are race-free and deterministic.
#pragma once

#include <vector>

#include "tensor/tensor.h"

namespace wick::cpu {

// out.select(dim, i) = x.select(dim, index[i]). index 1-D; out contiguous with
// x's shape except size index.numel() at dim; x any strides. Indices must lie
// in [0, x.size(dim)) (`op` names the caller in the error).
void index_select(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index,
                  const char* op = "index_select");

// out.select(dim, index[i]) += src.select(dim, i). out and src contiguous, one dtype.
void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src);

// out[p] = x[p with coordinate `dim` replaced by index[p]]; out contiguous of
// index's shape; x and index any strides, same number of dims.
void gather(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index);

// out[p with coordinate `dim` replaced by index[p]] = src[p] (or += when add),
// for every p in index's shape. src has out's dtype; any strides.
void scatter(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src, bool add);
// scatter with every src element = value (converted to out's dtype).
void scatter_fill(const Tensor& out, int64_t dim, const Tensor& index, const Scalar& value);

// 1-D tensor of the x[i] with mask[i], in row-major order. x and mask have
// the same shape (any strides); mask bool.
Tensor masked_select(const Tensor& x, const Tensor& mask);
// out[i] = src[k] for the k-th true mask[i] in row-major order. out contiguous
// with mask's shape (untouched where mask is false); src 1-D, out's dtype.
void masked_scatter(const Tensor& out, const Tensor& mask, const Tensor& src);

// [n, x.dim()] int64 coordinates of the nonzero elements (NaN is nonzero).
Tensor nonzero(const Tensor& x);

// Advanced indexing geometry. The x dims split into three groups:
// `pre` (kept, before the index dims in the result), `dims` (each indexed by
// the matching tensor of `indices`; all indices share one broadcast shape B)
// and `post` (kept, after). The result, contiguous, has shape
// sizes(pre) + B + sizes(post). Negative indices count from the end.
struct IndexSpec {
  std::vector<int64_t> pre, dims, post;
  std::vector<Tensor> indices;  // int64, all of shape B (broadcast views allowed)
  Shape broadcast_shape;        // B
};
// out = x[spec].
void index(const Tensor& out, const Tensor& x, const IndexSpec& spec);
// out[spec] = values (or += when accumulate); out contiguous; values
// contiguous of the result shape, out's dtype. With repeated indices and no
// accumulate, the last one in row-major order wins.
void index_put(const Tensor& out, const IndexSpec& spec, const Tensor& values, bool accumulate);

// out (zeros, contiguous, [index.numel(), num_classes]) gets 1 at [i, index[i]].
void one_hot(const Tensor& out, const Tensor& index, int64_t num_classes);

}  // namespace wick::cpu
