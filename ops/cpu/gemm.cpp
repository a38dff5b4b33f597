// General matrix multiply on the CPU (see gemm.h for the contract).
//
// gemm_reference: the textbook triple loop, kept as the readable definition
// and as the oracle of the tests.
//
// gemm: the BLIS / GotoBLAS loop structure (Goto & van de Geijn, "Anatomy of
// high-performance matrix multiplication", 2008; Van Zee & van de Geijn,
// "BLIS", 2015).
//   for each NC-wide column block of B and C                       (jc)
//     for each KC-deep slice of K                                   (pc)
//       pack B[kc, nc] into NR-wide slivers, kc x NR row-major      (L3)
//       for each MC-tall row block of A                             (ic)
//         pack alpha * A[mc, kc] into MR-tall slivers, kc x MR      (L2)
//         for each NR sliver of B                                   (jr, the sliver stays in L1)
//           for each MR sliver of A: micro-kernel                   (ir, A streams from L2)
// The micro-kernel keeps an MR x NR tile of C in registers and does kc rank-1
// updates, each reading MR broadcast values of packed A and NR values of
// packed B, all contiguous: 2 MR NR flops per MR + NR/W loads. It writes
// C = tile + beta C on the first KC slice (beta = 0 never reads C, so NaN in
// C is ignored) and C += tile on the later ones; the fused epilogue (bias,
// activation) runs on the tile after the last slice, while it is in L1.
// Packing makes the strides of A and B irrelevant to the inner loop, so the
// four transpose cases cost only the O(n^2) pack; edge slivers are zero-padded
// and edge tiles go through a small buffer.
//
// Micro-kernels, chosen at run time (__builtin_cpu_supports):
//   AVX-512F  float 12 x 32, double 12 x 16: 24 zmm accumulators
//   AVX2+FMA  float  6 x 16, double  6 x 8:  12 ymm accumulators + 2 B + 1 A
//   portable  the same 6 x 2-vector tile in GCC/Clang vector types (any
//             target; integers use a plain scalar tile)
// Blocking (float AVX2, Zen 3: L1d 32 KiB, L2 512 KiB per core, L3 shared):
// KC = 256 (a 16 KiB B sliver + 6 KiB A sliver in L1), MC = 144 (144 KiB of
// packed A in L2), NC = 4080 (4 MiB of packed B in L3).
//
// Threads: C is cut once into tm x tn panels (tm * tn = threads; rows when
// M >= N, columns otherwise, so the operand packed redundantly is the
// smaller one), and each thread runs the whole loop nest on its panel with
// its own packs: one fork per product, no barrier inside. A column split is
// the jr loop in parallel, each thread packing its own part of B; a row split
// is the ic loop. (The BLIS scheme, one shared pack of B with a barrier per
// KC slice, was measured first: on this shared, loaded machine a descheduled
// thread stalls every barrier and it ran 2-4x slower at 2 threads.) Inside a
// parallel region, or on a serial thread, it runs on the calling thread only.
//
// gemm_packer_b runs the same driver with B packed by a caller-supplied
// routine (an implicit operand: conv packs its im2col matrix from the image);
// each thread's panel calls it for its own columns, so it must be reentrant.
//
// Degenerate shapes take direct paths: N == 1 (matrix-vector) and M == 1
// (vector-matrix) are memory bound, so they stream the matrix once with
// vectorized dot products or row updates instead of packing it.
//
// FLOPs: 2 M N K. Bytes (float): A is read ceil(N/NC) times, B once per
// row panel, and C read + written once per KC slice: ~4 (M K ceil(N/NC) +
// K N + 2 M N ceil(K/KC)), far below the flops for all but skinny shapes.
// Measured (bench_gemm --compare: wick and OpenBLAS 0.3.21 alternately in one
// process, median of rounds; AVX2 6 x 16 kernel; the 2-core Zen 3 EPYC shared
// with ~15 runnable processes, so the FMA probe of bench/peak.h itself only
// reached ~22 of the nominal 78 GFLOP/s per core): wick / OpenBLAS at 2
// threads 0.87-1.9 over 512^3, 1024^3, 2048^3 and the linear-layer shapes
// 4096x256x1024, 2048x1024x256 (NN, NT, TN), most runs >= 1.0; at 1 thread
// 0.8-1.2; 45-80% of the measured peak. AVX-512 12 x 32 kernel on an
// unloaded Intel Xeon (Sapphire Rapids class): 120-135 GFLOP/s on one thread,
// ~45% of its 268 GFLOP/s FMA peak (Debian's OpenBLAS there ran a generic
// kernel at ~30).
#include "ops/cpu/gemm.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <type_traits>

