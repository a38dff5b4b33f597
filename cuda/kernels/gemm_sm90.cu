// Hopper (sm_90a) GEMM for float16/bfloat16 inputs with float32 accumulation,
// on the warpgroup tensor-core instruction wgmma.mma_async: the kernel behind
// GemmBackend::Wgmma (cuda/kernels/gemm.h). Same contract as gemm_tc_kernel
// in gemm.cu; C = alpha * A B + beta * C, 2 M N K FLOPs.
//
// Why a second tensor-core kernel: Hopper runs the Ampere-style mma.sync at
// only part of its dense peak; the full rate needs wgmma, which multiplies a
// 64 x N x 16 block per warpgroup (4 warps) with both operands read straight
// from shared memory through 64-bit "matrix descriptors", asynchronously.
//
// Design (one CTA = 2 warpgroups = 256 threads, tile 128 x 256 x 64):
//  - Operands must be K-major in shared memory (A as [m][k], B as [n][k]),
//    each row of a 64-wide k tile being 128 bytes, in the 128-byte swizzle
//    wgmma's descriptors describe: 16-byte chunk c of row r is stored at chunk
//    c ^ (r & 7), the 8-row atoms 1024 bytes apart (descriptor: stride byte
//    offset 1024, swizzle mode 128B, every atom 1024-byte aligned). The k16
//    step s of a tile starts 32 s bytes into it: the hardware applies the
//    swizzle to the full address, so advancing the start address selects the
//    next 16 k.
//  - A global operand that is not K-major (A transposed, B not transposed,
//    as in the backward of a linear layer) or not 16-byte aligned is first
//    copied into a K-major, aligned temporary by copy_kmajor (a transpose
//    through shared memory): one extra read and write of the operand (9% of
//    a GPT-2 step's GPU time on an H100). The TMA kernel below can instead
//    read an aligned MN-major operand as it is (set_wgmma_mn_major).
//  - Loads: cp.async 16-byte copies by all 256 threads into a 4-stage ring
//    (48 KiB per stage, 193 KiB in all, one CTA per SM); chunks past M, N or K
//    are zero-filled by cp.async's src-size, so any M, N, K works. After a
//    stage lands, fence.proxy.async makes the generic-proxy writes visible to
//    wgmma's async-proxy reads, then the CTA barrier.
//  - Each warpgroup issues 4 wgmma m64n256k16 per k tile on its 64 rows of
//    A and all 256 rows of B (128 float accumulators per thread), commits
//    them as one group and waits until at most one group is in flight, so
//    tile kt's products overlap tile kt+1's issue; the prefetch of tile
//    kt + 2 then overwrites the stage of tile kt - 2, which both warpgroups
//    finished before the barrier that precedes it.
//  - Epilogue: accumulator 4 j + 2 h + e of thread (warp w, lane l) of
//    warpgroup g is C[64 g + 16 w + l / 4 + 8 h][8 j + 2 (l % 4) + e].
// Compiled only in the sm_90a pass (__CUDA_ARCH_FEAT_SM90_ALL; the build's
// architectures include 90a-real); the host launches it only on compute
// capability 9.0 devices, whose sm_90a cubin it is.
//
// Two kernels share the tile, the swizzle and the wgmma loop:
//  - gemm_wgmma_kernel (above): every thread loads with cp.async and
//    multiplies; one CTA barrier per k tile. On an H100 (2026-11-27) it passed
//    the GEMM, amp, attention and model tests and ran bf16 4096^3 at 348
//    TFLOP/s (0.45x cuBLAS, 2x the mma.sync kernel of gemm.cu).
//  - gemm_tma_kernel (below, the default): a producer warpgroup feeds the
//    stages with the bulk tensor copy engine (TMA) on mbarriers, two consumer
//    warpgroups multiply; no CTA barrier in the main loop.
//    WICK_CUDA_WGMMA=cpasync selects the first kernel instead. Measured on an
//    H100 (2026-11-27): bf16 4096^3 490 TFLOP/s (0.64x cuBLAS), GPT-2 shapes
//    297-489 (0.52-0.69x), the TN weight gradient 165 (0.25x: both operands
//    copied K-major first). Reading MN-major operands in place
//    (set_wgmma_mn_major, gemm_sm90.h, on by default): 685 TFLOP/s at 4096^3 and
//    349 (0.54x) on the TN shape on an H200.
//  Stream-K (set_wgmma_stream_k; on by default, WICK_CUDA_GEMM_STREAMK=0 to turn off): a
//  product of batch 1 with fewer tiles than SMs (the weight gradients: 18-72
//  tiles of K = 8192 for GPT-2 small) runs the TMA kernel on up to one CTA
//  per SM, each over an equal run of k tiles that crosses tile boundaries
//  (cuda/kernels/gemm_sm90_plan.h); partial tiles go to a float32 workspace
//  and stream_k_fixup_kernel sums them in CTA order. Its tests passed on an
//  H100 (2026-11-27) but it was slower than the 192-wide tiles on 2 of its 3
//  shapes, by a roughly constant ~50-60 us: the fixup's load latency chain
//  (see that kernel). With the fixup rewritten, on an H200 (2026-11-28) it
//  doubled 768x768x8192 (0.62x cuBLAS against 0.31x) and lost only where one
//  wave of 192-wide tiles does 3/4 of the k steps per CTA, which the plan now
//  weighs (plan_stream_k_for); on by default since.
//  The TMA store epilogue (set_wgmma_tma_store; on by default since its tests
//  passed on an H200, 2026-11-28; WICK_CUDA_GEMM_TMA_STORE=0): see gemm_tma_kernel.
//  64-row tiles (set_wgmma_rows64; on by default since its tests passed on an
//  H200, 2026-11-28; WICK_CUDA_GEMM_ROWS64=0): for M <= 64 the TMA kernel runs with one consumer
//  warpgroup (kWG = 1), 64 x 256 tiles, 5 stages, instead of multiplying as
//  many zero rows as real ones. (Its PTX check against the commit before
//  compared only up to the first inline asm block, a ptx_same.py bug fixed
//  since; the kernels passed on an H200.)
//  Stream-K's fused fixup (set_wgmma_stream_k_fused; opt-in, written without a
//  GPU, 2026-11-28): the stream-K kernel launched cooperatively; after its CTAs
//  have stored their partials they meet at a grid barrier (cooperative groups')
//  and each sums an even share of the split tiles' elements
//  (stream_k_fused_fixup) while the partials are in L2, in place of the fixup
//  kernel's second launch and its reads from DRAM: the same sums in the same
//  order, the same bits.
//  Cluster split-K (set_wgmma_cluster_k; opt-in, written without a GPU,
//  2026-11-28): where stream-K would run, each tile's k steps split evenly
//  over the CTAs of one thread-block cluster (launched with
//  cudaLaunchKernelEx's cluster dimension; plan_cluster_k picks the size from
//  cudaOccupancyMaxActiveClusters so that one wave covers the tiles), whose
//  partials meet in distributed shared memory (cluster_k_epilogue): no float32
//  workspace in global memory and no fixup kernel.
//  128 x 192 tiles (set_wgmma_narrow_tiles; on by default since its tests
//  passed on an H100, WICK_CUDA_WGMMA_N192=0 to turn off): the TMA kernel templated on its tile width, for
//  grids whose 256-wide tiles leave much of the last wave idle (GPT-2's
//  768- and 2304-column products at 8192 tokens; choose_tile_n). (Its
//  256-wide instantiations' PTX was checked before ptx_same.py's fix; they
//  passed on an H100.)
//  Persistent tiles (set_wgmma_persistent; on by default since its tests
//  passed on an H100, WICK_CUDA_GEMM_PERSISTENT=0 to turn off): min(tiles, SMs) CTAs, each walking tiles
//  c, c + ctas, ... (PersistentTiles in gemm_sm90_plan.h): the producer runs
//  on into the next tile's k steps while the consumers store the current one,
//  so only a CTA's first tile waits for the pipeline to fill.
#include "cuda/kernels/gemm_sm90.h"

#include <cooperative_groups.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <type_traits>
#include <utility>

#include "cuda/kernels/cp_async.cuh"
#include "cuda/kernels/device_types.cuh"
#include "cuda/kernels/gemm_sm90_plan.h"
#include "cuda/kernels/tma.cuh"
#include "cuda/kernels/wgmma.cuh"
#include "cuda/runtime.h"
#include "ops/creation.h"

namespace wick::cuda {

namespace {

constexpr int kBM = 128, kBN = 256, kBK = 64, kStages = 4, kThreads = 256;
constexpr int kTileABytes = kBM * kBK * 2;  // 16 KiB
constexpr int kTileBBytes = kBN * kBK * 2;  // 32 KiB
constexpr int kStageBytes = kTileABytes + kTileBBytes;
constexpr int kSmemBytes = kStages * kStageBytes + 1024;  // + slack to align the ring to 1024 bytes

struct Sm90Params {
  const uint16_t* A;  // [batch][M][lda], K-major
  const uint16_t* B;  // [batch][N][ldb], K-major
  void* C;
  int64_t M, N, K, batch;
  int64_t lda, ldb, ldc, stride_a, stride_b, stride_c;
  float alpha, beta;
};

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_f32(__nv_bfloat16 x) { return __bfloat162float(x); }
template <typename T>
__device__ __forceinline__ T from_f32(float x) {
  if constexpr (std::is_same_v<T, float>)
    return x;
  else if constexpr (std::is_same_v<T, __half>)
    return __float2half_rn(x);
  else
    return __float2bfloat16_rn(x);
}

using sm90::bulk_commit;
using sm90::bulk_wait_all;
using sm90::bulk_wait_read;
using sm90::fence_operands;
using sm90::fence_proxy_async;
using sm90::mbar_arrive;
using sm90::mbar_arrive_expect_tx;
using sm90::mbar_init;
using sm90::mbar_init_fence;
using sm90::mbar_wait;
using sm90::mbar_wait_or_trap;
using sm90::smem_desc;
using sm90::smem_desc_mn;
using sm90::tma_load_3d;
using sm90::wgmma_commit;
using sm90::wgmma_fence;
using sm90::wgmma_wait;

// The accumulator operands of wgmma: the first 96 (n192: 96 floats per
// thread) and all 128 (n256).
#define WICK_WGMMA_D_REGS_96 \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
  "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
  "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, " \
  "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, " \
  "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95"
#define WICK_WGMMA_D_OPERANDS_96 \
  "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
  "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), \
  "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
  "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), \
  "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), \
  "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), \
  "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), \
  "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), \
  "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), \
  "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), \
  "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), \
  "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95])
#define WICK_WGMMA_D_REGS WICK_WGMMA_D_REGS_96 ", " \
  "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, " \
  "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
#define WICK_WGMMA_D_OPERANDS WICK_WGMMA_D_OPERANDS_96, \
  "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), \
  "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), \
  "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), \
  "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
// One wgmma m64n256k16 with float32 accumulators d (128 per thread), A and
// B from shared memory through their descriptors; scale-d = 1 (d += A B),
// no operand negation; kTA / kTB = 1 reads A / B MN-major (transposed).
#define WICK_WGMMA_M64N256K16(TYPE)                                                                   \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"                                        \
               "wgmma.mma_async.sync.aligned.m64n256k16.f32." TYPE "." TYPE " {" WICK_WGMMA_D_REGS  \
               "}, %128, %129, p, 1, 1, %131, %132;\n}\n"                                          \
               : WICK_WGMMA_D_OPERANDS                                                              \
               : "l"(da), "l"(db), "r"(1), "n"(kTA), "n"(kTB))

