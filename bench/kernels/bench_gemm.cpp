// SGEMM: wick's packed kernel (ops/cpu/gemm.cpp) against the readable
// reference (small sizes only) and OpenBLAS cblas_sgemm (when built with
// WICK_OPENBLAS), at 1 and 2 threads, on square sizes and on the transformer
// shapes of a linear layer: forward x @ W^T (NT), backward g @ W (NN) and
// g^T @ x (TN). Counters: GFLOP/s and the fraction of the FMA peak measured
// by bench/peak.h for the same thread count.
//
//   bench_gemm                                  Google Benchmark (wick and OpenBLAS registered
//                                               alternately; add --benchmark_enable_random_interleaving=true
//                                               --benchmark_repetitions=5 to interleave repetitions)
//   bench_gemm --compare [--rounds=R]           one table: wick vs OpenBLAS measured alternately,
//                                               call by call, in this process (the ratio to trust on a
//                                               loaded machine), median GFLOP/s over R rounds
//   bench_gemm --compare --isa=portable|avx2    the same with a forced micro-kernel family
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ops/cpu/gemm.h"
#include "peak.h"
#include "tensor/parallel.h"

#ifdef WICK_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace {

using wick::cpu::MatRef;

struct Shape {
  int64_t M, N, K;
  bool ta, tb;  // A stored transposed ([K, M]), B stored transposed ([N, K])
  const char* what;
};

const Shape kShapes[] = {
    {512, 512, 512, false, false, "square"},
    {1024, 1024, 1024, false, false, "square"},
    {2048, 2048, 2048, false, false, "square"},
    {4096, 256, 1024, false, true, "linear fwd NT"},
    {4096, 1024, 256, false, false, "linear bwd dx NN"},
    {256, 1024, 4096, true, false, "linear bwd dW TN"},
    {4096, 256, 1024, false, false, "NN"},
    {2048, 1024, 256, false, true, "linear fwd NT"},
    {2048, 256, 1024, false, false, "linear bwd dx NN"},
    {1024, 256, 2048, true, false, "linear bwd dW TN"},
    {2048, 1024, 256, false, false, "NN"},
};

struct Operands {
  std::vector<float> a, b, c;
  explicit Operands(const Shape& s) : a(s.M * s.K), b(s.K * s.N), c(s.M * s.N) {
    std::mt19937 gen(1);
    std::uniform_real_distribution<float> d(-1, 1);
    for (auto& x : a) x = d(gen);
    for (auto& x : b) x = d(gen);
  }
  MatRef<const float> A(const Shape& s) const {
    return s.ta ? MatRef<const float>{a.data(), 1, s.M} : MatRef<const float>{a.data(), s.K, 1};
  }
  MatRef<const float> B(const Shape& s) const {
    return s.tb ? MatRef<const float>{b.data(), 1, s.K} : MatRef<const float>{b.data(), s.N, 1};
  }
};

void run_wick(const Shape& s, Operands& o) {
  wick::cpu::gemm<float>(s.M, s.N, s.K, 1.0f, o.A(s), o.B(s), 0.0f, o.c.data(), s.N);
}

#ifdef WICK_HAVE_OPENBLAS
void run_openblas(const Shape& s, Operands& o) {
  cblas_sgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans, s.tb ? CblasTrans : CblasNoTrans,
              static_cast<int>(s.M), static_cast<int>(s.N), static_cast<int>(s.K), 1.0f, o.a.data(),
              static_cast<int>(s.ta ? s.M : s.K), o.b.data(), static_cast<int>(s.tb ? s.K : s.N), 0.0f, o.c.data(),
              static_cast<int>(s.N));
}
#endif

void set_threads(int t) {
  wick::set_num_threads(t);
#ifdef WICK_HAVE_OPENBLAS
  openblas_set_num_threads(t);
#endif
}

double peak_for(int threads) {
  const auto& p = wick::bench::measured_peak(2);
  return threads == 1 ? p.f32_gflops_1t : p.f32_gflops_all;
}

std::string label(const Shape& s) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%ldx%ldx%ld%s%s %s", static_cast<long>(s.M), static_cast<long>(s.N),
                static_cast<long>(s.K), s.ta ? " At" : "", s.tb ? " Bt" : "", s.what);
  return buf;
}

// Google Benchmark body: GFLOP/s from our own clock around the loop.
template <typename F>
void bench_body(benchmark::State& state, const Shape& s, int threads, F run) {
  set_threads(threads);
  Operands o(s);
  run(s, o);  // warm-up (packs, thread pool)
  const double t0 = wick::bench::now_s();
  int64_t iters = 0;
  for (auto _ : state) {
    run(s, o);
    benchmark::DoNotOptimize(o.c.data());
    ++iters;
  }
  const double gflops = 2.0 * s.M * s.N * s.K * iters / (wick::bench::now_s() - t0) * 1e-9;
  state.counters["GFLOP/s"] = gflops;
  state.counters["peak_frac"] = gflops / peak_for(threads);
}

