// Convolution kernels (ops/cpu/conv.h), float32: forward, input gradient
// (conv2d_transpose) and weight gradient on the layer shapes of the reference
// workloads, fast path ("auto": implicit GEMM) next to the batched im2col +
// GEMM path it replaced ("im2col") and the one-sample-at-a-time im2col path
// before that ("per_sample"), and the direct 7-loop reference on a small
// shape. Pairs run back to back so their ratio is meaningful on a shared
// machine. Counter FLOPS = 2 N C_out OH OW (C_in/groups) kh kw per second.
//
//   ninja -C build bench_conv && WICK_NUM_THREADS=2 build/bench/bench_conv --benchmark_min_time=0.3
//   (filter: --benchmark_filter='resnet64/' ; compare with bench/peer/conv_shapes.py)
//
// Latest (2026-11-26, implicit GEMM; the 2-core Zen 3 at load average ~12, so
// compare the CPU column of 1-thread runs, interleaved:
//   WICK_NUM_THREADS=1 bench_conv --benchmark_filter='rn18c_(32|64|128|256)_3x3/.*/(auto|im2col)'
//     --benchmark_repetitions=3 --benchmark_enable_random_interleaving=true):
// auto / im2col CPU time on the resnet18 workload's 3x3 layers (32 ch 28x28,
// 64 ch 14x14, 128 ch 7x7, 256 ch 4x4): forward 0.87 0.78 0.55 0.47, input
// grad 0.96 0.87 0.64 0.54, weight grad 0.73 0.88 0.63 0.51; 33-49 GFLOP/s
// per core of CPU time.
// Before (2026-11-26, 2 threads pinned to 2 idle cores of a lent Intel Xeon,
// same AVX2 build; the shared 2-core Zen 3 was too loaded to time): 3x3 layers
// 100-155 GFLOP/s; auto vs per_sample 1.0x at 28x28 maps, 1.3-1.6x at 7x7,
// 2.3-3.0x at 4x4, depthwise 1.6-4.4x; vs PyTorch 2.11 on the same cores
// (bench/peer/conv_shapes.py, oneDNN with AVX-512) 0.15-2.4x of its time,
// slowest at 256-512 channels (1.2-2.4x) and in the weight gradients of
// single-channel and depthwise layers.
//
// Shapes: ResNet-18 on 28x28 (batch 64): 3x3 stride-1 convs at 64ch 28x28,
// 128ch 14x14, 256ch 7x7, 512ch 4x4; the stride-2 3x3 and 1x1 downsampling
// convs between stages; the CNN workload (batch 128): 1->32 3x3 on 28x28 and
// 32->64 3x3 on 26x26; a depthwise 3x3 (128 channels, 14x14, batch 64).
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "ops/cpu/conv.h"

