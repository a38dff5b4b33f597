// Section 4 of gemm.cu, the float32 SIMT GEMM with cp.async stages (the
// default for float32 on sm_80 and later), in a header of its own so that
// two translation units can compile the same kernels:
//  - gemm.cu, with nvcc, for the GPU;
//  - tests/cuda/test_gemm_simt_emu.cpp, with the host compiler, under the
//    CUDA emulator of tests/support/cuda_emu.h: every CUDA thread a fiber,
//    __syncthreads a rendezvous, cp.async copies landing late, early or at
//    random points, threads in shuffled orders. So the kernels' indexing,
//    pipelines and stream-K bookkeeping run, and are checked, on a machine
//    without a GPU (not their speed, nor anything the hardware adds: the
//    emulator runs the threads of a CTA one at a time).
// Everything is in an unnamed namespace: each of the two gets its own copy,
// and the emulator's host functions never meet the CUDA build's launch stubs
// at link time. Include it from gemm.cu and the emulator test only.
#pragma once

#include <cstdint>
#include <type_traits>

#ifndef WICK_CUDA_EMU
#include "cuda/kernels/cp_async.cuh"
#endif
#include "cuda/kernels/gemm_simt_plan.h"

namespace wick::cuda {

namespace {

// The parameters of the SIMT kernels (gemm_simt_kernel in gemm.cu, and
// SaParams below).
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

// ---------------------------------------------------------------------------
// 4. float32 SIMT with cp.async stages and split-K (sm_80+; on by default, simt_async_switch)
//
// The layout of cuBLAS's Hopper SGEMM tiles (128 x 128 x 8, 2 x 2 warps,
// multi-stage): a CTA of 4 warps computes a 128 x 128 tile of C, each warp a
// 64 x 64 quarter, each lane 16 x 8 outputs (128 accumulators). Lanes form
// a 4 (m) x 8 (n) grid; a lane's rows are 4 groups of 4 consecutive rows 16
// apart, its columns 2 groups of 4 consecutive columns 32 apart. Per k a
// lane reads 4 + 2 16-byte vectors from shared memory for 128 FMAs (the
// default kernel: 4 for 64), and the vectors a warp reads in one load are
// contiguous: 4 distinct ones (64 bytes) for A, 8 (128 bytes) for B.
//
// Operand tiles go from global to shared memory by cp.async, kSaStages
// stages deep (no register staging): each stage holds [BK][BM] of A and
// [BK][BN] of B, k-major, rows padded to 132 floats. A layout whose
// contiguous dimension is m (n for B) is copied 16 bytes at a time when
// aligned, 4 otherwise; one whose contiguous dimension is k is copied 4 bytes
// at a time, transposing: the 32 lanes of a warp cover 8 k by 4 rows, and the
// padding (4 floats) puts those 32 stores in 32 distinct banks. Elements past
// the matrix, or past the CTA's K range, are zero-filled by cp.async's
// src-size operand.
//
// Split-K: when the tiles would leave SMs idle or run a thin last wave
// (choose_simt_splits), the K range is cut into `splits` chunks (multiples of
// BK), grid.z runs over (batch, split), each CTA stores its raw partial tile
// in a float32 workspace [batch][splits][M][N], and simt_split_reduce_kernel
// sums the splits in order (deterministic) and applies alpha and beta.
//
// Hybrid stream-K (opt-in, simt_stream_k_switch; written without a GPU,
// 2026-11-28): where the plain grid's last round of tiles runs mostly empty
// (cuda/kernels/gemm_simt_plan.h, which says why), gemm_simt_stream_k_kernel
// runs one CTA per tile slot: the whole waves' tiles one per CTA, then every
// CTA's equal share of the remaining tiles' k steps (StreamKPlan), partial
// tiles to a workspace of 128 x 128 slots, summed in CTA order by
// simt_stream_k_fixup_kernel. Both kernels run each tile through
// simt_async_tile, the k loop and epilogue of gemm_simt_async_kernel (whose
// PTX k loop is the same as before that function was factored out; the
// epilogue's branches are laid out differently).
//
// Registers (ptxas, CUDA 13, __launch_bounds__(128, 2) caps them at 255),
// with the kK copies' whole-stage path (2026-11-28): 245-252 on sm_90a, no
// spill; on sm_80 four of the nine copy-mode pairs spill 12-32 bytes, the
// 64-row variant's six none; the reloads in the epilogue, not the k loop
// (SASS). Written without a GPU; CudaGemm.SimtAsyncTiles passed on
// an H200 (2026-11-28), where bench_cuda_gemm --compare timed it at 0.77-0.90x
// cuBLAS on the GPT-2 shapes and 4096^3 (37-45 TFLOP/s) and 0.46x on the
// 64 x 200704 x 576 ResNet layer (section 1: 0.20-0.78x, 0.34x).

constexpr int kSaBM = 128, kSaBN = 128, kSaBK = 8, kSaStages = 4, kSaThreads = 128;
static_assert(kSaBM == kSaBN, "A's and B's stage tiles share one shape");

// How an operand tile is copied: along its contiguous x (m or n) dimension
// 16 bytes at a time (kVec) or 4 (kX), or along a contiguous k, 4 bytes at a
// time (kK), or 16 (kKVec, opt-in: SaKVecLoader).
enum class SaMode { kVec, kX, kK, kKVec };

// The SIMT kernel's parameters (vec_a / vec_b: 16-byte copies allowed) and:
struct SaParams : SimtParams<float> {
  bool vec_c;        // C rows 16-byte aligned (4-float stores)
  int splits;        // K chunks; > 1: partial tiles to `work`
  int64_t k_chunk;   // elements of K per chunk, a multiple of kSaBK
  float* work;       // [batch][splits][M][N] when splits > 1
};

// One thread's share of copying an operand's stage tiles: kCopies copies per
// stage at fixed distances from one offset. The operand's element (x, k) is
// at base[x * xs + k * ks], where the contiguous dimension's stride is 1 (x's
// for kVec and kX, k's for kK) and the other one is `ld`; so copy i lies
// i * kDx * ld (kK) or i * kDk * ld (kVec, kX) elements past copy 0, and a
// stage kSaBK * ld (kVec, kX) or kSaBK (kK) past the previous one.
//
// kBX: the stage tile's width (kSaBM = kSaBN = 128; the 64-row variant's A
// and B tiles are 64 and 256 wide). The 128 threads cover a k-row of the
// tile with 16-byte copies (kVec: kBX / 4 lanes along x, the rest on further
// k), 4-byte ones along x (kX: kBX <= 128 lanes along x) or along k (kK: 8
// lanes along k, 16 x per copy round).
template <SaMode kMode, int kBX = kSaBM>
struct SaLoader {
  static_assert(kBX == 64 || kBX == 128 || kBX == 256, "stage tiles 64, 128 or 256 wide");
  static_assert(kMode != SaMode::kX || kBX <= 128, "4-byte copies along x: at most one x per thread and k");
  static constexpr bool kAlongK = kMode == SaMode::kK;
  static constexpr int kLanesX = kMode == SaMode::kVec ? kBX / 4 : kMode == SaMode::kX ? kBX : 16;
  static constexpr int kLd = kBX + 4;  // floats per k-row of the stage tile (padded)
  // Copy i's tile coordinates: x = x_lane() + i * kDx, k = k_lane() + i * kDk.
  static constexpr int kDx = kAlongK ? 16 : 0;
  static constexpr int kDk = kAlongK ? 0 : kSaThreads / kLanesX;
  static constexpr int kCopies = kAlongK ? kBX / 16 : kSaBK / kDk;
  static constexpr int kSmemStep = kDk * kLd + kDx;  // floats between copies in the stage tile

