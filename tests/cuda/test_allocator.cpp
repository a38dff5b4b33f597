// The caching device allocator (cuda/allocator.h). The bookkeeping runs here
// on a fake device (host memory behind the injected raw allocate/free), so
// reuse, splitting, coalescing, stats, the limit and empty_cache are tested
// on every machine; the GPU tests check the real allocator behind tensors.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>
#include <vector>

#include "cuda/allocator.h"
#include "cuda/cuda.h"
#include "ops/creation.h"
#include "support/cuda_util.h"
#include "support/test_util.h"

using namespace wick;
using cuda::CachingAllocator;

namespace {

constexpr size_t KiB = 1024, MiB = 1024 * 1024;

// A fake device: malloc'd segments, a capacity, and counters.
struct FakeDevice {
  size_t capacity = 64 * MiB;
  size_t used = 0;
  int allocs = 0, frees = 0;
  std::set<void*> live;
  std::vector<size_t> sizes;  // every segment size requested

  cuda::RawMemory raw() {
    cuda::RawMemory r;
    r.alloc = [this](size_t n) -> void* {
      sizes.push_back(n);
      if (used + n > capacity) return nullptr;
      void* p = std::malloc(n);
      used += n;
      ++allocs;
      live.insert(p);
      seg_size[p] = n;
      return p;
    };
    r.free = [this](void* p) {
      EXPECT_TRUE(live.count(p)) << "freeing a pointer that is not a segment";
      live.erase(p);
      used -= seg_size[p];
      ++frees;
      std::free(p);
    };
    r.mem_info = [this]() { return std::pair<size_t, size_t>{capacity - used, capacity}; };
    // Events: numbered; done when the test says so or once waited for.
    r.record_event = [this](cuda::StreamId s) {
      const cuda::EventId e = ++last_event;
      event_stream[e] = s;
      return e;
    };
    r.event_done = [this](cuda::EventId e) {
      EXPECT_TRUE(event_stream.count(e)) << "querying an event that does not exist";
      return done.count(e) > 0;
    };
    r.event_sync = [this](cuda::EventId e) {
      ++syncs;
      done.insert(e);
    };
    r.event_destroy = [this](cuda::EventId e) {
      EXPECT_TRUE(event_stream.erase(e)) << "destroying an event twice";
    };
    return r;
  }
  // Completes every event recorded so far on stream s.
  void finish(cuda::StreamId s) {
    for (auto [e, es] : event_stream)
      if (es == s) done.insert(e);
  }
  std::map<void*, size_t> seg_size;
  cuda::EventId last_event = 0;
  std::map<cuda::EventId, cuda::StreamId> event_stream;  // live events
  std::set<cuda::EventId> done;
  int syncs = 0;
};

constexpr cuda::StreamId kS0 = 1, kS1 = 2, kS2 = 3;

}  // namespace

// record_stream: a block used on other streams returns to its pool only
// after events on those streams (recorded at the free) have completed.
TEST(CudaAllocatorBookkeeping, RecordStreamDefersReuseUntilTheOtherStreamsFinish) {
  FakeDevice dev;
  CachingAllocator a(dev.raw(), "fake");
  void* p = a.allocate(1000, kS0);
  EXPECT_TRUE(a.record_stream(p, kS1));
  EXPECT_TRUE(a.record_stream(p, kS2));
  EXPECT_TRUE(a.record_stream(p, kS1));  // twice: one event
  EXPECT_TRUE(a.record_stream(p, kS0));  // its own stream: nothing to wait for
  a.deallocate(p);
  EXPECT_EQ(dev.event_stream.size(), 2u);
  EXPECT_EQ(a.pending_frees(), 1u);
  EXPECT_EQ(a.stats().allocated, 512 * 2) << "a pending block still counts as allocated";

  void* q = a.allocate(1000, kS0);  // kS1 and kS2 still running: not p
  EXPECT_NE(q, p);
  a.deallocate(q);
  dev.finish(kS1);
  void* r = a.allocate(1000, kS0);  // kS2 still running
  EXPECT_NE(r, p);
  a.deallocate(r);
  dev.finish(kS2);
  void* t = a.allocate(1000, kS0);  // both done: p merges with the free rest of its segment and serves again
  EXPECT_EQ(a.pending_frees(), 0u);
  EXPECT_TRUE(dev.event_stream.empty()) << "events destroyed once complete";
  EXPECT_EQ(t, p);
  EXPECT_EQ(dev.allocs, 1);
  a.deallocate(t);
  EXPECT_EQ(a.stats().allocated, 0);
  EXPECT_EQ(dev.syncs, 0) << "allocation only polls";
}