namespace {

using wick::cpu::ConvGeometry;
using wick::cpu::ConvPath;

struct Shape {
  const char* name;
  int64_t N, C_in, H, C_out, k, stride, pad, groups;
};

const Shape kShapes[] = {
    // bench_models --workload resnet18 (widths 32/64/128/256 on 28x28, batch 64)
    {"rn18c_32_3x3", 64, 32, 28, 32, 3, 1, 1, 1},
    {"rn18c_1to32_3x3", 64, 1, 28, 32, 3, 1, 1, 1},
    {"rn18c_64_3x3", 64, 64, 14, 64, 3, 1, 1, 1},
    {"rn18c_128_3x3", 64, 128, 7, 128, 3, 1, 1, 1},
    {"rn18c_256_3x3", 64, 256, 4, 256, 3, 1, 1, 1},
    {"rn18c_32to64_3x3s2", 64, 32, 28, 64, 3, 2, 1, 1},
    {"rn18c_64to128_3x3s2", 64, 64, 14, 128, 3, 2, 1, 1},
    {"rn18c_128to256_3x3s2", 64, 128, 7, 256, 3, 2, 1, 1},
    {"rn18c_32to64_1x1s2", 64, 32, 28, 64, 1, 2, 0, 1},
    {"resnet64_3x3", 64, 64, 28, 64, 3, 1, 1, 1},
    {"resnet128_3x3", 64, 128, 14, 128, 3, 1, 1, 1},
    {"resnet256_3x3", 64, 256, 7, 256, 3, 1, 1, 1},
    {"resnet512_3x3", 64, 512, 4, 512, 3, 1, 1, 1},
    {"resnet64to128_3x3s2", 64, 64, 28, 128, 3, 2, 1, 1},
    {"resnet128to256_3x3s2", 64, 128, 14, 256, 3, 2, 1, 1},
    {"resnet256to512_3x3s2", 64, 256, 7, 512, 3, 2, 1, 1},
    {"resnet64to128_1x1s2", 64, 64, 28, 128, 1, 2, 0, 1},
    {"resnet128to256_1x1s2", 64, 128, 14, 256, 1, 2, 0, 1},
    {"resnet256to512_1x1s2", 64, 256, 7, 512, 1, 2, 0, 1},
    {"cnn1to32_3x3", 128, 1, 28, 32, 3, 1, 0, 1},
    {"cnn32to64_3x3", 128, 32, 26, 64, 3, 1, 0, 1},
    {"depthwise128_3x3", 64, 128, 14, 128, 3, 1, 1, 128},
};

ConvGeometry geometry(const Shape& s) {
  ConvGeometry g;
  g.N = s.N, g.C_in = s.C_in, g.H = g.W = s.H, g.C_out = s.C_out, g.kh = g.kw = s.k;
  g.sh = g.sw = s.stride, g.ph = g.pw = s.pad, g.groups = s.groups;
  g.OH = g.OW = (s.H + 2 * s.pad - s.k) / s.stride + 1;
  return g;
}

std::vector<float> random_vec(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = u(rng);
  return v;
}

enum class Map { kForward, kInputGrad, kWeightGrad };
enum class Impl { kAuto, kIm2col, kPerSample, kReference };

void run(benchmark::State& state, ConvGeometry g, Map map, Impl impl) {
  const int64_t Cg = g.C_in / g.groups;
  const auto image = random_vec(g.N * g.C_in * g.H * g.W, 1);
  const auto out = random_vec(g.N * g.C_out * g.OH * g.OW, 2);
  const auto weight = random_vec(g.C_out * Cg * g.kh * g.kw, 3);
  const auto bias = random_vec(g.C_out, 4);
  std::vector<float> image_out(image.size()), out_out(out.size()), weight_out(weight.size());
  const ConvPath path = impl == Impl::kPerSample ? ConvPath::kPerSample
                        : impl == Impl::kIm2col  ? ConvPath::kIm2col
                                                 : ConvPath::kAuto;
  for (auto _ : state) {
    switch (map) {
      case Map::kForward:
        if (impl == Impl::kReference)
          wick::cpu::conv2d_forward_reference<float>(g, image.data(), weight.data(), bias.data(), out_out.data());
        else
          wick::cpu::conv2d_forward<float>(g, image.data(), weight.data(), bias.data(), out_out.data(), path);
        benchmark::DoNotOptimize(out_out.data());
        break;
      case Map::kInputGrad:
        if (impl == Impl::kReference)
          wick::cpu::conv2d_transpose_reference<float>(g, out.data(), weight.data(), nullptr, image_out.data());
        else
          wick::cpu::conv2d_transpose<float>(g, out.data(), weight.data(), nullptr, image_out.data(), path);
        benchmark::DoNotOptimize(image_out.data());
        break;
      case Map::kWeightGrad:
        if (impl == Impl::kReference)
          wick::cpu::conv2d_weight_grad_reference<float>(g, image.data(), out.data(), weight_out.data());
        else
          wick::cpu::conv2d_weight_grad<float>(g, image.data(), out.data(), weight_out.data(), path);
        benchmark::DoNotOptimize(weight_out.data());
        break;
    }
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * double(g.N) * double(g.C_out) * double(g.OH * g.OW) * double(Cg * g.kh * g.kw);
  state.counters["FLOPS"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
}

const char* map_name(Map m) {
  return m == Map::kForward ? "forward" : m == Map::kInputGrad ? "input_grad" : "weight_grad";
}

int register_all() {
  for (const Shape& s : kShapes)
    for (Map m : {Map::kForward, Map::kInputGrad, Map::kWeightGrad})
      for (Impl impl : {Impl::kAuto, Impl::kIm2col, Impl::kPerSample}) {
        const char* impl_name = impl == Impl::kAuto ? "auto" : impl == Impl::kIm2col ? "im2col" : "per_sample";
        const std::string name = std::string(s.name) + "/" + map_name(m) + "/" + impl_name;
        benchmark::RegisterBenchmark(name.c_str(), run, geometry(s), m, impl)->Unit(benchmark::kMillisecond)
            ->UseRealTime();
      }
  // The direct reference is too slow for the full shapes: a small one.
  const Shape small{"small16_3x3", 8, 16, 14, 16, 3, 1, 1, 1};
  for (Map m : {Map::kForward, Map::kInputGrad, Map::kWeightGrad})
    for (Impl impl : {Impl::kAuto, Impl::kReference}) {
      const std::string name =
          std::string(small.name) + "/" + map_name(m) + "/" + (impl == Impl::kAuto ? "auto" : "reference");
      benchmark::RegisterBenchmark(name.c_str(), run, geometry(small), m, impl)->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  return 0;
}

const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