#include "tensor/parallel.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define WICK_GEMM_X86 1
#include <immintrin.h>
#endif

namespace wick::cpu {

namespace {

// ---------------------------------------------------------------------------
// scratch memory

// A 64-byte aligned buffer that only grows (packs are reused across calls:
// no allocation per product once warm).
template <typename T>
struct AlignedBuf {
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  std::unique_ptr<T, Free> ptr;
  int64_t cap = 0;
  T* get(int64_t n) {
    if (n > cap) {
      // + 64 elements of slack: the packers may write one vector past the end.
      const size_t bytes = (static_cast<size_t>(n + 64) * sizeof(T) + 63) / 64 * 64;
      ptr.reset(static_cast<T*>(std::aligned_alloc(64, bytes)));
      if (!ptr) throw std::bad_alloc();
      cap = n;
    }
    return ptr.get();
  }
};

// ---------------------------------------------------------------------------
// epilogue

template <typename T>
T activate(T x, Activation act) {
  switch (act) {
    case Activation::none:
      return x;
    case Activation::relu:
      return x < T(0) ? T(0) : x;  // NaN stays NaN
    case Activation::gelu: {
      const double v = static_cast<double>(x);
      if constexpr (std::is_same_v<T, float>) {
        const float f = x;
        return 0.5f * f * (1.0f + std::erf(f * 0.70710678118654752f));
      }
      return static_cast<T>(0.5 * v * (1.0 + std::erf(v * 0.70710678118654752)));
    }
    case Activation::gelu_tanh: {
      if constexpr (std::is_same_v<T, float>) {
        const float f = x;
        return 0.5f * f * (1.0f + std::tanh(0.79788456080286536f * (f + 0.044715f * f * f * f)));
      }
      const double v = static_cast<double>(x);
      return static_cast<T>(0.5 * v * (1.0 + std::tanh(0.79788456080286536 * (v + 0.044715 * v * v * v))));
    }
  }
  return x;
}

// C[i0:i0+m, j0:j0+n] (c points at its first element) = act(C + bias).
template <typename T>
void apply_epilogue(const Epilogue<T>& ep, T* c, int64_t ldc, int64_t m, int64_t n, int64_t i0, int64_t j0) {
  for (int64_t i = 0; i < m; ++i) {
    T* row = c + i * ldc;
    if (ep.bias) {
      if (ep.bias_per_row) {
        const T b = ep.bias[i0 + i];
        for (int64_t j = 0; j < n; ++j) row[j] += b;
      } else {
        const T* b = ep.bias + j0;
        for (int64_t j = 0; j < n; ++j) row[j] += b[j];
      }
    }
    if (ep.act == Activation::relu) {
      for (int64_t j = 0; j < n; ++j) row[j] = row[j] < T(0) ? T(0) : row[j];
    } else if (ep.act != Activation::none) {
      for (int64_t j = 0; j < n; ++j) row[j] = activate(row[j], ep.act);
    }
  }
}

template <typename T>
bool active(const Epilogue<T>& ep) {
  return ep.bias != nullptr || ep.act != Activation::none;
}

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

// ---------------------------------------------------------------------------
// packing

// B[0:kc, 0:nc] -> slivers of NR columns, each kc x NR row-major, zero-padded
// past nc. Only slivers [s0, s1) are written (threads split the slivers).
template <typename T, int NR>
void pack_b(int64_t kc, int64_t nc, const T* b, int64_t rs, int64_t cs, T* dst, int64_t s0, int64_t s1) {
  for (int64_t s = s0; s < s1; ++s) {
    const int64_t j0 = s * NR;
    const int64_t nr = std::min<int64_t>(NR, nc - j0);
    T* d = dst + s * kc * NR;
    const T* src = b + j0 * cs;
    if (nr == NR && cs == 1) {
      // Row-major B: each row of the sliver is NR contiguous values.
      for (int64_t k = 0; k < kc; ++k) std::memcpy(d + k * NR, src + k * rs, NR * sizeof(T));
    } else if (nr == NR && rs == 1) {
      // Transposed B (x @ W^T): columns are contiguous in k. Read 8 k at a
      // time from each column so every load is a short contiguous run.
      int64_t k = 0;
      for (; k + 8 <= kc; k += 8)
        for (int j = 0; j < NR; ++j) {
          const T* col = src + j * cs + k;
          for (int u = 0; u < 8; ++u) d[(k + u) * NR + j] = col[u];
        }
      for (; k < kc; ++k)
        for (int j = 0; j < NR; ++j) d[k * NR + j] = src[j * cs + k];
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        T* dk = d + k * NR;
        for (int64_t j = 0; j < nr; ++j) dk[j] = src[k * rs + j * cs];
        for (int64_t j = nr; j < NR; ++j) dk[j] = T(0);
      }
    }
  }
}

#ifdef WICK_GEMM_X86
// Row-major float A into 6-row slivers with AVX: 8 k at a time, the 6 x 8
// block is transposed in registers (rows 6 and 7 are padding) and each
// k-column of 6 values is stored with an 8-wide store that the next one
// overwrites (the buffer has slack for the last).
__attribute__((target("avx2,fma"))) void pack_a_f32_6_rowmajor(int64_t kc, float alpha, const float* a, int64_t rs,
                                                               float* d) {
  const __m256 al = _mm256_set1_ps(alpha);
  int64_t k = 0;
  for (; k + 8 <= kc; k += 8) {
    __m256 r0 = _mm256_mul_ps(al, _mm256_loadu_ps(a + 0 * rs + k));
    __m256 r1 = _mm256_mul_ps(al, _mm256_loadu_ps(a + 1 * rs + k));
    __m256 r2 = _mm256_mul_ps(al, _mm256_loadu_ps(a + 2 * rs + k));
    __m256 r3 = _mm256_mul_ps(al, _mm256_loadu_ps(a + 3 * rs + k));
    __m256 r4 = _mm256_mul_ps(al, _mm256_loadu_ps(a + 4 * rs + k));
    __m256 r5 = _mm256_mul_ps(al, _mm256_loadu_ps(a + 5 * rs + k));
    const __m256 z = _mm256_setzero_ps();
    // 8 x 8 transpose of rows r0..r5, 0, 0.
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = z, t7 = z;
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    // Column c (k + c) = low/high 128-bit halves.
    __m256 c0 = _mm256_permute2f128_ps(u0, u4, 0x20), c4 = _mm256_permute2f128_ps(u0, u4, 0x31);
    __m256 c1 = _mm256_permute2f128_ps(u1, u5, 0x20), c5 = _mm256_permute2f128_ps(u1, u5, 0x31);
    __m256 c2 = _mm256_permute2f128_ps(u2, u6, 0x20), c6 = _mm256_permute2f128_ps(u2, u6, 0x31);
    __m256 c3 = _mm256_permute2f128_ps(u3, u7, 0x20), c7 = _mm256_permute2f128_ps(u3, u7, 0x31);
    float* o = d + k * 6;
    _mm256_storeu_ps(o + 0, c0);
    _mm256_storeu_ps(o + 6, c1);
    _mm256_storeu_ps(o + 12, c2);
    _mm256_storeu_ps(o + 18, c3);
    _mm256_storeu_ps(o + 24, c4);
    _mm256_storeu_ps(o + 30, c5);
    _mm256_storeu_ps(o + 36, c6);
    _mm256_storeu_ps(o + 42, c7);
  }
  for (; k < kc; ++k)
    for (int i = 0; i < 6; ++i) d[k * 6 + i] = alpha * a[i * rs + k];
}

bool cpu_has_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
bool cpu_has_avx512() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
}
#else
bool cpu_has_avx2() { return false; }
bool cpu_has_avx512() { return false; }
#endif

