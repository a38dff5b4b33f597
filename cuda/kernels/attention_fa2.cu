// FlashAttention-2 style forward of scaled_dot_product_attention for float16
// and bfloat16 on sm_80+ (contract: cuda/kernels/attention_fa2.h and
// attention.h; the general kernels, masks and the backward: attention.cu).
//
// Math (per slice n, query row i; scores in the log2 domain so the
// exponentials are exp2):
//   s_ij = log2(e) * scale * q_i . k_j             (causal: -inf for j > i; -inf for j >= S)
//   m_i  = max_j s_ij,  l_i = sum_j 2^(s_ij - m_i)  (online, one key tile at a time)
//   o_i  = sum_j 2^(s_ij - m_i) v_j / l_i,  lse_i = ln(2) m_i + ln(l_i)
// Work: 4 N L S D FLOPs (half of it causal) + N L S exp2; traffic: Q and O
// once, K and V once per 64-row query tile: N (L / 64) S 2 D elements.
//
// Design (Dao 2023, written from the paper's description):
//  - One CTA of 4 warps per (slice n, 64 query rows); warp w owns rows
//    16w..16w+15. CTAs are issued with the last (for causal: heaviest) query
//    tiles first.
//  - Q is staged once through shared memory with cp.async and held in
//    registers as mma.sync A fragments (ldmatrix.x4) for the whole loop.
//  - K and V stream through shared memory in tiles of 64 keys, double
//    buffered with cp.async (16-byte chunks, zero-filled past L or S): tile
//    t + 1 is in flight while tile t is computed.
//  - Tiles are [64, D] 16-bit rows with the 16-byte chunk c of row r stored
//    at chunk c ^ (r & 7): the 8 row addresses of one ldmatrix phase (8
//    consecutive rows, one chunk) land in 8 different 16-byte bank groups.
//  - S = Q K^T with mma.sync m16n8k16 (f32 accumulate): per warp 16 x 64
//    scores in 8 accumulator fragments (32 floats per thread); K fragments
//    by ldmatrix (K rows are B's columns), V fragments by ldmatrix.trans.
//  - Online softmax in float32 registers: each thread holds 2 rows (g and
//    g + 8 of its warp's 16) x 16 columns; row max over the 4 lanes of a quad
//    by __shfl_xor_sync; the row sum stays a per-thread partial (rescaled by
//    the same quad-uniform factor) and is reduced once in the epilogue.
//  - P is rounded to 16 bits and used as the A operand of P V straight from
//    the S accumulators: an m16n8k16 C fragment pair (columns 8b..8b+15) has
//    exactly the layout of an A fragment (k = 16), so P never touches shared
//    memory.
//  - Causal: key tiles entirely above the diagonal are never loaded; the
//    per-element mask runs only on tiles that cross the diagonal or S.
// Registers: Q fragments D/4, S 32, O D/2 floats per thread (D = 128: 16 +
// 32 + 64) — 128 threads with __launch_bounds__(128) leave room to spare.
// Shared memory: Q + 2 K + 2 V tiles = 5 * 64 * D * 2 bytes (40 / 80 KiB).
//
// Backward (Dao 2023, Algorithm 2, with dQ by its own kernel instead of
// atomics), per slice n, with lse2_i = log2(e) lse_i, c = log2(e) scale and
// D_i = rowsum(dO_i * O_i) (computed by attention.cu):
//   p_ij  = 2^(c q_i.k_j - lse2_i)        (0 where causal excludes j > i, and past L or S)
//   dp_ij = dO_i . v_j,   ds_ij = p_ij (dp_ij - D_i)
//   dV_j = sum_i p_ij dO_i,   dK_j = scale sum_i ds_ij q_i,   dQ_i = scale sum_j ds_ij k_j
//  - fa2_dkdv_kernel: one CTA of 4 warps per (slice, 64 keys), warp w owns
//    keys 16w..16w+15. For each 64-query tile it forms the transposed tiles
//    s^T = K Q^T and dp^T = V dO^T (16 x 64 per warp), turns them into p^T
//    and ds^T in registers, and accumulates dV += p^T dO and dK += ds^T Q
//    with p^T and ds^T as A fragments straight from the accumulators (the
//    forward's trick for P). K and V stay resident in shared memory; Q and
//    dO tiles, with their lse and D entries, stream double buffered with
//    cp.async. Causal: only the query tiles i0 >= j0 (the first key tiles
//    see the most queries and are issued first).
//  - fa2_dq_kernel: one CTA per (slice, 64 queries), warp w owns queries
//    16w..: s = Q K^T, dp = dO V^T, dQ += ds K, with Q and dO resident and
//    K, V streamed.
//  Every output element is owned by one thread and summed in a fixed order:
//  deterministic. Kernel 2 recomputes s and dp: 14 N L S D FLOPs in all
//  against FA2's 10 with an atomic dQ. p and ds are rounded to 16 bits
//  before they multiply dO, Q or K, as in the general tensor-core backward.
//  Registers per thread (D = 128): accumulators 2 x 64 (kernel 1) or 64
//  floats, s and dp 2 x 32; operand fragments are loaded from shared memory
//  as they are used. Shared memory: 6 tiles of 64 x D 16-bit (48 / 96 KiB)
//  plus 2 x 2 x 64 floats.
//  Status: CudaAttentionFa2Backward.* passed on an H100 (2026-11-27) and on
//  every H200 lease since; on by default where the wgmma backward does not
//  apply (before sm_90) since 2026-11-28 (fa2_backward_switch).
#include "cuda/kernels/attention_fa2.h"
#include "cuda/kernels/attention_dq_layout.h"
#include "cuda/kernels/attention_grid.h"
#include "cuda/kernels/attention_mask.h"
#include "cuda/kernels/attention_tma_map.h"
#include "cuda/kernels/cp_async.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "cuda/kernels/device_types.cuh"
#include "cuda/kernels/gemm_sm90.h"
#include "cuda/kernels/tma.cuh"
#include "cuda/kernels/wgmma.cuh"
#include "cuda/runtime.h"
#include "ops/attention_slices.h"
#include "ops/creation.h"

namespace wick::cuda {

namespace {

constexpr char kOp[] = "scaled_dot_product_attention";
constexpr int kBr = 64;  // query rows per CTA (16 per warp)
constexpr int kBc = 64;  // keys per tile
constexpr int kThreads = 128;

OptInSwitch& fa2_switch() {
  static OptInSwitch s("WICK_CUDA_ATTENTION_FA2", /*default_on=*/true);
  return s;
}

// 128-row query tiles (kM = 2) for head dim 64, where the wgmma forward does
// not apply: on since CudaAttentionFa2.*Rows128* passed on an H100.
OptInSwitch& fa2_rows128_switch() {
  static OptInSwitch s("WICK_CUDA_ATTENTION_FA2_ROWS128", /*default_on=*/true);
  return s;
}

// The mma.sync backward's fused variant (dQ by atomics in the dK/dV kernel):
// its tests passed on an H100 (0.366 ms fwd+bwd against 0.392 unfused), off
// since the wgmma backward replaces it on sm_90.
OptInSwitch& fa2_fused_dq_switch() {
  static OptInSwitch s("WICK_CUDA_ATTENTION_FA2_BWD_FUSED");
  return s;
}

// The mma.sync backward at head dim 128 too (fa2_dkdv_kernel / fa2_dq_kernel<T, 128>): opt-in
// (WICK_CUDA_ATTENTION_FA2_BWD_HD128=1); why, and why it had been off, in attention_fa2.h
// (set_attention_fa2_backward_hd128). ptxas: the dK/dV kernel 255 registers, 128-132 bytes spilled
// (sm_80, sm_90a); the dQ kernel 243-246.
OptInSwitch& fa2_bwd_hd128_switch() {
  static OptInSwitch s("WICK_CUDA_ATTENTION_FA2_BWD_HD128");
  return s;
}
std::atomic<int64_t> fa2_bwd_hd128_launches{0};

// The forward on wgmma (wgmma_forward_kernel): on since CudaAttentionFa2.Wgmma*
// passed on an H100 and timed faster than the mma.sync kernels.
OptInSwitch& wgmma_fwd_switch() {
  static OptInSwitch s("WICK_CUDA_ATTENTION_WGMMA_FWD", /*default_on=*/true);
  return s;
}

// The fused backward on wgmma (wgmma_bwd_kernel): on since
// CudaAttentionFa2Backward.Wgmma* passed on an H100 and timed faster.
OptInSwitch& wgmma_bwd_switch() {
  static OptInSwitch s("WICK_CUDA_ATTENTION_WGMMA_BWD", /*default_on=*/true);
  return s;
}

// The pipelined wgmma forward (wgmma_forward_pipe_kernel): off, timed slower
// than the serial kernel on an H200 (0.086 ms against 0.082, 2026-11-28).
OptInSwitch& wgmma_pipe_switch() {
  static OptInSwitch s("WICK_CUDA_ATTENTION_WGMMA_PIPE");
  return s;
}

// The lean wgmma forward (wgmma_forward_kernel<T, true>): off; passed its
// tests on an H200 (2026-11-28), whose host-bound wall clock could not rank it
// (gpu_check's ncu-attn times its kernel next).
OptInSwitch& wgmma_lean_switch() {
  static OptInSwitch s("WICK_CUDA_ATTENTION_WGMMA_LEAN");
  return s;
}
std::atomic<int64_t> wgmma_lean_launches{0};

// The warp-specialized wgmma forward (wgmma_forward_ws_kernel): off; passed
// CudaAttentionFa2.WgmmaWs* on an H200 (2026-11-28) but its kernel was slower
// there (GPT-2's causal forward, Nsight Compute: 77 us against 71-73).
OptInSwitch& wgmma_ws_switch() {
  static OptInSwitch s("WICK_CUDA_ATTENTION_WGMMA_WS");
  return s;
}
std::atomic<int64_t> wgmma_ws_launches{0};

// The wgmma forward loading its tiles by TMA (wgmma_forward_tma_kernel): on
// since CudaAttentionFa2.WgmmaFwdTma* passed on an H200 (2026-11-28, the
// third lease), where GPT-2's causal forward took 0.045-0.048 ms against the
// serial kernel's 0.059-0.068 in three interleaved runs of
// bench_cuda_attention (=0: the serial kernel, or the lean one where chosen).
OptInSwitch& wgmma_fwd_tma_switch() {
  static OptInSwitch s("WICK_CUDA_ATTENTION_WGMMA_FWD_TMA", /*default_on=*/true);
  return s;
}
std::atomic<int64_t> wgmma_fwd_tma_launches{0};

// The wgmma backward with dQ overlapped (wgmma_bwd_kernel<T, true>): off,
// passed its test but timed slower on an H200 (fwd+bwd 0.353 ms against 0.346).
OptInSwitch& wgmma_bwd_pipe_switch() {
  static OptInSwitch s("WICK_CUDA_ATTENTION_WGMMA_BWD_PIPE");
  return s;
}

// The wgmma backward staging each query tile's lse and D by cp.async, at 3
// CTAs per SM (wgmma_bwd_kernel<T, false, true>): off; passed its tests on an
// H200 (2026-11-28), not yet timed apart from the host. The TMA backward
// below, on by default, includes its staging.
OptInSwitch& wgmma_bwd_rows_async_switch() {
  static OptInSwitch s("WICK_CUDA_ATTENTION_WGMMA_BWD_ROWS_ASYNC");
  return s;
}
std::atomic<int64_t> wgmma_bwd_rows_async_launches{0};

// The wgmma backward adding each tile's dQ part by the copy engine's bulk
// reduction instead of atomics (wgmma_bwd_kernel<T, false, *, true>): on since
// CudaAttentionFa2Backward.WgmmaDqBulk* passed on an H200 (2026-11-28), where
// GPT-2's causal fwd+bwd took 0.716 ms against 0.744 with atomics (=0: atomics).
OptInSwitch& wgmma_bwd_dq_bulk_switch() {
  static OptInSwitch s("WICK_CUDA_ATTENTION_WGMMA_BWD_DQ_BULK", /*default_on=*/true);
  return s;
}
std::atomic<int64_t> wgmma_bwd_dq_bulk_launches{0};

// The wgmma backward loading Q and dO tiles by TMA and lse and D by cp.async
// onto mbarriers (wgmma_bwd_tma_kernel): on since CudaAttentionFa2Backward.WgmmaTma*
// passed on an H200 (2026-11-28), where its kernel with bulk dQ took 144 us
// against the earlier default's 192-195 (Nsight Compute, GPT-2's causal
// backward; =0: every thread's copies, as before).
OptInSwitch& wgmma_bwd_tma_switch() {
  static OptInSwitch s("WICK_CUDA_ATTENTION_WGMMA_BWD_TMA", /*default_on=*/true);
  return s;
}
std::atomic<int64_t> wgmma_bwd_tma_launches{0};

// The wgmma forward (serial and lean) and backward kernels' grids in LPT
// order (attention_grid.h: the slices fastest within sections sized for L2):
// on since CudaAttentionFa2*.LptOrder* passed on an H200 (2026-11-28, the
// third lease), where GPT-2's causal fwd+bwd took 0.208-0.209 ms against
// 0.226-0.229 in slices-slowest order, and 0.204-0.206 with the TMA forward
// (three interleaved runs of bench_cuda_attention; =0: slices slowest). (The
// TMA forward always takes that order.)
OptInSwitch& lpt_switch() {
  static OptInSwitch s("WICK_CUDA_ATTENTION_LPT", /*default_on=*/true);
  return s;
}
std::atomic<int64_t> lpt_launches{0};

// Slices per section of the LPT grid order (attention_grid.h) on `device`, unless set_attention_lpt_section
// fixed it.
std::atomic<int64_t> lpt_section_fixed{0};
int64_t lpt_section(int64_t slices, int64_t slice_bytes, int device) {
  const int64_t fixed = lpt_section_fixed.load(std::memory_order_relaxed);
  if (fixed > 0) return std::min(fixed, slices);  // (attention_grid::cell takes widths up to the slices)
  return attention_grid::section_width(slices, slice_bytes, device_properties(device).l2CacheSize);
}

// The mma.sync FlashAttention-2 backward at head dim 64 (two kernels: dK and dV, then dQ; no atomics),
// where the wgmma backward does not apply (before sm_90, or its switch off): on by default since 2026-11-28.
// Its tests passed on an H100 (2026-11-27) and on every H200 lease since, with every opt-in path at once
// too; on the H100, with the wgmma backward off, GPT-2's causal forward + backward took 0.392 ms against
// the general tensor-core backward's 1.195 (bench/README.md). It had stayed off only because the wgmma
// backward takes its place on sm_90, which left A100-class GPUs on the general backward.
OptInSwitch& fa2_backward_switch() {
  static OptInSwitch s("WICK_CUDA_ATTENTION_FA2_BWD", /*default_on=*/true);
  return s;
}

constexpr float kLog2e = 1.4426950408889634f;

// Element offset of 16-byte chunk c of row r in a swizzled [64, kD] tile.
template <int kD>
__device__ __forceinline__ int swz(int r, int c) {
  return r * kD + ((c ^ (r & 7)) << 3);
}

// 2^x on the special-function unit alone (ex2.approx.ftz: one MUFU.EX2).
// exp2f without --use_fast_math is ex2.approx.f32, which keeps subnormal
// results by scaling around that unit (x < -126: 2^(x/2) squared): a compare
// and two predicated multiplies more per exponential, on the softmax's issue
// path that bounds the forward. For x >= -126 both are the same MUFU.EX2,
// bit for bit; below, this gives 0 instead of a subnormal, a weight under
// 2^-126 of the row's largest (1), which no float32 row sum resolves. -inf
// still gives 0.
__device__ __forceinline__ float exp2_ftz(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// 16 bytes global -> shared (cp_async.cuh), zero-filled when !valid (src is then not read).
__device__ __forceinline__ void cp_async16_or_zero(void* dst, const void* src, bool valid) {
  cp_async16(smem_addr(dst), src, valid ? 16 : 0);
}

// The CTA's (slice, block): kLpt, in LPT order with sections of `section`
// slices (attention_grid.h); else slices slowest, spelled as the kernels
// always spelled it. (A template argument, not a runtime one, so that the
// kernels without it compile as before: with either order at run time, n's
// unknown range cost the wgmma loops 3-4 SASS instructions a tile, and a
// 32-bit form of the LPT arithmetic the serial forward 26 registers.)
template <bool kLpt>
__device__ __forceinline__ attention_grid::Cell grid_cell(int64_t blocks, [[maybe_unused]] int64_t section) {
  attention_grid::Cell c;
  if constexpr (kLpt)
    c = attention_grid::cell(blockIdx.x, gridDim.x, blocks, section);
  else
    c = {blockIdx.x / blocks, blockIdx.x % blocks};
  // (Neither is negative: said so, divisions of offsets built from them stay shifts.)
  __builtin_assume(c.slice >= 0);
  __builtin_assume(c.block >= 0);
  return c;
}

// A [64, kD] tile whose row 0 is at src (rows ld elements apart, each row's
// kD elements adjacent, 16-byte aligned) into the swizzled dst; rows >=
// rows_valid are zero.
template <int kD, typename T>
__device__ __forceinline__ void load_tile_async(T* __restrict__ dst, const T* __restrict__ src, int64_t ld,
                                                int64_t rows_valid) {
  // Thread x copies chunk c = x % kChunks of rows r0 + kStep i (r0 = x / kChunks): the copies of
  // for (idx = x; idx < 64 kChunks; idx += kThreads), unrolled (the compiler cannot tell x < 128,
  // so that loop stayed a loop), the source stepped by kStep rows, the row bound in 32 bits.
  // kStep is a multiple of 8, so the swizzle's r & 7 is r0's for every i. The empty asm volatile
  // statements keep the source a running sum: ld opaque, so that no offset is hoisted out of the
  // callers' key-tile loops into registers (the wgmma forward: about 120 registers instead of 94,
  // 4 CTAs per SM instead of 5), and each step one 64-bit add rather than a fresh 64-bit product.
  constexpr int kChunks = kD / 8, kStep = kThreads / kChunks;
  static_assert(kThreads % kChunks == 0 && kStep % 8 == 0 && 64 % kStep == 0, "whole swizzle atoms per step");
  asm volatile("" : "+l"(ld));
  const int r0 = threadIdx.x / kChunks, c = threadIdx.x % kChunks;
  const T* s = src + r0 * ld + c * 8;
  T* d = dst + swz<kD>(r0, c);
  const int rows = (rows_valid <= 0 ? 0 : rows_valid >= 64 ? 64 : static_cast<int>(rows_valid)) - r0;
#pragma unroll
  for (int i = 0; i < 64 / kStep; ++i) {
    const bool ok = kStep * i < rows;
    cp_async16_or_zero(d + kStep * kD * i, ok ? s : src, ok);
    s += kStep * ld;
    asm volatile("" : "+l"(s));
  }
}

__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldsm_x4_trans(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}

// c += a b, m16n8k16, a row-major 16 x 16, b column-major 16 x 8, c float.
template <typename T>
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

// One key tile of the forward's online softmax for a thread's two rows
// (row0, row0 + 8) of a 16-row fragment: s (the tile's scores, C fragments
// of keys j0 + 8 nb ..) scaled into the log2 domain and masked where
// need_mask (keys past S, or past the row when causal); the running row max
// m and sum l updated (the sum stays a per-thread partial, reduced in the
// epilogue); o rescaled; p = 2^(s - max) rounded into pf, the A fragments of
// P V (the C fragment of keys 8nb.. is the k-half (nb & 1) of A block nb / 2).
// Shared by the mma.sync and the wgmma forward (same accumulator layout).
// online_softmax_stats is all of it but o's rescaling, whose factors it
// returns in alpha (the pipelined wgmma forward rescales o later, once the
// previous tile's P V, in flight meanwhile, has landed); rescale_rows does it.
//
// kLean (the lean wgmma forward, scale_log2 > 0 only): s holds the raw
// scores; their row max is taken unscaled (x -> round(c x) is monotonic for
// c > 0, so it is the max of the scaled scores) and each exponent is one
// fma, p = 2^(c s - m), instead of a multiply and a subtraction; the row
// sums are left to the caller (l untouched), which has the tensor cores add
// the rounded p (wgmma_forward_kernel).
template <typename T, bool kLean = false>
__device__ __forceinline__ void online_softmax_stats(float (&s)[kBc / 8][4], float (&m)[2], float (&l)[2],
                                                     float (&alpha)[2], uint32_t (&pf)[kBc / 16][4], int64_t j0,
                                                     int64_t row0, int64_t S, bool causal, bool need_mask,
                                                     float scale_log2, int t) {
  constexpr int kNB = kBc / 8;
  const attention_mask::RowMask mask(j0, row0, S, causal);  // key j0 + 8 nb + 2 t + (e & 1), row row0 + 8 (e >> 1)
#pragma unroll
  for (int nb = 0; nb < kNB; ++nb)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      if constexpr (!kLean) s[nb][e] *= scale_log2;
      if (need_mask) {
        if (mask.masked(8 * nb + 2 * t + (e & 1), e >> 1)) s[nb][e] = -INFINITY;
      }
    }
  float mx[2] = {kLean ? -INFINITY : m[0], kLean ? -INFINITY : m[1]};
#pragma unroll
  for (int nb = 0; nb < kNB; ++nb) {
    mx[0] = fmaxf(mx[0], fmaxf(s[nb][0], s[nb][1]));
    mx[1] = fmaxf(mx[1], fmaxf(s[nb][2], s[nb][3]));
  }
  float mu[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
    mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
    if constexpr (kLean) mx[r] = fmaxf(m[r], __fmul_rn(mx[r], scale_log2));  // -inf stays -inf (c > 0)
    // Every key so far masked: subtract 0, not -inf (p = 0, not NaN).
    mu[r] = mx[r] == -INFINITY ? 0.f : mx[r];
    alpha[r] = exp2_ftz(m[r] - mu[r]);  // 0 when m was -inf (l, o are 0 then)
    m[r] = mx[r];
  }
  auto pexp = [&](float x, float u) { return kLean ? exp2_ftz(__fmaf_rn(x, scale_log2, -u)) : exp2_ftz(x - u); };
  float rs[2] = {0.f, 0.f};
#pragma unroll
  for (int nb = 0; nb < kNB; ++nb) {
    const float p0 = pexp(s[nb][0], mu[0]), p1 = pexp(s[nb][1], mu[0]);
    const float p2 = pexp(s[nb][2], mu[1]), p3 = pexp(s[nb][3], mu[1]);
    if constexpr (!kLean) {
      rs[0] += p0 + p1;
      rs[1] += p2 + p3;
    }
    pf[nb / 2][(nb & 1) * 2 + 0] = pack2<T>(p0, p1);
    pf[nb / 2][(nb & 1) * 2 + 1] = pack2<T>(p2, p3);
  }
  if constexpr (!kLean) {
#pragma unroll
    for (int r = 0; r < 2; ++r) l[r] = l[r] * alpha[r] + rs[r];
  }
}
// o's rows (row0: elements 0, 1 of each C fragment; row0 + 8: 2, 3) times alpha.
template <int kOB>
__device__ __forceinline__ void rescale_rows(float (&o)[kOB][4], const float (&alpha)[2]) {
#pragma unroll
  for (int b = 0; b < kOB; ++b) {
    o[b][0] *= alpha[0];
    o[b][1] *= alpha[0];
    o[b][2] *= alpha[1];
    o[b][3] *= alpha[1];
  }
}
template <typename T, int kOB>
__device__ __forceinline__ void online_softmax_tile(float (&s)[kBc / 8][4], float (&m)[2], float (&l)[2],
                                                    float (&o)[kOB][4], uint32_t (&pf)[kBc / 16][4], int64_t j0,
                                                    int64_t row0, int64_t S, bool causal, bool need_mask,
                                                    float scale_log2, int t) {
  float alpha[2];
  online_softmax_stats<T>(s, m, l, alpha, pf, j0, row0, S, causal, need_mask, scale_log2, t);
  rescale_rows(o, alpha);
}

// Fragment coordinates (PTX ISA, mma.m16n8k16): lane = 4 g + t.
//   A (16 x 16): a0 (g, 2t..2t+1), a1 (g+8, 2t..), a2 (g, 2t+8..), a3 (g+8, 2t+8..)
//   B (16 x 8):  b0 (k 2t..2t+1, n g), b1 (k 2t+8.., n g)
//   C (16 x 8):  c0, c1 (g, 2t..2t+1), c2, c3 (g+8, 2t..2t+1)
// kM: 16-row fragments per warp, so a CTA takes 64 kM query rows and warp w
// owns rows 16 kM w .. 16 kM (w + 1) - 1. Each K and V fragment read from
// shared memory then feeds kM mma's instead of one (kM = 2 is FA2's 128-row
// tile for head dim 64: half the ldmatrix traffic per mma, twice the
// independent accumulator chains, and the per-tile costs (barriers, copies,
// max shuffles) spread over twice the rows).
template <typename T, int kD, int kM>
__global__ void __launch_bounds__(kThreads)
    fa2_forward_kernel(const Slices<const T> q, const Slices<const T> k, const Slices<const T> v, const Slices<T> out,
                       float* __restrict__ lse, int64_t L, int64_t S, float scale_log2, bool causal) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  __trap();  // the host takes this kernel on sm_80+ only
#else
  constexpr int kRows = kBr * kM;  // query rows per CTA
  constexpr int kKB = kD / 16;     // k-blocks of Q K^T
  constexpr int kNB = kBc / 8;     // n-blocks (8 keys) of S
  constexpr int kPB = kBc / 16;    // k-blocks of P V
  constexpr int kOB = kD / 8;      // n-blocks (8 dims) of O
  constexpr int kTile = 64 * kD;
  static_assert(kKB % 2 == 0 && kOB % 2 == 0, "head dim must be a multiple of 32");
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* Qs = reinterpret_cast<T*>(smem_raw);
  T* Ks = Qs + kM * kTile;  // 2 buffers
  T* Vs = Ks + 2 * kTile;   // 2 buffers

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int64_t qblocks = (L + kRows - 1) / kRows;
  const int64_t n = blockIdx.x / qblocks;
  const int64_t i0 = (qblocks - 1 - blockIdx.x % qblocks) * kRows;
  const T* __restrict__ qn = q.row(n, 0);
  const T* __restrict__ kn = k.row(n, 0);
  const T* __restrict__ vn = v.row(n, 0);
  const int64_t jend = causal ? min(S, i0 + kRows) : S;  // keys past jend are masked for every row
  const int64_t ntiles = (jend + kBc - 1) / kBc;

