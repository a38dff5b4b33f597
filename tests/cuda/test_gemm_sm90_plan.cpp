// The planning of the Hopper GEMM (cuda/kernels/gemm_sm90_plan.h), on the
// CPU: the same functions the GEMM kernel, its fixup kernel and its host side
// call. Stream-K:
//  - Partition: every iteration belongs to exactly one CTA, cta_of inverts
//    begin, CTAs get equal shares give or take one.
//  - Segments and slots, simulated exactly as the kernels use them: each CTA
//    walks its segments (the GEMM kernel), full ones "store" C, partial ones
//    their workspace slot, which must never be written twice; the fixup then
//    rebuilds each tile from the contributors' slots, and the k ranges it
//    reads must tile [0, k_iters) in order. Run on a product of integers, the
//    result must equal the plain product exactly.
//  - The plan: stream-K only below one wave of tiles and when it pays.
//  - The fused fixup's shares: every line of every tile summed by exactly
//    one CTA, evenly.
// The accumulator layout (wgmma_acc_elem): every element of a tile once.
// The tile width: 192 only where it fills the SMs' waves better.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <utility>
#include <vector>

#include "cuda/kernels/gemm_sm90_plan.h"

namespace wick {
namespace {

using cuda::StreamKCursor;
using cuda::StreamKPlan;
using cuda::StreamKSegment;

TEST(StreamK, PartitionCoversEveryIterationOnce) {
  for (int64_t tiles = 1; tiles <= 20; ++tiles)
    for (int64_t k = 1; k <= 20; ++k)
      for (int64_t ctas = 1; ctas <= tiles * k && ctas <= 50; ++ctas) {
        const StreamKPlan p{tiles, k, ctas};
        ASSERT_EQ(p.begin(0), 0);
        ASSERT_EQ(p.begin(ctas), p.work());
        for (int64_t c = 0; c < ctas; ++c) {
          const int64_t n = p.begin(c + 1) - p.begin(c);
          ASSERT_TRUE(n == p.work() / ctas || n == p.work() / ctas + 1) << tiles << " " << k << " " << ctas << " " << c;
          for (int64_t it = p.begin(c); it < p.begin(c + 1); ++it)
            ASSERT_EQ(p.cta_of(it), c) << "tiles " << tiles << " k " << k << " ctas " << ctas << " it " << it;
        }
      }
  // GPT-2's weight gradients on an H100: 18..72 tiles of 128 k steps over 132 CTAs.
  for (int64_t tiles : {18, 36, 54, 72}) {
    const StreamKPlan p{tiles, 128, 132};
    for (int64_t c = 0; c < 132; ++c)
      for (int64_t it = p.begin(c); it < p.begin(c + 1); ++it) ASSERT_EQ(p.cta_of(it), c);
  }
}

// The fused fixup's shares (StreamKPlan::fixup_begin): CTA c's lines, walked
// as the kernel walks them (runs of at most 16 lines within one tile), cover
// every line of every tile exactly once, and no CTA gets more than its even
// share rounded up.
TEST(StreamK, FusedFixupSharesCoverEveryLineOnce) {
  for (int64_t lines : {96, 128})
    for (int64_t tiles = 1; tiles <= 20; ++tiles)
      for (int64_t ctas : {int64_t{1}, tiles, tiles + 1, int64_t{7} * tiles, int64_t{132}}) {
        const StreamKPlan p{tiles, 128, ctas};
        std::vector<int> seen(static_cast<size_t>(tiles * lines), 0);
        for (int64_t c = 0; c < ctas; ++c) {
          const int64_t end = p.fixup_begin(c + 1, lines);
          ASSERT_LE(end - p.fixup_begin(c, lines), (tiles * lines + ctas - 1) / ctas);
          for (int64_t line = p.fixup_begin(c, lines); line < end;) {
            const int64_t t = line / lines, i0 = line - t * lines;
            const int64_t n = std::min({end - line, lines - i0, int64_t{16}});
            ASSERT_GT(n, 0);
            for (int64_t j = 0; j < n; ++j) ++seen[static_cast<size_t>(t * lines + i0 + j)];
            line += n;
          }
        }
        ASSERT_EQ(p.fixup_begin(0, lines), 0);
        ASSERT_EQ(p.fixup_begin(ctas, lines), tiles * lines);
        for (size_t i = 0; i < seen.size(); ++i)
          ASSERT_EQ(seen[i], 1) << "tiles " << tiles << " ctas " << ctas << " line " << i;
      }
}

// wgmma_acc_elem: accumulator i of consumer thread u lands on every element
// of a 128 x BN tile exactly once, as the epilogue's layout says (hand-worked
// corners: the accumulator pairs are adjacent columns, h steps 8 rows, j 8
// columns, lane % 4 two columns, lane / 4 a row, warps 16 rows, warpgroups 64).
TEST(GemmSm90Plan, AccumulatorElements) {
  for (int bn : {192, 256}) {
    std::vector<int> seen(static_cast<size_t>(128 * bn), 0);
    for (int u = 0; u < 256; ++u)
      for (int i = 0; i < bn / 2; ++i) {
        const cuda::WgmmaAccElem e = cuda::wgmma_acc_elem(i, u);
        ASSERT_TRUE(e.row >= 0 && e.row < 128 && e.col >= 0 && e.col < bn) << i << " " << u;
        ++seen[static_cast<size_t>(e.row * bn + e.col)];
      }
    for (size_t k = 0; k < seen.size(); ++k) ASSERT_EQ(seen[k], 1) << "element " << k;
  }
  auto at = [](int i, int u) {
    const cuda::WgmmaAccElem e = cuda::wgmma_acc_elem(i, u);
    return std::make_pair(e.row, e.col);
  };
  EXPECT_EQ(at(0, 0), std::make_pair(0, 0));
  EXPECT_EQ(at(1, 0), std::make_pair(0, 1));
  EXPECT_EQ(at(2, 0), std::make_pair(8, 0));
  EXPECT_EQ(at(4, 0), std::make_pair(0, 8));
  EXPECT_EQ(at(0, 1), std::make_pair(0, 2));
  EXPECT_EQ(at(0, 4), std::make_pair(1, 0));
  EXPECT_EQ(at(0, 32), std::make_pair(16, 0));
  EXPECT_EQ(at(0, 128), std::make_pair(64, 0));
  EXPECT_EQ(at(127, 255), std::make_pair(127, 255));
}

// Runs the kernels' protocol on the host for A [M, K] and B [K, N] of small
// integers, tiles of tm x tn, k steps of kt: returns C and checks the
// protocol's invariants along the way.
std::vector<int64_t> simulate(const StreamKPlan& p, int64_t M, int64_t N, int64_t K, int64_t tm, int64_t tn,
                              int64_t kt, const std::vector<int64_t>& A, const std::vector<int64_t>& B) {
  const int64_t tiles_n = (N + tn - 1) / tn;
  std::vector<int64_t> C(M * N, -1);
  // workspace[(c, slot)] = (tile, k0, k1, accumulators)
  struct Partial {
    int64_t tile, k0, k1;
    std::vector<int64_t> acc;
  };
  std::map<std::pair<int64_t, int>, Partial> ws;
  auto accumulate = [&](int64_t tile, int64_t k0, int64_t k1) {
    std::vector<int64_t> acc(tm * tn, 0);
    const int64_t m0 = tile / tiles_n * tm, n0 = tile % tiles_n * tn;
    for (int64_t i = 0; i < tm; ++i)
      for (int64_t j = 0; j < tn; ++j)
        for (int64_t k = k0 * kt; k < k1 * kt && k < K; ++k)
          if (m0 + i < M && n0 + j < N) acc[i * tn + j] += A[(m0 + i) * K + k] * B[k * N + n0 + j];
    return acc;
  };
  auto store = [&](int64_t tile, const std::vector<int64_t>& acc) {
    const int64_t m0 = tile / tiles_n * tm, n0 = tile % tiles_n * tn;
    for (int64_t i = 0; i < tm; ++i)
      for (int64_t j = 0; j < tn; ++j)
        if (m0 + i < M && n0 + j < N) {
          EXPECT_EQ(C[(m0 + i) * N + n0 + j], -1) << "element stored twice";
          C[(m0 + i) * N + n0 + j] = acc[i * tn + j];
        }
  };
  // The GEMM kernel: every CTA walks its segments.
  for (int64_t c = 0; c < p.ctas; ++c) {
    StreamKCursor cur(p, c);
    StreamKSegment s;
    int segments = 0;
    while (cur.next(p, s)) {
      ++segments;
      EXPECT_LT(s.k0, s.k1);
      const std::vector<int64_t> acc = accumulate(s.tile, s.k0, s.k1);
      if (s.full(p.k_iters)) {
        store(s.tile, acc);
      } else {
        EXPECT_EQ(s.slot, p.slot(c, s.tile)) << "the fixup would read another slot";
        const bool fresh = ws.emplace(std::make_pair(c, s.slot), Partial{s.tile, s.k0, s.k1, acc}).second;
        EXPECT_TRUE(fresh) << "CTA " << c << " writes slot " << s.slot << " twice";
      }
    }
    EXPECT_GT(segments, 0) << "CTA " << c << " has no work";
  }
  // The fixup: each tile no single CTA covered.
  for (int64_t t = 0; t < p.tiles; ++t) {
    const int64_t lo = p.cta_of(t * p.k_iters), hi = p.cta_of((t + 1) * p.k_iters - 1);
    if (lo == hi) continue;
    std::vector<int64_t> acc(tm * tn, 0);
    int64_t next_k = 0;
    for (int64_t c = lo; c <= hi; ++c) {
      auto f = ws.find({c, p.slot(c, t)});
      if (f == ws.end()) {
        ADD_FAILURE() << "tile " << t << ": no partial from CTA " << c;
        continue;
      }
      EXPECT_EQ(f->second.tile, t);
      EXPECT_EQ(f->second.k0, next_k) << "tile " << t << " CTA " << c;
      next_k = f->second.k1;
      for (size_t i = 0; i < acc.size(); ++i) acc[i] += f->second.acc[i];
    }
    EXPECT_EQ(next_k, p.k_iters) << "tile " << t;
    store(t, acc);
  }
  return C;
}

TEST(StreamK, SimulatedProductIsExact) {
  std::mt19937 gen(5);
  std::uniform_int_distribution<int> d(-3, 3);
  struct Dims {
    int64_t M, N, K, ctas;
  };
  // Tiles of 4 x 8, k steps of 3: partial tiles and k steps, CTAs with one
  // segment inside one tile, with several tiles, with a full middle tile.
  const Dims dims[] = {{4, 8, 3, 1},  {9, 17, 40, 7}, {13, 5, 31, 11}, {8, 16, 60, 3},
                       {12, 8, 7, 2}, {5, 30, 100, 16}, {20, 20, 9, 13}};
  for (const Dims& x : dims) {
    const int64_t tm = 4, tn = 8, kt = 3;
    const int64_t tiles = ((x.M + tm - 1) / tm) * ((x.N + tn - 1) / tn), k_iters = (x.K + kt - 1) / kt;
    const StreamKPlan p{tiles, k_iters, std::min(x.ctas, tiles * k_iters)};
    std::vector<int64_t> A(x.M * x.K), B(x.K * x.N);
    for (auto& v : A) v = d(gen);
    for (auto& v : B) v = d(gen);
    SCOPED_TRACE(testing::Message() << x.M << "x" << x.N << "x" << x.K << " ctas " << p.ctas);
    const std::vector<int64_t> C = simulate(p, x.M, x.N, x.K, tm, tn, kt, A, B);
    for (int64_t m = 0; m < x.M; ++m)
      for (int64_t n = 0; n < x.N; ++n) {
        int64_t want = 0;
        for (int64_t k = 0; k < x.K; ++k) want += A[m * x.K + k] * B[k * x.N + n];
        ASSERT_EQ(C[m * x.N + n], want) << "C[" << m << ", " << n << "]";
      }
  }
}

TEST(StreamK, PlanOnlyBelowOneWaveAndWhenItPays) {
  using cuda::plan_stream_k;
  // GPT-2 small's weight gradients (K = 8192 tokens: 128 k steps of 64) in
  // 128 x 256 tiles on an H100: 18 (768 x 768), 54 (2304 x 768), 72 (3072 x 768).
  for (int64_t tiles : {18, 36, 54, 72}) {
    const StreamKPlan p = plan_stream_k(tiles, 128, 132);
    EXPECT_EQ(p.ctas, 132) << tiles << " tiles";
    EXPECT_EQ(p.tiles, tiles);
    EXPECT_EQ(p.k_iters, 128);
  }
  // A wave or more of tiles: one tile per CTA.
  EXPECT_EQ(plan_stream_k(132, 128, 132).ctas, 0);
  EXPECT_EQ(plan_stream_k(192, 12, 132).ctas, 0);  // 8192 x 768 x 768
  // Short K: the partials' cost is not recovered.
  EXPECT_EQ(plan_stream_k(6, 9, 132).ctas, 0);
  EXPECT_EQ(plan_stream_k(100, 12, 132).ctas, 0);
  // Long K, few tiles: as many CTAs as keep >= kStreamKMinIters iterations each.
  EXPECT_EQ(plan_stream_k(6, 63, 132).ctas, 6 * 63 / cuda::kStreamKMinIters);
  EXPECT_EQ(plan_stream_k(1, 1000, 132).ctas, 132);
  // Against a grid of narrower tiles (baseline: its busiest CTA's k steps in 256-wide units).
  EXPECT_EQ(plan_stream_k(72, 128, 132, 96.0).ctas, 0);
  EXPECT_EQ(plan_stream_k(72, 128, 132, 128.0).ctas, 132);
  // The same through plan_stream_k_for: GPT-2's weight gradients against 192-wide tiles (H200 measurements in
  // gemm_sm90_plan.h): stream-K for 768 x 768 and 2304 x 768, not for 3072 x 768 or 768 x 3072, which
  // one wave of 192-wide tiles covers at 3/4 of the k steps; against 256-wide tiles, all four.
  for (auto [M, N] : {std::pair<int64_t, int64_t>{768, 768}, {2304, 768}, {3072, 768}, {768, 3072}}) {
    const bool narrow_sk = M * N < 3072 * 768;
    EXPECT_EQ(cuda::plan_stream_k_for(M, N, 8192, 132, true).ctas > 0, narrow_sk) << M << "x" << N << " narrow";
    EXPECT_EQ(cuda::plan_stream_k_for(M, N, 8192, 132, false).ctas, 132) << M << "x" << N;
  }
  EXPECT_EQ(cuda::plan_stream_k_for(8192, 768, 768, 132, true).ctas, 0);  // 384 tiles: no stream-K
  EXPECT_EQ(cuda::plan_stream_k_for(0, 768, 768, 132, true).ctas, 0);
  EXPECT_EQ(cuda::plan_stream_k_for(64, 64, 64, 0, true).ctas, 0);
  // Degenerate inputs.
  EXPECT_EQ(plan_stream_k(0, 10, 132).ctas, 0);
  EXPECT_EQ(plan_stream_k(3, 0, 132).ctas, 0);
  EXPECT_EQ(plan_stream_k(3, 100, 0).ctas, 0);
  // Whenever it plans stream-K, every CTA has work and more CTAs than tiles.
  for (int64_t tiles = 1; tiles < 140; tiles += 3)
    for (int64_t k = 1; k < 300; k += 7) {
      const StreamKPlan p = plan_stream_k(tiles, k, 132);
      if (p.ctas == 0) continue;
      EXPECT_GT(p.ctas, tiles);
      EXPECT_LE(p.ctas, 132);
      EXPECT_GE(p.work() / p.ctas, cuda::kStreamKMinIters);
    }
}

TEST(GemmSm90Plan, TileWidth) {
  using cuda::choose_tile_n;
  // GPT-2 small at 8192 tokens on an H100 (132 SMs). 768 columns: 192 tiles
  // of 256 (1.45 waves) against 256 of 192 (1.94 waves).
  EXPECT_EQ(choose_tile_n(8192, 768, 1, 132), 192);
  EXPECT_EQ(choose_tile_n(8192, 2304, 1, 132), 192);  // 576 tiles (4.4 waves) against 768 (5.8)
  EXPECT_EQ(choose_tile_n(8192, 3072, 1, 132), 256);  // 768 tiles, 5.8 waves already
  EXPECT_EQ(choose_tile_n(4096, 4096, 1, 132), 256);  // 512 tiles, 3.9 waves; 192 would pad 4096 to 4224
  EXPECT_EQ(choose_tile_n(8192, 50304, 1, 132), 256);  // the vocabulary projection
  // Whole waves of 256 stay 256; the batch counts in the tiles.
  EXPECT_EQ(choose_tile_n(128 * 132, 256, 1, 132), 256);
  EXPECT_EQ(choose_tile_n(128, 256, 132, 132), 256);
  EXPECT_EQ(choose_tile_n(128 * 66, 768, 2, 132), 256);  // 396 tiles of 256: exactly 3 waves
  EXPECT_EQ(choose_tile_n(128 * 66, 768, 1, 132), 192);  // 198 tiles of 256 (1.5 waves) vs 264 of 192 (2)
  // Below one wave a wave lasts one tile: narrower tiles on more SMs finish first.
  EXPECT_EQ(choose_tile_n(128, 192, 1, 132), 192);
  EXPECT_EQ(choose_tile_n(128, 256, 1, 132), 192);
  // Degenerate inputs keep the default.
  EXPECT_EQ(choose_tile_n(0, 768, 1, 132), 256);
  EXPECT_EQ(choose_tile_n(8192, 768, 1, 0), 256);
}

// Cluster split-K's plan: none without a stream-K plan or where no cluster
// size gives one wave; the split with the fewest k steps per CTA among those
// that do, each CTA keeping kStreamKMinIters; only where it beats stream-K's
// busiest CTA plus the partial and fixup costs. And the k ranges a cluster's
// CTAs take (rank r: [r nk / s, (r + 1) nk / s), the kernel's split) tile [0,
// nk) in order, each at least kStreamKMinIters long.
TEST(GemmSm90Plan, ClusterSplitK) {
  using cuda::plan_cluster_k;
  using cuda::plan_stream_k_for;
  // Clusters of s CTAs an H100-like device runs at once: 8 GPCs of 16 SMs plus 4 SMs (132), one CTA per SM.
  int64_t h100[cuda::kClusterKMax + 1] = {};
  for (int sz = 1; sz <= cuda::kClusterKMax; ++sz) h100[sz] = 8 * (16 / sz) + 4 / sz;
  // GPT-2's 768 x 768 weight gradient: 18 tiles of 128 x 256, 128 k steps; stream-K runs 132 CTAs of ~18 steps.
  const StreamKPlan sk768 = plan_stream_k_for(768, 768, 8192, 132, true);
  ASSERT_GT(sk768.ctas, 0);
  EXPECT_EQ(plan_cluster_k(sk768, h100), 5);  // 26 steps + 3 against 18 + 8 + 8; 6, 7, 8 leave a second wave
  // 2304 x 768: 54 tiles; pairs, 64 + 3 steps against 53 + 16.
  const StreamKPlan sk2304 = plan_stream_k_for(2304, 768, 8192, 132, true);
  ASSERT_GT(sk2304.ctas, 0);
  EXPECT_EQ(plan_cluster_k(sk2304, h100), 2);
  // No stream-K plan: no cluster plan either.
  EXPECT_EQ(plan_cluster_k(plan_stream_k_for(8192, 768, 768, 132, true), h100), 0);
  // No cluster size fits the tiles in one wave.
  int64_t none[cuda::kClusterKMax + 1] = {};
  EXPECT_EQ(plan_cluster_k(sk768, none), 0);
  // Where stream-K spreads long products over many more SMs than the clusters can, it stays: 10 tiles of
  // 1000 steps, 76 + 16 on 132 CTAs against at best 125 + 3 on 80.
  StreamKPlan p;
  p.tiles = 10, p.k_iters = 1000, p.ctas = 132;
  EXPECT_EQ(plan_cluster_k(p, h100), 0);
  // Short ranges: at least kStreamKMinIters steps a CTA (8 steps: only pairs, 4 + 3 against 4 + 16).
  p.tiles = 8, p.k_iters = 8, p.ctas = 16;
  EXPECT_EQ(plan_cluster_k(p, h100), 2);
  p.k_iters = 16, p.ctas = 32;  // 16 steps: up to 4 CTAs, 4 + 3
  EXPECT_EQ(plan_cluster_k(p, h100), 4);
  // Every plan's k ranges tile [0, nk) with at least kStreamKMinIters each.
  for (int64_t tiles : {1, 5, 18, 54})
    for (int64_t nk : {8, 13, 64, 128, 1000}) {
      p.tiles = tiles, p.k_iters = nk, p.ctas = 132;
      const int sz = plan_cluster_k(p, h100);
      if (sz == 0) continue;
      int64_t next = 0;
      for (int r = 0; r < sz; ++r) {
        const int64_t k0 = r * nk / sz, k1 = (r + 1) * nk / sz;
        EXPECT_EQ(k0, next);
        EXPECT_GE(k1 - k0, cuda::kStreamKMinIters) << "tiles " << tiles << " nk " << nk << " s " << sz;
        next = k1;
      }
      EXPECT_EQ(next, nk);
      EXPECT_GE(h100[sz], tiles);
    }
}

// Persistent tiles: CTAs c, c + ctas, ... over all the tiles of all the
// batches visit every tile exactly once (the kernel's walk, simulated), the
// decode is the row-major order of (batch, row, column), the grid never
// exceeds the tiles, and a product of 2^31 tiles or more is refused.
TEST(PersistentTiles, EveryTileOnceInOrder) {
  for (int64_t tm : {1, 2, 5, 64})
    for (int64_t tn : {1, 3, 4, 12})
      for (int64_t batch : {1, 2, 7})
        for (int64_t sms : {1, 2, 132}) {
          const cuda::PersistentTiles t = cuda::PersistentTiles::make(tm, tn, batch);
          ASSERT_EQ(t.total(), tm * tn * batch);
          const int64_t ctas = cuda::persistent_ctas(t, sms);
          ASSERT_EQ(ctas, std::min<int64_t>(t.total(), sms));
          std::vector<int> seen(static_cast<size_t>(t.total()), 0);
          for (int64_t c = 0; c < ctas; ++c)
            for (int64_t u = c; u < t.total(); u += ctas) {  // TmaWorkIter's persistent walk
              int b, m, n;
              t.decode(static_cast<int>(u), b, m, n);
              ASSERT_TRUE(b >= 0 && b < batch && m >= 0 && m < tm && n >= 0 && n < tn) << u;
              ASSERT_EQ((int64_t{b} * tm + m) * tn + n, u);
              ++seen[static_cast<size_t>(u)];
            }
          for (int v : seen) ASSERT_EQ(v, 1);
        }
  EXPECT_EQ(cuda::PersistentTiles::make(65536, 32768, 1).batch, 0);  // 2^31 tiles: off
  EXPECT_EQ(cuda::PersistentTiles::make(1024, 1024, 2048).batch, 0);
  EXPECT_EQ(cuda::PersistentTiles::make(0, 3, 1).batch, 0);
  EXPECT_EQ(cuda::PersistentTiles::make(64, 3, 1).batch, 1);
}

}  // namespace
}  // namespace wick
