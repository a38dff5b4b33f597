// Probes of this machine's peak, so benchmarks can report a fraction of it
// (header-only; any bench may include "peak.h").
//
// FMA throughput: each thread runs kChains independent FMA chains on
// registers (no memory traffic). A chain is latency bound (4-5 cycles per
// FMA); with two FMA pipes at least 8-10 chains are needed to saturate them,
// so kChains = 12. FLOPs = iterations * chains * lanes * 2.
// Memory bandwidth: STREAM-style read (sum), copy (b = a) and triad
// (a = b + s c) over arrays of 64 MiB each (>> the 32 MiB L3), split over
// threads; bytes counted as in STREAM (no write-allocate traffic).
//
// measured_peak() runs the probes once per process (about 1 s) and caches
// the result; fraction-of-peak counters divide by it.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define WICK_PEAK_X86 1
#endif

namespace wick::bench {

inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Runs f(thread_index) on `threads` threads; returns the wall time.
template <typename F>
double run_threads(int threads, F f) {
  const double t0 = now_s();
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back([&, t] { f(t); });
  f(0);
  for (auto& th : pool) th.join();
  return now_s() - t0;
}

#ifdef WICK_PEAK_X86
constexpr int kChains = 12;

// float FLOPs done by `iters` rounds of kChains 8-lane FMAs.
__attribute__((target("avx2,fma"), noinline)) inline float fma_chains_avx2(int64_t iters) {
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(1.0f + c * 1e-3f);
  const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], m, a);
  }
  __m256 s = acc[0];
  for (int c = 1; c < kChains; ++c) s = _mm256_add_ps(s, acc[c]);
  return _mm256_cvtss_f32(s);
}

__attribute__((target("avx512f,fma"), noinline)) inline float fma_chains_avx512(int64_t iters) {
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(1.0f + c * 1e-3f);
  const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], m, a);
  }
  return _mm512_reduce_add_ps(acc[0]) + _mm512_reduce_add_ps(acc[kChains - 1]);
}

inline bool has_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
inline bool has_avx512() { return __builtin_cpu_supports("avx512f"); }
#else
inline bool has_avx2() { return false; }
inline bool has_avx512() { return false; }
#endif

// Float GFLOP/s of FMAs summed over `threads` threads; 0 if the ISA is absent.
inline double fma_gflops(bool avx512, int threads, double seconds = 0.2) {
#ifdef WICK_PEAK_X86
  if (avx512 ? !has_avx512() : !has_avx2()) return 0;
  const int lanes = avx512 ? 16 : 8;
  // Calibrate the iteration count on one thread, then time all threads.
  int64_t iters = 1 << 16;
  for (;;) {
    const double t0 = now_s();
    volatile float sink = avx512 ? fma_chains_avx512(iters) : fma_chains_avx2(iters);
    (void)sink;
    const double dt = now_s() - t0;
    if (dt > seconds / 4) {
      iters = static_cast<int64_t>(iters * seconds / dt);
      break;
    }
    iters *= 4;
  }
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    const double dt = run_threads(threads, [&](int) {
      volatile float sink = avx512 ? fma_chains_avx512(iters) : fma_chains_avx2(iters);
      (void)sink;
    });
    best = std::max(best, static_cast<double>(iters) * kChains * lanes * 2 * threads / dt * 1e-9);
  }
  return best;
#else
  (void)avx512, (void)threads, (void)seconds;
  return 0;
#endif
}

struct Bandwidth {
  double read, copy, triad;  // GB/s
};

// STREAM-style bandwidth over `threads` threads on arrays of `bytes` each.
inline Bandwidth stream_gbs(int threads, size_t bytes = size_t{64} << 20) {
  const size_t n = bytes / sizeof(float);
  std::vector<float> a(n, 1.0f), b(n, 2.0f), c(n, 0.5f);
  std::vector<double> sums(threads);
  auto range = [&](int t) { return std::pair<size_t, size_t>{n * t / threads, n * (t + 1) / threads}; };
  Bandwidth bw{0, 0, 0};
  for (int rep = 0; rep < 3; ++rep) {
    const double tr = run_threads(threads, [&](int t) {
      auto [lo, hi] = range(t);
      float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      size_t i = lo;
      for (; i + 4 <= hi; i += 4) s0 += a[i], s1 += a[i + 1], s2 += a[i + 2], s3 += a[i + 3];
      for (; i < hi; ++i) s0 += a[i];
      sums[t] = s0 + s1 + s2 + s3;
    });
    const double tc = run_threads(threads, [&](int t) {
      auto [lo, hi] = range(t);
      std::copy(a.begin() + lo, a.begin() + hi, b.begin() + lo);
    });
    const double tt = run_threads(threads, [&](int t) {
      auto [lo, hi] = range(t);
      for (size_t i = lo; i < hi; ++i) a[i] = b[i] + 0.5f * c[i];
    });
    bw.read = std::max(bw.read, n * sizeof(float) / tr * 1e-9);
    bw.copy = std::max(bw.copy, 2 * n * sizeof(float) / tc * 1e-9);
    bw.triad = std::max(bw.triad, 3 * n * sizeof(float) / tt * 1e-9);
  }
  volatile double sink = sums[0];
  (void)sink;
  return bw;
}

struct MachinePeak {
  int threads = 1;
  double f32_gflops_1t = 0, f32_gflops_all = 0;  // widest supported FMA ISA
  bool avx512 = false;
};

// Measured once per process (FMA probe only; cheap). `threads` is the
// thread count used for the "all threads" figure.
inline const MachinePeak& measured_peak(int threads = static_cast<int>(std::thread::hardware_concurrency())) {
  static const MachinePeak p = [&] {
    MachinePeak m;
    m.threads = std::max(1, threads);
    m.avx512 = has_avx512();
    m.f32_gflops_1t = fma_gflops(m.avx512, 1);
    m.f32_gflops_all = fma_gflops(m.avx512, m.threads);
    return m;
  }();
  return p;
}

// GB/s of a benchmark that moves bytes_per_iter per iteration, and that as a
// fraction of the STREAM triad bandwidth triad_gbs (measured by the caller once).
inline void set_bandwidth_counters(benchmark::State& st, double bytes_per_iter, double triad_gbs) {
  st.counters["GB/s"] = benchmark::Counter(bytes_per_iter / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["frac_bw"] =
      benchmark::Counter(bytes_per_iter / (triad_gbs * 1e9), benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace wick::bench
