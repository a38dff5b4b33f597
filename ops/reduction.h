// Reductions over any set of dims (empty = all dims), with keepdim.
#pragma once

#include <optional>
#include <utility>

#include "tensor/tensor.h"

namespace wick {

using Dims = std::vector<int64_t>;

// Integer and bool inputs sum to int64 (like PyTorch); `dtype` overrides.
Tensor sum(const Tensor& x, const Dims& dims = {}, bool keepdim = false, std::optional<DType> dtype = {});
Tensor mean(const Tensor& x, const Dims& dims = {}, bool keepdim = false);
// Variance with Bessel-style correction (divide by N - correction).
Tensor var(const Tensor& x, const Dims& dims = {}, int64_t correction = 1, bool keepdim = false);
Tensor std(const Tensor& x, const Dims& dims = {}, int64_t correction = 1, bool keepdim = false);
Tensor prod(const Tensor& x, const Dims& dims = {}, bool keepdim = false);
// log(sum(exp(x))) computed stably.
Tensor logsumexp(const Tensor& x, const Dims& dims, bool keepdim = false);
// p in {1, 2, inf} (and other positive p); floating inputs.
Tensor norm(const Tensor& x, double p = 2.0, const Dims& dims = {}, bool keepdim = false);

// Over all elements.
Tensor max(const Tensor& x);
Tensor min(const Tensor& x);
// Over one dim: (values, indices); ties resolve to the first index.
std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim = false);
std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim = false);
// Over several dims (values only), like torch.amax/amin.
Tensor amax(const Tensor& x, const Dims& dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, const Dims& dims = {}, bool keepdim = false);
// Index of the max/min; without dim, into the flattened tensor.
Tensor argmax(const Tensor& x, std::optional<int64_t> dim = {}, bool keepdim = false);
Tensor argmin(const Tensor& x, std::optional<int64_t> dim = {}, bool keepdim = false);

Tensor cumsum(const Tensor& x, int64_t dim);
// bool results
Tensor all(const Tensor& x, const Dims& dims = {}, bool keepdim = false);
Tensor any(const Tensor& x, const Dims& dims = {}, bool keepdim = false);

// Shape of a reduction's output (keepdim keeps size-1 dims).
Shape reduced_shape(const Shape& in, const std::vector<int64_t>& wrapped_dims, bool keepdim);

}  // namespace wick
