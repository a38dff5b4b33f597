// The caching CPU allocator (tensor/allocator.h): stats arithmetic, reuse of
// cached blocks, alignment, the cache limit and its LRU release, threads, and
// the acceptance test: a steady-state training loop asks the system for
// no new memory after its first steps.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "wick.h"

namespace wick {
namespace {

// Restores the cache limit a test changes.
struct LimitGuard {
  int64_t saved = cpu_cache_limit();
  ~LimitGuard() { set_cpu_cache_limit(saved); }
};

bool aligned(const void* p, uintptr_t a) { return reinterpret_cast<uintptr_t>(p) % a == 0; }

TEST(Allocator, StatsFollowAllocationsAndFrees) {
  empty_cache();
  const MemoryStats s0 = memory_stats();
  EXPECT_EQ(s0.cached, 0);
  void* a = cpu_alloc(1000);  // class 1024
  MemoryStats s1 = memory_stats();
  EXPECT_EQ(s1.current, s0.current + 1024);
  EXPECT_GE(s1.peak, s1.current);
  EXPECT_EQ(s1.system_allocs, s0.system_allocs + 1);
  void* b = cpu_alloc(64);
  EXPECT_EQ(memory_stats().current, s0.current + 1024 + 64);
  const int64_t high = memory_stats().peak;
  cpu_free(a);
  MemoryStats s2 = memory_stats();
  EXPECT_EQ(s2.current, s0.current + 64);
  EXPECT_EQ(s2.cached, 1024);
  EXPECT_EQ(s2.peak, high);  // the high-water mark stays
  reset_peak_memory_stats();
  EXPECT_EQ(memory_stats().peak, memory_stats().current);
  cpu_free(b);
  EXPECT_EQ(memory_stats().cached, 1024 + 64);
  EXPECT_EQ(memory_stats().current, s0.current);
  empty_cache();
  EXPECT_EQ(memory_stats().cached, 0);
  EXPECT_EQ(memory_stats().current, s0.current);
}

TEST(Allocator, TensorsAreCounted) {
  empty_cache();
  const int64_t before = memory_stats().current;
  {
    Tensor t = zeros({256}, TensorOptions(kFloat32));  // 1024 bytes
    EXPECT_EQ(memory_stats().current, before + 1024);
    Tensor v = t.view({16, 16});  // a view shares the block
    EXPECT_EQ(memory_stats().current, before + 1024);
  }
  EXPECT_EQ(memory_stats().current, before);
  EXPECT_EQ(memory_stats().cached, 1024);
}

TEST(Allocator, SizeClassesWasteAtMostAnEighth) {
  empty_cache();
  for (size_t n : {size_t{1}, size_t{63}, size_t{65}, size_t{513}, size_t{1000}, size_t{4097}, size_t{100000},
                   size_t{(1 << 20) + 1}, size_t{3 << 20}, size_t{(17 << 20) + 5}}) {
    const int64_t before = memory_stats().current;
    void* p = cpu_alloc(n);
    const int64_t got = memory_stats().current - before;
    EXPECT_GE(got, static_cast<int64_t>(n)) << n;
    EXPECT_LE(got, std::max<int64_t>(64, static_cast<int64_t>(n + n / 8 + 64))) << n;
    std::memset(p, 1, n);  // all of it is usable
    cpu_free(p);
  }
  empty_cache();
}

TEST(Allocator, FreedBlockIsReusedWithoutSystemAllocation) {
  empty_cache();
  for (size_t n : {size_t{24}, size_t{5000}, size_t{300000}, size_t{5 << 20}}) {
    void* p = cpu_alloc(n);
    cpu_free(p);
    const int64_t sys = memory_stats().system_allocs;
    void* q = cpu_alloc(n);
    EXPECT_EQ(q, p) << n;  // the most recently freed block of the class
    EXPECT_EQ(memory_stats().system_allocs, sys) << n;
    cpu_free(q);
  }
  // A different size of the same class (5000 and 4700 both round to 5120).
  void* p = cpu_alloc(5000);
  cpu_free(p);
  const int64_t sys = memory_stats().system_allocs;
  void* q = cpu_alloc(4700);
  EXPECT_EQ(q, p);
  EXPECT_EQ(memory_stats().system_allocs, sys);
  cpu_free(q);
  empty_cache();
}

TEST(Allocator, Alignment) {
  std::vector<void*> ps;
  for (size_t n = 1; n < 300000; n = n * 3 + 1) ps.push_back(cpu_alloc(n));
  for (void* p : ps) EXPECT_TRUE(aligned(p, 64)) << p;
  void* big = cpu_alloc(size_t{5} << 20);
  EXPECT_TRUE(aligned(big, size_t{2} << 20));  // huge-page aligned
  std::memset(big, 7, size_t{5} << 20);
  cpu_free(big);
  for (void* p : ps) cpu_free(p);
  empty_cache();
}

TEST(Allocator, ZeroBytes) {
  const MemoryStats s0 = memory_stats();
  EXPECT_EQ(cpu_alloc(0), nullptr);
  cpu_free(nullptr);
  EXPECT_EQ(memory_stats().current, s0.current);
  EXPECT_EQ(memory_stats().system_allocs, s0.system_allocs);
  Tensor e = empty({0, 5}, TensorOptions(kFloat32));
  EXPECT_EQ(e.numel(), 0);
  EXPECT_EQ(memory_stats().current, s0.current);
}

TEST(Allocator, LimitReleasesLeastRecentlyFreed) {
  LimitGuard guard;
  empty_cache();
  set_cpu_cache_limit(3 * 4096);
  void* a = cpu_alloc(4096);
  void* b = cpu_alloc(4096);
  void* c = cpu_alloc(4096);
  void* d = cpu_alloc(4096);
  cpu_free(a);  // oldest: released once the fourth comes in
  cpu_free(b);
  cpu_free(c);
  cpu_free(d);
  EXPECT_EQ(memory_stats().cached, 3 * 4096);
  int64_t sys = memory_stats().system_allocs;
  std::vector<void*> again;
  for (int i = 0; i < 3; ++i) again.push_back(cpu_alloc(4096));  // d, c, b from the cache
  EXPECT_EQ(memory_stats().system_allocs, sys);
  EXPECT_EQ(again[0], d);
  EXPECT_EQ(again[1], c);
  EXPECT_EQ(again[2], b);
  again.push_back(cpu_alloc(4096));  // a was released: a new system allocation
  EXPECT_EQ(memory_stats().system_allocs, sys + 1);
  for (void* p : again) cpu_free(p);

  // A block larger than the limit is never cached.
  void* big = cpu_alloc(5 * 4096);
  cpu_free(big);
  EXPECT_LE(memory_stats().cached, 3 * 4096);

  // Lowering the limit releases at once; 0 disables caching.
  set_cpu_cache_limit(4096);
  EXPECT_LE(memory_stats().cached, 4096);
  set_cpu_cache_limit(0);
  EXPECT_EQ(memory_stats().cached, 0);
  void* p = cpu_alloc(100);
  cpu_free(p);
  EXPECT_EQ(memory_stats().cached, 0);
  sys = memory_stats().system_allocs;
  p = cpu_alloc(100);
  EXPECT_EQ(memory_stats().system_allocs, sys + 1);
  cpu_free(p);
}

TEST(Allocator, ManyThreads) {
  empty_cache();
  const int64_t before = memory_stats().current;
  constexpr int kThreads = 8, kIters = 3000;
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([t, &bad] {
      std::mt19937 rng(static_cast<unsigned>(t));
      std::vector<std::pair<unsigned char*, size_t>> live;
      for (int i = 0; i < kIters; ++i) {
        if (live.size() < 16 && (live.empty() || rng() % 2)) {
          size_t n = 1 + rng() % (rng() % 8 == 0 ? (3u << 20) : 20000u);
          auto* p = static_cast<unsigned char*>(cpu_alloc(n));
          if (!aligned(p, 64)) ++bad;
          std::memset(p, t, std::min<size_t>(n, 4096));  // the ends are checked on free
          p[n - 1] = static_cast<unsigned char>(t);
          live.push_back({p, n});
        } else {
          size_t k = rng() % live.size();
          auto [p, n] = live[k];
          // Nobody else wrote into this block while we held it.
          if (p[0] != static_cast<unsigned char>(t) || p[n - 1] != static_cast<unsigned char>(t)) ++bad;
          cpu_free(p);
          live.erase(live.begin() + static_cast<std::ptrdiff_t>(k));
        }
      }
      for (auto [p, n] : live) cpu_free(p);
    });
  for (auto& th : ts) th.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(memory_stats().current, before);
  empty_cache();
  EXPECT_EQ(memory_stats().cached, 0);
}

TEST(Allocator, DoubleFreeAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        void* p = cpu_alloc(128);
        cpu_free(p);
        cpu_free(p);
      },
      "double free");
}

