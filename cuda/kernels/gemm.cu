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
//    0.23x cuBLAS); GPT-2 shapes 99-129 TFLOP/s. SIMT float32: 29-35 TFLOP/s, 0.61-0.78x cuBLAS
//    (on an H200, 2026-11-28: 0.20-0.78x; the split-K cases below 0.4x).
//    Registers (ptxas, CUDA 13): SIMT float 175 (sm_80) / 185 (sm_90), one
//    256-thread block per SM; tensor-core 240-248, two 128-thread blocks per
//    SM; no spills.
//
// 4. gemm_simt_async_kernel (float32, sm_80+; the default there): cuBLAS's Hopper SGEMM
//    layout (4 warps of 64 x 64 per 128 x 128 tile, 16 x 8 outputs per lane)
//    with cp.async stages instead of register staging, and split-K chosen
//    by a cost model; see section 4, in gemm_simt_async.cuh (a header of its
//    own, which the CUDA emulator's tests also compile and run on the CPU).
//
// All kernels loop over the batch with blockIdx.z (grid-stride, so batches
// beyond the 65535 grid limit work) and use 64-bit element offsets.
#include "cuda/kernels/gemm.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "cuda/kernels/cp_async.cuh"
#include "cuda/kernels/gemm_simt_async.cuh"
#include "cuda/kernels/gemm_simt_plan.h"
#include "cuda/kernels/gemm_sm90.h"
#include "cuda/runtime.h"
#include "ops/cpu/linalg.h"
#include "cuda/vendor/cublas.h"
#include "cuda/kernels/copy.h"
#include "ops/creation.h"

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

// ---------------------------------------------------------------------------
// 4. float32 SIMT with cp.async stages, split-K and stream-K: gemm_simt_async.cuh

// ---------------------------------------------------------------------------
// around the products: a bias made C, C converted between dtypes

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

