// Fused softmax / log_softmax / layer_norm / rms_norm / cross_entropy /
// batch_norm kernels (ops/cpu/nn.cpp, ops/cpu/loss.cpp, ops/cpu/batch_norm.cpp),
// forward and backward, against the composed-of-ops path each one replaces, on
// transformer shapes (float32):
//   [16*128, 256]  GPT-tiny activations (batch 16, context 128, dim 256)
//   [128*50, 128]  ViT-tiny activations (batch 128, 50 tokens, dim 128)
//   cross entropy on [16*128, 256] (GPT-tiny logits) and [256, 10] (MLP).
// and batch_norm (training) on ResNet-18 stage shapes of bench_models'
// workload (batch 64, 28x28 input): [64, 32, 28, 28] and [64, 256, 4, 4].
// The batch_norm "composed" backward is the first-order formula ops/nn.cpp
// ran before the fused kernel (saved statistics, ~12 broadcast/reduce ops);
// the composed forward is the same statistics and affine written with ops.
//
// Counters: GB/s counts the bytes the op must move at least (4 per float read
// or written: softmax / norm forward 8 per element, backward 12 (g, y or x ->
// dx), cross entropy forward 4, backward 8), for both the fused and the
// composed variant, so the ratio of the two GB/s is the speed-up. frac_bw
// divides by the STREAM triad bandwidth of bench/peak.h on the same threads;
// these shapes (2 MiB per array) sit in L2/L3, so frac_bw can exceed 1.
//
// Times and rates are wall-clock (UseRealTime: the kernels run on the
// wick::parallel_for threads). On a shared, loaded machine run with
// WICK_NUM_THREADS=1 and --benchmark_repetitions to get stable ratios.
//
// Run: build-*/bench/bench_nn [--benchmark_filter=...]; compare fused/composed
// pairs measured in the same process.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>

#include "ops/cpu/batch_norm.h"
#include "ops/cpu/loss.h"
#include "ops/cpu/nn.h"
#include "peak.h"
#include "tensor/parallel.h"
#include "wick.h"

using namespace wick;