TEST(CudaAllocatorBookkeeping, RecordStreamEdgeCases) {
  FakeDevice dev;
  CachingAllocator a(dev.raw(), "fake");
  int local = 0;
  EXPECT_FALSE(a.record_stream(&local, kS1)) << "memory it does not manage";
  EXPECT_FALSE(a.record_stream(nullptr, kS1));
  // empty_cache waits for pending blocks, then releases their segments.
  void* p = a.allocate(3 * MiB, kS0);
  a.record_stream(p, kS1);
  a.deallocate(p);
  EXPECT_EQ(a.pending_frees(), 1u);
  a.empty_cache();
  EXPECT_EQ(dev.syncs, 1);
  EXPECT_EQ(a.pending_frees(), 0u);
  EXPECT_EQ(a.stats().reserved, 0);
  EXPECT_TRUE(dev.live.empty());
  // Out of memory waits for pending blocks before giving up: 40 MiB pending
  // on kS1, then 40 MiB more on a 64 MiB device succeeds after the wait (the
  // pending segment is freed, released to the device and allocated anew).
  void* big = a.allocate(40 * MiB, kS0);
  a.record_stream(big, kS1);
  a.deallocate(big);
  const int frees_before = dev.frees;
  void* again = a.allocate(40 * MiB, kS0);
  EXPECT_NE(again, nullptr);
  EXPECT_EQ(dev.syncs, 2);
  EXPECT_EQ(dev.frees, frees_before + 1);
  EXPECT_EQ(a.stats().allocated, static_cast<int64_t>(40 * MiB));
  a.deallocate(again);
  // An allocator destroyed with pending blocks waits for them and frees their segments.
  {
    CachingAllocator b(dev.raw(), "fake2");
    void* x = b.allocate(1000, kS0);
    b.record_stream(x, kS2);
    b.deallocate(x);
  }
  EXPECT_EQ(dev.syncs, 3);
}

TEST(CudaAllocatorBookkeeping, RoundingRules) {
  EXPECT_EQ(CachingAllocator::round_size(1), 512u);
  EXPECT_EQ(CachingAllocator::round_size(512), 512u);
  EXPECT_EQ(CachingAllocator::round_size(513), 1024u);
  EXPECT_EQ(CachingAllocator::round_size(3 * MiB + 1), 3 * MiB + 512);
  EXPECT_EQ(CachingAllocator::segment_size(512), 2 * MiB);
  EXPECT_EQ(CachingAllocator::segment_size(1 * MiB), 2 * MiB);
  EXPECT_EQ(CachingAllocator::segment_size(1 * MiB + 512), 2 * MiB);
  EXPECT_EQ(CachingAllocator::segment_size(5 * MiB + 512), 6 * MiB);
}

TEST(CudaAllocatorBookkeeping, ZeroBytesIsNull) {
  FakeDevice dev;
  CachingAllocator a(dev.raw(), "fake");
  EXPECT_EQ(a.allocate(0, kS0), nullptr);
  a.deallocate(nullptr);
  EXPECT_EQ(dev.allocs, 0);
}

