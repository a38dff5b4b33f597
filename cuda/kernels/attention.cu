// Fused (flash-attention style) scaled_dot_product_attention on CUDA:
// forward with the online softmax, and the FlashAttention-2 backward
// (contract: cuda/kernels/attention.h; the CPU twin, with the same algorithm
// and edge cases, is ops/cpu/attention.cpp; the readable reference is the
// composed scaled_dot_product_attention_math of ops/attention.cpp).
//
// Forward, one block per (slice n, tile of Br query rows); K/V stream
// through shared memory in tiles of Bc keys:
//   m = -inf, l = 0, acc = 0                              per query row, in registers
//   for each key tile j (causal: only tiles with some j <= i):
//     s   = scale * Q_i K_j^T (+ mask; masked -> -inf)    Br x Bc, registers
//     m'  = max(m, rowmax(s)),  p = exp(s - m')           (p = 0 while every key so far is masked)
//     l   = l * exp(m - m') + rowsum(p)
//     acc = acc * exp(m - m') + p V_j                     p goes through shared memory
//   O = acc / l,  lse = m + log(l)                        (fully masked row: 0/0 = NaN, lse = -inf)
// Backward (Dao 2023), D_i = rowsum(dO_i * O_i) precomputed by its own kernel:
//   p  = exp(scale * Q_i K_j^T + mask - lse_i)            recomputed, never stored in global memory
//   dp = dO_i V_j^T,  ds = p * (dp - D_i)                 (0 where a bool/causal mask excluded the score)
//   kernel 1, one block per key tile j, looping over query tiles i:
//        dV_j += p^T dO_i,  dK_j += scale * ds^T Q_i      accumulated in registers
//   kernel 2, one block per query tile i, looping over key tiles j:
//        dQ_i += scale * ds K_j
// Every output element is owned by one thread and summed in a fixed order:
// deterministic, no atomics. The price is that kernel 2 recomputes s, p and
// dp (the CPU's two-pass schedule).
//
// Work (E = Ev = D; causal about half of each):
//   forward   4 N L S D FLOPs (QK^T, PV) + N L S exp
//   backward 14 N L S D FLOPs (kernel 1: QK^T, dO V^T, P^T dO, dS^T Q = 8;
//                              kernel 2: QK^T, dO V^T, dS K = 6) + 2 N L S exp
// Memory traffic (never O(L S)): the forward reads Q once and K, V once per
// query tile, N (L/Br) S 2D elements, and writes O and lse; the backward's
// kernel 1 reads K, V once and Q, dO, lse, D once per key tile, kernel 2 the
// reverse. At GPT-2's N = 96, L = S = 1024, D = 64 that is ~2 x 12 MiB of K/V
// reads (float32) for 26 GFLOP of forward work: compute bound.
//
// Two implementations, checked by the same tests:
//  - SIMT (every dtype; the only one for float32/float64, and for 16-bit on
//    devices before sm_80): tiles converted to the compute type in shared
//    memory. 256 threads as a 16 x 16 grid; thread (ty, tx) owns R
//    consecutive rows (ty*R + r) and C strided columns (tx + 16 c) of each
//    16R x 16C score tile, so a row's max and sum are reductions over the 16
//    lanes of a half-warp (shuffles), and the output accumulator is R rows x
//    D/16 strided columns in registers. Tile rows are padded by one element:
//    a half-warp reading a column of 16 rows hits 16 different banks.
//  - tensor cores (float16/bfloat16 on sm_80+, WMMA 16x16x16 with float32
//    accumulation): the same three kernels with every tile product on
//    fragments and the softmax / ds elementwise work in SIMT between them
//    (see the section "forward on tensor cores" below).
// Head dims are templated in two buckets, D <= 64 and D <= 128 (entries
// beyond E / Ev are zero-filled); tiles are sized per bucket and compute type
// so that shared memory stays <= 146 KiB (the kernels opt in with
// cudaFuncSetAttribute; sm_80 allows 163 KiB). Larger heads take the
// composed path (ops/attention.cpp).
//
// These are the general kernels (masks, every head dim up to 128, float32 and
// float64): for 16-bit inputs without a mask tensor at head dims 64 and 128,
// the FlashAttention-2 style mma.sync kernels and Hopper's wgmma ones in
// attention_fa2.cu (cp.async double buffering, register-resident P, TMA)
// take their place; bench/README.md has both timed.
#include "cuda/kernels/attention.h"
#include "cuda/kernels/attention_fa2.h"
#include "cuda/vendor/cudnn.h"
#include "cuda/vendor/cudnn_attention.h"

#include <mma.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "cuda/cuda.h"
#include "cuda/kernels/block.cuh"
#include "cuda/kernels/device_types.cuh"
#include "cuda/runtime.h"
#include "ops/attention_slices.h"
#include "ops/creation.h"

namespace wick::cuda {

namespace {

constexpr int kThreads = 256;  // 16 x 16 threads per block
constexpr char kOp[] = "scaled_dot_product_attention";

template <typename T>
struct Params {
  using A = compute_t<T>;
  Slices<const T> q, k, v;  // any slice_layout (ops/attention_slices.h)
  int64_t N = 0, L = 0, S = 0;
  int E = 0, Ev = 0;
  A scale = A(1);
  bool causal = false;
  const bool* mask_bool = nullptr;
  const T* mask_float = nullptr;
  const int64_t* mask_offset = nullptr;  // [N], device
  int64_t mask_rs = 0, mask_cs = 0;
};

// Tile shapes per storage type and head-dim bucket kD. R / C: rows / columns
// of a score tile per thread (the tile is 16R x 16C). Double halves the
// tiles where shared memory or registers would overflow.
template <typename T, int kD>
struct Tiles {
  using A = compute_t<T>;
  static constexpr bool kDouble = std::is_same_v<A, double>;
  // forward: rows = queries, columns = keys
  static constexpr int kFwdR = 4, kFwdC = (kDouble && kD > 64) ? 2 : 4;
  // backward: rows = keys (kernel 1) or queries (kernel 2), columns = the other
  static constexpr int kBwdR = kDouble ? 2 : 4, kBwdC = (kDouble || kD > 64) ? 2 : 4;
  static constexpr int kLd = kD + 1;  // padded row of a [rows, kD] tile
  static constexpr size_t kFwdSmem =
      sizeof(A) * (size_t(16 * kFwdR + 2 * 16 * kFwdC) * kLd + size_t(16 * kFwdR) * (16 * kFwdC + 1));
  static constexpr size_t kDkdvSmem = sizeof(A) * (size_t(2 * 16 * kBwdR + 2 * 16 * kBwdC) * kLd +
                                                   2 * size_t(16 * kBwdR) * (16 * kBwdC + 1) + 2 * 16 * kBwdC);
  static constexpr size_t kDqSmem =
      sizeof(A) * (size_t(2 * 16 * kBwdR + 2 * 16 * kBwdC) * kLd + size_t(16 * kBwdR) * (16 * kBwdC + 1));
  static constexpr size_t kMaxSmem = std::max(kFwdSmem, std::max(kDkdvSmem, kDqSmem));
};

// dst[r * ld + c] = src[r * width + c] for r < rows_valid, c < cols_valid,
// else 0, over a kRows x kCols tile; width is the source's row stride (the
// zero padding makes the products over the padded head dim and the rows past
// L or S contribute nothing).
template <int kRows, int kCols, typename A, typename T>
__device__ __forceinline__ void load_tile(A* __restrict__ dst, int ld, const T* __restrict__ src, int64_t width,
                                          int64_t rows_valid, int cols_valid) {
  for (int idx = threadIdx.x; idx < kRows * kCols; idx += kThreads) {
    const int r = idx / kCols, c = idx % kCols;
    A x = A(0);
    if (r < rows_valid && c < cols_valid) x = to_compute<A>(src[r * width + c]);
    dst[r * ld + c] = x;
  }
}

// acc[r][c] += sum_{k < K} a[(ty R + r) lda + k] * b[(tx + 16 c) ldb + k]:
// a tile times the transpose of another, both with the reduced dim contiguous.
template <int R, int C, typename A>
__device__ __forceinline__ void tile_nt(A (&acc)[R][C], const A* __restrict__ a, int lda, const A* __restrict__ b,
                                        int ldb, int K, int ty, int tx) {
#pragma unroll 4
  for (int k = 0; k < K; ++k) {
    A ar[R], bc[C];
#pragma unroll
    for (int r = 0; r < R; ++r) ar[r] = a[(ty * R + r) * lda + k];
#pragma unroll
    for (int c = 0; c < C; ++c) bc[c] = b[(tx + 16 * c) * ldb + k];
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int c = 0; c < C; ++c) acc[r][c] += ar[r] * bc[c];
  }
}

// acc[r][c] += sum_{k < K} a[(ty R + r) lda + k] * b[k ldb + tx + 16 c]:
// a (score-shaped) tile times a [K, 16 C] tile.
template <int R, int C, int K, typename A>
__device__ __forceinline__ void tile_nn(A (&acc)[R][C], const A* __restrict__ a, int lda, const A* __restrict__ b,
                                        int ldb, int ty, int tx) {
#pragma unroll 4
  for (int k = 0; k < K; ++k) {
    A ar[R], bc[C];
#pragma unroll
    for (int r = 0; r < R; ++r) ar[r] = a[(ty * R + r) * lda + k];
#pragma unroll
    for (int c = 0; c < C; ++c) bc[c] = b[k * ldb + tx + 16 * c];
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int c = 0; c < C; ++c) acc[r][c] += ar[r] * bc[c];
  }
}

