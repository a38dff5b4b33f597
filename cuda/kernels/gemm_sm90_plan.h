// Host-side planning of the Hopper TMA GEMM (gemm_sm90.cu): the width of its
// output tiles and stream-K. Plain C++ as well as CUDA, like fast_div.h:
// tests/cuda/test_gemm_sm90_plan.cpp checks both on the CPU.
//
// Tile width. The kernel's tiles are 128 x 256 (rows x columns of C), or
// 128 x 192. With one CTA per SM, a grid of T tiles runs in ceil(T / SMs)
// waves; a product whose last wave is mostly empty wastes the rest. GPT-2
// small's products with 768 output columns make 64 x 3 = 192 tiles of 256 on
// an H100's 132 SMs: 1.45 waves, 27% of the SM time idle; in tiles of 192
// they make 256, 1.94 waves. choose_tile_n takes the width whose grid keeps
// the larger fraction of the SMs' tile slots busy with useful columns, the
// narrow tile discounted by kNarrowTileEfficiency (its own per-SM rate,
// estimated: its k16 steps read 4096 operand elements per 196,608 products
// from shared memory against 5120 per 262,144).
//
// Stream-K, after Osama et al., "Stream-K: Work-centric Parallel
// Decomposition for Dense Matrix Multiplication on the GPU" (2023).
//
// Why: a weight gradient dW = dY^T X of a linear layer is a small output
// (GPT-2's 768 x 768 .. 3072 x 768) over a long K (the 8192 tokens of a
// batch). Cut into 128 x 256 tiles it makes 18 to 72 CTAs on an H100's 132
// SMs: one tile per CTA leaves 45-86% of the GPU idle for the whole product.
//
// The work is tiles x k_iters iterations (one 64-deep k step of one tile),
// numbered tile-major: iteration i is k step i % k_iters of tile
// i / k_iters. CTA c of `ctas` takes the iterations [begin(c), begin(c + 1)),
// begin(c) = floor(c * work / ctas), so every CTA does the same number of
// iterations, give or take one, across tile boundaries. A CTA's range splits
// into segments, one per tile it touches:
//  - a segment that covers all of its tile's k steps ("full") is stored to C
//    by the GEMM's epilogue, as in the one-tile-per-CTA kernel;
//  - a partial one is stored, as raw float32 accumulators, to the workspace
//    slot (c, slot): slot 0 for the CTA's first segment, 1 for its last.
//    Middle segments are always full, so two slots per CTA suffice.
// A second kernel (the fixup) then finishes each tile that no one CTA
// covered: it sums the partials of the CTAs cta_of(first iteration) ..
// cta_of(last iteration) of the tile, in that order (deterministic: the same
// sums in the same order on every run), and applies alpha, beta and the
// output's rounding. Or (opt-in, set_wgmma_stream_k_fused) the GEMM kernel
// does that itself: its CTAs, all resident at once (a cooperative launch),
// meet at a grid barrier once their partials are stored, and CTA c then
// sums its even share of the split tiles' accumulators (fixup_begin).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define WICK_STREAM_K_FN __host__ __device__ __forceinline__
#else
#define WICK_STREAM_K_FN inline
#endif

namespace wick::cuda {

struct StreamKPlan {
  int64_t tiles = 0;    // output tiles of the product
  int64_t k_iters = 0;  // k steps per tile
  int64_t ctas = 0;     // CTAs sharing the work; 0: no stream-K (one tile per CTA)

