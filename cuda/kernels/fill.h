// CUDA kernels of the creation ops that write memory (mirrors ops/cpu/fill.h
// and the loops of ops/creation.cpp, with the same element formulas).
#pragma once

#include "tensor/tensor.h"

namespace wick::cuda {

// Every element of t (any strides) = v converted to t's dtype.
void fill(const Tensor& t, const Scalar& v);
// t (contiguous, 1-d): t[i] = start + i * step, computed in int64 when
// `integral` (start/step integers) else in double, then converted.
void arange(const Tensor& t, const Scalar& start, const Scalar& step, bool integral);
// t (contiguous, 1-d, numel >= 2): torch's two-sided linspace (ops/creation.cpp).
void linspace(const Tensor& t, double start, double end);
// t (contiguous [n, m], already zero): ones on the main diagonal.
void eye_diagonal(const Tensor& t);

}  // namespace wick::cuda
