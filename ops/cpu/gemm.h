// General matrix multiply on the CPU, the kernel under matmul, linear and conv:
//   C[m, n] = alpha * sum_k A[m, k] * B[k, n] + beta * C[m, n]
// A and B are read through arbitrary (row, column) element strides, so
// transposed operands need no copy by the caller; C has unit column stride.
//
// gemm_reference is the readable triple loop. gemm is cache-blocked: B is
// packed into contiguous KC x NC panels (a panel fits L2), and each row of C
// is updated as c[j] += a[i,k] * b[k,j] over the panel, an inner loop the
// compiler vectorizes with FMAs. Rows of C are split across threads.
// FLOPs: 2 M N K. The register-tiled BLIS-style kernel is the fast-kernels
// work; this one is the correct, reasonably quick baseline.
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