  WICK_STREAM_K_FN int64_t work() const { return tiles * k_iters; }
  // The first iteration of CTA c, for 0 <= c <= ctas (begin(ctas) = work()).
  WICK_STREAM_K_FN int64_t begin(int64_t c) const { return c * work() / ctas; }
  // Whether CTA c's range is empty (more CTAs than iterations: a forced SIMT
  // stream-K grid, gemm_simt_plan.h). An empty CTA lies between cta_of's
  // answers without a partial: a fixup skips it.
  WICK_STREAM_K_FN bool empty(int64_t c) const { return begin(c) == begin(c + 1); }
  // The CTA whose range holds iteration it (0 <= it < work()): the largest c
  // with floor(c * work / ctas) <= it, i.e. c * work < (it + 1) * ctas.
  WICK_STREAM_K_FN int64_t cta_of(int64_t it) const { return ((it + 1) * ctas + work() - 1) / work() - 1; }
  // The workspace slot CTA c's partial of tile t is in: 0 when tile t is the
  // first tile c touches, else 1 (then it is the last).
  WICK_STREAM_K_FN int slot(int64_t c, int64_t t) const { return begin(c) >= t * k_iters ? 0 : 1; }
  // The fused fixup's share of CTA c (set_wgmma_stream_k_fused): the tiles'
  // accumulators numbered tile-major as tiles x `lines` lines (line i of tile
  // t: accumulator i of every consumer thread, one 1 KiB row of a partial),
  // CTA c sums lines [fixup_begin(c, lines), fixup_begin(c + 1, lines)).
  WICK_STREAM_K_FN int64_t fixup_begin(int64_t c, int64_t lines) const { return c * (tiles * lines) / ctas; }
};

// The element of a 128-row wgmma tile (rows x columns of C) that accumulator
// i of consumer thread u (0..255: warpgroup u / 128, warp (u / 32) % 4, lane
// u % 32) holds: i = 4 j + 2 h + e is row 64 (u / 128) + 16 warp + lane / 4
// + 8 h, column 8 j + 2 (lane % 4) + e (wgmma's m64nNk16 accumulator layout;
// the GEMM kernel's epilogue, its stream-K fixups).
struct WgmmaAccElem {
  int row, col;
};
WICK_STREAM_K_FN WgmmaAccElem wgmma_acc_elem(int i, int u) {
  const int lane = u & 31;
  return {64 * (u >> 7) + 16 * ((u >> 5) & 3) + (lane >> 2) + 8 * ((i >> 1) & 1), 8 * (i >> 2) + 2 * (lane & 3) + (i & 1)};
}

// One segment of a CTA's range: k steps [k0, k1) of tile `tile`.
struct StreamKSegment {
  int64_t tile = 0;
  int64_t k0 = 0, k1 = 0;
  int slot = 0;  // workspace slot of a partial segment
  WICK_STREAM_K_FN bool full(int64_t k_iters) const { return k0 == 0 && k1 == k_iters; }
};

// Walks CTA c's segments in order: `it` starts at plan.begin(c);
// next() fills `s` and returns false past the CTA's range.
struct StreamKCursor {
  int64_t it = 0, first = 0, end = 0;  // default: no segments
  StreamKCursor() = default;
  WICK_STREAM_K_FN StreamKCursor(const StreamKPlan& p, int64_t c) : it(p.begin(c)), first(p.begin(c)), end(p.begin(c + 1)) {}
  WICK_STREAM_K_FN bool next(const StreamKPlan& p, StreamKSegment& s) {
    if (it >= end) return false;
    s.tile = it / p.k_iters;
    s.k0 = it - s.tile * p.k_iters;
    const int64_t left = end - it;
    s.k1 = p.k_iters - s.k0 < left ? p.k_iters : s.k0 + left;
    s.slot = it == first ? 0 : 1;
    it += s.k1 - s.k0;
    return true;
  }
};

// The plan for a tiles x k_iters product on `sms` SMs that each run one CTA:
// stream-K only where the one-tile-per-CTA grid leaves SMs idle (fewer tiles
// than SMs) and the balanced work, plus the partial tiles' store and fixup
// (costed as kStreamKPartialCost k steps, an estimate: a 128 x 256 float32
// partial is 128 KiB out and back), beats one tile's k_iters steps by 20%.
// Each CTA gets at least kStreamKMinIters iterations, so the pipeline's
// fill is amortized. `baseline` (k steps of a 256-wide tile; k_iters when 0)
// is the busiest CTA's work in the grid stream-K would replace: less than
// k_iters where that grid has narrower tiles (plan_stream_k_for).
constexpr int64_t kStreamKMinIters = 4;
constexpr int64_t kStreamKPartialCost = 8;
inline StreamKPlan plan_stream_k(int64_t tiles, int64_t k_iters, int64_t sms, double baseline = 0) {
  StreamKPlan p;
  p.tiles = tiles, p.k_iters = k_iters;
  if (tiles <= 0 || k_iters <= 0 || sms <= 0 || tiles >= sms) return p;
  int64_t ctas = p.work() / kStreamKMinIters;
  if (ctas > sms) ctas = sms;
  if (ctas <= tiles) return p;
  const int64_t per_cta = (p.work() + ctas - 1) / ctas;
  if (5.0 * static_cast<double>(per_cta + kStreamKPartialCost) >=
      4.0 * (baseline > 0 ? baseline : static_cast<double>(k_iters)))
    return p;
  p.ctas = ctas;
  return p;
}

// The TMA kernel's tile width (columns of C) for a product C [M, N] x batch
// on `sms` SMs running one CTA each: 256, or 192 when its grid keeps enough
// more of the SMs' tile slots busy (see the file comment).
constexpr double kNarrowTileEfficiency = 0.95;
inline int choose_tile_n(int64_t M, int64_t N, int64_t batch, int64_t sms) {
  if (M <= 0 || N <= 0 || batch <= 0 || sms <= 0) return 256;
  auto busy = [&](int64_t bn) {  // useful elements / (waves x SMs x tile elements)
    const int64_t tiles = ((M + 127) / 128) * ((N + bn - 1) / bn) * batch;
    const int64_t waves = (tiles + sms - 1) / sms;
    return static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(batch) /
           (static_cast<double>(waves) * static_cast<double>(sms) * 128.0 * static_cast<double>(bn));
  };
  return kNarrowTileEfficiency * busy(192) > busy(256) ? 192 : 256;
}

// The stream-K plan for C [M, N] = A [M, K] B (one batch) in 128 x 256 x 64
// tiles, against the grid it replaces: 256-wide tiles, or with `narrow`
// (set_wgmma_narrow_tiles) the width choose_tile_n picks. On an H200
// (2026-11-28, bf16, K = 8192) stream-K against 192-wide tiles: 768 x 768
// (18 tiles) 0.62x cuBLAS against 0.31x, 2304 x 768 (54) 0.70x against
// 0.69x, but 3072 x 768 and 768 x 3072 (72) 0.75x against 0.81x: one wave of
// 192-wide tiles does 3/4 of a 256-wide tile's k steps per CTA, which the
// plan now weighs.
inline StreamKPlan plan_stream_k_for(int64_t M, int64_t N, int64_t K, int64_t sms, bool narrow) {
  const int64_t tiles_m = (M + 127) / 128, k_iters = (K + 63) / 64;
  if (M <= 0 || N <= 0 || sms <= 0) return plan_stream_k(0, k_iters, sms);
  const int bn = narrow ? choose_tile_n(M, N, 1, sms) : 256;
  const int64_t waves = (tiles_m * ((N + bn - 1) / bn) + sms - 1) / sms;
  return plan_stream_k(tiles_m * ((N + 255) / 256), k_iters, sms,
                       static_cast<double>(k_iters) * static_cast<double>(waves) * bn / 256.0);
}

// Cluster split-K (opt-in, set_wgmma_cluster_k): where stream-K would run,
// each tile's k steps split evenly over the s CTAs of one thread-block
// cluster (s <= 8, the portable cluster size), which add their partial tiles
// through distributed shared memory in the kernel instead of through a float32
// workspace in global memory and stream_k_fixup_kernel (~17 MB out and back
// for GPT-2's 768 x 768 weight gradient). The plan: the s in [2, 8] with the
// fewest k steps per CTA, counting kClusterKReduceCost for the exchange, among
// those where one wave of clusters covers the tiles (active[s]: clusters of
// s CTAs the device runs at once, from cudaOccupancyMaxActiveClusters; a
// cluster's CTAs share a GPC, so fewer than SMs / s) and each CTA keeps at
// least kStreamKMinIters steps; taken where it beats stream-K's busiest CTA
// plus its partial and fixup costs, else 0 (stream-K as planned). The costs
// are estimates in k steps, to be replaced by measurements.
constexpr int kClusterKMax = 8;
constexpr int64_t kClusterKReduceCost = 3;  // 128 KiB into shared memory, the cluster's reads of 1/s of each
constexpr int64_t kStreamKFixupCost = 8;    // stream_k_fixup_kernel's pass (not in plan_stream_k's estimate)
inline int plan_cluster_k(const StreamKPlan& sk, const int64_t (&active)[kClusterKMax + 1]) {
  if (sk.ctas <= 0 || sk.tiles <= 0 || sk.k_iters <= 0) return 0;
  int best = 0;
  int64_t best_cost = (sk.work() + sk.ctas - 1) / sk.ctas + kStreamKPartialCost + kStreamKFixupCost;
  for (int s = 2; s <= kClusterKMax; ++s) {
    if (sk.k_iters < s * kStreamKMinIters || active[s] < sk.tiles) continue;
    const int64_t cost = (sk.k_iters + s - 1) / s + kClusterKReduceCost;
    if (cost < best_cost) best = s, best_cost = cost;
  }
  return best;
}

// Persistent tiles: a grid of min(tiles, SMs) CTAs, CTA c taking tiles c,
// c + ctas, c + 2 ctas, ... of all the batches in turn, instead of one CTA per
// tile. The kernel's producer warpgroup then runs on into the next tile's k
// steps while the consumers finish the current one and store it, so only a
// CTA's first tile waits for its pipeline to fill (~1 us of TMA latency
// against 6-9 us of products per tile at GPT-2's K = 768). Tile u is, column
// fastest (CTAs running at once share A's row panel): batch u / (tm tn),
// row (u / tn) % tm, column u % tn.
// 32-bit throughout (the kernel's registers are at their cap): make() refuses
// a product of 2^31 tiles or more (batch 0: off).
struct PersistentTiles {
  int tiles_m = 0, tiles_n = 0, batch = 0;
  static PersistentTiles make(int64_t tiles_m, int64_t tiles_n, int64_t batch) {
    PersistentTiles t;
    if (tiles_m <= 0 || tiles_n <= 0 || batch <= 0 || tiles_m * tiles_n >= (int64_t{1} << 31) ||
        tiles_m * tiles_n * batch >= (int64_t{1} << 31))
      return t;
    t.tiles_m = static_cast<int>(tiles_m), t.tiles_n = static_cast<int>(tiles_n), t.batch = static_cast<int>(batch);
    return t;
  }
  WICK_STREAM_K_FN int total() const { return tiles_m * tiles_n * batch; }
  WICK_STREAM_K_FN void decode(int u, int& bi, int& tm, int& tn) const {
    const int per_batch = tiles_m * tiles_n;
    bi = u / per_batch;
    const int r = u - bi * per_batch;
    tm = r / tiles_n;
    tn = r - tm * tiles_n;
  }
};
inline int64_t persistent_ctas(const PersistentTiles& t, int64_t sms) {
  return t.total() < sms ? t.total() : sms;
}

}  // namespace wick::cuda
