// CUDA convolution: wick's kernels (cuda/kernels/conv.cu: the implicit GEMM,
// plain 1x1s through the GEMM, and with WICK_CUDA_CONV_IM2COL=1 the column
// path for the rest) against cuDNN (cuda/vendor/cudnn.cpp) on the same tensors, at the
// convolution shapes of ResNet-50 (torchvision v1.5, stride on the 3x3
// convolutions) with a batch of 32, for the three maps a training step runs:
// forward, input gradient (conv2d_transpose) and weight gradient.
// FLOPs per map: 2 N C_out OH OW (C_in/groups) kh kw.
// Counters: TFLOP/s, and in --compare the ratio wick / cuDNN.
//
//   bench_cuda_conv                        Google Benchmark (wick and cuDNN registered alternately)
//   bench_cuda_conv --compare [--rounds=R] one table: wick and cuDNN timed alternately, batch by
//                                          batch, median TFLOP/s over R rounds (the ratio to trust)
// Without a usable GPU it prints "no GPU, skipping" and exits 0; without
// cuDNN in the build only wick's column is measured.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cuda/cuda.h"
#include "cuda/kernels/conv.h"
#include "peak.h"
#include "wick.h"

namespace {

using wick::DType;
using wick::Tensor;
using wick::cuda::ConvBackend;
using wick::cuda::ConvGeometry;

struct Layer {
  int64_t C_in, HW, C_out, k, stride;
  const char* what;
};

// ResNet-50's distinct convolution shapes (input size HW x HW).
const Layer kLayers[] = {
    {3, 224, 64, 7, 2, "conv1 7x7/2"},          {64, 56, 64, 1, 1, "layer1 1x1 reduce"},
    {64, 56, 64, 3, 1, "layer1 3x3"},           {64, 56, 256, 1, 1, "layer1 1x1 expand"},
    {128, 56, 128, 3, 2, "layer2 3x3/2"},       {128, 28, 512, 1, 1, "layer2 1x1 expand"},
    {256, 28, 256, 3, 2, "layer3 3x3/2"},       {256, 14, 256, 3, 1, "layer3 3x3"},
    {256, 14, 1024, 1, 1, "layer3 1x1 expand"}, {512, 7, 512, 3, 1, "layer4 3x3"},
    {512, 7, 2048, 1, 1, "layer4 1x1 expand"}, {256, 56, 512, 1, 2, "layer2 downsample 1x1/2"},
};
constexpr int64_t kBatch = 32;

enum class Map { Forward, InputGrad, WeightGrad };
const char* map_name(Map m) { return m == Map::Forward ? "fwd" : m == Map::InputGrad ? "dgrad" : "wgrad"; }

struct Operands {
  ConvGeometry g;
  Tensor image, weight, map;            // inputs
  Tensor out_map, out_image, out_weight;  // outputs (the inputs stay unchanged)
  Operands(const Layer& l, DType dt) {
    const wick::Device dev("cuda");
    g.N = kBatch, g.C_in = l.C_in, g.H = l.HW, g.W = l.HW, g.C_out = l.C_out, g.kh = l.k, g.kw = l.k;
    g.sh = g.sw = l.stride, g.ph = g.pw = l.k / 2;
    g.OH = (g.H + 2 * g.ph - g.kh) / g.sh + 1, g.OW = (g.W + 2 * g.pw - g.kw) / g.sw + 1;
    image = wick::randn({g.N, g.C_in, g.H, g.W}).to(dev).to(dt);
    weight = wick::randn({g.C_out, g.C_in, g.kh, g.kw}).to(dev).to(dt);
    map = wick::randn({g.N, g.C_out, g.OH, g.OW}).to(dev).to(dt);
    out_map = wick::empty_like(map);
    out_image = wick::empty_like(image);
    out_weight = wick::empty_like(weight);
  }
  double flops() const { return 2.0 * g.N * g.C_out * g.OH * g.OW * (g.C_in / g.groups) * g.kh * g.kw; }
  void run(Map m, ConvBackend be) {
    switch (m) {
      case Map::Forward: wick::cuda::conv2d_forward(g, image, weight, Tensor(), out_map, be); break;
      case Map::InputGrad: wick::cuda::conv2d_transpose(g, map, weight, Tensor(), out_image, be); break;
      case Map::WeightGrad: wick::cuda::conv2d_weight_grad(g, image, map, out_weight, be); break;
    }
  }
};

double time_calls(Operands& o, Map m, ConvBackend be, int calls) {
  wick::cuda::synchronize();
  const double t0 = wick::bench::now_s();
  for (int i = 0; i < calls; ++i) o.run(m, be);
  wick::cuda::synchronize();
  return (wick::bench::now_s() - t0) / calls;
}

std::string label(const Layer& l, Map m, DType dt) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s %-5s %s (%ld->%ld @%ld)", dt == wick::kFloat32 ? "fp32" : "bf16", map_name(m),
                l.what, static_cast<long>(l.C_in), static_cast<long>(l.C_out), static_cast<long>(l.HW));
  return buf;
}