template <bool kBf16, int kTA = 0, int kTB = 0>
__device__ __forceinline__ void wgmma_m64n256k16(float (&d)[128], uint64_t da, uint64_t db) {
  if constexpr (kBf16)
    WICK_WGMMA_M64N256K16("bf16");
  else
    WICK_WGMMA_M64N256K16("f16");
}

// The same for a 192-wide B tile: 96 accumulators per thread.
#define WICK_WGMMA_M64N192K16(TYPE)                                                                   \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %98, 0;\n"                                         \
               "wgmma.mma_async.sync.aligned.m64n192k16.f32." TYPE "." TYPE " {" WICK_WGMMA_D_REGS_96 \
               "}, %96, %97, p, 1, 1, %99, %100;\n}\n"                                            \
               : WICK_WGMMA_D_OPERANDS_96                                                           \
               : "l"(da), "l"(db), "r"(1), "n"(kTA), "n"(kTB))

template <bool kBf16, int kTA = 0, int kTB = 0>
__device__ __forceinline__ void wgmma_m64n192k16(float (&d)[96], uint64_t da, uint64_t db) {
  if constexpr (kBf16)
    WICK_WGMMA_M64N192K16("bf16");
  else
    WICK_WGMMA_M64N192K16("f16");
}

// One wgmma m64 x BN x k16 (BN = 256 or 192) on accumulators d[BN / 2].
template <bool kBf16, int kTA, int kTB, int BN>
__device__ __forceinline__ void wgmma_tile(float (&d)[BN / 2], uint64_t da, uint64_t db) {
  if constexpr (BN == 256)
    wgmma_m64n256k16<kBf16, kTA, kTB>(d, da, db);
  else
    wgmma_m64n192k16<kBf16, kTA, kTB>(d, da, db);
}

// Rows [r0, r0 + rows) x k [k0, k0 + 64) of a K-major matrix (extent R x K,
// row stride ld) into the swizzled tile at smem address `tile`.
template <int kRows>
__device__ __forceinline__ void load_tile(uint32_t tile, const uint16_t* X, int64_t ld, int64_t r0, int64_t R,
                                          int64_t k0, int64_t K, int tid) {
#pragma unroll
  for (int i = 0; i < kRows * 8 / kThreads; ++i) {
    const int q = tid + i * kThreads;
    const int r = q >> 3, c = q & 7;
    const int64_t gr = r0 + r, gk = k0 + c * 8;
    int bytes = 0;
    if (gr < R && gk < K) bytes = static_cast<int>(K - gk < 8 ? K - gk : 8) * 2;
    const uint16_t* src = bytes > 0 ? X + gr * ld + gk : X;
    cp_async16(tile + r * 128 + ((c ^ (r & 7)) << 4), src, bytes);
  }
}

// f(std::integral_constant<int, I>{}) for I = 0 .. N - 1, unrolled by the
// language rather than the optimizer (indices into register arrays stay constant).
template <int N, typename F>
__device__ __forceinline__ void static_for(F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) {
    (f(std::integral_constant<int, I>{}), ...);
  }(std::make_integer_sequence<int, N>{});
}

// (mbarriers and the bulk tensor copy, for gemm_tma_kernel: cuda/kernels/tma.cuh)
template <int kRegs>
__device__ __forceinline__ void regs_dealloc() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kRegs));
}
template <int kRegs>
__device__ __forceinline__ void regs_alloc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kRegs));
}
// ---- the epilogue through shared memory and a TMA store (kStoreC) ----------
// Box (c0 = n, c1 = m, c2 = batch) of C's tensor map from shared memory at
// `src`, as one bulk async-group of the calling thread's.
__device__ __forceinline__ void tma_store_3d(const CUtensorMap* map, uint32_t src, int c0, int c1, int c2) {
  asm volatile("cp.async.bulk.tensor.3d.global.shared::cta.bulk_group [%0, {%2, %3, %4}], [%1];\n" ::"l"(
                   reinterpret_cast<uint64_t>(map)),
               "r"(src), "r"(c0), "r"(c1), "r"(c2)
               : "memory");
}
// Barrier `id` (1..15; 0 is __syncthreads') among `threads` threads.
__device__ __forceinline__ void named_barrier(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}
__device__ __forceinline__ void st_shared_b32(uint32_t addr, uint32_t v) {
  asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(addr), "r"(v) : "memory");
}

#endif  // __CUDA_ARCH_FEAT_SM90_ALL

template <typename TIn, typename TOut>
__global__ void __launch_bounds__(kThreads, 1) gemm_wgmma_kernel(Sm90Params p) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr bool kBf16 = std::is_same_v<TIn, __nv_bfloat16>;
  extern __shared__ uint8_t smem_raw[];
  const uint32_t smem_base = static_cast<uint32_t>(__cvta_generic_to_shared(smem_raw));
  const uint32_t ring = (smem_base + 1023u) & ~1023u;  // every tile 1024-byte aligned
  auto tile_a = [&](int stage) { return ring + stage * kStageBytes; };
  auto tile_b = [&](int stage) { return ring + stage * kStageBytes + kTileABytes; };

  const int tid = threadIdx.x, wg = tid >> 7, lane = tid & 31, warp = (tid >> 5) & 3;
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kBM, n0 = static_cast<int64_t>(blockIdx.x) * kBN;
  const int nk = static_cast<int>((p.K + kBK - 1) / kBK);

  for (int64_t bi = blockIdx.z; bi < p.batch; bi += gridDim.z) {
    const uint16_t* A = p.A + bi * p.stride_a;
    const uint16_t* B = p.B + bi * p.stride_b;
    auto load_stage = [&](int stage, int kt) {
      const int64_t k0 = static_cast<int64_t>(kt) * kBK;
      load_tile<kBM>(tile_a(stage), A, p.lda, m0, p.M, k0, p.K, tid);
      load_tile<kBN>(tile_b(stage), B, p.ldb, n0, p.N, k0, p.K, tid);
    };

    float d[kBN / 2];
#pragma unroll
    for (int i = 0; i < kBN / 2; ++i) d[i] = 0.f;

    // Prologue: tiles 0 .. S-3, one commit group each (empty past the end).
#pragma unroll
    for (int s = 0; s < kStages - 2; ++s) {
      if (s < nk) load_stage(s, s);
      cp_async_commit();
    }
    for (int kt = 0; kt < nk; ++kt) {
      // Committed so far: S-2+kt groups; at most S-3 pending means tile kt landed.
      cp_async_wait<kStages - 3>();
      fence_proxy_async();
      __syncthreads();
      const int pf = kt + kStages - 2;
      if (pf < nk) load_stage(pf % kStages, pf);
      cp_async_commit();

      const int st = kt % kStages;
      const uint32_t a = tile_a(st) + wg * 64 * 128, b = tile_b(st);
      wgmma_fence();
      fence_operands(d);
#pragma unroll
      for (int s = 0; s < kBK / 16; ++s) wgmma_m64n256k16<kBf16>(d, smem_desc(a + 32 * s), smem_desc(b + 32 * s));
      wgmma_commit();
      fence_operands(d);
      wgmma_wait<1>();
    }
    wgmma_wait<0>();
    fence_operands(d);
    cp_async_wait<0>();
    __syncthreads();  // the next batch's prologue overwrites stages the other warpgroup may still read

    TOut* C = static_cast<TOut*>(p.C) + bi * p.stride_c;
    const int64_t row0 = m0 + wg * 64 + warp * 16 + (lane >> 2);
#pragma unroll
    for (int j = 0; j < kBN / 8; ++j) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int64_t m = row0 + 8 * h;
        if (m >= p.M) continue;
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int64_t n = n0 + 8 * j + 2 * (lane & 3) + e;
          if (n >= p.N) continue;
          TOut* c = C + m * p.ldc + n;
          float r = p.alpha * d[4 * j + 2 * h + e];
          if (p.beta != 0.f) r = fmaf(p.beta, to_f32(*c), r);
          *c = from_f32<TOut>(r);
        }
      }
    }
  }
#else
  __trap();  // only the sm_90a pass has wgmma; the host launches this on compute capability 9.0 only
#endif
}

// ---- thread-block clusters: cluster split-K's exchange (kClusterK) -----------
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
__device__ __forceinline__ uint32_t cluster_ctarank() {
  uint32_t r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
  return r;
}
// Every thread of the cluster arrives (its shared-memory writes released to the cluster), then waits for all
// (acquiring theirs). Warp-converged (.aligned).
__device__ __forceinline__ void cluster_sync() {
  asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;\n" ::: "memory");
}
// The same without ordering memory: only that every thread has got this far (whose loads before it have
// returned their values), without the release's wait for its global stores.
__device__ __forceinline__ void cluster_sync_relaxed() {
  asm volatile("barrier.cluster.arrive.relaxed.aligned;\nbarrier.cluster.wait.aligned;\n" ::: "memory");
}
// The address of this CTA's shared-memory address `addr` in the shared memory of cluster CTA `rank`.
__device__ __forceinline__ uint32_t dsmem_addr(uint32_t addr, uint32_t rank) {
  uint32_t r;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(r) : "r"(addr), "r"(rank));
  return r;
}
__device__ __forceinline__ float ld_dsmem(uint32_t addr) {
  float v;
  asm volatile("ld.shared::cluster.f32 %0, [%1];\n" : "=f"(v) : "r"(addr) : "memory");
  return v;
}
// L2 cache policies for the stream-K partials (TmaParams::sk_l2): kept in L2 by the GEMM kernel's stores
// (evict_last), let go first by the fixup's loads (evict_first), then discarded without a write-back.
__device__ __forceinline__ uint64_t l2_policy_evict_last() {
  uint64_t pol;
  asm volatile("createpolicy.fractional.L2::evict_last.b64 %0, 1.0;\n" : "=l"(pol));
  return pol;
}
__device__ __forceinline__ uint64_t l2_policy_evict_first() {
  uint64_t pol;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(pol));
  return pol;
}
__device__ __forceinline__ void st_global_l2_hint(float* p, float v, uint64_t pol) {
  asm volatile("st.global.L2::cache_hint.f32 [%0], %1, %2;\n" ::"l"(p), "f"(v), "l"(pol) : "memory");
}
__device__ __forceinline__ float ld_global_cg_l2_hint(const float* p, uint64_t pol) {
  float v;
  asm volatile("ld.global.cg.L2::cache_hint.f32 %0, [%1], %2;\n" : "=f"(v) : "l"(p), "l"(pol) : "memory");
  return v;
}
// The 128-byte L2 line at p (128-byte aligned) invalidated without a write-back to memory: what it held is
// undefined after. `after` is a value this thread's warp-wide load of that line returned: the discard
// depends on it, so it waits for the load (and with it the whole warp's, one instruction) to complete. (A
// plain discard after the load is issued at once, its wait mask empty: a write racing the line's reads.
// The predicate skips the discard only for the bits 0xffffffff, a NaN, which costs a hint, not a result.)
__device__ __forceinline__ void discard_l2_line(const void* p, float after) {
  asm volatile("{\n.reg .pred d;\nsetp.ne.b32 d, %1, -1;\n@d discard.global.L2 [%0], 128;\n}\n" ::"l"(p),
               "r"(__float_as_uint(after))
               : "memory");
}
#endif  // __CUDA_ARCH_FEAT_SM90_ALL

