#include "ops/cpu/gemm.h"

#include <algorithm>
#include <vector>

#include "tensor/allocator.h"
#include "tensor/parallel.h"

namespace wick::cpu {

namespace {
constexpr int64_t kKC = 256;  // depth of a packed B panel
constexpr int64_t kNC = 512;  // width of a packed B panel (256 x 512 floats = 512 KiB, ~L2)

template <typename T>
void scale_c(int64_t M, int64_t N, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    if (beta == T(0))
      std::fill(c, c + N, T(0));  // beta = 0 ignores C, even NaN (BLAS semantics)
    else if (beta != T(1))
      for (int64_t j = 0; j < N; ++j) c[j] *= beta;
  }
}
}  // namespace

template <typename T>
void gemm_reference(int64_t M, int64_t N, int64_t K, T alpha, MatRef<const T> A, MatRef<const T> B, T beta, T* C,
                    int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      T acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += A.at(i, k) * B.at(k, j);
      T& c = C[i * ldc + j];
      c = alpha * acc + (beta == T(0) ? T(0) : beta * c);
    }
}

template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, T alpha, MatRef<const T> A, MatRef<const T> B, T beta, T* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  scale_c(M, N, beta, C, ldc);
  if (K == 0 || alpha == T(0)) return;
  const int64_t kc_max = std::min(K, kKC), nc_max = std::min(N, kNC);
  T* panel = static_cast<T*>(cpu_alloc(static_cast<size_t>(kc_max * nc_max) * sizeof(T)));
  for (int64_t n0 = 0; n0 < N; n0 += kNC) {
    const int64_t nc = std::min(kNC, N - n0);
    for (int64_t k0 = 0; k0 < K; k0 += kKC) {
      const int64_t kc = std::min(kKC, K - k0);
      // Pack B[k0:k0+kc, n0:n0+nc] row-major.
      for (int64_t k = 0; k < kc; ++k) {
        const T* src = B.data + (k0 + k) * B.rs + n0 * B.cs;
        T* dst = panel + k * nc;
        if (B.cs == 1)
          std::copy(src, src + nc, dst);
        else
          for (int64_t j = 0; j < nc; ++j) dst[j] = src[j * B.cs];
      }
      const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(kc * nc, 1));
      parallel_for(0, M, grain, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
          T* __restrict c = C + i * ldc + n0;
          const T* a = A.data + i * A.rs + k0 * A.cs;
          int64_t k = 0;
          // Two rows of the panel per pass halves the loads/stores of c.
          for (; k + 1 < kc; k += 2) {
            const T a0 = alpha * a[k * A.cs], a1 = alpha * a[(k + 1) * A.cs];
            const T* __restrict b0 = panel + k * nc;
            const T* __restrict b1 = b0 + nc;
            for (int64_t j = 0; j < nc; ++j) c[j] += a0 * b0[j] + a1 * b1[j];
          }
          for (; k < kc; ++k) {
            const T a0 = alpha * a[k * A.cs];
            const T* __restrict b0 = panel + k * nc;
            for (int64_t j = 0; j < nc; ++j) c[j] += a0 * b0[j];
          }
        }
      });
    }
  }
  cpu_free(panel);
}

#define WICK_GEMM_INSTANTIATE_(T)                                                                             \
  template void gemm<T>(int64_t, int64_t, int64_t, T, MatRef<const T>, MatRef<const T>, T, T*, int64_t);      \
  template void gemm_reference<T>(int64_t, int64_t, int64_t, T, MatRef<const T>, MatRef<const T>, T, T*, int64_t);
WICK_GEMM_INSTANTIATE_(float)
WICK_GEMM_INSTANTIATE_(double)
WICK_GEMM_INSTANTIATE_(int64_t)
WICK_GEMM_INSTANTIATE_(int32_t)
WICK_GEMM_INSTANTIATE_(uint8_t)
#undef WICK_GEMM_INSTANTIATE_

}  // namespace wick::cpu