  const float* base;  // the matrix of this batch index
  int64_t off;        // copy 0's element at k = 0 (formed into a pointer only when inside)
  int64_t ld;         // the stride of the non-contiguous dimension
  uint32_t x_ok = 0;  // bit i: copy i's x lies inside the matrix
  int vec_bytes = 0;  // kVec: bytes of the copies' 4 x values inside the matrix
  bool x_all;         // the tile's whole x range lies inside the matrix (the same for every thread)

  // (kX with one x per thread, kBX == kSaThreads: tid itself and k 0, spelled so for the compiler, which
  // does not know tid < 128.)
  static constexpr bool kOneRow = kMode == SaMode::kX && kLanesX == kSaThreads;
  __device__ __forceinline__ static int x_lane(int tid) {
    return kMode == SaMode::kVec ? (tid % kLanesX) * 4 : kOneRow ? tid : kMode == SaMode::kX ? tid % kLanesX : tid / 8;
  }
  __device__ __forceinline__ static int k_lane(int tid) {
    return kOneRow ? 0 : kMode == SaMode::kVec || kMode == SaMode::kX ? tid / kLanesX : tid % 8;
  }

  __device__ __forceinline__ SaLoader(const float* mat, int64_t ld_, int64_t x0, int64_t X, int tid)
      : base(mat), ld(ld_), x_all(x0 + kBX <= X) {
    const int64_t gx = x0 + x_lane(tid);
    off = kAlongK ? gx * ld + k_lane(tid) : gx + k_lane(tid) * ld;
#pragma unroll
    for (int i = 0; i < kCopies; ++i)
      if (gx + i * kDx < X) x_ok |= 1u << i;
    if constexpr (kMode == SaMode::kVec) vec_bytes = gx < X ? static_cast<int>(X - gx < 4 ? X - gx : 4) * 4 : 0;
  }

