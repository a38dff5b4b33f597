// wick's own CUDA GEMM kernels (see gemm.h for the API and the math):
//   C[b] = alpha * op(A[b]) op(B[b]) + beta * C[b],   2 M N K FLOPs per product.
//
// 1. gemm_reference_kernel: one thread per element of C, a plain dot product
//    accumulated in double. The definition the tests hold the others to.
//
// 2. gemm_simt_kernel<T> (float32, float64): the classic shared-memory tiled
//    SIMT GEMM (the design of CUTLASS's SIMT path and of the well-known
//    "SGEMM from scratch" write-ups). A block of 256 threads computes a BM x BN
//    tile of C (float: 128 x 128, double: 64 x 64), walking K in steps of
//    BK = 8. Each step's A tile [BM x BK] and B tile [BK x BN] are stored
//    k-major in shared memory (As[k][m], Bs[k][n]), so that the inner loop
//    reads a thread's TM values of A and TN values of B as short vectors and
//    does TM x TN FMAs per pair of vector loads (register micro-tile 8 x 8
//    for float: 64 accumulators, arithmetic intensity 64 FMA / 16 loads).
//    A thread's micro-tile is split into two halves BM/2 apart, so that the
//    16-byte shared loads of a quarter warp hit distinct banks.
//    Double buffering: while the block computes on one smem buffer, each
//    thread holds the next tile's global loads in registers and stores them
//    into the other buffer afterwards: one __syncthreads per K step.
//    Global loads: one 16-byte vector per thread per operand and step along
//    the operand's contiguous dimension (k for A, n for B when not
//    transposed) when the base pointer, the leading dimension and the batch
//    stride allow it (decided on the host); elements outside the matrix or a
//    misaligned operand use scalar loads that read zeros past the edges, so
//    every M, N, K and all four transpose combinations are exact.
//    Roofline: each block reads (BM + BN) * BK elements per BM * BN * BK FMAs,
//    i.e. 64 FLOP per float loaded (float); the FMA pipes bound it.
//
// 3. gemm_tc_kernel (float16/bfloat16 in, fp32 accumulate, out fp32 or the
//    input dtype): tensor cores via mma.sync.aligned.m16n8k16 (sm_80+). Block
//    tile 128 x 128 x 32, 4 warps in a 2 x 2 grid, each owning a 64 x 64 warp
//    tile = 4 x 8 mma tiles of 16 x 8 (128 fp32 accumulators per thread).
//    Shared memory keeps each operand tile in its global layout (the
//    contiguous dimension innermost), written by cp.async 16-byte copies in a
//    4-stage pipeline (64 KiB of dynamic smem), so global loads are always
//    coalesced whatever the transposes; the fragments are read with ldmatrix,
//    with .trans where the stored layout is the transpose of the register
//    layout mma wants (A stored k-major, B stored n-contiguous; see
//    load_frag_a/b). Rows of 16-byte chunks are XOR-swizzled so that the 8
//    rows an ldmatrix phase reads fall in 8 distinct bank groups.
//    Edges: cp.async's src-size operand zero-fills the part of a chunk past
//    the matrix (rows past M/N/K copy 0 bytes), so M, N, K need not be
//    multiples of anything when the operand is 16-byte aligned with a leading
//    dimension that is a multiple of 8; otherwise (odd K of a row-major A,
//    say) the same pipeline runs with synchronous scalar loads that
//    zero-fill, slower but exact.
//    Hopper's wgmma/TMA are not used here: this kernel runs the same on sm_80
//    and sm_90, so on H100 it can reach only part of the dense peak (which
//    needs wgmma: gemm_sm90.cu, the default for 16-bit inputs on sm_90). Measured on an H100 SXM
//    (bench_cuda_gemm --compare, 2026-11-27): bf16 4096^3 177 TFLOP/s (0.18 of the dense peak,
//    0.23x cuBLAS); GPT-2 shapes 99-129 TFLOP/s. SIMT float32: 29-35 TFLOP/s, 0.61-0.78x cuBLAS.
//    Registers (ptxas, CUDA 13): SIMT float 175 (sm_80) / 185 (sm_90), one
//    256-thread block per SM; tensor-core 240-248, two 128-thread blocks per
//    SM; no spills.
//
// All kernels loop over the batch with blockIdx.z (grid-stride, so batches
// beyond the 65535 grid limit work) and use 64-bit element offsets.
#include "cuda/kernels/gemm.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "cuda/kernels/gemm_sm90.h"
#include "cuda/runtime.h"
#include "ops/cpu/linalg.h"
#include "cuda/vendor/cublas.h"

