// General matrix multiply on the CPU (see gemm.h for the contract).
//
// gemm_reference: the textbook triple loop, kept as the readable definition
// and as the oracle of the tests.
//
// gemm: the BLIS / GotoBLAS loop structure.
//   for each NC-wide column block of B and C
//     for each KC-deep slice of K
//       pack B[kc, nc] into NR-wide column slivers   (stays in L2/L3)
//       for each MC-tall row block of A (in parallel)
//         pack alpha * A[mc, kc] into MR-tall row slivers   (stays in L2)
//         for each NR sliver, for each MR sliver: micro-kernel
// The micro-kernel keeps an MR x NR tile of C in registers and does kc rank-1
// updates, each reading MR values of packed A and NR of packed B, all
// contiguous: 2*MR*NR flops per (MR+NR) loads. It is C++ with GCC/Clang
// vector types; with AVX2 + FMA the float 6 x 16 tile is 12 ymm
// accumulators. Packing also makes the strides of A and B irrelevant to the
// inner loop, so transposed operands cost only the (O(n^2)) pack.
// Edge tiles are zero-padded in the packs and written back partially.
//
// Degenerate shapes take direct paths: N == 1 (matrix-vector) and M == 1
// (vector-matrix) are memory bound, so they stream the matrix once with
// vectorized dot products or row updates instead of packing it.
//
// FLOPs: 2 M N K. Measured (thread CPU time, one thread, on a shared and
// loaded 2-core AMD EPYC with AVX2 + FMA at 2.45 GHz: float peak 78 GFLOP/s,
// double 39): M = N = K = 256..1024 float 35-50 GFLOP/s (45-65% of peak),
// double 19-28 GFLOP/s; the earlier row-update kernel reached 14-23 (float).
// A hand-written assembly kernel and A/B prefetching would close the rest.
#include "ops/cpu/gemm.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "tensor/parallel.h"