// Max / sum over the 16 lanes of a half-warp (one score row). Every lane of
// the warp must call (the shuffles name the full mask).
template <typename A>
__device__ __forceinline__ A row_max16(A v) {
#pragma unroll
  for (int d = 8; d > 0; d >>= 1) v = max_keep(v, __shfl_xor_sync(0xffffffffu, v, d));
  return v;
}
template <typename A>
__device__ __forceinline__ A row_sum16(A v) {
#pragma unroll
  for (int d = 8; d > 0; d >>= 1) v += __shfl_xor_sync(0xffffffffu, v, d);
  return v;
}

// The score of (query i, key j) given dot = q_i . k_j: scale * dot, then the
// causal / bool mask (-inf, and `excluded` set: no gradient flows there, as
// through the composed graph's where) or the float mask (added). i < L, j < S.
template <typename T, typename A>
__device__ __forceinline__ A masked_score(const Params<T>& p, int64_t moff, int64_t i, int64_t j, A dot,
                                          bool& excluded) {
  A s = p.scale * dot;
  excluded = false;
  if (p.causal && j > i) excluded = true;
  if (p.mask_bool) {
    if (!p.mask_bool[moff + i * p.mask_rs + j * p.mask_cs]) excluded = true;
  } else if (p.mask_float) {
    s += to_compute<A>(p.mask_float[moff + i * p.mask_rs + j * p.mask_cs]);
  }
  return excluded ? A(-INFINITY) : s;
}

// ---- forward ----------------------------------------------------------------

template <typename T, int kD, int R, int C>
__global__ void __launch_bounds__(kThreads)
    attention_forward_kernel(const Params<T> p, const Slices<T> out, compute_t<T>* __restrict__ lse) {
  using A = compute_t<T>;
  constexpr int Br = 16 * R, Bc = 16 * C, ld = kD + 1, ldp = Bc + 1, CD = kD / 16;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  A* Qs = reinterpret_cast<A*>(smem_raw);  // [Br, ld]
  A* Ks = Qs + Br * ld;                     // [Bc, ld]
  A* Vs = Ks + Bc * ld;                     // [Bc, ld]
  A* Ps = Vs + Bc * ld;                     // [Br, ldp]
  const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
  const int64_t L = p.L, S = p.S;
  const int64_t qblocks = (L + Br - 1) / Br;
  const int64_t n = blockIdx.x / qblocks;
  const int64_t i0 = (qblocks - 1 - blockIdx.x % qblocks) * Br;  // the longest (causal) tiles first
  const int64_t moff = p.mask_offset ? p.mask_offset[n] : 0;
  const SliceRows<const T> qn = p.q.slice(n), kn = p.k.slice(n), vn = p.v.slice(n);
  const SliceRows<T> on = out.slice(n);

  load_tile<Br, kD>(Qs, ld, qn.row(i0), qn.ld, L - i0, p.E);

  A m[R], l[R], acc[R][CD];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    m[r] = A(-INFINITY);
    l[r] = A(0);
#pragma unroll
    for (int c = 0; c < CD; ++c) acc[r][c] = A(0);
  }

  const int64_t jend = p.causal ? std::min<int64_t>(S, i0 + Br) : S;  // causal: keys j <= i only
  for (int64_t j0 = 0; j0 < jend; j0 += Bc) {
    __syncthreads();  // the previous tile's readers of Ks, Vs, Ps are done
    load_tile<Bc, kD>(Ks, ld, kn.row(j0), kn.ld, S - j0, p.E);
    load_tile<Bc, kD>(Vs, ld, vn.row(j0), vn.ld, S - j0, p.Ev);
    __syncthreads();

    A s[R][C];
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int c = 0; c < C; ++c) s[r][c] = A(0);
    tile_nt<R, C>(s, Qs, ld, Ks, ld, p.E, ty, tx);

#pragma unroll
    for (int r = 0; r < R; ++r) {
      const int64_t i = i0 + ty * R + r;
      A mx = A(-INFINITY);
#pragma unroll
      for (int c = 0; c < C; ++c) {
        const int64_t j = j0 + tx + 16 * c;
        bool excluded;
        s[r][c] = (i < L && j < S) ? masked_score(p, moff, i, j, s[r][c], excluded) : A(-INFINITY);
        mx = max_keep(mx, s[r][c]);
      }
      mx = row_max16(mx);
      const A mnew = max_keep(m[r], mx);
      // Every key so far masked (or a row past L): nothing to add yet. No
      // branch around the shuffles below: the select keeps lanes converged.
      const bool dead = mnew == A(-INFINITY);
      const A alpha = dead ? A(1) : dexp(m[r] - mnew);  // 0 on the first live tile
      A rs = A(0);
#pragma unroll
      for (int c = 0; c < C; ++c) {
        const A e = dead ? A(0) : dexp(s[r][c] - mnew);
        rs += e;
        Ps[(ty * R + r) * ldp + tx + 16 * c] = e;
      }
      rs = row_sum16(rs);
      l[r] = l[r] * alpha + rs;
      m[r] = dead ? m[r] : mnew;
#pragma unroll
      for (int c = 0; c < CD; ++c) acc[r][c] *= alpha;
    }
    __syncthreads();
    tile_nn<R, CD, Bc>(acc, Ps, ldp, Vs, ld, ty, tx);
  }

#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int64_t i = i0 + ty * R + r;
    if (i >= L) continue;
    const A inv = A(1) / l[r];  // l = 0 (fully masked): 0 * inf = NaN, as the composed softmax
    T* o = on.row(i);
#pragma unroll
    for (int c = 0; c < CD; ++c) {
      const int e = tx + 16 * c;
      if (e < p.Ev) o[e] = from_compute<T>(acc[r][c] * inv);
    }
    if (tx == 0) lse[n * L + i] = m[r] + dlog(l[r]);
  }
}

// ---- backward ---------------------------------------------------------------

// D[n L + i] = sum_e dout[n, i, e] * out[n, i, e], one warp per row.
template <typename T>
__global__ void attention_rowdot_kernel(compute_t<T>* __restrict__ D, const Slices<const T> dout,
                                        const Slices<const T> out, int64_t N, int64_t L, int Ev) {
  using A = compute_t<T>;
  const int lane = threadIdx.x & 31;
  const int64_t warps = (int64_t(gridDim.x) * blockDim.x) >> 5;
  for (int64_t row = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5; row < N * L; row += warps) {
    const int64_t n = row / L;
    const T* go = dout.row(n, row - n * L);
    const T* o = out.row(n, row - n * L);
    A acc = A(0);
    for (int e = lane; e < Ev; e += 32) acc += to_compute<A>(go[e]) * to_compute<A>(o[e]);
    acc = warp_sum(acc);
    if (lane == 0) D[row] = acc;
  }
}