  // Two copy groups: Q, then key tile 0 (empty when S == 0).
#pragma unroll
  for (int mi = 0; mi < kM; ++mi) {  // Q tile mi: rows i0 + 64 mi .. (none past L: src is not read then)
    const int64_t qi = i0 + 64 * mi;
    load_tile_async<kD>(Qs + mi * kTile, mi == 0 || qi < L ? qn + qi * q.ld() : qn, q.ld(), L - qi);
  }
  cp_async_commit();
  if (ntiles > 0) {
    load_tile_async<kD>(Ks, kn, k.ld(), S);
    load_tile_async<kD>(Vs, vn, v.ld(), S);
  }
  cp_async_commit();
  cp_async_wait<1>();  // Q is in (tile 0 may still be in flight)
  __syncthreads();
  // This warp's 16 kM Q rows as A fragments, for the whole loop. The kM Q
  // tiles are one swizzled [64 kM, kD] tile: swz(64 mi + r, c) is tile mi's
  // swz(r, c) plus mi * kTile, as (64 mi + r) & 7 == r & 7.
  uint32_t qf[kM][kKB][4];
#pragma unroll
  for (int mi = 0; mi < kM; ++mi)
#pragma unroll
    for (int kb = 0; kb < kKB; ++kb)
      ldsm_x4(qf[mi][kb], Qs + swz<kD>(16 * (kM * warp + mi) + (lane & 15), 2 * kb + (lane >> 4)));

  // Rows of this thread: i0 + 16 (kM warp + mi) + g (+ 8).
  const int64_t row0 = i0 + 16 * kM * warp + g;
  float o[kM][kOB][4];
#pragma unroll
  for (int mi = 0; mi < kM; ++mi)
#pragma unroll
    for (int b = 0; b < kOB; ++b) o[mi][b][0] = o[mi][b][1] = o[mi][b][2] = o[mi][b][3] = 0.f;
  float m[kM][2], l[kM][2];
#pragma unroll
  for (int mi = 0; mi < kM; ++mi) m[mi][0] = m[mi][1] = -INFINITY, l[mi][0] = l[mi][1] = 0.f;

  for (int64_t tile = 0; tile < ntiles; ++tile) {
    const int buf = static_cast<int>(tile & 1);
    const int64_t j0 = tile * kBc;
    if (tile + 1 < ntiles) {  // prefetch the next tile into the other buffer
      const int64_t jn = j0 + kBc;
      load_tile_async<kD>(Ks + (buf ^ 1) * kTile, kn + jn * k.ld(), k.ld(), S - jn);
      load_tile_async<kD>(Vs + (buf ^ 1) * kTile, vn + jn * v.ld(), v.ld(), S - jn);
      cp_async_commit();
      cp_async_wait<1>();  // all but the newest group: this tile is in
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const T* Kb = Ks + buf * kTile;
    const T* Vb = Vs + buf * kTile;

    // s = Q K^T (16 kM x 64 per warp).
    float s[kM][kNB][4];
#pragma unroll
    for (int mi = 0; mi < kM; ++mi)
#pragma unroll
      for (int nb = 0; nb < kNB; ++nb) s[mi][nb][0] = s[mi][nb][1] = s[mi][nb][2] = s[mi][nb][3] = 0.f;
#pragma unroll
    for (int kp = 0; kp < kKB; kp += 2) {
#pragma unroll
      for (int nb = 0; nb < kNB; ++nb) {
        // Matrices: keys 8nb..8nb+7 x dims 16kp + (0, 8, 16, 24) .. +7.
        uint32_t b[4];
        ldsm_x4(b, Kb + swz<kD>(8 * nb + (lane & 7), 2 * kp + (lane >> 3)));
#pragma unroll
        for (int mi = 0; mi < kM; ++mi) {
          mma16816<T>(s[mi][nb], qf[mi][kp], b[0], b[1]);
          mma16816<T>(s[mi][nb], qf[mi][kp + 1], b[2], b[3]);
        }
      }
    }

    // Scale into the log2 domain; mask only the tiles that cross S or the diagonal.
    const bool need_mask = j0 + kBc > S || (causal && j0 + kBc - 1 > i0);
    uint32_t pf[kM][kPB][4];  // P as A fragments of P V
#pragma unroll
    for (int mi = 0; mi < kM; ++mi)
      online_softmax_tile<T, kOB>(s[mi], m[mi], l[mi], o[mi], pf[mi], j0, row0 + 16 * mi, S, causal, need_mask,
                                  scale_log2, t);

    // o += P V (16 kM x D per warp).
#pragma unroll
    for (int kb = 0; kb < kPB; ++kb) {
#pragma unroll
      for (int ob = 0; ob < kOB; ob += 2) {
        // Matrices (transposed): keys 16kb + (0, 8) x dims 8ob.., then 8(ob+1)..
        uint32_t b[4];
        ldsm_x4_trans(b, Vb + swz<kD>(16 * kb + (lane & 7) + ((lane >> 3) & 1) * 8, ob + (lane >> 4)));
#pragma unroll
        for (int mi = 0; mi < kM; ++mi) {
          mma16816<T>(o[mi][ob], pf[mi][kb], b[0], b[1]);
          mma16816<T>(o[mi][ob + 1], pf[mi][kb], b[2], b[3]);
        }
      }
    }
    __syncthreads();  // every warp is done with buffer buf before it is refilled
  }

  // Epilogue: full row sums, O / l (0 / 0 = NaN for a row with no key, as
  // the composed softmax), lse = ln 2 * m + ln l (-inf then).
  const SliceRows<T> on = out.slice(n);
#pragma unroll
  for (int mi = 0; mi < kM; ++mi) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      l[mi][r] += __shfl_xor_sync(0xffffffffu, l[mi][r], 1);
      l[mi][r] += __shfl_xor_sync(0xffffffffu, l[mi][r], 2);
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int64_t i = row0 + 16 * mi + 8 * r;
      if (i >= L) continue;
      const float inv = 1.f / l[mi][r];
      T* orow = on.row(i);
#pragma unroll
      for (int b = 0; b < kOB; ++b)
        *reinterpret_cast<uint32_t*>(orow + 8 * b + 2 * t) =
            pack2<T>(o[mi][b][2 * r] * inv, o[mi][b][2 * r + 1] * inv);
      if (t == 0) lse[n * L + i] = m[mi][r] * 0.69314718055994531f + logf(l[mi][r]);
    }
  }
#endif
}

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// s = Q K^T for a warpgroup's 64 query rows and a 64-key tile (head dim 64),
// waited for: q_desc the K-major Q tile's descriptor, k_desc + k_bytes the K
// tile's (a k16 step 32 bytes on, desc_add); this warp's 16 rows in the
// accumulators. The serial and the warp-specialized wgmma forwards' first
// product.
template <bool kBf16>
__device__ __forceinline__ void wgmma_scores(float (&s)[32], uint64_t q_desc, uint64_t k_desc, uint32_t k_bytes) {
  using namespace sm90;
#pragma unroll
  for (int i = 0; i < 32; ++i) s[i] = 0.f;
  wgmma_fence();
  fence_operands(s);
#pragma unroll
  for (int s16 = 0; s16 < 4; ++s16)
    wgmma_m64n64k16_ss<kBf16, 0, 0>(s, desc_add(q_desc, 32 * s16), desc_add(k_desc, k_bytes + 32 * s16));
  wgmma_commit();
  fence_operands(s);
  wgmma_wait<0>();
  fence_operands(s);
}

// The wgmma forwards' epilogue for a thread's two rows (row0, row0 + 8): the
// row sums reduced over the quad (kReduceL; the lean kernel's are whole
// already), o / l rounded into the output rows, and lse = m ln 2 + ln l
// (lse_n: the slice's L values).
template <typename T, bool kReduceL = true>
__device__ __forceinline__ void wgmma_forward_store(const SliceRows<T>& on, float* __restrict__ lse_n, int64_t L,
                                                    int64_t row0, int t, const float (&m)[2], float (&l)[2],
                                                    const float (&o)[32]) {
  constexpr int kOB = 8;
  if constexpr (kReduceL) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
      l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
    }
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int64_t i = row0 + 8 * r;
    if (i >= L) continue;
    const float inv = 1.f / l[r];
    T* orow = on.row(i);
#pragma unroll
    for (int b = 0; b < kOB; ++b)
      *reinterpret_cast<uint32_t*>(orow + 8 * b + 2 * t) = pack2<T>(o[4 * b + 2 * r] * inv, o[4 * b + 2 * r + 1] * inv);
    // Rounded product, then the sum: left to itself the compiler fused the two into an fma in the
    // pipelined kernel but not in the serial one, 1 ulp apart on an H200 (their lse must be equal).
    if (t == 0) lse_n[i] = __fadd_rn(__fmul_rn(m[r], 0.69314718055994531f), logf(l[r]));
  }
}
#endif

