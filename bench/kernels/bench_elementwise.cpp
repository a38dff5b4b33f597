// Elementwise kernels: the vectorized float transcendentals (ops/cpu/vec_math.h)
// against scalar libm per element, gelu forward + backward with the fused
// backward kernel against the composed formula, and the binary arithmetic
// loops, on 1M and 16M floats.
//
// Counters: GB/s counts the bytes the op must move (4 per float read or
// written: 8 per element for a unary op, 12 for a binary op, 12 for a fused
// backward g, x -> dx), and frac_bw divides it by the STREAM triad bandwidth
// measured by bench/peak.h with the same thread count. At 1M floats (4 MiB
// per array) the data fits in the 32 MiB L3 of the Zen 3, so frac_bw can
// exceed 1; there the 16M case (64 MiB per array) is the DRAM-bound one.
//
// Run: build-*/bench/bench_elementwise --benchmark_filter=... ; compare the
// "vec"/"libm" and "fused"/"composed" pairs measured in the same process.
//
// Measured 2026-11-26, WICK_NUM_THREADS=2 taskset -c 0,1, idle Intel Xeon
// (AVX-512 variant), STREAM triad 37.8 GB/s; time per call at 16M (1M) floats:
//   exp      vec 4.9 ms (0.33)  libm 42.9 ms (1.65)   8.7x (5.1x)  0.72 of triad
//   log      vec 7.8 ms (1.18)  libm 50.6 ms (2.64)   6.5x (2.2x)
//   tanh     vec 8.9 ms (1.40)  libm 235 ms (15.9)    26x  (11x)
//   sigmoid  vec 9.4 ms (1.34)  libm 37.8 ms (3.78)   4.0x (2.8x)
//   erf      vec 10.7 ms (1.05) libm 195 ms (11.1)    18x  (11x)
//   gelu     vec 17.8 ms (2.13) libm 168 ms (10.6)    9.4x (5.0x)
//   gelu fwd+bwd       fused 27.4 ms (1.47)  composed 108 ms (4.36)  3.9x (3.0x)
//   gelu-tanh fwd+bwd  fused 16.9 ms (1.00)  composed 205 ms (3.81)  12x  (3.8x)
//   op add / mul 5.2 / 5.4 ms = 38 / 37 GB/s (1.0 of triad); add_ (in place,
//   no new output) 74 GB/s; mul by a scalar 42 GB/s. (That Xeon's L3 is
//   300 MB, so the in-place 16M case is partly cache-resident.)
// On the project's 2-core Zen 3 (AVX2) under the load of parallel builds:
// exp 4.2x, tanh 21x, erf 11x, gelu 11x, gelu fwd+bwd 3.0x, gelu-tanh 17x.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "ops/cpu/vec_math.h"
#include "peak.h"
#include "tensor/parallel.h"
#include "wick.h"

using namespace wick;

namespace {

double triad_gbs() {
  static const double bw = [] {
    const double t = bench::stream_gbs(get_num_threads()).triad;
    std::printf("bench_elementwise: STREAM triad %.1f GB/s on %d threads; vec_math ISA %s\n", t, get_num_threads(),
                cpu::vec_isa_name(cpu::vec_math_isa()));
    return t;
  }();
  return bw;
}

void set_counters(benchmark::State& st, double bytes_per_iter) {
  bench::set_bandwidth_counters(st, bytes_per_iter, triad_gbs());
}

std::vector<float> make_input(int64_t n, float lo, float hi) {
  std::vector<float> v(n);
  std::mt19937 gen(42);
  std::uniform_real_distribution<float> u(lo, hi);
  for (auto& x : v) x = u(gen);
  return v;
}

// ---- the array kernels, threaded the same way the ops thread them ----

using ArrayFn = void (*)(const float*, float*, int64_t);

template <ArrayFn F>
void BM_vec(benchmark::State& st, float lo, float hi) {
  const int64_t n = st.range(0);
  std::vector<float> x = make_input(n, lo, hi), y(n);
  for (auto _ : st) {
    parallel_for(0, n, 32768, [&](int64_t b, int64_t e) { F(x.data() + b, y.data() + b, e - b); });
    benchmark::DoNotOptimize(y.data());
  }
  set_counters(st, 8.0 * n);
}

template <float (*F)(float)>
void BM_libm(benchmark::State& st, float lo, float hi) {
  const int64_t n = st.range(0);
  std::vector<float> x = make_input(n, lo, hi), y(n);
  for (auto _ : st) {
    parallel_for(0, n, 32768, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) y[i] = F(x[i]);
    });
    benchmark::DoNotOptimize(y.data());
  }
  set_counters(st, 8.0 * n);
}