// dst[b][m, n] = src[b][m, n] converted (to_f32 / pack on the way back), the
// two C layouts (rows ld apart, batches stride apart) given separately: a 16-bit
// C staged in float32 for the vendors (vendor_gemm_rounded_once).
template <typename D, typename S>
__global__ void convert_c_kernel(D* dst, int64_t ld_dst, int64_t stride_dst, const S* src, int64_t ld_src,
                                 int64_t stride_src, int64_t M, int64_t N, int64_t batch) {
  const int64_t total = batch * M * N;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t n = i % N, r = i / N, m = r % M, b = r / M;
    const S v = src[b * stride_src + m * ld_src + n];
    if constexpr (std::is_same_v<D, float>)
      dst[b * stride_dst + m * ld_dst + n] = static_cast<float>(v);
    else
      dst[b * stride_dst + m * ld_dst + n] = static_cast<D>(v);  // round to nearest even, once
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

// The SIMT kernels' parameters for a product.
template <typename T>
SimtParams<T> simt_params(const GemmArgs& g) {
  constexpr int V = 16 / sizeof(T);
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
  return p;
}

// The cp.async SIMT kernel with split-K (section 4): on since
// CudaGemm.SimtAsyncTiles passed on an H200 (2026-11-28), where it ran the
// float32 shapes of bench_cuda_gemm --compare at 0.77-0.90x cuBLAS against
// 0.20-0.78x for the register-staged kernel (WICK_CUDA_SIMT_ASYNC=0 for that).
OptInSwitch& simt_async_switch() {
  static OptInSwitch s("WICK_CUDA_SIMT_ASYNC", /*default_on=*/true);
  return s;
}
std::atomic<int> simt_async_forced_splits{0};  // 0: choose_simt_splits
std::atomic<int64_t> simt_async_count{0}, simt_async_split_count{0};

// The cp.async SIMT kernel's 64 x 256 tiles for M <= 64 (gemm_simt_async_kernel's kRows64): on since
// CudaGemm.SimtRows64Tiles passed on an H200 (2026-11-28), where the 64 x 200704 x 576 ResNet layer ran at
// 0.96x cuBLAS against 0.48x on 128 x 128 tiles (WICK_CUDA_SIMT_ROWS64=0 for those).
OptInSwitch& simt_rows64_switch() {
  static OptInSwitch s("WICK_CUDA_SIMT_ROWS64", /*default_on=*/true);
  return s;
}
std::atomic<int64_t> simt_rows64_count{0};

// k-contiguous float32 operands copied m/n-contiguous before the cp.async kernel (WICK_CUDA_SIMT_TRANSPOSE_K,
// on since an H200 timed it, 2026-11-28, gemm.h): the kernel copies such an operand's stage tiles 4
// bytes at a time (kK: 16 copies per thread and stage against 4 of 16 bytes, a warp's copy touching 4
// rows): on an H200 (the second lease of 2026-11-28) the GPT-2 forwards with both operands k-contiguous
// (NT) ran at 0.74-0.86x cuBLAS against 0.95x for the weight gradients, whose operands are m/n-contiguous
// (on the third, before the switch: 0.67-0.80x against 0.88-0.90x; with the copies 0.74-0.88x). The copy
// reads and writes the operand once (for A, about 80 / N of the product's time at the SIMT kernel's and
// HBM's rates), so it is made only where the other dimension is at least kSimtTransposeMinOther.
OptInSwitch& simt_transpose_switch() {
  static OptInSwitch s("WICK_CUDA_SIMT_TRANSPOSE_K", /*default_on=*/true);
  return s;
}
std::atomic<int64_t> simt_transposed_count{0};  // operands copied

// The cp.async kernel's hybrid stream-K (gemm_simt_plan.h: whole waves one tile per CTA, the last partial
// wave's k steps shared by every CTA): off until a GPU has run CudaGemm.SimtStreamK and timed it
// (WICK_CUDA_SIMT_STREAMK=1). forced: the grid the tests force (0: the plan's).
OptInSwitch& simt_stream_k_switch() {
  static OptInSwitch s("WICK_CUDA_SIMT_STREAMK");
  return s;
}
std::atomic<int> simt_stream_k_forced_ctas{0};
std::atomic<int64_t> simt_stream_k_count{0};

// The cp.async kernel's k-contiguous, 16-byte aligned operands copied 16 bytes at a time and moved into
// their stage tiles in shared memory (SaKVecLoader), instead of the copies first (simt_transpose_switch)
// or 4-byte copies along k (kK): written without a GPU, off until one has run CudaGemm.SimtKVec and timed
// it (WICK_CUDA_SIMT_KVEC=1). 128 x 128 tiles, the other operand 16-byte copied (kVec or kKVec).
OptInSwitch& simt_kvec_switch() {
  static OptInSwitch s("WICK_CUDA_SIMT_KVEC");
  return s;
}
std::atomic<int64_t> simt_kvec_count{0};  // products with such an operand
constexpr int64_t kSimtTransposeMinOther = 512;

// Operand X of a float32 product (rows x K, element (r, k) at base + b * bstride + r * rs + k * ks) copied
// m/n-contiguous into `holder`: element (r, k) at k * ld + r of copy b, ld = rows rounded up to 4 (16-byte
// rows), copies K * ld apart (a broadcast operand, bstride 0 with batch > 1, once). The copy is copy_'s
// (cuda/kernels/copy.h: its tiled transpose, destination and source contiguous along different dims), on
// a view of the caller's memory. Returns ld; *out_bstride gets the copies' batch stride.
int64_t simt_mn_major(const float* base, int64_t rows, int64_t K, int64_t rs, int64_t ks, int64_t batch,
                      int64_t bstride, int dev, Tensor& holder, int64_t* out_bstride) {
  const int64_t ld = (rows + 3) / 4 * 4;
  const int64_t copies = bstride == 0 && batch > 1 ? 1 : batch;
  const Device device(DeviceType::CUDA, dev);
  holder = empty({copies * K * ld}, TensorOptions(kFloat32).device(device));
  const size_t span = static_cast<size_t>((copies - 1) * bstride + (rows - 1) * rs + (K - 1) * ks + 1) * sizeof(float);
  const Tensor src = make_tensor(std::make_shared<Storage>(const_cast<float*>(base), span, device, nullptr),
                                 {copies, rows, K}, {bstride, rs, ks}, 0, kFloat32);
  cuda::copy(holder.as_strided({copies, rows, K}, {K * ld, 1, ld}), src);
  simt_transposed_count.fetch_add(1, std::memory_order_relaxed);
  *out_bstride = copies == 1 && batch > 1 ? 0 : K * ld;
  return ld;
}

// How many K chunks a float32 product of `tiles` 128 x 128 or 64 x 256 tiles (the same work; batch
// included) and `ksteps` steps of kSaBK runs in, on `sms` SMs holding `occ`
// CTAs each. A rough cost model, in units of one k step of an SM running
// `occ` CTAs at once:
//  - the blocks are spread evenly, so the busiest SM runs ceil(ctas / sms)
//    CTAs in rounds of `occ`; a last round of fewer CTAs is assumed to take
//    0.3 + 0.7 * (its CTAs / occ) of a full one (a lone CTA of 4 warps keeps
//    its SM's FMA pipes busy only part of the time);
//  - the partial tiles are written and read once each and C written (and
//    read for beta != 0), at an assumed 4 MB per unit: an H100 moves about
//    that in the ~3,400 cycles two CTAs take for a k step at 60% of the FMA
//    peak.
// Each chunk keeps at least 16 k steps, and the workspace stays under 1 GiB.
int choose_simt_splits(int64_t tiles, int64_t ksteps, int64_t mn_batch, bool beta, int64_t sms, int occ) {
  auto cost = [&](int s) {
    const int64_t ctas = tiles * s, per_sm = (ctas + sms - 1) / sms;
    const int64_t steps = (ksteps + s - 1) / s;
    const int64_t full = per_sm / occ, rest = per_sm % occ;
    double t = static_cast<double>(steps) * (static_cast<double>(full) + (rest ? 0.3 + 0.7 * rest / occ : 0.0));
    if (s > 1) t += (2.0 * s + 1.0 + (beta ? 1.0 : 0.0)) * 4.0 * static_cast<double>(mn_batch) / 4e6;
    return t;
  };
  int best = 1;
  double best_cost = cost(1);
  for (int s = 2; s <= 16 && ksteps / s >= 16 && static_cast<double>(s) * mn_batch * 4 < 1073741824.0; ++s) {
    const double c = cost(s);
    if (c < best_cost) best = s, best_cost = c;
  }
  return best;
}

// CTAs of the cp.async SIMT kernel one SM holds (2 by its launch bounds,
// unless the device has fewer registers or less shared memory), per device.
int simt_async_occupancy(int dev) {
  static std::atomic<int> cached[64] = {};
  std::atomic<int>* slot = dev >= 0 && dev < 64 ? &cached[dev] : nullptr;
  if (slot != nullptr && slot->load(std::memory_order_relaxed) > 0) return slot->load(std::memory_order_relaxed);
  int occ = 0;
  WICK_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(
      &occ, gemm_simt_async_kernel<SaMode::kK, SaMode::kVec>, kSaThreads, 0));
  occ = std::max(occ, 1);
  if (slot != nullptr) slot->store(occ, std::memory_order_relaxed);
  return occ;
}

