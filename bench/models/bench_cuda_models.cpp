// Whole-model training steps on one GPU, the issue-6 comparisons with PyTorch
// eager (bench/peer/cuda_models.py is the same workloads in PyTorch):
//
//   gpt2      GPT-2 small: vocab 50257, context 1024, 12 layers, 12 heads, width 768, tied head,
//             learned positions (124M parameters); batch 8 x 1024 tokens, AdamW (fused),
//             bfloat16 autocast; reports tokens/s
//   resnet50  ResNet-50 (torchvision layout, v1.5), 3x224x224, 1000 classes (25.6M parameters);
//             batch 64, SGD momentum 0.9, bfloat16 autocast; reports images/s
//
// --dtype fp32 runs either without autocast. Protocol as bench_models: fixed
// seed, random data generated once on the device, `warmup` untimed steps,
// then `steps` timed steps, each ended by reading the loss (a device sync);
// the MEDIAN step time counts. Peak device memory is the caching allocator's
// high-water mark of live tensors.
//
//   bench_cuda_models --workload gpt2 --steps 10 --warmup 3 [--dtype bf16|fp32] [--batch N] [--json]
//                     [--profile ROWS]
//
// --profile ROWS: one more step under the op profiler (autograd/profiler.h,
// device time by CUDA events), its ROWS costliest ops printed after the
// result: where the step's device time goes, op by op (forward ops, backward
// nodes, the optimizer step), without Nsight.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <wick.h>

#include "cuda/cuda.h"