namespace wick::cuda {

namespace {

// ---------------------------------------------------------------------------
// element conversions

__device__ __forceinline__ double to_double(float x) { return x; }
__device__ __forceinline__ double to_double(double x) { return x; }
__device__ __forceinline__ double to_double(__half x) { return __half2float(x); }
__device__ __forceinline__ double to_double(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T>
__device__ __forceinline__ T from_double(double x);
template <>
__device__ __forceinline__ float from_double<float>(double x) { return static_cast<float>(x); }
template <>
__device__ __forceinline__ double from_double<double>(double x) { return x; }
template <>
__device__ __forceinline__ __half from_double<__half>(double x) { return __double2half(x); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_double<__nv_bfloat16>(double x) { return __double2bfloat16(x); }

__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_float(float x) { return x; }
template <typename T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) { return x; }
template <>
__device__ __forceinline__ __half from_float<__half>(float x) { return __float2half_rn(x); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

// ---------------------------------------------------------------------------
// 1. reference

template <typename TA, typename TC>
__global__ void gemm_reference_kernel(GemmArgs g) {
  const int64_t n = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const int64_t m = blockIdx.y * static_cast<int64_t>(blockDim.y) + threadIdx.y;
  if (m >= g.M || n >= g.N) return;
  for (int64_t b = blockIdx.z; b < g.batch; b += gridDim.z) {
    const TA* A = static_cast<const TA*>(g.A) + b * g.stride_a;
    const TA* B = static_cast<const TA*>(g.B) + b * g.stride_b;
    TC* c = static_cast<TC*>(g.C) + b * g.stride_c + m * g.ldc + n;
    double acc = 0;
    for (int64_t k = 0; k < g.K; ++k) {
      const double a = to_double(g.trans_a ? A[k * g.lda + m] : A[m * g.lda + k]);
      const double w = to_double(g.trans_b ? B[n * g.ldb + k] : B[k * g.ldb + n]);
      acc += a * w;
    }
    double r = g.alpha * acc;
    if (g.bias != nullptr)
      r += g.beta * to_double(static_cast<const TC*>(g.bias)[n]);  // the bias takes C's place
    else if (g.beta != 0)
      r += g.beta * to_double(*c);  // beta = 0: C is never read (NaN does not propagate)
    *c = from_double<TC>(r);
  }
}

// ---------------------------------------------------------------------------
// 2. SIMT

template <typename T, int N>
struct alignas(sizeof(T) * N) Vec {
  T v[N];
};

template <typename T>
struct SimtParams {
  int64_t M, N, K, batch;
  const T* A;
  const T* B;
  T* C;
  int64_t a_ms, a_ks;  // A(m, k) = A[m * a_ms + k * a_ks]
  int64_t b_ks, b_ns;  // B(k, n) = B[k * b_ks + n * b_ns]
  int64_t ldc, stride_a, stride_b, stride_c;
  T alpha, beta;
  bool vec_a, vec_b;  // V-wide global loads allowed along the operand's contiguous dim
};

// The per-thread part of loading one operand tile of BX (m or n) x BK
// elements from global memory into registers, then into smem stored [k][x].
// The operand's element (x, k) is at base[x * xs + k * ks]; exactly one of
// xs, ks is 1 when vectorized loads are enabled (the contiguous dim), and the
// V elements of a vector run along it.
template <typename T, int BX, int BK, int NT, int V>
struct SimtTileLoader {
  static constexpr int kVecs = BX * BK / V / NT;  // vectors per thread per tile
  static_assert(kVecs >= 1 && BX * BK == kVecs * V * NT, "tile must split evenly into per-thread vectors");
  T reg[kVecs][V];

  // (x, k) of vector i of thread tid within the tile.
  __device__ __forceinline__ static void coords(int i, int tid, bool k_contig, int& x, int& k) {
    const int v = tid + i * NT;
    if (k_contig) {
      x = v / (BK / V);
      k = (v % (BK / V)) * V;
    } else {
      k = v / (BX / V);
      x = (v % (BX / V)) * V;
    }
  }

  __device__ __forceinline__ void load(const T* base, int64_t xs, int64_t ks, bool k_contig, bool vec, int64_t x0,
                                       int64_t k0, int64_t X, int64_t K, int tid) {
#pragma unroll
    for (int i = 0; i < kVecs; ++i) {
      int x, k;
      coords(i, tid, k_contig, x, k);
      const int64_t gx = x0 + x, gk = k0 + k;
      // The whole vector lies inside the matrix: one V-wide load.
      const bool inside = k_contig ? (gx < X && gk + V <= K) : (gk < K && gx + V <= X);
      if (vec && inside) {
        const Vec<T, V> w = *reinterpret_cast<const Vec<T, V>*>(base + gx * xs + gk * ks);
#pragma unroll
        for (int j = 0; j < V; ++j) reg[i][j] = w.v[j];
      } else {
#pragma unroll
        for (int j = 0; j < V; ++j) {
          const int64_t ex = gx + (k_contig ? 0 : j), ek = gk + (k_contig ? j : 0);
          reg[i][j] = (ex < X && ek < K) ? base[ex * xs + ek * ks] : T(0);
        }
      }
    }
  }

  __device__ __forceinline__ void store(T (*smem)[BX], bool k_contig, int tid) const {
#pragma unroll
    for (int i = 0; i < kVecs; ++i) {
      int x, k;
      coords(i, tid, k_contig, x, k);
#pragma unroll
      for (int j = 0; j < V; ++j) smem[k + (k_contig ? j : 0)][x + (k_contig ? 0 : j)] = reg[i][j];
    }
  }
};

// Row (or column) of the tile held by element i of a thread's micro-tile:
// TM / V groups of V consecutive rows (one 16-byte vector each), BM / (TM / V)
// apart, so that the vector loads of 8 consecutive threads (one phase of a
// 16-byte shared load) fall in distinct banks. TM = 2V: two halves BM/2 apart.
template <int BM, int TM, int V>
__device__ __forceinline__ int micro_row(int t, int i) {
  return (i / V) * (BM / (TM / V)) + t * V + i % V;
}

// kMinBlocks: CTAs per SM the register allocation must allow (__launch_bounds__):
// 0 for the default (185 registers for float on sm_90, one CTA of 8 warps per
// SM), 2 for the wide-tile experiment (simt_wide_switch). The same default
// tiles at 2 (128 registers and a spill) ran slower on an H100 on every
// shape (0.16-0.72x cuBLAS against 0.21-0.78x, 2026-11-27) and were removed.
template <typename T, int BM, int BN, int BK, int TM, int TN, int V, int kMinBlocks = 0>
__global__ void __launch_bounds__((BM / TM) * (BN / TN), kMinBlocks) gemm_simt_kernel(SimtParams<T> p) {
  constexpr int NT = (BM / TM) * (BN / TN);
  __shared__ __align__(16) T As[2][BK][BM];
  __shared__ __align__(16) T Bs[2][BK][BN];

  const int tid = threadIdx.x;
  const int tx = tid % (BN / TN), ty = tid / (BN / TN);
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * BM, n0 = static_cast<int64_t>(blockIdx.x) * BN;
  const bool a_k_contig = p.a_ks == 1, b_n_contig = p.b_ns == 1;
  const int64_t nk = (p.K + BK - 1) / BK;

  SimtTileLoader<T, BM, BK, NT, V> la;
  SimtTileLoader<T, BN, BK, NT, V> lb;

  for (int64_t bi = blockIdx.z; bi < p.batch; bi += gridDim.z) {
    const T* A = p.A + bi * p.stride_a;
    const T* B = p.B + bi * p.stride_b;
    T acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j) acc[i][j] = T(0);

    if (nk > 0) {
      la.load(A, p.a_ms, p.a_ks, a_k_contig, p.vec_a, m0, 0, p.M, p.K, tid);
      lb.load(B, p.b_ns, p.b_ks, !b_n_contig, p.vec_b, n0, 0, p.N, p.K, tid);
      la.store(As[0], a_k_contig, tid);
      lb.store(Bs[0], !b_n_contig, tid);
      __syncthreads();
    }
    for (int64_t kt = 0; kt < nk; ++kt) {
      const int cur = static_cast<int>(kt & 1);
      const bool more = kt + 1 < nk;
      if (more) {  // next tile: global -> registers, in flight during the FMAs below
        la.load(A, p.a_ms, p.a_ks, a_k_contig, p.vec_a, m0, (kt + 1) * BK, p.M, p.K, tid);
        lb.load(B, p.b_ns, p.b_ks, !b_n_contig, p.vec_b, n0, (kt + 1) * BK, p.N, p.K, tid);
      }
#pragma unroll
      for (int kk = 0; kk < BK; ++kk) {
        T a[TM], b[TN];
#pragma unroll
        for (int h = 0; h < (TM > TN ? TM : TN) / V; ++h) {  // one vector of A and one of B per group
          if (h < TM / V) {
            const Vec<T, V> va = *reinterpret_cast<const Vec<T, V>*>(&As[cur][kk][h * (BM / (TM / V)) + ty * V]);
#pragma unroll
            for (int i = 0; i < V; ++i) a[h * V + i] = va.v[i];
          }
          if (h < TN / V) {
            const Vec<T, V> vb = *reinterpret_cast<const Vec<T, V>*>(&Bs[cur][kk][h * (BN / (TN / V)) + tx * V]);
#pragma unroll
            for (int j = 0; j < V; ++j) b[h * V + j] = vb.v[j];
          }
        }
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
          for (int j = 0; j < TN; ++j) acc[i][j] = fma(a[i], b[j], acc[i][j]);
      }
      if (more) {  // the other buffer was last read in step kt-1, before the barrier that ended it
        la.store(As[cur ^ 1], a_k_contig, tid);
        lb.store(Bs[cur ^ 1], !b_n_contig, tid);
      }
      __syncthreads();
    }

    T* C = p.C + bi * p.stride_c;
#pragma unroll
    for (int i = 0; i < TM; ++i) {
      const int64_t m = m0 + micro_row<BM, TM, V>(ty, i);
      if (m >= p.M) continue;
#pragma unroll
      for (int j = 0; j < TN; ++j) {
        const int64_t n = n0 + micro_row<BN, TN, V>(tx, j);
        if (n >= p.N) continue;
        T* c = C + m * p.ldc + n;
        T r = p.alpha * acc[i][j];
        if (p.beta != T(0)) r = fma(p.beta, *c, r);
        *c = r;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// 3. tensor cores (sm_80+)

constexpr int kTcBM = 128, kTcBN = 128, kTcBK = 32, kTcStages = 4, kTcThreads = 128;
constexpr int kTcTileElems = kTcBM * kTcBK;  // = kTcBN * kTcBK: one operand tile of one stage (halves)
static_assert(kTcBM == kTcBN, "the operand tiles of A and B share one shape");
constexpr int kTcSmemBytes = kTcStages * 2 * kTcTileElems * 2;  // 64 KiB

struct TcParams {
  int64_t M, N, K, batch;
  const uint16_t* A;  // raw 16-bit elements (fp16 or bf16)
  const uint16_t* B;
  void* C;
  int64_t lda, ldb, ldc, stride_a, stride_b, stride_c;
  float alpha, beta;
  bool trans_a, trans_b;
};

// Operand tiles in smem are either "narrow" (128 rows x 32 halves: 4 chunks
// of 16 bytes per row) or "wide" (32 rows x 128 halves: 16 chunks per row),
// whichever keeps the global contiguous dim innermost. The chunk index is
// XORed with bits of the row so that 8 consecutive rows of one logical chunk
// (what one ldmatrix phase reads) land in 8 different 16-byte bank groups:
//   narrow: rows r, r+1 share a 128-byte line, so use bits 1..2 of the row;
//   wide:   each row spans 256 bytes, so use bits 0..2.
__device__ __forceinline__ int swz(int row, int chunk, bool wide) {
  return wide ? row * 128 + ((chunk ^ (row & 7)) << 3) : row * 32 + ((chunk ^ ((row >> 1) & 3)) << 3);
}

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// Loads the tile whose rows are [row0, row0 + rows) of a row-major matrix
// (row stride ld, rows_extent x cols_extent) and columns [col0, col0 + cols)
// into swizzled smem, 16 bytes (8 elements) per chunk, zero-filling what lies
// outside the matrix. kAligned: base is 16-byte aligned and ld a multiple of
// 8, so every chunk start is 16-byte aligned and cp.async applies.
template <bool kAligned>
__device__ __forceinline__ void tc_load_tile(uint16_t* tile, const uint16_t* base, int64_t ld, int64_t row0,
                                             int64_t rows_extent, int64_t col0, int64_t cols_extent, bool wide,
                                             int tid) {
  constexpr int kChunks = kTcTileElems / 8;  // 512
  const int cpr = wide ? 16 : 4;             // chunks per row
#pragma unroll
  for (int i = 0; i < kChunks / kTcThreads; ++i) {
    const int q = tid + i * kTcThreads;
    const int r = q / cpr, c = q % cpr;
    const int64_t grow = row0 + r, gcol = col0 + c * 8;
    int valid = 0;  // elements of this chunk inside the matrix
    if (grow < rows_extent && gcol < cols_extent) valid = cols_extent - gcol < 8 ? static_cast<int>(cols_extent - gcol) : 8;
    uint16_t* dst = tile + swz(r, c, wide);
    const uint16_t* src = valid > 0 ? base + grow * ld + gcol : base;
    if constexpr (kAligned) {
      cp_async16(smem_addr(dst), src, valid * 2);  // bytes past src-size are zero-filled
    } else {
      alignas(16) uint16_t v[8];
#pragma unroll
      for (int j = 0; j < 8; ++j) v[j] = j < valid ? src[j] : uint16_t(0);
      *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(v);
    }
  }
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&d)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&d)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3])
               : "r"(addr));
}

template <bool kBf16>
__device__ __forceinline__ void mma_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if constexpr (kBf16) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
#else
  __trap();  // the host never launches this kernel below sm_80
#endif
}

// Fragment loads for one k16 step at tile column kk. Lane l addresses row
// (l & 7) of 8x8 matrix q = l >> 3 of the x4 load.
//   A fragment (m16 x k16, row-major in registers): matrices
//     q0 = (m 0-7, k 0-7), q1 = (m 8-15, k 0-7), q2 = (m 0-7, k 8-15), q3 = (m 8-15, k 8-15)
//   = the a0..a3 registers of mma.m16n8k16. A stored m-major (narrow, rows m)
//   is read as is; stored k-major (wide, rows k) with .trans.
__device__ __forceinline__ void load_frag_a(uint32_t (&a)[4], const uint16_t* tile, bool k_major, int m_base, int kk,
                                            int lane) {
  const int q = lane >> 3, r = lane & 7;
  if (!k_major) {
    const int row = m_base + (q & 1) * 8 + r, col = kk + (q >> 1) * 8;
    ldmatrix_x4(a, smem_addr(tile + swz(row, col >> 3, false)));
  } else {
    const int row = kk + (q >> 1) * 8 + r, col = m_base + (q & 1) * 8;
    ldmatrix_x4_trans(a, smem_addr(tile + swz(row, col >> 3, true)));
  }
}

//   B fragments of two n8 tiles (k16 x n16): matrices
//     q0 = (k 0-7, n 0-7), q1 = (k 8-15, n 0-7), q2 = (k 0-7, n 8-15), q3 = (k 8-15, n 8-15)
//   = (b0, b1) of the first n8 tile, then (b0, b1) of the second. B stored
//   k-major (wide, rows k: not transposed) is read with .trans; stored
//   n-major (narrow, rows n: B transposed) as is.
__device__ __forceinline__ void load_frag_b(uint32_t (&b)[4], const uint16_t* tile, bool n_major, int n_base, int kk,
                                            int lane) {
  const int q = lane >> 3, r = lane & 7;
  if (n_major) {
    const int row = n_base + (q >> 1) * 8 + r, col = kk + (q & 1) * 8;
    ldmatrix_x4(b, smem_addr(tile + swz(row, col >> 3, false)));
  } else {
    const int row = kk + (q & 1) * 8 + r, col = n_base + (q >> 1) * 8;
    ldmatrix_x4_trans(b, smem_addr(tile + swz(row, col >> 3, true)));
  }
}

template <typename TIn, typename TOut, bool kAligned>
__global__ void __launch_bounds__(kTcThreads) gemm_tc_kernel(TcParams p) {
  constexpr bool kBf16 = std::is_same_v<TIn, __nv_bfloat16>;
  extern __shared__ __align__(128) uint8_t tc_smem[];
  uint16_t* smem = reinterpret_cast<uint16_t*>(tc_smem);
  // stage s: A tile at smem + (2 s) * kTcTileElems, B tile at smem + (2 s + 1) * kTcTileElems

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp >> 1, wn = warp & 1;  // 2 x 2 warps, 64 x 64 each
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kTcBM, n0 = static_cast<int64_t>(blockIdx.x) * kTcBN;
  const int nk = static_cast<int>((p.K + kTcBK - 1) / kTcBK);
  // A not transposed: rows m, contiguous k (narrow); transposed: rows k, contiguous m (wide).
  // B not transposed: rows k, contiguous n (wide); transposed: rows n, contiguous k (narrow).
  const bool a_wide = p.trans_a, b_wide = !p.trans_b;

  for (int64_t bi = blockIdx.z; bi < p.batch; bi += gridDim.z) {
    const uint16_t* A = p.A + bi * p.stride_a;
    const uint16_t* B = p.B + bi * p.stride_b;

    auto load_stage = [&](int stage, int kt) {
      uint16_t* ta = smem + (2 * stage) * kTcTileElems;
      uint16_t* tb = ta + kTcTileElems;
      const int64_t k0 = static_cast<int64_t>(kt) * kTcBK;
      if (!p.trans_a)
        tc_load_tile<kAligned>(ta, A, p.lda, m0, p.M, k0, p.K, false, tid);
      else
        tc_load_tile<kAligned>(ta, A, p.lda, k0, p.K, m0, p.M, true, tid);
      if (!p.trans_b)
        tc_load_tile<kAligned>(tb, B, p.ldb, k0, p.K, n0, p.N, true, tid);
      else
        tc_load_tile<kAligned>(tb, B, p.ldb, n0, p.N, k0, p.K, false, tid);
    };

    float acc[4][8][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 8; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;

    // Prologue: stages 0..S-2 in flight (one commit group per stage, empty past the end).
#pragma unroll
    for (int s = 0; s < kTcStages - 1; ++s) {
      if (s < nk) load_stage(s, s);
      cp_async_commit();
    }
    for (int kt = 0; kt < nk; ++kt) {
      // Groups committed so far: S-1+kt; at most S-2 pending means tile kt has landed.
      cp_async_wait<kTcStages - 2>();
      // Makes every thread's copies of tile kt visible, and guarantees every
      // warp finished step kt-1, whose stage the prefetch below overwrites.
      __syncthreads();
      const int pf = kt + kTcStages - 1;
      if (pf < nk) load_stage(pf % kTcStages, pf);
      cp_async_commit();

      const uint16_t* ta = smem + (2 * (kt % kTcStages)) * kTcTileElems;
      const uint16_t* tb = ta + kTcTileElems;
#pragma unroll
      for (int kk = 0; kk < kTcBK; kk += 16) {
        uint32_t af[4][4], bf[4][4];
#pragma unroll
        for (int i = 0; i < 4; ++i) load_frag_a(af[i], ta, a_wide, wm * 64 + i * 16, kk, lane);
#pragma unroll
        for (int j = 0; j < 4; ++j) load_frag_b(bf[j], tb, !b_wide, wn * 64 + j * 16, kk, lane);
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
          for (int j = 0; j < 8; ++j) mma_16816<kBf16>(acc[i][j], af[i], bf[j >> 1][(j & 1) * 2], bf[j >> 1][(j & 1) * 2 + 1]);
      }
    }
    cp_async_wait<0>();
    __syncthreads();  // the next batch's prologue overwrites stages other warps may still read

    // Epilogue. Accumulator e of mma tile (i, j): row g (+8 for e >= 2), column 2t + (e & 1).
    TOut* C = static_cast<TOut*>(p.C) + bi * p.stride_c;
    const int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
#pragma unroll
      for (int e2 = 0; e2 < 2; ++e2) {
        const int64_t m = m0 + wm * 64 + i * 16 + g + e2 * 8;
        if (m >= p.M) continue;
#pragma unroll
        for (int j = 0; j < 8; ++j) {
#pragma unroll
          for (int e1 = 0; e1 < 2; ++e1) {
            const int64_t n = n0 + wn * 64 + j * 8 + 2 * t + e1;
            if (n >= p.N) continue;
            TOut* c = C + m * p.ldc + n;
            float r = p.alpha * acc[i][j][e2 * 2 + e1];
            if (p.beta != 0.f) r = fmaf(p.beta, to_float(*c), r);
            *c = from_float<TOut>(r);
          }
        }
      }
    }
  }
}

// C[b][m, n] = bias[n] for every batch and row: a GemmArgs bias made C's
// contents, for the kernels that read beta * C instead (E: the element's
// size, moved as raw bits).
template <typename E>
__global__ void broadcast_bias_kernel(E* C, const E* bias, int64_t M, int64_t N, int64_t ldc, int64_t stride_c,
                                      int64_t batch) {
  const int64_t total = batch * M * N;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t n = i % N, r = i / N, m = r % M, b = r / M;
    C[b * stride_c + m * ldc + n] = bias[n];
  }
}

