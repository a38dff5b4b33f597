// Copies and conversions: copy_, contiguous, clone, to(dtype), to(device).
// All are differentiable (the gradient of a conversion is converted back).
#pragma once

#include "tensor/tensor.h"

namespace wick {

// dst = src (broadcast to dst's shape, converted to dst's dtype), in place.
Tensor& copy_(Tensor& dst, const Tensor& src);
Tensor clone(const Tensor& t);
Tensor contiguous(const Tensor& t);
Tensor to_dtype(const Tensor& t, DType dtype);
Tensor to_device(const Tensor& t, Device device);

// Throws if writing into t would write one memory location twice (an
// expanded tensor): in-place ops call this, naming themselves.
void check_writable(const Tensor& t, const char* op);

}  // namespace wick
