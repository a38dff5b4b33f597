// CPU kernels for fill and strided copy with dtype conversion.
#pragma once

#include "tensor/tensor.h"

namespace wick::cpu {

// Every element of t (any strides) = v converted to t's dtype.
void fill(const Tensor& t, const Scalar& v);
// dst[i] = convert(src[i]); src broadcast to dst's shape; any strides.
void copy(const Tensor& dst, const Tensor& src);

}  // namespace wick::cpu
