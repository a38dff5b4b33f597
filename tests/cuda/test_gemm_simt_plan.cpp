// The planning of the float32 SIMT GEMM's hybrid stream-K
// (cuda/kernels/gemm_simt_plan.h), on the CPU: the same functions the kernel,
// its fixup and its host side call.
//  - The split: the whole-wave tiles one per CTA, the rest stream-K; walked
//    as the kernel walks it, every k step of every tile is done exactly
//    once, and every CTA does the same work give or take one k step; the
//    fixup, walked as simt_stream_k_fixup_kernel walks it (empty CTAs
//    skipped), reads every partial slot written, once, and no other.
//  - The plan: taken on the GPT-2 rows whose last round the H200 ran mostly
//    empty, not where the waves are (nearly) full.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "cuda/kernels/gemm_simt_plan.h"

namespace wick {
namespace {

using cuda::SimtStreamK;
using cuda::StreamKCursor;
using cuda::StreamKSegment;

TEST(SimtStreamK, SplitDoesEveryKStepOnceEvenly) {
  for (int64_t tiles = 1; tiles <= 30; ++tiles)
    for (int64_t ks = 1; ks <= 12; ++ks)
      for (int64_t ctas = 1; ctas <= 40; ++ctas) {
        const SimtStreamK h = cuda::simt_stream_k_split(tiles, ks, ctas);
        ASSERT_EQ(h.ctas, ctas);
        ASSERT_EQ(h.dp_tiles % ctas, 0);
        ASSERT_EQ(h.dp_tiles + h.sk.tiles, tiles);
        ASSERT_LT(h.sk.tiles, ctas);
        std::vector<int> done(static_cast<size_t>(tiles * ks), 0);
        std::map<std::pair<int64_t, int>, int64_t> written;  // (CTA, slot) -> stream-K tile of its partial
        int64_t most = 0, least = tiles * ks;
        for (int64_t c = 0; c < ctas; ++c) {
          int64_t work = 0;
          for (int64_t u = c; u < h.dp_tiles; u += ctas) {  // the whole-wave tiles
            for (int64_t k = 0; k < ks; ++k) ++done[static_cast<size_t>(u * ks + k)];
            work += ks;
          }
          if (h.sk.tiles == 0) {
            most = std::max(most, work), least = std::min(least, work);
            continue;
          }
          StreamKCursor cur(h.sk, c);
          StreamKSegment s;
          while (cur.next(h.sk, s)) {
            ASSERT_LT(s.k0, s.k1);
            for (int64_t k = s.k0; k < s.k1; ++k) ++done[static_cast<size_t>((h.dp_tiles + s.tile) * ks + k)];
            work += s.k1 - s.k0;
            if (!s.full(ks)) ASSERT_TRUE(written.emplace(std::make_pair(c, s.slot), s.tile).second) << "slot written twice";
          }
          most = std::max(most, work), least = std::min(least, work);
        }
        for (size_t i = 0; i < done.size(); ++i)
          ASSERT_EQ(done[i], 1) << "tiles " << tiles << " ks " << ks << " ctas " << ctas << " step " << i;
        ASSERT_LE(most - least, 1) << "tiles " << tiles << " ks " << ks << " ctas " << ctas;
        // The fixup: tiles no one CTA covered, their contributors lo .. hi in order, empty ones skipped.
        size_t reads = 0;
        for (int64_t t = 0; t < h.sk.tiles; ++t) {
          const int64_t lo = h.sk.cta_of(t * ks), hi = h.sk.cta_of((t + 1) * ks - 1);
          if (lo == hi) continue;
          for (int64_t q = lo; q <= hi; ++q) {
            if (h.sk.empty(q)) continue;
            const auto w = written.find({q, h.sk.slot(q, t)});
            ASSERT_TRUE(w != written.end() && w->second == t)
                << "tiles " << tiles << " ks " << ks << " ctas " << ctas << ": the fixup of tile " << t << " reads CTA "
                << q << "'s slot " << h.sk.slot(q, t) << ", which holds no partial of it";
            ++reads;
          }
        }
        ASSERT_EQ(reads, written.size()) << "a partial the fixup never reads";
      }
}

// On an H200 (132 SMs, two CTAs each) for GPT-2 small's float32 rows at 8192
// tokens (tiles of 128 x 128, k steps of 8).
TEST(SimtStreamK, PlanTakesTheRowsWithAnEmptyLastRound) {
  struct Row {
    const char* name;
    int64_t tiles, ksteps;
    bool taken;
  };
  const Row rows[] = {
      {"8192x768x768 (1.45 waves)", 384, 96, true},
      {"8192x768x3072", 384, 384, true},
      {"8192x768x2304", 384, 288, true},
      {"8192x2304x768 (4.36 waves)", 1152, 96, true},
      {"8192x3072x768 (5.82 waves)", 1536, 96, false},
      {"4096^3 (3.88 waves)", 1024, 512, false},
      {"two full waves", 528, 96, false},
  };
  for (const Row& r : rows) {
    const SimtStreamK h = cuda::plan_simt_stream_k(r.tiles, r.ksteps, 132, 2);
    EXPECT_EQ(h.ctas > 0, r.taken) << r.name << ": hybrid " << cuda::simt_stream_k_cost(cuda::simt_stream_k_split(r.tiles, r.ksteps, 264))
                                   << " against plain " << cuda::simt_plain_cost(r.tiles, r.ksteps, 264);
    if (h.ctas > 0) {
      EXPECT_EQ(h.ctas, 264);
      EXPECT_EQ(h.dp_tiles, r.tiles / 264 * 264);
    }
  }
  // 8192 x 768 x 768: one wave one tile per CTA, then 120 tiles' 96 k steps over all 264 CTAs (43 or 44 each),
  // every stream-K segment a partial one: one per distinct (CTA, tile) pair of the iterations, counted here
  // from cta_of (360: 264 ranges, plus the 119 tile boundaries less the 23 that fall on a range's start).
  const SimtStreamK h = cuda::plan_simt_stream_k(384, 96, 132, 2);
  ASSERT_EQ(h.sk.tiles, 120);
  int64_t pairs = 0;
  for (int64_t it = 0; it < h.sk.work(); ++it)
    if (it == 0 || h.sk.cta_of(it) != h.sk.cta_of(it - 1) || it % h.sk.k_iters == 0) ++pairs;
  EXPECT_EQ(pairs, 360);
  EXPECT_EQ(cuda::simt_stream_k_partials(h), pairs);
  EXPECT_FALSE(cuda::plan_simt_stream_k(0, 96, 132, 2).ctas);
  EXPECT_FALSE(cuda::plan_simt_stream_k(384, 0, 132, 2).ctas);
}

}  // namespace
}  // namespace wick