TEST(CudaAllocatorBookkeeping, ReusesFreedBlockOnSameStream) {
  FakeDevice dev;
  CachingAllocator a(dev.raw(), "fake");
  void* p = a.allocate(1000, kS0);
  a.deallocate(p);
  void* q = a.allocate(900, kS0);  // same rounded size: the same block
  EXPECT_EQ(p, q);
  EXPECT_EQ(dev.allocs, 1);
  a.deallocate(q);
  // Another stream never gets a block cached for kS0: it needs its own segment.
  void* r = a.allocate(1000, kS1);
  EXPECT_EQ(dev.allocs, 2);
  a.deallocate(r);
  auto st = a.stats();
  EXPECT_EQ(st.num_device_allocs, 2);
  EXPECT_EQ(st.allocated, 0);
  EXPECT_EQ(st.reserved, static_cast<int64_t>(4 * MiB));
  EXPECT_EQ(st.cached, static_cast<int64_t>(4 * MiB));
}

TEST(CudaAllocatorBookkeeping, SmallRequestsShareOneSegment) {
  FakeDevice dev;
  CachingAllocator a(dev.raw(), "fake");
  std::vector<char*> ps;
  for (int i = 0; i < 4; ++i) ps.push_back(static_cast<char*>(a.allocate(100 * KiB, kS0)));
  EXPECT_EQ(dev.allocs, 1);  // one 2 MiB segment, split four times
  ASSERT_EQ(dev.sizes[0], 2 * MiB);
  for (int i = 1; i < 4; ++i) EXPECT_EQ(ps[i] - ps[i - 1], static_cast<ptrdiff_t>(100 * KiB));  // carved in order
  auto st = a.stats();
  EXPECT_EQ(st.num_splits, 4);
  EXPECT_EQ(st.allocated, static_cast<int64_t>(400 * KiB));
  EXPECT_EQ(st.cached, static_cast<int64_t>(2 * MiB - 400 * KiB));
  for (char* p : ps) a.deallocate(p);
}

TEST(CudaAllocatorBookkeeping, CoalescesFreeNeighbours) {
  FakeDevice dev;
  CachingAllocator a(dev.raw(), "fake");
  void* x = a.allocate(512 * KiB, kS0);
  void* y = a.allocate(512 * KiB, kS0);
  void* z = a.allocate(512 * KiB, kS0);
  // Free the outer two, then the middle: the three merge with the tail into one free segment.
  a.deallocate(x);
  a.deallocate(z);
  a.deallocate(y);
  EXPECT_EQ(dev.allocs, 1);
  // A 1 MiB request fits in the coalesced block at the segment start (only
  // possible if x, y and the rest merged).
  void* big = a.allocate(1 * MiB, kS0);
  EXPECT_EQ(big, x);
  EXPECT_EQ(dev.allocs, 1);
  a.deallocate(big);
  // Fully free: empty_cache releases it.
  a.empty_cache();
  EXPECT_EQ(dev.frees, 1);
  EXPECT_TRUE(dev.live.empty());
  EXPECT_EQ(a.stats().reserved, 0);
}

TEST(CudaAllocatorBookkeeping, FragmentationKeepsSegmentUntilAllFree) {
  FakeDevice dev;
  CachingAllocator a(dev.raw(), "fake");
  std::vector<void*> ps;
  for (int i = 0; i < 8; ++i) ps.push_back(a.allocate(200 * KiB, kS0));
  for (int i = 0; i < 8; i += 2) a.deallocate(ps[i]);  // every other one: 4 holes of 200 KiB
  // 300 KiB fits no hole, but fits the segment's untouched tail (2 MiB - 1.6 MiB = 448 KiB).
  void* p = a.allocate(300 * KiB, kS0);
  EXPECT_EQ(dev.allocs, 1);
  // A 500 KiB request fits neither: a new segment.
  void* q = a.allocate(500 * KiB, kS0);
  EXPECT_EQ(dev.allocs, 2);
  a.empty_cache();  // nothing is fully free
  EXPECT_EQ(dev.frees, 0);
  a.deallocate(q);
  a.empty_cache();  // q's segment is
  EXPECT_EQ(dev.frees, 1);
  for (int i = 1; i < 8; i += 2) a.deallocate(ps[i]);
  a.deallocate(p);
  a.empty_cache();
  EXPECT_EQ(dev.frees, 2);
  EXPECT_EQ(a.stats().reserved, 0);
}