// p and ds of one (query i, key j) pair from the dot products q.k and dO.v.
// Pairs past L or S give 0 for both (explicitly: a fully masked row has
// lse = -inf, and exp(-inf - -inf) would put NaN into the padding).
template <typename T, typename A>
__device__ __forceinline__ void prob_and_ds(const Params<T>& p, int64_t moff, int64_t i, int64_t j, A qk, A dp,
                                            A lse_i, A D_i, A& prob, A& ds) {
  if (i < p.L && j < p.S) {
    bool excluded;
    const A s = masked_score(p, moff, i, j, qk, excluded);
    prob = dexp(s - lse_i);  // NaN for a fully masked row, exactly as the CPU and the composed graph
    ds = excluded ? A(0) : prob * (dp - D_i);
  } else {
    prob = A(0);
    ds = A(0);
  }
}

// Kernel 1: one block per (slice n, tile of Bk = 16R keys); rows of its
// score tiles are keys, columns queries (Bq = 16C per tile).
template <typename T, int kD, int R, int C>
__global__ void __launch_bounds__(kThreads)
    attention_dkdv_kernel(const Params<T> p, const Slices<const T> dout, const compute_t<T>* __restrict__ lse,
                          const compute_t<T>* __restrict__ Dv, const Slices<T> dk, const Slices<T> dv) {
  using A = compute_t<T>;
  constexpr int Bk = 16 * R, Bq = 16 * C, ld = kD + 1, ldp = Bq + 1, CD = kD / 16;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  A* Ks = reinterpret_cast<A*>(smem_raw);  // [Bk, ld]
  A* Vs = Ks + Bk * ld;                     // [Bk, ld]
  A* Qs = Vs + Bk * ld;                     // [Bq, ld]
  A* dOs = Qs + Bq * ld;                    // [Bq, ld]
  A* Ps = dOs + Bq * ld;                    // [Bk, ldp]  p^T
  A* dSs = Ps + Bk * ldp;                   // [Bk, ldp]  ds^T
  A* lse_s = dSs + Bk * ldp;                // [Bq]
  A* D_s = lse_s + Bq;                      // [Bq]
  const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
  const int64_t L = p.L, S = p.S;
  const int64_t kblocks = (S + Bk - 1) / Bk;
  const int64_t n = blockIdx.x / kblocks;
  const int64_t j0 = (blockIdx.x % kblocks) * Bk;
  const int64_t moff = p.mask_offset ? p.mask_offset[n] : 0;
  const SliceRows<const T> qn = p.q.slice(n), kn = p.k.slice(n), vn = p.v.slice(n);
  const SliceRows<const T> don = dout.slice(n);
  const SliceRows<T> dkn = dk.slice(n), dvn = dv.slice(n);

  load_tile<Bk, kD>(Ks, ld, kn.row(j0), kn.ld, S - j0, p.E);
  load_tile<Bk, kD>(Vs, ld, vn.row(j0), vn.ld, S - j0, p.Ev);

  A dka[R][CD], dva[R][CD];
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int c = 0; c < CD; ++c) dka[r][c] = dva[r][c] = A(0);

  // Causal: rows i < j0 see none of these keys (their p is 0), skip them.
  for (int64_t i0 = p.causal ? j0 : 0; i0 < L; i0 += Bq) {
    __syncthreads();  // the previous tile's readers of Qs, dOs, Ps, dSs are done
    load_tile<Bq, kD>(Qs, ld, qn.row(i0), qn.ld, L - i0, p.E);
    load_tile<Bq, kD>(dOs, ld, don.row(i0), don.ld, L - i0, p.Ev);
    for (int c = threadIdx.x; c < Bq; c += kThreads) {
      const bool in = i0 + c < L;
      lse_s[c] = in ? lse[n * L + i0 + c] : A(0);
      D_s[c] = in ? Dv[n * L + i0 + c] : A(0);
    }
    __syncthreads();

    A st[R][C], dpt[R][C];
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int c = 0; c < C; ++c) st[r][c] = dpt[r][c] = A(0);
    tile_nt<R, C>(st, Ks, ld, Qs, ld, p.E, ty, tx);    // (q_i . k_j)^T
    tile_nt<R, C>(dpt, Vs, ld, dOs, ld, p.Ev, ty, tx);  // (dO_i . v_j)^T
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int c = 0; c < C; ++c) {
        const int col = tx + 16 * c;
        A prob, ds;
        prob_and_ds(p, moff, i0 + col, j0 + ty * R + r, st[r][c], dpt[r][c], lse_s[col], D_s[col], prob, ds);
        Ps[(ty * R + r) * ldp + col] = prob;
        dSs[(ty * R + r) * ldp + col] = ds;
      }
    __syncthreads();
    tile_nn<R, CD, Bq>(dva, Ps, ldp, dOs, ld, ty, tx);  // dV_j += p^T dO_i
    tile_nn<R, CD, Bq>(dka, dSs, ldp, Qs, ld, ty, tx);  // dK_j += ds^T Q_i (scaled at the end)
  }

#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int64_t j = j0 + ty * R + r;
    if (j >= S) continue;
#pragma unroll
    for (int c = 0; c < CD; ++c) {
      const int e = tx + 16 * c;
      if (dk && e < p.E) dkn.row(j)[e] = from_compute<T>(p.scale * dka[r][c]);
      if (dv && e < p.Ev) dvn.row(j)[e] = from_compute<T>(dva[r][c]);
    }
  }
}

// Kernel 2: one block per (slice n, tile of Bq = 16R queries); rows of its
// score tiles are queries, columns keys (Bk = 16C per tile).
template <typename T, int kD, int R, int C>
__global__ void __launch_bounds__(kThreads)
    attention_dq_kernel(const Params<T> p, const Slices<const T> dout, const compute_t<T>* __restrict__ lse,
                        const compute_t<T>* __restrict__ Dv, const Slices<T> dq) {
  using A = compute_t<T>;
  constexpr int Bq = 16 * R, Bk = 16 * C, ld = kD + 1, ldp = Bk + 1, CD = kD / 16;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  A* Qs = reinterpret_cast<A*>(smem_raw);  // [Bq, ld]
  A* dOs = Qs + Bq * ld;                    // [Bq, ld]
  A* Ks = dOs + Bq * ld;                    // [Bk, ld]
  A* Vs = Ks + Bk * ld;                     // [Bk, ld]
  A* dSs = Vs + Bk * ld;                    // [Bq, ldp]
  const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
  const int64_t L = p.L, S = p.S;
  const int64_t qblocks = (L + Bq - 1) / Bq;
  const int64_t n = blockIdx.x / qblocks;
  const int64_t i0 = (qblocks - 1 - blockIdx.x % qblocks) * Bq;  // the longest (causal) tiles first
  const int64_t moff = p.mask_offset ? p.mask_offset[n] : 0;
  const SliceRows<const T> qn = p.q.slice(n), kn = p.k.slice(n), vn = p.v.slice(n);
  const SliceRows<const T> don = dout.slice(n);
  const SliceRows<T> dqn = dq.slice(n);

  load_tile<Bq, kD>(Qs, ld, qn.row(i0), qn.ld, L - i0, p.E);
  load_tile<Bq, kD>(dOs, ld, don.row(i0), don.ld, L - i0, p.Ev);
  A lse_r[R], D_r[R], dqa[R][CD];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int64_t i = i0 + ty * R + r;
    lse_r[r] = i < L ? lse[n * L + i] : A(0);
    D_r[r] = i < L ? Dv[n * L + i] : A(0);
#pragma unroll
    for (int c = 0; c < CD; ++c) dqa[r][c] = A(0);
  }

  const int64_t jend = p.causal ? std::min<int64_t>(S, i0 + Bq) : S;
  for (int64_t j0 = 0; j0 < jend; j0 += Bk) {
    __syncthreads();  // the previous tile's readers of Ks, Vs, dSs are done (and Qs, dOs stored)
    load_tile<Bk, kD>(Ks, ld, kn.row(j0), kn.ld, S - j0, p.E);
    load_tile<Bk, kD>(Vs, ld, vn.row(j0), vn.ld, S - j0, p.Ev);
    __syncthreads();

    A st[R][C], dpt[R][C];
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int c = 0; c < C; ++c) st[r][c] = dpt[r][c] = A(0);
    tile_nt<R, C>(st, Qs, ld, Ks, ld, p.E, ty, tx);
    tile_nt<R, C>(dpt, dOs, ld, Vs, ld, p.Ev, ty, tx);
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int c = 0; c < C; ++c) {
        const int col = tx + 16 * c;
        A prob, ds;
        prob_and_ds(p, moff, i0 + ty * R + r, j0 + col, st[r][c], dpt[r][c], lse_r[r], D_r[r], prob, ds);
        dSs[(ty * R + r) * ldp + col] = ds;
      }
    __syncthreads();
    tile_nn<R, CD, Bk>(dqa, dSs, ldp, Ks, ld, ty, tx);  // dQ_i += ds K_j (scaled at the end)
  }