// The forward on Hopper's warpgroup MMA (sm_90a, head dim 64; opt-in
// WICK_CUDA_ATTENTION_WGMMA_FWD): fa2_forward_kernel<T, 64, 1>'s tiles, copies,
// masks and online softmax, with its two products as wgmma m64n64k16 on the
// CTA's one warpgroup (warp w: rows 16 w .., the mma.sync kernel's rows):
//   s  = Q K^T   A = the Q tile, B = the K tile, both K-major in shared memory
//   o += P V     A = P from registers (the s accumulators rounded in pairs),
//                B = the V tile read MN-major (its rows are the k = keys)
// so no operand goes through ldmatrix or Q fragments through registers. The
// tiles' swizzle (swz<64>) is wgmma's 128-byte one on 1024-aligned tiles
// (cuda/kernels/wgmma.cuh). Shared memory: Q, 2 K, 2 V (5 x 8 KiB) + 1 KiB
// of alignment slack.
//
// kLean (set_attention_wgmma_lean, opt-in; scale > 0): fewer instructions per
// score in the softmax, which Nsight Compute found the forward bound by
// (issue slots, an H200, 2026-11-28): the scale folded into each exponent's
// fma (online_softmax_stats<T, true>), and the row sums l computed by the
// tensor cores beside the P V product: P times a 64 x 8 tile of ones (2 KiB
// more shared memory), four m64n8k16 per key tile, whose
// accumulators are rescaled with o's. l is then the sum of the rounded P
// that the product uses (the output's weights sum to 1 exactly as used),
// not of the float32 p: l moves by up to the unit roundoff, 2^-8 (bf16;
// 2^-11 fp16) relatively, lse by as much absolutely, in the worst case. Saves per thread and key tile 32 multiplies,
// 32 adds and the quad reductions, for 4 small MMAs and 4 multiplies.
//
// kTma (opt-in WICK_CUDA_ATTENTION_WGMMA_FWD_TMA; wgmma_forward_tma_kernel):
// the Q, K and V tiles come by the bulk tensor copy engine
// (cuda/kernels/tma.cuh), as the TMA backward's Q and dO do: thread 0 issues
// Q with key tile 0's K and V onto the mbarrier full[0], and at the top of
// each tile the next key tile's two boxes into the other buffer onto
// full[buffer], which the tile before released with its final CTA barrier;
// use u of full[b] (tiles b, b + 2, ...) has parity u & 1. Each tile then
// starts with one barrier wait instead of every thread's 16-byte copies with
// their addresses and bounds (about 95 of the about 416 SASS instructions per
// warp and key tile), a cp.async wait, a proxy fence and a CTA barrier; the
// copy engine zero-fills the rows past L and S as the copies did. Same
// occupancy as the copies' kernel (5 CTAs per SM), unlike the
// warp-specialized forward (2, by registers: 7% slower on an H200). The same
// products of the same tiles: out and lse bit for bit the copies' kernel's
// (with kLean, the lean kernel's). Its grid takes the slices fastest, so every
// slice's heaviest causal query blocks run before any slice's lighter ones.
constexpr size_t kWgmmaFwdSmem = size_t(5) * 64 * 64 * 2 + 1024;
constexpr size_t kWgmmaOnesBytes = 2048;  // the lean kernel's ones tile (8 rows of 128 bytes read; 2 KiB filled)
constexpr size_t kWgmmaFwdBarriers = 16;  // kTma: full[2], after the tiles (and the ones)

// The tensor maps (make_slices_map) of q, k and v, and their slices' heads
// (slice n is head n % heads of batch n / heads), of the forwards that load
// their tiles by TMA (wgmma_forward_tma_kernel takes them whole; the
// warp-specialized one the maps and WsHeads).
struct FwdMaps {
  CUtensorMap q, k, v;
  int heads_q, heads_k, heads_v;
};

template <typename T, bool kLean, bool kTma, bool kLpt>
__device__ __forceinline__ void wgmma_forward_body(const Slices<const T> q, const Slices<const T> k,
                                                   const Slices<const T> v, const Slices<T> out,
                                                   float* __restrict__ lse, int64_t L, int64_t S, float scale_log2,
                                                   bool causal, int64_t lpt, [[maybe_unused]] const FwdMaps* maps) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using namespace sm90;
  constexpr int kD = 64, kTile = 64 * kD, kNB = kBc / 8, kOB = kD / 8;
  constexpr bool kBf16 = std::is_same_v<T, __nv_bfloat16>;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  const uint32_t raw = smem_addr(smem_raw), pad = ((raw + 1023u) & ~1023u) - raw;
  T* Qs = reinterpret_cast<T*>(smem_raw + pad);
  T* Ks = Qs + kTile;      // 2 buffers
  T* Vs = Ks + 2 * kTile;  // 2 buffers
  [[maybe_unused]] T* Ones = Vs + 2 * kTile;  // kLean: 1024-aligned, every element 1
  float lacc[4] = {0.f, 0.f, 0.f, 0.f};       // kLean: l as the m64n8 accumulators (every column the row sum)
  if constexpr (kLean) {
    static_assert(kWgmmaOnesBytes == kThreads * 16, "one 16-byte store per thread");
    const uint32_t one2 = kBf16 ? 0x3F803F80u : 0x3C003C00u;  // two 1.0 in bf16 / fp16
    reinterpret_cast<uint4*>(Ones)[threadIdx.x] = make_uint4(one2, one2, one2, one2);
    // (made visible to wgmma by the loop's fence_proxy_async and barrier before the first product; kTma: by
    // those before the loop)
  }

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int64_t qblocks = (L + kBr - 1) / kBr;
  // The CTA's slice and query block, each slice's heaviest causal blocks (the last rows, the most key
  // tiles) first; kLpt: in sections of lpt slices, the slices fastest (grid_cell).
  const attention_grid::Cell cell = grid_cell<kLpt>(qblocks, lpt);
  const int64_t n = cell.slice;
  const int64_t i0 = (qblocks - 1 - cell.block) * kBr;
  [[maybe_unused]] const T* __restrict__ kn = k.row(n, 0);
  [[maybe_unused]] const T* __restrict__ vn = v.row(n, 0);
  const int64_t jend = causal ? min(S, i0 + kBr) : S;
  const int64_t ntiles = (jend + kBc - 1) / kBc;

  // kTma: full[b] after the tiles (and the ones); buffer b's K and V boxes on it, key tile 0's with Q's.
  [[maybe_unused]] const uint32_t full0 = smem_addr(Vs + 2 * kTile) + (kLean ? kWgmmaOnesBytes : 0);
  [[maybe_unused]] int hk = 0, bk = 0, hv = 0, bv = 0;  // (head, batch) of slice n in k's and v's maps
  if constexpr (kTma) {
    // (n, i0 < 2^31 and S > 0, so ntiles >= 1: the host's checks.)
    const int ni = static_cast<int>(n);
    hk = ni % maps->heads_k, bk = ni / maps->heads_k, hv = ni % maps->heads_v, bv = ni / maps->heads_v;
    if (threadIdx.x == 0) {
      mbar_init(full0, 1);
      mbar_init(full0 + 8, 1);
      mbar_init_fence();
    }
    if constexpr (kLean) fence_proxy_async();  // the ones tile's stores, visible to wgmma after the barrier
    __syncthreads();  // the barriers initialized before any thread uses them
    if (threadIdx.x == 0) {
      mbar_arrive_expect_tx(full0, 3 * kTile * sizeof(T));
      tma_load_4d(smem_addr(Qs), &maps->q, full0, 0, static_cast<int>(i0), ni % maps->heads_q, ni / maps->heads_q);
      tma_load_4d(smem_addr(Ks), &maps->k, full0, 0, 0, hk, bk);
      tma_load_4d(smem_addr(Vs), &maps->v, full0, 0, 0, hv, bv);
    }
  } else {
    load_tile_async<kD>(Qs, q.row(n, i0), q.ld(), L - i0);
    cp_async_commit();
    if (ntiles > 0) {
      load_tile_async<kD>(Ks, kn, k.ld(), S);
      load_tile_async<kD>(Vs, vn, v.ld(), S);
    }
    cp_async_commit();
  }
  // The operands' descriptors, built once: the K and V tiles of buffer b are b * 8 KiB on, a k16 step
  // 32 bytes (K-major) or 2 KiB (V, MN-major) further (desc_add).
  const uint64_t q_desc = smem_desc(smem_addr(Qs)), k_desc = smem_desc(smem_addr(Ks)),
                 v_desc = smem_desc_mn(smem_addr(Vs));
  [[maybe_unused]] const uint64_t ones_desc = smem_desc(smem_addr(Ones));

  const int64_t row0 = i0 + 16 * warp + g;
  float o[32];
#pragma unroll
  for (int i = 0; i < 32; ++i) o[i] = 0.f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};

  for (int64_t tile = 0; tile < ntiles; ++tile) {
    const int buf = static_cast<int>(tile & 1);
    const int64_t j0 = tile * kBc;
    if constexpr (kTma) {
      // Buffer buf ^ 1 was last read in the previous tile, before its final barrier.
      if (tile + 1 < ntiles && threadIdx.x == 0) {
        const uint32_t bar = full0 + 8 * (buf ^ 1);
        const int row = static_cast<int>(j0 + kBc);
        mbar_arrive_expect_tx(bar, 2 * kTile * sizeof(T));
        tma_load_4d(smem_addr(Ks + (buf ^ 1) * kTile), &maps->k, bar, 0, row, hk, bk);
        tma_load_4d(smem_addr(Vs + (buf ^ 1) * kTile), &maps->v, bar, 0, row, hv, bv);
      }
      mbar_wait_or_trap(full0 + 8 * buf, static_cast<uint32_t>(tile >> 1) & 1u);
    } else {
      if (tile + 1 < ntiles) {
        const int64_t jn = j0 + kBc;
        load_tile_async<kD>(Ks + (buf ^ 1) * kTile, kn + jn * k.ld(), k.ld(), S - jn);
        load_tile_async<kD>(Vs + (buf ^ 1) * kTile, vn + jn * v.ld(), v.ld(), S - jn);
        cp_async_commit();
        cp_async_wait<1>();  // Q (first tile) and this tile are in
      } else {
        cp_async_wait<0>();
      }
      fence_proxy_async();  // this thread's cp.async writes, visible to wgmma after the barrier
      __syncthreads();
    }
    const uint32_t tile_bytes = static_cast<uint32_t>(buf) * kTile * sizeof(T);

    // s = Q K^T (64 x 64; this warp's 16 rows in the accumulators).
    float s[32];
    wgmma_scores<kBf16>(s, q_desc, k_desc, tile_bytes);

    const bool need_mask = j0 + kBc > S || (causal && j0 + kBc - 1 > i0);
    uint32_t pf[kBc / 16][4];
    if constexpr (kLean) {
      float alpha[2];
      online_softmax_stats<T, true>(reinterpret_cast<float(&)[kNB][4]>(s), m, l, alpha, pf, j0, row0, S, causal,
                                    need_mask, scale_log2, t);
      rescale_rows(reinterpret_cast<float(&)[kOB][4]>(o), alpha);
      rescale_rows(reinterpret_cast<float(&)[1][4]>(lacc), alpha);
    } else {
      online_softmax_tile<T, kOB>(reinterpret_cast<float(&)[kNB][4]>(s), m, l, reinterpret_cast<float(&)[kOB][4]>(o),
                                  pf, j0, row0, S, causal, need_mask, scale_log2, t);
    }

    // o += P V (k = the tile's 64 keys, 16 per step: the V tile's rows); kLean: l += P 1 beside it.
    wgmma_fence();
    fence_operands(o);
    if constexpr (kLean) fence_operands(lacc);
    fence_operands(pf);
#pragma unroll
    for (int s16 = 0; s16 < kBc / 16; ++s16) {
      wgmma_m64n64k16_rs<kBf16, 1>(o, pf[s16], desc_add(v_desc, tile_bytes + 2048 * s16));
      // B = the ones as a K-major 8 x 64 tile (one 8-row swizzle atom, 1 KiB; the canonical layout of the
      // Q K^T product's B): every k16 step may read its first 16 k, all ones.
      if constexpr (kLean) wgmma_m64n8k16_rs<kBf16, 0>(lacc, pf[s16], ones_desc);
    }
    wgmma_commit();
    fence_operands(o);
    if constexpr (kLean) fence_operands(lacc);
    wgmma_wait<0>();
    fence_operands(o);
    if constexpr (kLean) fence_operands(lacc);
    fence_operands(pf);
    __syncthreads();  // every warp is done with buffer buf before it is refilled
  }
  // Nothing in flight at exit (S == 0: Q's copy was never waited for; kTma: every box was waited for).
  if constexpr (!kTma) cp_async_wait<0>();
  if constexpr (kLean) {
    l[0] = lacc[0], l[1] = lacc[2];  // (row0: columns 2t, 2t + 1 of the ones product; row0 + 8: elements 2, 3)
    wgmma_forward_store<T, false>(out.slice(n), lse + n * L, L, row0, t, m, l, o);
  } else {
    wgmma_forward_store(out.slice(n), lse + n * L, L, row0, t, m, l, o);
  }
#else
  __trap();  // only the sm_90a pass has wgmma; the host launches this on compute capability 9.0 only
#endif
}

template <typename T, bool kLean, bool kLpt>
__global__ void __launch_bounds__(kThreads)
    wgmma_forward_kernel(const Slices<const T> q, const Slices<const T> k, const Slices<const T> v,
                         const Slices<T> out, float* __restrict__ lse, int64_t L, int64_t S, float scale_log2,
                         bool causal, int64_t lpt) {
  wgmma_forward_body<T, kLean, false, kLpt>(q, k, v, out, lse, L, S, scale_log2, causal, lpt, nullptr);
}

template <typename T, bool kLean>
__global__ void __launch_bounds__(kThreads)
    wgmma_forward_tma_kernel(const __grid_constant__ FwdMaps maps, const Slices<const T> q, const Slices<const T> k,
                             const Slices<const T> v, const Slices<T> out, float* __restrict__ lse, int64_t L,
                             int64_t S, float scale_log2, bool causal, int64_t lpt) {
  wgmma_forward_body<T, kLean, true, true>(q, k, v, out, lse, L, S, scale_log2, causal, lpt, &maps);
}

// The pipelined forward on wgmma (sm_90a, head dim 64; opt-in
// WICK_CUDA_ATTENTION_WGMMA_PIPE): wgmma_forward_kernel's tiles, products and
// softmax, reordered after FlashAttention-3's intra-warpgroup pipelining so
// that the exponentials of key tile j run while the tensor cores multiply
// P_{j-1} V_{j-1}:
//   issue S_j = Q K_j^T, then issue O += P_{j-1} V_{j-1}  (two wgmma groups)
//   wait for S_j; softmax of S_j -> P_j (the other P registers), m, l, alpha_j
//   wait for P_{j-1} V_{j-1}; O *= alpha_j
// and after the last tile O += P_{n-1} V_{n-1}. The rescaling is the same,
// one tile later in time: O holds sum_{i<j} P_i V_i in the frame of m_{j-1}
// when P_{j-1} V_{j-1} lands on it, as in the serial kernel, so the result is
// bit for bit the serial kernel's. K and V have separate double buffers with
// staggered copies: iteration j loads K_{j+1} and V_j (cp.async group j) and
// waits for group j-1 (K_j, V_{j-1}); the buffer each overwrites was last read
// by a product finished in iteration j-1, before its closing barrier.
// Registers: the serial kernel's plus a second set of P operands (16).
template <typename T>
__global__ void __launch_bounds__(kThreads)
    wgmma_forward_pipe_kernel(const Slices<const T> q, const Slices<const T> k, const Slices<const T> v,
                              const Slices<T> out, float* __restrict__ lse, int64_t L, int64_t S, float scale_log2,
                              bool causal) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using namespace sm90;
  constexpr int kD = 64, kTile = 64 * kD, kNB = kBc / 8, kOB = kD / 8, kKS = kBc / 16;
  constexpr bool kBf16 = std::is_same_v<T, __nv_bfloat16>;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  const uint32_t raw = smem_addr(smem_raw), pad = ((raw + 1023u) & ~1023u) - raw;
  T* Qs = reinterpret_cast<T*>(smem_raw + pad);
  T* Ks = Qs + kTile;      // 2 buffers
  T* Vs = Ks + 2 * kTile;  // 2 buffers

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, t = lane & 3;
  const int64_t qblocks = (L + kBr - 1) / kBr;
  const int64_t n = blockIdx.x / qblocks;
  const int64_t i0 = (qblocks - 1 - blockIdx.x % qblocks) * kBr;
  const T* __restrict__ kn = k.row(n, 0);
  const T* __restrict__ vn = v.row(n, 0);
  const int64_t jend = causal ? min(S, i0 + kBr) : S;
  const int64_t ntiles = (jend + kBc - 1) / kBc;
  const int64_t row0 = i0 + 16 * warp + (lane >> 2);
  const uint32_t qs = smem_addr(Qs);

  load_tile_async<kD>(Qs, q.row(n, i0), q.ld(), L - i0);
  cp_async_commit();
  if (ntiles > 0) load_tile_async<kD>(Ks, kn, k.ld(), S);
  cp_async_commit();  // group 0: K_0

  float o[32];