// ---------------------------------------------------------------------------
// host side

unsigned batch_grid(int64_t batch) { return static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>(batch, 1), 65535)); }

unsigned tiles(int64_t extent, int tile, const char* what) {
  const int64_t n = (extent + tile - 1) / tile;
  WICK_CHECK(n <= 65535, "cuda gemm: ", what, " = ", extent, " needs ", n, " tiles of ", tile,
             ", more than the grid allows (65535)");
  return static_cast<unsigned>(n);
}

bool aligned(const void* p, int bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

// The float32 SIMT kernel with 128 outputs per thread (8 x 16) and 4 warps
// per 128 x 128 tile, two CTAs per SM: per k, 6 vector loads from shared
// memory feed 128 FMAs (the default: 4 feed 64), 1024 FMAs per thread
// between barriers (512), and either CTA computes while the other waits at
// its barrier. ptxas (sm_90): 221 registers, no spill; with K steps of 16
// instead of 8 the staged loads push it to 255 and a spill in the loop. The
// shape of the fastest published CUDA-C SGEMMs and of cuBLAS's 4-warp SIMT
// tiles. On an H100 (2026-11-27) 0.71x cuBLAS at 4096^3 against the
// default's 0.68x, but 0.17-0.69x on the GPT-2 shapes against 0.21-0.78x:
// an experiment, off.
OptInSwitch& simt_wide_switch() {
  static OptInSwitch s("WICK_CUDA_SIMT_WIDE", /*default_on=*/false);
  return s;
}

template <typename T>
void launch_simt(const GemmArgs& g) {
  constexpr bool kFloat = std::is_same_v<T, float>;
  constexpr int BM = kFloat ? 128 : 64, BN = BM, BK = 8, TM = kFloat ? 8 : 4, TN = TM, V = 16 / sizeof(T);
  SimtParams<T> p{};
  p.M = g.M, p.N = g.N, p.K = g.K, p.batch = g.batch;
  p.A = static_cast<const T*>(g.A), p.B = static_cast<const T*>(g.B), p.C = static_cast<T*>(g.C);
  p.a_ms = g.trans_a ? 1 : g.lda, p.a_ks = g.trans_a ? g.lda : 1;
  p.b_ks = g.trans_b ? 1 : g.ldb, p.b_ns = g.trans_b ? g.ldb : 1;
  // With K = 1 or M = 1 both strides may be 1; the loader then treats k as
  // the contiguous dim of A (a_ks == 1), which is exact either way.
  p.ldc = g.ldc, p.stride_a = g.stride_a, p.stride_b = g.stride_b, p.stride_c = g.stride_c;
  p.alpha = static_cast<T>(g.alpha), p.beta = static_cast<T>(g.beta);
  p.vec_a = aligned(g.A, 16) && g.lda % V == 0 && g.stride_a % V == 0;
  p.vec_b = aligned(g.B, 16) && g.ldb % V == 0 && g.stride_b % V == 0;
  const dim3 grid(tiles(g.N, BN, "N"), tiles(g.M, BM, "M"), batch_grid(g.batch));
  if constexpr (kFloat) {
    if (simt_wide_switch().on()) {
      constexpr int kBK = 8, kTN = 16;
      gemm_simt_kernel<T, BM, BN, kBK, TM, kTN, V, 2><<<grid, (BM / TM) * (BN / kTN), 0, current_stream()>>>(p);
      WICK_CUDA_CHECK_LAUNCH();
      return;
    }
  }
  gemm_simt_kernel<T, BM, BN, BK, TM, TN, V><<<grid, (BM / TM) * (BN / TN), 0, current_stream()>>>(p);
  WICK_CUDA_CHECK_LAUNCH();
}

template <typename TIn, typename TOut, bool kAligned>
void launch_tc_typed(const TcParams& p, dim3 grid) {
  auto kernel = gemm_tc_kernel<TIn, TOut, kAligned>;
  WICK_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kTcSmemBytes));
  kernel<<<grid, kTcThreads, kTcSmemBytes, current_stream()>>>(p);
  WICK_CUDA_CHECK_LAUNCH();
}

