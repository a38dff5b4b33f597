// Optimizer step on ~10.5M float parameters shaped like a small GPT's
// (a 8192x512 embedding and two blocks of qkv/proj/fc/fc2 matrices with
// their biases and layer-norm gains: 26 tensors from 512 to 4.2M elements),
// one gradient per parameter, fixed across iterations:
//   fused     the multi-tensor kernel (ops/cpu/optim.h; Optimizer default)
//   composed  the op-composed update, set_fused(false) (~7 tensor ops and
//             temporaries per parameter, the path before the kernel)
//   reference the readable one-thread reference loop of the kernel
// for AdamW (wd 0.01), Lion (wd 0.1) and SGD with momentum.
//
// Counters: GB/s counts the bytes a one-pass step must move per element
// (reads + writes, 4 bytes each): AdamW p,g,m,v -> p,m,v = 28 B; Lion
// p,g,m -> p,m = 20 B; SGD momentum p,g,b -> p,b = 20 B. The same count is
// used for the composed path (it really moves several times more). frac_bw
// divides by the STREAM triad bandwidth that bench/peak.h measures with the
// same thread count.
//
// Run (ratios mean something only within one process; interleave them):
//   build-*/bench_optim --benchmark_repetitions=3 --benchmark_enable_random_interleaving=true
//       --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstdio>
#include <memory>
#include <span>
#include <vector>

#include "ops/cpu/optim.h"
#include "peak.h"
#include "tensor/parallel.h"
#include "wick.h"

using namespace wick;

namespace {

double triad_gbs() {
  static const double bw = [] {
    const double t = bench::stream_gbs(get_num_threads()).triad;
    std::printf("bench_optim: STREAM triad %.1f GB/s on %d threads\n", t, get_num_threads());
    return t;
  }();
  return bw;
}

// GPT-like shapes: vocab 8192, width 512, 2 blocks, MLP 2048 (10.5M floats).
std::vector<Shape> gpt_shapes() {
  std::vector<Shape> s{{8192, 512}};  // token embedding
  for (int layer = 0; layer < 2; ++layer) {
    for (Shape x : std::vector<Shape>{{512}, {512}, {512, 1536}, {1536}, {512, 512}, {512}, {512}, {512},
                                      {512, 2048}, {2048}, {2048, 512}, {512}})
      s.push_back(x);
  }
  s.push_back({512});  // final layer norm
  return s;
}

struct Model {
  std::vector<Tensor> params;
  int64_t numel = 0;
  Model() {
    Generator gen(1);
    for (const Shape& sh : gpt_shapes()) {
      Tensor p = mul(randn(sh, TensorOptions(kFloat32), &gen), 0.02).requires_grad_();
      p.set_grad(mul(randn(sh, TensorOptions(kFloat32), &gen), 1e-3));
      numel += p.numel();
      params.push_back(p);
    }
  }
};

void set_counters(benchmark::State& st, double bytes_per_step) {
  st.counters["GB/s"] = benchmark::Counter(bytes_per_step / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["frac_bw"] =
      benchmark::Counter(bytes_per_step / (triad_gbs() * 1e9), benchmark::Counter::kIsIterationInvariantRate);
}

template <typename Make>
void run_optimizer(benchmark::State& st, Make make, double bytes_per_elem, bool fused) {
  triad_gbs();
  Model model;
  std::unique_ptr<optim::Optimizer> opt = make(model.params);
  opt->set_fused(fused);
  opt->step();  // creates the state outside the timed loop
  for (auto _ : st) {
    opt->step();
    benchmark::ClobberMemory();
  }
  set_counters(st, bytes_per_elem * model.numel);
  st.counters["Mparams"] = model.numel / 1e6;
}

void BM_adamw(benchmark::State& st) {
  run_optimizer(
      st, [](const std::vector<Tensor>& ps) { return std::make_unique<optim::AdamW>(ps, optim::AdamWOptions{}); }, 28,
      st.range(0) != 0);
}

void BM_lion(benchmark::State& st) {
  run_optimizer(
      st,
      [](const std::vector<Tensor>& ps) {
        return std::make_unique<optim::Lion>(ps, optim::LionOptions{.weight_decay = 0.1});
      },
      20, st.range(0) != 0);
}

void BM_sgd_momentum(benchmark::State& st) {
  run_optimizer(
      st,
      [](const std::vector<Tensor>& ps) {
        return std::make_unique<optim::SGD>(ps, optim::SGDOptions{.lr = 0.01, .momentum = 0.9});
      },
      20, st.range(0) != 0);
}

// The kernels' readable references (one thread), on the same data.
void BM_adamw_reference(benchmark::State& st) {
  triad_gbs();
  Model model;
  std::vector<Tensor> m, v;
  std::vector<cpu::AdamSegment<float>> segs;
  for (Tensor& p : model.params) {
    m.push_back(zeros_like(p));
    v.push_back(zeros_like(p));
    segs.push_back({p.data_ptr<float>(), p.grad().data_ptr<float>(), m.back().data_ptr<float>(),
                    v.back().data_ptr<float>(), nullptr, p.numel(), 1});
  }
  const double lr = 1e-3, wd = 1e-2;
  const cpu::AdamHyper h{lr, 0.9, 0.999, 1e-8, wd, 1 - lr * wd, false, false, true};
  for (auto _ : st) {
    for (auto& s : segs) ++s.step;
    cpu::adam_step_reference(std::span<const cpu::AdamSegment<float>>(segs), h);
    benchmark::ClobberMemory();
  }
  set_counters(st, 28.0 * model.numel);
  st.counters["Mparams"] = model.numel / 1e6;
}

void BM_lion_reference(benchmark::State& st) {
  triad_gbs();
  Model model;
  std::vector<Tensor> m;
  std::vector<cpu::LionSegment<float>> segs;
  for (Tensor& p : model.params) {
    m.push_back(zeros_like(p));
    segs.push_back({p.data_ptr<float>(), p.grad().data_ptr<float>(), m.back().data_ptr<float>(), p.numel()});
  }
  const double lr = 1e-4, wd = 0.1;
  const cpu::LionHyper h{lr, 0.9, 0.99, wd, 1 - lr * wd};
  for (auto _ : st) {
    cpu::lion_step_reference(std::span<const cpu::LionSegment<float>>(segs), h);
    benchmark::ClobberMemory();
  }
  set_counters(st, 20.0 * model.numel);
  st.counters["Mparams"] = model.numel / 1e6;
}

}  // namespace

// Arg: 1 fused, 0 composed.
BENCHMARK(BM_adamw)->ArgName("fused")->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_lion)->ArgName("fused")->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_sgd_momentum)->ArgName("fused")->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_adamw_reference)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_lion_reference)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