TEST(CudaAllocatorBookkeeping, LargeBlocksRoundTo2MiBAndSplitOnlyBigRemainders) {
  FakeDevice dev;
  CachingAllocator a(dev.raw(), "fake");
  void* p = a.allocate(5 * MiB + 1, kS0);
  ASSERT_EQ(dev.sizes.back(), 6 * MiB);
  a.deallocate(p);
  // 4.5 MiB from the cached 6 MiB block: the 1.5 MiB rest (> 1 MiB) is split off.
  void* q = a.allocate(4 * MiB + 512 * KiB, kS0);
  EXPECT_EQ(q, p);
  EXPECT_EQ(a.stats().num_splits, 1);
  EXPECT_EQ(a.stats().allocated, static_cast<int64_t>(4 * MiB + 512 * KiB));
  a.deallocate(q);
  // 5.5 MiB: the 0.5 MiB rest stays inside the block (no split), accounted as allocated.
  void* r = a.allocate(5 * MiB + 512 * KiB, kS0);
  EXPECT_EQ(a.stats().num_splits, 1);
  EXPECT_EQ(a.stats().allocated, static_cast<int64_t>(6 * MiB));
  EXPECT_EQ(dev.allocs, 1);
  a.deallocate(r);
}

TEST(CudaAllocatorBookkeeping, PeakAndReset) {
  FakeDevice dev;
  CachingAllocator a(dev.raw(), "fake");
  void* p = a.allocate(3 * MiB, kS0);
  void* q = a.allocate(3 * MiB, kS0);
  a.deallocate(p);
  // 3 MiB requests take whole 4 MiB blocks (a 1 MiB rest is not split off).
  EXPECT_EQ(a.stats().peak_allocated, static_cast<int64_t>(8 * MiB));
  a.reset_peak();
  EXPECT_EQ(a.stats().peak_allocated, static_cast<int64_t>(4 * MiB));  // q's 4 MiB block
  a.deallocate(q);
  EXPECT_EQ(a.stats().peak_allocated, static_cast<int64_t>(4 * MiB));
}

TEST(CudaAllocatorBookkeeping, LimitFreesCacheThenThrowsClearError) {
  FakeDevice dev;
  CachingAllocator a(dev.raw(), "fake:0");
  a.set_limit(8 * MiB);
  EXPECT_EQ(a.limit(), static_cast<int64_t>(8 * MiB));
  void* p = a.allocate(4 * MiB, kS0);
  a.deallocate(p);  // 4 MiB cached
  // 6 MiB does not fit in the limit next to the cached 4 MiB: the cache is freed, then it fits.
  void* q = a.allocate(6 * MiB, kS0);
  EXPECT_EQ(dev.frees, 1);
  EXPECT_EQ(a.stats().reserved, static_cast<int64_t>(6 * MiB));
  // 4 MiB more would exceed the limit with 6 MiB allocated: a clear error, nothing leaks.
  EXPECT_WICK_ERROR(a.allocate(4 * MiB, kS0), "CUDA out of memory on fake:0: tried to allocate 4.00 MiB");
  EXPECT_WICK_ERROR(a.allocate(4 * MiB, kS0), "6.00 MiB allocated by tensors, 0 bytes cached, limit 8.00 MiB");
  EXPECT_WICK_ERROR(a.allocate(4 * MiB, kS0), "device 58.00 MiB free of 64.00 MiB");
  EXPECT_EQ(a.stats().allocated, static_cast<int64_t>(6 * MiB));
  a.deallocate(q);
  // Lowering the limit below what is reserved gives the cache back.
  a.set_limit(2 * MiB);
  EXPECT_EQ(a.stats().reserved, 0);
  a.set_limit(0);  // no limit
  void* r = a.allocate(10 * MiB, kS0);
  a.deallocate(r);
  EXPECT_WICK_ERROR(a.set_limit(-1), "must be >= 0");
}