// The float32 product on the cp.async SIMT kernel; false where it does not
// apply (below sm_80: no cp.async).
bool launch_simt_async(const GemmArgs& g_in) {
  int dev = 0;
  WICK_CUDA_CHECK(cudaGetDevice(&dev));
  const cudaDeviceProp& prop = device_properties(dev);
  if (prop.major < 8) return false;
  // WICK_CUDA_SIMT_TRANSPOSE_K: k-contiguous operands copied m/n-contiguous first, where the other
  // dimension makes the copy cheap beside the product (the copy's grid: at most 65535 x 32 rows).
  GemmArgs g = g_in;
  // WICK_CUDA_SIMT_KVEC: which k-contiguous operands the kernel copies 16 bytes at a time itself (kKVec), in
  // the 128 x 128 tiles (not where the 64-row ones run) and beside an operand copied 16 bytes at a time.
  const int64_t max_rows = int64_t{65535} * 32;
  const bool tk = simt_transpose_switch().on() && g.K > 0;
  const bool copy_a = tk && !g.trans_a && g.N >= kSimtTransposeMinOther && g.M <= max_rows;
  const bool copy_b = tk && g.trans_b && g.M >= kSimtTransposeMinOther && g.N <= max_rows;
  auto rows16 = [](const void* ptr, int64_t ld, int64_t batch, int64_t bstride) {
    return aligned(ptr, 16) && ld % 4 == 0 && (batch <= 1 || bstride % 4 == 0);
  };
  const bool kvec = simt_kvec_switch().on() && !(simt_rows64_switch().on() && g.M <= 64);
  bool kvec_a = kvec && !g.trans_a && rows16(g.A, g.lda, g.batch, g.stride_a);
  bool kvec_b = kvec && g.trans_b && rows16(g.B, g.ldb, g.batch, g.stride_b);
  // The other operand's copies must be 16 bytes too: m/n-contiguous and aligned, copied first, or kKVec.
  const bool vec_a16 = g.trans_a ? rows16(g.A, g.lda, g.batch, g.stride_a) : copy_a || kvec_a;
  const bool vec_b16 = !g.trans_b ? rows16(g.B, g.ldb, g.batch, g.stride_b) : copy_b || kvec_b;
  if (!vec_b16) kvec_a = false;
  if (!vec_a16) kvec_b = false;
  Tensor ha, hb;  // the copies: freed after the launch; the allocator reuses them only for later work here
  if (tk) {
    if (copy_a && !kvec_a) {
      int64_t bs = 0;
      g.lda = simt_mn_major(static_cast<const float*>(g.A), g.M, g.K, g.lda, 1, g.batch, g.stride_a, dev, ha, &bs);
      g.A = ha.data_ptr_raw(), g.trans_a = true, g.stride_a = bs;
    }
    if (copy_b && !kvec_b) {
      int64_t bs = 0;
      g.ldb = simt_mn_major(static_cast<const float*>(g.B), g.N, g.K, g.ldb, 1, g.batch, g.stride_b, dev, hb, &bs);
      g.B = hb.data_ptr_raw(), g.trans_b = false, g.stride_b = bs;
    }
  }
  SaParams p{};
  static_cast<SimtParams<float>&>(p) = simt_params<float>(g);
  // 16-byte copies need every matrix's rows 16-byte aligned (a batch stride matters only with more than one
  // matrix; the default kernel's flags ask for it always).
  p.vec_a = rows16(g.A, g.lda, g.batch, g.stride_a);
  p.vec_b = rows16(g.B, g.ldb, g.batch, g.stride_b);
  p.vec_c = rows16(g.C, g.ldc, g.batch, g.stride_c);
  // A's contiguous dim is m when stored transposed, B's is n when not.
  const SaMode ma = kvec_a ? SaMode::kKVec : !g.trans_a ? SaMode::kK : p.vec_a ? SaMode::kVec : SaMode::kX;
  const SaMode mb = kvec_b ? SaMode::kKVec : g.trans_b ? SaMode::kK : p.vec_b ? SaMode::kVec : SaMode::kX;

  // 64 x 256 tiles for at most 64 rows (the same work per tile and k step as 128 x 128, so the same
  // split-K choice), unless B is copied 4 bytes at a time along n.
  const bool rows64 = simt_rows64_switch().on() && g.M <= 64 && mb != SaMode::kX;  // (never with kKVec: above)
  const unsigned tn = tiles(g.N, rows64 ? 256 : kSaBN, "N"), tm = tiles(g.M, rows64 ? 64 : kSaBM, "M");
  const int64_t ksteps = (g.K + kSaBK - 1) / kSaBK;
  int splits = simt_async_forced_splits.load(std::memory_order_relaxed);
  if (splits <= 0)
    splits = choose_simt_splits(static_cast<int64_t>(tn) * tm * g.batch, ksteps, g.M * g.N * g.batch, g.beta != 0,
                                prop.multiProcessorCount, simt_async_occupancy(dev));
  if (g.K == 0) splits = 1;
  p.splits = splits;
  p.k_chunk = (ksteps + splits - 1) / splits * kSaBK;
  Tensor work;  // freed after the launches; the allocator reuses it only for later work on this stream
  if (splits > 1) {
    work = empty({g.batch * splits * g.M * g.N}, TensorOptions(kFloat32).device(Device(DeviceType::CUDA, dev)));
    p.work = static_cast<float*>(work.data_ptr_raw());
  }
  // The hybrid stream-K grid where its plan (or a test) takes it: batch 1, no split-K, 128 x 128 tiles.
  SimtStreamK hk;
  if (simt_stream_k_switch().on() && splits == 1 && g.batch == 1 && !rows64 && g.K > 0) {
    const int forced = simt_stream_k_forced_ctas.load(std::memory_order_relaxed);
    const int64_t tiles = static_cast<int64_t>(tn) * tm;
    hk = forced > 0 ? simt_stream_k_split(tiles, ksteps, forced)
                    : plan_simt_stream_k(tiles, ksteps, prop.multiProcessorCount, simt_async_occupancy(dev));
  }
  Tensor sk_ws;  // the stream-K partials: freed after the launches, reused only by later work on this stream
  float* ws = nullptr;
  if (hk.ctas > 0 && hk.sk.tiles > 0) {
    sk_ws = empty({hk.ctas * 2 * kSaBM * kSaBN}, TensorOptions(kFloat32).device(Device(DeviceType::CUDA, dev)));
    ws = static_cast<float*>(sk_ws.data_ptr_raw());
  }
  const dim3 grid(tn, tm, static_cast<unsigned>(std::min<int64_t>(g.batch * splits, 65535)));
  auto launch = [&]<SaMode kA, SaMode kB>() {
    if (hk.ctas > 0) {
      gemm_simt_stream_k_kernel<kA, kB><<<static_cast<unsigned>(hk.ctas), kSaThreads, 0, current_stream()>>>(
          p, hk, tn, ws);
      return;
    }
    if constexpr (kB != SaMode::kX && kA != SaMode::kKVec && kB != SaMode::kKVec) {
      if (rows64) {
        gemm_simt_async_kernel<kA, kB, true><<<grid, kSaThreads, 0, current_stream()>>>(p);
        return;
      }
    }
    gemm_simt_async_kernel<kA, kB><<<grid, kSaThreads, 0, current_stream()>>>(p);
  };
  auto with_b = [&]<SaMode kA>() {
    if (mb == SaMode::kVec) launch.template operator()<kA, SaMode::kVec>();
    else if (mb == SaMode::kX) launch.template operator()<kA, SaMode::kX>();
    else launch.template operator()<kA, SaMode::kK>();
  };
  // kKVec pairs: with kVec or kKVec only (above), 3 instantiations.
  if (ma == SaMode::kKVec)
    mb == SaMode::kKVec ? launch.template operator()<SaMode::kKVec, SaMode::kKVec>()
                        : launch.template operator()<SaMode::kKVec, SaMode::kVec>();
  else if (mb == SaMode::kKVec) {
    WICK_CHECK(ma == SaMode::kVec, "gemm: a 16-byte k-contiguous B beside an A not copied 16 bytes at a time");
    launch.template operator()<SaMode::kVec, SaMode::kKVec>();
  }
  else if (ma == SaMode::kVec) with_b.template operator()<SaMode::kVec>();
  else if (ma == SaMode::kX) with_b.template operator()<SaMode::kX>();
  else with_b.template operator()<SaMode::kK>();
  WICK_CUDA_CHECK_LAUNCH();
  if (ma == SaMode::kKVec || mb == SaMode::kKVec) simt_kvec_count.fetch_add(1, std::memory_order_relaxed);
  if (hk.ctas > 0) {
    if (hk.sk.tiles > 0) {
      simt_stream_k_fixup_kernel<<<dim3(static_cast<unsigned>(hk.sk.tiles), kSaBM / 8), 256, 0, current_stream()>>>(
          p, hk, tn, ws);
      WICK_CUDA_CHECK_LAUNCH();
    }
    simt_stream_k_count.fetch_add(1, std::memory_order_relaxed);
  }
  if (splits > 1) {
    simt_split_reduce_kernel<<<grid_for(g.batch * g.M * g.N, 256), 256, 0, current_stream()>>>(
        p.work, p.C, g.M, g.N, g.batch, splits, g.ldc, g.stride_c, p.alpha, p.beta);
    WICK_CUDA_CHECK_LAUNCH();
    simt_async_split_count.fetch_add(1, std::memory_order_relaxed);
  }
  simt_async_count.fetch_add(1, std::memory_order_relaxed);
  if (rows64) simt_rows64_count.fetch_add(1, std::memory_order_relaxed);
  return true;
}