  // The stage tile of k in [k0, k0 + kSaBK) (k < kend only) into smem tile
  // `dst` ([kSaBK][kLd] floats).
  __device__ __forceinline__ void copy(float* dst, int64_t k0, int64_t kend, int tid) const {
    const int64_t o = off + (kAlongK ? k0 : k0 * ld), step = kAlongK ? kDx * ld : kDk * ld;
    const int64_t k_room = kend - k0 - k_lane(tid);  // copy i is inside K when i * kDk < k_room
    const uint32_t s = smem_addr(dst + k_lane(tid) * kLd + x_lane(tid));
    int64_t oi = o;  // copy i's element (a running sum: no per-copy offsets kept live across the loop)
    if constexpr (kMode == SaMode::kK) {
      if (x_all && kend - k0 >= kSaBK) {
        // A stage wholly inside the matrix (all but the edge tiles and K's last partial stage; the same
        // for the whole CTA): the same copies without the per-copy bounds, selects and source sizes.
        // ptxas, short of registers beside the 128 accumulators, otherwise recomputes x_ok's kBX / 16
        // 64-bit compares every stage. (x_all: every copy's x = x_lane + 16 i < kBX; a whole stage: its
        // k_lane < kSaBK <= kend - k0.) Only kK: in the 16-byte (kVec) loaders, 2 copies a stage, the
        // same path saved no SASS on sm_90a and cost the sm_80 build spills.
#pragma unroll
        for (int i = 0; i < kCopies; ++i, oi += step) cp_async4(s + i * kSmemStep * 4, base + oi, 4);
        return;
      }
    }
#pragma unroll
    for (int i = 0; i < kCopies; ++i, oi += step) {
      const bool in = ((x_ok >> i) & 1u) != 0 && i * kDk < k_room;
      const float* src = in ? base + oi : base;
      if constexpr (kMode == SaMode::kVec)
        cp_async16(s + i * kSmemStep * 4, src, in ? vec_bytes : 0);
      else
        cp_async4(s + i * kSmemStep * 4, src, in ? 4 : 0);
    }
  }
};

// kKVec (opt-in, simt_kvec_switch; written without a GPU): an operand whose
// contiguous dimension is k, 16-byte aligned (every row), copied 16 bytes (4
// k of one row) at a time into a raw stage [kBX][kSaBK] in its own layout,
// then moved by the thread that copied it, once the copy has landed and
// before the k step's barrier, into the [kSaBK][kBX + 4] stage tile the k
// loop reads: per thread and stage of a 128-wide tile, 2 16-byte copies, 2
// 16-byte shared loads and 8 4-byte shared stores, where kK issues 16 4-byte
// copies (a warp's copy touching 4 rows) and the copies first
// (simt_transpose_switch) read and write the whole operand once more in a
// kernel of their own (for GPT-2's 8192 x 768 forwards about 5% of the
// product's time). The k loop and the order of every sum are unchanged: the
// same bits as both.
// Chunk c = tid + 128 i (i < kBX / 64) of a stage is row c / 2 = tid / 2 + 64
// i, k 4 (tid % 2) .. + 3. A warp's raw loads and the copies' shared writes
// are 512 contiguous bytes; its stores to the stage tile for one k offset j
// hit banks (4 (4 (l % 2) + j) + l / 2 + const) mod 32 for lanes l (a padded
// row is kBX + 4 = 4 mod 32 floats): 32 distinct banks.
// Rings: a raw slot is refilled kSaStages - 1 k steps after it was copied, by
// the thread that moved its chunks out just before (so kSaStages - 1 raw
// slots: the copy of step kt + kSaStages - 1 goes where step kt's was); the
// stage tiles are written just before the barrier of the k step that reads
// them, and step kt + 2 writes kt's only after every thread has passed step
// kt + 1's barrier, done with kt's products (so 2 stage tiles). Both
// operands this way: 41 KiB of static shared memory against the 48 allowed
// (4 stage tiles each, besides the raw slots, would be 58).
template <int kBX>
struct SaKVecLoader {
  static_assert(kBX == 128, "the 128 x 128 tiles (the 64-row ones' 256-wide B would not fit the shared memory)");
  static constexpr int kCopies = kBX / 64;
  static constexpr int kLd = kBX + 4;  // floats per k-row of the stage tile (padded), as SaLoader's

