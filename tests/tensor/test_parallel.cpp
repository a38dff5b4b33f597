// The thread pool (tensor/parallel.h): chunks cover the range exactly once,
// nested calls and serial threads run on the caller, exceptions reach the
// caller, the team never exceeds the thread count, and the DataLoader's
// worker threads run their kernels serially.
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdlib>
#include <string>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "support/test_util.h"
#include "wick.h"

namespace wick {
namespace {

struct ThreadCountGuard {
  int saved = get_num_threads();
  ~ThreadCountGuard() { set_num_threads(saved); }
};

// The OpenMP thread numbers that ran chunks of parallel_for(0, n, grain).
std::set<int> team_of(int64_t n, int64_t grain) {
  std::mutex m;
  std::set<int> ids;
  parallel_for(0, n, grain, [&](int64_t, int64_t) {
    int id = 0;
#ifdef _OPENMP
    id = omp_get_thread_num();
#endif
    std::lock_guard<std::mutex> lock(m);
    ids.insert(id);
  });
  return ids;
}

TEST(Parallel, ChunksCoverTheRangeExactlyOnce) {
  ThreadCountGuard guard;
  for (int threads : {1, 2, 3, 4}) {
    set_num_threads(threads);
    for (int64_t n : {0, 1, 2, 7, 33, 257, 1000}) {
      for (int64_t grain : {0, 1, 5, 64, 10000}) {
        for (int64_t begin : {int64_t{0}, int64_t{-3}, int64_t{100}}) {
          std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
          std::atomic<int> calls{0};
          std::atomic<bool> small_chunk{false};
          parallel_for(begin, begin + n, grain, [&](int64_t b, int64_t e) {
            ++calls;
            // Every chunk holds at least `grain` items, unless the range is one chunk.
            if (e - b < std::max<int64_t>(grain, 1) && !(b == begin && e == begin + n)) small_chunk = true;
            for (int64_t i = b; i < e; ++i) ++hits[static_cast<size_t>(i - begin)];
          });
          for (int64_t i = 0; i < n; ++i)
            ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "threads " << threads << " n " << n << " grain " << grain;
          EXPECT_LE(calls.load(), std::max(threads, 1));
          if (n == 0) EXPECT_EQ(calls.load(), 0);
          EXPECT_FALSE(small_chunk.load());
        }
      }
    }
  }
}

TEST(Parallel, TeamSizeIsTheThreadCount) {
  ThreadCountGuard guard;
#ifndef _OPENMP
  GTEST_SKIP() << "built without OpenMP";
#endif
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    EXPECT_EQ(get_num_threads(), threads);
    EXPECT_EQ(available_threads(), threads);
    // Chunks of 1 item: as many chunks as threads, each on its own thread.
    std::set<int> ids = team_of(1000, 1);
    EXPECT_EQ(static_cast<int>(ids.size()), threads);
    for (int id : ids) EXPECT_LT(id, threads);
#ifdef _OPENMP
    EXPECT_EQ(omp_get_max_threads(), threads);  // a bare `omp parallel` gets the same count
#endif
  }
  // Fewer chunks than threads when the range is small for the grain.
  set_num_threads(4);
  EXPECT_EQ(team_of(10, 5).size(), 2u);
  EXPECT_EQ(team_of(19, 10).size(), 1u);
  EXPECT_THROW(set_num_threads(0), Error);
}

TEST(Parallel, NestedCallsRunSerially) {
  ThreadCountGuard guard;
  set_num_threads(2);
  std::atomic<int> outer{0}, inner_calls{0}, inner_items{0}, bad{0};
  parallel_for(0, 2, 1, [&](int64_t b, int64_t e) {
    ++outer;
    if (!in_parallel_region() && get_num_threads() > 1) ++bad;
    if (available_threads() != 1) ++bad;
    for (int64_t i = b; i < e; ++i) {
      const std::thread::id me = std::this_thread::get_id();
      parallel_for(0, 100, 1, [&](int64_t ib, int64_t ie) {
        ++inner_calls;
        if (std::this_thread::get_id() != me) ++bad;
        inner_items += static_cast<int>(ie - ib);
      });
    }
  });
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(inner_items.load(), 200);
  EXPECT_EQ(inner_calls.load(), 2);  // one chunk each: the whole range at once
  EXPECT_FALSE(in_parallel_region());
}

TEST(Parallel, SerialScopeRunsOnTheCallingThread) {
  ThreadCountGuard guard;
  set_num_threads(2);
  EXPECT_FALSE(thread_is_serial());
  {
    SerialScope serial;
    EXPECT_TRUE(thread_is_serial());
    EXPECT_EQ(available_threads(), 1);
    EXPECT_EQ(get_num_threads(), 2);  // the setting is unchanged
    {
      SerialScope again;  // scopes nest
      EXPECT_TRUE(thread_is_serial());
    }
    EXPECT_TRUE(thread_is_serial());
    int calls = 0;
    const std::thread::id me = std::this_thread::get_id();
    parallel_for(0, 1000, 1, [&](int64_t b, int64_t e) {
      ++calls;  // not atomic: a data race here would be a bug the sanitizer finds
      EXPECT_EQ(std::this_thread::get_id(), me);
      EXPECT_EQ(b, 0);
      EXPECT_EQ(e, 1000);
    });
    EXPECT_EQ(calls, 1);
  }
  EXPECT_FALSE(thread_is_serial());
  EXPECT_EQ(available_threads(), 2);
  // The flag belongs to the thread that set it.
  SerialScope serial;
  bool other = true;
  std::thread([&] { other = thread_is_serial(); }).join();
  EXPECT_FALSE(other);
}

TEST(Parallel, ExceptionsReachTheCaller) {
  ThreadCountGuard guard;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    EXPECT_THROW(parallel_for(0, 100, 1,
                              [](int64_t b, int64_t e) {
                                if (b <= 70 && 70 < e) throw Error("boom");
                              }),
                 Error);
    try {
      parallel_for(0, 100, 1, [](int64_t, int64_t) { throw std::runtime_error("every chunk"); });
      ADD_FAILURE() << "no exception";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "every chunk");
    }
    // The serial fast path (range within the grain) throws the same way.
    EXPECT_THROW(parallel_for(0, 3, 10, [](int64_t, int64_t) { throw Error("small"); }), Error);
  }
  // The pool still works afterwards.
  std::atomic<int64_t> sum{0};
  parallel_for(0, 100, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) sum += i;
  });
  EXPECT_EQ(sum.load(), 4950);
}

