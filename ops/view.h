// View ops: new sizes/strides/offset over the same storage, no copy.
// Their gradients are views or scatters of the incoming gradient.
// The Tensor methods (x.view(...), x.permute(...)) call these.
#pragma once

#include <optional>

#include "tensor/tensor.h"

namespace wick {

// One dim may be -1 (inferred). Fails if the strides cannot express the
// new shape without a copy (then use reshape).
Tensor view(const Tensor& x, const Shape& shape);
// A view when possible, otherwise a contiguous copy.
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);
// Python-style slice [start:end:step] along dim; negative indices count from
// the end, out-of-range bounds are clamped; step > 0.
Tensor slice(const Tensor& x, int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step = 1);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
// Removes dim, taking index (negative counts from the end).
Tensor select(const Tensor& x, int64_t dim, int64_t index);
// Size-1 dims broadcast to `shape` (stride 0); -1 keeps a size; new leading dims allowed.
Tensor expand(const Tensor& x, const Shape& shape);
Tensor squeeze(const Tensor& x, std::optional<int64_t> dim = {});
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor unflatten(const Tensor& x, int64_t dim, const Shape& sizes);
// The diagonal over (dim1, dim2), appended as the last dim.
Tensor diagonal(const Tensor& x, int64_t offset = 0, int64_t dim1 = 0, int64_t dim2 = 1);
// Raw geometry over x's storage (offset defaults to x's).
Tensor as_strided(const Tensor& x, const Shape& sizes, const Shape& strides, std::optional<int64_t> offset = {});

}  // namespace wick