TEST(CudaAllocatorBookkeeping, DeviceOutOfMemoryRetriesAfterFreeingCache) {
  FakeDevice dev;
  dev.capacity = 10 * MiB;
  CachingAllocator a(dev.raw(), "fake");
  void* p = a.allocate(6 * MiB, kS0);
  a.deallocate(p);  // 6 MiB cached on the device
  void* q = a.allocate(8 * MiB, kS0);  // fails once, frees the cache, succeeds
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(dev.frees, 1);
  EXPECT_WICK_ERROR(a.allocate(4 * MiB, kS0), "the device has no memory left");
  a.deallocate(q);
}

TEST(CudaAllocatorBookkeeping, ForeignPointerThrows) {
  FakeDevice dev;
  CachingAllocator a(dev.raw(), "fake");
  int x = 0;
  EXPECT_WICK_ERROR(a.deallocate(&x), "did not hand out");
  void* p = a.allocate(10, kS0);
  a.deallocate(p);
  EXPECT_WICK_ERROR(a.deallocate(p), "freeing it twice");
}

TEST(CudaAllocatorBookkeeping, ManyRandomAllocationsBalance) {
  FakeDevice dev;
  dev.capacity = size_t{1} << 40;  // never the limit here (malloc'd pages are never touched)
  CachingAllocator a(dev.raw(), "fake");
  uint64_t state = 12345;
  auto next = [&] { return state = state * 6364136223846793005ULL + 1442695040888963407ULL; };
  std::vector<std::pair<char*, size_t>> live;
  for (int it = 0; it < 2000; ++it) {
    if (live.empty() || next() % 2 == 0) {
      const size_t n = 1 + (next() >> 33) % (3 * MiB);
      char* p = static_cast<char*>(a.allocate(n, kS0));
      for (auto& [q, m] : live) ASSERT_TRUE(p + n <= q || q + m <= p) << "overlapping blocks";
      live.emplace_back(p, n);
    } else {
      const size_t i = (next() >> 33) % live.size();
      a.deallocate(live[i].first);
      live.erase(live.begin() + static_cast<ptrdiff_t>(i));
    }
  }
  for (auto& [p, n] : live) a.deallocate(p);
  EXPECT_EQ(a.stats().allocated, 0);
  a.empty_cache();
  EXPECT_EQ(a.stats().reserved, 0);
  EXPECT_TRUE(dev.live.empty());
}

// ---- this machine / CPU-only builds ----

TEST(CudaAvailability, QueriesNeverThrow) {
  bool avail = false;
  EXPECT_NO_THROW(avail = cuda::is_available());
  EXPECT_NO_THROW(cuda::device_count());
  EXPECT_EQ(avail, cuda::device_count() > 0);
  EXPECT_NO_THROW(cuda::memory_stats());
  EXPECT_NO_THROW(cuda::empty_cache());
  EXPECT_NO_THROW(cuda::synchronize());
}

TEST(CudaAvailability, AllocatingWithoutDeviceIsAClearError) {
  if (cuda::is_available()) GTEST_SKIP() << "a GPU is present";
  EXPECT_WICK_ERROR(empty({4}, TensorOptions(Device("cuda"))), "cuda:0");
  const std::string why = cuda::is_built() ? "no CUDA device" : "without CUDA";
  EXPECT_WICK_ERROR(zeros({2, 2}, TensorOptions(Device("cuda"))), why);
  EXPECT_WICK_ERROR(ones({3}).to(Device("cuda")), why);
}

// ---- the real allocator (GPU) ----