// alpha * A[0:mc, 0:kc] -> slivers of MR rows, each kc x MR (column-major
// within the sliver), zero-padded past mc.
template <typename T, int MR>
void pack_a(int64_t mc, int64_t kc, T alpha, const T* a, int64_t rs, int64_t cs, T* dst, bool simd) {
  for (int64_t i0 = 0; i0 < mc; i0 += MR, dst += kc * MR) {
    const int64_t mr = std::min<int64_t>(MR, mc - i0);
    const T* src = a + i0 * rs;
    if (mr == MR && rs == 1) {
      // Transposed A (g^T @ x in linear's backward): a k-column is contiguous.
      for (int64_t k = 0; k < kc; ++k) {
        const T* s = src + k * cs;
        T* d = dst + k * MR;
        for (int i = 0; i < MR; ++i) d[i] = alpha * s[i];
      }
      continue;
    }
#ifdef WICK_GEMM_X86
    if constexpr (std::is_same_v<T, float> && MR == 6) {
      if (simd && mr == MR && cs == 1) {
        pack_a_f32_6_rowmajor(kc, alpha, src, rs, dst);
        continue;
      }
    }
#endif
    (void)simd;
    if (mr == MR && cs == 1) {
      for (int64_t k = 0; k < kc; ++k)
        for (int i = 0; i < MR; ++i) dst[k * MR + i] = alpha * src[i * rs + k];
      continue;
    }
    for (int64_t k = 0; k < kc; ++k) {
      T* d = dst + k * MR;
      for (int64_t i = 0; i < mr; ++i) d[i] = alpha * src[i * rs + k * cs];
      for (int64_t i = mr; i < MR; ++i) d[i] = T(0);
    }
  }
}