float libm_exp(float v) { return std::exp(v); }
float libm_log(float v) { return std::log(v); }
float libm_tanh(float v) { return std::tanh(v); }
float libm_sigmoid(float v) { return 1.0f / (1.0f + std::exp(-v)); }
float libm_erf(float v) { return std::erf(v); }
float libm_gelu(float v) { return 0.5f * v * (1.0f + std::erf(v * 0.70710678f)); }

void exp_vec(benchmark::State& s) { BM_vec<cpu::exp_array>(s, -20, 20); }
void exp_libm(benchmark::State& s) { BM_libm<libm_exp>(s, -20, 20); }
void log_vec(benchmark::State& s) { BM_vec<cpu::log_array>(s, 1e-3f, 1e3f); }
void log_libm(benchmark::State& s) { BM_libm<libm_log>(s, 1e-3f, 1e3f); }
void tanh_vec(benchmark::State& s) { BM_vec<cpu::tanh_array>(s, -5, 5); }
void tanh_libm(benchmark::State& s) { BM_libm<libm_tanh>(s, -5, 5); }
void sigmoid_vec(benchmark::State& s) { BM_vec<cpu::sigmoid_array>(s, -10, 10); }
void sigmoid_libm(benchmark::State& s) { BM_libm<libm_sigmoid>(s, -10, 10); }
void erf_vec(benchmark::State& s) { BM_vec<cpu::erf_array>(s, -4, 4); }
void erf_libm(benchmark::State& s) { BM_libm<libm_erf>(s, -4, 4); }
void gelu_vec(benchmark::State& s) { BM_vec<cpu::gelu_array>(s, -5, 5); }
void gelu_libm(benchmark::State& s) { BM_libm<libm_gelu>(s, -5, 5); }

#define ELEMENTWISE_SIZES ->Arg(1 << 20)->Arg(1 << 24)->Unit(benchmark::kMicrosecond)->UseRealTime()
BENCHMARK(exp_vec) ELEMENTWISE_SIZES;
BENCHMARK(exp_libm) ELEMENTWISE_SIZES;
BENCHMARK(log_vec) ELEMENTWISE_SIZES;
BENCHMARK(log_libm) ELEMENTWISE_SIZES;
BENCHMARK(tanh_vec) ELEMENTWISE_SIZES;
BENCHMARK(tanh_libm) ELEMENTWISE_SIZES;
BENCHMARK(sigmoid_vec) ELEMENTWISE_SIZES;
BENCHMARK(sigmoid_libm) ELEMENTWISE_SIZES;
BENCHMARK(erf_vec) ELEMENTWISE_SIZES;
BENCHMARK(erf_libm) ELEMENTWISE_SIZES;
BENCHMARK(gelu_vec) ELEMENTWISE_SIZES;
BENCHMARK(gelu_libm) ELEMENTWISE_SIZES;

// ---- ops through the tensor API (allocation of the result included) ----

Tensor rand_tensor(int64_t n, uint64_t seed) {
  Generator gen(seed);
  return randn({n}, TensorOptions(kFloat32), &gen);
}

void op_exp(benchmark::State& st) {
  Tensor x = rand_tensor(st.range(0), 1);
  for (auto _ : st) benchmark::DoNotOptimize(exp(x).data_ptr_raw());
  set_counters(st, 8.0 * st.range(0));
}
void op_tanh(benchmark::State& st) {
  Tensor x = rand_tensor(st.range(0), 1);
  for (auto _ : st) benchmark::DoNotOptimize(tanh(x).data_ptr_raw());
  set_counters(st, 8.0 * st.range(0));
}
BENCHMARK(op_exp) ELEMENTWISE_SIZES;
BENCHMARK(op_tanh) ELEMENTWISE_SIZES;

