// CPU kernels for linear algebra: batched matrix products (loops over
// cpu::gemm), triangular masks, and the Jacobi symmetric eigensolver.
// Shapes, dtypes and devices are checked by the callers in ops/linalg.cpp.
#pragma once

#include <vector>

#include "tensor/tensor.h"

namespace wick::cpu {

// Element offset of each matrix of t (all dims but the last two are batch
// dims) for every index of `batch`, in row-major order; t's batch dims are
// right-aligned with `batch` and broadcast (stride 0) where missing or 1.
// Layout arithmetic only (no memory access): the CUDA GEMM uses it too.
std::vector<int64_t> batch_offsets(const Tensor& t, const Shape& batch);

// out[i] = alpha * a[i] @ b[i] + beta * out[i] for every batch index i of
// out = [batch..., M, N] (contiguous). a = [..., M, K] and b = [..., K, N]
// have batch dims broadcastable to out's (read with stride 0 where
// broadcast) and any strides: no operand is copied. beta = 0 ignores out's
// contents. Small products run one per thread; large ones parallelize
// inside gemm.
void batched_gemm(const Tensor& out, const Tensor& a, const Tensor& b, const Scalar& alpha, const Scalar& beta);

// out = tril(x, k) (lower) or triu(x, k) over the last two dims; out is
// contiguous with x's shape.
void triangle(const Tensor& out, const Tensor& x, int64_t k, bool lower);

// Eigen-decomposition of the symmetric matrices x = [batch..., n, n]
// (float32/float64, lower triangle read) into w = [batch..., n] ascending and
// v = [batch..., n, n] (eigenvectors as columns), both contiguous with x's
// dtype. Computed in double. Returns false if some matrix has a non-finite
// entry (its outputs are then NaN).
bool eigh(const Tensor& w, const Tensor& v, const Tensor& x);

}  // namespace wick::cpu