// ---------------------------------------------------------------------------
// micro-kernels: C[0:MR, 0:NR] = sum_k a[k, :] (x) b[k, :] + beta C
// (beta == 0: C is not read). a is kc x MR, b is kc x NR, both packed.

template <typename T>
using MicroKernel = void (*)(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, T beta);

// Portable: explicit 32-byte vectors (GCC/Clang vector extensions), two per
// tile row, so the tile provably lives in registers (12 accumulators + 2 B
// vectors + 1 broadcast = 15 of 16 AVX registers; on narrower targets the
// compiler splits each vector). Integers use the plain scalar tile.
template <typename T, int MR, int NR>
void ukr_portable(int64_t kc, const T* __restrict a, const T* __restrict b, T* __restrict c, int64_t ldc, T beta) {
  T tile[MR][NR];
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
    for (int i = 0; i < MR; ++i) {
      std::memcpy(&tile[i][0], &acc[i][0], sizeof(V));
      std::memcpy(&tile[i][W], &acc[i][1], sizeof(V));
    }
  } else {
    for (auto& row : tile)
      for (auto& x : row) x = T(0);
    for (int64_t k = 0; k < kc; ++k)
      for (int i = 0; i < MR; ++i)
        for (int j = 0; j < NR; ++j) tile[i][j] += a[k * MR + i] * b[k * NR + j];
  }
  if (beta == T(0)) {
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) c[i * ldc + j] = tile[i][j];
  } else {
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) c[i * ldc + j] = tile[i][j] + beta * c[i * ldc + j];
  }
}

#ifdef WICK_GEMM_X86
// One body for the four intrinsics kernels: MR rows of NV vectors of W lanes.
// The fully unrolled loops over the constant-size acc array let the compiler
// keep every accumulator in a register. The C tile is prefetched before the
// k loop; A (streaming from L2) is prefetched a few iterations ahead.
#define WICK_GEMM_UKR(NAME, TARGET, T, V, MR, NV, W, ZERO, LOAD, STORE, BCAST, FMA, SET1)                 \
  __attribute__((target(TARGET))) void NAME(int64_t kc, const T* __restrict a, const T* __restrict b,   \
                                            T* __restrict c, int64_t ldc, T beta) {                     \
    V acc[MR][NV];                                                                                      \
    _Pragma("GCC unroll 16") for (int i = 0; i < MR; ++i) {                                             \
      _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) acc[i][v] = ZERO();                          \
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);                            \
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + NV * W - 1), _MM_HINT_T0);               \
    }                                                                                                   \
    _Pragma("GCC unroll 2") for (int64_t k = 0; k < kc; ++k) {                                          \
      _mm_prefetch(reinterpret_cast<const char*>(a + 8 * MR), _MM_HINT_T0);                             \
      V bv[NV];                                                                                         \
      _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) bv[v] = LOAD(b + v * W);                     \
      _Pragma("GCC unroll 16") for (int i = 0; i < MR; ++i) {                                           \
        const V ai = BCAST(a + i);                                                                      \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) acc[i][v] = FMA(ai, bv[v], acc[i][v]);     \
      }                                                                                                 \
      a += MR;                                                                                          \
      b += NV * W;                                                                                      \
    }                                                                                                   \
    if (beta == T(0)) {                                                                                 \
      _Pragma("GCC unroll 16") for (int i = 0; i < MR; ++i)                                             \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) STORE(c + i * ldc + v * W, acc[i][v]);     \
    } else {                                                                                            \
      const V bb = SET1(beta);                                                                          \
      _Pragma("GCC unroll 16") for (int i = 0; i < MR; ++i)                                             \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v)                                            \
          STORE(c + i * ldc + v * W, FMA(bb, LOAD(c + i * ldc + v * W), acc[i][v]));                    \
    }                                                                                                   \
  }

