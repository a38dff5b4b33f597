// CUDA scaled_dot_product_attention: wick's fused kernel
// (cuda/kernels/attention.cu) against wick's composed path
// (scaled_dot_product_attention_math: matmul, where, softmax, matmul, which
// materializes the [B, H, L, L] scores) at GPT-2 small's attention shape,
// B = 8, H = 12, L = S = 1024, D = 64, causal, in bfloat16 and float32; the
// forward alone and forward + backward (dQ, dK, dV through autograd).
//
// FLOPs counted as FlashAttention's benchmarks do (useful work only, causal
// halves it): forward 4 B H L S D, backward 10 B H L S D (2.5x the forward),
// so forward + backward 14 B H L S D. The fused backward actually does 14
// (it recomputes the scores in its dQ kernel): TFLOP/s here is
// useful-work throughput, comparable with bench/peer/cuda_attention.py,
// which prints the same table for torch.nn.functional.scaled_dot_product_attention.
// The bf16 rows time wick's opt-in attention paths, and the earlier defaults, beside the defaults too.
// A second table times wick's fused kernel against cuDNN's SDPA node
// (cuda/vendor/cudnn_attention.h, when this build has cuDNN) on the same
// shape without the causal mask, the case cuDNN 9.19's backend API takes.
// Last, bf16 at head dim 128 (B8 H12 L1024 D128 causal): the default (the
// general backward; the wgmma and mma.sync FA2 backwards take head dim 64)
// beside the opt-in mma.sync FA2 backward at head dim 128 (+hd128,
// WICK_CUDA_ATTENTION_FA2_BWD_HD128).
//
//   bench_cuda_attention                         the table: each implementation timed alternately,
//   bench_cuda_attention --rounds=R              batch by batch, median over R rounds (default 5)
//   bench_cuda_attention --no-optin              the defaults alone (no opt-in rows: a kernel not yet
//                                                run on a GPU that traps would end the whole table)
//   bench_cuda_attention --benchmark             Google Benchmark instead (--benchmark_filter=... etc.)
// Without a usable GPU it prints "no GPU, skipping" and exits 0.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "cuda/cuda.h"
#include "cuda/kernels/attention.h"
#include "cuda/kernels/attention_fa2.h"
#include "cuda/vendor/cudnn.h"
#include "peak.h"
#include "wick.h"