namespace {

double triad_gbs() {
  static const double bw = [] {
    const double t = bench::stream_gbs(get_num_threads()).triad;
    std::printf("bench_nn: STREAM triad %.1f GB/s on %d threads\n", t, get_num_threads());
    return t;
  }();
  return bw;
}

void set_counters(benchmark::State& st, double bytes_per_iter) {
  bench::set_bandwidth_counters(st, bytes_per_iter, triad_gbs());
}

Tensor rn(const Shape& s, uint64_t seed) {
  Generator g(seed);
  return randn(s, TensorOptions(kFloat32), &g);
}

struct Case {
  int64_t rows, cols;
};
const Case kCases[] = {{16 * 128, 256}, {128 * 50, 128}};

// ---- softmax / log_softmax -------------------------------------------------

void softmax_fwd(benchmark::State& st, Case c, bool log, bool fused) {
  NoGradGuard ng;
  Tensor x = rn({c.rows, c.cols}, 1);
  for (auto _ : st) {
    Tensor y;
    if (fused) {
      y = log ? log_softmax(x, 1) : softmax(x, 1);
    } else {
      Tensor z = sub(x, amax(x, {1}, true));
      y = log ? sub(z, wick::log(sum(exp(z), {1}, true))) : div(exp(z), sum(exp(z), {1}, true));
    }
    benchmark::DoNotOptimize(y.data_ptr<float>());
  }
  set_counters(st, 8.0 * c.rows * c.cols);
}

void softmax_bwd(benchmark::State& st, Case c, bool log, bool fused) {
  NoGradGuard ng;
  Tensor x = rn({c.rows, c.cols}, 1), g = rn({c.rows, c.cols}, 2);
  Tensor y = log ? log_softmax(x, 1) : softmax(x, 1);
  for (auto _ : st) {
    Tensor gx;
    if (fused) {
      gx = empty(y.sizes(), kFloat32);
      cpu::softmax_backward(gx, g, y, 1, log);
    } else {  // the formulas recorded by ops/nn.cpp under create_graph
      gx = log ? sub(g, mul(exp(y), sum(g, {1}, true))) : mul(y, sub(g, sum(mul(g, y), {1}, true)));
    }
    benchmark::DoNotOptimize(gx.data_ptr<float>());
  }
  set_counters(st, 12.0 * c.rows * c.cols);
}

// ---- layer_norm / rms_norm -------------------------------------------------

void norm_fwd(benchmark::State& st, Case c, bool rms, bool fused) {
  NoGradGuard ng;
  Tensor x = rn({c.rows, c.cols}, 1), w = rn({c.cols}, 2), b = rn({c.cols}, 3);
  for (auto _ : st) {
    Tensor y;
    if (fused) {
      y = rms ? rms_norm(x, {c.cols}, w) : layer_norm(x, {c.cols}, w, b);
    } else {
      Tensor xc = rms ? x : sub(x, mean(x, {1}, true));
      Tensor xh = mul(xc, rsqrt(add(mean(mul(xc, xc), {1}, true), 1e-5)));
      y = rms ? mul(xh, w) : add(mul(xh, w), b);
    }
    benchmark::DoNotOptimize(y.data_ptr<float>());
  }
  set_counters(st, 8.0 * c.rows * c.cols);
}

void norm_bwd(benchmark::State& st, Case c, bool rms, bool fused) {
  NoGradGuard ng;
  const int64_t R = c.rows, D = c.cols;
  Tensor x = rn({R, D}, 1), w = rn({D}, 2), g = rn({R, D}, 4);
  Tensor mu = mean(x, {1}, true);
  Tensor xc = rms ? x : sub(x, mu);
  Tensor rstd = rsqrt(add(mean(mul(xc, xc), {1}, true), 1e-5));
  for (auto _ : st) {
    Tensor gx, gw, gb;
    if (fused) {
      gx = empty({R, D}, kFloat32);
      gw = empty({D}, kFloat32);
      gb = rms ? Tensor() : empty({D}, kFloat32);
      cpu::layer_norm_backward(gx, gw, gb, g, x, rms ? Tensor() : mu, rstd, w, R, D, rms);
    } else {  // ops/nn.cpp's first-order formula (with saved statistics)
      Tensor xh = mul(rms ? x : sub(x, mu), rstd);
      Tensor gh = mul(g, w);
      Tensor proj = mul(xh, mean(mul(gh, xh), {1}, true));
      Tensor inner = rms ? sub(gh, proj) : sub(sub(gh, mean(gh, {1}, true)), proj);
      gx = mul(rstd, inner);
      gw = sum(mul(g, xh), {0});
      if (!rms) gb = sum(g, {0});
    }
    benchmark::DoNotOptimize(gx.data_ptr<float>());
  }
  set_counters(st, 12.0 * R * D);
}

// ---- cross entropy -------------------------------------------------------------

void ce_fwd(benchmark::State& st, Case c, bool fused) {
  NoGradGuard ng;
  Tensor x = rn({c.rows, c.cols}, 1);
  Generator gen(5);
  Tensor t = randint(0, c.cols, {c.rows}, TensorOptions(kInt64), &gen);
  for (auto _ : st) {
    Tensor l = fused ? cross_entropy(x, t) : nll_loss(log_softmax(x, 1), t);
    benchmark::DoNotOptimize(l.data_ptr<float>());
  }
  set_counters(st, 4.0 * c.rows * c.cols);
}

void ce_bwd(benchmark::State& st, Case c, bool fused) {
  NoGradGuard ng;
  const int64_t N = c.rows, C = c.cols;
  Tensor x = rn({N, C}, 1);
  Generator gen(5);
  Tensor t = randint(0, C, {N}, TensorOptions(kInt64), &gen);
  Tensor loss = empty({N}, kFloat32), lse = empty({N}, kFloat32);
  cpu::cross_entropy_forward(loss, lse, x, t, Tensor(), N, 1 * C, 1, -100, 0.0);
  Tensor onehot = one_hot(t, C).to(kFloat32);
  Tensor g = scalar_tensor(1.0f, kFloat32);
  for (auto _ : st) {
    Tensor gx;
    if (fused) {
      gx = empty({N, C}, kFloat32);
      cpu::cross_entropy_backward(gx, g, 1.0 / static_cast<double>(N), x, lse, t, Tensor(), N, C, 1, -100, 0.0);
    } else {  // log_softmax + nll backward: (softmax(x) - onehot) * g / N
      gx = mul(sub(softmax(x, 1), onehot), 1.0 / static_cast<double>(N));
    }
    benchmark::DoNotOptimize(gx.data_ptr<float>());
  }
  set_counters(st, 8.0 * N * C);
}

// ---- batch_norm (training) ----------------------------------------------------

struct BnCase {
  int64_t n, c, h, w;
};
const BnCase kBnCases[] = {{64, 32, 28, 28}, {64, 256, 4, 4}};

void bn_fwd(benchmark::State& st, BnCase c, bool fused) {
  NoGradGuard ng;
  Tensor x = rn({c.n, c.c, c.h, c.w}, 1), w = rn({c.c}, 2), b = rn({c.c}, 3);
  Tensor rm = zeros({c.c}, kFloat32), rv = ones({c.c}, kFloat32);
  const Shape cs{1, c.c, 1, 1};
  for (auto _ : st) {
    Tensor y;
    if (fused) {
      y = batch_norm(x, rm, rv, w, b, /*training=*/true, 0.1, 1e-5);
    } else {  // statistics, running update and affine, written with ops
      Tensor mu = mean(x, {0, 2, 3}, true);
      Tensor xc = sub(x, mu);
      Tensor var = mean(mul(xc, xc), {0, 2, 3}, true);
      rm.mul_(0.9).add_(mu.reshape({c.c}), 0.1);
      rv.mul_(0.9).add_(var.reshape({c.c}), 0.1);
      y = add(mul(mul(xc, rsqrt(add(var, 1e-5))), w.reshape(cs)), b.reshape(cs));
    }
    benchmark::DoNotOptimize(y.data_ptr<float>());
  }
  set_counters(st, 8.0 * c.n * c.c * c.h * c.w);
}

void bn_bwd(benchmark::State& st, BnCase c, bool fused) {
  NoGradGuard ng;
  const Shape xs{c.n, c.c, c.h, c.w}, cs{1, c.c, 1, 1};
  const Dims red{0, 2, 3};
  Tensor x = rn(xs, 1), w = rn({c.c}, 2), g = rn(xs, 4);
  Tensor mu = mean(x, red, true);
  Tensor xc = sub(x, mu);
  Tensor rstd = rsqrt(add(mean(mul(xc, xc), red, true), 1e-5));
  Tensor mu_c = mu.reshape({c.c}).contiguous(), rstd_c = rstd.reshape({c.c}).contiguous();
  for (auto _ : st) {
    Tensor gx, gw, gb;
    if (fused) {
      gx = empty(xs, kFloat32);
      gw = empty({c.c}, kFloat32);
      gb = empty({c.c}, kFloat32);
      cpu::batch_norm_backward(gx, gw, gb, g, x, mu_c, rstd_c, w, c.n, c.c, c.h * c.w, /*training=*/true);
    } else {  // ops/nn.cpp's first-order formula before the fused kernel
      Tensor xh = mul(sub(x, mu), rstd);
      Tensor gh = mul(g, w.reshape(cs));
      Tensor proj = mul(xh, mean(mul(gh, xh), red, true));
      gx = mul(rstd, sub(sub(gh, mean(gh, red, true)), proj));
      gw = sum(mul(g, xh), red);
      gb = sum(g, red);
    }
    benchmark::DoNotOptimize(gx.data_ptr<float>());
  }
  set_counters(st, 12.0 * c.n * c.c * c.h * c.w);
}

std::string shape_name(Case c) { return std::to_string(c.rows) + "x" + std::to_string(c.cols); }

// Registered in fused/composed pairs so the two run back to back.
const int registered = [] {
  for (Case c : kCases) {
    const std::string s = "/" + shape_name(c);
    for (bool log : {false, true}) {
      const std::string n = log ? "log_softmax" : "softmax";
      for (bool fused : {true, false}) {
        const std::string v = fused ? "_fused" : "_composed";
        benchmark::RegisterBenchmark((n + "_fwd" + v + s).c_str(), softmax_fwd, c, log, fused)->UseRealTime();
      }
      for (bool fused : {true, false}) {
        const std::string v = fused ? "_fused" : "_composed";
        benchmark::RegisterBenchmark((n + "_bwd" + v + s).c_str(), softmax_bwd, c, log, fused)->UseRealTime();
      }
    }
    for (bool rms : {false, true}) {
      const std::string n = rms ? "rms_norm" : "layer_norm";
      for (bool fused : {true, false}) {
        const std::string v = fused ? "_fused" : "_composed";
        benchmark::RegisterBenchmark((n + "_fwd" + v + s).c_str(), norm_fwd, c, rms, fused)->UseRealTime();
      }
      for (bool fused : {true, false}) {
        const std::string v = fused ? "_fused" : "_composed";
        benchmark::RegisterBenchmark((n + "_bwd" + v + s).c_str(), norm_bwd, c, rms, fused)->UseRealTime();
      }
    }
  }
  for (Case c : {Case{16 * 128, 256}, Case{256, 10}}) {
    const std::string s = "/" + shape_name(c);
    for (bool fused : {true, false})
      benchmark::RegisterBenchmark((std::string("cross_entropy_fwd") + (fused ? "_fused" : "_composed") + s).c_str(),
                                   ce_fwd, c, fused)
          ->UseRealTime();
    for (bool fused : {true, false})
      benchmark::RegisterBenchmark((std::string("cross_entropy_bwd") + (fused ? "_fused" : "_composed") + s).c_str(),
                                   ce_bwd, c, fused)
          ->UseRealTime();
  }
  for (BnCase c : kBnCases) {
    const std::string s = "/" + std::to_string(c.n) + "x" + std::to_string(c.c) + "x" + std::to_string(c.h) + "x" +
                          std::to_string(c.w);
    for (bool fused : {true, false})
      benchmark::RegisterBenchmark((std::string("batch_norm_fwd") + (fused ? "_fused" : "_composed") + s).c_str(),
                                   bn_fwd, c, fused)
          ->UseRealTime();
    for (bool fused : {true, false})
      benchmark::RegisterBenchmark((std::string("batch_norm_bwd") + (fused ? "_fused" : "_composed") + s).c_str(),
                                   bn_bwd, c, fused)
          ->UseRealTime();
  }
  return 0;
}();

}  // namespace

BENCHMARK_MAIN();