TEST(Parallel, KernelsGiveTheSameResultSerially) {
  Generator gen(5);
  Tensor a = randn({67, 129}, {}, &gen), b = randn({129, 33}, {}, &gen);
  Tensor ref = matmul(a, b), s = sum(a * a);
  SerialScope serial;
  EXPECT_TRUE(test::all_close(matmul(a, b), ref, 1e-4, 1e-4));
  EXPECT_TRUE(test::all_close(sum(a * a), s, 1e-4, 1e-4));
}

// The environment is read once: check it in a child process (this binary
// again, with only Parallel.EnvironmentChild, which skips unless
// WICK_PARALLEL_TEST_EXPECT is set to "exact:N" or "at_most_cores").
TEST(Parallel, EnvironmentSetsTheThreadCount) {
  char self[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
  ASSERT_GT(len, 0);
  self[len] = 0;
  auto run = [&](const std::string& env, const std::string& expect) {
    std::string cmd = "env -u WICK_NUM_THREADS -u OMP_NUM_THREADS " + env + " WICK_PARALLEL_TEST_EXPECT=" + expect +
                      " '" + std::string(self) + "' --gtest_filter=Parallel.EnvironmentChild > /dev/null 2>&1";
    return std::system(cmd.c_str());
  };
  EXPECT_EQ(run("WICK_NUM_THREADS=3", "exact:3"), 0);
  EXPECT_EQ(run("WICK_NUM_THREADS=3 OMP_NUM_THREADS=1", "exact:3"), 0);  // wick's variable wins
  EXPECT_EQ(run("OMP_NUM_THREADS=1", "exact:1"), 0);                      // a smaller OpenMP count is kept
  EXPECT_EQ(run("OMP_NUM_THREADS=4096", "at_most_cores"), 0);             // a larger one never oversubscribes
  EXPECT_EQ(run("", "at_most_cores"), 0);
  EXPECT_NE(run("WICK_NUM_THREADS=3", "exact:4"), 0);  // the child can fail
}

TEST(Parallel, EnvironmentChild) {
  const char* expect = std::getenv("WICK_PARALLEL_TEST_EXPECT");
  if (!expect) GTEST_SKIP() << "run by Parallel.EnvironmentSetsTheThreadCount";
  const std::string e = expect;
  const int n = get_num_threads();
  if (e.rfind("exact:", 0) == 0) {
    EXPECT_EQ(n, std::atoi(e.c_str() + 6));
  } else {
    cpu_set_t set;
    CPU_ZERO(&set);
    ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
    EXPECT_GE(n, 1);
    EXPECT_LE(n, CPU_COUNT(&set));
  }
#ifdef _OPENMP
  EXPECT_EQ(omp_get_max_threads(), n);  // OpenMP's own default agrees
#endif
  EXPECT_LE(static_cast<int>(team_of(100000, 1).size()), n);
}

// A dataset that records whether the thread building each example is serial.
class Probe : public data::Dataset<data::Example> {
 public:
  int64_t size() const override { return 16; }
  data::Example get(int64_t i) const override {
    std::lock_guard<std::mutex> lock(m_);
    serial_.push_back(thread_is_serial());
    Tensor x = full({4}, static_cast<double>(i));
    return {x, x};
  }
  std::vector<bool> serial() const {
    std::lock_guard<std::mutex> lock(m_);
    return serial_;
  }

 private:
  mutable std::mutex m_;
  mutable std::vector<bool> serial_;
};

TEST(Parallel, DataLoaderWorkersRunKernelsSerially) {
  auto ds = std::make_shared<Probe>();
  data::DataLoader loader(ds, {.batch_size = 4, .num_workers = 2});
  int64_t batches = 0;
  for (const data::Example& b : loader) {
    EXPECT_EQ(b.x.size(0), 4);
    ++batches;
  }
  EXPECT_EQ(batches, 4);
  std::vector<bool> flags = ds->serial();
  ASSERT_EQ(flags.size(), 16u);
  for (bool f : flags) EXPECT_TRUE(f);
  EXPECT_FALSE(thread_is_serial());  // the loop's thread keeps the team

  auto ds0 = std::make_shared<Probe>();
  data::DataLoader inline_loader(ds0, {.batch_size = 4, .num_workers = 0});
  for (const data::Example& b : inline_loader) (void)b;
  for (bool f : ds0->serial()) EXPECT_FALSE(f);  // built on the loop's thread
}

}  // namespace
}  // namespace wick