#define WICK_BCAST512_PS(p) _mm512_set1_ps(*(p))
#define WICK_BCAST512_PD(p) _mm512_set1_pd(*(p))
#define WICK_AVX512_TARGET "avx512f,avx512dq,avx512bw,avx512vl,fma"

WICK_GEMM_UKR(ukr_avx2_f32, "avx2,fma", float, __m256, 6, 2, 8, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_storeu_ps,
              _mm256_broadcast_ss, _mm256_fmadd_ps, _mm256_set1_ps)
WICK_GEMM_UKR(ukr_avx2_f64, "avx2,fma", double, __m256d, 6, 2, 4, _mm256_setzero_pd, _mm256_loadu_pd,
              _mm256_storeu_pd, _mm256_broadcast_sd, _mm256_fmadd_pd, _mm256_set1_pd)
WICK_GEMM_UKR(ukr_avx512_f32, WICK_AVX512_TARGET, float, __m512, 12, 2, 16, _mm512_setzero_ps, _mm512_loadu_ps,
              _mm512_storeu_ps, WICK_BCAST512_PS, _mm512_fmadd_ps, _mm512_set1_ps)
WICK_GEMM_UKR(ukr_avx512_f64, WICK_AVX512_TARGET, double, __m512d, 12, 2, 8, _mm512_setzero_pd, _mm512_loadu_pd,
              _mm512_storeu_pd, WICK_BCAST512_PD, _mm512_fmadd_pd, _mm512_set1_pd)
#undef WICK_GEMM_UKR
#endif

// ---------------------------------------------------------------------------
// kernel table

template <typename T>
struct Kernel {
  int mr, nr;
  int64_t kc, mc, nc;  // cache blocks (mc a multiple of mr, nc of nr)
  MicroKernel<T> ukr;
  void (*pack_a)(int64_t, int64_t, T, const T*, int64_t, int64_t, T*, bool);
  void (*pack_b)(int64_t, int64_t, const T*, int64_t, int64_t, T*, int64_t, int64_t);
  bool simd_pack;  // the pack may use AVX2
};

template <typename T, int MR, int NR>
constexpr Kernel<T> make_kernel(int64_t kc, int64_t mc, int64_t nc, MicroKernel<T> ukr, bool simd) {
  return Kernel<T>{MR, NR, kc, mc, nc, ukr, &pack_a<T, MR>, &pack_b<T, NR>, simd};
}

std::atomic<GemmIsa> g_forced_isa{GemmIsa::automatic};

GemmIsa best_isa() {
  static const GemmIsa best = cpu_has_avx512() ? GemmIsa::avx512 : cpu_has_avx2() ? GemmIsa::avx2 : GemmIsa::portable;
  return best;
}

template <typename T>
Kernel<T> select_kernel() {
  constexpr int NR_portable = 64 / static_cast<int>(sizeof(T)) < 16 ? 64 / static_cast<int>(sizeof(T)) : 16;
  const Kernel<T> portable =
      make_kernel<T, 6, NR_portable>(256, 144 / (sizeof(T) > 4 ? 2 : 1), 4080, &ukr_portable<T, 6, NR_portable>, false);
#ifdef WICK_GEMM_X86
  const GemmIsa isa = gemm_isa();
  if constexpr (std::is_same_v<T, float>) {
    if (isa == GemmIsa::avx512) return make_kernel<float, 12, 32>(192, 240, 3072, &ukr_avx512_f32, true);
    if (isa == GemmIsa::avx2) return make_kernel<float, 6, 16>(256, 144, 4080, &ukr_avx2_f32, true);
  } else if constexpr (std::is_same_v<T, double>) {
    if (isa == GemmIsa::avx512) return make_kernel<double, 12, 16>(192, 120, 3072, &ukr_avx512_f64, false);
    if (isa == GemmIsa::avx2) return make_kernel<double, 6, 8>(256, 72, 4080, &ukr_avx2_f64, false);
  }
#endif
  return portable;
}

// ---------------------------------------------------------------------------
// the blocked driver