namespace {

using wick::DType;
using wick::Tensor;

struct Problem {
  int64_t B, H, L, D;
  bool causal;
};
const Problem kGpt2{8, 12, 1024, 64, true};
const Problem kFull{8, 12, 1024, 64, false};  // cuDNN's node takes no causal mask (cudnn_attention.h)
const Problem kHd128{8, 12, 1024, 128, true};

// Fused with switches of cuda/kernels/attention_fa2.h set for its calls. Off, the paths on by default
// since 2026-11-28: the backward loading Q and dO by TMA (with lse and D by cp.async) and its bulk dQ
// reduction, the forward loading its tiles by TMA, the grids in LPT order; each, the last two together
// (the defaults before the third lease) and all four (the defaults before the first). On, the opt-in
// ones: the lean softmax (in the TMA forward), the warp-specialized forward (which takes precedence over
// the TMA one), the backward staging lse and D by cp.async (TMA off: the TMA backward, which includes
// that staging, takes precedence).
enum class Impl { Fused, Math, Cudnn, Lean, Ws, RowsAsync, Hd128, NoBulk, NoTma, NoFwdTma, NoLpt, Before3, Before };
const char* impl_name(Impl i) {
  switch (i) {
    case Impl::Fused: return "wick-fused";
    case Impl::Math: return "wick-math";
    case Impl::Cudnn: return "cudnn";
    case Impl::Lean: return "+lean";
    case Impl::Ws: return "+ws";
    case Impl::RowsAsync: return "+rowsasync";
    case Impl::Hd128: return "+hd128";
    case Impl::NoBulk: return "-bulk";
    case Impl::NoTma: return "-tma";
    case Impl::NoFwdTma: return "-fwdtma";
    case Impl::NoLpt: return "-lpt";
    case Impl::Before3: return "-fwdtma-lpt";
    case Impl::Before: return "-all";
  }
  return "?";
}

// The switches impl sets: 1 on, 0 off, -1 as configured (the defaults, or the environment's WICK_CUDA_*).
struct OptIns {
  int lean = -1, ws = -1, rows_async = -1, dq_bulk = -1, bwd_tma = -1, fwd_tma = -1, lpt = -1, hd128 = -1;
};
OptIns opt_ins(Impl i) {
  OptIns s;
  switch (i) {
    case Impl::Lean: s.lean = 1, s.ws = 0, s.fwd_tma = 1; break;
    case Impl::Ws: s.ws = 1; break;
    case Impl::RowsAsync: s.rows_async = 1, s.bwd_tma = 0; break;
    case Impl::Hd128: s.hd128 = 1; break;
    case Impl::NoBulk: s.dq_bulk = 0; break;
    case Impl::NoTma: s.bwd_tma = 0; break;
    case Impl::NoFwdTma: s.fwd_tma = 0, s.ws = 0; break;
    case Impl::NoLpt: s.lpt = 0; break;
    case Impl::Before3: s.fwd_tma = 0, s.lpt = 0, s.ws = 0; break;
    case Impl::Before: s.bwd_tma = 0, s.dq_bulk = 0, s.fwd_tma = 0, s.lpt = 0, s.ws = 0; break;
    default: break;
  }
  return s;
}

// Each opt-in switch: its accessors, the OptIns field that sets it and the counter of the launches it
// makes.
struct Switch {
  bool (*get)();
  void (*set)(bool);
  int OptIns::*want;
  int64_t (*launches)();
};
const Switch kSwitches[] = {
    {wick::cuda::attention_wgmma_lean, wick::cuda::set_attention_wgmma_lean, &OptIns::lean,
     wick::cuda::attention_wgmma_lean_launches},
    {wick::cuda::attention_wgmma_ws, wick::cuda::set_attention_wgmma_ws, &OptIns::ws,
     wick::cuda::attention_wgmma_ws_launches},
    {wick::cuda::attention_wgmma_backward_rows_async, wick::cuda::set_attention_wgmma_backward_rows_async,
     &OptIns::rows_async, wick::cuda::attention_wgmma_backward_rows_async_launches},
    {wick::cuda::attention_wgmma_backward_dq_bulk, wick::cuda::set_attention_wgmma_backward_dq_bulk,
     &OptIns::dq_bulk, wick::cuda::attention_wgmma_backward_dq_bulk_launches},
    {wick::cuda::attention_wgmma_backward_tma, wick::cuda::set_attention_wgmma_backward_tma, &OptIns::bwd_tma,
     wick::cuda::attention_wgmma_backward_tma_launches},
    {wick::cuda::attention_wgmma_forward_tma, wick::cuda::set_attention_wgmma_forward_tma, &OptIns::fwd_tma,
     wick::cuda::attention_wgmma_forward_tma_launches},
    {wick::cuda::attention_lpt, wick::cuda::set_attention_lpt, &OptIns::lpt, wick::cuda::attention_lpt_launches},
    {wick::cuda::attention_fa2_backward_hd128, wick::cuda::set_attention_fa2_backward_hd128, &OptIns::hd128,
     wick::cuda::attention_fa2_backward_hd128_launches},
};
constexpr size_t kNumSwitches = sizeof kSwitches / sizeof kSwitches[0];

// Sets the switches impl names for its lifetime, then restores them.
class OptInScope {
 public:
  explicit OptInScope(Impl i) {
    const OptIns s = opt_ins(i);
    for (size_t k = 0; k < kNumSwitches; ++k) {
      prev_[k] = kSwitches[k].get();
      if (s.*kSwitches[k].want >= 0) kSwitches[k].set(s.*kSwitches[k].want == 1);
    }
  }
  ~OptInScope() {
    for (size_t k = 0; k < kNumSwitches; ++k) kSwitches[k].set(prev_[k]);
  }
  OptInScope(const OptInScope&) = delete;
  OptInScope& operator=(const OptInScope&) = delete;