#pragma unroll
  for (int i = 0; i < 32; ++i) o[i] = 0.f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
  uint32_t pa[kKS][4], pb[kKS][4];  // P_{j-1} (read by the product in flight) and P_j

  // Copy group tile + 1: K_{tile+1} (if any) and V_tile; then wait for group tile (K_tile, V_{tile-1}) and make
  // every thread's copies visible to wgmma.
  auto copies = [&](int64_t tile) {
    const int buf = static_cast<int>(tile & 1);
    const int64_t j0 = tile * kBc;
    if (tile + 1 < ntiles)
      load_tile_async<kD>(Ks + (buf ^ 1) * kTile, kn + (j0 + kBc) * k.ld(), k.ld(), S - j0 - kBc);
    load_tile_async<kD>(Vs + buf * kTile, vn + j0 * v.ld(), v.ld(), S - j0);
    cp_async_commit();
    cp_async_wait<1>();
    fence_proxy_async();
    __syncthreads();
  };
  // Issues s = Q K_tile^T as one wgmma group.
  auto qk = [&](float (&s)[32], int64_t tile) {
    const uint32_t kb = smem_addr(Ks + static_cast<int>(tile & 1) * kTile);
#pragma unroll
    for (int s16 = 0; s16 < kD / 16; ++s16)
      wgmma_m64n64k16_ss<kBf16, 0, 0>(s, smem_desc(qs + 32 * s16), smem_desc(kb + 32 * s16));
    wgmma_commit();
  };
  // Issues o += pa V_tile as one wgmma group.
  auto pv = [&](int64_t tile) {
    const uint32_t vb = smem_addr(Vs + static_cast<int>(tile & 1) * kTile);
#pragma unroll
    for (int s16 = 0; s16 < kKS; ++s16) wgmma_m64n64k16_rs<kBf16, 1>(o, pa[s16], smem_desc_mn(vb + 2048 * s16));
    wgmma_commit();
  };
  auto softmax = [&](float (&s)[32], int64_t tile, float (&alpha)[2]) {
    const int64_t j0 = tile * kBc;
    const bool need_mask = j0 + kBc > S || (causal && j0 + kBc - 1 > i0);
    online_softmax_stats<T>(reinterpret_cast<float(&)[kNB][4]>(s), m, l, alpha, pb, j0, row0, S, causal, need_mask,
                            scale_log2, t);
  };

  if (ntiles > 0) {  // tile 0: S_0 and P_0 (O is 0: nothing to rescale)
    copies(0);
    float s[32], alpha[2];
#pragma unroll
    for (int i = 0; i < 32; ++i) s[i] = 0.f;
    wgmma_fence();
    fence_operands(s);
    qk(s, 0);
    fence_operands(s);
    wgmma_wait<0>();
    fence_operands(s);
    softmax(s, 0, alpha);
#pragma unroll
    for (int s16 = 0; s16 < kKS; ++s16)
#pragma unroll
      for (int e = 0; e < 4; ++e) pa[s16][e] = pb[s16][e];
    __syncthreads();  // every warp is done with K_0 before K_2 overwrites it
  }
  for (int64_t tile = 1; tile < ntiles; ++tile) {
    copies(tile);
    float s[32], alpha[2];
#pragma unroll
    for (int i = 0; i < 32; ++i) s[i] = 0.f;
    wgmma_fence();
    fence_operands(s);
    fence_operands(o);
    fence_operands(pa);
    qk(s, tile);
    pv(tile - 1);  // O += P_{tile-1} V_{tile-1}
    fence_operands(s);
    wgmma_wait<1>();  // S_tile is in; P_{tile-1} V_{tile-1} may still run
    fence_operands(s);
    softmax(s, tile, alpha);
    fence_operands(o);
    wgmma_wait<0>();  // P_{tile-1} V_{tile-1} is in: O and pa are free
    fence_operands(o);
    fence_operands(pa);
    rescale_rows(reinterpret_cast<float(&)[kOB][4]>(o), alpha);
#pragma unroll
    for (int s16 = 0; s16 < kKS; ++s16)
#pragma unroll
      for (int e = 0; e < 4; ++e) pa[s16][e] = pb[s16][e];
    __syncthreads();  // every warp is done with K_tile and V_{tile-1} before the next copies overwrite them
  }
  if (ntiles > 0) {  // O += P_{n-1} V_{n-1}: V_{n-1} came with the last group
    cp_async_wait<0>();
    fence_proxy_async();
    __syncthreads();
    wgmma_fence();
    fence_operands(o);
    fence_operands(pa);
    pv(ntiles - 1);
    fence_operands(o);
    wgmma_wait<0>();
    fence_operands(o);
    fence_operands(pa);
  }
  cp_async_wait<0>();  // nothing in flight at exit (S == 0: Q's copy was never waited for)
  wgmma_forward_store(out.slice(n), lse + n * L, L, row0, t, m, l, o);
#else
  __trap();  // only the sm_90a pass has wgmma; the host launches this on compute capability 9.0 only
#endif
}

// The warp-specialized wgmma forward (opt-in WICK_CUDA_ATTENTION_WGMMA_WS;
// sm_90a, head dim 64), after FlashAttention-3's producer/consumer split:
// one CTA per (slice, 128 query rows) = two consumer warpgroups of 64 rows
// each and one producer warp (288 threads). The producer's lane 0 copies the
// Q tiles (of the warpgroups with a row before L) and then, key tile by key
// tile, K and V into a ring of
// kWsStages stages with the bulk tensor copy engine (cuda/kernels/tma.cuh):
// the copy engine writes the 128-byte swizzle the descriptors read and
// zero-fills rows past L or S, so nobody computes an address or a bound per
// copy. Each consumer warpgroup runs wgmma_forward_kernel's loop body on its
// 64 rows against every stage: wait for full[s], S = Q K^T, the online
// softmax, O += P V, and each of its warps releases the stage (empty[s]
// counts 8 arrivals). Against the serial kernel:
//  - the two warpgroups share each K and V tile, so a tile is read from L2
//    once per 128 query rows instead of once per 64;
//  - no cp.async, address arithmetic or proxy fence on the consumers' issue
//    path (the serial forward is issue-bound: Nsight Compute, an H200), and
//    no CTA barrier in the loop: a stage is refilled as soon as both
//    warpgroups are done with it, up to kWsStages - 1 tiles ahead;
//  - o's rescaling skipped on tiles where no row of the warp has a new
//    maximum (it would multiply by exactly 1).
// Each warpgroup multiplies exactly the tiles, in the same order, with the
// same masks and arithmetic, as the serial kernel's CTA at its 64 rows
// (causal: the first warpgroup's keys end 64 earlier; it only waits for and
// releases the CTA's last stage), so out and lse are bit for bit the serial
// kernel's. Phases: key tile j uses stage j % kWsStages for the r-th time, r
// = j / kWsStages; the consumers wait for phase r of full[s] (the copy engine
// completes it), the producer for phase r of empty[s] (phase 0: the
// consumers' initial arrivals, so every stage starts free). A consumer
// arrives on empty[s] for a use only after waiting for that use's full[s],
// which the producer issued after phase r - 1 of empty[s] completed: no
// arrival can count towards the previous phase.
// Registers: __launch_bounds__(288, 2), 2 CTAs (4 consumer warpgroups) per
// SM; ptxas (CUDA 13) allocates 96 per thread and spills 16 bytes in the
// prologue (the bounded barrier waits' clock), none in the loop. Every
// barrier wait traps after 2 s (mbar_wait_or_trap) until the kernel has run
// on a GPU. SASS per consumer warp and unmasked key tile: about 335
// instructions (the serial kernel's about 416, 95 of them its copies; with
// one softmax call instead of two, about 300 more on every tile: see there).
// Shared memory: 2 Q tiles and kWsStages x (K, V) of 8 KiB, 64 KiB, plus the
// barriers and 1 KiB of alignment slack.
constexpr int kWsConsumers = 2;                         // consumer warpgroups, 64 query rows each
constexpr int kWsRows = 64 * kWsConsumers;              // query rows per CTA
constexpr int kWsThreads = 128 * kWsConsumers + 32;     // + the producer warp
constexpr int kWsStages = 3;                            // K, V stages in the ring
constexpr uint32_t kWsTile = 64 * 64 * 2;               // bytes of one [64, 64] 16-bit tile
constexpr uint32_t kWsBarriers = 8 * (1 + 2 * kWsStages);  // q_full, full[s], empty[s]
constexpr size_t kWgmmaWsSmem = size_t(kWsConsumers + 2 * kWsStages) * kWsTile + kWsBarriers + 1024;

// Slice n of q, k or v is (head n % heads, batch n / heads) of its tensor map.
struct WsHeads {
  int q, k, v;
};

template <typename T>
__global__ void __launch_bounds__(kWsThreads, 2)
    wgmma_forward_ws_kernel(const __grid_constant__ CUtensorMap map_q, const __grid_constant__ CUtensorMap map_k,
                            const __grid_constant__ CUtensorMap map_v, const Slices<T> out, float* __restrict__ lse,
                            int64_t L, int64_t S, WsHeads heads, float scale_log2, bool causal) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using namespace sm90;
  constexpr int kNB = kBc / 8, kOB = 64 / 8;
  constexpr bool kBf16 = std::is_same_v<T, __nv_bfloat16>;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  const uint32_t base = (smem_addr(smem_raw) + 1023u) & ~1023u;  // the 128-byte swizzle repeats every 1024 bytes
  const uint32_t q_tiles = base, ring = base + kWsConsumers * kWsTile;  // stage s: K at ring + 2 s kWsTile, V after
  const uint32_t q_full = ring + 2 * kWsStages * kWsTile, full0 = q_full + 8, empty0 = full0 + 8 * kWsStages;

  const int64_t qblocks = (L + kWsRows - 1) / kWsRows;
  const int64_t n = blockIdx.x / qblocks;
  const int64_t i0 = (qblocks - 1 - blockIdx.x % qblocks) * kWsRows;
  const int64_t jend = causal ? min(S, i0 + kWsRows) : S;
  const int ntiles = static_cast<int>((jend + kBc - 1) / kBc);  // S < 2^31 (the host's check)
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;

  if (threadIdx.x == 0) {
    mbar_init(q_full, 1);
    for (int s = 0; s < kWsStages; ++s) {
      mbar_init(full0 + 8 * s, 1);
      mbar_init(empty0 + 8 * s, 4 * kWsConsumers);
    }
    mbar_init_fence();
  }
  __syncthreads();

  if (warp == 4 * kWsConsumers) {  // the producer warp
    if (lane == 0) {
      const int ni = static_cast<int>(n);  // (< 2^31: the grid)
      const int hk = ni % heads.k, bk = ni / heads.k, hv = ni % heads.v, bv = ni / heads.v;
      // The Q tiles of the warpgroups with a row before L (a warpgroup whose rows all lie past L reads none:
      // no copy of a box wholly outside the array).
      const int q_boxes = static_cast<int>(min(int64_t{kWsConsumers}, (L - i0 + 63) / 64));
      mbar_arrive_expect_tx(q_full, q_boxes * kWsTile);
      for (int c = 0; c < q_boxes; ++c)
        tma_load_4d(q_tiles + c * kWsTile, &map_q, q_full, 0, static_cast<int>(i0) + 64 * c, ni % heads.q, ni / heads.q);
      int s = 0;
      uint32_t phase = 0;
      for (int tile = 0; tile < ntiles; ++tile) {
        const uint32_t full = full0 + 8 * s, k_tile = ring + 2 * s * kWsTile;
        mbar_wait_or_trap(empty0 + 8 * s, phase);
        mbar_arrive_expect_tx(full, 2 * kWsTile);
        tma_load_4d(k_tile, &map_k, full, 0, 64 * tile, hk, bk);
        tma_load_4d(k_tile + kWsTile, &map_v, full, 0, 64 * tile, hv, bv);
        if (++s == kWsStages) s = 0, phase ^= 1;
      }
    }
    return;  // (the consumers wait for every copy issued: none is in flight when the CTA ends)
  }

  // A consumer warpgroup: rows r0 .. r0 + 63 of the CTA's 128.
  const int cw = warp >> 2, wq = warp & 3, g = lane >> 2, t = lane & 3;
  if (lane == 0)
    for (int s = 0; s < kWsStages; ++s) mbar_arrive(empty0 + 8 * s);  // every stage starts free
  const int64_t r0 = i0 + 64 * cw, row0 = r0 + 16 * wq + g;
  // The key tiles this warpgroup multiplies (the serial kernel's CTA at r0: causal, keys below r0 + 64);
  // none when its rows all lie past L (it still waits for and releases every stage).
  const int64_t jend_w = r0 >= L ? 0 : causal ? min(S, r0 + 64) : S;
  const int ntiles_w = static_cast<int>((jend_w + kBc - 1) / kBc);
  // The operands' descriptors, built once: stage s's K tile 2 s kWsTile bytes on, its V tile kWsTile
  // further; a k16 step 32 bytes (K-major) or 2 KiB (V, MN-major) further (desc_add).
  const uint64_t q_desc = smem_desc(q_tiles + cw * kWsTile), k_desc = smem_desc(ring),
                 v_desc = smem_desc_mn(ring + kWsTile);

  float o[32];
#pragma unroll
  for (int i = 0; i < 32; ++i) o[i] = 0.f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
  mbar_wait_or_trap(q_full, 0);

  int s = 0;
  uint32_t phase = 0;
  for (int tile = 0; tile < ntiles; ++tile) {
    mbar_wait_or_trap(full0 + 8 * s, phase);
    if (tile < ntiles_w) {
      const int64_t j0 = static_cast<int64_t>(tile) * kBc;
      const uint32_t stage_bytes = 2 * s * kWsTile;

      // s = Q K^T (64 x 64; this warp's 16 rows in the accumulators).
      float sc[32];
      wgmma_scores<kBf16>(sc, q_desc, k_desc, stage_bytes);

      // (Two calls with a literal need_mask: with one, ptxas computed the 32 mask predicates, about 300
      // instructions, on every tile while the product ran, instead of branching past them.)
      const bool need_mask = j0 + kBc > S || (causal && j0 + kBc - 1 > r0);
      uint32_t pf[kBc / 16][4];
      float alpha[2];
      auto& sf = reinterpret_cast<float(&)[kNB][4]>(sc);
      if (need_mask)
        online_softmax_stats<T>(sf, m, l, alpha, pf, j0, row0, S, causal, true, scale_log2, t);
      else
        online_softmax_stats<T>(sf, m, l, alpha, pf, j0, row0, S, causal, false, scale_log2, t);
      // o *= alpha, skipped where it would multiply by exactly 1 (no row of the warp has a new max, so
      // alpha = 2^0 = 1): the same bits without the 32 multiplies, as on most tiles past the first few
      // when a row's largest scores come early (FlashAttention-4's observation).
      if (!__all_sync(0xffffffffu, alpha[0] == 1.f && alpha[1] == 1.f))
        rescale_rows(reinterpret_cast<float(&)[kOB][4]>(o), alpha);

      // o += P V (k = the tile's 64 keys, 16 per step: the V tile's rows).
      wgmma_fence();
      fence_operands(o);
      fence_operands(pf);
#pragma unroll
      for (int s16 = 0; s16 < kBc / 16; ++s16)
        wgmma_m64n64k16_rs<kBf16, 1>(o, pf[s16], desc_add(v_desc, stage_bytes + 2048 * s16));
      wgmma_commit();
      fence_operands(o);
      wgmma_wait<0>();
      fence_operands(o);
      fence_operands(pf);
    }
    if (lane == 0) mbar_arrive(empty0 + 8 * s);  // this warp's products have read the stage
    if (++s == kWsStages) s = 0, phase ^= 1;
  }
  wgmma_forward_store(out.slice(n), lse + n * L, L, row0, t, m, l, o);
#else
  __trap();  // only the sm_90a pass has wgmma; the host launches this on compute capability 9.0 only
#endif
}

// A 4-d tensor map (d, row, head, batch) over the slices of t [..., rows, 64]
// (slice_map_shape, attention_tma_map.h), boxes of one [64, 64] tile in the
// 128-byte swizzle; false where the copy engine cannot take the layout (a
// stride of 0, as of a broadcast dim, or past 2^40 bytes; chunked_rows
// makes the others whole 16 bytes) or the driver refuses it.
bool make_slices_map(CUtensorMap* map, const Tensor& t, int64_t rows, int64_t N) {
  const EncodeTiled enc = tensor_map_encoder();
  const std::optional<SliceLayout> l = slice_layout(t);
  if (enc == nullptr || !l) return false;
  const std::optional<SliceMapShape> m = slice_map_shape(*l, rows, N, static_cast<int64_t>(dtype_size(t.dtype())));
  if (!m) return false;
  const cuuint64_t dims[4] = {m->dims[0], m->dims[1], m->dims[2], m->dims[3]};
  const cuuint64_t strides[3] = {m->strides[0], m->strides[1], m->strides[2]};
  const cuuint32_t box[4] = {64, 64, 1, 1}, elem[4] = {1, 1, 1, 1};
  return enc(map, t.dtype() == kBFloat16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 4,
             t.data_ptr_raw(), dims, strides, box, elem, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
             CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

// The tensor maps of q [N, L, 64], k and v [N, S, 64] and their slices' heads, for the forwards that
// load their tiles by TMA; false where a map cannot describe an operand.
bool make_qkv_maps(FwdMaps* maps, const Tensor& q, const Tensor& k, const Tensor& v, int64_t N, int64_t L,
                   int64_t S) {
  if (!(make_slices_map(&maps->q, q, L, N) && make_slices_map(&maps->k, k, S, N) &&
        make_slices_map(&maps->v, v, S, N)))
    return false;
  maps->heads_q = static_cast<int>(slice_layout(q)->heads), maps->heads_k = static_cast<int>(slice_layout(k)->heads),
  maps->heads_v = static_cast<int>(slice_layout(v)->heads);
  return true;
}

// The warp-specialized forward on q [N, L, 64], k, v [N, S, 64]; false
// (nothing launched) where a tensor map cannot describe an operand.
template <typename T>
bool launch_ws(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v, int64_t N,
               int64_t L, int64_t S, bool causal, double scale) {
  // (TMA coordinates are 32-bit: rows and slices below 2^31.)
  if (L <= 0 || S <= 0 || L > 0x7fffffff - kWsRows || S > 0x7fffffff || N > 0x7fffffff) return false;
  FwdMaps maps;
  if (!make_qkv_maps(&maps, q, k, v, N, L, S)) return false;
  const int64_t blocks = N * ((L + kWsRows - 1) / kWsRows);
  WICK_CHECK(blocks <= 0x7fffffff, kOp, ": too many query tiles for one launch (", blocks, ")");
  const WsHeads heads{maps.heads_q, maps.heads_k, maps.heads_v};
  auto kernel = wgmma_forward_ws_kernel<T>;
  WICK_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kWgmmaWsSmem)));
  // 2 CTAs per SM need 2 x 66 KiB of the carveout (a hint the driver otherwise picks itself); the loads
  // bypass L1.
  WICK_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                       static_cast<int>(cudaSharedmemCarveoutMaxShared)));
  kernel<<<static_cast<unsigned>(blocks), kWsThreads, kWgmmaWsSmem, current_stream()>>>(
      maps.q, maps.k, maps.v, slices_of<T>(out), static_cast<float*>(lse.data_ptr_raw()), L, S, heads,
      static_cast<float>(scale * 1.4426950408889634), causal);
  WICK_CUDA_CHECK_LAUNCH();
  wgmma_ws_launches.fetch_add(1, std::memory_order_relaxed);
  return true;
}