#if defined(__SANITIZE_ADDRESS__)
TEST(Allocator, UseOfCachedBlockIsReportedUnderAsan) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto* p = static_cast<volatile char*>(cpu_alloc(128));
        cpu_free(const_cast<char*>(p));
        p[3] = 1;  // the block sits in the cache, poisoned
      },
      "use-after-poison");
}
#endif

// Environment variables are read once, at the first allocation: check them in
// a child process (this binary again, with only the test below, which skips
// unless WICK_ALLOC_TEST_EXPECT_LIMIT is set).
TEST(Allocator, EnvironmentSetsTheLimit) {
  char self[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
  ASSERT_GT(len, 0);
  self[len] = 0;
  auto run = [&](const std::string& env, const std::string& expect) {
    std::string cmd = "env -u WICK_CPU_CACHE -u WICK_CPU_CACHE_LIMIT " + env + " WICK_ALLOC_TEST_EXPECT_LIMIT=" + expect +
                      " '" + std::string(self) + "' --gtest_filter=Allocator.EnvironmentChild > /dev/null 2>&1";
    return std::system(cmd.c_str());
  };
  EXPECT_EQ(run("WICK_CPU_CACHE=0", "0"), 0);
  EXPECT_EQ(run("WICK_CPU_CACHE_LIMIT=3M", std::to_string(3 << 20)), 0);
  EXPECT_EQ(run("WICK_CPU_CACHE_LIMIT=12345", "12345"), 0);
  EXPECT_NE(run("WICK_CPU_CACHE_LIMIT=12345", "999"), 0);  // the child can fail
}

TEST(Allocator, EnvironmentChild) {
  const char* expect = std::getenv("WICK_ALLOC_TEST_EXPECT_LIMIT");
  if (!expect) GTEST_SKIP() << "run by Allocator.EnvironmentSetsTheLimit";
  EXPECT_EQ(cpu_cache_limit(), std::atoll(expect));
  if (cpu_cache_limit() == 0) {
    void* p = cpu_alloc(256);
    cpu_free(p);
    EXPECT_EQ(memory_stats().cached, 0);
  }
}

// The acceptance test: a small MLP trained with cross_entropy and Adam
// on random data reaches a steady state in which no step asks the system for
// memory (every tensor of a step finds a cached block of its class).
TEST(Allocator, SteadyStateTrainingLoopMakesNoSystemAllocations) {
  LimitGuard guard;
  set_cpu_cache_limit(int64_t{1} << 30);
  manual_seed(0);
  nn::Linear fc1(64, 128), fc2(128, 128), fc3(128, 10);
  std::vector<Tensor> params;
  for (nn::Linear* l : {&fc1, &fc2, &fc3})
    for (const Tensor& p : l->parameters()) params.push_back(p);
  optim::Adam opt(params);
  Generator gen(1);
  std::vector<int64_t> sys;
  for (int step = 0; step < 12; ++step) {
    Tensor x = randn({32, 64}, {}, &gen);
    Tensor y = randint(0, 10, {32}, TensorOptions(kInt64), &gen);
    Tensor h = relu(fc1.forward(x));
    h = relu(fc2.forward(h));
    Tensor loss = cross_entropy(fc3.forward(h), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    sys.push_back(memory_stats().system_allocs);
  }
  for (int step = 3; step < 12; ++step)
    EXPECT_EQ(sys[static_cast<size_t>(step)], sys[2]) << "step " << step << " asked the system for memory";
  EXPECT_GT(memory_stats().cached, 0);
}

}  // namespace
}  // namespace wick
