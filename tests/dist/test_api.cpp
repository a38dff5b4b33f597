// The parts of dist/ that need no running job, in every build (with or
// without MPI): backend selection errors, the process group before init, and
// DistributedSampler's arithmetic for any number of replicas.
#include <gtest/gtest.h>

#include <algorithm>

#include "dist/communicator.h"
#include "dist/sampler.h"
#include "support/test_util.h"

using namespace wick;

TEST(DistApi, UnknownOrUnbuiltBackendIsAClearError) {
  EXPECT_WICK_ERROR(dist::init_process_group("gloo"), "unknown backend 'gloo'");
  EXPECT_FALSE(dist::is_initialized());
  if (!dist::is_backend_available("mpi"))
    EXPECT_WICK_ERROR(dist::init_process_group("mpi"), "the \"mpi\" backend is not built");
  if (!dist::is_backend_available("nccl"))
    EXPECT_WICK_ERROR(dist::init_process_group("nccl"), "the \"nccl\" backend is not built");
  EXPECT_FALSE(dist::is_initialized());
  EXPECT_WICK_ERROR(dist::world(), "not initialized");
  dist::destroy_process_group();  // nothing to do
}

TEST(DistApi, SamplerShardsForManyReplicaCounts) {
  for (int64_t n : {0, 1, 5, 10, 97})
    for (int R : {1, 2, 3, 8})
      for (bool drop_last : {false, true}) {
        SCOPED_TRACE(str("n=", n, " R=", R, " drop_last=", drop_last));
        std::vector<int> seen(static_cast<size_t>(n), 0);
        int64_t total = 0;
        for (int r = 0; r < R; ++r) {
          dist::DistributedSampler s(n, R, r, {.seed = 4, .drop_last = drop_last});
          s.set_epoch(2);
          const std::vector<int64_t> idx = s.indices();
          ASSERT_EQ(static_cast<int64_t>(idx.size()), s.num_samples());
          for (int64_t i : idx) {
            ASSERT_TRUE(i >= 0 && i < n);
            seen[static_cast<size_t>(i)]++;
          }
          total += static_cast<int64_t>(idx.size());
        }
        // Every rank gets the same count; padding repeats, drop_last only cuts.
        if (drop_last) {
          EXPECT_EQ(total, n / R * R);
          EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](int c) { return c <= 1; }));
        } else {
          EXPECT_EQ(total, (n + R - 1) / R * R);
          if (n > 0) EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](int c) { return c >= 1; }));
        }
      }
}