// ---- the warp-specialized kernel: TMA loads, mbarrier pipeline ----------------
// One CTA = 3 warpgroups (384 threads), tile 128 x 256 x 64, kStages stages of
// 48 KiB. Warpgroup 0 is the producer: one thread waits for a free stage
// (empty[s]), tells full[s] to expect 48 KiB, and issues two bulk tensor copies
// (A's 128 x 64 box, B's 256 x 64 box) that the copy engine writes in the
// 128-byte swizzle the wgmma descriptors read, zero-filling past M, N, K (so
// the kernel needs no bounds checks in its main loop). Warpgroups 1 and 2 are
// consumers, each of 64 rows of the tile: wait for full[s], issue 4 wgmma
// m64n256k16, keep one group in flight (wgmma.wait_group 1) and then release
// the stage of the previous k tile to the producer (one arrival per consumer
// warpgroup; empty[s] counts 2). An MN-major operand (m or n contiguous in
// global memory) arrives as 64 x 64 boxes, each 64 consecutive m (n) of one k
// per 128-byte row, and wgmma reads it transposed (smem_desc_mn: the k16 step
// is 16 rows further, the next 64 m or n one box further).
// No CTA-wide barrier in the main loop: the
// loads of tile kt + kStages - 1 overlap the products of tile kt. The
// producer gives up registers (setmaxnreg 40) so that each consumer thread can
// keep its 128 float accumulators and addresses in 232.
// Phases: stage s is used for the r-th time (r = 0, 1, ...) by k tile
// r * kStages + s; the producer waits for phase r of empty[s] to complete
// (parity r & 1; phase 0 completes on the consumers' initial arrivals) and
// the consumers for phase r of full[s] (completed by the copy engine).
// The kernel is templated on the tile width BN (gemm_sm90_plan.h,
// choose_tile_n): 256 as described, or 192 (wgmma m64n192k16, 96
// accumulators per thread, 40 KiB stages, five of them).
// kWG: consumer warpgroups, each of 64 rows of the tile: 2 (tiles of 128
// rows, as described) or 1 (64 rows, for products with M <= 64, whose
// 128-row tiles would multiply as many zero rows as real ones: ResNet's
// 64-channel convolutions, small batches of tokens; set_wgmma_rows64).
constexpr int kTmaConsumers = 2, kTmaThreads = 128 * (kTmaConsumers + 1);
static_assert(kBM == 64 * kTmaConsumers, "one consumer warpgroup per 64 rows of the tile");
// kStoreC: the epilogue stages C through shared memory and stores it with the
// TMA (gemm_tma_kernel's comment): two 8 KiB buffers (64 x 64 16-bit values)
// per consumer warpgroup after the stages, which leaves room for 4 stages at
// either width (5 with one consumer warpgroup).
template <int BN, bool kStoreC = false, int kWG = kTmaConsumers>
struct TmaTile {
  static_assert(BN == 256 || BN == 192, "the TMA kernel's tiles are 128 x 256 or 128 x 192");
  static_assert(kWG == 1 || kWG == 2, "one or two consumer warpgroups");
  static constexpr int kBMw = 64 * kWG;                                 // rows of the tile
  static constexpr int kTileA = kBMw * kBK * 2;                         // 16 or 8 KiB
  static constexpr int kStageBytes = kTileA + BN * kBK * 2;             // 48 or 40 KiB (two warpgroups)
  static constexpr int kStages = kWG == 1 ? 5 : BN == 256 || kStoreC ? 4 : 5;
  static constexpr int kEpiBufBytes = 64 * 64 * 2;
  static constexpr int kEpiBytes = kStoreC ? kWG * 2 * kEpiBufBytes : 0;
  static constexpr int kSmemBytes = kStages * kStageBytes + kEpiBytes + 2 * kStages * 8 + 1024;
  static constexpr int kThreads = 128 * (kWG + 1);
};
// One tile's accumulators (BN / 2 per consumer thread): a stream-K partial.
template <int BN>
constexpr int64_t kPartialFloats = int64_t{kBM} * BN;
static_assert(TmaTile<256>::kSmemBytes <= 227 * 1024 && TmaTile<192>::kSmemBytes <= 227 * 1024 &&
                  TmaTile<256, true>::kSmemBytes <= 227 * 1024 && TmaTile<192, true>::kSmemBytes <= 227 * 1024 &&
                  TmaTile<256, false, 1>::kSmemBytes <= 227 * 1024 && TmaTile<256, true, 1>::kSmemBytes <= 227 * 1024,
              "the stages fit the 227 KiB of shared memory a Hopper CTA may use");
static_assert(TmaTile<256>::kTileA == kTileABytes && TmaTile<256>::kThreads == kTmaThreads, "the default tile");

struct TmaParams {
  void* C;
  int64_t M, N, K, batch;
  int64_t ldc, stride_c;
  float alpha, beta;
  int a_batched, b_batched;  // 0: the operand is shared by every batch (tensor-map batch coordinate 0)
  int vec_store;             // C, ldc and stride_c allow two-element stores
  const void* bias;          // GemmArgs::bias (TOut [N]) or null
  // Stream-K (batch 1 only; gemm_sm90_plan.h): sk.ctas CTAs share sk.tiles x sk.k_iters iterations; CTA c stores
  // the float32 accumulators of a partial segment to sk_ws + (2 c + slot) * kPartialFloats<BN>,
  // accumulator i of consumer thread u (0..255) at i * 256 + u; stream_k_fixup_kernel finishes those tiles.
  // sk.ctas == 0: one tile per CTA (blockIdx.x along N, .y along M, .z over the batches).
  StreamKPlan sk;
  int64_t tiles_n;  // tiles along N (stream-K's tile t is at row t / tiles_n, column t % tiles_n)
  float* sk_ws;
  int sk_l2;  // 1: the partials stored with an L2 evict_last policy (set_wgmma_stream_k_l2; the fixup's kL2)
  // 1: the GEMM kernel finishes the split tiles itself after a grid barrier (set_wgmma_stream_k_fused; launched
  // cooperatively, no stream_k_fixup_kernel).
  int sk_fused;
  // Persistent tiles (sk.ctas == 0 only; gemm_sm90_plan.h): pt.batch > 0 when on, CTA blockIdx.x then
  // takes tiles blockIdx.x + i gridDim.x of pt.total().
  PersistentTiles pt;
  // Cluster split-K (gemm_tma_kernel's kClusterK; gemm_sm90_plan.h): clusters of ck_splits CTAs, CTA
  // blockIdx.x = tile * ck_splits + rank taking k steps [rank nk / s, (rank + 1) nk / s) of tile
  // blockIdx.x / ck_splits (row t / tiles_n, column t % tiles_n).
  int ck_splits;
};

// One unit of a CTA's work: k tiles [k0, k1) of the output tile at (m0, n0) of batch bi; `full` when that is
// all of K (the epilogue then stores C), else a stream-K partial for workspace slot `slot`.
struct TmaWork {
  int m0, n0, k0, k1;
  int64_t bi;
  bool full;
  int slot;
};
// A CTA's units in order; the producer and the consumers each walk their own copy, in step.
// Tiles of BM rows; stream-K only with 128-row tiles (the host plans none for 64).
template <int BN, int BM = kBM, bool kClusterK = false>
struct TmaWorkIter {
  static constexpr bool kStreamK = BM == kBM && !kClusterK;
  StreamKCursor sk;
  int64_t bi = 0;  // one tile per CTA: the batch; persistent: the tile; kClusterK: units taken
  __device__ explicit TmaWorkIter(const TmaParams& p) : bi(kClusterK ? 0 : p.pt.batch > 0 ? blockIdx.x : blockIdx.z) {
    if (kStreamK && p.sk.ctas) sk = StreamKCursor(p.sk, blockIdx.x);
  }
  __device__ bool next(const TmaParams& p, int nk, TmaWork& w) {
    if constexpr (kClusterK) {  // one unit: this CTA's share of its cluster's tile
      if (bi != 0) return false;
      bi = 1;
      const int sz = p.ck_splits, r = static_cast<int>(blockIdx.x % sz);
      const int64_t tile = blockIdx.x / sz, tm = tile / p.tiles_n, tn = tile - tm * p.tiles_n;
      w = {static_cast<int>(tm * BM), static_cast<int>(tn * BN), r * nk / sz, (r + 1) * nk / sz, 0, false, 0};
      return true;
    }
    if (p.pt.batch > 0) {
      if (bi >= p.pt.total()) return false;
      int b, tm, tn;
      p.pt.decode(static_cast<int>(bi), b, tm, tn);
      w = {tm * BM, tn * BN, 0, nk, b, true, 0};
      bi += gridDim.x;
      return true;
    }
    if (!kStreamK || p.sk.ctas == 0) {
      if (bi >= p.batch) return false;
      w = {static_cast<int>(blockIdx.y) * BM, static_cast<int>(blockIdx.x) * BN, 0, nk, bi, true, 0};
      bi += gridDim.z;
      return true;
    }
    StreamKSegment s;
    if (!sk.next(p.sk, s)) return false;
    const int64_t tm = s.tile / p.tiles_n, tn = s.tile - tm * p.tiles_n;
    w = {static_cast<int>(tm * kBM), static_cast<int>(tn * BN), static_cast<int>(s.k0), static_cast<int>(s.k1), 0,
         s.full(p.sk.k_iters), s.slot};
    return true;
  }
};

