// scaled_dot_product_attention: the tiled (flash) CPU kernel against the
// composed reference (matmul, where, softmax, matmul), float32, forward and
// forward + backward, at the attention shapes of the model workloads and at
// long sequences where the composed path's L x S matrices dominate memory.
//
//   gpt_tiny  B=16  H=4 L=S=128  E=64 causal   (bench/models GPT-tiny)
//   vit_tiny  B=128 H=4 L=S=50   E=32          (bench/models ViT-tiny)
//   long1024  B=1   H=4 L=S=1024 E=64 causal
//   long2048  B=1   H=4 L=S=2048 E=64 causal
//
// Counters: GFLOP/s counts the dense (non-causal) work, 4 B H L S E for the
// forward and 3.5x that for forward + backward (the usual FlashAttention
// accounting, backward = 2.5 forward), so that fast and composed compare on
// the same numerator; peak_MiB is the allocator's high-water mark above the
// inputs during one call (tensor/allocator.h memory_stats).
//   ./bench_attention --benchmark_filter=gpt_tiny
#include <benchmark/benchmark.h>

#include <cmath>
#include <string>

#include "autograd/engine.h"
#include "ops/attention.h"
#include "ops/creation.h"
#include "tensor/allocator.h"
#include "wick.h"

using namespace wick;

namespace {

struct Config {
  const char* name;
  int64_t B, H, L, E;
  bool causal;
};

const Config kConfigs[] = {
    {"gpt_tiny", 16, 4, 128, 64, true},
    {"vit_tiny", 128, 4, 50, 32, false},
    {"long1024", 1, 4, 1024, 64, true},
    {"long2048", 1, 4, 2048, 64, true},
};

void bench(benchmark::State& st, Config c, bool fast, bool backward) {
  Generator g(0);
  const TensorOptions opt(kFloat32);
  const Shape shape{c.B, c.H, c.L, c.E};
  Tensor q = randn(shape, opt, &g), k = randn(shape, opt, &g), v = randn(shape, opt, &g);
  Tensor gy = randn(shape, opt, &g);
  if (backward) {
    q.requires_grad_();
    k.requires_grad_();
    v.requires_grad_();
  }
  auto step = [&] {
    if (!backward) {
      NoGradGuard ng;
      Tensor y = fast ? scaled_dot_product_attention(q, k, v, {}, 0.0, c.causal)
                      : scaled_dot_product_attention_math(q, k, v, {}, 0.0, c.causal);
      benchmark::DoNotOptimize(y.data_ptr_raw());
      return;
    }
    Tensor y = fast ? scaled_dot_product_attention(q, k, v, {}, 0.0, c.causal)
                    : scaled_dot_product_attention_math(q, k, v, {}, 0.0, c.causal);
    tensor_list grads = autograd::grad({y}, {q, k, v}, {gy});
    benchmark::DoNotOptimize(grads[0].data_ptr_raw());
  };
  // Peak memory of one call, above what is live before it.
  step();
  const int64_t before = memory_stats().current;
  reset_peak_memory_stats();
  step();
  const double peak_mib = static_cast<double>(memory_stats().peak - before) / (1024.0 * 1024.0);
  for (auto _ : st) step();
  const double flops = 4.0 * c.B * c.H * c.L * c.L * c.E * (backward ? 3.5 : 1.0);
  st.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["peak_MiB"] = peak_mib;
}

}  // namespace

int main(int argc, char** argv) {
  for (const Config& c : kConfigs)
    for (bool backward : {false, true})
      for (bool fast : {true, false}) {
        // fast and composed of one shape run back to back (interleaved), so
        // their ratio is measured under the same machine load.
        std::string name = std::string(c.name) + (backward ? "/fwd_bwd/" : "/fwd/") + (fast ? "flash" : "composed");
        benchmark::RegisterBenchmark(name.c_str(), [c, fast, backward](benchmark::State& st) {
          bench(st, c, fast, backward);
        })->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(0.3);
      }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