namespace wick::cpu {

namespace {

// Register tile (MR x NR) and cache blocks, per element type. NR is two
// 256-bit vectors wide for float and double.
template <typename T>
struct Tile {
  static constexpr int MR = 6;
  static constexpr int NR = 64 / static_cast<int>(sizeof(T)) < 16 ? 64 / static_cast<int>(sizeof(T)) : 16;
};
constexpr int64_t kKC = 256;   // depth of a packed slice (MR x KC of A + KC x NR of B fit L1)
constexpr int64_t kMC = 72;    // rows of a packed A block (MC x KC floats = 72 KiB, L2)
constexpr int64_t kNC = 2048;  // columns of a packed B block (KC x NC floats = 2 MiB, L3)

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

// Per-thread scratch for the packs, grown on demand and kept (no allocation
// per call; at most KC x NC + MC x KC elements per thread, ~2.3 MiB float).
template <typename T>
T* scratch(std::vector<T>& buf, int64_t n) {
  if (static_cast<int64_t>(buf.size()) < n) buf.resize(static_cast<size_t>(n));
  return buf.data();
}

// B[k0:k0+kc, j0:j0+nc] -> slivers of NR columns, each kc x NR row-major,
// zero-padded past nc.
template <typename T>
void pack_b(int64_t kc, int64_t nc, const T* b, int64_t rs, int64_t cs, T* dst) {
  constexpr int NR = Tile<T>::NR;
  for (int64_t j0 = 0; j0 < nc; j0 += NR) {
    const int64_t nr = std::min<int64_t>(NR, nc - j0);
    for (int64_t k = 0; k < kc; ++k) {
      const T* src = b + k * rs + j0 * cs;
      T* d = dst + k * NR;
      if (nr == NR && cs == 1) {
        for (int j = 0; j < NR; ++j) d[j] = src[j];
      } else {
        for (int64_t j = 0; j < nr; ++j) d[j] = src[j * cs];
        for (int64_t j = nr; j < NR; ++j) d[j] = T(0);
      }
    }
    dst += kc * NR;
  }
}

// alpha * A[i0:i0+mc, k0:k0+kc] -> slivers of MR rows, each kc x MR
// (column-major within the sliver), zero-padded past mc.
template <typename T>
void pack_a(int64_t mc, int64_t kc, T alpha, const T* a, int64_t rs, int64_t cs, T* dst) {
  constexpr int MR = Tile<T>::MR;
  for (int64_t i0 = 0; i0 < mc; i0 += MR) {
    const int64_t mr = std::min<int64_t>(MR, mc - i0);
    for (int64_t k = 0; k < kc; ++k) {
      const T* src = a + i0 * rs + k * cs;
      T* d = dst + k * MR;
      for (int64_t i = 0; i < mr; ++i) d[i] = alpha * src[i * rs];
      for (int64_t i = mr; i < MR; ++i) d[i] = T(0);
    }
    dst += kc * MR;
  }
}

// Adds the MR x NR tile acc to C[0:mr, 0:nr] (all of it for interior tiles).
template <typename T, int MR, int NR>
void store_tile(const T (&acc)[MR][NR], T* c, int64_t ldc, int64_t mr, int64_t nr) {
  if (mr == MR && nr == NR) {
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) c[i * ldc + j] += acc[i][j];
  } else {
    for (int64_t i = 0; i < mr; ++i)
      for (int64_t j = 0; j < nr; ++j) c[i * ldc + j] += acc[i][j];
  }
}

// C[0:mr, 0:nr] += sum_k a[k, :] (x) b[k, :] over packed slivers.
//
// Floating types: the accumulators are explicit 32-byte vectors (GCC/Clang
// vector extensions), two per tile row, so the tile provably lives in
// registers: 12 accumulators + 2 B vectors + 1 broadcast A value = 15 of the
// 16 AVX2 registers. (Left to the auto-vectorizer, the same loop spills.)
// Integer types use the plain scalar loop.
template <typename T>
void micro_kernel(int64_t kc, const T* __restrict a, const T* __restrict b, T* __restrict c, int64_t ldc, int64_t mr,
                  int64_t nr) {
  constexpr int MR = Tile<T>::MR, NR = Tile<T>::NR;
  if constexpr (std::is_floating_point_v<T>) {
    typedef T V __attribute__((vector_size(32)));
    constexpr int W = 32 / sizeof(T);
    static_assert(NR == 2 * W, "a tile row is two vectors");
    V acc[MR][2] = {};
    for (int64_t k = 0; k < kc; ++k) {
      V b0, b1;
      std::memcpy(&b0, b + k * NR, sizeof(V));
      std::memcpy(&b1, b + k * NR + W, sizeof(V));
      for (int i = 0; i < MR; ++i) {
        const T ai = a[k * MR + i];
        acc[i][0] += ai * b0;
        acc[i][1] += ai * b1;
      }
    }
    T tile[MR][NR];
    for (int i = 0; i < MR; ++i) {
      std::memcpy(&tile[i][0], &acc[i][0], sizeof(V));
      std::memcpy(&tile[i][W], &acc[i][1], sizeof(V));
    }
    store_tile<T, MR, NR>(tile, c, ldc, mr, nr);
  } else {
    T acc[MR][NR] = {};
    for (int64_t k = 0; k < kc; ++k)
      for (int i = 0; i < MR; ++i)
        for (int j = 0; j < NR; ++j) acc[i][j] += a[k * MR + i] * b[k * NR + j];
    store_tile<T, MR, NR>(acc, c, ldc, mr, nr);
  }
}

// sum_k x[k * sx] * y[k * sy]. The unit-stride case keeps eight partial sums
// so the loop vectorizes without reassociating a single accumulator.
template <typename T>
T dot_strided(const T* x, int64_t sx, const T* y, int64_t sy, int64_t n) {
  T s = 0;
  int64_t k = 0;
  if (sx == 1 && sy == 1) {
    T acc[8] = {};
    for (; k + 8 <= n; k += 8)
      for (int u = 0; u < 8; ++u) acc[u] += x[k + u] * y[k + u];
    for (int u = 0; u < 8; ++u) s += acc[u];
  }
  for (; k < n; ++k) s += x[k * sx] * y[k * sy];
  return s;
}

// N == 1 (matrix x vector): a dot product per row of A when A's rows are
// contiguous, otherwise column updates c += A[:, k] * b[k] (contiguous when A
// is a transposed view).
template <typename T>
void gemv_col(int64_t M, int64_t K, T alpha, MatRef<const T> A, MatRef<const T> B, T* C, int64_t ldc) {
  const int64_t grain = std::max<int64_t>(1, 65536 / K);
  if (A.cs == 1 || A.rs != 1) {
    parallel_for(0, M, grain, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) C[i * ldc] += alpha * dot_strided(A.data + i * A.rs, A.cs, B.data, B.rs, K);
    });
    return;
  }
  parallel_for(0, M, grain, [&](int64_t i0, int64_t i1) {
    for (int64_t k = 0; k < K; ++k) {
      const T bk = alpha * B.data[k * B.rs];
      const T* a = A.data + k * A.cs;
      for (int64_t i = i0; i < i1; ++i) C[i * ldc] += bk * a[i];
    }
  });
}