// kMnA / kMnB: the operand is MN-major in global memory (A stored transposed,
// B not), loaded as 64 x 64 boxes (64 m or n by 64 k; 2 for A, BN / 64 for B)
// and read by wgmma transposed; else K-major, one box per operand.
//
// kStoreC (16-bit C only; set_wgmma_tma_store): the epilogue of a
// full tile goes through shared memory and the TMA instead of each thread's
// 4-byte stores to global memory. Each consumer warpgroup writes its 64 rows
// as BN / 64 boxes of 64 x 64 values, alternating between its two 8 KiB
// buffers in the 128-byte swizzle (16-byte chunk c of row r at chunk
// c ^ (r & 7): the 8 rows of one warp store land in 32 distinct banks), and
// one thread stores each box with cp.async.bulk.tensor, which the copy engine
// finishes while the warpgroup goes on to its next box and, with persistent
// tiles, to the next tile's products. Before a buffer is written again its
// previous store must have read it (cp.async.bulk.wait_group.read 1: the
// other buffer's store may still be in flight); after writing it, every
// thread's fence.proxy.async makes its st.shared visible to the copy
// engine, and a barrier of the warpgroup (named barrier 1 + warpgroup)
// orders both before the issue. The TMA clips the boxes at M and N. Same
// arithmetic and rounding as the direct epilogue, so the same bits. beta != 0
// without a bias (C read) keeps the direct epilogue (the host's choice).
//
// kWG = 1 (64-row tiles): one consumer warpgroup, 256 threads. The launch
// bounds stay the two-warpgroup kernel's 384 threads, so that ptxas keeps it
// at the same 168 registers per thread at launch and the setmaxnreg pair below
// still moves registers from the producer to the consumer (for 256 threads it
// could start at up to 255).
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// Cluster split-K's epilogue, run by the 256 consumer threads (u: 0..255)
// of every CTA of a cluster of s = p.ck_splits, each holding its k range's
// accumulators d of the cluster's tile (the producer warpgroup takes part in
// the two cluster barriers only):
//  1. both consumer warpgroups are past their last products, so the stages
//     are free: every stage the producer filled has been consumed and its
//     products waited for (named barrier 3; 1 and 2 are kStoreC's);
//  2. the CTA's partial into its stages: accumulator i of thread u at float
//     i * 256 + u (128 KiB for 256-wide tiles; conflict-free stores);
//  3. cluster barrier: every partial is written and visible to the cluster;
//  4. rank r adds pairs [r U / s, (r + 1) U / s) of the U = BN / 4 * 256
//     accumulator pairs (2 ip, 2 ip + 1 of thread uu: one row, columns n and
//     n + 1) over the cluster's s partials in rank order, through distributed
//     shared memory (so every run gives the same bits), and stores C = alpha
//     sum + beta (bias or C) as the stream-K fixup does, rounded once;
//  5. cluster barrier (relaxed: the reads have returned their values): no CTA
//     exits, its shared memory gone, while another still reads it.
template <typename TOut, int BN>
__device__ __forceinline__ void cluster_k_epilogue(const TmaParams& p, const float (&d)[BN / 2], uint32_t part,
                                                   const TmaWork& w, int u) {
  fence_proxy_async();  // (the stages' last accesses were the copy engine's and wgmma's, the async proxy)
  named_barrier(3, 256);
#pragma unroll
  for (int i = 0; i < BN / 2; ++i) st_shared_b32(part + 4u * (i * 256 + u), __float_as_uint(d[i]));
  cluster_sync();
  const int sz = p.ck_splits, r = static_cast<int>(cluster_ctarank());
  constexpr int kPairs = BN / 4 * 256;
  const int lo = r * kPairs / sz, hi = (r + 1) * kPairs / sz;
  TOut* C = static_cast<TOut*>(p.C);
  const TOut* bias = static_cast<const TOut*>(p.bias);
  for (int x = lo + u; x < hi; x += 256) {
    const int ip = x >> 8, uu = x & 255, i = 2 * ip;
    const uint32_t off = part + 4u * (i * 256 + uu);  // accumulator i; i + 1 is 256 floats on
    float s0 = 0.f, s1 = 0.f;
    for (int q = 0; q < sz; ++q) {
      const uint32_t a = dsmem_addr(off, static_cast<uint32_t>(q));
      s0 += ld_dsmem(a);
      s1 += ld_dsmem(a + 1024u);
    }
    // Accumulator 4 j + 2 h + e of consumer thread uu (warpgroup uu / 128, warp (uu / 32) % 4, lane uu % 32):
    // C[m0 + 64 cw + 16 warp + lane / 4 + 8 h][n0 + 8 j + 2 (lane % 4) + e].
    const int lane = uu & 31;
    const int64_t m = w.m0 + 64 * (uu >> 7) + 16 * ((uu >> 5) & 3) + (lane >> 2) + 8 * ((i >> 1) & 1);
    const int64_t n = w.n0 + 8 * (i >> 2) + 2 * (lane & 3);
    if (m >= p.M) continue;
    const float sums[2] = {s0, s1};
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      if (n + e >= p.N) break;
      TOut* c = C + m * p.ldc + n + e;
      float v = p.alpha * sums[e];
      if (bias != nullptr)
        v = fmaf(p.beta, to_f32(bias[n + e]), v);
      else if (p.beta != 0.f)
        v = fmaf(p.beta, to_f32(*c), v);
      *c = from_f32<TOut>(v);
    }
  }
  cluster_sync_relaxed();
}
#endif  // __CUDA_ARCH_FEAT_SM90_ALL

// ---- stream-K's fixup: the store, and the fused version (TmaParams::sk_fused) ----------------------
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// Accumulator i of consumer thread u of stream-K tile t, summed over its partials (`sum`), into C:
// alpha sum + beta (bias[n] or C), rounded once to TOut (the fixups' one store per element).
template <typename TOut, int BN>
__device__ __forceinline__ void stream_k_store(const TmaParams& p, int64_t t, int i, int u, float sum) {
  const int64_t tm = t / p.tiles_n, tn = t - tm * p.tiles_n;
  const WgmmaAccElem e = wgmma_acc_elem(i, u);
  const int64_t m = tm * kBM + e.row, n = tn * BN + e.col;
  if (m >= p.M || n >= p.N) return;
  TOut* c = static_cast<TOut*>(p.C) + m * p.ldc + n;
  float r = p.alpha * sum;
  if (p.bias != nullptr)
    r = fmaf(p.beta, to_f32(static_cast<const TOut*>(p.bias)[n]), r);
  else if (p.beta != 0.f)
    r = fmaf(p.beta, to_f32(*c), r);
  *c = from_f32<TOut>(r);
}

// The fused fixup (set_wgmma_stream_k_fused): after the grid barrier, every CTA of the stream-K grid
// finishes an equal share of the split tiles' elements instead of stream_k_fixup_kernel, a second launch
// (on an H200, 12 of the 40 us of GPT-2's 768 x 768 x 8192 weight gradient under Nsight Compute) that
// read the partials back from DRAM. A split tile's accumulators form BN / 2 lines (line i: accumulator i
// of the 256 consumer threads, 1 KiB of each partial); CTA c takes lines [fixup_begin(c), fixup_begin(c +
// 1)) of all the tiles (gemm_sm90_plan.h), in runs of at most kFusedLines lines of one tile, and its
// consumer thread u sums accumulator i of u over the tile's partials, kFusedGroup partials' loads in
// flight at a time (up to 64 per thread: the latency of L2, where the partials just written still are,
// times its bandwidth needs about 32 per thread). The sums start at 0 and add the partials in CTA order,
// as stream_k_fixup_kernel's do: the same bits.
constexpr int kFusedLines = 16, kFusedGroup = 4;
template <typename TOut, int BN>
__device__ __forceinline__ void stream_k_fused_fixup(const TmaParams& p, int u) {
  const StreamKPlan& sk = p.sk;
  constexpr int kLines = BN / 2;
  const int64_t end = sk.fixup_begin(blockIdx.x + 1, kLines);
  for (int64_t line = sk.fixup_begin(blockIdx.x, kLines); line < end;) {
    const int64_t t = line / kLines;
    const int i0 = static_cast<int>(line - t * kLines);
    int64_t left = end - line;
    if (left > kLines - i0) left = kLines - i0;
    const int n = left < kFusedLines ? static_cast<int>(left) : kFusedLines;
    line += n;
    const int64_t lo = sk.cta_of(t * sk.k_iters), hi = sk.cta_of((t + 1) * sk.k_iters - 1);
    if (lo == hi) continue;  // one CTA covered the tile and stored it
    float s[kFusedLines];
#pragma unroll
    for (int j = 0; j < kFusedLines; ++j) s[j] = 0.f;
    for (int64_t c0 = lo; c0 <= hi; c0 += kFusedGroup) {
      float v[kFusedGroup][kFusedLines];
#pragma unroll
      for (int q = 0; q < kFusedGroup; ++q) {
        const int64_t c = c0 + q <= hi ? c0 + q : hi;  // (past hi: loaded again, not added)
        const float* w = p.sk_ws + (2 * c + sk.slot(c, t)) * kPartialFloats<BN> + i0 * 256 + u;
#pragma unroll
        for (int j = 0; j < kFusedLines; ++j)
          if (j < n) v[q][j] = __ldcg(w + j * 256);  // written by other SMs before the grid barrier: from L2
      }
#pragma unroll
      for (int q = 0; q < kFusedGroup; ++q)
        if (c0 + q <= hi)
#pragma unroll
          for (int j = 0; j < kFusedLines; ++j)
            if (j < n) s[j] += v[q][j];
    }
#pragma unroll
    for (int j = 0; j < kFusedLines; ++j)
      if (j < n) stream_k_store<TOut, BN>(p, t, i0 + j, u, s[j]);
  }
}
#endif  // __CUDA_ARCH_FEAT_SM90_ALL