  const float* base;  // the matrix of this batch index
  int64_t off;        // chunk 0's element at k = 0 (formed into a pointer only when inside)
  int64_t ld;         // the row stride (k is contiguous)
  uint32_t x_ok = 0;  // bit i: chunk i's row lies inside the matrix

  __device__ __forceinline__ SaKVecLoader(const float* mat, int64_t ld_, int64_t x0, int64_t X, int tid)
      : base(mat), ld(ld_) {
    const int64_t gx = x0 + tid / 2;
    off = gx * ld + 4 * (tid % 2);
#pragma unroll
    for (int i = 0; i < kCopies; ++i)
      if (gx + 64 * i < X) x_ok |= 1u << i;
  }

  // The chunks of k in [k0, k0 + kSaBK) (k < kend only: zero-filled past it by cp.async's source size)
  // into raw slot `raw`. k0 is a multiple of kSaBK, so every source is 16-byte aligned.
  __device__ __forceinline__ void copy(float* raw, int64_t k0, int64_t kend, int tid) const {
    const int64_t room = kend - k0 - 4 * (tid % 2);  // this thread's k values inside the range
    const int bytes = room <= 0 ? 0 : room >= 4 ? 16 : static_cast<int>(room) * 4;
    const uint32_t s = smem_addr(raw + (tid / 2) * kSaBK + 4 * (tid % 2));
    int64_t oi = off + k0;
#pragma unroll
    for (int i = 0; i < kCopies; ++i, oi += 64 * ld) {
      const bool in = ((x_ok >> i) & 1u) != 0 && bytes > 0;
      cp_async16(s + i * 64 * kSaBK * 4, in ? base + oi : base, in ? bytes : 0);
    }
  }