template <typename TIn>
void launch_tc(const GemmArgs& g) {
  int dev = 0;
  WICK_CUDA_CHECK(cudaGetDevice(&dev));
  const cudaDeviceProp& prop = device_properties(dev);
  WICK_CHECK(prop.major >= 8, "cuda gemm: the ", g.ab_dtype, " tensor-core kernel needs sm_80 or newer, this device is sm_",
             prop.major, prop.minor, " (set WICK_CUDA_GEMM=cublas)");
  TcParams p{};
  p.M = g.M, p.N = g.N, p.K = g.K, p.batch = g.batch;
  p.A = static_cast<const uint16_t*>(g.A), p.B = static_cast<const uint16_t*>(g.B), p.C = g.C;
  p.lda = g.lda, p.ldb = g.ldb, p.ldc = g.ldc;
  p.stride_a = g.stride_a, p.stride_b = g.stride_b, p.stride_c = g.stride_c;
  p.alpha = static_cast<float>(g.alpha), p.beta = static_cast<float>(g.beta);
  p.trans_a = g.trans_a, p.trans_b = g.trans_b;
  const bool al = aligned(g.A, 16) && aligned(g.B, 16) && g.lda % 8 == 0 && g.ldb % 8 == 0 && g.stride_a % 8 == 0 &&
                  g.stride_b % 8 == 0;
  const dim3 grid(tiles(g.N, kTcBN, "N"), tiles(g.M, kTcBM, "M"), batch_grid(g.batch));
  const bool out_f32 = g.c_dtype == kFloat32;
  if (out_f32)
    al ? launch_tc_typed<TIn, float, true>(p, grid) : launch_tc_typed<TIn, float, false>(p, grid);
  else
    al ? launch_tc_typed<TIn, TIn, true>(p, grid) : launch_tc_typed<TIn, TIn, false>(p, grid);
}