template <typename TIn, typename TOut, bool kMnA, bool kMnB, int BN, bool kStoreC, int kWG, bool kClusterK = false>
__global__ void __launch_bounds__(kTmaThreads, 1)
    gemm_tma_kernel(const __grid_constant__ CUtensorMap map_a, const __grid_constant__ CUtensorMap map_b,
                    const __grid_constant__ CUtensorMap map_c, TmaParams p) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  static_assert(!kStoreC || std::is_same_v<TIn, TOut>, "the TMA store epilogue writes 16-bit C");
  constexpr bool kBf16 = std::is_same_v<TIn, __nv_bfloat16>;
  using Tile = TmaTile<BN, kStoreC, kWG>;
  constexpr int kStageBytes = Tile::kStageBytes, kTmaStages = Tile::kStages, BM = Tile::kBMw;
  extern __shared__ uint8_t smem_raw[];
  const uint32_t smem_base = static_cast<uint32_t>(__cvta_generic_to_shared(smem_raw));
  const uint32_t ring = (smem_base + 1023u) & ~1023u;  // the 128-byte swizzle repeats every 1024 bytes
  auto tile_a = [&](int stage) { return ring + stage * kStageBytes; };
  auto tile_b = [&](int stage) { return ring + stage * kStageBytes + Tile::kTileA; };
  const uint32_t epi0 = ring + kTmaStages * kStageBytes;  // kStoreC's buffers (1024-aligned: whole stages before)
  const uint32_t full0 = epi0 + Tile::kEpiBytes, empty0 = full0 + kTmaStages * 8;

  // Stream-K's fixup fused into the kernel (p.sk_fused; the host launches it cooperatively): the kernels of
  // 128 x 256 tiles only, the only ones the host plans stream-K for.
  constexpr bool kFusedFixup = !kClusterK && TmaWorkIter<BN, BM>::kStreamK && BN == 256 && kWG == 2;
  const int wg = threadIdx.x >> 7, t = threadIdx.x & 127;
  const int nk = static_cast<int>((p.K + kBK - 1) / kBK);
  if (threadIdx.x == 0) {
    for (int s = 0; s < kTmaStages; ++s) {
      mbar_init(full0 + 8 * s, 1);
      mbar_init(empty0 + 8 * s, kWG);
    }
    mbar_init_fence();
  }
  __syncthreads();

  if (wg == 0) {  // producer
    regs_dealloc<40>();
    if (t == 0) {
      int stage = 0;
      uint32_t phase = 0;
      TmaWorkIter<BN, BM, kClusterK> work(p);
      TmaWork w;
      while (work.next(p, nk, w)) {
        const int za = p.a_batched ? static_cast<int>(w.bi) : 0, zb = p.b_batched ? static_cast<int>(w.bi) : 0;
        const int m0 = w.m0, n0 = w.n0;
        for (int kt = w.k0; kt < w.k1; ++kt) {
          if constexpr (kClusterK)  // (not yet run on a GPU: a protocol slip traps instead of hanging)
            mbar_wait_or_trap(empty0 + 8 * stage, phase);
          else
            mbar_wait(empty0 + 8 * stage, phase);
          mbar_arrive_expect_tx(full0 + 8 * stage, kStageBytes);
          const uint32_t bar = full0 + 8 * stage;
          if constexpr (kMnA) {
#pragma unroll
            for (int i = 0; i < BM / 64; ++i) tma_load_3d(tile_a(stage) + i * 8192, &map_a, bar, m0 + 64 * i, kt * kBK, za);
          } else {
            tma_load_3d(tile_a(stage), &map_a, bar, kt * kBK, m0, za);
          }
          if constexpr (kMnB) {
#pragma unroll
            for (int j = 0; j < BN / 64; ++j) tma_load_3d(tile_b(stage) + j * 8192, &map_b, bar, n0 + 64 * j, kt * kBK, zb);
          } else {
            tma_load_3d(tile_b(stage), &map_b, bar, kt * kBK, n0, zb);
          }
          if (++stage == kTmaStages) stage = 0, phase ^= 1;
        }
      }
    }
    if constexpr (kClusterK) {  // the consumers' two cluster barriers (cluster_k_epilogue)
      __syncwarp();
      cluster_sync();
      cluster_sync_relaxed();
    }
    if constexpr (kFusedFixup)
      if (p.sk_fused) {  // the consumers' grid barrier: every thread of every CTA takes part
        __syncwarp();
        cooperative_groups::this_grid().sync();
      }
  } else {  // consumers
    regs_alloc<232>();
    const int cw = wg - 1, warp = t >> 5, lane = t & 31;
    if (t == 0)
      for (int s = 0; s < kTmaStages; ++s) mbar_arrive(empty0 + 8 * s);  // every stage starts free
    int stage = 0;
    uint32_t phase = 0;
    int boxes = 0;  // kStoreC: boxes this warpgroup has stored (its buffer is boxes & 1)
    TmaWorkIter<BN, BM, kClusterK> work(p);
    TmaWork w;
    while (work.next(p, nk, w)) {
      float d[BN / 2];
#pragma unroll
      for (int i = 0; i < BN / 2; ++i) d[i] = 0.f;
      int prev = -1;
      for (int kt = w.k0; kt < w.k1; ++kt) {
        if constexpr (kClusterK)
          mbar_wait_or_trap(full0 + 8 * stage, phase);
        else
          mbar_wait(full0 + 8 * stage, phase);
        // This warpgroup's 64 rows of A start 8 KiB into the tile in either layout. A k16 step is 32 bytes
        // along a K-major row, 16 rows of 128 bytes down an MN-major tile.
        const uint32_t a = tile_a(stage) + cw * 8192, b = tile_b(stage);
        wgmma_fence();
        fence_operands(d);
#pragma unroll
        for (int s = 0; s < kBK / 16; ++s) {
          const uint64_t da = kMnA ? smem_desc_mn(a + 2048 * s) : smem_desc(a + 32 * s);
          const uint64_t db = kMnB ? smem_desc_mn(b + 2048 * s) : smem_desc(b + 32 * s);
          wgmma_tile<kBf16, kMnA ? 1 : 0, kMnB ? 1 : 0, BN>(d, da, db);
        }
        wgmma_commit();
        fence_operands(d);
        wgmma_wait<1>();  // the previous k tile's products are done: its stage can be refilled
        fence_operands(d);
        if (prev >= 0 && t == 0) mbar_arrive(empty0 + 8 * prev);
        prev = stage;
        if (++stage == kTmaStages) stage = 0, phase ^= 1;
      }
      wgmma_wait<0>();
      fence_operands(d);
      if (prev >= 0 && t == 0) mbar_arrive(empty0 + 8 * prev);

      if constexpr (kClusterK) {
        static_assert(!kStoreC && kWG == 2, "cluster split-K: the direct epilogue, 128-row tiles");
        cluster_k_epilogue<TOut, BN>(p, d, ring, w, cw * 128 + t);
        continue;
      }
      if (TmaWorkIter<BN, BM>::kStreamK && !w.full) {  // a stream-K partial: the raw accumulators, coalesced across the 256 consumer threads
        float* ws = p.sk_ws + (static_cast<int64_t>(blockIdx.x) * 2 + w.slot) * kPartialFloats<BN> + cw * 128 + t;
        if (p.sk_l2) {  // kept in L2 for the fixup, which reads them next (set_wgmma_stream_k_l2)
          const uint64_t pol = l2_policy_evict_last();
#pragma unroll
          for (int i = 0; i < BN / 2; ++i) st_global_l2_hint(ws + i * 256, d[i], pol);
        } else {
#pragma unroll
          for (int i = 0; i < BN / 2; ++i) ws[i * 256] = d[i];
        }
        continue;
      }
      if constexpr (kStoreC) {
        const uint32_t epi = epi0 + cw * 2 * Tile::kEpiBufBytes;
        const int mbox = w.m0 + 64 * cw;  // this warpgroup's rows of C
        const TOut* bias = static_cast<const TOut*>(p.bias);
#pragma unroll
        for (int box = 0; box < BN / 64; ++box, ++boxes) {
          const uint32_t buf = epi + (boxes & 1) * Tile::kEpiBufBytes;
          if (t == 0) bulk_wait_read<1>();  // the store issued from buf two boxes ago has read it
          named_barrier(1 + cw, 128);
#pragma unroll
          for (int jj = 0; jj < 8; ++jj) {  // columns 8 jj .. 8 jj + 7 of the box: 16-byte chunk jj of each row
            const int j = 8 * box + jj;
            const int n = w.n0 + 8 * j + 2 * (lane & 3);
            float b0 = 0.f, b1 = 0.f;
            if (bias != nullptr) {
              if (n < p.N) b0 = to_f32(bias[n]);
              if (n + 1 < p.N) b1 = to_f32(bias[n + 1]);
            }
#pragma unroll
            for (int h = 0; h < 2; ++h) {
              float r0 = p.alpha * d[4 * j + 2 * h], r1 = p.alpha * d[4 * j + 2 * h + 1];
              if (bias != nullptr) r0 = fmaf(p.beta, b0, r0), r1 = fmaf(p.beta, b1, r1);
              const int r = warp * 16 + (lane >> 2) + 8 * h;  // row of the box
              st_shared_b32(buf + r * 128 + ((jj ^ (r & 7)) << 4) + 4 * (lane & 3), pack2<TOut>(r0, r1));
            }
          }
          fence_proxy_async();
          named_barrier(1 + cw, 128);
          if (t == 0) {
            if (mbox < p.M && w.n0 + 64 * box < p.N)
              tma_store_3d(&map_c, buf, w.n0 + 64 * box, mbox, static_cast<int>(w.bi));
            bulk_commit();
          }
        }
        continue;
      }
      // Epilogue: accumulator 4 j + 2 h + e of (warp, lane) is C[m0 + 64 cw + 16 warp + lane / 4 + 8 h]
      // [n0 + 8 j + 2 (lane % 4) + e]; pairs e = 0, 1 are adjacent columns.
      TOut* C = static_cast<TOut*>(p.C) + w.bi * p.stride_c;
      const int64_t row0 = w.m0 + cw * 64 + warp * 16 + (lane >> 2);
      auto store_pair = [&](TOut* crow, auto hc, auto jc) {  // h, j: ints or std::integral_constant
        const int h = hc, j = jc;
        const int64_t n = w.n0 + 8 * j + 2 * (lane & 3);
        if (n >= p.N) return;
        float r0 = p.alpha * d[4 * j + 2 * h], r1 = p.alpha * d[4 * j + 2 * h + 1];
        if (p.bias != nullptr) {  // beta * bias[n] in C's place; C is then only written
          const TOut* bias = static_cast<const TOut*>(p.bias);
          r0 = fmaf(p.beta, to_f32(bias[n]), r0);
          if (n + 1 < p.N) r1 = fmaf(p.beta, to_f32(bias[n + 1]), r1);
        }
        if (p.vec_store && n + 1 < p.N) {
          if (p.beta != 0.f && p.bias == nullptr) {
            r0 = fmaf(p.beta, to_f32(crow[n]), r0);
            r1 = fmaf(p.beta, to_f32(crow[n + 1]), r1);
          }
          if constexpr (std::is_same_v<TOut, float>)
            *reinterpret_cast<float2*>(crow + n) = make_float2(r0, r1);
          else if constexpr (std::is_same_v<TOut, __half>)
            *reinterpret_cast<__half2*>(crow + n) = __floats2half2_rn(r0, r1);
          else
            *reinterpret_cast<__nv_bfloat162*>(crow + n) = __floats2bfloat162_rn(r0, r1);
        } else {
          const bool read_c = p.beta != 0.f && p.bias == nullptr;
          if (read_c) r0 = fmaf(p.beta, to_f32(crow[n]), r0);
          crow[n] = from_f32<TOut>(r0);
          if (n + 1 < p.N) {
            if (read_c) r1 = fmaf(p.beta, to_f32(crow[n + 1]), r1);
            crow[n + 1] = from_f32<TOut>(r1);
          }
        }
      };
      if constexpr (kWG == 2) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int64_t m = row0 + 8 * h;
          if (m >= p.M) continue;
          TOut* crow = C + m * p.ldc;
#pragma unroll
          for (int j = 0; j < BN / 8; ++j) store_pair(crow, h, j);
        }
      } else {
        // Unrolled by static_for: left to the optimizer, the 64-row kernel's loops came out as a loop reading
        // the accumulators from local memory (with wgmma serialized around them).
        static_for<2>([&](auto hc) {
          const int64_t m = row0 + 8 * decltype(hc)::value;
          if (m >= p.M) return;
          TOut* crow = C + m * p.ldc;
          static_for<BN / 8>([&](auto jc) { store_pair(crow, hc, jc); });
        });
      }
    }
    // The fused fixup: once every CTA has stored its partials, this one finishes its share of the split
    // tiles. The grid barrier is cooperative groups' on the workspace the driver gives a cooperative launch
    // (no counter of ours to zero first); the producer warpgroup takes part above. It orders every CTA's
    // partial stores before every CTA's reads.
    if constexpr (kFusedFixup)
      if (p.sk_fused) {
        cooperative_groups::this_grid().sync();
        stream_k_fused_fixup<TOut, BN>(p, cw * 128 + t);
      }
    if constexpr (kStoreC)
      if (t == 0) bulk_wait_all();  // the buffers live until the CTA exits; the stores are complete before it does
  }
#else
  __trap();  // only the sm_90a pass has wgmma; the host launches this on compute capability 9.0 only
#endif
}