template <typename T>
void launch_simt(const GemmArgs& g) {
  constexpr bool kFloat = std::is_same_v<T, float>;
  constexpr int BM = kFloat ? 128 : 64, BN = BM, BK = 8, TM = kFloat ? 8 : 4, TN = TM, V = 16 / sizeof(T);
  const SimtParams<T> p = simt_params<T>(g);
  const dim3 grid(tiles(g.N, BN, "N"), tiles(g.M, BM, "M"), batch_grid(g.batch));
  if constexpr (kFloat) {
    if (simt_async_switch().on() && launch_simt_async(g)) return;
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
// On since CudaGemm.BiasEpilogue passed on an H100 and every opt-in path together on an H200
// (2026-11-28); WICK_CUDA_GEMM_BIAS=0 materializes the bias in C first.
OptInSwitch& bias_switch() {
  static OptInSwitch s("WICK_CUDA_GEMM_BIAS", /*default_on=*/true);
  return s;
}
}  // namespace

void set_gemm_simt_wide(bool on) { simt_wide_switch().set(on); }
void set_gemm_simt_async(bool on) { simt_async_switch().set(on); }
void set_gemm_simt_rows64(bool on) { simt_rows64_switch().set(on); }
bool gemm_simt_rows64() { return simt_rows64_switch().on(); }
int64_t gemm_simt_rows64_products() { return simt_rows64_count.load(); }
void set_gemm_simt_transpose_k(bool on) { simt_transpose_switch().set(on); }
bool gemm_simt_transpose_k() { return simt_transpose_switch().on(); }
int64_t gemm_simt_transposed_operands() { return simt_transposed_count.load(); }
void set_gemm_simt_stream_k(bool on) { simt_stream_k_switch().set(on); }
bool gemm_simt_stream_k() { return simt_stream_k_switch().on(); }
void set_gemm_simt_stream_k_ctas(int ctas) { simt_stream_k_forced_ctas.store(std::max(ctas, 0)); }
int64_t gemm_simt_stream_k_products() { return simt_stream_k_count.load(); }
void set_gemm_simt_kvec(bool on) { simt_kvec_switch().set(on); }
bool gemm_simt_kvec() { return simt_kvec_switch().on(); }
int64_t gemm_simt_kvec_products() { return simt_kvec_count.load(); }
bool gemm_simt_async() { return simt_async_switch().on(); }
void set_gemm_simt_async_splits(int splits) { simt_async_forced_splits.store(std::max(splits, 0)); }
int64_t gemm_simt_async_products() { return simt_async_count.load(); }
int64_t gemm_simt_async_split_products() { return simt_async_split_count.load(); }
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

// The vendors under wick's GEMM contract (float32 sums, one rounding to C's
// dtype). With a 16-bit C that beta reads (an accumulation, or a bias made
// C's contents), cuBLAS and cuBLASLt round alpha A B to C's dtype before
// adding beta C: two roundings, seen on an H200 (2026-11-28; fp16 -32.5 for
// -32.4805, bf16 0.0625 for 0.0664 where the two terms nearly cancel). There
// C goes to the library as float32 and comes back rounded once.
static void vendor_gemm_rounded_once(const GemmArgs& g, GemmBackend backend) {
  auto call = [&](const GemmArgs& a) {
    backend == GemmBackend::Cublas ? vendor::cublas_gemm(a) : vendor::cublaslt_gemm(a);
  };
  const bool half_c = g.c_dtype == kFloat16 || g.c_dtype == kBFloat16;
  if (!half_c || g.beta == 0) return call(g);
  int dev = 0;
  WICK_CUDA_CHECK(cudaGetDevice(&dev));
  const int64_t mn = g.M * g.N, total = g.batch * mn;
  const Tensor staged = empty({total}, TensorOptions(kFloat32).device(Device(DeviceType::CUDA, dev)));
  float* t = static_cast<float*>(staged.data_ptr_raw());
  const unsigned grid = grid_for(total, 256);
  auto convert = [&]<typename H>() {
    H* c = static_cast<H*>(g.C);
    convert_c_kernel<float, H><<<grid, 256, 0, current_stream()>>>(t, g.N, mn, c, g.ldc, g.stride_c, g.M, g.N, g.batch);
    WICK_CUDA_CHECK_LAUNCH();
    GemmArgs f = g;
    f.C = t, f.c_dtype = kFloat32, f.ldc = g.N, f.stride_c = mn;
    call(f);
    convert_c_kernel<H, float><<<grid, 256, 0, current_stream()>>>(c, g.ldc, g.stride_c, t, g.N, mn, g.M, g.N, g.batch);
    WICK_CUDA_CHECK_LAUNCH();
  };
  if (g.c_dtype == kFloat16) convert.operator()<__half>();
  else convert.operator()<__nv_bfloat16>();
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
  if ((backend == GemmBackend::Cublas || backend == GemmBackend::CublasLt) && g.K > 0) {
    vendor_gemm_rounded_once(g, backend);
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
