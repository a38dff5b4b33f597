// CPU kernels for the shape ops that copy (cat, repeat, flip, roll, pad).
// The ops layer (ops/shape.cpp) checks arguments and allocates outputs; the
// kernels only move bytes. Outputs are contiguous unless stated otherwise.
#pragma once

#include <vector>

#include "tensor/tensor.h"

namespace wick::cpu {

// out = the inputs joined along dim (out contiguous; inputs any strides and
// dtypes, converted to out's dtype). Inputs with zero elements are skipped.
void cat(const Tensor& out, const std::vector<Tensor>& inputs, int64_t dim);

// out (shape [r0*s0, r1*s1, ...], contiguous) = x tiled reps times; x's shape
// is aligned to the right of reps (missing leading dims are 1).
void repeat(const Tensor& out, const Tensor& x, const Shape& reps);

// out = x reversed along every dim d with flip[d] (out any strides).
void flip(const Tensor& out, const Tensor& x, const std::vector<bool>& flip);

// out = x rolled by shifts[d] along every dim d (shifts already in [0, size)).
void roll(const Tensor& out, const Tensor& x, const Shape& shifts);

// out = x padded (pads per dim, lo[d]/hi[d] may be negative = crop) with value.
void pad_constant(const Tensor& out, const Tensor& x, const Shape& lo, const Shape& hi, const Scalar& value);

// Reflect padding of the last k = lo.size() dims: out[i] = x[reflect(i)],
// reflect(i) = |i - lo| mirrored at both ends without repeating the edge.
// x and out contiguous; 0 <= lo, hi < size along each padded dim.
void reflect_pad(const Tensor& out, const Tensor& x, const Shape& lo, const Shape& hi);
// Its adjoint: grad_in (contiguous, zero-filled by the caller) += the sum of
// grad_out over every output position that reads that input element.
void reflect_pad_backward(const Tensor& grad_in, const Tensor& grad_out, const Shape& lo, const Shape& hi);

}  // namespace wick::cpu