 private:
  bool prev_[kNumSwitches];
};
const char* short_dtype(DType dt) { return dt == wick::kFloat32 ? "fp32" : "bf16"; }

double fwd_flops(const Problem& p) { return 4.0 * p.B * p.H * p.L * p.L * p.D * (p.causal ? 0.5 : 1.0); }

struct Operands {
  Tensor q, k, v, gy;
  Operands(const Problem& p, DType dt) {
    const auto opt = wick::TensorOptions(dt).device(wick::Device("cuda"));
    wick::Generator g(1234);
    q = wick::randn({p.B, p.H, p.L, p.D}, opt, &g).requires_grad_(true);
    k = wick::randn({p.B, p.H, p.L, p.D}, opt, &g).requires_grad_(true);
    v = wick::randn({p.B, p.H, p.L, p.D}, opt, &g).requires_grad_(true);
    gy = wick::randn({p.B, p.H, p.L, p.D}, opt, &g);
  }
};

Tensor attend(const Operands& o, Impl impl, bool causal) {
  if (impl == Impl::Math) return wick::scaled_dot_product_attention_math(o.q, o.k, o.v, {}, 0.0, causal);
  wick::cuda::set_attention_backend(impl == Impl::Cudnn ? wick::cuda::AttentionBackend::Cudnn
                                                        : wick::cuda::AttentionBackend::Wick);
  return wick::scaled_dot_product_attention(o.q, o.k, o.v, {}, 0.0, causal);
}

// One forward (no graph recorded) or one forward + backward.
void step(const Operands& o, Impl impl, bool causal, bool backward) {
  if (!backward) {
    wick::NoGradGuard ng;
    attend(o, impl, causal);
    return;
  }
  Tensor y = attend(o, impl, causal);
  wick::autograd::grad({y}, {o.q, o.k, o.v}, {o.gy});
}

// Seconds per call of `calls` back-to-back steps (host clock around a synchronized batch).
double time_calls(const Operands& o, Impl impl, bool causal, bool backward, int calls) {
  const OptInScope opt(impl);
  wick::cuda::synchronize();
  const double t0 = wick::bench::now_s();
  for (int i = 0; i < calls; ++i) step(o, impl, causal, backward);
  wick::cuda::synchronize();
  return (wick::bench::now_s() - t0) / calls;
}

std::string shape_label(const Problem& p) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "B%ld H%ld L%ld D%ld %s", static_cast<long>(p.B), static_cast<long>(p.H),
                static_cast<long>(p.L), static_cast<long>(p.D), p.causal ? "causal" : "full");
  return buf;
}

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

// Rows of the table for problem p in dtype dt: the implementations timed
// alternately, batch by batch, median over the rounds.
void rows(const Problem& p, DType dt, const std::vector<Impl>& impls, int rounds) {
  Operands o(p, dt);
  if (!wick::scaled_dot_product_attention_uses_flash(o.q, o.k, o.v))
    std::printf("warning: the fused kernel does not take %s at this shape\n", short_dtype(dt));
  const size_t n = impls.size();
  std::vector<std::vector<double>> t(2 * n);  // [impl * 2 + backward]
  // Warm-up (allocator cache, plans); for the opt-in rows, whether their kernels ran at all (launch
  // counters): where they do not apply (not sm_90, another head dim) a row times the default path.
  std::vector<std::string> not_taken;
  for (size_t i = 0; i < n; ++i) {
    int64_t launched[kNumSwitches];
    for (size_t k = 0; k < kNumSwitches; ++k) launched[k] = kSwitches[k].launches();
    for (int b = 0; b < 2; ++b) time_calls(o, impls[i], p.causal, b, 2);
    const OptIns on = opt_ins(impls[i]);
    bool ran = true;
    for (size_t k = 0; k < kNumSwitches; ++k)
      if (on.*kSwitches[k].want == 1 && kSwitches[k].launches() == launched[k]) ran = false;
    if (!ran)
      not_taken.push_back(impl_name(impls[i]));
  }
  for (int r = 0; r < rounds; ++r)
    for (int b = 0; b < 2; ++b)
      for (size_t i = 0; i < n; ++i) t[2 * i + b].push_back(time_calls(o, impls[i], p.causal, b, 5));
  for (size_t i = 0; i < n; ++i) {
    const double f = median(t[2 * i]), fb = median(t[2 * i + 1]);
    std::printf("%-12s %-5s %-26s %9.3f %9.2f %11.3f %11.2f\n", impl_name(impls[i]), short_dtype(dt),
                shape_label(p).c_str(), f * 1e3, fwd_flops(p) / f * 1e-12, fb * 1e3, 3.5 * fwd_flops(p) / fb * 1e-12);
  }
  for (const std::string& name : not_taken)
    std::printf("(%s: its opt-in kernel did not run here, so the row times the default path)\n", name.c_str());
  std::fflush(stdout);
}