// The wgmma forward with its tiles loaded by TMA (kLean: the lean one) on q [N, L, 64], k, v [N, S, 64];
// false (nothing launched) where a tensor map cannot describe an operand.
template <typename T, bool kLean>
bool launch_fwd_tma(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                    int64_t N, int64_t L, int64_t S, bool causal, double scale) {
  // (TMA coordinates are 32-bit: rows and slices below 2^31; S > 0: the kernel copies key tile 0.)
  if (L <= 0 || S <= 0 || L > 0x7fffffff - kBr || S > 0x7fffffff || N > 0x7fffffff) return false;
  FwdMaps maps;
  if (!make_qkv_maps(&maps, q, k, v, N, L, S)) return false;
  const int64_t blocks = N * ((L + kBr - 1) / kBr);
  WICK_CHECK(blocks <= 0x7fffffff, kOp, ": too many query tiles for one launch (", blocks, ")");
  constexpr size_t kSmem = kWgmmaFwdSmem + (kLean ? kWgmmaOnesBytes : 0) + kWgmmaFwdBarriers;
  auto kernel = wgmma_forward_tma_kernel<T, kLean>;
  WICK_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kSmem)));
  // (Always in LPT order: the grid of this kernel's first version.)
  kernel<<<static_cast<unsigned>(blocks), kThreads, kSmem, current_stream()>>>(
      maps, slices_of<const T>(q), slices_of<const T>(k), slices_of<const T>(v), slices_of<T>(out),
      static_cast<float*>(lse.data_ptr_raw()), L, S, static_cast<float>(scale * 1.4426950408889634), causal,
      lpt_section(N, 2 * S * 64 * int64_t(sizeof(T)), q.device().index));
  WICK_CUDA_CHECK_LAUNCH();
  wgmma_fwd_tma_launches.fetch_add(1, std::memory_order_relaxed);
  if constexpr (kLean) wgmma_lean_launches.fetch_add(1, std::memory_order_relaxed);
  return true;
}

template <typename T, int kD, int kM>
void launch(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v, int64_t N,
            int64_t L, int64_t S, bool causal, double scale) {
  // kM == 0: the wgmma kernel (head dim 64, 64-row tiles); -1: its pipelined form (same tiles and shared
  // memory); -2: its lean form (the ones tile on top).
  constexpr bool kWg = kM <= 0;
  constexpr size_t kSmem = kM == -2 ? kWgmmaFwdSmem + kWgmmaOnesBytes
                           : kWg    ? kWgmmaFwdSmem
                                    : size_t(4 + kM) * 64 * kD * sizeof(T);
  if constexpr (kM == -2) wgmma_lean_launches.fetch_add(1, std::memory_order_relaxed);
  constexpr int kRows = kBr * (kWg ? 1 : kM);
  const int64_t blocks = N * ((L + kRows - 1) / kRows);
  WICK_CHECK(blocks <= 0x7fffffff, kOp, ": too many query tiles for one launch (", blocks, ")");
  auto run = [&](auto kernel, auto... order) {
    WICK_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kSmem)));
    kernel<<<static_cast<unsigned>(blocks), kThreads, kSmem, current_stream()>>>(
        slices_of<const T>(q), slices_of<const T>(k), slices_of<const T>(v), slices_of<T>(out),
        static_cast<float*>(lse.data_ptr_raw()), L, S, static_cast<float>(scale * 1.4426950408889634), causal,
        order...);
    WICK_CUDA_CHECK_LAUNCH();
  };
  if constexpr (kM == 0 || kM == -2) {  // the serial and lean wgmma kernels: in either grid order
    if (lpt_switch().on()) {
      run(wgmma_forward_kernel<T, kM == -2, true>, lpt_section(N, 2 * S * kD * int64_t(sizeof(T)), q.device().index));
      lpt_launches.fetch_add(1, std::memory_order_relaxed);
    } else {
      run(wgmma_forward_kernel<T, kM == -2, false>, int64_t(0));
    }
  } else {
    run(kM == -1 ? wgmma_forward_pipe_kernel<T> : fa2_forward_kernel<T, kD, kWg ? 1 : kM>);
  }
}

// ---- backward ----------------------------------------------------------------

// s = X_w Y^T for this warp (16 x 64 as kBc / 8 C fragments): X_w the rows
// 16 warp.. of a swizzled [64, kD] tile, Y a swizzled [64, kD] tile.
template <typename T, int kD>
__device__ __forceinline__ void warp_xyt(float (&s)[kBc / 8][4], const T* X, const T* Y, int warp, int lane) {
  constexpr int kKB = kD / 16;
#pragma unroll
  for (int nb = 0; nb < kBc / 8; ++nb) s[nb][0] = s[nb][1] = s[nb][2] = s[nb][3] = 0.f;
#pragma unroll
  for (int kp = 0; kp < kKB; kp += 2) {
    uint32_t a0[4], a1[4];
    ldsm_x4(a0, X + swz<kD>(16 * warp + (lane & 15), 2 * kp + (lane >> 4)));
    ldsm_x4(a1, X + swz<kD>(16 * warp + (lane & 15), 2 * kp + 2 + (lane >> 4)));
#pragma unroll
    for (int nb = 0; nb < kBc / 8; ++nb) {
      // Matrices: rows 8nb..8nb+7 of Y x dims 16kp + (0, 8, 16, 24) .. +7.
      uint32_t b[4];
      ldsm_x4(b, Y + swz<kD>(8 * nb + (lane & 7), 2 * kp + (lane >> 3)));
      mma16816<T>(s[nb], a0, b[0], b[1]);
      mma16816<T>(s[nb], a1, b[2], b[3]);
    }
  }
}

// The C fragments of a 16 x 64 tile, rounded to T, as the A fragments of a
// product with k = those 64 columns (see the forward's P).
template <typename T>
__device__ __forceinline__ void c_to_a(uint32_t (&a)[kBc / 16][4], const float (&c)[kBc / 8][4]) {
#pragma unroll
  for (int nb = 0; nb < kBc / 8; ++nb) {
    a[nb / 2][(nb & 1) * 2 + 0] = pack2<T>(c[nb][0], c[nb][1]);
    a[nb / 2][(nb & 1) * 2 + 1] = pack2<T>(c[nb][2], c[nb][3]);
  }
}

// acc += A Y for this warp: A 16 x 64 as fragments (k = the 64 rows of Y),
// Y a swizzled [64, kD] tile read transposed by ldmatrix.trans.
template <typename T, int kD>
__device__ __forceinline__ void warp_ay(float (&acc)[kD / 8][4], const uint32_t (&a)[kBc / 16][4], const T* Y,
                                        int lane) {
#pragma unroll
  for (int kb = 0; kb < kBc / 16; ++kb) {
#pragma unroll
    for (int ob = 0; ob < kD / 8; ob += 2) {
      // Matrices (transposed): rows 16kb + (0, 8) x dims 8ob.., then 8(ob+1)..
      uint32_t b[4];
      ldsm_x4_trans(b, Y + swz<kD>(16 * kb + (lane & 7) + ((lane >> 3) & 1) * 8, ob + (lane >> 4)));
      mma16816<T>(acc[ob], a[kb], b[0], b[1]);
      mma16816<T>(acc[ob + 1], a[kb], b[2], b[3]);
    }
  }
}

// dst[r, :] = scale * acc for this warp's rows r = 16 warp + g (+ 8) < rows_valid
// of dst (rows ld elements apart, each 4-byte aligned).
template <typename T, int kD>
__device__ __forceinline__ void warp_store(T* dst, int64_t ld, int64_t rows_valid, const float (&acc)[kD / 8][4],
                                           float scale, int warp, int lane) {
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = 16 * warp + g + 8 * r;
    if (row >= rows_valid) continue;
    T* d = dst + int64_t(row) * ld;
#pragma unroll
    for (int b = 0; b < kD / 8; ++b)
      *reinterpret_cast<uint32_t*>(d + 8 * b + 2 * t) = pack2<T>(scale * acc[b][2 * r], scale * acc[b][2 * r + 1]);
  }
}

// lse (into the log2 domain) and D of the 64 queries from i0 into one buffer
// of the row vectors; 0 past L (those queries are masked anyway).
__device__ __forceinline__ void stage_query_rows(float* lse_s, float* D_s, const float* lse, const float* Dv,
                                                 int64_t i0, int64_t L) {
  static_assert(kThreads >= kBr, "one value per thread");
  if (const int c = threadIdx.x; c < kBr) {  // (not a loop over c += kThreads: the compiler cannot tell c < 128)
    const bool in = i0 + c < L;
    lse_s[c] = in ? lse[i0 + c] * kLog2e : 0.f;
    D_s[c] = in ? Dv[i0 + c] : 0.f;
  }
}

// The same by cp.async, 4 bytes per value, zero past L, without waiting:
// stage_query_rows' loads held every thread that staged a value until they
// landed, at the start of every query tile (the wgmma backward's "long
// scoreboard" stalls on an H200). lse stays in the natural-log domain;
// softmax_grad_tile<true> converts it where it reads it (the same rounded
// product, so the same p). (Only the sm_90a pass's wgmma backward takes it.)
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
__device__ __forceinline__ void stage_query_rows_async(float* lse_s, float* D_s, const float* lse, const float* Dv,
                                                       int64_t i0, int64_t L) {
  static_assert(kThreads >= 2 * kBr, "one value per thread");
  if (const int c = threadIdx.x; c < 2 * kBr) {
    const int r = c % kBr;
    const bool in = i0 + r < L;
    const float* src = (c < kBr ? lse : Dv) + (in ? i0 + r : 0);  // (not read past L: 0 bytes copied)
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_addr((c < kBr ? lse_s : D_s) + r)),
                 "l"(src), "r"(in ? 4 : 0));
  }
}
#endif

// p^T and ds^T of one (64 keys, 64 queries) tile pair in place, for the
// backward kernels that hold s^T and dp^T as C fragments (this warp's keys
// j0 + 16 warp + g (+ 8), queries i0 + 8 nb + 2 t (+ 1)): p = 2^(c s - lse2),
// 0 where masked (queries past L, keys past S, keys past the query when
// causal; only checked where need_mask), ds = p (dp - D). lb, Db: the query
// tile's lse (log2 domain; natural log with kLseNatural) and D.
template <bool kLseNatural = false>
__device__ __forceinline__ void softmax_grad_tile(float (&st)[kBc / 8][4], float (&dpt)[kBc / 8][4], const float* lb,
                                                  const float* Db, int64_t i0, int64_t j0, int64_t L, int64_t S,
                                                  bool causal, bool need_mask, float scale_log2, int warp, int lane) {
  const int g = lane >> 2, t = lane & 3;
  const attention_mask::PairMask mask(i0, j0, L, S, causal);
#pragma unroll
  for (int nb = 0; nb < kBc / 8; ++nb)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int c = 8 * nb + 2 * t + (e & 1);  // query column in the tile
      const float lse2 = kLseNatural ? __fmul_rn(lb[c], kLog2e) : lb[c];
      float pv = exp2_ftz(fmaf(st[nb][e], scale_log2, -lse2));
      if (need_mask) {
        if (mask.masked(c, 16 * warp + g + 8 * (e >> 1))) pv = 0.f;  // (the key: this row of s^T)
      }
      st[nb][e] = pv;                          // p^T
      dpt[nb][e] = pv * (dpt[nb][e] - Db[c]);  // ds^T
    }
}

// The fused variant's dQ (kDq below). The warp's ds^T fragments (16 keys x
// 64 queries, already rounded to T as the A fragments of dK += ds^T Q) into
// the CTA's [64 keys, 64 queries] swizzled tile dsT, rows 16 warp.. .
template <typename T>
__device__ __forceinline__ void store_dst(T* dsT, const uint32_t (&a)[kBc / 16][4], int warp, int lane) {
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int nb = 0; nb < kBc / 8; ++nb)
#pragma unroll
    for (int r = 0; r < 2; ++r)  // a0/a2 hold row g, a1/a3 row g + 8 (c_to_a)
      *reinterpret_cast<uint32_t*>(dsT + swz<64>(16 * warp + g + 8 * r, nb) + 2 * t) = a[nb / 2][(nb & 1) * 2 + r];
}

// acc = ds K over the tile's 64 keys for this warp's 16 queries (rows
// 16 warp.. of the query tile) and dims [64 c, 64 c + 64): ds is dsT read
// transposed (ldmatrix.trans of the stored [key][query] 8 x 8 blocks gives
// the A fragment of rows = queries, k = keys: matrices (queries +0/+8) x
// (keys +0/+8) in a0..a3 order), K the key tile read transposed as in warp_ay.
template <typename T, int kD>
__device__ __forceinline__ void warp_dq_chunk(float (&acc)[8][4], const T* dsT, const T* Ks, int c, int warp,
                                              int lane) {
#pragma unroll
  for (int b = 0; b < 8; ++b) acc[b][0] = acc[b][1] = acc[b][2] = acc[b][3] = 0.f;
#pragma unroll
  for (int kb = 0; kb < kBc / 16; ++kb) {
    uint32_t a[4];
    ldsm_x4_trans(a, dsT + swz<64>(16 * kb + (lane & 7) + ((lane >> 4) & 1) * 8, 2 * warp + ((lane >> 3) & 1)));
#pragma unroll
    for (int ob = 0; ob < 8; ob += 2) {
      uint32_t b[4];
      ldsm_x4_trans(b, Ks + swz<kD>(16 * kb + (lane & 7) + ((lane >> 3) & 1) * 8, 8 * c + ob + (lane >> 4)));
      mma16816<T>(acc[ob], a, b[0], b[1]);
      mma16816<T>(acc[ob + 1], a, b[2], b[3]);
    }
  }
}

// dq_acc[row, 64 c + ..] += acc for this warp's rows 16 warp + g (+ 8) < rows_valid
// (dq_acc: float32 rows of kD from the query tile's first row).
template <int kD>
__device__ __forceinline__ void warp_dq_atomic(float* dq_acc, int64_t rows_valid, const float (&acc)[8][4], int c,
                                               int warp, int lane) {
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = 16 * warp + g + 8 * r;
    if (row >= rows_valid) continue;
    float* d = dq_acc + int64_t(row) * kD + 64 * c + 2 * t;
#pragma unroll
    for (int b = 0; b < 8; ++b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
      atomicAdd(reinterpret_cast<float2*>(d + 8 * b), make_float2(acc[b][2 * r], acc[b][2 * r + 1]));
#else
      atomicAdd(d + 8 * b, acc[b][2 * r]);
      atomicAdd(d + 8 * b + 1, acc[b][2 * r + 1]);
#endif
    }
  }
}

// Kernel 1: dK and dV of 64 keys. kDq (the fused variant, FA2's own
// scheme): also dQ, as each query tile's ds (64 queries x these 64 keys)
// times K added into the float32 dq_acc [N L, kD] with atomics (zeroed
// before; scaled and rounded by fa2_dq_convert_kernel after), instead of
// fa2_dq_kernel recomputing s and dp: 5 products per tile pair instead of 7,
// at the price of a summation order that depends on timing.
template <typename T, int kD, bool kDq>
__global__ void __launch_bounds__(kThreads)
    fa2_dkdv_kernel(const Slices<const T> q, const Slices<const T> k, const Slices<const T> v,
                    const Slices<const T> dout, const float* __restrict__ lse, const float* __restrict__ Dv,
                    const Slices<T> dk, const Slices<T> dv, int64_t L, int64_t S, float scale_log2, float scale,
                    bool causal, float* __restrict__ dq_acc) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  __trap();
#else
  constexpr int kTile = 64 * kD;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* Ks = reinterpret_cast<T*>(smem_raw);
  T* Vs = Ks + kTile;
  T* Qs = Vs + kTile;       // 2 buffers
  T* dOs = Qs + 2 * kTile;  // 2 buffers
  float* lse_s = reinterpret_cast<float*>(dOs + 2 * kTile);  // 2 buffers of kBr, log2 domain
  float* D_s = lse_s + 2 * kBr;                               // 2 buffers of kBr
  T* dsT = reinterpret_cast<T*>(D_s + 2 * kBr);               // kDq: [64 keys, 64 queries]

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t kblocks = (S + kBc - 1) / kBc;
  const int64_t n = blockIdx.x / kblocks;
  const int64_t j0 = (blockIdx.x % kblocks) * kBc;
  const int64_t istart = causal ? j0 : 0;  // kBr == kBc: a query tile boundary
  const int64_t ntiles = L > istart ? (L - istart + kBr - 1) / kBr : 0;
  const T* __restrict__ qn = q.row(n, 0);
  const T* __restrict__ don = dout.row(n, 0);

  if (ntiles > 0) {  // one copy group: K, V and query tile 0
    load_tile_async<kD>(Ks, k.row(n, j0), k.ld(), S - j0);
    load_tile_async<kD>(Vs, v.row(n, j0), v.ld(), S - j0);
    load_tile_async<kD>(Qs, qn + istart * q.ld(), q.ld(), L - istart);
    load_tile_async<kD>(dOs, don + istart * dout.ld(), dout.ld(), L - istart);
    stage_query_rows(lse_s, D_s, lse + n * L, Dv + n * L, istart, L);
  }
  cp_async_commit();

  float dka[kD / 8][4], dva[kD / 8][4];