// Per-thread packing buffers, grown on demand and kept (no allocation per
// product once warm).
template <typename T>
AlignedBuf<T>& b_buffer() {
  thread_local AlignedBuf<T> buf;
  return buf;
}
template <typename T>
AlignedBuf<T>& a_buffer() {
  thread_local AlignedBuf<T> buf;
  return buf;
}

// The loop nest on one thread: C[0:M, 0:N] of this panel. The epilogue's
// bias pointer is already offset to the panel.
// bpk != nullptr: B comes from the packer (its columns start at j_base)
// and the matrix B is unused.
template <typename T>
void gemm_blocked(const Kernel<T>& kn, int64_t M, int64_t N, int64_t K, T alpha, MatRef<const T> A,
                  MatRef<const T> B, T beta, T* C, int64_t ldc, const Epilogue<T>* ep, const BPacker<T>* bpk,
                  int64_t j_base) {
  const int64_t MR = kn.mr, NR = kn.nr;
  T* bp = b_buffer<T>().get(std::min(kn.kc, K) * std::min(kn.nc, (N + NR - 1) / NR * NR));
  T* ap = a_buffer<T>().get(std::min(kn.kc, K) * std::min(kn.mc, (M + MR - 1) / MR * MR));
  alignas(64) T edge[16 * 32];  // an edge tile (MR x NR <= 12 x 32)
  for (int64_t jc = 0; jc < N; jc += kn.nc) {
    const int64_t nc = std::min(kn.nc, N - jc);
    const int64_t n_sl = (nc + NR - 1) / NR;
    for (int64_t pc = 0; pc < K; pc += kn.kc) {
      const int64_t kc = std::min(kn.kc, K - pc);
      const bool last = pc + kc >= K;
      const T be = pc == 0 ? beta : T(1);
      if (bpk)
        bpk->pack(bpk->ctx, pc, kc, j_base + jc, nc, NR, bp);
      else
        kn.pack_b(kc, nc, B.data + pc * B.rs + jc * B.cs, B.rs, B.cs, bp, 0, n_sl);
      for (int64_t ic = 0; ic < M; ic += kn.mc) {
        const int64_t mc = std::min(kn.mc, M - ic);
        kn.pack_a(mc, kc, alpha, A.data + ic * A.rs + pc * A.cs, A.rs, A.cs, ap, kn.simd_pack);
        for (int64_t s = 0; s < n_sl; ++s) {
          const int64_t jr = s * NR, nr = std::min(NR, nc - jr);
          const T* bsl = bp + s * kc * NR;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int64_t mr = std::min(MR, mc - ir);
            T* c = C + (ic + ir) * ldc + jc + jr;
            if (mr == MR && nr == NR) {
              kn.ukr(kc, ap + ir * kc, bsl, c, ldc, be);
            } else {
              kn.ukr(kc, ap + ir * kc, bsl, edge, NR, T(0));
              for (int64_t i = 0; i < mr; ++i)
                for (int64_t j = 0; j < nr; ++j) {
                  T& dst = c[i * ldc + j];
                  dst = be == T(0) ? edge[i * NR + j] : edge[i * NR + j] + be * dst;
                }
            }
            if (last && ep) apply_epilogue(*ep, c, ldc, mr, nr, ic + ir, jc + jr);
          }
        }
      }
    }
  }
}

