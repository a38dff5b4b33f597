// CUDA kernels of the shape ops that need more than copies: reflect padding
// and its backward (ops/shape.cpp pad; the contracts of ops/cpu/shape.h).
// cat, stack, repeat, constant pad, flip and roll run on CUDA through the
// copy kernels and need nothing here.
#pragma once

#include "tensor/tensor.h"

namespace wick::cuda {

// Reflect padding of the last k = lo.size() (1..3) dims: out[i] = x[reflect(i)],
// reflect(i) = |i - lo| mirrored at both ends without repeating the edge.
// x and out contiguous, one dtype; 0 <= lo, hi < size along each padded dim.
void reflect_pad(const Tensor& out, const Tensor& x, const Shape& lo, const Shape& hi);
// Its adjoint: grad_in[j] = the sum of grad_out over every output position
// that reads input element j (every element of grad_in is written).
// Contiguous, one floating dtype. Deterministic (no atomics).
void reflect_pad_backward(const Tensor& grad_in, const Tensor& grad_out, const Shape& lo, const Shape& hi);

}  // namespace wick::cuda