// Finishes the tiles of a stream-K product that no one CTA covered: C = alpha
// * (the sum of the tile's partials, in CTA order) + beta * C, rounded once to
// TOut. Block (t, y): tile t, accumulators [kFixupPer y, kFixupPer (y + 1)) of
// each of the 256 threads, thread u playing consumer thread u of the GEMM
// kernel (so the element of accumulator i is the epilogue's, and each warp's
// loads are 128 contiguous bytes).
// The kernel is a pass over the partials (~17 MB for GPT-2's 768 x 768 weight
// gradient), so what bounds it is how many loads are in flight: each thread
// issues its kFixupPer loads of one partial together before adding them, and
// the grid has BN / 2 / kFixupPer blocks per tile (an earlier version gave each
// thread 16 accumulators summed one partial load at a time, in 8 blocks per
// tile: ~150 KB in flight on the whole GPU, its time a chain of ~128 load
// latencies). The sums run in the same order as before, so the bits are the
// same.
// kL2 (TmaParams::sk_l2, set_wgmma_stream_k_l2): the partials are read with an L2 evict_first policy, and
// each warp's 128-byte line is discarded from L2 once summed: the GEMM kernel stored them evict_last, so
// that they come from L2 rather than DRAM (on an H200, GPT-2's 768 x 768 weight gradient's 17 MB of
// partials came back at an L2 hit rate of 24%), and a discarded line is never written back to DRAM.
constexpr int kFixupPer = 4;
template <typename TOut, int BN, bool kL2 = false>
__global__ void __launch_bounds__(256) stream_k_fixup_kernel(TmaParams p) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  const StreamKPlan& sk = p.sk;
  const int64_t t = blockIdx.x;
  const int64_t lo = sk.cta_of(t * sk.k_iters), hi = sk.cta_of((t + 1) * sk.k_iters - 1);
  if (lo == hi) return;  // one CTA covered the tile and stored it
  const int u = threadIdx.x, lane = u & 31;
  const int i0 = static_cast<int>(blockIdx.y) * kFixupPer;  // accumulators i0 .. i0 + kFixupPer - 1
  const float* ws = p.sk_ws + i0 * 256 + u;
  float s[kFixupPer];
#pragma unroll
  for (int q = 0; q < kFixupPer; ++q) s[q] = 0.f;
  [[maybe_unused]] uint64_t pol = 0;
  if constexpr (kL2) pol = l2_policy_evict_first();
#pragma unroll 2
  for (int64_t c = lo; c <= hi; ++c) {
    const float* w = ws + (2 * c + sk.slot(c, t)) * kPartialFloats<BN>;
    float v[kFixupPer];
#pragma unroll
    for (int q = 0; q < kFixupPer; ++q)  // written by the GEMM kernel: in L2, not L1
      v[q] = kL2 ? ld_global_cg_l2_hint(w + q * 256, pol) : __ldcg(w + q * 256);
#pragma unroll
    for (int q = 0; q < kFixupPer; ++q) s[q] += v[q];
    if constexpr (kL2) {
      // Each warp's load of one q is one whole line (32 threads, 128 contiguous bytes, 128-aligned: the
      // host checks the workspace), read by no one else; lane 0 discards it once its load has returned.
      if (lane == 0) {
#pragma unroll
        for (int q = 0; q < kFixupPer; ++q) discard_l2_line(w + q * 256, v[q]);
      }
    }
  }
#pragma unroll
  for (int q = 0; q < kFixupPer; ++q) stream_k_store<TOut, BN>(p, t, i0 + q, u, s[q]);
#else
  __trap();  // launched only after gemm_tma_kernel, on compute capability 9.0
#endif
}
static_assert((kPartialFloats<256> / 256) % kFixupPer == 0 && (kPartialFloats<192> / 256) % kFixupPer == 0,
              "the fixup's blocks split each thread's accumulators evenly");

// out[b][i][j] (row stride ld_out) = in[b * in_batch + i * si + j * sj] for
// i < I, j < J: a K-major copy of an operand (i = its m or n, j = k). Through
// a 32 x 33 shared tile, so that both the reads (along whichever of i, j is
// contiguous in `in`) and the writes (along j) are coalesced.
__global__ void copy_kmajor_kernel(const uint16_t* in, int64_t in_batch, int64_t si, int64_t sj, uint16_t* out,
                                   int64_t out_batch, int64_t ld_out, int64_t I, int64_t J, int64_t batch,
                                   bool read_along_i) {
  __shared__ uint16_t t[32][33];
  const int64_t i0 = static_cast<int64_t>(blockIdx.y) * 32, j0 = static_cast<int64_t>(blockIdx.x) * 32;
  for (int64_t b = blockIdx.z; b < batch; b += gridDim.z) {
    const uint16_t* src = in + b * in_batch;
    for (int y = threadIdx.y; y < 32; y += blockDim.y) {
      // read_along_i: consecutive threads take consecutive i (i is contiguous in `in`).
      const int64_t i = i0 + (read_along_i ? threadIdx.x : y), j = j0 + (read_along_i ? y : threadIdx.x);
      uint16_t v = 0;
      if (i < I && j < J) v = src[i * si + j * sj];
      if (read_along_i)
        t[threadIdx.x][y] = v;
      else
        t[y][threadIdx.x] = v;
    }
    __syncthreads();
    uint16_t* dst = out + b * out_batch;
    for (int y = threadIdx.y; y < 32; y += blockDim.y) {
      const int64_t i = i0 + y, j = j0 + threadIdx.x;
      // Columns J .. ld_out stay unwritten: the GEMM's loads zero-fill k >= K.
      if (i < I && j < J) dst[i * ld_out + j] = t[y][threadIdx.x];
    }
    __syncthreads();
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }
unsigned grid_dim(int64_t n, int64_t tile) { return static_cast<unsigned>((n + tile - 1) / tile); }

// A K-major, 16-byte aligned view of one operand: `rows` (M or N) x K, element
// (r, k) at base + r * rs + k * ks, batches `bstride` apart; the operand itself
// when it already is one, else a copy in `holder`.
// allow_mn: an operand stored MN-major (m or n contiguous: rs == 1), 16-byte
// aligned with a k stride and batch stride of whole 16 bytes, is taken as it
// is (mn = true, ld = its k stride), for gemm_tma_kernel to read transposed.
struct KMajor {
  const uint16_t* ptr;
  int64_t ld, bstride;
  bool mn = false;
};
KMajor kmajor(const void* base, int64_t rows, int64_t K, int64_t rs, int64_t ks, int64_t batch, int64_t bstride,
              DType dt, int device, Tensor& holder, bool allow_mn = false) {
  const uint16_t* p = static_cast<const uint16_t*>(base);
  if ((ks == 1 || K == 1) && aligned16(p) && rs % 8 == 0 && bstride % 8 == 0) return {p, rs, bstride};
  if (allow_mn && (rs == 1 || rows == 1) && aligned16(p) && ks % 8 == 0 && bstride % 8 == 0)
    return {p, ks, bstride, true};
  const int64_t ld = (K + 7) / 8 * 8;
  const int64_t copies = bstride == 0 ? 1 : batch;  // a broadcast operand is copied once
  holder = empty({copies * rows * ld}, TensorOptions(dt).device(Device(DeviceType::CUDA, device)));
  uint16_t* out = static_cast<uint16_t*>(holder.data_ptr_raw());
  const dim3 grid(grid_dim(K, 32), grid_dim(rows, 32), static_cast<unsigned>(std::min<int64_t>(copies, 65535)));
  copy_kmajor_kernel<<<grid, dim3(32, 8), 0, current_stream()>>>(p, bstride, rs, ks, out, rows * ld, ld, rows, K,
                                                                  copies, /*read_along_i=*/rs == 1 && ks != 1);
  WICK_CUDA_CHECK_LAUNCH();
  return {out, ld, bstride == 0 ? 0 : rows * ld};
}

template <typename TIn, typename TOut>
void launch(const Sm90Params& p) {
  auto kernel = gemm_wgmma_kernel<TIn, TOut>;
  WICK_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes));
  const int64_t tn = (p.N + kBN - 1) / kBN, tm = (p.M + kBM - 1) / kBM;
  WICK_CHECK(tn <= 65535 && tm <= 65535, "cuda gemm (wgmma): M = ", p.M, ", N = ", p.N, " need more tiles than the grid allows");
  const dim3 grid(static_cast<unsigned>(tn), static_cast<unsigned>(tm),
                  static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>(p.batch, 1), 65535)));
  kernel<<<grid, kThreads, kSmemBytes, current_stream()>>>(p);
  WICK_CUDA_CHECK_LAUNCH();
}

void launch_typed(const GemmArgs& g, const Sm90Params& p) {
  const bool bf16 = g.ab_dtype == kBFloat16, f32_out = g.c_dtype == kFloat32;
  if (bf16)
    f32_out ? launch<__nv_bfloat16, float>(p) : launch<__nv_bfloat16, __nv_bfloat16>(p);
  else
    f32_out ? launch<__half, float>(p) : launch<__half, __half>(p);
}