// Threads: C is cut once into tm x tn panels (tm * tn = threads), each
// computed by gemm_blocked on its own thread with its own packs: one fork
// per product and no barrier inside it. (A shared pack of B, BLIS style,
// needs a barrier per KC slice; on this shared machine a thread that is
// descheduled then stalls every barrier, which cost 2-4x at 2 threads.)
// The price is packing redundantly: a row split packs all of B in each row
// panel, a column split all of A; the split is chosen to repack the smaller
// operand (overhead ~ 2 / (FMA lanes x max(M, N)) of the flops).
template <typename T>
void gemm_packed(const Kernel<T>& kn, int64_t M, int64_t N, int64_t K, T alpha, MatRef<const T> A, MatRef<const T> B,
                 T beta, T* C, int64_t ldc, const Epilogue<T>* ep, const BPacker<T>* bpk = nullptr) {
  const int64_t MR = kn.mr, NR = kn.nr;
  const int64_t m_sl = (M + MR - 1) / MR, n_sl = (N + NR - 1) / NR;
  int64_t nt = available_threads();
  if (M * N * K < (int64_t{1} << 17)) nt = 1;  // ~0.1 ms of work: not worth a fork
  nt = std::max<int64_t>(1, std::min(nt, m_sl * n_sl));
  // tm row panels x tn column panels: minimize the redundant packing,
  // (tm - 1) K N for B plus (tn - 1) M K (per NC block) for A.
  int64_t tm = 1;
  double best = -1;
  for (int64_t r = 1; r <= nt; ++r) {
    if (nt % r || r > m_sl || nt / r > n_sl) continue;
    const int64_t c = nt / r;
    const double cost = double(r - 1) * N + double(c - 1) * M * ((N / c + kn.nc - 1) / kn.nc);
    if (best < 0 || cost < best) best = cost, tm = r;
  }
  if (best < 0) nt = 1, tm = 1;
  const int64_t tn = nt / tm;
  const int64_t rows_per = (m_sl + tm - 1) / tm * MR, cols_per = (n_sl + tn - 1) / tn * NR;
  auto panel = [&](int64_t t) {
    const int64_t i0 = (t / tn) * rows_per, j0 = (t % tn) * cols_per;
    const int64_t m = std::min(rows_per, M - i0), n = std::min(cols_per, N - j0);
    if (m <= 0 || n <= 0) return;
    Epilogue<T> e;
    if (ep) e = *ep, e.bias = ep->bias ? ep->bias + (ep->bias_per_row ? i0 : j0) : nullptr;
    gemm_blocked(kn, m, n, K, alpha, MatRef<const T>{A.data + i0 * A.rs, A.rs, A.cs},
                 MatRef<const T>{bpk ? B.data : B.data + j0 * B.cs, B.rs, B.cs}, beta, C + i0 * ldc + j0, ldc,
                 ep ? &e : nullptr, bpk, j0);
  };
  if (nt == 1) return panel(0);
  parallel_for(0, nt, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) panel(t);
  });
}

// ---------------------------------------------------------------------------
// matrix-vector paths

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

template <typename T>
void gemm_impl(int64_t M, int64_t N, int64_t K, T alpha, MatRef<const T> A, MatRef<const T> B, T beta, T* C,
               int64_t ldc, const Epilogue<T>* ep) {
  if (M == 0 || N == 0) return;
  if (ep && !active(*ep)) ep = nullptr;
  if (K == 0 || alpha == T(0) || N == 1 || M == 1) {
    scale_c(M, N, beta, C, ldc);
    if (K != 0 && alpha != T(0)) {
      if (N == 1)
        gemv_col(M, K, alpha, A, B, C, ldc);
      else
        gemv_row(N, K, alpha, A, B, C);
    }
    if (ep) apply_epilogue(*ep, C, ldc, M, N, 0, 0);
    return;
  }
  gemm_packed(select_kernel<T>(), M, N, K, alpha, A, B, beta, C, ldc, ep);
}

}  // namespace

// ---------------------------------------------------------------------------
// public entry points

bool gemm_isa_supported(GemmIsa isa) {
  switch (isa) {
    case GemmIsa::automatic:
    case GemmIsa::portable:
      return true;
    case GemmIsa::avx2:
      return cpu_has_avx2();
    case GemmIsa::avx512:
      return cpu_has_avx512();
  }
  return false;
}

bool set_gemm_isa(GemmIsa isa) {
  if (!gemm_isa_supported(isa)) return false;
  g_forced_isa.store(isa);
  return true;
}

GemmIsa gemm_isa() {
  const GemmIsa f = g_forced_isa.load(std::memory_order_relaxed);
  return f == GemmIsa::automatic ? best_isa() : f;
}

const char* gemm_isa_name(GemmIsa isa) {
  switch (isa) {
    case GemmIsa::automatic:
      return "automatic";
    case GemmIsa::portable:
      return "portable";
    case GemmIsa::avx2:
      return "avx2";
    case GemmIsa::avx512:
      return "avx512";
  }
  return "?";
}

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
void gemm_ex_reference(int64_t M, int64_t N, int64_t K, T alpha, MatRef<const T> A, MatRef<const T> B, T beta, T* C,
                       int64_t ldc, const Epilogue<T>& epilogue) {
  gemm_reference(M, N, K, alpha, A, B, beta, C, ldc);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      T& c = C[i * ldc + j];
      if (epilogue.bias) c += epilogue.bias_per_row ? epilogue.bias[i] : epilogue.bias[j];
      c = activate(c, epilogue.act);
    }
}