  // This thread's chunks of raw slot `raw` (its copies landed: cp.async.wait_group) into stage tile `dst`.
  __device__ __forceinline__ void move(const float* raw, float* dst, int tid) const {
    const int x = tid / 2, k = 4 * (tid % 2);
#pragma unroll
    for (int i = 0; i < kCopies; ++i) {
      const float4 v = *reinterpret_cast<const float4*>(raw + (x + 64 * i) * kSaBK + k);
      float* d = dst + k * kLd + x + 64 * i;
      d[0] = v.x, d[kLd] = v.y, d[2 * kLd] = v.z, d[3 * kLd] = v.w;
    }
  }
};

// An operand's loader, and its rings (SaKVecLoader): stage tiles and raw slots.
template <SaMode kMode, int kBX>
using SaLoaderFor = std::conditional_t<kMode == SaMode::kKVec, SaKVecLoader<kBX>, SaLoader<kMode, kBX>>;
template <SaMode kMode>
inline constexpr int kSaTiles = kMode == SaMode::kKVec ? 2 : kSaStages;
// (Operands of other modes: 4 unused floats, which the compiler drops.)
template <SaMode kMode, int kBX>
inline constexpr int kSaRawFloats = kMode == SaMode::kKVec ? (kSaStages - 1) * kBX * kSaBK : 4;

// kRows64 (opt-in, simt_rows64_switch): 64 x 256 tiles for products of at
// most 64 rows, where a 128-row tile computes half zeros (the 64 x 200704 x
// 576 ResNet layer ran at 0.46x cuBLAS): the 4 warps side by side along n,
// each still 64 x 64; the same k steps, copies (A's tile 64 wide, B's 256)
// and epilogue. B's 4-byte copies along n (an unaligned n-contiguous B) do
// not cover 256 columns, so those products keep the 128 x 128 tiles.
// The stage tiles of the cp.async kernel (A's [kSaStages][kSaBK][kBM + 4], B's likewise): its tile shape.
template <bool kRows64>
struct SaTile {
  static constexpr int kBM = kRows64 ? 64 : kSaBM, kBN = kRows64 ? 256 : kSaBN;
  using AStage = float[kSaBK][kBM + 4];
  using BStage = float[kSaBK][kBN + 4];
};

// Where a tile's epilogue writes: element (m, n) at out[(m - om) * ld + n - on], C = alpha acc + beta C,
// or (partial) the raw accumulators; vec: 16-byte stores allowed (rows of `out` 16-byte aligned).
struct SaOut {
  float* out;
  int64_t ld, om, on;
  bool partial, vec;
};

// One output tile of the cp.async kernel: rows m0.., columns n0.. of batch bi over k in [kbeg, kend), the
// stages As, Bs (the CTA's shared memory), then the epilogue where dest() (called then) says. The
// thread's place: tid, and row0 / col0 (its rows in the tile are row0 + g * 16 + r, its columns col0 +
// h * 32 + c; sa_lane_origin).
template <bool kRows64>
__device__ __forceinline__ void sa_lane_origin(int tid, int& row0, int& col0) {
  const int lane = tid % 32, warp = tid / 32;
  row0 = (kRows64 ? 0 : (warp / 2) * 64) + (lane / 8) * 4;
  col0 = (kRows64 ? warp * 64 : (warp % 2) * 64) + (lane % 8) * 4;
}
// kKVec operands (SaKVecLoader) are copied into their raw slots Ar / Br (kSaStages - 1 of them) and moved
// into kSaTiles<kKVec> = 2 stage tiles; the others' stage tiles are kSaStages deep and Ar / Br unused.
template <SaMode kA, SaMode kB, bool kRows64, typename Dest>
__device__ __forceinline__ void simt_async_tile(const SaParams& p, typename SaTile<kRows64>::AStage* As,
                                                typename SaTile<kRows64>::BStage* Bs, float* Ar, float* Br, int tid,
                                                int row0, int col0, int64_t m0, int64_t n0, int64_t bi, int64_t kbeg,
                                                int64_t kend, Dest&& dest) {
  constexpr int kBM = SaTile<kRows64>::kBM, kBN = SaTile<kRows64>::kBN;
  constexpr bool kRawA = kA == SaMode::kKVec, kRawB = kB == SaMode::kKVec;
  static_assert(!kRows64 || (!kRawA && !kRawB), "16-byte k-contiguous copies: the 128 x 128 tiles only");
  const int nk = kend > kbeg ? static_cast<int>((kend - kbeg + kSaBK - 1) / kSaBK) : 0;  // < 2^31 for K < 2^34
  // A's non-contiguous stride is its m stride when k is contiguous (kK, kKVec), else its k stride; B's likewise.
  const SaLoaderFor<kA, kBM> la(p.A + bi * p.stride_a, kA == SaMode::kK || kRawA ? p.a_ms : p.a_ks, m0, p.M, tid);
  const SaLoaderFor<kB, kBN> lb(p.B + bi * p.stride_b, kB == SaMode::kK || kRawB ? p.b_ns : p.b_ks, n0, p.N, tid);
  // Where step s is copied: its raw slot (kKVec) or its stage tile.
  auto a_dst = [&](int s) { return kRawA ? Ar + (s % (kSaStages - 1)) * (kBM * kSaBK) : &As[s % kSaStages][0][0]; };
  auto b_dst = [&](int s) { return kRawB ? Br + (s % (kSaStages - 1)) * (kBN * kSaBK) : &Bs[s % kSaStages][0][0]; };

  float acc[16][8];
#pragma unroll
  for (int i = 0; i < 16; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = 0.f;

#pragma unroll
  for (int s = 0; s < kSaStages - 1; ++s) {
    if (s < nk) {
      la.copy(a_dst(s), kbeg + s * kSaBK, kend, tid);
      lb.copy(b_dst(s), kbeg + s * kSaBK, kend, tid);
    }
    cp_async_commit();  // empty groups keep the count that wait_group relies on
  }
  int64_t k_fill = kbeg + (kSaStages - 1) * kSaBK;  // first k of the stage the loop copies next
  for (int kt = 0; kt < nk; ++kt, k_fill += kSaBK) {
    cp_async_wait<kSaStages - 2>();  // this thread's copies of stage kt have landed
    // kKVec: this thread's chunks of step kt from their raw slot into the step's stage tile.
    if constexpr (kRawA) la.move(a_dst(kt), &As[kt % kSaTiles<kA>][0][0], tid);
    if constexpr (kRawB) lb.move(b_dst(kt), &Bs[kt % kSaTiles<kB>][0][0], tid);
    __syncthreads();                 // everyone's have; and stage kt - 1 is no longer read
    const int next = kt + kSaStages - 1;
    if (next < nk) {
      la.copy(a_dst(next), k_fill, kend, tid);
      lb.copy(b_dst(next), k_fill, kend, tid);
    }
    cp_async_commit();
    const int cur_a = kt % kSaTiles<kA>, cur_b = kt % kSaTiles<kB>;
#pragma unroll
    for (int kk = 0; kk < kSaBK; ++kk) {
      float a[16], b[8];
#pragma unroll
      for (int g = 0; g < 4; ++g) {
        const float4 v = *reinterpret_cast<const float4*>(&As[cur_a][kk][row0 + g * 16]);
        a[g * 4 + 0] = v.x, a[g * 4 + 1] = v.y, a[g * 4 + 2] = v.z, a[g * 4 + 3] = v.w;
      }
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const float4 v = *reinterpret_cast<const float4*>(&Bs[cur_b][kk][col0 + h * 32]);
        b[h * 4 + 0] = v.x, b[h * 4 + 1] = v.y, b[h * 4 + 2] = v.z, b[h * 4 + 3] = v.w;
      }
#pragma unroll
      for (int i = 0; i < 16; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
  }
  cp_async_wait<0>();  // no copy still targets the buffers when the next tile starts
  __syncthreads();

  // Epilogue: C = alpha acc + beta C, or the raw partial.
  const SaOut d = dest();
  float* const out = d.out;
  const int64_t ld = d.ld, om = d.om, on = d.on;
  const bool partial = d.partial, vec = d.vec;
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    const int64_t m = m0 + row0 + (i / 4) * 16 + i % 4;
    if (m >= p.M) continue;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int64_t n = n0 + col0 + h * 32;
      float* c = out + (m - om) * ld + (n - on);
      float r[4];
#pragma unroll
      for (int e = 0; e < 4; ++e) r[e] = partial ? acc[i][h * 4 + e] : p.alpha * acc[i][h * 4 + e];
      if (vec && n + 4 <= p.N) {
        if (!partial && p.beta != 0.f) {
          const float4 o = *reinterpret_cast<const float4*>(c);
          r[0] = fmaf(p.beta, o.x, r[0]), r[1] = fmaf(p.beta, o.y, r[1]);
          r[2] = fmaf(p.beta, o.z, r[2]), r[3] = fmaf(p.beta, o.w, r[3]);
        }
        *reinterpret_cast<float4*>(c) = make_float4(r[0], r[1], r[2], r[3]);
      } else {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          if (n + e >= p.N) break;
          c[e] = !partial && p.beta != 0.f ? fmaf(p.beta, c[e], r[e]) : r[e];
        }
      }
    }
  }
}

template <SaMode kA, SaMode kB, bool kRows64 = false>
__global__ void __launch_bounds__(kSaThreads, 2) gemm_simt_async_kernel(SaParams p) {
  using Tile = SaTile<kRows64>;
  __shared__ __align__(16) typename Tile::AStage As[kSaTiles<kA>];
  __shared__ __align__(16) typename Tile::BStage Bs[kSaTiles<kB>];
  __shared__ __align__(16) float Ar[kSaRawFloats<kA, Tile::kBM>], Br[kSaRawFloats<kB, Tile::kBN>];
  const int tid = threadIdx.x;
  int row0, col0;
  sa_lane_origin<kRows64>(tid, row0, col0);
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * Tile::kBM, n0 = static_cast<int64_t>(blockIdx.x) * Tile::kBN;
  for (int64_t z = blockIdx.z; z < p.batch * p.splits; z += gridDim.z) {
    const int64_t bi = z / p.splits;
    const int split = static_cast<int>(z % p.splits);
    const int64_t kbeg = split * p.k_chunk, kend = min(p.K, kbeg + p.k_chunk);
    simt_async_tile<kA, kB, kRows64>(p, As, Bs, Ar, Br, tid, row0, col0, m0, n0, bi, kbeg, kend, [&] {
      // C, or with split-K the raw partial into the workspace [batch][splits][M][N].
      const bool partial = p.splits > 1;
      return SaOut{partial ? p.work + z * p.M * p.N : p.C + bi * p.stride_c, partial ? p.N : p.ldc, 0, 0, partial,
                   partial ? p.N % 4 == 0 : p.vec_c};
    });
  }
}

// The hybrid stream-K grid (gemm_simt_plan.h; batch 1, 128 x 128 tiles, no split-K): CTA c of h.ctas runs the
// whole-wave tiles c, c + h.ctas, ... < h.dp_tiles, then its stream-K segments of the rest; a partial segment's
// raw accumulators go to workspace slot (c, slot), a 128 x 128 row-major tile at ws + (2 c + slot) 128^2,
// for simt_stream_k_fixup_kernel.
template <SaMode kA, SaMode kB>
__global__ void __launch_bounds__(kSaThreads, 2) gemm_simt_stream_k_kernel(SaParams p, SimtStreamK h, int64_t tiles_n,
                                                                          float* ws) {
  using Tile = SaTile<false>;
  __shared__ __align__(16) typename Tile::AStage As[kSaTiles<kA>];
  __shared__ __align__(16) typename Tile::BStage Bs[kSaTiles<kB>];
  __shared__ __align__(16) float Ar[kSaRawFloats<kA, Tile::kBM>], Br[kSaRawFloats<kB, Tile::kBN>];
  const int tid = threadIdx.x;
  int row0, col0;
  sa_lane_origin<false>(tid, row0, col0);
  int64_t u = blockIdx.x;  // this CTA's next whole-wave tile
  StreamKCursor cur(h.sk, blockIdx.x);
  for (;;) {
    int64_t tile, kbeg = 0, kend = p.K;
    bool partial = false;
    int slot = 0;
    if (u < h.dp_tiles) {
      tile = u;
      u += gridDim.x;
    } else {
      StreamKSegment s;
      if (!cur.next(h.sk, s)) break;
      tile = h.dp_tiles + s.tile;
      kbeg = s.k0 * kSaBK, kend = min(p.K, s.k1 * kSaBK);
      partial = !s.full(h.sk.k_iters), slot = s.slot;
    }
    const int64_t m0 = tile / tiles_n * kSaBM, n0 = tile % tiles_n * kSaBN;
    simt_async_tile<kA, kB, false>(p, As, Bs, Ar, Br, tid, row0, col0, m0, n0, 0, kbeg, kend, [&] {
      if (!partial) return SaOut{p.C, p.ldc, 0, 0, false, p.vec_c};
      return SaOut{ws + (2 * static_cast<int64_t>(blockIdx.x) + slot) * (kSaBM * kSaBN), kSaBN, m0, n0, true, true};
    });
  }
}

// Finishes the stream-K tiles no one CTA covered: C = alpha * (the sum of the tile's partials, in CTA order)
// + beta * C. Block (t, y): stream-K tile t, rows 8 y .. 8 y + 7; thread x: row 8 y + x / 32, columns
// 4 (x % 32) .. + 3, one 16-byte load per partial.
__global__ void __launch_bounds__(256) simt_stream_k_fixup_kernel(SaParams p, SimtStreamK h, int64_t tiles_n,
                                                                   const float* ws) {
  const StreamKPlan& sk = h.sk;
  const int64_t t = blockIdx.x;
  const int64_t lo = sk.cta_of(t * sk.k_iters), hi = sk.cta_of((t + 1) * sk.k_iters - 1);
  if (lo == hi) return;  // one CTA covered the tile and stored it
  const int64_t tile = h.dp_tiles + t, m0 = tile / tiles_n * kSaBM, n0 = tile % tiles_n * kSaBN;
  const int r = static_cast<int>(blockIdx.y) * 8 + static_cast<int>(threadIdx.x) / 32, c = (threadIdx.x % 32) * 4;
  const int64_t m = m0 + r;
  if (m >= p.M) return;
  float s[4] = {0.f, 0.f, 0.f, 0.f};
  for (int64_t q = lo; q <= hi; ++q) {
    if (sk.empty(q)) continue;  // (a forced grid of more CTAs than k steps: no partial)
    const float4 v = __ldcg(reinterpret_cast<const float4*>(ws + (2 * q + sk.slot(q, t)) * (kSaBM * kSaBN) + r * kSaBN + c));
    s[0] += v.x, s[1] += v.y, s[2] += v.z, s[3] += v.w;
  }
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    const int64_t n = n0 + c + e;
    if (n >= p.N) break;
    float* o = p.C + m * p.ldc + n;
    *o = p.beta != 0.f ? fmaf(p.beta, *o, p.alpha * s[e]) : p.alpha * s[e];
  }
}

// C[b][m, n] = alpha * (sum over s, in order, of work[b][s][m, n]) + beta * C[b][m, n]
// (beta = 0: C is not read).
__global__ void simt_split_reduce_kernel(const float* work, float* C, int64_t M, int64_t N, int64_t batch,
                                         int splits, int64_t ldc, int64_t stride_c, float alpha, float beta) {
  const int64_t mn = M * N, total = batch * mn;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = i / mn, r = i % mn;
    const float* w = work + b * splits * mn + r;
    float s = 0.f;
    for (int k = 0; k < splits; ++k) s += w[k * mn];
    float* c = C + b * stride_c + (r / N) * ldc + r % N;
    *c = beta != 0.f ? fmaf(beta, *c, alpha * s) : alpha * s;
  }
}

}  // namespace

}  // namespace wick::cuda