// The table (the same columns as bench/peer/cuda_attention.py prints).
int table(int rounds, bool optin) {
  std::printf("%-12s %-5s %-26s %9s %9s %11s %11s\n", "impl", "dtype", "shape", "fwd_ms", "fwd_TF/s", "fwdbwd_ms",
              "fwdbwd_TF/s");
  // bf16 causal: also the opt-in paths on the wgmma kernels (sm_90, head dim 64; elsewhere the same kernels
  // as wick-fused), in the same interleaving.
  if (optin)
    rows(kGpt2, wick::kBFloat16,
         {Impl::Fused, Impl::Before, Impl::Before3, Impl::NoTma, Impl::NoBulk, Impl::NoFwdTma, Impl::NoLpt,
          Impl::Lean, Impl::Ws, Impl::RowsAsync, Impl::Math},
         rounds);
  else
    rows(kGpt2, wick::kBFloat16, {Impl::Fused, Impl::Math}, rounds);
  rows(kGpt2, wick::kFloat32, {Impl::Fused, Impl::Math}, rounds);
  if (wick::cuda::vendor::cudnn_built())
    rows(kFull, wick::kBFloat16, {Impl::Fused, Impl::Cudnn}, rounds);
  else
    std::printf("(no cuDNN in this build: no cudnn rows)\n");
  wick::cuda::set_attention_backend(wick::cuda::AttentionBackend::Wick);
  // (Last: gpu_check's Nsight Compute runs profile the first launches, the GPT-2 shape's.)
  rows(kHd128, wick::kBFloat16, optin ? std::vector<Impl>{Impl::Fused, Impl::Hd128, Impl::Math}
                                      : std::vector<Impl>{Impl::Fused, Impl::Math},
       rounds);
  std::printf("(median of %d rounds of 5 calls, implementations interleaved; TF/s of useful work: fwd 4BHLLD, "
              "fwd+bwd 14BHLLD, halved for causal; cudnn's backward is wick's where cuDNN builds no backward plan;\n"
              " -tma, -bulk, -fwdtma, -lpt: wick-fused with WICK_CUDA_ATTENTION_WGMMA_BWD_TMA, _BWD_DQ_BULK,\n"
              " _WGMMA_FWD_TMA or _LPT off (-lpt: the backward's grid alone, the TMA forward always taking LPT\n"
              " order); -fwdtma-lpt: the last two off (the defaults before the third lease of\n"
              " 2026-11-28); -all: all four off (the defaults before 2026-11-28); +lean, +ws, +rowsasync: with the\n"
              " opt-in WICK_CUDA_ATTENTION_WGMMA_LEAN (in the TMA forward), _WS or _BWD_ROWS_ASYNC (and _BWD_TMA\n"
              " off) on; +hd128: with the opt-in WICK_CUDA_ATTENTION_FA2_BWD_HD128 on)\n",
              rounds);
  return 0;
}

void register_all() {
  for (DType dt : {wick::kBFloat16, wick::kFloat32})
    for (Impl impl : {Impl::Fused, Impl::Math})
      for (bool backward : {false, true}) {
        const std::string name = std::string(impl_name(impl)) + " " + short_dtype(dt) + " " + shape_label(kGpt2) +
                                 (backward ? " fwd+bwd" : " fwd");
        benchmark::RegisterBenchmark(name.c_str(),
                                     [dt, impl, backward](benchmark::State& st) {
                                       Operands o(kGpt2, dt);
                                       time_calls(o, impl, kGpt2.causal, backward, 2);
                                       double total = 0;
                                       for (auto _ : st) {
                                         const double s = time_calls(o, impl, kGpt2.causal, backward, 1);
                                         st.SetIterationTime(s);
                                         total += s;
                                       }
                                       st.counters["TFLOP/s"] = (backward ? 3.5 : 1.0) * fwd_flops(kGpt2) *
                                                                st.iterations() / total * 1e-12;
                                     })
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
      }
}

}  // namespace

int main(int argc, char** argv) {
  if (!wick::cuda::is_available()) {
    std::printf("bench_cuda_attention: no GPU, skipping (%s)\n",
                wick::cuda::is_built() ? "no usable CUDA device" : "wick built without CUDA");
    return 0;
  }
  bool gbench = false, optin = true;
  int rounds = 5;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--benchmark") == 0) gbench = true;
    if (std::strcmp(argv[i], "--no-optin") == 0) optin = false;
    if (std::strncmp(argv[i], "--rounds=", 9) == 0) rounds = std::max(1, std::atoi(argv[i] + 9));
  }
  if (!gbench) return table(rounds, optin);
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