TEST(CudaAllocator, TensorsReuseCachedBlocks) {
  WICK_SKIP_WITHOUT_CUDA();
  cuda::synchronize();
  cuda::empty_cache();
  const auto before = cuda::memory_stats();
  {
    Tensor t = empty({1000}, TensorOptions(kFloat32).device(Device("cuda")));
    EXPECT_EQ(cuda::memory_stats().allocated - before.allocated, 4096);  // 4000 B rounded to 512
  }
  const auto mid = cuda::memory_stats();
  EXPECT_EQ(mid.allocated, before.allocated);
  EXPECT_GE(mid.cached, 4096);
  Tensor u = empty({900}, TensorOptions(kFloat32).device(Device("cuda")));
  EXPECT_EQ(cuda::memory_stats().num_device_allocs, mid.num_device_allocs);  // served from the cache
  cuda::reset_peak_memory_stats();
  EXPECT_EQ(cuda::memory_stats().peak_allocated, cuda::memory_stats().allocated);
}

TEST(CudaAllocator, LimitGivesClearOutOfMemoryError) {
  WICK_SKIP_WITHOUT_CUDA();
  cuda::synchronize();
  cuda::empty_cache();
  const int64_t reserved = cuda::memory_stats().reserved;
  cuda::set_memory_limit(reserved + (64 << 20));
  EXPECT_WICK_ERROR(empty({int64_t{1} << 28}, TensorOptions(kFloat32).device(Device("cuda"))),
                    "CUDA out of memory on cuda:0: tried to allocate 1.00 GiB");
  Tensor ok = empty({1 << 20}, TensorOptions(kFloat32).device(Device("cuda")));  // 4 MiB fits
  EXPECT_EQ(cuda::memory_limit(), reserved + (64 << 20));
  cuda::set_memory_limit(0);
}

TEST(CudaAllocator, DeviceOutOfMemoryIsAnErrorNotACrash) {
  WICK_SKIP_WITHOUT_CUDA();
  // 1 PiB: cudaMalloc fails; the allocator frees its cache, retries, then throws.
  EXPECT_WICK_ERROR(empty({int64_t{1} << 48}, TensorOptions(kFloat32).device(Device("cuda"))),
                    "CUDA out of memory");
  Tensor after = ones({16}, TensorOptions(kFloat32).device(Device("cuda")));  // the device still works
  EXPECT_EQ(after.to(kCPU).tolist<float>(), std::vector<float>(16, 1.0f));
}

TEST(CudaAllocator, EmptyCacheReleasesFreeSegments) {
  WICK_SKIP_WITHOUT_CUDA();
  { Tensor t = empty({int64_t{8} << 20}, TensorOptions(kFloat32).device(Device("cuda"))); }
  EXPECT_GE(cuda::memory_stats().cached, int64_t{32} << 20);
  cuda::synchronize();
  cuda::empty_cache();
  const auto st = cuda::memory_stats();
  EXPECT_EQ(st.cached, st.reserved - st.allocated);
  EXPECT_LT(st.cached, int64_t{32} << 20);
}

#ifdef WICK_WITH_CUDA
#include "cuda/runtime.h"

// The switch behind the paths with a fallback beside them (copy, GEMM,
// attention): the environment overrides the default both ways, anything but
// "0"/"1" leaves it, and set() flips it. No GPU needed.
TEST(CudaOptInSwitch, EnvironmentOverridesTheDefault) {
  const char* var = "WICK_TEST_OPT_IN_SWITCH";
  unsetenv(var);
  EXPECT_FALSE(cuda::OptInSwitch(var).on());
  EXPECT_TRUE(cuda::OptInSwitch(var, true).on());
  setenv(var, "0", 1);
  EXPECT_FALSE(cuda::OptInSwitch(var, true).on());
  setenv(var, "1", 1);
  EXPECT_TRUE(cuda::OptInSwitch(var, false).on());
  setenv(var, "yes", 1);
  EXPECT_TRUE(cuda::OptInSwitch(var, true).on());
  EXPECT_FALSE(cuda::OptInSwitch(var, false).on());
  cuda::OptInSwitch s(var, true);
  s.set(false);
  EXPECT_FALSE(s.on());
  unsetenv(var);
}
#endif
