// Model-level benchmarks: one training step (forward + backward + optimizer
// step, float32) of the reference workloads of issue 4, timed step by step.
//
//   mlp        MLP 784-512-512-10 (ReLU), batch 256, Adam
//   cnn        conv3x3(1->32) ReLU conv3x3(32->64) ReLU maxpool2 flatten fc(9216->128) ReLU fc(128->10),
//              no padding (the PyTorch MNIST example), 1x28x28, batch 128, SGD momentum 0.9
//   resnet18   ResNet-18, 28x28 grayscale stem (3x3 stride 1, no max-pool), widths 32/64/128/256,
//              batch 64, SGD momentum 0.9
//   vit        ViT-tiny: patch 4 on 28x28 (49 tokens + class token), dim 128, depth 6, 4 heads, MLP 512,
//              batch 128, AdamW
//   gpt        GPT-tiny: bytes (vocab 256), context 128, dim 256, 4 layers, 4 heads, batch 16, AdamW, causal
//   adamw10m   AdamW step alone on 10M parameters (10 tensors [1000, 1000], fixed random gradients)
//   lion10m    Lion step alone on the same 10M parameters
//
// Every workload: fixed seed, random data generated once, `warmup` untimed
// steps, then `steps` timed steps; the MEDIAN step time is the number that
// counts (the mean is printed beside it). The process's peak RSS
// (getrusage ru_maxrss) is per workload only when one workload runs per
// process, so run them one at a time. bench/peer/models.py is the same in
// PyTorch; bench/peer/run.py alternates the two (scripts/bench_peer.sh).
//
// Two modes:
//   bench_models --benchmark_filter=mlp [--benchmark_repetitions=...]   Google Benchmark; the counters
//                                                                       median_ms, peak_rss_mb, params
//   bench_models --workload mlp --steps 30 --warmup 5 --json            one JSON line (for the peer script)
//   bench_models --workload resnet18 --profile 25                        then one step under the op profiler
//                                                                       (autograd/profiler.h): host time by op
// Threads: WICK_NUM_THREADS (default: all cores).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <wick.h>

#include "tensor/allocator.h"

namespace {

using namespace wick;

// One step of a workload, its parameter count and its last loss (a sanity check
// that the step computes something finite; NaN for the optimizer-only workloads).
struct Workload {
  std::function<void()> step;
  int64_t params = 0;
  double last_loss = 0.0;
};

constexpr uint64_t kSeed = 1234;

int64_t count(const std::vector<Tensor>& ps) {
  int64_t n = 0;
  for (const auto& p : ps) n += p.numel();
  return n;
}

// A classifier step: loss = cross_entropy(model(x), y), then the optimizer step.
template <class Model, class Opt>
std::unique_ptr<Workload> classifier(std::shared_ptr<Model> model, std::unique_ptr<Opt> opt, Tensor x, Tensor y) {
  auto w = std::make_unique<Workload>();
  model->train();
  w->params = count(model->parameters());
  Workload* self = w.get();
  std::shared_ptr<Opt> o(std::move(opt));
  w->step = [self, model, o, x, y] {
    o->zero_grad(true);
    Tensor loss = cross_entropy(model->forward(x), y);
    loss.backward();
    {
      autograd::profiler::RecordFunction r("optimizer.step");
      o->step();
    }
    self->last_loss = loss.item<double>();
  };
  return w;
}

std::unique_ptr<Workload> make_mlp() {
  auto model = std::make_shared<models::MLP>(784, std::vector<int64_t>{512, 512}, 10, "relu");
  Tensor x = randn({256, 784});
  Tensor y = randint(0, 10, {256}, TensorOptions(kInt64));
  optim::AdamOptions o;
  o.lr = 1e-3;
  return classifier(model, std::make_unique<optim::Adam>(model->parameters(), o), x, y);
}

std::unique_ptr<Workload> make_cnn() {
  auto model = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Conv2d>(1, 32, 3), std::make_shared<nn::ReLU>(), std::make_shared<nn::Conv2d>(32, 64, 3),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Flatten>(),
      std::make_shared<nn::Linear>(9216, 128), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(128, 10)});
  Tensor x = randn({128, 1, 28, 28});
  Tensor y = randint(0, 10, {128}, TensorOptions(kInt64));
  optim::SGDOptions o;
  o.lr = 0.01;
  o.momentum = 0.9;
  return classifier(model, std::make_unique<optim::SGD>(model->parameters(), o), x, y);
}

std::unique_ptr<Workload> make_resnet18() {
  models::ResNetOptions ro;
  ro.num_classes = 10;
  ro.in_channels = 1;
  ro.small_input = true;
  ro.width = 32;
  auto model = models::resnet18(ro);
  Tensor x = randn({64, 1, 28, 28});
  Tensor y = randint(0, 10, {64}, TensorOptions(kInt64));
  optim::SGDOptions o;
  o.lr = 0.01;
  o.momentum = 0.9;
  return classifier(model, std::make_unique<optim::SGD>(model->parameters(), o), x, y);
}