// M == 1 (vector x matrix): one dot product per column of C when B's columns
// are contiguous (B is a transposed view, as in x @ W^T), otherwise row
// updates c += a[k] * B[k, :].
template <typename T>
void gemv_row(int64_t N, int64_t K, T alpha, MatRef<const T> A, MatRef<const T> B, T* C) {
  const int64_t grain = std::max<int64_t>(1, 65536 / K);
  if (B.rs == 1 && B.cs != 1) {
    parallel_for(0, N, grain, [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) C[j] += alpha * dot_strided(A.data, A.cs, B.data + j * B.cs, int64_t{1}, K);
    });
    return;
  }
  parallel_for(0, N, grain, [&](int64_t j0, int64_t j1) {
    T* __restrict c = C;
    for (int64_t k = 0; k < K; ++k) {
      const T ak = alpha * A.data[k * A.cs];
      const T* __restrict b = B.data + k * B.rs;
      if (B.cs == 1)
        for (int64_t j = j0; j < j1; ++j) c[j] += ak * b[j];
      else
        for (int64_t j = j0; j < j1; ++j) c[j] += ak * b[j * B.cs];
    }
  });
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
  if (N == 1) return gemv_col(M, K, alpha, A, B, C, ldc);
  if (M == 1) return gemv_row(N, K, alpha, A, B, C);

  constexpr int MR = Tile<T>::MR, NR = Tile<T>::NR;
  // Row blocks: at most MC rows, but small enough that every thread gets one.
  const int64_t threads = get_num_threads();
  const int64_t mc = std::min(kMC, std::max<int64_t>(MR, (M + threads * MR - 1) / (threads * MR) * MR));
  const int64_t row_blocks = (M + mc - 1) / mc;
  thread_local std::vector<T> b_buf;
  for (int64_t j0 = 0; j0 < N; j0 += kNC) {
    const int64_t nc = std::min(kNC, N - j0);
    const int64_t nc_pad = (nc + NR - 1) / NR * NR;
    for (int64_t k0 = 0; k0 < K; k0 += kKC) {
      const int64_t kc = std::min(kKC, K - k0);
      T* bp = scratch(b_buf, kc * nc_pad);
      pack_b(kc, nc, B.data + k0 * B.rs + j0 * B.cs, B.rs, B.cs, bp);
      // One block is at least ~64K multiply-adds before it gets its own thread.
      const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(mc * kc * nc, 1));
      parallel_for(0, row_blocks, grain, [&](int64_t r0, int64_t r1) {
        thread_local std::vector<T> a_buf;
        T* ap = scratch(a_buf, ((mc + MR - 1) / MR * MR) * kc);
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t i0 = r * mc, m = std::min(mc, M - i0);
          pack_a(m, kc, alpha, A.data + i0 * A.rs + k0 * A.cs, A.rs, A.cs, ap);
          for (int64_t jr = 0; jr < nc; jr += NR)
            for (int64_t ir = 0; ir < m; ir += MR)
              micro_kernel<T>(kc, ap + ir * kc, bp + jr * kc, C + (i0 + ir) * ldc + j0 + jr, ldc,
                              std::min<int64_t>(MR, m - ir), std::min<int64_t>(NR, nc - jr));
        }
      });
    }
  }
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