// ---- host side of gemm_tma_kernel ----------------------------------------------
// A 3-d tensor map (k, row, batch) over a K-major operand with boxes of
// kBK x box_rows x 1 in the 128-byte swizzle; false when the driver refuses
// the layout (the caller then runs the cp.async kernel).
// An MN-major operand: dimensions (row, k, batch), boxes of 64 x kBK.
bool make_map(CUtensorMap* map, const KMajor& op, int64_t rows, int64_t K, int64_t batch, int box_rows, bool bf16) {
  EncodeTiled enc = tensor_map_encoder();
  if (enc == nullptr) return false;
  const bool batched = op.bstride != 0 && batch > 1;
  const int64_t inner = op.mn ? rows : K, outer = op.mn ? K : rows;
  const cuuint64_t dims[3] = {static_cast<cuuint64_t>(inner), static_cast<cuuint64_t>(outer),
                              static_cast<cuuint64_t>(batched ? batch : 1)};
  const cuuint64_t strides[2] = {static_cast<cuuint64_t>(op.ld) * 2,
                                 static_cast<cuuint64_t>(batched ? op.bstride : outer * op.ld) * 2};
  const cuuint32_t box[3] = {op.mn ? 64u : static_cast<cuuint32_t>(kBK),
                             op.mn ? static_cast<cuuint32_t>(kBK) : static_cast<cuuint32_t>(box_rows), 1};
  const cuuint32_t elem[3] = {1, 1, 1};
  return enc(map, bf16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 3,
             const_cast<uint16_t*>(op.ptr), dims, strides, box, elem, CU_TENSOR_MAP_INTERLEAVE_NONE,
             CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
             CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

// C's tensor map for the TMA store epilogue: dimensions (n, m, batch), boxes
// of 64 x 64 x 1 in the 128-byte swizzle; false where the layout does not
// allow one (C not 16-byte aligned, a row or batch stride not a whole 16
// bytes, rows not a whole 16 bytes) or the driver refuses it: the kernel then
// stores C directly. Rows of whole 16 bytes: on an H200 (2026-11-28) the store
// of a box clipped at N = 5 also wrote columns 5..7 of every row (zeros: the
// columns past N of the tile), as if the bound were kept in 16-byte units;
// every N that passed was a multiple of 8.
bool make_c_map(CUtensorMap* map, const GemmArgs& g, bool bf16) {
  EncodeTiled enc = tensor_map_encoder();
  if (enc == nullptr || !aligned16(g.C) || g.ldc % 8 != 0 || g.ldc < g.N || g.N % 8 != 0) return false;
  const bool batched = g.batch > 1;
  if (batched && (g.stride_c % 8 != 0 || g.stride_c < g.M * g.ldc)) return false;
  const cuuint64_t dims[3] = {static_cast<cuuint64_t>(g.N), static_cast<cuuint64_t>(g.M),
                              static_cast<cuuint64_t>(batched ? g.batch : 1)};
  const cuuint64_t strides[2] = {static_cast<cuuint64_t>(g.ldc) * 2,
                                 static_cast<cuuint64_t>(batched ? g.stride_c : g.M * g.ldc) * 2};
  const cuuint32_t box[3] = {64, 64, 1};
  const cuuint32_t elem[3] = {1, 1, 1};
  return enc(map, bf16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 3, g.C, dims, strides,
             box, elem, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_NONE,
             CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

// Products that ran stream-K's fused fixup (TmaParams::sk_fused): launched cooperatively, as its grid
// barrier needs every CTA resident at once. Where the device refuses (fewer SMs free to this process than
// the plan counted: MPS, a green context; or no cooperative launches at all), the product runs unfused, the
// fixup kernel after it. (A cost the driver does not refuse: a cooperative grid starts only when every SM it
// needs is free, so beside another stream's kernels, such as NCCL's in an all-reduce overlapped with the
// backward, it waits for them instead of starting in waves; gpu_check times it alone.)
std::atomic<int64_t> stream_k_fused_products{0};
std::atomic<int64_t> stream_k_l2_products{0};  // products whose fixup kernel took the L2 hints (TmaParams::sk_l2)

template <typename TIn, typename TOut, bool kMnA, bool kMnB, int BN, bool kStoreC, int kWG>
void launch_tma(const CUtensorMap& ma, const CUtensorMap& mb, const CUtensorMap& mc, const TmaParams& p_in,
                int64_t sms) {
  using Tile = TmaTile<BN, kStoreC, kWG>;
  auto kernel = gemm_tma_kernel<TIn, TOut, kMnA, kMnB, BN, kStoreC, kWG>;
  constexpr int kSmem = Tile::kSmemBytes;
  WICK_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
  TmaParams p = p_in;
  const dim3 grid = p.sk.ctas      ? dim3(static_cast<unsigned>(p.sk.ctas))
                    : p.pt.batch > 0 ? dim3(static_cast<unsigned>(persistent_ctas(p.pt, sms)))
                                     : dim3(static_cast<unsigned>((p.N + BN - 1) / BN),
                                     static_cast<unsigned>((p.M + Tile::kBMw - 1) / Tile::kBMw),
                                     static_cast<unsigned>(std::min<int64_t>(p.batch, 65535)));
  // (The fused fixup is in the kernels of 128 x 256 tiles, the only ones the host plans stream-K for; any
  // other runs the fixup kernel.)
  if constexpr (BN == 256 && kWG == 2) {
    if (p.sk.ctas && p.sk_fused) {
      TmaParams q = p;
      q.sk_l2 = 0;  // (the fused fixup reads the partials at once: no L2 hints, no discards)
      cudaLaunchConfig_t cfg{};
      cfg.gridDim = grid;
      cfg.blockDim = dim3(Tile::kThreads);
      cfg.dynamicSmemBytes = kSmem;
      cfg.stream = current_stream();
      cudaLaunchAttribute attr{};
      attr.id = cudaLaunchAttributeCooperative;
      attr.val.cooperative = 1;
      cfg.attrs = &attr;
      cfg.numAttrs = 1;
      const cudaError_t e = cudaLaunchKernelEx(&cfg, kernel, ma, mb, mc, q);
      if (e == cudaSuccess) {
        stream_k_fused_products.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      if (e != cudaErrorCooperativeLaunchTooLarge && e != cudaErrorNotSupported) WICK_CUDA_CHECK(e);
      (void)cudaGetLastError();  // (cleared: the unfused launch below, with the L2 hints if they are on)
    }
  }
  p.sk_fused = 0;  // (never set on a plain launch: the kernel's grid barrier would trap there)
  kernel<<<grid, Tile::kThreads, kSmem, current_stream()>>>(ma, mb, mc, p);
  WICK_CUDA_CHECK_LAUNCH();
  if (p.sk.ctas) {
    const dim3 fixup_grid(static_cast<unsigned>(p.sk.tiles), BN / 2 / kFixupPer);
    if (p.sk_l2) {
      stream_k_l2_products.fetch_add(1, std::memory_order_relaxed);
      stream_k_fixup_kernel<TOut, BN, true><<<fixup_grid, 256, 0, current_stream()>>>(p);
    } else {
      stream_k_fixup_kernel<TOut, BN><<<fixup_grid, 256, 0, current_stream()>>>(p);
    }
    WICK_CUDA_CHECK_LAUNCH();
  }
}

// Cluster split-K: tiles x p.ck_splits CTAs in clusters of p.ck_splits (the CTAs of tile t are t s .. t s + s - 1).
template <typename TIn, typename TOut, bool kMnA, bool kMnB>
void launch_tma_cluster(const CUtensorMap& ma, const CUtensorMap& mb, const CUtensorMap& mc, const TmaParams& p) {
  using Tile = TmaTile<256>;
  auto kernel = gemm_tma_kernel<TIn, TOut, kMnA, kMnB, 256, false, 2, true>;
  WICK_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Tile::kSmemBytes));
  const int64_t tiles = ((p.M + kBM - 1) / kBM) * p.tiles_n;
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3(static_cast<unsigned>(tiles * p.ck_splits));
  cfg.blockDim = dim3(Tile::kThreads);
  cfg.dynamicSmemBytes = Tile::kSmemBytes;
  cfg.stream = current_stream();
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeClusterDimension;
  attr.val.clusterDim.x = static_cast<unsigned>(p.ck_splits), attr.val.clusterDim.y = 1, attr.val.clusterDim.z = 1;
  cfg.attrs = &attr;
  cfg.numAttrs = 1;
  WICK_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, ma, mb, mc, p));
}

// Clusters of s = 1 .. kClusterKMax CTAs of the cluster split-K kernel the device runs at once
// (cudaOccupancyMaxActiveClusters; its shared memory allows one CTA per SM, and a cluster's CTAs share a GPC),
// per device, queried once. Every instantiation takes the same resources; 0 where the query fails.
struct ClusterCounts {
  int64_t n[kClusterKMax + 1] = {};
};
ClusterCounts active_clusters(int dev) {
  static std::mutex mu;
  static std::map<int, ClusterCounts> cache;
  const std::lock_guard<std::mutex> lock(mu);
  if (const auto it = cache.find(dev); it != cache.end()) return it->second;
  using Tile = TmaTile<256>;
  auto kernel = gemm_tma_kernel<__nv_bfloat16, __nv_bfloat16, true, true, 256, false, 2, true>;
  WICK_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Tile::kSmemBytes));
  ClusterCounts c;
  for (int sz = 1; sz <= kClusterKMax; ++sz) {
    cudaLaunchConfig_t cfg{};
    cfg.gridDim = dim3(static_cast<unsigned>(sz));
    cfg.blockDim = dim3(Tile::kThreads);
    cfg.dynamicSmemBytes = Tile::kSmemBytes;
    cudaLaunchAttribute attr{};
    attr.id = cudaLaunchAttributeClusterDimension;
    attr.val.clusterDim.x = static_cast<unsigned>(sz), attr.val.clusterDim.y = 1, attr.val.clusterDim.z = 1;
    cfg.attrs = &attr;
    cfg.numAttrs = 1;
    int clusters = 0;
    if (cudaOccupancyMaxActiveClusters(&clusters, kernel, &cfg) != cudaSuccess) {
      (void)cudaGetLastError();  // (cleared: the plan then takes no clusters of this size)
      clusters = 0;
    }
    c.n[sz] = clusters;
  }
  cache[dev] = c;
  return c;
}

// Stream-K, the TMA store epilogue and 64-row tiles: on since their tests passed on an H200 (2026-11-28);
// WICK_CUDA_GEMM_STREAMK=0, WICK_CUDA_GEMM_TMA_STORE=0, WICK_CUDA_GEMM_ROWS64=0 to turn them off.
OptInSwitch& stream_k_switch() {
  static OptInSwitch s("WICK_CUDA_GEMM_STREAMK", /*default_on=*/true);
  return s;
}
OptInSwitch& n192_switch() {
  static OptInSwitch s("WICK_CUDA_WGMMA_N192", /*default_on=*/true);
  return s;
}
OptInSwitch& persistent_switch() {
  static OptInSwitch s("WICK_CUDA_GEMM_PERSISTENT", /*default_on=*/true);
  return s;
}
OptInSwitch& tma_store_switch() {
  static OptInSwitch s("WICK_CUDA_GEMM_TMA_STORE", /*default_on=*/true);
  return s;
}
std::atomic<int64_t> tma_store_products{0};
OptInSwitch& rows64_switch() {
  static OptInSwitch s("WICK_CUDA_GEMM_ROWS64", /*default_on=*/true);
  return s;
}
std::atomic<int64_t> rows64_products{0};
// Cluster split-K (gemm_sm90_plan.h, plan_cluster_k): off until a GPU has run CudaGemm.ClusterSplitK and
// timed it (WICK_CUDA_GEMM_CLUSTER_K=1).
OptInSwitch& cluster_k_switch() {
  static OptInSwitch s("WICK_CUDA_GEMM_CLUSTER_K");
  return s;
}
std::atomic<int64_t> cluster_k_products{0};
// The stream-K partials kept in L2 and discarded after the fixup (TmaParams::sk_l2): off until a GPU has
// run CudaGemm.StreamKL2Hints and timed it (WICK_CUDA_GEMM_SK_L2=1).
OptInSwitch& stream_k_l2_switch() {
  static OptInSwitch s("WICK_CUDA_GEMM_SK_L2");
  return s;
}
// Stream-K's fused fixup (TmaParams::sk_fused, stream_k_fused_fixup): off until a GPU has run
// CudaGemm.StreamKFusedFixup and timed it (WICK_CUDA_GEMM_SK_FUSED=1).
OptInSwitch& stream_k_fused_switch() {
  static OptInSwitch s("WICK_CUDA_GEMM_SK_FUSED");
  return s;
}

