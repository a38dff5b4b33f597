// CPU kernels of the reduction family (ops/reduction.cpp checks the inputs,
// picks the dtypes and allocates the outputs).
//
// Every kernel reads x with any strides, reduces over `dims` (sorted, wrapped,
// no duplicates) and writes a contiguous output whose elements are in
// keepdim order (row-major over the kept dims); keepdim or not is only a view
// of the same buffer.
#pragma once

#include <vector>

#include "tensor/tensor.h"

namespace wick::cpu {

using ReduceDims = std::vector<int64_t>;

// out = sum / prod of x over dims. out's dtype is x's, or int64 when x is
// bool or integral; floating sums accumulate in acc_t (double for float32).
void sum(const Tensor& x, const ReduceDims& dims, const Tensor& out);
void prod(const Tensor& x, const ReduceDims& dims, const Tensor& out);
// Floating x; out has x's dtype. An empty reduction gives nan.
void mean(const Tensor& x, const ReduceDims& dims, const Tensor& out);
// Welford's online variance divided by max(0, N - correction); take_sqrt: std.
void var(const Tensor& x, const ReduceDims& dims, int64_t correction, bool take_sqrt, const Tensor& out);
// Online max-shifted log(sum(exp(x))); floating x.
void logsumexp(const Tensor& x, const ReduceDims& dims, const Tensor& out);
// (sum |x|^p)^(1/p), p > 0, p = inf for max |x|; floating x.
void norm(const Tensor& x, double p, const ReduceDims& dims, const Tensor& out);
// NaN-propagating max (is_max) or min; out has x's dtype.
void extremum(const Tensor& x, const ReduceDims& dims, bool is_max, const Tensor& out);
// The value and row-major index (among the reduced elements) of the first
// max (is_max) or min; NaN counts as larger/smaller than everything, like
// PyTorch. `values` may be undefined; `indices` is int64.
void arg_extremum(const Tensor& x, const ReduceDims& dims, bool is_max, const Tensor& values, const Tensor& indices);
// Logical all / any of x != 0 into a bool output.
void all(const Tensor& x, const ReduceDims& dims, const Tensor& out);
void any(const Tensor& x, const ReduceDims& dims, const Tensor& out);

// out = inclusive prefix sum of x along dim (reverse: suffix sum, from the
// end). x and out have the same shape and dtype; out is contiguous.
void cumsum(const Tensor& x, int64_t dim, bool reverse, const Tensor& out);

}  // namespace wick::cpu