void register_all() {
  for (int threads : {1, 2})
    for (const Shape& s : kShapes) {
      const std::string name = label(s) + " t" + std::to_string(threads);
      benchmark::RegisterBenchmark(("wick " + name).c_str(), [s, threads](benchmark::State& st) {
        bench_body(st, s, threads, run_wick);
      })->UseRealTime()->Unit(benchmark::kMillisecond);
#ifdef WICK_HAVE_OPENBLAS
      benchmark::RegisterBenchmark(("openblas " + name).c_str(), [s, threads](benchmark::State& st) {
        bench_body(st, s, threads, run_openblas);
      })->UseRealTime()->Unit(benchmark::kMillisecond);
#endif
    }
  // The readable reference, small sizes only (it is ~100x slower).
  for (int64_t n : {64, 128, 256}) {
    const Shape s{n, n, n, false, false, "square"};
    benchmark::RegisterBenchmark(("reference " + label(s)).c_str(), [s](benchmark::State& st) {
      bench_body(st, s, 1, [](const Shape& sh, Operands& o) {
        wick::cpu::gemm_reference<float>(sh.M, sh.N, sh.K, 1.0f, o.A(sh), o.B(sh), 0.0f, o.c.data(), sh.N);
      });
    })->UseRealTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("wick " + label(s) + " t1").c_str(), [s](benchmark::State& st) {
      bench_body(st, s, 1, run_wick);
    })->UseRealTime()->Unit(benchmark::kMillisecond);
  }
}

// --compare: wick and OpenBLAS alternately, one timed batch each per round.
int compare(int rounds) {
  std::printf("gemm micro-kernel: %s\n", wick::cpu::gemm_isa_name(wick::cpu::gemm_isa()));
  const auto& p = wick::bench::measured_peak(2);
  std::printf("measured FMA peak (float): 1 thread %.1f GFLOP/s, 2 threads %.1f GFLOP/s\n", p.f32_gflops_1t,
              p.f32_gflops_all);
#ifndef WICK_HAVE_OPENBLAS
  std::printf("(built without WICK_OPENBLAS: wick only)\n");
#endif
  std::printf("%-34s %3s %10s %10s %7s %9s\n", "shape (MxNxK)", "thr", "wick", "openblas", "ratio", "wick/peak");
  for (int threads : {1, 2})
    for (const Shape& s : kShapes) {
      set_threads(threads);
      Operands o(s);
      const double flops = 2.0 * s.M * s.N * s.K;
      // Calls per timed batch: about 30 ms of work.
      run_wick(s, o);
      double t0 = wick::bench::now_s();
      run_wick(s, o);
      const double one = wick::bench::now_s() - t0;
      const int calls = std::max(1, static_cast<int>(0.03 / std::max(one, 1e-6)));
      std::vector<double> gw, gb;
      for (int r = 0; r < rounds; ++r) {
        t0 = wick::bench::now_s();
        for (int c = 0; c < calls; ++c) run_wick(s, o);
        gw.push_back(flops * calls / (wick::bench::now_s() - t0) * 1e-9);
#ifdef WICK_HAVE_OPENBLAS
        t0 = wick::bench::now_s();
        for (int c = 0; c < calls; ++c) run_openblas(s, o);
        gb.push_back(flops * calls / (wick::bench::now_s() - t0) * 1e-9);
#endif
      }
      auto median = [](std::vector<double> v) {
        if (v.empty()) return 0.0;
        std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
        return v[v.size() / 2];
      };
      const double mw = median(gw), mb = median(gb);
      std::printf("%-34s %3d %10.1f %10.1f %7.3f %9.3f\n", label(s).c_str(), threads, mw, mb, mb > 0 ? mw / mb : 0.0,
                  mw / peak_for(threads));
      std::fflush(stdout);
    }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool cmp = false;
  int rounds = 7;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--compare") == 0) cmp = true;
    if (std::strncmp(argv[i], "--rounds=", 9) == 0) rounds = std::max(1, std::atoi(argv[i] + 9));
    if (std::strncmp(argv[i], "--isa=", 6) == 0) {
      const std::string isa = argv[i] + 6;
      const auto want = isa == "portable" ? wick::cpu::GemmIsa::portable
                        : isa == "avx2"   ? wick::cpu::GemmIsa::avx2
                        : isa == "avx512" ? wick::cpu::GemmIsa::avx512
                                          : wick::cpu::GemmIsa::automatic;
      if (!wick::cpu::set_gemm_isa(want)) std::printf("isa %s not supported here; automatic\n", isa.c_str());
    }
  }
  if (cmp) return compare(rounds);
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