#pragma unroll
  for (int b = 0; b < kD / 8; ++b)
#pragma unroll
    for (int e = 0; e < 4; ++e) dka[b][e] = dva[b][e] = 0.f;

  for (int64_t tile = 0; tile < ntiles; ++tile) {
    const int buf = static_cast<int>(tile & 1);
    const int64_t i0 = istart + tile * kBr;
    if (tile + 1 < ntiles) {  // prefetch the next query tile into the other buffers
      const int64_t in = i0 + kBr;
      load_tile_async<kD>(Qs + (buf ^ 1) * kTile, qn + in * q.ld(), q.ld(), L - in);
      load_tile_async<kD>(dOs + (buf ^ 1) * kTile, don + in * dout.ld(), dout.ld(), L - in);
      stage_query_rows(lse_s + (buf ^ 1) * kBr, D_s + (buf ^ 1) * kBr, lse + n * L, Dv + n * L, in, L);
      cp_async_commit();
      cp_async_wait<1>();  // all but the newest group: this tile is in
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();  // this tile's copies and row vectors are visible to every warp
    const T* Qb = Qs + buf * kTile;
    const T* dOb = dOs + buf * kTile;
    const float* lb = lse_s + buf * kBr;
    const float* Db = D_s + buf * kBr;

    // s^T and dp^T: rows = this warp's 16 keys, columns = the tile's 64 queries.
    float st[kBc / 8][4], dpt[kBc / 8][4];
    warp_xyt<T, kD>(st, Ks, Qb, warp, lane);
    warp_xyt<T, kD>(dpt, Vs, dOb, warp, lane);
    const bool need_mask = i0 + kBr > L || j0 + kBc > S || (causal && i0 < j0 + kBc - 1);
    softmax_grad_tile(st, dpt, lb, Db, i0, j0, L, S, causal, need_mask, scale_log2, warp, lane);
    uint32_t af[kBc / 16][4];
    c_to_a<T>(af, st);
    warp_ay<T, kD>(dva, af, dOb, lane);  // dV += p^T dO
    c_to_a<T>(af, dpt);
    warp_ay<T, kD>(dka, af, Qb, lane);  // dK += ds^T Q
    if constexpr (kDq) {
      store_dst<T>(dsT, af, warp, lane);  // dsT was last read before the previous iteration's final barrier
      __syncthreads();                    // every warp's 16 keys of ds^T are in
#pragma unroll
      for (int c = 0; c < kD / 64; ++c) {
        float acc[8][4];
        warp_dq_chunk<T, kD>(acc, dsT, Ks, c, warp, lane);
        warp_dq_atomic<kD>(dq_acc + (n * L + i0) * kD, L - i0, acc, c, warp, lane);
      }
    }
    __syncthreads();  // every warp is done with buffer buf (and dsT) before it is refilled
  }
  cp_async_wait<0>();  // nothing left in flight at exit (ntiles == 0 committed an empty group)

  // Every row < S is written: zeros for keys no query sees.
  if (dv) warp_store<T, kD>(dv.row(n, j0), dv.ld(), S - j0, dva, 1.f, warp, lane);
  if (dk) warp_store<T, kD>(dk.row(n, j0), dk.ld(), S - j0, dka, scale, warp, lane);
#endif
}

// Kernel 2: dQ of 64 queries.
template <typename T, int kD>
__global__ void __launch_bounds__(kThreads)
    fa2_dq_kernel(const Slices<const T> q, const Slices<const T> k, const Slices<const T> v,
                  const Slices<const T> dout, const float* __restrict__ lse, const float* __restrict__ Dv,
                  const Slices<T> dq, int64_t L, int64_t S, float scale_log2, float scale, bool causal) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  __trap();
#else
  constexpr int kTile = 64 * kD;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* Qs = reinterpret_cast<T*>(smem_raw);
  T* dOs = Qs + kTile;
  T* Ks = dOs + kTile;     // 2 buffers
  T* Vs = Ks + 2 * kTile;  // 2 buffers

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int64_t qblocks = (L + kBr - 1) / kBr;
  const int64_t n = blockIdx.x / qblocks;
  const int64_t i0 = (qblocks - 1 - blockIdx.x % qblocks) * kBr;  // the longest (causal) tiles first
  const T* __restrict__ kn = k.row(n, 0);
  const T* __restrict__ vn = v.row(n, 0);
  const int64_t jend = causal ? min(S, i0 + kBr) : S;
  const int64_t ntiles = (jend + kBc - 1) / kBc;

  // This thread's two rows: lse (log2 domain) and D.
  const int64_t row0 = i0 + 16 * warp + g;
  float lse2[2], Dr[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int64_t i = row0 + 8 * r;
    lse2[r] = i < L ? lse[n * L + i] * kLog2e : 0.f;
    Dr[r] = i < L ? Dv[n * L + i] : 0.f;
  }

  load_tile_async<kD>(Qs, q.row(n, i0), q.ld(), L - i0);  // one copy group: Q, dO and key tile 0
  load_tile_async<kD>(dOs, dout.row(n, i0), dout.ld(), L - i0);
  if (ntiles > 0) {
    load_tile_async<kD>(Ks, kn, k.ld(), S);
    load_tile_async<kD>(Vs, vn, v.ld(), S);
  }
  cp_async_commit();

  float dqa[kD / 8][4];
#pragma unroll
  for (int b = 0; b < kD / 8; ++b) dqa[b][0] = dqa[b][1] = dqa[b][2] = dqa[b][3] = 0.f;

  for (int64_t tile = 0; tile < ntiles; ++tile) {
    const int buf = static_cast<int>(tile & 1);
    const int64_t j0 = tile * kBc;
    if (tile + 1 < ntiles) {
      const int64_t jn = j0 + kBc;
      load_tile_async<kD>(Ks + (buf ^ 1) * kTile, kn + jn * k.ld(), k.ld(), S - jn);
      load_tile_async<kD>(Vs + (buf ^ 1) * kTile, vn + jn * v.ld(), v.ld(), S - jn);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const T* Kb = Ks + buf * kTile;
    const T* Vb = Vs + buf * kTile;

    float s[kBc / 8][4], dp[kBc / 8][4];
    warp_xyt<T, kD>(s, Qs, Kb, warp, lane);
    warp_xyt<T, kD>(dp, dOs, Vb, warp, lane);
    const bool need_mask = j0 + kBc > S || i0 + kBr > L || (causal && j0 + kBc - 1 > i0);
    const attention_mask::PairMask mask(i0, j0, L, S, causal);
#pragma unroll
    for (int nb = 0; nb < kBc / 8; ++nb)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = e >> 1;
        float pv = exp2_ftz(fmaf(s[nb][e], scale_log2, -lse2[r]));
        if (need_mask) {
          if (mask.masked(16 * warp + g + 8 * r, 8 * nb + 2 * t + (e & 1))) pv = 0.f;
        }
        s[nb][e] = pv * (dp[nb][e] - Dr[r]);  // ds
      }
    uint32_t af[kBc / 16][4];
    c_to_a<T>(af, s);
    warp_ay<T, kD>(dqa, af, Kb, lane);  // dQ += ds K
    __syncthreads();
  }
  cp_async_wait<0>();

  warp_store<T, kD>(dq.row(n, i0), dq.ld(), L - i0, dqa, scale, warp, lane);
#endif
}

// The fused backward on Hopper's warpgroup MMA (sm_90a, head dim 64; opt-in
// WICK_CUDA_ATTENTION_WGMMA_BWD): fa2_dkdv_kernel<T, 64, true>'s algorithm,
// tiles and masks, with its five products as wgmma m64n64k16 on one warpgroup
// (4 warps) per (slice, 64 keys) instead of mma.sync: the operands are read
// from shared memory by the tensor cores (no ldmatrix), in tiles whose
// swizzle (swz<64>: rows of 128 bytes, chunk c ^ (r & 7)) is wgmma's 128-byte
// one once each tile is 1024-byte aligned (cuda/kernels/wgmma.cuh):
//   s^T  = K Q^T     A = K tile (K-major), B = Q tile (K-major)
//   dp^T = V dO^T    A = V tile,           B = dO tile
//   dV  += p^T dO    A = p^T from registers (the accumulators of s^T, as the
//   dK  += ds^T Q        mma.sync kernels' P), B = dO / Q tile read MN-major
//   dQ_part = ds K   A = ds^T tile in shared memory read MN-major (it is ds
//                    transposed), B = K tile read MN-major; added to dq_acc
//                    with float2 atomics, as the fused mma.sync kernel does.
// The accumulator layout of m64n64 is the mma.sync kernels' [8][4] C
// fragments (warp w: keys, or queries for dQ, 16 w ..), so the masks, the
// softmax gradient, store_dst, warp_dq_atomic and warp_store are theirs.
// Shared memory: K, V, 2 Q, 2 dO, ds^T (7 x 8 KiB, 1024-aligned) + 1 KiB of
// row vectors + 1 KiB of alignment slack.
// kOverlapDq (opt-in WICK_CUDA_ATTENTION_WGMMA_BWD_PIPE): the dQ product is
// issued as soon as every warp has stored its part of ds^T, behind the dV
// and dK products still running, and one wait covers all three; otherwise the
// kernel waits for dV and dK before that barrier and issues dQ after it,
// leaving the tensor cores idle across the wait and the barrier. dK and dV
// are the same either way, bit for bit; dQ's atomics run in a timing-
// dependent order in both. (Issuing the next query tile's s^T and dp^T ahead
// too, FlashAttention-3's full pipeline, needs s^T, dp^T, dQ, dK and dV
// accumulators at once: ptxas then serializes the wgmma pipeline for lack of
// registers at one warpgroup per CTA.)
constexpr int kWgmmaBwdTiles = 7;
// wgmma_bwd_tma_kernel's tensor maps (make_slices_map) of q and dout, and
// their slices' heads (slice n is head n % heads of batch n / heads).
struct BwdMaps {
  CUtensorMap q, dout;
  int heads_q, heads_dout;
};
constexpr size_t kWgmmaBwdSmem = size_t(kWgmmaBwdTiles) * 64 * 64 * 2 + 4 * kBr * sizeof(float) + 1024;

// Registers: every variant is bounded for 3 CTAs (12 warps) per SM, which
// shared memory allows (with the largest carveout, set by the launcher). The
// kernel held 201 registers per thread until 2026-11-28, so 2 CTAs (8 warps)
// shared an SM, too few to hide the latencies Nsight Compute found it
// waiting on (H200); capped at 168 it spilled 44 bytes then. Since the tile
// loader and the masks were rewritten (fewer live values; not yet timed on a
// GPU) ptxas fits every variant in 157-166 without a spill (CUDA 13).
//
// kRowsAsync (opt-in WICK_CUDA_ATTENTION_WGMMA_BWD_ROWS_ASYNC): lse and D
// staged by cp.async (stage_query_rows_async) instead of loads that hold the
// staging threads until they land.
//
// kDqBulk (opt-in WICK_CUDA_ATTENTION_WGMMA_BWD_DQ_BULK): each warp puts its
// 16 rows of the tile's dQ part (its 32 accumulators per lane) into 4 KiB of
// shared memory and one lane adds them into dq_acc with one bulk reduction
// (cp.reduce.async.bulk .add.f32, see wgmma.cuh), instead of the lanes'
// 16 float2 atomics each: 4 requests per tile pair for the CTA instead of 64
// warp-wide ones of 8 sectors, FlashAttention-3's way of accumulating dQ. So
// that the 4 KiB are contiguous in dq_acc too, dq_acc is laid out in the
// accumulators' order per slice and 64-row query tile, zero-padded past L
// (cuda/kernels/attention_dq_layout.h), and fa2_dq_convert_bulk_kernel reads
// it back. The
// staging buffer (16 KiB after the row vectors) is rewritten a tile later,
// after its lane has waited for the reduction to read it. dK and dV are bit
// for bit the default kernel's; dQ adds the same parts in another
// timing-dependent order.
constexpr size_t kWgmmaBwdDqStage = dq_bulk::kTileFloats * sizeof(float);  // 4 warps x 4 KiB
static_assert(dq_bulk::kTileRows == kBr, "one accumulator tile per query tile");

//
// kTma (opt-in WICK_CUDA_ATTENTION_WGMMA_BWD_TMA; wgmma_bwd_tma_kernel): the
// Q and dO tiles come by the bulk tensor copy engine (cuda/kernels/tma.cuh),
// one thread issuing both boxes of the next query tile onto the mbarrier
// full[buffer], and lse and D by cp.async (kRowsAsync's staging), whose
// completion each thread reports on the same barrier
// (cp.async.mbarrier.arrive.noinc: full counts 1 + 128 arrivals and the
// boxes' bytes). Each tile then starts with one mbarrier wait instead of the
// 128 threads' 16-byte copies with their addresses and bounds, a cp.async
// wait, a proxy fence and a CTA barrier. Buffer b is refilled at the top of
// the tile after the one that last read it, behind that tile's final CTA
// barrier; use u of full[b] (tiles b, b + 2, ...) has parity u & 1. K and V
// stay cp.async copies (once per CTA). dK and dV bit for bit the default
// kernel's (kRowsAsync's rows and conversion, the same products), dQ the
// same parts (atomics in another order).
template <typename T, bool kOverlapDq, bool kRowsAsync, bool kDqBulk, bool kTma, bool kLpt>
__device__ __forceinline__ void wgmma_bwd_body(const Slices<const T> q, const Slices<const T> k,
                                               const Slices<const T> v, const Slices<const T> dout,
                                               const float* __restrict__ lse, const float* __restrict__ Dv,
                                               const Slices<T> dk, const Slices<T> dv, int64_t L, int64_t S,
                                               float scale_log2, float scale, bool causal, int64_t lpt,
                                               float* __restrict__ dq_acc, [[maybe_unused]] const BwdMaps* maps) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using namespace sm90;
  static_assert(!kTma || (!kOverlapDq && !kRowsAsync), "the TMA loads: the serial kernel, rows by cp.async");
  constexpr int kD = 64, kTile = 64 * kD;
  constexpr bool kBf16 = std::is_same_v<T, __nv_bfloat16>;
  static_assert(kThreads == 128, "one warpgroup");
  static_assert(!(kOverlapDq && kDqBulk), "the bulk dQ reduction follows the serial dQ product");
  extern __shared__ __align__(128) unsigned char smem_raw[];
  const uint32_t raw = smem_addr(smem_raw), pad = ((raw + 1023u) & ~1023u) - raw;
  T* Ks = reinterpret_cast<T*>(smem_raw + pad);
  T* Vs = Ks + kTile;
  T* Qs = Vs + kTile;       // 2 buffers
  T* dOs = Qs + 2 * kTile;  // 2 buffers
  T* dsT = dOs + 2 * kTile;
  float* lse_s = reinterpret_cast<float*>(dsT + kTile);  // 2 buffers of kBr, log2 domain
  float* D_s = lse_s + 2 * kBr;                           // 2 buffers of kBr
  [[maybe_unused]] float* dq_s = D_s + 2 * kBr;           // kDqBulk: [warp][j][lane][4] (16-byte aligned)
  [[maybe_unused]] const int64_t qtiles = (L + kBr - 1) / kBr;

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  // The CTA's slice and key block, each slice's heaviest causal blocks (the first keys, seen by the most
  // query tiles) first; kLpt: in sections of lpt slices, the slices fastest (grid_cell).
  const attention_grid::Cell cell = grid_cell<kLpt>((S + kBc - 1) / kBc, lpt);
  const int64_t n = cell.slice;
  const int64_t j0 = cell.block * kBc;
  const int64_t istart = causal ? j0 : 0;
  static_assert(kBr == kBc, "query tiles start at multiples of kBr (istart is 0 or j0)");
  const int64_t ntiles = L > istart ? (L - istart + kBr - 1) / kBr : 0;
  const T* __restrict__ qn = q.row(n, 0);
  const T* __restrict__ don = dout.row(n, 0);

  // kTma: full[b] after the row vectors (and kDqBulk's staging tile); the query tile `tile`'s Q and dO boxes
  // into buffer b, issued by thread 0 (i0 < L < 2^31, n < 2^31: the host's checks).
  [[maybe_unused]] const uint32_t full0 = smem_addr(D_s + 2 * kBr) + (kDqBulk ? kWgmmaBwdDqStage : 0);
  [[maybe_unused]] int hq = 0, bq = 0, hd = 0, bd = 0;  // (head, batch) of slice n in the two maps
  if constexpr (kTma) {
    const int ni = static_cast<int>(n);
    hq = ni % maps->heads_q, bq = ni / maps->heads_q, hd = ni % maps->heads_dout, bd = ni / maps->heads_dout;
  }
  [[maybe_unused]] auto issue_tile = [&](int64_t tile, int b) {
    const uint32_t bar = full0 + 8 * b;
    const int row = static_cast<int>(istart + tile * kBr);
    mbar_arrive_expect_tx(bar, 2 * kTile * sizeof(T));
    tma_load_4d(smem_addr(Qs + b * kTile), &maps->q, bar, 0, row, hq, bq);
    tma_load_4d(smem_addr(dOs + b * kTile), &maps->dout, bar, 0, row, hd, bd);
  };
  if constexpr (kTma) {
    if (threadIdx.x == 0) {
      mbar_init(full0, 1 + kThreads);
      mbar_init(full0 + 8, 1 + kThreads);
      mbar_init_fence();
    }
    __syncthreads();
  }
  if (ntiles > 0) {
    load_tile_async<kD>(Ks, k.row(n, j0), k.ld(), S - j0);
    load_tile_async<kD>(Vs, v.row(n, j0), v.ld(), S - j0);
    if constexpr (kTma) {
      if (threadIdx.x == 0) issue_tile(0, 0);
      stage_query_rows_async(lse_s, D_s, lse + n * L, Dv + n * L, istart, L);
      cp_async_mbar_arrive_noinc(full0);  // (K and V have landed too when full[0] completes; still, the
                                          // generic-proxy copies need tile 0's proxy fence before wgmma)
    } else {
      load_tile_async<kD>(Qs, qn + istart * q.ld(), q.ld(), L - istart);
      load_tile_async<kD>(dOs, don + istart * dout.ld(), dout.ld(), L - istart);
      if constexpr (kRowsAsync)
        stage_query_rows_async(lse_s, D_s, lse + n * L, Dv + n * L, istart, L);
      else
        stage_query_rows(lse_s, D_s, lse + n * L, Dv + n * L, istart, L);
    }
  }
  cp_async_commit();

  float dka[32], dva[32];