template <typename TA, typename TC>
void launch_reference(const GemmArgs& g) {
  const dim3 block(16, 16);
  const dim3 grid(tiles(g.N, 16, "N"), tiles(g.M, 16, "M"), batch_grid(g.batch));
  gemm_reference_kernel<TA, TC><<<grid, block, 0, current_stream()>>>(g);
  WICK_CUDA_CHECK_LAUNCH();
}

// Sets the current device for a scope (restores the previous one after).
class DeviceScope {
 public:
  explicit DeviceScope(int index) {
    WICK_CUDA_CHECK(cudaGetDevice(&prev_));
    if (prev_ != index) WICK_CUDA_CHECK(cudaSetDevice(index));
  }
  ~DeviceScope() {
    int now = 0;
    if (cudaGetDevice(&now) == cudaSuccess && now != prev_) cudaSetDevice(prev_);
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int prev_ = 0;
};

// Unset: Default, resolved per call by resolve() below.
GemmBackend parse_backend_env() {
  const char* v = std::getenv("WICK_CUDA_GEMM");
  if (v == nullptr || *v == '\0') return GemmBackend::Default;
  if (std::strcmp(v, "wick") == 0) return GemmBackend::Wick;
  if (std::strcmp(v, "cublas") == 0) return GemmBackend::Cublas;
  if (std::strcmp(v, "wgmma") == 0) return GemmBackend::Wgmma;
  if (std::strcmp(v, "cublaslt") == 0) return GemmBackend::CublasLt;
  WICK_FAIL("WICK_CUDA_GEMM must be 'wick', 'wgmma', 'cublas' or 'cublaslt', got '", v, "'");
}

// Leading dimension and transpose flag under which a rows x cols matrix with
// element strides (rs, cs) is a BLAS operand, if it is one: row-major with
// rows at least a row apart, or column-major (stored transposed) likewise.
// Size-1 dims constrain nothing, so their stride is ignored.
struct OperandLayout {
  bool ok = false, trans = false;
  int64_t ld = 1;
};
OperandLayout blas_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  if (rows == 0 || cols == 0) return {true, false, std::max<int64_t>(cols, 1)};  // never read
  if ((cols == 1 || cs == 1) && (rows == 1 || rs >= cols)) return {true, false, rows == 1 ? cols : rs};
  if ((rows == 1 || rs == 1) && (cols == 1 || cs >= rows)) return {true, true, cols == 1 ? rows : cs};
  return {};
}