std::unique_ptr<Workload> make_vit() {
  models::ViTConfig c;
  c.image_size = 28;
  c.patch_size = 4;
  c.channels = 1;
  c.depth = 6;
  c.width = 128;
  c.heads = 4;
  c.mlp_ratio = 4;
  c.num_classes = 10;
  auto model = std::make_shared<models::ViT>(c);
  Tensor x = randn({128, 1, 28, 28});
  Tensor y = randint(0, 10, {128}, TensorOptions(kInt64));
  optim::AdamWOptions o;
  o.lr = 1e-3;
  o.weight_decay = 0.01;
  return classifier(model, std::make_unique<optim::AdamW>(model->parameters(), o), x, y);
}

std::unique_ptr<Workload> make_gpt() {
  models::GPTConfig c;
  c.vocab_size = 256;
  c.context_length = 128;
  c.depth = 4;
  c.width = 256;
  c.heads = 4;
  c.mlp_ratio = 4;
  auto model = std::make_shared<models::GPT>(c);
  model->train();
  // 129 bytes per row: the model reads the first 128 and predicts the last 128.
  Tensor tokens = randint(0, 256, {16, 129}, TensorOptions(kInt64));
  optim::AdamWOptions o;
  o.lr = 3e-4;
  o.weight_decay = 0.01;
  auto opt = std::make_shared<optim::AdamW>(model->parameters(), o);
  auto w = std::make_unique<Workload>();
  w->params = count(model->parameters());
  Workload* self = w.get();
  w->step = [self, model, opt, tokens] {
    opt->zero_grad(true);
    Tensor loss = model->loss(tokens);
    loss.backward();
    {
      autograd::profiler::RecordFunction r("optimizer.step");
      opt->step();
    }
    self->last_loss = loss.item<double>();
  };
  return w;
}

// The optimizer alone: 10 matrices [1000, 1000] whose gradients are fixed random tensors.
template <class Opt, class Options>
std::unique_ptr<Workload> optimizer_only(Options o) {
  std::vector<Tensor> params;
  for (int i = 0; i < 10; ++i) {
    Tensor p = randn({1000, 1000});
    p.requires_grad_(true);
    p.set_grad(mul(randn({1000, 1000}), Scalar(0.01)));
    params.push_back(p);
  }
  auto opt = std::make_shared<Opt>(params, o);
  auto w = std::make_unique<Workload>();
  w->params = count(params);
  w->last_loss = std::nan("");
  w->step = [opt] { opt->step(); };
  return w;
}

std::unique_ptr<Workload> make_adamw10m() {
  optim::AdamWOptions o;
  o.lr = 1e-3;
  o.weight_decay = 0.01;
  return optimizer_only<optim::AdamW>(o);
}

std::unique_ptr<Workload> make_lion10m() {
  optim::LionOptions o;
  o.lr = 1e-4;
  o.weight_decay = 0.1;
  return optimizer_only<optim::Lion>(o);
}

const std::vector<std::pair<std::string, std::function<std::unique_ptr<Workload>()>>>& workloads() {
  static const std::vector<std::pair<std::string, std::function<std::unique_ptr<Workload>()>>> w = {
      {"mlp", make_mlp},   {"cnn", make_cnn},           {"resnet18", make_resnet18}, {"vit", make_vit},
      {"gpt", make_gpt},   {"adamw10m", make_adamw10m}, {"lion10m", make_lion10m}};
  return w;
}

std::unique_ptr<Workload> make(const std::string& name) {
  manual_seed(kSeed);
  for (const auto& [n, f] : workloads())
    if (n == name) return f();
  std::string names;
  for (const auto& [n, f] : workloads()) names += (names.empty() ? "" : ", ") + n;
  std::fprintf(stderr, "bench_models: unknown workload '%s' (known: %s)\n", name.c_str(), names.c_str());
  std::exit(2);
}

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // Linux: kilobytes
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// ---- Google Benchmark mode ----------------------------------------------------------------

constexpr int kWarmup = 5;
constexpr int kSteps = 30;

void run_benchmark(benchmark::State& state, const std::string& name) {
  auto w = make(name);
  for (int i = 0; i < kWarmup; ++i) w->step();
  std::vector<double> times;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    w->step();
    const double s = seconds_since(t0);
    state.SetIterationTime(s);
    times.push_back(s);
  }
  state.counters["median_ms"] = median(times) * 1e3;
  state.counters["peak_rss_mb"] = peak_rss_mb();
  state.counters["params"] = static_cast<double>(w->params);
  state.counters["threads"] = get_num_threads();
  state.counters["loss"] = w->last_loss;
}