#pragma unroll
  for (int i = 0; i < 32; ++i) dka[i] = dva[i] = 0.f;
  // The operands' descriptors, built once (desc_add): K-major for s^T and dp^T, MN-major for the others; the
  // Q and dO tiles of buffer b are b * 8 KiB on, a k16 step 32 bytes (K-major) or 2 KiB (MN-major) further.
  const uint64_t k_desc = smem_desc(smem_addr(Ks)), v_desc = smem_desc(smem_addr(Vs)),
                 q_desc = smem_desc(smem_addr(Qs)), do_desc = smem_desc(smem_addr(dOs)),
                 q_mn = smem_desc_mn(smem_addr(Qs)), do_mn = smem_desc_mn(smem_addr(dOs)),
                 ds_mn = smem_desc_mn(smem_addr(dsT)), k_mn = smem_desc_mn(smem_addr(Ks));

  for (int64_t tile = 0; tile < ntiles; ++tile) {
    const int buf = static_cast<int>(tile & 1);
    const int64_t i0 = istart + tile * kBr;
    if constexpr (kTma) {
      // Buffer buf ^ 1 was last read in the previous tile, before its final barrier.
      if (tile + 1 < ntiles) {
        if (threadIdx.x == 0) issue_tile(tile + 1, buf ^ 1);
        stage_query_rows_async(lse_s + (buf ^ 1) * kBr, D_s + (buf ^ 1) * kBr, lse + n * L, Dv + n * L, i0 + kBr, L);
        cp_async_mbar_arrive_noinc(full0 + 8 * (buf ^ 1));
      }
      if (tile == 0) {  // K and V (cp.async, the generic proxy), visible to wgmma after the barrier
        cp_async_wait<0>();
        fence_proxy_async();
        __syncthreads();
      }
      mbar_wait_or_trap(full0 + 8 * buf, static_cast<uint32_t>(tile >> 1) & 1u);
    } else if (tile + 1 < ntiles) {
      const int64_t in = i0 + kBr;
      load_tile_async<kD>(Qs + (buf ^ 1) * kTile, qn + in * q.ld(), q.ld(), L - in);
      load_tile_async<kD>(dOs + (buf ^ 1) * kTile, don + in * dout.ld(), dout.ld(), L - in);
      if constexpr (kRowsAsync)
        stage_query_rows_async(lse_s + (buf ^ 1) * kBr, D_s + (buf ^ 1) * kBr, lse + n * L, Dv + n * L, in, L);
      else
        stage_query_rows(lse_s + (buf ^ 1) * kBr, D_s + (buf ^ 1) * kBr, lse + n * L, Dv + n * L, in, L);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    if constexpr (!kTma) {
      fence_proxy_async();  // this thread's cp.async writes, visible to wgmma after the barrier
      __syncthreads();
    }
    const uint32_t tile_bytes = static_cast<uint32_t>(buf) * kTile * sizeof(T);
    const float* lb = lse_s + buf * kBr;
    const float* Db = D_s + buf * kBr;

    // s^T = K Q^T and dp^T = V dO^T: 64 keys x 64 queries, k = the 64 dims.
    float st[32], dpt[32];
#pragma unroll
    for (int i = 0; i < 32; ++i) st[i] = dpt[i] = 0.f;
    wgmma_fence();
    fence_operands(st);
    fence_operands(dpt);
#pragma unroll
    for (int s16 = 0; s16 < kD / 16; ++s16) {
      wgmma_m64n64k16_ss<kBf16, 0, 0>(st, desc_add(k_desc, 32 * s16), desc_add(q_desc, tile_bytes + 32 * s16));
      wgmma_m64n64k16_ss<kBf16, 0, 0>(dpt, desc_add(v_desc, 32 * s16), desc_add(do_desc, tile_bytes + 32 * s16));
    }
    wgmma_commit();
    fence_operands(st);
    fence_operands(dpt);
    wgmma_wait<0>();
    fence_operands(st);
    fence_operands(dpt);

    const bool need_mask = i0 + kBr > L || j0 + kBc > S || (causal && i0 < j0 + kBc - 1);
    softmax_grad_tile<kRowsAsync || kTma>(reinterpret_cast<float(&)[kBc / 8][4]>(st), reinterpret_cast<float(&)[kBc / 8][4]>(dpt), lb, Db,
                      i0, j0, L, S, causal, need_mask, scale_log2, warp, lane);
    uint32_t pa[kBc / 16][4], sa[kBc / 16][4];  // p^T and ds^T as A operands (k = the 64 queries)
    c_to_a<T>(pa, reinterpret_cast<const float(&)[kBc / 8][4]>(st));
    c_to_a<T>(sa, reinterpret_cast<const float(&)[kBc / 8][4]>(dpt));

    // dV += p^T dO, dK += ds^T Q: B = the dO / Q tile read MN-major (its rows are the k = queries).
    wgmma_fence();
    fence_operands(dva);
    fence_operands(dka);
    fence_operands(pa);
    fence_operands(sa);
#pragma unroll
    for (int s16 = 0; s16 < kBc / 16; ++s16) {
      wgmma_m64n64k16_rs<kBf16, 1>(dva, pa[s16], desc_add(do_mn, tile_bytes + 2048 * s16));
      wgmma_m64n64k16_rs<kBf16, 1>(dka, sa[s16], desc_add(q_mn, tile_bytes + 2048 * s16));
    }
    wgmma_commit();
    fence_operands(dva);
    fence_operands(dka);
    // While they run: ds^T into its tile (the previous tile's dQ product, its last reader, completed
    // before that iteration's final barrier).
    store_dst<T>(dsT, sa, warp, lane);
    if constexpr (!kOverlapDq) {
      wgmma_wait<0>();
      fence_operands(dva);
      fence_operands(dka);
      fence_operands(pa);
      fence_operands(sa);
    }
    fence_proxy_async();
    __syncthreads();  // every warp's 16 keys of ds^T are in

    // dQ part = ds K: 64 queries x 64 dims, k = the 64 keys; A = ds^T read MN-major (ds), B = K MN-major.
    float dqp[32];
#pragma unroll
    for (int i = 0; i < 32; ++i) dqp[i] = 0.f;
    wgmma_fence();
    fence_operands(dqp);
#pragma unroll
    for (int s16 = 0; s16 < kBc / 16; ++s16)
      wgmma_m64n64k16_ss<kBf16, 1, 1>(dqp, desc_add(ds_mn, 2048 * s16), desc_add(k_mn, 2048 * s16));
    wgmma_commit();
    fence_operands(dqp);
    wgmma_wait<0>();  // kOverlapDq: dV and dK too
    fence_operands(dqp);
    if constexpr (kOverlapDq) {
      fence_operands(dva);
      fence_operands(dka);
      fence_operands(pa);
      fence_operands(sa);
    }
    if constexpr (kDqBulk) {
      // This warp's 16 rows into its 4 KiB of the staging tile, in dq_acc's order, then one reduction.
      if (lane == 0) bulk_wait_read<0>();  // the reduction issued a tile ago has read the buffer
      __syncwarp();
#pragma unroll
      for (int j = 0; j < 8; ++j)
        *reinterpret_cast<float4*>(dq_s + dq_bulk::slot(warp, j, lane)) =
            make_float4(dqp[4 * j], dqp[4 * j + 1], dqp[4 * j + 2], dqp[4 * j + 3]);
      fence_proxy_async();  // the lanes' stores, visible to the copy engine
      __syncwarp();
      if (lane == 0) {
        // i0 is a multiple of kBr (istart is 0 or j0): the tile's own 16 KiB.
        const int w0 = dq_bulk::slot(warp, 0, 0);
        bulk_reduce_add(dq_acc + (n * qtiles + i0 / kBr) * dq_bulk::kTileFloats + w0, smem_addr(dq_s + w0),
                        dq_bulk::kWarpFloats * sizeof(float));
        bulk_commit();
      }
    } else {
      warp_dq_atomic<kD>(dq_acc + (n * L + i0) * kD, L - i0, reinterpret_cast<const float(&)[8][4]>(dqp), 0, warp,
                         lane);
    }
    __syncthreads();  // every warp is done with buffer buf and dsT before they are refilled
  }
  cp_async_wait<0>();

  if (dv)
    warp_store<T, kD>(dv.row(n, j0), dv.ld(), S - j0, reinterpret_cast<const float(&)[8][4]>(dva), 1.f, warp, lane);
  if (dk)
    warp_store<T, kD>(dk.row(n, j0), dk.ld(), S - j0, reinterpret_cast<const float(&)[8][4]>(dka), scale, warp,
                      lane);
  // The staging tile lives until the CTA exits: the last reduction must have read it (its writes to global
  // memory are complete when the kernel is, as a TMA store's).
  if constexpr (kDqBulk)
    if (lane == 0) bulk_wait_read<0>();
#else
  __trap();  // only the sm_90a pass has wgmma; the host launches this on compute capability 9.0 only
#endif
}

template <typename T, bool kOverlapDq, bool kRowsAsync = false, bool kDqBulk = false, bool kLpt = false>
__global__ void __launch_bounds__(kThreads, 3)
    wgmma_bwd_kernel(const Slices<const T> q, const Slices<const T> k, const Slices<const T> v,
                     const Slices<const T> dout, const float* __restrict__ lse, const float* __restrict__ Dv,
                     const Slices<T> dk, const Slices<T> dv, int64_t L, int64_t S, float scale_log2, float scale,
                     bool causal, float* __restrict__ dq_acc, int64_t lpt) {
  wgmma_bwd_body<T, kOverlapDq, kRowsAsync, kDqBulk, false, kLpt>(q, k, v, dout, lse, Dv, dk, dv, L, S, scale_log2,
                                                                  scale, causal, lpt, dq_acc, nullptr);
}

template <typename T, bool kDqBulk, bool kLpt>
__global__ void __launch_bounds__(kThreads, 3)
    wgmma_bwd_tma_kernel(const __grid_constant__ BwdMaps maps, const Slices<const T> q, const Slices<const T> k,
                         const Slices<const T> v, const Slices<const T> dout, const float* __restrict__ lse,
                         const float* __restrict__ Dv, const Slices<T> dk, const Slices<T> dv, int64_t L, int64_t S,
                         float scale_log2, float scale, bool causal, float* __restrict__ dq_acc, int64_t lpt) {
  wgmma_bwd_body<T, false, false, kDqBulk, true, kLpt>(q, k, v, dout, lse, Dv, dk, dv, L, S, scale_log2, scale,
                                                       causal, lpt, dq_acc, &maps);
}

// dq = scale * acc, rounded to T (the fused backward's last step): acc is
// the packed float32 [N L, kD], dq any slice layout (4-byte aligned rows).
// One warp per row, lanes on adjacent pairs.
template <typename T, int kD>
__global__ void fa2_dq_convert_kernel(const Slices<T> dq, const float* __restrict__ acc, int64_t N, int64_t L,
                                      float scale) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = (int64_t(gridDim.x) * blockDim.x) >> 5;
  for (int64_t row = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5; row < N * L; row += warps) {
    const int64_t n = row / L;
    const float* a = acc + row * kD;
    T* d = dq.row(n, row - n * L);
#pragma unroll
    for (int e = 2 * lane; e < kD; e += 64)
      *reinterpret_cast<uint32_t*>(d + e) = pack2<T>(scale * a[e], scale * a[e + 1]);
  }
}

// The same from the kDqBulk backward's dq_acc (attention_dq_layout.h): one
// thread per float4 of accumulators (a coalesced 16-byte load), which hold
// two adjacent columns of a row and of the row 8 below; rows past L (the
// tile's zero padding) are not written.
template <typename T>
__global__ void fa2_dq_convert_bulk_kernel(const Slices<T> dq, const float* __restrict__ acc, int64_t N, int64_t L,
                                           float scale) {
  const int64_t qtiles = (L + kBr - 1) / kBr, total = N * qtiles * (dq_bulk::kTileFloats / 4);
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t tile = idx / (dq_bulk::kTileFloats / 4);  // (slice, query tile)
    const dq_bulk::RowCol rc = dq_bulk::element(static_cast<int>(idx % (dq_bulk::kTileFloats / 4)) * 4);
    const int64_t n = tile / qtiles, i = (tile % qtiles) * kBr + rc.row;
    const float4 a = reinterpret_cast<const float4*>(acc)[idx];
    if (i < L) *reinterpret_cast<uint32_t*>(dq.row(n, i) + rc.col) = pack2<T>(scale * a.x, scale * a.y);
    if (i + 8 < L) *reinterpret_cast<uint32_t*>(dq.row(n, i + 8) + rc.col) = pack2<T>(scale * a.z, scale * a.w);
  }
}

// The wgmma backward's domain: its switch, head dim 64, a compute capability 9.0 device.
bool wgmma_backward_applies(const Tensor& q) {
  return wgmma_bwd_switch().on() && q.size(-1) == 64 && wgmma_supported(q.device().index);
}

// Shared memory of the mma.sync backward's dK/dV kernel at head dim kD for elements of `elem` bytes: K, V and
// two buffers each of Q and dO, the row vectors (two buffers each of lse and D), and with the fused dQ
// (`fused`) the ds^T tile; the dQ kernel takes the six tiles alone.
template <int kD>
constexpr size_t fa2_backward_smem(size_t elem, bool fused) {
  return size_t(6) * 64 * kD * elem + size_t(4) * kBr * sizeof(float) + (fused ? size_t(kBc) * kBr * elem : 0);
}