template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, T alpha, MatRef<const T> A, MatRef<const T> B, T beta, T* C, int64_t ldc) {
  gemm_impl<T>(M, N, K, alpha, A, B, beta, C, ldc, nullptr);
}

template <typename T>
void gemm_ex(int64_t M, int64_t N, int64_t K, T alpha, MatRef<const T> A, MatRef<const T> B, T beta, T* C,
             int64_t ldc, const Epilogue<T>& epilogue) {
  gemm_impl<T>(M, N, K, alpha, A, B, beta, C, ldc, &epilogue);
}

template <typename T>
void gemm_packer_b(int64_t M, int64_t N, int64_t K, T alpha, MatRef<const T> A, const BPacker<T>& B, T beta, T* C,
                   int64_t ldc, const Epilogue<T>& epilogue) {
  if (M == 0 || N == 0) return;
  const Epilogue<T>* ep = active(epilogue) ? &epilogue : nullptr;
  if (K == 0 || alpha == T(0)) {
    scale_c(M, N, beta, C, ldc);
    if (ep) apply_epilogue(*ep, C, ldc, M, N, 0, 0);
    return;
  }
  gemm_packed(select_kernel<T>(), M, N, K, alpha, A, MatRef<const T>{nullptr, 0, 0}, beta, C, ldc, ep, &B);
}

template <typename T>
void gemm_batched(int64_t batch, int64_t M, int64_t N, int64_t K, T alpha, MatRef<const T> A, int64_t stride_a,
                  MatRef<const T> B, int64_t stride_b, T beta, T* C, int64_t ldc, int64_t stride_c,
                  const Epilogue<T>& epilogue) {
  if (batch <= 0 || M == 0 || N == 0) return;
  auto one = [&](int64_t b) {
    gemm_impl<T>(M, N, K, alpha, MatRef<const T>{A.data + b * stride_a, A.rs, A.cs},
                 MatRef<const T>{B.data + b * stride_b, B.rs, B.cs}, beta, C + b * stride_c, ldc, &epilogue);
  };
  // Small products (< 64K multiply-adds) or a batch that splits evenly over
  // the threads: one product per thread (gemm inside runs serially). Else
  // one product after another, each split over the threads.
  constexpr int64_t kSmall = int64_t{1} << 16;
  const int64_t work = M * N * std::max<int64_t>(K, 1);
  const int64_t nt = available_threads();
  if (batch > 1 && nt > 1 && (work < kSmall || batch % nt == 0 || batch >= 4 * nt)) {
    parallel_for(0, batch, std::max<int64_t>(1, kSmall / work), [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) one(b);
    });
  } else {
    for (int64_t b = 0; b < batch; ++b) one(b);
  }
}

#define WICK_GEMM_INSTANTIATE_(T)                                                                                  \
  template void gemm<T>(int64_t, int64_t, int64_t, T, MatRef<const T>, MatRef<const T>, T, T*, int64_t);           \
  template void gemm_reference<T>(int64_t, int64_t, int64_t, T, MatRef<const T>, MatRef<const T>, T, T*, int64_t); \
  template void gemm_ex<T>(int64_t, int64_t, int64_t, T, MatRef<const T>, MatRef<const T>, T, T*, int64_t,         \
                           const Epilogue<T>&);                                                                    \
  template void gemm_ex_reference<T>(int64_t, int64_t, int64_t, T, MatRef<const T>, MatRef<const T>, T, T*,        \
                                     int64_t, const Epilogue<T>&);                                                 \
  template void gemm_batched<T>(int64_t, int64_t, int64_t, int64_t, T, MatRef<const T>, int64_t, MatRef<const T>,  \
                                int64_t, T, T*, int64_t, int64_t, const Epilogue<T>&);                            \
  template void gemm_packer_b<T>(int64_t, int64_t, int64_t, T, MatRef<const T>, const BPacker<T>&, T, T*, int64_t, \
                                 const Epilogue<T>&);
WICK_GEMM_INSTANTIATE_(float)
WICK_GEMM_INSTANTIATE_(double)
WICK_GEMM_INSTANTIATE_(int64_t)
WICK_GEMM_INSTANTIATE_(int32_t)
WICK_GEMM_INSTANTIATE_(uint8_t)
#undef WICK_GEMM_INSTANTIATE_

}  // namespace wick::cpu
