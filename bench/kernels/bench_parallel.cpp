// The cost of parallel_for (tensor/parallel.h) itself, on loops with almost no
// work, so the fork/join and the call overhead are what is measured:
//   BM_ParallelFor/<n>/<grain>   wick::parallel_for (a template: the in-grain
//                                path is an inlined call, no std::function)
//   BM_StdFunctionFor/<n>/<grain> the previous design, kept as the reference:
//                                 std::function argument + OpenMP fork
//   BM_OmpFork                    a bare `#pragma omp parallel` (the floor)
// Run: build-*/bench/bench_parallel --benchmark_min_time=0.2
// The fork cost depends on OMP_WAIT_POLICY (active: spinning threads answer in
// ~1 us; passive: woken by the kernel, tens of us): try both.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <functional>
#include <vector>

#include <omp.h>

#include "wick.h"

namespace {

using namespace wick;

// The reference: the std::function signature parallel_for had before.
void std_function_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& f) {
  int64_t n = end - begin;
  int threads = get_num_threads();
  if (threads > 1 && n > grain && !omp_in_parallel()) {
    int64_t chunks = std::min<int64_t>(threads, (n + grain - 1) / grain);
    int64_t per = (n + chunks - 1) / chunks;
#pragma omp parallel for num_threads(static_cast<int>(chunks)) schedule(static, 1)
    for (int64_t c = 0; c < chunks; ++c) {
      int64_t b = begin + c * per, e = std::min(end, b + per);
      if (b < e) f(b, e);
    }
    return;
  }
  f(begin, end);
}

// A lambda capturing four references: too big for std::function's inline buffer.
void BM_ParallelFor(benchmark::State& state) {
  const int64_t n = state.range(0), grain = state.range(1);
  std::vector<float> v(static_cast<size_t>(n), 1.f);
  float a = 2.f, b = 1.f;
  double sink = 0;
  for (auto _ : state) {
    parallel_for(0, n, grain, [&v, &a, &b, &sink](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) v[static_cast<size_t>(i)] = a * v[static_cast<size_t>(i)] + b - sink;
    });
    benchmark::ClobberMemory();
  }
}
void BM_StdFunctionFor(benchmark::State& state) {
  const int64_t n = state.range(0), grain = state.range(1);
  std::vector<float> v(static_cast<size_t>(n), 1.f);
  float a = 2.f, b = 1.f;
  double sink = 0;
  for (auto _ : state) {
    std_function_for(0, n, grain, [&v, &a, &b, &sink](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) v[static_cast<size_t>(i)] = a * v[static_cast<size_t>(i)] + b - sink;
    });
    benchmark::ClobberMemory();
  }
}
// n=16 within the grain (serial path), n=4096 forked across the team.
BENCHMARK(BM_ParallelFor)->Args({16, 1024})->Args({4096, 1024});
BENCHMARK(BM_StdFunctionFor)->Args({16, 1024})->Args({4096, 1024});

void BM_OmpFork(benchmark::State& state) {
  const int threads = get_num_threads();
  for (auto _ : state) {
#pragma omp parallel num_threads(threads)
    { benchmark::ClobberMemory(); }
  }
}
BENCHMARK(BM_OmpFork);

}  // namespace

BENCHMARK_MAIN();