template <typename T, int kD>
void launch_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& q, const Tensor& k,
                     const Tensor& v, const Tensor& dout, const Tensor& lse, const Tensor& D, int64_t N, int64_t L,
                     int64_t S, bool causal, double scale) {
  constexpr size_t kTiles = size_t(6) * 64 * kD * sizeof(T);
  const float scale_log2 = static_cast<float>(scale * 1.4426950408889634), sc = static_cast<float>(scale);
  const Slices<const T> qp = slices_of<const T>(q), kp = slices_of<const T>(k), vp = slices_of<const T>(v),
                       gp = slices_of<const T>(dout);
  const float* lp = static_cast<const float*>(lse.data_ptr_raw());
  const float* Dp = static_cast<const float*>(D.data_ptr_raw());
  const int64_t kv_blocks = N * ((S + kBc - 1) / kBc);
  WICK_CHECK(kv_blocks <= 0x7fffffff, kOp, ": too many key tiles for one launch (", kv_blocks, ")");
  constexpr size_t kDkdvSmem = fa2_backward_smem<kD>(sizeof(T), false);
  static_assert(kDkdvSmem == kTiles + size_t(4) * kBr * sizeof(float), "the dK/dV kernel's tiles and row vectors");
  // The fused variants: dK, dV and dQ (through float32 atomics) in one pass, on wgmma (sm_90, head
  // dim 64) or on mma.sync.
  const bool wgmma = wgmma_backward_applies(q);
  // The fused mma.sync variant where its switch is on and its tiles fit (at head dim 128 not on the GPUs of
  // 99 KiB, which attention_fa2_backward_eligible lets through for the two-kernel one).
  const bool fused_fits =
      fa2_backward_smem<kD>(sizeof(T), true) <= device_properties(q.device().index).sharedMemPerBlockOptin;
  if ((wgmma || (fa2_fused_dq_switch().on() && fused_fits)) && dq.defined() && (dk.defined() || dv.defined()) &&
      L > 0) {
    // The bulk dQ reduction (wgmma only, not with the pipelined kernel) keeps dq_acc per 64-row query
    // tile in the accumulators' order, zero-padded past L; the others keep it as [N L, kD] rows.
    const bool pipe = wgmma && wgmma_bwd_pipe_switch().on();
    const bool rows_async = wgmma && !pipe && wgmma_bwd_rows_async_switch().on();
    const bool bulk = kD == 64 && wgmma && !pipe && wgmma_bwd_dq_bulk_switch().on();
    // The TMA loads (before the cp.async rows, which they include) where tensor maps describe q and dout.
    BwdMaps maps{};
    const bool tma = kD == 64 && wgmma && !pipe && wgmma_bwd_tma_switch().on() && L <= 0x7fffffff &&
                     make_slices_map(&maps.q, q, L, N) && make_slices_map(&maps.dout, dout, L, N);
    if (tma) {
      maps.heads_q = static_cast<int>(slice_layout(q)->heads);
      maps.heads_dout = static_cast<int>(slice_layout(dout)->heads);
    }
    const int64_t n = bulk ? N * ((L + kBr - 1) / kBr) * kBr * kD : N * L * kD;
    Tensor acc = empty({n}, TensorOptions(kFloat32).device(q.device()));
    float* ap = static_cast<float*>(acc.data_ptr_raw());
    WICK_CUDA_CHECK(cudaMemsetAsync(ap, 0, static_cast<size_t>(n) * sizeof(float), current_stream()));
    const size_t smem = !wgmma ? fa2_backward_smem<kD>(sizeof(T), true)  // + the ds^T tile
                               : kWgmmaBwdSmem + (bulk ? kWgmmaBwdDqStage : 0) + (tma ? 16 : 0);  // + full[2]
    // The wgmma kernels' 3 CTAs per SM fit only the largest shared-memory carveout (3 x 59 KiB, with bulk
    // dQ 3 x 75 KiB, of 228); the carveout is a hint the driver otherwise picks itself.
    auto prepare = [&](auto kernel) {
      WICK_CUDA_CHECK(
          cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
      if (wgmma)
        WICK_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                             static_cast<int>(cudaSharedmemCarveoutMaxShared)));
      return kernel;
    };
    const bool lpt = wgmma && lpt_switch().on();  // (the wgmma kernels in either grid order)
    const int64_t section =
        lpt ? lpt_section(N, L * kD * int64_t(2 * sizeof(T) + sizeof(float)), q.device().index) : 0;
    // The wgmma kernel of these switches, in the grid order kLpt.
    auto launch_wgmma = [&]<bool kLpt>() {
      if (tma) {
        auto kernel = prepare(bulk ? wgmma_bwd_tma_kernel<T, true, kLpt> : wgmma_bwd_tma_kernel<T, false, kLpt>);
        kernel<<<static_cast<unsigned>(kv_blocks), kThreads, smem, current_stream()>>>(
            maps, qp, kp, vp, gp, lp, Dp, slices_of<T>(dk), slices_of<T>(dv), L, S, scale_log2, sc, causal, ap,
            section);
        return;
      }
      auto kernel = prepare(pipe         ? wgmma_bwd_kernel<T, true, false, false, kLpt>
                            : rows_async ? (bulk ? wgmma_bwd_kernel<T, false, true, true, kLpt>
                                                 : wgmma_bwd_kernel<T, false, true, false, kLpt>)
                                         : (bulk ? wgmma_bwd_kernel<T, false, false, true, kLpt>
                                                 : wgmma_bwd_kernel<T, false, false, false, kLpt>));
      kernel<<<static_cast<unsigned>(kv_blocks), kThreads, smem, current_stream()>>>(
          qp, kp, vp, gp, lp, Dp, slices_of<T>(dk), slices_of<T>(dv), L, S, scale_log2, sc, causal, ap, section);
    };
    if (wgmma) {
      if (lpt) launch_wgmma.template operator()<true>();
      else launch_wgmma.template operator()<false>();
      if (tma) wgmma_bwd_tma_launches.fetch_add(1, std::memory_order_relaxed);
      else if (rows_async) wgmma_bwd_rows_async_launches.fetch_add(1, std::memory_order_relaxed);
    } else {
      prepare(fa2_dkdv_kernel<T, kD, true>)<<<static_cast<unsigned>(kv_blocks), kThreads, smem, current_stream()>>>(
          qp, kp, vp, gp, lp, Dp, slices_of<T>(dk), slices_of<T>(dv), L, S, scale_log2, sc, causal, ap);
    }
    if (lpt) lpt_launches.fetch_add(1, std::memory_order_relaxed);
    if (bulk) wgmma_bwd_dq_bulk_launches.fetch_add(1, std::memory_order_relaxed);
    WICK_CUDA_CHECK_LAUNCH();
    if (bulk)
      fa2_dq_convert_bulk_kernel<T><<<grid_for(n / 4, 256), 256, 0, current_stream()>>>(slices_of<T>(dq), ap, N, L, sc);
    else
      fa2_dq_convert_kernel<T, kD>
          <<<grid_for(N * L * 32, 256), 256, 0, current_stream()>>>(slices_of<T>(dq), ap, N, L, sc);
    WICK_CUDA_CHECK_LAUNCH();
    return;
  }
  if (dk.defined() || dv.defined()) {
    auto kernel = fa2_dkdv_kernel<T, kD, false>;
    WICK_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kDkdvSmem)));
    kernel<<<static_cast<unsigned>(kv_blocks), kThreads, kDkdvSmem, current_stream()>>>(
        qp, kp, vp, gp, lp, Dp, slices_of<T>(dk), slices_of<T>(dv), L, S, scale_log2, sc, causal, nullptr);
    WICK_CUDA_CHECK_LAUNCH();
  }
  if (dq.defined() && L > 0) {
    auto kernel = fa2_dq_kernel<T, kD>;
    const int64_t blocks = N * ((L + kBr - 1) / kBr);
    WICK_CHECK(blocks <= 0x7fffffff, kOp, ": too many query tiles for one launch (", blocks, ")");
    WICK_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kTiles)));
    kernel<<<static_cast<unsigned>(blocks), kThreads, kTiles, current_stream()>>>(
        qp, kp, vp, gp, lp, Dp, slices_of<T>(dq), L, S, scale_log2, sc, causal);
    WICK_CUDA_CHECK_LAUNCH();
  }
}

// Whether the kernels address t [batch..., rows, E] in place with 16-byte
// chunks: a slice_layout whose slices and rows all start 16-byte aligned.
bool chunked_rows(const Tensor& t) {
  const std::optional<SliceLayout> l = slice_layout(t);
  if (!l) return false;
  const int64_t chunk = 16 / static_cast<int64_t>(dtype_size(t.dtype()));
  return l->batch_stride % chunk == 0 && l->head_stride % chunk == 0 && l->row_stride % chunk == 0 &&
         reinterpret_cast<uintptr_t>(t.data_ptr_raw()) % 16 == 0;
}

// A gradient the backward kernels may write: undefined, or of `like`'s
// shape and dtype with rows chunked_rows (written as 16-bit pairs).
bool writable_grad(const Tensor& g, const Tensor& like) {
  if (!g.defined()) return true;
  return g.is_cuda() && g.dtype() == like.dtype() && g.sizes() == like.sizes() && chunked_rows(g);
}

}  // namespace

void set_attention_fa2(bool on) { fa2_switch().set(on); }

bool attention_fa2() { return fa2_switch().on(); }

bool attention_fa2_eligible(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask) {
  if (mask.defined()) return false;
  const DType dt = q.dtype();
  if (!(dt == kFloat16 || dt == kBFloat16) || k.dtype() != dt || v.dtype() != dt) return false;
  if (!(q.is_cuda() && k.is_cuda() && v.is_cuda())) return false;
  if (q.dim() < 2 || k.dim() < 2 || v.dim() < 2) return false;
  const int64_t E = q.size(-1);
  if (!(E == 64 || E == 128) || k.size(-1) != E || v.size(-1) != E) return false;
  if (!(chunked_rows(q) && chunked_rows(k) && chunked_rows(v))) return false;  // cp.async moves 16-byte chunks
  return device_properties(q.device().index).major >= 8;
}

void set_attention_fa2_rows128(bool on) { fa2_rows128_switch().set(on); }

bool attention_fa2_rows128() { return fa2_rows128_switch().on(); }

void set_attention_fa2_backward_fused(bool on) { fa2_fused_dq_switch().set(on); }

void set_attention_fa2_backward_hd128(bool on) { fa2_bwd_hd128_switch().set(on); }
bool attention_fa2_backward_hd128() { return fa2_bwd_hd128_switch().on(); }
int64_t attention_fa2_backward_hd128_launches() { return fa2_bwd_hd128_launches.load(std::memory_order_relaxed); }

bool attention_fa2_backward_fused() { return fa2_fused_dq_switch().on(); }

void set_attention_wgmma_forward(bool on) { wgmma_fwd_switch().set(on); }

bool attention_wgmma_forward() { return wgmma_fwd_switch().on(); }
void set_attention_wgmma_pipelined(bool on) { wgmma_pipe_switch().set(on); }
void set_attention_wgmma_lean(bool on) { wgmma_lean_switch().set(on); }
bool attention_wgmma_lean() { return wgmma_lean_switch().on(); }
int64_t attention_wgmma_lean_launches() { return wgmma_lean_launches.load(std::memory_order_relaxed); }
void set_attention_wgmma_ws(bool on) { wgmma_ws_switch().set(on); }
bool attention_wgmma_ws() { return wgmma_ws_switch().on(); }
int64_t attention_wgmma_ws_launches() { return wgmma_ws_launches.load(std::memory_order_relaxed); }
void set_attention_wgmma_forward_tma(bool on) { wgmma_fwd_tma_switch().set(on); }
bool attention_wgmma_forward_tma() { return wgmma_fwd_tma_switch().on(); }
int64_t attention_wgmma_forward_tma_launches() { return wgmma_fwd_tma_launches.load(std::memory_order_relaxed); }
void set_attention_wgmma_backward_tma(bool on) { wgmma_bwd_tma_switch().set(on); }
bool attention_wgmma_backward_tma() { return wgmma_bwd_tma_switch().on(); }
int64_t attention_wgmma_backward_tma_launches() { return wgmma_bwd_tma_launches.load(std::memory_order_relaxed); }
void set_attention_lpt(bool on) { lpt_switch().set(on); }
bool attention_lpt() { return lpt_switch().on(); }
int64_t attention_lpt_launches() { return lpt_launches.load(std::memory_order_relaxed); }
void set_attention_lpt_section(int64_t slices) {
  WICK_CHECK(slices >= 0, "set_attention_lpt_section: expected a number of slices >= 0 (0: from the L2 size), got ",
             slices);
  lpt_section_fixed.store(slices, std::memory_order_relaxed);
}
int64_t attention_lpt_section() { return lpt_section_fixed.load(std::memory_order_relaxed); }
bool attention_wgmma_pipelined() { return wgmma_pipe_switch().on(); }
void set_attention_wgmma_backward_pipelined(bool on) { wgmma_bwd_pipe_switch().set(on); }
void set_attention_wgmma_backward_dq_bulk(bool on) { wgmma_bwd_dq_bulk_switch().set(on); }
bool attention_wgmma_backward_dq_bulk() { return wgmma_bwd_dq_bulk_switch().on(); }
int64_t attention_wgmma_backward_dq_bulk_launches() {
  return wgmma_bwd_dq_bulk_launches.load(std::memory_order_relaxed);
}
void set_attention_wgmma_backward_rows_async(bool on) { wgmma_bwd_rows_async_switch().set(on); }
bool attention_wgmma_backward_rows_async() { return wgmma_bwd_rows_async_switch().on(); }
int64_t attention_wgmma_backward_rows_async_launches() {
  return wgmma_bwd_rows_async_launches.load(std::memory_order_relaxed);
}
bool attention_wgmma_backward_pipelined() { return wgmma_bwd_pipe_switch().on(); }

void set_attention_wgmma_backward(bool on) { wgmma_bwd_switch().set(on); }

bool attention_fa2_backward_wanted(const Tensor& q) {
  return fa2_backward_switch().on() || wgmma_backward_applies(q);
}

bool attention_wgmma_backward() { return wgmma_bwd_switch().on(); }

void set_attention_fa2_backward(bool on) { fa2_backward_switch().set(on); }

bool attention_fa2_backward_selected() { return fa2_backward_switch().on(); }

bool attention_fa2_backward_eligible(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& q,
                                     const Tensor& k, const Tensor& v, const Tensor& mask, const Tensor& dout) {
  if (!attention_fa2_eligible(q, k, v, mask)) return false;
  // Head dim 64; 128 with its switch (fa2_bwd_hd128_switch) where the device's shared memory holds the
  // two-kernel variant's tiles (97 KiB: so do the 99 KiB of sm_86 / sm_89; launch_backward runs the fused
  // variant, 105 KiB, only where that fits too).
  if (q.size(-1) != 64) {
    if (q.size(-1) != 128 || !fa2_bwd_hd128_switch().on()) return false;
    if (fa2_backward_smem<128>(q.element_size(), false) > device_properties(q.device().index).sharedMemPerBlockOptin)
      return false;
  }
  if (!(dout.is_cuda() && dout.dtype() == q.dtype() && dout.sizes() == q.sizes() && chunked_rows(dout)))
    return false;
  return writable_grad(dq, q) && writable_grad(dk, k) && writable_grad(dv, v);
}

void attention_fa2_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& q, const Tensor& k,
                            const Tensor& v, bool causal, double scale, const Tensor& dout, const Tensor& lse,
                            const Tensor& D) {
  WICK_CHECK(attention_fa2_backward_eligible(dq, dk, dv, q, k, v, Tensor(), dout), kOp,
             ": internal: the FA2 backward does not take these inputs (", q.dtype(), ", head dims ", q.size(-1), ", ",
             v.size(-1), ")");
  const int64_t E = q.size(-1), L = q.size(-2), S = k.size(-2);  // head dim 64 or 128 (eligible)
  WICK_CHECK(lse.is_cuda() && lse.dtype() == kFloat32 && D.is_cuda() && D.dtype() == kFloat32, kOp,
             ": internal: lse and D must be float32 CUDA tensors");
  int64_t N = 1;  // (batch, head) slices
  for (int64_t d = 0; d + 2 < q.dim(); ++d) N *= q.size(d);
  if (N == 0 || S == 0) return;  // the caller handles S == 0 (no key: nothing flows back)
  WICK_CHECK(lse.numel() >= N * L && D.numel() >= N * L, kOp, ": internal: lse / D hold fewer than N * L rows");
  DeviceGuard guard(q.device().index);
  auto run = [&]<typename T>() {
    if (E == 64) return launch_backward<T, 64>(dq, dk, dv, q, k, v, dout, lse, D, N, L, S, causal, scale);
    fa2_bwd_hd128_launches.fetch_add(1, std::memory_order_relaxed);
    launch_backward<T, 128>(dq, dk, dv, q, k, v, dout, lse, D, N, L, S, causal, scale);
  };
  if (q.dtype() == kFloat16)
    run.template operator()<__half>();
  else
    run.template operator()<__nv_bfloat16>();
}

void attention_fa2_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                           bool causal, double scale) {
  WICK_CHECK(attention_fa2_eligible(q, k, v, Tensor()), kOp, ": internal: the FA2 kernel does not take ", q.dtype(),
             " with head dims ", q.size(-1), ", ", v.size(-1));
  WICK_CHECK(out.dtype() == q.dtype() && out.sizes() == q.sizes() && chunked_rows(out) && lse.dtype() == kFloat32,
             kOp, ": internal: out must be like q with 16-byte aligned rows, lse float32");
  const int64_t E = q.size(-1), L = q.size(-2), S = k.size(-2);
  if (L == 0 || q.numel() == 0) return;
  const int64_t N = q.numel() / (L * E);
  DeviceGuard guard(q.device().index);
  // Head dim 128 keeps 64-row tiles: two fragments per warp would need
  // ~300 registers (Q 64, S 64, O 128 per thread).
  const bool wgmma = E == 64 && wgmma_fwd_switch().on() && wgmma_supported(q.device().index);
  const bool rows128 = E == 64 && fa2_rows128_switch().on();
  const bool pipe = wgmma && wgmma_pipe_switch().on();
  // The lean kernel takes its row max unscaled: a positive scale in float, as the kernel gets it (one that
  // rounds to 0 would make the masked scores' fma(-inf, 0, -0) NaN).
  const bool lean = wgmma && !pipe && wgmma_lean_switch().on() && static_cast<float>(scale * 1.4426950408889634) > 0.f;
  // The warp-specialized forward before the lean one; where no tensor map describes an operand, the rest.
  if (wgmma && !pipe && wgmma_ws_switch().on() &&
      (q.dtype() == kFloat16 ? launch_ws<__half>(out, lse, q, k, v, N, L, S, causal, scale)
                             : launch_ws<__nv_bfloat16>(out, lse, q, k, v, N, L, S, causal, scale)))
    return;
  // Then the tiles by TMA (the lean softmax where chosen); likewise.
  auto fwd_tma = [&]<typename T>() {
    return lean ? launch_fwd_tma<T, true>(out, lse, q, k, v, N, L, S, causal, scale)
                : launch_fwd_tma<T, false>(out, lse, q, k, v, N, L, S, causal, scale);
  };
  if (wgmma && !pipe && wgmma_fwd_tma_switch().on() &&
      (q.dtype() == kFloat16 ? fwd_tma.template operator()<__half>() : fwd_tma.template operator()<__nv_bfloat16>()))
    return;
  if (q.dtype() == kFloat16) {
    if (E == 128) launch<__half, 128, 1>(out, lse, q, k, v, N, L, S, causal, scale);
    else if (pipe) launch<__half, 64, -1>(out, lse, q, k, v, N, L, S, causal, scale);
    else if (lean) launch<__half, 64, -2>(out, lse, q, k, v, N, L, S, causal, scale);
    else if (wgmma) launch<__half, 64, 0>(out, lse, q, k, v, N, L, S, causal, scale);
    else if (rows128) launch<__half, 64, 2>(out, lse, q, k, v, N, L, S, causal, scale);
    else launch<__half, 64, 1>(out, lse, q, k, v, N, L, S, causal, scale);
  } else {
    if (E == 128) launch<__nv_bfloat16, 128, 1>(out, lse, q, k, v, N, L, S, causal, scale);
    else if (pipe) launch<__nv_bfloat16, 64, -1>(out, lse, q, k, v, N, L, S, causal, scale);
    else if (lean) launch<__nv_bfloat16, 64, -2>(out, lse, q, k, v, N, L, S, causal, scale);
    else if (wgmma) launch<__nv_bfloat16, 64, 0>(out, lse, q, k, v, N, L, S, causal, scale);
    else if (rows128) launch<__nv_bfloat16, 64, 2>(out, lse, q, k, v, N, L, S, causal, scale);
    else launch<__nv_bfloat16, 64, 1>(out, lse, q, k, v, N, L, S, causal, scale);
  }
}

}  // namespace wick::cuda
