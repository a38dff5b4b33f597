// General matrix multiply on the CPU, the kernel under matmul, linear and conv:
//   C[m, n] = alpha * sum_k A[m, k] * B[k, n] + beta * C[m, n]
// A and B are read through arbitrary (row, column) element strides (0 is
// allowed: broadcast operands), so transposed operands need no copy by the
// caller; C has unit column stride and row stride ldc. beta = 0 ignores C's
// contents (NaN included), as in BLAS.
//
// gemm_reference is the readable triple loop. gemm packs A and B into
// contiguous slivers and runs a register-tiled micro-kernel (the BLIS loop
// structure; see gemm.cpp), with direct paths for matrix-vector shapes.
// Row blocks are split across threads; called inside a parallel region (one
// product per thread, as batched matmul does) it runs serially.
// FLOPs: 2 M N K.
#pragma once

#include <cstdint>

namespace wick::cpu {

template <typename T>
struct MatRef {
  T* data;
  int64_t rs;  // row stride (elements)
  int64_t cs;  // column stride (elements)
  T at(int64_t i, int64_t j) const { return data[i * rs + j * cs]; }
};

template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, T alpha, MatRef<const T> A, MatRef<const T> B, T beta, T* C, int64_t ldc);

template <typename T>
void gemm_reference(int64_t M, int64_t N, int64_t K, T alpha, MatRef<const T> A, MatRef<const T> B, T beta, T* C,
                    int64_t ldc);

}  // namespace wick::cpu