// Runs g on gemm_tma_kernel from the K-major operands a, b; false (nothing
// launched) when a size passes the copy engine's 32-bit coordinates or the
// driver refuses a tensor map.
bool try_tma(const GemmArgs& g, const KMajor& a, const KMajor& b) {
  constexpr int64_t kMax = int64_t{1} << 31;
  if (g.M >= kMax || g.N >= kMax || g.K >= kMax || g.batch >= kMax || g.K == 0) return false;
  const bool bf16 = g.ab_dtype == kBFloat16;
  int dev = 0;
  WICK_CUDA_CHECK(cudaGetDevice(&dev));
  const int64_t sms = device_properties(dev).multiProcessorCount;
  // 64-row tiles (one consumer warpgroup) for M <= 64, 256 wide; else stream-K (in 256-wide tiles) where the
  // grid is under one wave, or the tile width that fills the waves.
  const bool rows64 = g.M <= 64 && rows64_switch().on();
  const int64_t bm = rows64 ? 64 : kBM;
  const int64_t tiles_m = (g.M + bm - 1) / bm;
  StreamKPlan sk;
  if (!rows64 && g.batch == 1 && stream_k_switch().on())
    sk = plan_stream_k_for(g.M, g.N, g.K, sms, n192_switch().on());
  // Cluster split-K in stream-K's place where its plan says so (256-wide tiles, as stream-K's).
  const int ck = sk.ctas > 0 && cluster_k_switch().on() ? plan_cluster_k(sk, active_clusters(dev).n) : 0;
  const int bn = !rows64 && sk.ctas == 0 && n192_switch().on() ? choose_tile_n(g.M, g.N, g.batch, sms) : 256;
  CUtensorMap ma, mb;
  if (!make_map(&ma, a, g.M, g.K, g.batch, static_cast<int>(bm), bf16) ||
      !make_map(&mb, b, g.N, g.K, g.batch, bn, bf16))
    return false;
  TmaParams p{};
  p.C = g.C, p.M = g.M, p.N = g.N, p.K = g.K, p.batch = g.batch, p.ldc = g.ldc, p.stride_c = g.stride_c;
  p.alpha = static_cast<float>(g.alpha), p.beta = static_cast<float>(g.beta);
  p.a_batched = a.bstride != 0, p.b_batched = b.bstride != 0;
  p.bias = g.bias;
  p.tiles_n = (g.N + bn - 1) / bn;
  p.sk = ck ? StreamKPlan{} : sk;
  p.ck_splits = ck;
  if (sk.ctas == 0 && persistent_switch().on()) p.pt = PersistentTiles::make(tiles_m, p.tiles_n, g.batch);
  Tensor ws;  // stream-K partials; freed after the launches, reused only by later work on this stream
  if (p.sk.ctas) {
    // (The fixups read every CTA's slots: no CTA's range may be empty, as a forced SIMT grid's can be
    // (StreamKPlan::empty). plan_stream_k gives each at least kStreamKMinIters.)
    WICK_CHECK(sk.ctas <= sk.work(), "gemm: a stream-K plan of ", sk.ctas, " CTAs for ", sk.work(), " k steps");
    p.sk_fused = stream_k_fused_switch().on();
    ws = empty({sk.ctas * 2 * kPartialFloats<256>}, TensorOptions(kFloat32).device(Device(DeviceType::CUDA, dev)));
    p.sk_ws = static_cast<float*>(ws.data_ptr_raw());
    // (The fixup discards whole 128-byte lines: the workspace must start on one. The allocator's blocks do.)
    // (A fused launch leaves them off; its fallback, the fixup kernel, takes them. launch_tma counts them.)
    p.sk_l2 = stream_k_l2_switch().on() && reinterpret_cast<uintptr_t>(p.sk_ws) % 128 == 0;
  }
  const size_t out_bytes = g.c_dtype == kFloat32 ? 4 : 2;
  p.vec_store = reinterpret_cast<uintptr_t>(g.C) % (2 * out_bytes) == 0 && g.ldc % 2 == 0 &&
                (g.batch <= 1 || g.stride_c % 2 == 0);
  const bool f32_out = g.c_dtype == kFloat32;
  // The TMA store epilogue: 16-bit C that the product only writes (beta = 0, or a bias in C's place).
  CUtensorMap mc{};
  const bool store_c = ck == 0 && tma_store_switch().on() && !f32_out && (g.beta == 0 || g.bias != nullptr) &&
                       make_c_map(&mc, g, bf16);
  auto by_width = [&]<typename TIn, typename TOut, bool kMnA, bool kMnB>() {
    if (ck) {
      cluster_k_products.fetch_add(1, std::memory_order_relaxed);
      return launch_tma_cluster<TIn, TOut, kMnA, kMnB>(ma, mb, mc, p);
    }
    if (store_c) tma_store_products.fetch_add(1, std::memory_order_relaxed);
    if (rows64) rows64_products.fetch_add(1, std::memory_order_relaxed);
    if constexpr (std::is_same_v<TIn, TOut>) {
      if (store_c) {
        if (rows64) return launch_tma<TIn, TOut, kMnA, kMnB, 256, true, 1>(ma, mb, mc, p, sms);
        bn == 256 ? launch_tma<TIn, TOut, kMnA, kMnB, 256, true, 2>(ma, mb, mc, p, sms)
                  : launch_tma<TIn, TOut, kMnA, kMnB, 192, true, 2>(ma, mb, mc, p, sms);
        return;
      }
    }
    if (rows64) return launch_tma<TIn, TOut, kMnA, kMnB, 256, false, 1>(ma, mb, mc, p, sms);
    bn == 256 ? launch_tma<TIn, TOut, kMnA, kMnB, 256, false, 2>(ma, mb, mc, p, sms)
              : launch_tma<TIn, TOut, kMnA, kMnB, 192, false, 2>(ma, mb, mc, p, sms);
  };
  auto by_layout = [&]<typename TIn, typename TOut>() {
    if (a.mn)
      b.mn ? by_width.operator()<TIn, TOut, true, true>() : by_width.operator()<TIn, TOut, true, false>();
    else
      b.mn ? by_width.operator()<TIn, TOut, false, true>() : by_width.operator()<TIn, TOut, false, false>();
  };
  if (bf16)
    f32_out ? by_layout.operator()<__nv_bfloat16, float>() : by_layout.operator()<__nv_bfloat16, __nv_bfloat16>();
  else
    f32_out ? by_layout.operator()<__half, float>() : by_layout.operator()<__half, __half>();
  return true;
}

// WICK_CUDA_WGMMA=cpasync runs the first (cp.async, no warp specialization)
// kernel instead of gemm_tma_kernel: kept to compare the two in
// bench_cuda_gemm and in the tests. Read once per process.
bool use_tma() {
  static const bool tma = [] {
    const char* v = std::getenv("WICK_CUDA_WGMMA");
    if (v == nullptr || *v == 0 || std::strcmp(v, "tma") == 0) return true;
    WICK_CHECK(std::strcmp(v, "cpasync") == 0, "WICK_CUDA_WGMMA must be 'tma' or 'cpasync', got '", v, "'");
    return false;
  }();
  return tma;
}

}  // namespace

namespace {
OptInSwitch& mn_switch() {
  static OptInSwitch s("WICK_CUDA_WGMMA_MN", /*default_on=*/true);
  return s;
}
}  // namespace

bool wgmma_tma_kernel() { return use_tma(); }
void set_wgmma_mn_major(bool on) { mn_switch().set(on); }
bool wgmma_mn_major() { return mn_switch().on(); }

void set_wgmma_stream_k(bool on) { stream_k_switch().set(on); }
bool wgmma_stream_k() { return stream_k_switch().on(); }

void set_wgmma_narrow_tiles(bool on) { n192_switch().set(on); }
bool wgmma_narrow_tiles() { return n192_switch().on(); }

void set_wgmma_persistent(bool on) { persistent_switch().set(on); }
bool wgmma_persistent() { return persistent_switch().on(); }

void set_wgmma_tma_store(bool on) { tma_store_switch().set(on); }
bool wgmma_tma_store() { return tma_store_switch().on(); }
int64_t wgmma_tma_store_products() { return tma_store_products.load(std::memory_order_relaxed); }

void set_wgmma_cluster_k(bool on) { cluster_k_switch().set(on); }
bool wgmma_cluster_k() { return cluster_k_switch().on(); }
int64_t wgmma_cluster_k_products() { return cluster_k_products.load(std::memory_order_relaxed); }
void set_wgmma_stream_k_l2(bool on) { stream_k_l2_switch().set(on); }
bool wgmma_stream_k_l2() { return stream_k_l2_switch().on(); }
int64_t wgmma_stream_k_l2_products() { return stream_k_l2_products.load(std::memory_order_relaxed); }
void set_wgmma_stream_k_fused(bool on) { stream_k_fused_switch().set(on); }
bool wgmma_stream_k_fused() { return stream_k_fused_switch().on(); }
int64_t wgmma_stream_k_fused_products() { return stream_k_fused_products.load(std::memory_order_relaxed); }
int wgmma_cluster_k_splits(int64_t M, int64_t N, int64_t K) {
  if (M <= 0 || N <= 0 || K <= 0 || (M <= 64 && rows64_switch().on()) || !stream_k_switch().on() || !use_tma())
    return 0;
  int dev = 0;
  WICK_CUDA_CHECK(cudaGetDevice(&dev));
  if (!wgmma_supported(dev)) return 0;
  const StreamKPlan sk = plan_stream_k_for(M, N, K, device_properties(dev).multiProcessorCount, n192_switch().on());
  return sk.ctas > 0 ? plan_cluster_k(sk, active_clusters(dev).n) : 0;
}

void set_wgmma_rows64(bool on) { rows64_switch().set(on); }
bool wgmma_rows64() { return rows64_switch().on(); }
int64_t wgmma_rows64_products() { return rows64_products.load(std::memory_order_relaxed); }

bool wgmma_supported(int device) {
  const cudaDeviceProp& prop = device_properties(device);
  return prop.major == 9 && prop.minor == 0;
}

void gemm_wgmma(const GemmArgs& g_in) {
  GemmArgs g = g_in;
  int dev = 0;
  WICK_CUDA_CHECK(cudaGetDevice(&dev));
  WICK_CHECK(g.ab_dtype == kFloat16 || g.ab_dtype == kBFloat16, "cuda gemm (wgmma): ", g.ab_dtype,
             " inputs; the wgmma kernel takes float16/bfloat16");
  WICK_CHECK(wgmma_supported(dev), "cuda gemm (wgmma): needs a compute capability 9.0 device (H100/H200), device ", dev,
             " is sm_", device_properties(dev).major, device_properties(dev).minor);
  // A: (m, k) at m * lda + k, or k * lda + m when stored transposed; B: (n, k) at n * ldb + k when
  // stored transposed, else k * ldb + n.
  Tensor ha, hb;
  if (g.K == 0) {  // C = beta C: the kernel reads neither operand
    materialize_bias(g);
    Sm90Params p{};
    p.A = static_cast<const uint16_t*>(g.A), p.B = static_cast<const uint16_t*>(g.B), p.C = g.C;
    p.M = g.M, p.N = g.N, p.K = 0, p.batch = g.batch, p.lda = 8, p.ldb = 8, p.ldc = g.ldc, p.stride_c = g.stride_c;
    p.alpha = static_cast<float>(g.alpha), p.beta = static_cast<float>(g.beta);
    launch_typed(g, p);
    return;
  }
  auto operand_a = [&](bool allow_mn) {
    return kmajor(g.A, g.M, g.K, g.trans_a ? 1 : g.lda, g.trans_a ? g.lda : 1, g.batch, g.stride_a, g.ab_dtype, dev,
                  ha, allow_mn);
  };
  auto operand_b = [&](bool allow_mn) {
    return kmajor(g.B, g.N, g.K, g.trans_b ? g.ldb : 1, g.trans_b ? 1 : g.ldb, g.batch, g.stride_b, g.ab_dtype, dev,
                  hb, allow_mn);
  };
  // The TMA kernel reads MN-major operands as they are (no transposing copy); the cp.async kernel
  // wants both K-major.
  const bool in_place = use_tma() && wgmma_mn_major();
  KMajor a = operand_a(in_place), b = operand_b(in_place);
  if (use_tma() && try_tma(g, a, b)) return;
  materialize_bias(g);  // the cp.async kernel reads beta * C
  if (a.mn) a = operand_a(false);
  if (b.mn) b = operand_b(false);
  Sm90Params p{};
  p.A = a.ptr, p.B = b.ptr, p.C = g.C;
  p.M = g.M, p.N = g.N, p.K = g.K, p.batch = g.batch;
  p.lda = a.ld, p.ldb = b.ld, p.ldc = g.ldc;
  p.stride_a = a.bstride, p.stride_b = b.bstride, p.stride_c = g.stride_c;
  p.alpha = static_cast<float>(g.alpha), p.beta = static_cast<float>(g.beta);
  launch_typed(g, p);
  // ha/hb die here: the caching allocator reuses their blocks only for later
  // work on this stream, which runs after the kernel that reads them.
}

}  // namespace wick::cuda
