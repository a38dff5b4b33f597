// CUDA elementwise and reduction kernels (cuda/kernels/elementwise.cu,
// reduce.cu) on 64M float32 elements: add (12 bytes moved per element: two
// reads, one write), gelu (8 bytes) and a full sum (4 bytes, the two-pass
// split reduction), plus a strided add (a transposed operand) and sum over
// rows / columns of [8192, 8192] and bias gradients (sums over 8192 rows of
// bfloat16 [8192, 768] and [8192, 3072]), and topk (k = 50 of 8 rows of
// 50257: sort path and radix select), and GPT-2's embedding backward (index_add of 8192 rows of 768
// into 50257: the bucket kernel and the sorted one). Counter: GB/s of the bytes each kernel must
// move, and its fraction of the H100 SXM's 3.35 TB/s HBM3 peak (other cards:
// the peak from the memory clock and bus width the driver reports).
//
// Without a usable GPU it prints "no GPU, skipping" and exits 0.
#include <benchmark/benchmark.h>

#include <cuda_runtime.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <string>

#include "cuda/cuda.h"
#include "cuda/kernels/indexing.h"
#include "cuda/kernels/reduce.h"
#include "cuda/kernels/sort.h"
#include "cuda/runtime.h"
#include "peak.h"
#include "wick.h"