void register_benchmarks() {
  for (const auto& [n, f] : workloads()) {
    const std::string name = n;
    benchmark::RegisterBenchmark(("model/" + name).c_str(),
                                 [name](benchmark::State& s) { run_benchmark(s, name); })
        ->UseManualTime()
        ->Iterations(kSteps)
        ->Unit(benchmark::kMillisecond);
  }
}

// ---- plain mode (bench/peer/run.py) -------------------------------------------------------

int run_plain(const std::string& name, int steps, int warmup, bool json, int profile_rows) {
  const double rss_before = peak_rss_mb();
  auto w = make(name);
  for (int i = 0; i < warmup; ++i) w->step();
  // Blocks the caching allocator had to request from the system during the timed steps
  // (0 in a steady state once the cache is warm).
  const int64_t sys_allocs_before = memory_stats().system_allocs;
  std::vector<double> times;
  for (int i = 0; i < steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    w->step();
    times.push_back(seconds_since(t0) * 1e3);
  }
  const double med = median(times);
  const double mean = std::accumulate(times.begin(), times.end(), 0.0) / std::max<size_t>(times.size(), 1);
  const double mn = times.empty() ? 0.0 : *std::min_element(times.begin(), times.end());
  const MemoryStats ms = memory_stats();
  // JSON has no NaN: the optimizer-only workloads have no loss.
  const std::string loss_json = std::isfinite(w->last_loss) ? str(w->last_loss) : std::string("null");
  if (json) {
    std::printf(
        "{\"framework\": \"wick\", \"workload\": \"%s\", \"median_ms\": %.4f, \"mean_ms\": %.4f, \"min_ms\": %.4f, "
        "\"peak_rss_mb\": %.1f, \"start_rss_mb\": %.1f, \"alloc_peak_mb\": %.1f, \"timed_system_allocs\": %lld, "
        "\"params\": %lld, "
        "\"threads\": %d, \"steps\": %d, \"warmup\": %d, \"loss\": %s}\n",
        name.c_str(), med, mean, mn, peak_rss_mb(), rss_before, static_cast<double>(ms.peak) / (1024.0 * 1024.0),
        static_cast<long long>(ms.system_allocs - sys_allocs_before), static_cast<long long>(w->params),
        get_num_threads(), steps, warmup, loss_json.c_str());
  } else {
    std::printf("%-10s median %9.3f ms  mean %9.3f ms  min %9.3f ms  peak RSS %8.1f MB  params %lld  threads %d  "
                "loss %.5g\n",
                name.c_str(), med, mean, mn, peak_rss_mb(), static_cast<long long>(w->params), get_num_threads(),
                w->last_loss);
  }
  if (profile_rows > 0) {
    autograd::profiler::Profile prof;
    prof.start();
    w->step();
    prof.stop();
    std::fprintf(json ? stderr : stdout, "== %s, one step under the op profiler (host time)\n%s", name.c_str(),
                 prof.table(profile_rows).c_str());
  }
  std::fflush(stdout);
  return 0;
}

void usage() {
  std::printf(
      "bench_models: one training step of wick's reference workloads.\n"
      "  bench_models --workload NAME [--steps N] [--warmup N] [--json]   median step time, peak RSS, params\n"
      "               [--profile ROWS]                                   then one step under the op profiler\n"
      "  bench_models --list                                             the workload names\n"
      "  bench_models [Google Benchmark flags, e.g. --benchmark_filter=mlp]\n"
      "Threads: WICK_NUM_THREADS.\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string workload;
  int steps = kSteps, warmup = kWarmup, profile_rows = 0;
  bool json = false, plain = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&](const char* flag) -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_models: %s needs a value\n", flag);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--workload") {
      workload = next("--workload");
      plain = true;
    } else if (a == "--steps") {
      steps = std::atoi(next("--steps").c_str());
    } else if (a == "--warmup") {
      warmup = std::atoi(next("--warmup").c_str());
    } else if (a == "--json") {
      json = true;
    } else if (a == "--profile") {
      profile_rows = std::atoi(next("--profile").c_str());
    } else if (a == "--list") {
      for (const auto& [n, f] : workloads()) std::printf("%s\n", n.c_str());
      return 0;
    } else if (a == "--help" || a == "-h") {
      usage();
      return 0;
    }
  }
  if (plain) {
    if (steps < 1 || warmup < 0 || profile_rows < 0) {
      std::fprintf(stderr, "bench_models: --steps must be >= 1, --warmup and --profile >= 0\n");
      return 2;
    }
    return run_plain(workload, steps, warmup, json, profile_rows);
  }
  register_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