#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int64_t i = i0 + ty * R + r;
    if (i >= L) continue;
#pragma unroll
    for (int c = 0; c < CD; ++c) {
      const int e = tx + 16 * c;
      if (e < p.E) dqn.row(i)[e] = from_compute<T>(p.scale * dqa[r][c]);
    }
  }
}

// ---- forward on tensor cores (float16 / bfloat16) ----------------------------
//
// The same algorithm with the two tile products on tensor cores (WMMA,
// 16 x 16 x 16 fragments, float32 accumulation): Q, K, V tiles are kept in
// their 16-bit storage type in shared memory; s = Q K^T is stored as float
// to shared memory, where the online softmax (SIMT, 4 threads per query row)
// reads it, writes p rounded to the 16-bit type (as FlashAttention does: l
// sums the unrounded p) and rescales the float output tile O, which then
// goes through the tensor cores as the accumulator of O += p V. Br = Bc = 64,
// 8 warps: warp w owns row block w / 2 of both products. Shared memory
// (kD = 128): Q, K, V 3 x 17 KiB, s 17 KiB, p 9 KiB, O 33 KiB = 110 KiB.
// WMMA needs 32-byte aligned tile pointers and leading dims that are
// multiples of 8 (16-bit) / 4 (float): hence the paddings of 8 and 4.

template <typename T, int kD>
struct TcTiles {
  static constexpr int Br = 64, Bc = 64;
  static constexpr int ldh = kD + 8;   // Q, K, V rows (16-bit)
  static constexpr int lds = Bc + 4;   // s rows (float)
  static constexpr int ldp = Bc + 8;   // p rows (16-bit)
  static constexpr int ldo = kD + 4;   // O rows (float)
  static constexpr size_t kQ = 0;
  static constexpr size_t kK = kQ + sizeof(T) * Br * ldh;
  static constexpr size_t kV = kK + sizeof(T) * Bc * ldh;
  static constexpr size_t kS = kV + sizeof(T) * Bc * ldh;
  static constexpr size_t kP = kS + sizeof(float) * Br * lds;
  static constexpr size_t kO = kP + sizeof(T) * Br * ldp;
  static constexpr size_t kSmem = kO + sizeof(float) * Br * ldo;
  static_assert(kK % 32 == 0 && kV % 32 == 0 && kS % 32 == 0 && kP % 32 == 0 && kO % 32 == 0,
                "WMMA tiles need 32-byte aligned bases");
};

// dst[r * ld + c] = src[r * width + c] (zero outside rows_valid x cols_valid),
// kept in the storage type (width: the source's row stride).
template <int kRows, int kCols, typename T>
__device__ __forceinline__ void load_tile_raw(T* __restrict__ dst, int ld, const T* __restrict__ src, int64_t width,
                                              int64_t rows_valid, int cols_valid) {
  for (int idx = threadIdx.x; idx < kRows * kCols; idx += kThreads) {
    const int r = idx / kCols, c = idx % kCols;
    dst[r * ld + c] = (r < rows_valid && c < cols_valid) ? src[r * width + c] : from_compute<T>(0.0f);
  }
}

template <typename T, int kD>
__global__ void __launch_bounds__(kThreads)
    attention_forward_tc_kernel(const Params<T> p, const Slices<T> out, float* __restrict__ lse) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  __trap();  // the host takes this kernel on sm_80+ only
#else
  namespace wmma = nvcuda::wmma;
  using Tl = TcTiles<T, kD>;
  constexpr int Br = Tl::Br, Bc = Tl::Bc, ldh = Tl::ldh, lds = Tl::lds, ldp = Tl::ldp, ldo = Tl::ldo;
  constexpr int kOFrags = kD / 32;  // O fragments (16 x 16) per warp: 4 row blocks x kD/16 column blocks / 8 warps
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* Qs = reinterpret_cast<T*>(smem_raw + Tl::kQ);
  T* Ks = reinterpret_cast<T*>(smem_raw + Tl::kK);
  T* Vs = reinterpret_cast<T*>(smem_raw + Tl::kV);
  float* Ss = reinterpret_cast<float*>(smem_raw + Tl::kS);
  T* Ps = reinterpret_cast<T*>(smem_raw + Tl::kP);
  float* Os = reinterpret_cast<float*>(smem_raw + Tl::kO);
  const int warp = threadIdx.x >> 5;
  const int rb = warp >> 1, half = warp & 1;  // this warp's row block (16 rows) and column half
  // Softmax ownership: 4 threads per query row; thread (row, quad) takes
  // columns quad + 4 c of s and of O.
  const int row = threadIdx.x >> 2, quad = threadIdx.x & 3;
  const int64_t L = p.L, S = p.S;
  const int64_t qblocks = (L + Br - 1) / Br;
  const int64_t n = blockIdx.x / qblocks;
  const int64_t i0 = (qblocks - 1 - blockIdx.x % qblocks) * Br;
  const int64_t moff = p.mask_offset ? p.mask_offset[n] : 0;
  const SliceRows<const T> qn = p.q.slice(n), kn = p.k.slice(n), vn = p.v.slice(n);
  const SliceRows<T> on = out.slice(n);
  const int64_t i = i0 + row;

  load_tile_raw<Br, kD>(Qs, ldh, qn.row(i0), qn.ld, L - i0, p.E);
  for (int idx = threadIdx.x; idx < Br * ldo; idx += kThreads) Os[idx] = 0.f;
  float m = -INFINITY, l = 0.f;

  const int64_t jend = p.causal ? std::min<int64_t>(S, i0 + Br) : S;
  for (int64_t j0 = 0; j0 < jend; j0 += Bc) {
    __syncthreads();  // the previous tile's readers of Ks, Vs, Ps and writers of Os are done
    load_tile_raw<Bc, kD>(Ks, ldh, kn.row(j0), kn.ld, S - j0, p.E);
    load_tile_raw<Bc, kD>(Vs, ldh, vn.row(j0), vn.ld, S - j0, p.Ev);
    __syncthreads();

    {  // s = Q K^T: this warp's row block x column blocks 2 half, 2 half + 1
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2];
      wmma::fill_fragment(acc[0], 0.f);
      wmma::fill_fragment(acc[1], 0.f);
#pragma unroll
      for (int k0 = 0; k0 < kD; k0 += 16) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
        wmma::load_matrix_sync(a, Qs + rb * 16 * ldh + k0, ldh);
#pragma unroll
        for (int f = 0; f < 2; ++f) {
          // K^T as a column-major B: element (k, j) at Ks[j * ldh + k].
          wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> b;
          wmma::load_matrix_sync(b, Ks + (2 * half + f) * 16 * ldh + k0, ldh);
          wmma::mma_sync(acc[f], a, b, acc[f]);
        }
      }