bool uniform(const std::vector<int64_t>& off) {
  for (size_t i = 2; i < off.size(); ++i)
    if (off[i] - off[i - 1] != off[1] - off[0]) return false;
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------
// public entry points

GemmBackend default_gemm_backend() {
  static const GemmBackend b = parse_backend_env();
  return b;
}

const char* gemm_backend_name(GemmBackend b) {
  switch (b) {
    case GemmBackend::Default: return "default (wgmma for 16-bit on sm_90, else wick)";
    case GemmBackend::Wick: return "wick";
    case GemmBackend::Wgmma: return "wgmma";
    case GemmBackend::Cublas: return "cublas";
    case GemmBackend::CublasLt: return "cublaslt";
  }
  return "?";
}

void check_gemm_args(const GemmArgs& g) {
  WICK_CHECK(g.M >= 0 && g.N >= 0 && g.K >= 0 && g.batch >= 0, "cuda gemm: negative size: M = ", g.M, ", N = ", g.N,
             ", K = ", g.K, ", batch = ", g.batch);
  const DType a = g.ab_dtype, c = g.c_dtype;
  const bool ok = ((a == kFloat32 || a == kFloat64) && c == a) ||
                  ((a == kFloat16 || a == kBFloat16) && (c == a || c == kFloat32));
  WICK_CHECK(ok, "cuda gemm: unsupported dtypes: ", a, " inputs with ", c,
             " output (supported: float32, float64, float16/bfloat16 -> same or float32)");
  const int64_t a_cols = g.trans_a ? g.M : g.K, b_cols = g.trans_b ? g.K : g.N;
  WICK_CHECK(g.lda >= std::max<int64_t>(1, a_cols), "cuda gemm: lda = ", g.lda, " < ", std::max<int64_t>(1, a_cols),
             " (a row of A", g.trans_a ? "^T" : "", ")");
  WICK_CHECK(g.ldb >= std::max<int64_t>(1, b_cols), "cuda gemm: ldb = ", g.ldb, " < ", std::max<int64_t>(1, b_cols),
             " (a row of B", g.trans_b ? "^T" : "", ")");
  WICK_CHECK(g.ldc >= std::max<int64_t>(1, g.N), "cuda gemm: ldc = ", g.ldc, " < N = ", g.N);
}

namespace {
OptInSwitch& bias_switch() {
  static OptInSwitch s("WICK_CUDA_GEMM_BIAS", /*default_on=*/false);
  return s;
}
}  // namespace

void set_gemm_simt_wide(bool on) { simt_wide_switch().set(on); }
bool gemm_simt_wide() { return simt_wide_switch().on(); }

void set_gemm_bias_epilogue(bool on) { bias_switch().set(on); }
bool gemm_bias_epilogue() { return bias_switch().on(); }

void materialize_bias(GemmArgs& g) {
  if (g.bias == nullptr) return;
  const int64_t total = g.batch * g.M * g.N;
  const unsigned grid = grid_for(total, 256);
  const size_t esz = dtype_size(g.c_dtype);
  auto launch = [&]<typename E>() {
    broadcast_bias_kernel<E><<<grid, 256, 0, current_stream()>>>(static_cast<E*>(g.C), static_cast<const E*>(g.bias),
                                                                 g.M, g.N, g.ldc, g.stride_c, g.batch);
  };
  if (esz == 2) launch.operator()<uint16_t>();
  else if (esz == 4) launch.operator()<uint32_t>();
  else launch.operator()<uint64_t>();
  WICK_CUDA_CHECK_LAUNCH();
  g.bias = nullptr;
}

void gemm(const GemmArgs& g_in, GemmBackend backend) {
  check_gemm_args(g_in);
  if (g_in.M == 0 || g_in.N == 0 || g_in.batch == 0) return;
  GemmArgs g = g_in;
  if (backend == GemmBackend::Default) backend = default_gemm_backend();
  if (backend == GemmBackend::Default) {
    // wick's choice: the wgmma kernel for 16-bit inputs on compute capability 9.0 (2x the mma.sync
    // kernel there, bench_cuda_gemm), the mma.sync / SIMT kernels otherwise.
    const bool half = g.ab_dtype == kFloat16 || g.ab_dtype == kBFloat16;
    int dev = 0;
    if (half) WICK_CUDA_CHECK(cudaGetDevice(&dev));
    backend = half && wgmma_supported(dev) ? GemmBackend::Wgmma : GemmBackend::Wick;
  }
  if (backend == GemmBackend::Wgmma && (g.ab_dtype == kFloat16 || g.ab_dtype == kBFloat16)) {
    gemm_wgmma(g);  // the bias in the TMA kernel's epilogue, else materialized there
    return;
  }
  materialize_bias(g);  // every other kernel, and the vendors, read beta * C
  // K = 0 (C = beta C) stays with wick's kernel, whose epilogue does exactly
  // that, rather than relying on each cuBLAS version's quick-return path.
  if (backend == GemmBackend::Cublas && g.K > 0) {
    vendor::cublas_gemm(g);
    return;
  }
  if (backend == GemmBackend::CublasLt && g.K > 0) {
    vendor::cublaslt_gemm(g);
    return;
  }
  switch (g.ab_dtype) {
    case DType::Float32: launch_simt<float>(g); break;
    case DType::Float64: launch_simt<double>(g); break;
    case DType::Float16: launch_tc<__half>(g); break;
    case DType::BFloat16: launch_tc<__nv_bfloat16>(g); break;
    default: WICK_FAIL("cuda gemm: unsupported dtype ", g.ab_dtype);
  }
}

void gemm_reference(const GemmArgs& g) {
  check_gemm_args(g);
  if (g.M == 0 || g.N == 0 || g.batch == 0) return;
  const bool f32 = g.c_dtype == kFloat32;
  switch (g.ab_dtype) {
    case DType::Float32: launch_reference<float, float>(g); break;
    case DType::Float64: launch_reference<double, double>(g); break;
    case DType::Float16: f32 ? launch_reference<__half, float>(g) : launch_reference<__half, __half>(g); break;
    case DType::BFloat16:
      f32 ? launch_reference<__nv_bfloat16, float>(g) : launch_reference<__nv_bfloat16, __nv_bfloat16>(g);
      break;
    default: WICK_FAIL("cuda gemm_reference: unsupported dtype ", g.ab_dtype);
  }
}

void batched_gemm(const Tensor& out, const Tensor& a_in, const Tensor& b_in, const Scalar& alpha, const Scalar& beta,
                  GemmBackend backend, const Tensor& bias) {
  const int64_t M = out.size(out.dim() - 2), N = out.size(out.dim() - 1), K = a_in.size(a_in.dim() - 1);
  const Shape batch(out.sizes().begin(), out.sizes().end() - 2);
  const int64_t count = numel_of(batch);
  if (count == 0 || M == 0 || N == 0) return;
  WICK_CHECK(out.is_contiguous(), "cuda batched_gemm: the output must be contiguous");
  DeviceScope scope(out.device().index);

  // Each operand as a BLAS operand: its own strides when they allow it, a
  // contiguous copy otherwise (e.g. a matrix sliced along both dims).
  auto operand = [&](const Tensor& t, int64_t rows, int64_t cols, Tensor& holder) {
    OperandLayout l = blas_layout(rows, cols, t.stride(t.dim() - 2), t.stride(t.dim() - 1));
    holder = t;
    if (!l.ok) {
      holder = t.contiguous();
      l = blas_layout(rows, cols, holder.stride(holder.dim() - 2), holder.stride(holder.dim() - 1));
    }
    return l;
  };
  Tensor a, b;
  const OperandLayout la = operand(a_in, M, K, a), lb = operand(b_in, K, N, b);
  const std::vector<int64_t> off_a = cpu::batch_offsets(a, batch), off_b = cpu::batch_offsets(b, batch);

  GemmArgs g;
  g.M = M, g.N = N, g.K = K;
  g.trans_a = la.trans, g.lda = la.ld;
  g.trans_b = lb.trans, g.ldb = lb.ld;
  g.ldc = N, g.stride_c = M * N;
  g.alpha = alpha.to_double(), g.beta = beta.to_double();
  g.ab_dtype = a.dtype(), g.c_dtype = out.dtype();
  if (bias.defined()) {
    WICK_CHECK(bias.is_cuda() && bias.device() == out.device() && bias.dtype() == out.dtype() && bias.dim() == 1 &&
                   bias.size(0) == N && bias.is_contiguous(),
               "cuda batched_gemm: the bias must be a contiguous [", N, "] ", out.dtype(), " tensor on ", out.device(),
               ", got ", bias.dtype(), " ", shape_str(bias.sizes()), " on ", bias.device());
    g.bias = bias.data_ptr_raw();
  }
  const int64_t esz = static_cast<int64_t>(dtype_size(a.dtype())), csz = static_cast<int64_t>(dtype_size(out.dtype()));
  const char* pa = static_cast<const char*>(a.data_ptr_raw());
  const char* pb = static_cast<const char*>(b.data_ptr_raw());
  char* pc = static_cast<char*>(out.data_ptr_raw());
  if (count == 1 || (uniform(off_a) && uniform(off_b))) {
    // Matrices one stride apart (a contiguous or 1-D batch, or a broadcast
    // operand with stride 0): one strided-batched launch.
    g.batch = count;
    g.A = pa, g.B = pb, g.C = pc;
    g.stride_a = count > 1 ? off_a[1] - off_a[0] : 0;
    g.stride_b = count > 1 ? off_b[1] - off_b[0] : 0;
    gemm(g, backend);
    return;
  }
  // Irregular batch offsets: one launch per matrix.
  g.batch = 1;
  for (int64_t i = 0; i < count; ++i) {
    g.A = pa + off_a[i] * esz;
    g.B = pb + off_b[i] * esz;
    g.C = pc + i * M * N * csz;
    gemm(g, backend);
  }
}

}  // namespace wick::cuda
