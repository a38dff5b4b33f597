// The caching CPU allocator (tensor/allocator.cpp) against the system.
//
//   BM_Alloc/<cache>/<bytes>   cpu_alloc + first touch of every page + cpu_free,
//                              cache=1: the caching allocator (steady state: a hit),
//                              cache=0: caching disabled (every block from the system,
//                              as before the cache: page faults and zeroing every time)
//   BM_AllocContended          the same from 1 and 2 threads at once (the mutex)
//   BM_HugePages/<advise>      first touch, then random 4-byte reads over 256 MiB
//                              with and without madvise(MADV_HUGEPAGE)
//   BM_MlpStep/<cache>         forward + backward + Adam on MLP 784-512-512-10,
//                              batch 256, with the cache on and off
// Run: build-*/bench/bench_alloc --benchmark_min_time=0.2
#include <sys/mman.h>
#include <sys/resource.h>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "wick.h"

namespace {

using namespace wick;

// Sets the cache limit for a benchmark's lifetime (0: caching off).
struct CacheMode {
  int64_t saved = cpu_cache_limit();
  explicit CacheMode(bool on) { set_cpu_cache_limit(on ? (int64_t{4} << 30) : 0); }
  ~CacheMode() { set_cpu_cache_limit(saved); }
};

void touch(void* p, size_t n) {
  auto* c = static_cast<volatile char*>(p);
  for (size_t i = 0; i < n; i += 4096) c[i] = 1;
}

void BM_Alloc(benchmark::State& state) {
  CacheMode mode(state.range(0) != 0);
  const size_t n = static_cast<size_t>(state.range(1));
  for (auto _ : state) {
    void* p = cpu_alloc(n);
    touch(p, n);
    benchmark::DoNotOptimize(p);
    cpu_free(p);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}
BENCHMARK(BM_Alloc)->ArgsProduct({{0, 1}, {256, 64 << 10, 1 << 20, 8 << 20, 64 << 20}})->ArgNames({"cache", "bytes"});

void BM_AllocContended(benchmark::State& state) {
  static CacheMode* mode = nullptr;
  if (state.thread_index() == 0) mode = new CacheMode(true);
  std::vector<void*> held(8);
  for (auto _ : state) {
    for (size_t i = 0; i < held.size(); ++i) held[i] = cpu_alloc(64 * (i + 1));
    for (void* p : held) cpu_free(p);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(held.size()));
  if (state.thread_index() == 0) {
    delete mode;
    mode = nullptr;
  }
}
BENCHMARK(BM_AllocContended)->Threads(1)->Threads(2)->UseRealTime();

void BM_TensorEmpty(benchmark::State& state) {
  CacheMode mode(state.range(0) != 0);
  for (auto _ : state) {
    Tensor t = empty({256, 512}, TensorOptions(kFloat32));
    benchmark::DoNotOptimize(t.data_ptr_raw());
  }
}
BENCHMARK(BM_TensorEmpty)->Arg(0)->Arg(1)->ArgName("cache");

// Transparent huge pages: the fault cost of the first touch and the TLB reach
// of random reads, with and without the advice the allocator gives.
void BM_HugePages(benchmark::State& state) {
  const size_t n = size_t{256} << 20;
  const bool advise = state.range(0) != 0;
  std::mt19937_64 rng(1);
  std::vector<uint32_t> idx(1 << 16);
  for (auto& i : idx) i = static_cast<uint32_t>(rng() % (n / 4));
  double touch_s = 0;
  int64_t sum = 0;
  for (auto _ : state) {
    state.PauseTiming();
    void* m = mmap(nullptr, n + (2 << 20), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    auto* base = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(m) + (2 << 20) - 1) & ~uintptr_t((2 << 20) - 1));
    if (advise) madvise(base, n, MADV_HUGEPAGE);
    state.ResumeTiming();
    auto t0 = std::chrono::steady_clock::now();
    std::memset(base, 1, n);
    touch_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto* w = reinterpret_cast<const uint32_t*>(base);
    for (int rep = 0; rep < 16; ++rep)
      for (uint32_t i : idx) sum += w[i];
    state.PauseTiming();
    munmap(m, n + (2 << 20));
    state.ResumeTiming();
  }
  benchmark::DoNotOptimize(sum);
  state.counters["first_touch_ms"] = benchmark::Counter(1e3 * touch_s / static_cast<double>(state.iterations()));
}
BENCHMARK(BM_HugePages)->Arg(0)->Arg(1)->ArgName("madvise")->Unit(benchmark::kMillisecond);

void BM_MlpStep(benchmark::State& state) {
  CacheMode mode(state.range(0) != 0);
  manual_seed(0);
  nn::Linear fc1(784, 512), fc2(512, 512), fc3(512, 10);
  std::vector<Tensor> params;
  for (nn::Linear* l : {&fc1, &fc2, &fc3})
    for (const Tensor& p : l->parameters()) params.push_back(p);
  optim::Adam opt(params);
  Generator gen(1);
  Tensor x = randn({256, 784}, {}, &gen);
  Tensor y = randint(0, 10, {256}, TensorOptions(kInt64), &gen);
  const int64_t sys0 = memory_stats().system_allocs;
  for (auto _ : state) {
    Tensor h = relu(fc1.forward(x));
    h = relu(fc2.forward(h));
    Tensor loss = cross_entropy(fc3.forward(h), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  state.counters["system_allocs_per_step"] = benchmark::Counter(
      static_cast<double>(memory_stats().system_allocs - sys0) / static_cast<double>(state.iterations()));
  state.counters["peak_MiB"] = benchmark::Counter(static_cast<double>(memory_stats().peak) / (1 << 20));
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  state.counters["maxrss_MiB"] = benchmark::Counter(static_cast<double>(ru.ru_maxrss) / 1024.0);
}
BENCHMARK(BM_MlpStep)->Arg(0)->Arg(1)->Arg(0)->Arg(1)->ArgName("cache")->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