// gelu forward + backward through autograd: create_graph=false takes the
// fused backward kernel, create_graph=true the composed formula (what every
// backward was before). Bytes: forward 8/elem, backward 12/elem (g, x -> dx).
void gelu_fwd_bwd(benchmark::State& st, const char* approximate, bool fused) {
  const int64_t n = st.range(0);
  Tensor x = rand_tensor(n, 2).requires_grad_();
  Tensor g = rand_tensor(n, 3);
  for (auto _ : st) {
    Tensor y = gelu(x, approximate);
    Tensor dx = autograd::grad({y}, {x}, {g}, std::nullopt, /*create_graph=*/!fused)[0];
    benchmark::DoNotOptimize(dx.data_ptr_raw());
  }
  set_counters(st, 20.0 * n);
}
void gelu_fused(benchmark::State& s) { gelu_fwd_bwd(s, "none", true); }
void gelu_composed(benchmark::State& s) { gelu_fwd_bwd(s, "none", false); }
void gelu_tanh_fused(benchmark::State& s) { gelu_fwd_bwd(s, "tanh", true); }
void gelu_tanh_composed(benchmark::State& s) { gelu_fwd_bwd(s, "tanh", false); }
BENCHMARK(gelu_fused) ELEMENTWISE_SIZES;
BENCHMARK(gelu_composed) ELEMENTWISE_SIZES;
BENCHMARK(gelu_tanh_fused) ELEMENTWISE_SIZES;
BENCHMARK(gelu_tanh_composed) ELEMENTWISE_SIZES;

// ---- binary arithmetic ----

// The readable reference: one thread, plain loop.
void add_ref(benchmark::State& st) {
  const int64_t n = st.range(0);
  std::vector<float> a = make_input(n, -1, 1), b = make_input(n, -1, 1), c(n);
  for (auto _ : st) {
    for (int64_t i = 0; i < n; ++i) c[i] = a[i] + b[i];
    benchmark::DoNotOptimize(c.data());
  }
  set_counters(st, 12.0 * n);
}
void op_add(benchmark::State& st) {
  Tensor a = rand_tensor(st.range(0), 4), b = rand_tensor(st.range(0), 5);
  for (auto _ : st) benchmark::DoNotOptimize(add(a, b).data_ptr_raw());
  set_counters(st, 12.0 * st.range(0));
}
void op_mul(benchmark::State& st) {
  Tensor a = rand_tensor(st.range(0), 4), b = rand_tensor(st.range(0), 5);
  for (auto _ : st) benchmark::DoNotOptimize(mul(a, b).data_ptr_raw());
  set_counters(st, 12.0 * st.range(0));
}
void op_mul_scalar(benchmark::State& st) {
  Tensor a = rand_tensor(st.range(0), 4);
  for (auto _ : st) benchmark::DoNotOptimize(mul(a, 0.5).data_ptr_raw());
  set_counters(st, 8.0 * st.range(0));
}
// In place (no allocation): the optimizer's pattern p += s * u, as two ops.
void op_add_inplace(benchmark::State& st) {
  Tensor a = rand_tensor(st.range(0), 4), b = rand_tensor(st.range(0), 5);
  for (auto _ : st) {
    add_(a, b);
    benchmark::DoNotOptimize(a.data_ptr_raw());
  }
  set_counters(st, 12.0 * st.range(0));
}
BENCHMARK(add_ref) ELEMENTWISE_SIZES;
BENCHMARK(op_add) ELEMENTWISE_SIZES;
BENCHMARK(op_mul) ELEMENTWISE_SIZES;
BENCHMARK(op_mul_scalar) ELEMENTWISE_SIZES;
BENCHMARK(op_add_inplace) ELEMENTWISE_SIZES;

}  // namespace

BENCHMARK_MAIN();