std::vector<ConvBackend> backends() {
  std::vector<ConvBackend> b = {ConvBackend::Wick};
  if (wick::cuda::cudnn_available()) b.push_back(ConvBackend::Cudnn);
  return b;
}

void register_all() {
  for (DType dt : {wick::kBFloat16, wick::kFloat32})
    for (const Layer& l : kLayers)
      for (Map m : {Map::Forward, Map::InputGrad, Map::WeightGrad})
        for (ConvBackend be : backends()) {
          const std::string name = std::string(wick::cuda::conv_backend_name(be)) + " " + label(l, m, dt);
          benchmark::RegisterBenchmark(name.c_str(),
                                       [l, m, dt, be](benchmark::State& st) {
                                         Operands o(l, dt);
                                         time_calls(o, m, be, 2);  // warm-up: module load, cuDNN algorithm search
                                         double total = 0;
                                         for (auto _ : st) {
                                           const double t = time_calls(o, m, be, 1);
                                           st.SetIterationTime(t);
                                           total += t;
                                         }
                                         st.counters["TFLOP/s"] = o.flops() * st.iterations() / total * 1e-12;
                                       })
              ->UseManualTime()
              ->Unit(benchmark::kMillisecond);
        }
}

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

// --compare: wick and cuDNN alternately, one timed batch (~30 ms) each per round.
int compare(int rounds) {
  const bool cudnn = wick::cuda::cudnn_available();
  std::printf("%-52s %9s %9s %7s\n", "layer (batch 32)", "wick", "cudnn", "ratio");
  for (DType dt : {wick::kBFloat16, wick::kFloat32})
    for (const Layer& l : kLayers) {
      Operands o(l, dt);
      for (Map m : {Map::Forward, Map::InputGrad, Map::WeightGrad}) {
        time_calls(o, m, ConvBackend::Wick, 1);
        if (cudnn) time_calls(o, m, ConvBackend::Cudnn, 1);
        const double one = time_calls(o, m, ConvBackend::Wick, 1);
        const int calls = std::max(1, static_cast<int>(0.03 / std::max(one, 1e-6)));
        std::vector<double> tw, tc;
        for (int r = 0; r < rounds; ++r) {
          tw.push_back(o.flops() / time_calls(o, m, ConvBackend::Wick, calls) * 1e-12);
          if (cudnn) tc.push_back(o.flops() / time_calls(o, m, ConvBackend::Cudnn, calls) * 1e-12);
        }
        const double mw = median(tw), mc = cudnn ? median(tc) : 0;
        std::printf("%-52s %9.2f %9.2f %7.3f\n", label(l, m, dt).c_str(), mw, mc, cudnn ? mw / mc : 0.0);
        std::fflush(stdout);
      }
    }
  std::printf("(TFLOP/s, medians of %d interleaved rounds%s)\n", rounds, cudnn ? "" : "; no cuDNN in this build");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (!wick::cuda::is_available()) {
    std::printf("bench_cuda_conv: no GPU, skipping (%s)\n",
                wick::cuda::is_built() ? "no usable CUDA device" : "wick built without CUDA");
    return 0;
  }
  bool cmp = false;
  int rounds = 5;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--compare") == 0) cmp = true;
    if (std::strncmp(argv[i], "--rounds=", 9) == 0) rounds = std::max(1, std::atoi(argv[i] + 9));
  }
  if (cmp) return compare(rounds);
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