namespace {

using namespace wick;

constexpr uint64_t kSeed = 1234;

// Times the phases of one step when `ms` is set: each phase ends with a device
// synchronize (only in the one diagnostic step after the timed ones).
struct Phases {
  double* ms = nullptr;  // forward, backward, optimizer
  std::chrono::steady_clock::time_point t = std::chrono::steady_clock::now();
  void mark(int i) {
    if (ms == nullptr) return;
    cuda::synchronize();
    const auto now = std::chrono::steady_clock::now();
    ms[i] = std::chrono::duration<double, std::milli>(now - t).count();
    t = now;
  }
};

struct Workload {
  std::function<double(Phases&)> step;  // returns the loss
  int64_t params = 0;
  int64_t items_per_step = 0;  // tokens or images
  const char* unit = "";
};

int64_t count(const std::vector<Tensor>& ps) {
  int64_t n = 0;
  for (const Tensor& p : ps) n += p.numel();
  return n;
}

Workload make_gpt2(int64_t batch, bool bf16) {
  models::GPTConfig c;
  c.vocab_size = 50257;
  c.context_length = 1024;
  c.depth = 12;
  c.width = 768;
  c.heads = 12;
  c.mlp_ratio = 4;
  auto model = std::make_shared<models::GPT>(c);
  model->to(Device("cuda"));
  model->train();
  // 1025 tokens per row: the model reads the first 1024 and predicts the last 1024.
  Tensor tokens = randint(0, c.vocab_size, {batch, c.context_length + 1}, TensorOptions(kInt64)).to(Device("cuda"));
  optim::AdamWOptions o;
  o.lr = 3e-4;
  o.weight_decay = 0.1;
  auto opt = std::make_shared<optim::AdamW>(model->parameters(), o);
  Workload w;
  w.params = count(model->parameters());
  w.items_per_step = batch * c.context_length;
  w.unit = "tokens/s";
  w.step = [model, opt, tokens, bf16](Phases& ph) {
    opt->zero_grad(true);
    Tensor loss;
    {
      Autocast ac(Device("cuda"), kBFloat16, bf16);
      loss = model->loss(tokens);
    }
    ph.mark(0);
    loss.backward();
    ph.mark(1);
    {
      autograd::profiler::RecordFunction r("optimizer.step");
      opt->step();
    }
    ph.mark(2);
    return loss.item<double>();
  };
  return w;
}

Workload make_resnet50(int64_t batch, bool bf16) {
  auto model = std::make_shared<models::ResNet>(models::ResNetBlock::Bottleneck, std::vector<int64_t>{3, 4, 6, 3});
  model->to(Device("cuda"));
  model->train();
  Tensor x = randn({batch, 3, 224, 224}).to(Device("cuda"));
  Tensor y = randint(0, 1000, {batch}, TensorOptions(kInt64)).to(Device("cuda"));
  optim::SGDOptions o;
  o.lr = 0.1;
  o.momentum = 0.9;
  o.weight_decay = 1e-4;
  auto opt = std::make_shared<optim::SGD>(model->parameters(), o);
  Workload w;
  w.params = count(model->parameters());
  w.items_per_step = batch;
  w.unit = "images/s";
  w.step = [model, opt, x, y, bf16](Phases& ph) {
    opt->zero_grad(true);
    Tensor loss;
    {
      Autocast ac(Device("cuda"), kBFloat16, bf16);
      loss = cross_entropy(model->forward(x), y);
    }
    ph.mark(0);
    loss.backward();
    ph.mark(1);
    {
      autograd::profiler::RecordFunction r("optimizer.step");
      opt->step();
    }
    ph.mark(2);
    return loss.item<double>();
  };
  return w;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0.0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void usage(FILE* f) {
  std::fprintf(f,
               "usage: bench_cuda_models --workload gpt2|resnet50 [--steps N=10] [--warmup N=3] [--batch N]\n"
               "                         [--dtype bf16|fp32] [--json] [--profile ROWS]\n"
               "One training step (forward, backward, optimizer) of GPT-2 small (batch 8 x 1024 tokens) or\n"
               "ResNet-50 (batch 64, 224x224) on the current CUDA device; prints the median step time and\n"
               "throughput. bench/peer/cuda_models.py runs the same workloads in PyTorch eager.\n"
               "--profile ROWS: then one more step under the op profiler; prints its ROWS costliest ops by\n"
               "device time (to stderr with --json).\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string workload, dtype = "bf16";
  int steps = 10, warmup = 3, profile_rows = 0;
  int64_t batch = 0;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_cuda_models: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else if (a == "--workload") {
      workload = value();
    } else if (a == "--steps") {
      steps = std::atoi(value().c_str());
    } else if (a == "--warmup") {
      warmup = std::atoi(value().c_str());
    } else if (a == "--batch") {
      batch = std::atoll(value().c_str());
    } else if (a == "--dtype") {
      dtype = value();
    } else if (a == "--json") {
      json = true;
    } else if (a == "--profile") {
      profile_rows = std::atoi(value().c_str());
    } else {
      std::fprintf(stderr, "bench_cuda_models: unknown argument '%s'\n", a.c_str());
      usage(stderr);
      return 2;
    }
  }
  if ((workload != "gpt2" && workload != "resnet50") || (dtype != "bf16" && dtype != "fp32") || steps < 1 ||
      warmup < 0 || batch < 0 || profile_rows < 0) {
    usage(stderr);
    return 2;
  }
  if (!cuda::is_available()) {
    std::fprintf(stderr, "bench_cuda_models: no usable CUDA device\n");
    return 1;
  }
  try {
    manual_seed(kSeed);
    const bool bf16 = dtype == "bf16";
    Workload w = workload == "gpt2" ? make_gpt2(batch > 0 ? batch : 8, bf16) : make_resnet50(batch > 0 ? batch : 64, bf16);
    double loss = 0.0;
    Phases untimed;
    for (int i = 0; i < warmup; ++i) loss = w.step(untimed);
    cuda::reset_peak_memory_stats();
    std::vector<double> ms;
    for (int i = 0; i < steps; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      loss = w.step(untimed);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    const double med = median(ms), per_s = static_cast<double>(w.items_per_step) / (med / 1e3);
    const double peak_mb = static_cast<double>(cuda::memory_stats().peak_allocated) / (1 << 20);
    // One more step, synchronized after each phase, for where the time goes (not in the median).
    double phase_ms[3] = {0, 0, 0};
    Phases timed;
    timed.ms = phase_ms;
    w.step(timed);
    if (json)
      std::printf("{\"framework\": \"wick\", \"workload\": \"%s\", \"dtype\": \"%s\", \"median_ms\": %.3f, "
                  "\"throughput\": %.1f, \"unit\": \"%s\", \"params\": %lld, \"peak_mem_mb\": %.1f, \"loss\": %.5f, "
                  "\"steps\": %d, \"forward_ms\": %.2f, \"backward_ms\": %.2f, \"optimizer_ms\": %.2f}\n",
                  workload.c_str(), dtype.c_str(), med, per_s, w.unit, static_cast<long long>(w.params), peak_mb, loss,
                  steps, phase_ms[0], phase_ms[1], phase_ms[2]);
    else
      std::printf("wick  %-9s %-5s median %9.2f ms  %10.0f %s  params %lld  peak %8.0f MB  loss %.4f\n"
                  "      one synchronized step: forward %.2f ms, backward %.2f ms, optimizer %.2f ms\n",
                  workload.c_str(), dtype.c_str(), med, per_s, w.unit, static_cast<long long>(w.params), peak_mb, loss,
                  phase_ms[0], phase_ms[1], phase_ms[2]);
    if (profile_rows > 0) {
      autograd::profiler::Profile prof(/*use_cuda=*/true);
      prof.start();
      w.step(untimed);
      prof.stop();
      std::fprintf(json ? stderr : stdout, "== %s %s, one step under the op profiler (device time by CUDA events)\n%s",
                   workload.c_str(), dtype.c_str(), prof.table(profile_rows).c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda_models: %s\n", e.what());
    return 1;
  }
  return 0;
}