#pragma unroll
      for (int f = 0; f < 2; ++f)
        wmma::store_matrix_sync(Ss + rb * 16 * lds + (2 * half + f) * 16, acc[f], lds, wmma::mem_row_major);
    }
    __syncthreads();

    {  // online softmax of row `row` over this tile; rescale its O row
      float sv[Bc / 4];
      float mx = -INFINITY;
#pragma unroll
      for (int c = 0; c < Bc / 4; ++c) {
        const int64_t j = j0 + quad + 4 * c;
        bool excluded;
        sv[c] = (i < L && j < S) ? masked_score(p, moff, i, j, Ss[row * lds + quad + 4 * c], excluded) : -INFINITY;
        mx = max_keep(mx, sv[c]);
      }
      mx = max_keep(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = max_keep(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float mnew = max_keep(m, mx);
      const bool dead = mnew == -INFINITY;  // every key so far masked (or a row past L)
      const float alpha = dead ? 1.f : dexp(m - mnew);
      float rs = 0.f;
#pragma unroll
      for (int c = 0; c < Bc / 4; ++c) {
        const float e = dead ? 0.f : dexp(sv[c] - mnew);
        rs += e;
        Ps[row * ldp + quad + 4 * c] = from_compute<T>(e);
      }
      rs += __shfl_xor_sync(0xffffffffu, rs, 1);
      rs += __shfl_xor_sync(0xffffffffu, rs, 2);
      l = l * alpha + rs;
      m = dead ? m : mnew;
      if (alpha != 1.f)
        for (int c = quad; c < kD; c += 4) Os[row * ldo + c] *= alpha;
    }
    __syncthreads();

    // O += p V: this warp's row block x kOFrags column blocks.
#pragma unroll
    for (int f = 0; f < kOFrags; ++f) {
      const int cb = half * kOFrags + f;
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::load_matrix_sync(acc, Os + rb * 16 * ldo + cb * 16, ldo, wmma::mem_row_major);
#pragma unroll
      for (int k0 = 0; k0 < Bc; k0 += 16) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> b;
        wmma::load_matrix_sync(a, Ps + rb * 16 * ldp + k0, ldp);
        wmma::load_matrix_sync(b, Vs + k0 * ldh + cb * 16, ldh);
        wmma::mma_sync(acc, a, b, acc);
      }
      wmma::store_matrix_sync(Os + rb * 16 * ldo + cb * 16, acc, ldo, wmma::mem_row_major);
    }
  }
  __syncthreads();  // the last O tile is complete

  if (i < L) {
    const float inv = 1.f / l;  // l = 0 (fully masked): NaN, as the composed softmax
    T* o = on.row(i);
    for (int c = quad; c < p.Ev; c += 4) o[c] = from_compute<T>(Os[row * ldo + c] * inv);
    if (quad == 0) lse[n * L + i] = m + dlog(l);
  }
#endif
}

// ---- backward on tensor cores (float16 / bfloat16) ---------------------------
//
// Kernels 1 and 2 of the backward with their four (kernel 1) / three
// (kernel 2) tile products on WMMA fragments, the elementwise p and ds in
// SIMT from float tiles in shared memory, p and ds rounded to the 16-bit type
// before they enter the tensor cores (as FlashAttention-2 does). The dK, dV
// (dQ) accumulators stay in fragments across the whole loop: they are never
// rescaled. 64 x 64 tiles, 8 warps, warp w owns row block w / 2 and half
// w % 2 of the columns; shared memory (kD = 128) 121 KiB (kernel 1), 111 KiB
// (kernel 2).

template <typename T, int kD>
struct TcBwdTiles {
  static constexpr int B = 64;        // keys and queries per tile
  static constexpr int ldh = kD + 8;  // 16-bit [64, kD] tiles
  static constexpr int lds = B + 4;   // float [64, 64] tiles
  static constexpr int ldp = B + 8;   // 16-bit [64, 64] tiles
  static constexpr int ldo = kD + 4;  // float [64, kD] result staging (reuses the two float tiles)
  static constexpr size_t kH = sizeof(T) * B * ldh;       // one 16-bit [64, kD] tile
  static constexpr size_t kF = sizeof(float) * B * lds;   // one float [64, 64] tile
  static constexpr size_t kP = sizeof(T) * B * ldp;       // one 16-bit [64, 64] tile
  // kernel 1: K, V, Q, dO | s^T, dp^T | p^T, ds^T | lse, D
  static constexpr size_t kDkdvSmem = 4 * kH + 2 * kF + 2 * kP + 2 * sizeof(float) * B;
  // kernel 2: Q, dO, K, V | s, dp | ds
  static constexpr size_t kDqSmem = 4 * kH + 2 * kF + kP;
  static_assert(kH % 32 == 0 && kF % 32 == 0 && kP % 32 == 0, "WMMA tiles need 32-byte aligned bases");
  static_assert(sizeof(float) * B * ldo <= 2 * kF, "the result staging must fit in the two float tiles");
};

// acc[f] (+)= A B^T over kD for this warp's row block and column blocks
// 2 half + f: A [64, kD] and B [64, kD] row-major 16-bit tiles.
template <typename T, int kD, int ldh>
__device__ __forceinline__ void tc_nt(nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 16, float> (&acc)[2],
                                      const T* a, const T* b, int rb, int half) {
  namespace wmma = nvcuda::wmma;
  wmma::fill_fragment(acc[0], 0.f);
  wmma::fill_fragment(acc[1], 0.f);
#pragma unroll
  for (int k0 = 0; k0 < kD; k0 += 16) {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa;
    wmma::load_matrix_sync(fa, a + rb * 16 * ldh + k0, ldh);
#pragma unroll
    for (int f = 0; f < 2; ++f) {
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> fb;  // B^T: element (k, n) at b[n * ldh + k]
      wmma::load_matrix_sync(fb, b + (2 * half + f) * 16 * ldh + k0, ldh);
      wmma::mma_sync(acc[f], fa, fb, acc[f]);
    }
  }
}

// acc[f] += A B for this warp's row block and column blocks half * F + f:
// A [64, 64] (ld ldp) and B [64, kD] (ld ldh) row-major 16-bit tiles.
template <typename T, int F, int ldp, int ldh>
__device__ __forceinline__ void tc_nn(nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 16, float> (&acc)[F],
                                      const T* a, const T* b, int rb, int half) {
  namespace wmma = nvcuda::wmma;
#pragma unroll
  for (int k0 = 0; k0 < 64; k0 += 16) {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa;
    wmma::load_matrix_sync(fa, a + rb * 16 * ldp + k0, ldp);
#pragma unroll
    for (int f = 0; f < F; ++f) {
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> fb;
      wmma::load_matrix_sync(fb, b + k0 * ldh + (half * F + f) * 16, ldh);
      wmma::mma_sync(acc[f], fa, fb, acc[f]);
    }
  }
}

// Writes scale * acc (this warp's fragments of a [64, kD] result, staged
// through the float buffer `stage`) to the rows of dst (row stride ld; valid
// rows, cols < width). Every thread must call; starts and ends with a barrier.
template <typename T, int kD, int F, int ldo>
__device__ __forceinline__ void tc_write(T* dst, int64_t ld, int64_t rows_valid, int width, float scale, float* stage,
                                         const nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 16, float> (&acc)[F],
                                         int rb, int half) {
  namespace wmma = nvcuda::wmma;
  __syncthreads();  // the stage's previous users are done
#pragma unroll
  for (int f = 0; f < F; ++f)
    wmma::store_matrix_sync(stage + rb * 16 * ldo + (half * F + f) * 16, acc[f], ldo, wmma::mem_row_major);
  __syncthreads();
  for (int idx = threadIdx.x; idx < 64 * kD; idx += kThreads) {
    const int r = idx / kD, c = idx % kD;
    if (r < rows_valid && c < width) dst[int64_t(r) * ld + c] = from_compute<T>(scale * stage[r * ldo + c]);
  }
  __syncthreads();
}