namespace {

constexpr int64_t kN = int64_t{64} << 20;  // 64M elements

// The card's HBM peak in GB/s.
double peak_gbs() {
  static const double gbs = [] {
    const int dev = wick::cuda::current_device();
    const cudaDeviceProp& p = wick::cuda::device_properties(dev);
    // The datasheets' figures: H200 (HBM3e) 4.8 TB/s, H100 SXM (HBM3) 3.35. (Until 2026-11-28 an H200 took
    // the H100's and printed 1.29 of "peak" for a contiguous add.)
    // (Not a GH200, whose memory differs by model: the attributes below.)
    if (p.major == 9 && p.multiProcessorCount == 132 && std::strstr(p.name, "GH200") == nullptr)
      return std::strstr(p.name, "H200") != nullptr ? 4800.0 : 3350.0;
    int khz = 0, bits = 0;
    cudaDeviceGetAttribute(&khz, cudaDevAttrMemoryClockRate, dev);
    cudaDeviceGetAttribute(&bits, cudaDevAttrGlobalMemoryBusWidth, dev);
    return 2.0 * khz * 1e3 * (bits / 8.0) * 1e-9;  // double data rate
  }();
  return gbs;
}

// Times `f` (warmed up once) over batches of 10 calls with the device
// synchronized around each batch (manual time); reports GB/s for `bytes`
// moved per call and the fraction of the HBM peak.
void run(benchmark::State& st, double bytes, const std::function<void()>& f) {
  f();
  wick::cuda::synchronize();
  for (auto _ : st) {
    const double t0 = wick::bench::now_s();
    for (int i = 0; i < 10; ++i) f();
    wick::cuda::synchronize();
    st.SetIterationTime((wick::bench::now_s() - t0) / 10);
  }
  st.counters["GB/s"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["of_peak"] = benchmark::Counter(bytes * 1e-9 / peak_gbs(), benchmark::Counter::kIsIterationInvariantRate);
}

// Drawn on the device (the same Philox streams as the CPU's): Google Benchmark runs a benchmark's setup
// once per iteration-count trial, and 64M normals drawn on the host and copied over took seconds each.
wick::Tensor dev_randn(const wick::Shape& shape) {
  return wick::randn(shape, wick::TensorOptions(wick::kFloat32).device(wick::Device("cuda")));
}

void register_all() {
  using namespace wick;
  auto reg = [](const char* name, double bytes, std::function<std::function<void()>()> make) {
    benchmark::RegisterBenchmark(name, [bytes, make](benchmark::State& st) { run(st, bytes, make()); })
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  };
  const double f = sizeof(float);
  reg("add/contiguous/64M", 3 * f * kN, [] {
    Tensor a = dev_randn({kN}), b = dev_randn({kN});
    return [a, b] { benchmark::DoNotOptimize(add(a, b)); };
  });
  reg("add/transposed_b/8192x8192", 3 * f * kN, [] {
    Tensor a = dev_randn({8192, 8192}), b = dev_randn({8192, 8192}).t();
    return [a, b] { benchmark::DoNotOptimize(add(a, b)); };
  });
  reg("add/scalar/64M", 2 * f * kN, [] {
    Tensor a = dev_randn({kN});
    return [a] { benchmark::DoNotOptimize(add(a, 1.5)); };
  });
  reg("gelu/64M", 2 * f * kN, [] {
    Tensor a = dev_randn({kN});
    return [a] { benchmark::DoNotOptimize(gelu(a)); };
  });
  reg("sum/all/64M", f * kN, [] {
    Tensor a = dev_randn({kN});
    return [a] { benchmark::DoNotOptimize(sum(a)); };
  });
  reg("sum/rows/8192x8192", f * kN, [] {
    Tensor a = dev_randn({8192, 8192});
    return [a] { benchmark::DoNotOptimize(sum(a, {1})); };
  });
  reg("sum/columns/8192x8192", f * kN, [] {
    Tensor a = dev_randn({8192, 8192});
    return [a] { benchmark::DoNotOptimize(sum(a, {0})); };
  });
  // Bias gradients of GPT-2 small's linear layers at 8192 tokens (bfloat16
  // under autocast), by the scalar columns kernel and the vectorized one
  // (WICK_CUDA_REDUCE_VEC; each call sets the switch for itself).
  for (int64_t cols : {768, 3072})
    for (bool vec : {false, true}) {
      const std::string name = "sum/bias_grad/8192x" + std::to_string(cols) + "_bf16/" + (vec ? "vectorized" : "scalar");
      reg(name.c_str(), 2.0 * 8192 * cols, [cols, vec] {
        Tensor a = dev_randn({8192, cols}).to(kBFloat16);
        return [a, vec] {
          cuda::set_reduce_columns_vectorized(vec);
          benchmark::DoNotOptimize(sum(a, {0}));
        };
      });
    }
  // topk of GPT-2 logits (k = 50 of 50257, 8 rows; bytes: one read of the
  // rows) by the sort path and by radix select (WICK_CUDA_TOPK_SELECT).
  for (bool select : {false, true}) {
    const std::string name = std::string("topk/k50/8x50257/") + (select ? "radix_select" : "sort");
    reg(name.c_str(), f * 8 * 50257, [select] {
      Tensor a = dev_randn({8, 50257});
      return [a, select] {
        cuda::set_topk_select(select);
        benchmark::DoNotOptimize(topk(a, 50, 1));
      };
    });
  }
  // GPT-2 small's embedding backward: 8192 token rows of 768 float32 added into the 50257-row gradient
  // (index_add, the bucket kernel and the sorted one, WICK_CUDA_INDEX_ADD_SORTED), with uniform token ids
  // and with skewed ones (a quarter of the tokens one id, as text repeats its commonest tokens). The whole
  // op: the index check (one read-back) and the sort included; bytes: the sources and the rows read and
  // written once, the output's zero fill not included.
  const bool sorted_was = cuda::index_add_sorted();
  for (bool skewed : {false, true})
    for (bool sorted : {false, true}) {
      const std::string name = std::string("index_add/embedding_grad/8192x768_into_50257/") +
                               (skewed ? "skewed/" : "uniform/") + (sorted ? "sorted" : "buckets");
      reg(name.c_str(), 3.0 * f * 8192 * 768, [sorted, skewed, sorted_was] {
        Tensor out = zeros({50257, 768}, TensorOptions(kFloat32).device(Device("cuda")));
        Tensor src = dev_randn({8192, 768});
        Tensor idx = randint(0, 50257, {8192});
        if (skewed) idx = where(lt(randint(0, 4, {8192}), Scalar(int64_t{1})), full({8192}, 13, TensorOptions(kInt64)), idx);
        idx = idx.to(Device("cuda"));
        return [out, src, idx, sorted, sorted_was] {
          cuda::set_index_add_sorted(sorted);
          Tensor o = out;  // (accumulates across calls: the time is the same)
          cuda::index_add(o, 0, idx, src, "index_add");
          cuda::set_index_add_sorted(sorted_was);
        };
      });
    }
}

}  // namespace

int main(int argc, char** argv) {
  if (!wick::cuda::is_available()) {
    std::printf("bench_cuda_elementwise: no GPU, skipping (%s)\n",
                wick::cuda::is_built() ? "no usable CUDA device" : "wick built without CUDA");
    return 0;
  }
  std::printf("HBM peak: %.0f GB/s\n", peak_gbs());
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
