// Host-side planning of the float32 cp.async SIMT GEMM's hybrid stream-K
// (gemm.cu, section 4; set_gemm_simt_stream_k). Plain C++ as well as CUDA,
// like gemm_sm90_plan.h, whose StreamKPlan it shares:
// tests/cuda/test_gemm_simt_plan.cpp checks it on the CPU.
//
// Why: the SIMT kernel runs two CTAs of 128 x 128 tiles per SM, so an H200
// has P = 264 tile slots. GPT-2 small's products with 768 output columns at
// 8192 tokens make 384 tiles: a full round of 264, then a round of 120 CTAs
// alone on their SMs. On an H200 (2026-11-28) that last round took about as
// long as a full one (8192 x 768 x 768: ~290 us of kernel time, where a round
// of 96 k steps, from the rows with no such tail, takes ~146): a lone 4-warp
// CTA keeps its SM's FMA pipes no busier than two do. That row ran at 0.735x
// cuBLAS, the lowest of the table, and 8192 x 2304 x 768 (4 rounds + 96
// tiles) at 0.88x.
//
// The hybrid, after Osama et al., "Stream-K: Work-centric Parallel
// Decomposition for Dense Matrix Multiplication on the GPU" (2023), section
// 5's "data-parallel + stream-K": a grid of P CTAs; the first W P tiles
// (W = whole waves) one per CTA as before (CTA c: tiles c, c + P, ...), then
// the remaining R = T - W P tiles' k steps shared evenly by all P CTAs
// (StreamKPlan over R tiles): a segment that covers a tile's whole K stores C,
// a partial one its raw 128 x 128 accumulators to workspace slot (c, slot),
// and a fixup kernel sums each split tile's partials in CTA order (the same
// bits every run).
//
// Cost, in units of one k step of a full round (every SM running its CTAs):
//  - plain: S x ceil(T / P) (S: k steps per tile): a last round of any size
//    takes a full round's time, as measured;
//  - hybrid: W S + ceil(R S / P), plus the partials' traffic (each partial
//    segment's 64 KiB written and read back; kSimtBytesPerStep a unit, the
//    split-K model's assumption in gemm.cu) and the fixup's launch
//    (kSimtFixupSteps);
// taken where it is under kSimtStreamKGain of plain (the costs are estimates:
// a small predicted gain is not worth the bet), only for products of at least
// one whole wave (the tail was measured there; under one wave split-K serves)
// whose stream-K part gives every CTA at least kStreamKMinIters k steps.
#pragma once

#include <cstdint>

#include "cuda/kernels/gemm_sm90_plan.h"

namespace wick::cuda {

// A hybrid plan: ctas > 0 when taken. sk.tiles are the tiles after the first
// dp_tiles (tile dp_tiles + t is stream-K's tile t), sk.ctas == ctas.
struct SimtStreamK {
  int64_t ctas = 0;      // the grid; 0: no hybrid (the plain grid of one CTA per tile)
  int64_t dp_tiles = 0;  // tiles 0 .. dp_tiles - 1 one per CTA: W whole waves of ctas
  StreamKPlan sk;        // the rest, stream-K over all ctas
};

// The split of `tiles` x `ksteps` over `ctas` CTAs, whatever it costs (the
// plan below, and the tests, which force small grids: with more CTAs than
// stream-K k steps, some CTAs' ranges are empty, StreamKPlan::empty).
inline SimtStreamK simt_stream_k_split(int64_t tiles, int64_t ksteps, int64_t ctas) {
  SimtStreamK h;
  if (tiles <= 0 || ksteps <= 0 || ctas <= 0) return h;
  h.ctas = ctas;
  h.dp_tiles = tiles / ctas * ctas;
  h.sk.tiles = tiles - h.dp_tiles;
  h.sk.k_iters = ksteps;
  h.sk.ctas = ctas;
  return h;
}

// The partial segments of a plan: the stream-K segments that do not cover
// their tile's whole K (each a 64 KiB partial written, then read by the fixup).
inline int64_t simt_stream_k_partials(const SimtStreamK& h) {
  int64_t n = 0;
  if (h.sk.tiles == 0) return 0;
  for (int64_t c = 0; c < h.ctas; ++c) {
    StreamKCursor cur(h.sk, c);
    StreamKSegment s;
    while (cur.next(h.sk, s)) n += s.full(h.sk.k_iters) ? 0 : 1;
  }
  return n;
}

constexpr double kSimtBytesPerStep = 4e6;   // bytes moved in one unit (choose_simt_splits's assumption)
constexpr double kSimtFixupSteps = 3;       // the fixup kernel's launch and tail, in units (~5 us on an H200)
constexpr double kSimtStreamKGain = 0.95;   // taken only below this fraction of plain's cost
constexpr int64_t kSimtPartialBytes = 128 * 128 * 4;

// Plain's and the hybrid's costs (units above) for `tiles` x `ksteps` on
// `sms` SMs holding `occ` CTAs each.
inline double simt_plain_cost(int64_t tiles, int64_t ksteps, int64_t slots) {
  return static_cast<double>(ksteps) * static_cast<double>((tiles + slots - 1) / slots);
}
inline double simt_stream_k_cost(const SimtStreamK& h) {
  const int64_t waves = h.dp_tiles / h.ctas;
  const int64_t sk_per_cta = (h.sk.work() + h.ctas - 1) / h.ctas;
  const int64_t partials = simt_stream_k_partials(h);
  return static_cast<double>(waves * h.sk.k_iters + sk_per_cta) +
         2.0 * static_cast<double>(partials * kSimtPartialBytes) / kSimtBytesPerStep + (partials ? kSimtFixupSteps : 0);
}

// The plan for a float32 product of `tiles` 128 x 128 tiles (batch 1, no
// split-K) and `ksteps` k steps of 8 on `sms` SMs x `occ` CTAs: the hybrid
// where the plain grid's last round is not full and the hybrid pays, else
// none (ctas == 0).
inline SimtStreamK plan_simt_stream_k(int64_t tiles, int64_t ksteps, int64_t sms, int64_t occ) {
  const int64_t slots = sms * occ;
  if (tiles <= 0 || ksteps <= 0 || slots <= 0 || tiles < slots || tiles % slots == 0) return {};
  const SimtStreamK h = simt_stream_k_split(tiles, ksteps, slots);
  if (h.sk.work() < kStreamKMinIters * slots) return {};
  if (simt_stream_k_cost(h) >= kSimtStreamKGain * simt_plain_cost(tiles, ksteps, slots)) return {};
  return h;
}

}  // namespace wick::cuda