// Kernel 1 on tensor cores: one block per (slice n, 64 keys).
template <typename T, int kD>
__global__ void __launch_bounds__(kThreads)
    attention_dkdv_tc_kernel(const Params<T> p, const Slices<const T> dout, const float* __restrict__ lse,
                             const float* __restrict__ Dv, const Slices<T> dk, const Slices<T> dv) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  __trap();
#else
  namespace wmma = nvcuda::wmma;
  using Tl = TcBwdTiles<T, kD>;
  constexpr int B = Tl::B, ldh = Tl::ldh, lds = Tl::lds, ldp = Tl::ldp, F = kD / 32;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* Ks = reinterpret_cast<T*>(smem_raw);
  T* Vs = reinterpret_cast<T*>(smem_raw + Tl::kH);
  T* Qs = reinterpret_cast<T*>(smem_raw + 2 * Tl::kH);
  T* dOs = reinterpret_cast<T*>(smem_raw + 3 * Tl::kH);
  float* St = reinterpret_cast<float*>(smem_raw + 4 * Tl::kH);             // s^T [keys, queries]
  float* dPt = reinterpret_cast<float*>(smem_raw + 4 * Tl::kH + Tl::kF);   // dp^T
  T* Pt = reinterpret_cast<T*>(smem_raw + 4 * Tl::kH + 2 * Tl::kF);         // p^T
  T* dSt = reinterpret_cast<T*>(smem_raw + 4 * Tl::kH + 2 * Tl::kF + Tl::kP);  // ds^T
  float* lse_s = reinterpret_cast<float*>(smem_raw + 4 * Tl::kH + 2 * Tl::kF + 2 * Tl::kP);
  float* D_s = lse_s + B;
  const int warp = threadIdx.x >> 5, rb = warp >> 1, half = warp & 1;
  const int row = threadIdx.x >> 2, quad = threadIdx.x & 3;  // elementwise: key row, column phase
  const int64_t L = p.L, S = p.S;
  const int64_t kblocks = (S + B - 1) / B;
  const int64_t n = blockIdx.x / kblocks;
  const int64_t j0 = (blockIdx.x % kblocks) * B;
  const int64_t moff = p.mask_offset ? p.mask_offset[n] : 0;
  const SliceRows<const T> qn = p.q.slice(n), kn = p.k.slice(n), vn = p.v.slice(n);
  const SliceRows<const T> don = dout.slice(n);

  load_tile_raw<B, kD>(Ks, ldh, kn.row(j0), kn.ld, S - j0, p.E);
  load_tile_raw<B, kD>(Vs, ldh, vn.row(j0), vn.ld, S - j0, p.Ev);
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> dka[F], dva[F];
#pragma unroll
  for (int f = 0; f < F; ++f) {
    wmma::fill_fragment(dka[f], 0.f);
    wmma::fill_fragment(dva[f], 0.f);
  }

  for (int64_t i0 = p.causal ? j0 : 0; i0 < L; i0 += B) {
    __syncthreads();  // the previous tile's readers of Qs, dOs, Pt, dSt, lse_s, D_s are done
    load_tile_raw<B, kD>(Qs, ldh, qn.row(i0), qn.ld, L - i0, p.E);
    load_tile_raw<B, kD>(dOs, ldh, don.row(i0), don.ld, L - i0, p.Ev);
    for (int c = threadIdx.x; c < B; c += kThreads) {
      const bool in = i0 + c < L;
      lse_s[c] = in ? lse[n * L + i0 + c] : 0.f;
      D_s[c] = in ? Dv[n * L + i0 + c] : 0.f;
    }
    __syncthreads();
    {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2];
      tc_nt<T, kD, ldh>(acc, Ks, Qs, rb, half);  // (q_i . k_j)^T
#pragma unroll
      for (int f = 0; f < 2; ++f)
        wmma::store_matrix_sync(St + rb * 16 * lds + (2 * half + f) * 16, acc[f], lds, wmma::mem_row_major);
      tc_nt<T, kD, ldh>(acc, Vs, dOs, rb, half);  // (dO_i . v_j)^T
#pragma unroll
      for (int f = 0; f < 2; ++f)
        wmma::store_matrix_sync(dPt + rb * 16 * lds + (2 * half + f) * 16, acc[f], lds, wmma::mem_row_major);
    }
    __syncthreads();
#pragma unroll 4
    for (int c = quad; c < B; c += 4) {
      float prob, ds;
      prob_and_ds(p, moff, i0 + c, j0 + row, St[row * lds + c], dPt[row * lds + c], lse_s[c], D_s[c], prob, ds);
      Pt[row * ldp + c] = from_compute<T>(prob);
      dSt[row * ldp + c] = from_compute<T>(ds);
    }
    __syncthreads();
    tc_nn<T, F, ldp, ldh>(dva, Pt, dOs, rb, half);  // dV_j += p^T dO_i
    tc_nn<T, F, ldp, ldh>(dka, dSt, Qs, rb, half);  // dK_j += ds^T Q_i
  }

  float* stage = St;  // [64, ldo] floats over the two float tiles
  if (dv) tc_write<T, kD, F, Tl::ldo>(dv.slice(n).row(j0), dv.ld(), S - j0, p.Ev, 1.f, stage, dva, rb, half);
  if (dk) tc_write<T, kD, F, Tl::ldo>(dk.slice(n).row(j0), dk.ld(), S - j0, p.E, p.scale, stage, dka, rb, half);
#endif
}

// Kernel 2 on tensor cores: one block per (slice n, 64 queries).
template <typename T, int kD>
__global__ void __launch_bounds__(kThreads)
    attention_dq_tc_kernel(const Params<T> p, const Slices<const T> dout, const float* __restrict__ lse,
                           const float* __restrict__ Dv, const Slices<T> dq) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  __trap();
#else
  namespace wmma = nvcuda::wmma;
  using Tl = TcBwdTiles<T, kD>;
  constexpr int B = Tl::B, ldh = Tl::ldh, lds = Tl::lds, ldp = Tl::ldp, F = kD / 32;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* Qs = reinterpret_cast<T*>(smem_raw);
  T* dOs = reinterpret_cast<T*>(smem_raw + Tl::kH);
  T* Ks = reinterpret_cast<T*>(smem_raw + 2 * Tl::kH);
  T* Vs = reinterpret_cast<T*>(smem_raw + 3 * Tl::kH);
  float* Ss = reinterpret_cast<float*>(smem_raw + 4 * Tl::kH);
  float* dPs = reinterpret_cast<float*>(smem_raw + 4 * Tl::kH + Tl::kF);
  T* dSs = reinterpret_cast<T*>(smem_raw + 4 * Tl::kH + 2 * Tl::kF);
  const int warp = threadIdx.x >> 5, rb = warp >> 1, half = warp & 1;
  const int row = threadIdx.x >> 2, quad = threadIdx.x & 3;  // elementwise: query row, column phase
  const int64_t L = p.L, S = p.S;
  const int64_t qblocks = (L + B - 1) / B;
  const int64_t n = blockIdx.x / qblocks;
  const int64_t i0 = (qblocks - 1 - blockIdx.x % qblocks) * B;  // the longest (causal) tiles first
  const int64_t moff = p.mask_offset ? p.mask_offset[n] : 0;
  const SliceRows<const T> qn = p.q.slice(n), kn = p.k.slice(n), vn = p.v.slice(n);
  const SliceRows<const T> don = dout.slice(n);
  const int64_t i = i0 + row;
  const float lse_i = i < L ? lse[n * L + i] : 0.f, D_i = i < L ? Dv[n * L + i] : 0.f;

  load_tile_raw<B, kD>(Qs, ldh, qn.row(i0), qn.ld, L - i0, p.E);
  load_tile_raw<B, kD>(dOs, ldh, don.row(i0), don.ld, L - i0, p.Ev);
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> dqa[F];
#pragma unroll
  for (int f = 0; f < F; ++f) wmma::fill_fragment(dqa[f], 0.f);

  const int64_t jend = p.causal ? std::min<int64_t>(S, i0 + B) : S;
  for (int64_t j0 = 0; j0 < jend; j0 += B) {
    __syncthreads();  // the previous tile's readers of Ks, Vs, dSs are done (and Qs, dOs stored)
    load_tile_raw<B, kD>(Ks, ldh, kn.row(j0), kn.ld, S - j0, p.E);
    load_tile_raw<B, kD>(Vs, ldh, vn.row(j0), vn.ld, S - j0, p.Ev);
    __syncthreads();
    {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2];
      tc_nt<T, kD, ldh>(acc, Qs, Ks, rb, half);
#pragma unroll
      for (int f = 0; f < 2; ++f)
        wmma::store_matrix_sync(Ss + rb * 16 * lds + (2 * half + f) * 16, acc[f], lds, wmma::mem_row_major);
      tc_nt<T, kD, ldh>(acc, dOs, Vs, rb, half);
#pragma unroll
      for (int f = 0; f < 2; ++f)
        wmma::store_matrix_sync(dPs + rb * 16 * lds + (2 * half + f) * 16, acc[f], lds, wmma::mem_row_major);
    }
    __syncthreads();
#pragma unroll 4
    for (int c = quad; c < B; c += 4) {
      float prob, ds;
      prob_and_ds(p, moff, i, j0 + c, Ss[row * lds + c], dPs[row * lds + c], lse_i, D_i, prob, ds);
      dSs[row * ldp + c] = from_compute<T>(ds);
    }
    __syncthreads();
    tc_nn<T, F, ldp, ldh>(dqa, dSs, Ks, rb, half);  // dQ_i += ds K_j
  }

  tc_write<T, kD, F, Tl::ldo>(dq.slice(n).row(i0), dq.ld(), L - i0, p.E, p.scale, Ss, dqa, rb, half);
#endif
}

// ---- host side --------------------------------------------------------------

int head_bucket(int64_t E, int64_t Ev) { return std::max(E, Ev) <= 64 ? 64 : 128; }

size_t max_smem(DType dtype, int bucket) {
  size_t r = 0;
  WICK_DEVICE_DISPATCH_FLOAT(dtype, kOp, [&]<typename T>() {
    r = bucket == 64 ? Tiles<T, 64>::kMaxSmem : Tiles<T, 128>::kMaxSmem;
    if constexpr (is_reduced_float_v<T>)
      r = std::max({r, bucket == 64 ? TcTiles<T, 64>::kSmem : TcTiles<T, 128>::kSmem,
                    bucket == 64 ? TcBwdTiles<T, 64>::kDkdvSmem : TcBwdTiles<T, 128>::kDkdvSmem,
                    bucket == 64 ? TcBwdTiles<T, 64>::kDqSmem : TcBwdTiles<T, 128>::kDqSmem});
  });
  return r;
}

// The number of (batch*head) slices of q [batch..., L, E].
int64_t slice_count(const Tensor& q) {
  int64_t n = 1;
  for (int64_t d = 0; d + 2 < q.dim(); ++d) n *= q.size(d);
  return n;
}

template <typename T>
Params<T> make_params(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, const Tensor& mask_offset,
                      bool causal, double scale) {
  Params<T> p;
  p.q = slices_of<const T>(q);
  p.k = slices_of<const T>(k);
  p.v = slices_of<const T>(v);
  p.L = q.size(-2);
  p.S = k.size(-2);
  p.N = slice_count(q);
  p.E = static_cast<int>(q.size(-1));
  p.Ev = static_cast<int>(v.size(-1));
  p.scale = static_cast<compute_t<T>>(scale);
  p.causal = causal;
  if (mask.defined()) {
    WICK_CHECK(mask_offset.defined() && mask_offset.is_cuda() && mask_offset.dtype() == kInt64, kOp,
               ": internal: the mask needs a CUDA int64 mask_offset");
    if (mask.dtype() == kBool)
      p.mask_bool = static_cast<const bool*>(mask.data_ptr_raw());
    else
      p.mask_float = static_cast<const T*>(mask.data_ptr_raw());
    p.mask_offset = static_cast<const int64_t*>(mask_offset.data_ptr_raw());
    p.mask_rs = mask.stride(-2);
    p.mask_cs = mask.stride(-1);
  }
  return p;
}

void check_args(const Tensor& q, const Tensor& k, const Tensor& v) {
  WICK_CHECK(q.is_cuda() && k.is_cuda() && v.is_cuda(), kOp, ": the CUDA kernel needs CUDA tensors");
  WICK_CHECK(attention_supported(q.dtype(), q.size(-1), v.size(-1), q.device().index), kOp, ": the fused CUDA kernel does not take ",
             q.dtype(), " with head dims ", q.size(-1), ", ", v.size(-1));
}

}  // namespace

namespace {

AttentionBackend parse_attention_backend_env() {
  const char* v = std::getenv("WICK_CUDA_ATTENTION");
  if (v == nullptr || *v == '\0' || std::strcmp(v, "wick") == 0) return AttentionBackend::Wick;
  if (std::strcmp(v, "cudnn") == 0) {
    WICK_CHECK(vendor::cudnn_built(), "WICK_CUDA_ATTENTION=cudnn: this build of wick has no cuDNN");
    return AttentionBackend::Cudnn;
  }
  WICK_FAIL("WICK_CUDA_ATTENTION must be 'wick' or 'cudnn', got '", v, "'");
}

std::atomic<AttentionBackend>& attention_backend_state() {
  static std::atomic<AttentionBackend> b{parse_attention_backend_env()};
  return b;
}

// On since CudaAttentionStrided.* passed on an H200 (2026-11-28); WICK_CUDA_ATTENTION_STRIDED=0 copies
// q, k, v packed.
OptInSwitch& strided_switch() {
  static OptInSwitch s("WICK_CUDA_ATTENTION_STRIDED", /*default_on=*/true);
  return s;
}

// cuDNN's SDPA node takes packed [N, L, E] tensors only.
bool packed(const Tensor& t) { return !t.defined() || t.is_contiguous(); }

}  // namespace

void set_attention_strided(bool on) { strided_switch().set(on); }
bool attention_strided() { return strided_switch().on(); }

void set_attention_backend(AttentionBackend b) {
  WICK_CHECK(b != AttentionBackend::Cudnn || vendor::cudnn_built(),
             "cuda::set_attention_backend(Cudnn): this build of wick has no cuDNN");
  attention_backend_state().store(b, std::memory_order_relaxed);
}
AttentionBackend attention_backend() { return attention_backend_state().load(std::memory_order_relaxed); }
const char* attention_backend_name(AttentionBackend b) { return b == AttentionBackend::Cudnn ? "cudnn" : "wick"; }

bool attention_supported(DType dtype, int64_t E, int64_t Ev, int device) {
  if (!(dtype == kFloat16 || dtype == kBFloat16 || dtype == kFloat32 || dtype == kFloat64)) return false;
  if (E < 1 || Ev < 1 || E > kAttentionMaxHeadDim || Ev > kAttentionMaxHeadDim) return false;
  const cudaDeviceProp& prop = device_properties(device);
  return max_smem(dtype, head_bucket(E, Ev)) <= prop.sharedMemPerBlockOptin;
}

DType attention_lse_dtype(DType dtype) { return dtype == kFloat64 ? kFloat64 : kFloat32; }

void attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                       const Tensor& mask, const Tensor& mask_offset, bool causal, double scale) {
  check_args(q, k, v);
  if (attention_backend() == AttentionBackend::Cudnn && vendor::cudnn_attention_eligible(q, k, v, mask, causal) &&
      packed(out)) {
    vendor::cudnn_attention_forward(out, lse, q, k, v, scale);
    return;
  }
  if (attention_fa2() && attention_fa2_eligible(q, k, v, mask)) {  // cuda/kernels/attention_fa2.h
    attention_fa2_forward(out, lse, q, k, v, causal, scale);
    return;
  }
  DeviceGuard guard(q.device().index);
  WICK_DEVICE_DISPATCH_FLOAT(q.dtype(), kOp, [&]<typename T>() {
    using A = compute_t<T>;
    const Params<T> p = make_params<T>(q, k, v, mask, mask_offset, causal, scale);
    if (p.N * p.L == 0) return;
    const Slices<T> o = slices_of<T>(out);
    A* ls = static_cast<A*>(lse.data_ptr_raw());
    auto run = [&]<int kD>() {
      if constexpr (is_reduced_float_v<T>) {
        if (device_properties(q.device().index).major >= 8) {  // WMMA on bfloat16 needs sm_80
          using Tc = TcTiles<T, kD>;
          auto kernel = attention_forward_tc_kernel<T, kD>;
          const int64_t blocks = p.N * ((p.L + Tc::Br - 1) / Tc::Br);
          WICK_CHECK(blocks <= 0x7fffffff, kOp, ": too many query tiles for one launch (", blocks, ")");
          WICK_CUDA_CHECK(
              cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(Tc::kSmem)));
          kernel<<<static_cast<unsigned>(blocks), kThreads, Tc::kSmem, current_stream()>>>(p, o, ls);
          WICK_CUDA_CHECK_LAUNCH();
          return;
        }
      }
      using Tl = Tiles<T, kD>;
      constexpr int Br = 16 * Tl::kFwdR;
      auto kernel = attention_forward_kernel<T, kD, Tl::kFwdR, Tl::kFwdC>;
      const int64_t blocks = p.N * ((p.L + Br - 1) / Br);
      WICK_CHECK(blocks <= 0x7fffffff, kOp, ": too many query tiles for one launch (", blocks, ")");
      WICK_CUDA_CHECK(
          cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(Tl::kFwdSmem)));
      kernel<<<static_cast<unsigned>(blocks), kThreads, Tl::kFwdSmem, current_stream()>>>(p, o, ls);
      WICK_CUDA_CHECK_LAUNCH();
    };
    if (head_bucket(p.E, p.Ev) == 64)
      run.template operator()<64>();
    else
      run.template operator()<128>();
  });
}

void attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& q, const Tensor& k,
                        const Tensor& v, const Tensor& mask, const Tensor& mask_offset, bool causal, double scale,
                        const Tensor& out, const Tensor& dout, const Tensor& lse) {
  check_args(q, k, v);
  // cuDNN's backward, where it builds a plan (else wick's, on the same lse).
  if (attention_backend() == AttentionBackend::Cudnn && vendor::cudnn_attention_eligible(q, k, v, mask, causal) &&
      (dq.defined() || dk.defined() || dv.defined()) && packed(out) && packed(dout) && packed(dq) && packed(dk) &&
      packed(dv) &&
      vendor::cudnn_attention_backward(dq, dk, dv, q, k, v, scale, out, dout, lse))
    return;
  DeviceGuard guard(q.device().index);
  WICK_DEVICE_DISPATCH_FLOAT(q.dtype(), kOp, [&]<typename T>() {
    using A = compute_t<T>;
    const Params<T> p = make_params<T>(q, k, v, mask, mask_offset, causal, scale);
    const bool want_kv = dk.defined() || dv.defined();
    if (p.N == 0 || p.S == 0 || (!want_kv && !dq.defined())) return;
    cudaStream_t stream = current_stream();
    // D_i = rowsum(dO_i * O_i): [N L] in the compute type.
    Tensor Dvec = empty({std::max<int64_t>(p.N * p.L, 1)}, TensorOptions(dtype_v<A>).device(q.device()));
    const Slices<const T> go = slices_of<const T>(dout);
    const A* ls = static_cast<const A*>(lse.data_ptr_raw());
    A* D = static_cast<A*>(Dvec.data_ptr_raw());
    if (p.N * p.L > 0) {
      attention_rowdot_kernel<T><<<grid_for(p.N * p.L * 32, 256), 256, 0, stream>>>(D, go, slices_of<const T>(out), p.N,
                                                                                    p.L, p.Ev);
      WICK_CUDA_CHECK_LAUNCH();
    }
    if constexpr (is_reduced_float_v<T>) {  // cuda/kernels/attention_fa2.h
      if (attention_fa2_backward_wanted(q) && attention_fa2_backward_eligible(dq, dk, dv, q, k, v, mask, dout)) {
        attention_fa2_backward(dq, dk, dv, q, k, v, causal, scale, dout, lse, Dvec);
        return;
      }
    }
    auto run = [&]<int kD>() {
      if constexpr (is_reduced_float_v<T>) {
        if (device_properties(q.device().index).major >= 8) {  // WMMA on bfloat16 needs sm_80
          using Tc = TcBwdTiles<T, kD>;
          if (want_kv) {
            auto kernel = attention_dkdv_tc_kernel<T, kD>;
            const int64_t blocks = p.N * ((p.S + Tc::B - 1) / Tc::B);
            WICK_CHECK(blocks <= 0x7fffffff, kOp, ": too many key tiles for one launch (", blocks, ")");
            WICK_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                 static_cast<int>(Tc::kDkdvSmem)));
            kernel<<<static_cast<unsigned>(blocks), kThreads, Tc::kDkdvSmem, stream>>>(
                p, go, ls, D, slices_of<T>(dk), slices_of<T>(dv));
            WICK_CUDA_CHECK_LAUNCH();
          }
          if (dq.defined() && p.L > 0) {
            auto kernel = attention_dq_tc_kernel<T, kD>;
            const int64_t blocks = p.N * ((p.L + Tc::B - 1) / Tc::B);
            WICK_CHECK(blocks <= 0x7fffffff, kOp, ": too many query tiles for one launch (", blocks, ")");
            WICK_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                 static_cast<int>(Tc::kDqSmem)));
            kernel<<<static_cast<unsigned>(blocks), kThreads, Tc::kDqSmem, stream>>>(p, go, ls, D,
                                                                                     slices_of<T>(dq));
            WICK_CUDA_CHECK_LAUNCH();
          }
          return;
        }
      }
      using Tl = Tiles<T, kD>;
      constexpr int R = Tl::kBwdR, C = Tl::kBwdC;
      if (want_kv) {  // every dk / dv row is written, zeros where no query sees the key (or L = 0)
        auto kernel = attention_dkdv_kernel<T, kD, R, C>;
        const int64_t blocks = p.N * ((p.S + 16 * R - 1) / (16 * R));
        WICK_CHECK(blocks <= 0x7fffffff, kOp, ": too many key tiles for one launch (", blocks, ")");
        WICK_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             static_cast<int>(Tl::kDkdvSmem)));
        kernel<<<static_cast<unsigned>(blocks), kThreads, Tl::kDkdvSmem, stream>>>(p, go, ls, D, slices_of<T>(dk),
                                                                                    slices_of<T>(dv));
        WICK_CUDA_CHECK_LAUNCH();
      }
      if (dq.defined() && p.L > 0) {
        auto kernel = attention_dq_kernel<T, kD, R, C>;
        const int64_t blocks = p.N * ((p.L + 16 * R - 1) / (16 * R));
        WICK_CHECK(blocks <= 0x7fffffff, kOp, ": too many query tiles for one launch (", blocks, ")");
        WICK_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             static_cast<int>(Tl::kDqSmem)));
        kernel<<<static_cast<unsigned>(blocks), kThreads, Tl::kDqSmem, stream>>>(p, go, ls, D, slices_of<T>(dq));
        WICK_CUDA_CHECK_LAUNCH();
      }
    };
    if (head_bucket(p.E, p.Ev) == 64)
      run.template operator()<64>();
    else
      run.template operator()<128>();
  });
}

}  // namespace wick::cuda
