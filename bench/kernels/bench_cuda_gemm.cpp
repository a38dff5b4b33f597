// CUDA GEMM: wick's kernels (cuda/kernels/gemm.cu: SIMT for float32, mma.sync
// tensor cores for bfloat16) against cuBLAS and cuBLASLt (cuda/vendor/cublas.cpp) on the
// same operands, at 4096^3 and at the linear-layer shapes of GPT-2 small with
// 8192 tokens (B = 8 sequences of T = 1024): forward y = x W^T (NT), and the
// backward products dX = dY W (NN) and dW = dY^T X (TN). FLOPs: 2 M N K.
// Counters: TFLOP/s, the fraction of the card's datasheet dense peak (H100
// SXM: 989 TFLOP/s bf16, 67 TFLOP/s fp32; the card is named from its SM count
// and compute capability, other cards get SMs x clock x per-SM rate), and in
// --compare the ratio wick / cuBLAS (and cuBLASLt / cuBLAS: the two vendor
// entry points can pick different kernels for one shape).
//
//   bench_cuda_gemm                        Google Benchmark (wick and cuBLAS registered alternately)
//   bench_cuda_gemm --compare [--rounds=R] one table: wick, cuBLAS and cuBLASLt timed alternately, batch by
//                                          batch, median TFLOP/s over R rounds (the ratio to trust)
//                   [--only=fp32|bf16]     one dtype's rows
//                   [--lean]               wick's defaults, cuBLAS and cuBLASLt, and the opt-in paths not
//                                          yet decided on (ck, l2, fx, sk, kv, sk+kv), not every variant column (the GPU
//                                          check's default: a third of the time)
//                   [--no-pending]         without those opt-in columns (one not yet run on a GPU that
//                                          traps would end the whole table)
//                   [--rows=SUBSTR]        only the rows whose label contains SUBSTR (e.g. "768x768x8192":
//                                          what a profiler run under Nsight Compute looks at)
// Without a usable GPU it prints "no GPU, skipping" and exits 0.
#include <benchmark/benchmark.h>

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

#include "cuda/cuda.h"
#include "cuda/kernels/gemm.h"
#include "cuda/runtime.h"
#include "cuda/kernels/gemm_sm90.h"
#include "cuda/runtime.h"
#include "peak.h"
#include "wick.h"

namespace {

using wick::DType;
using wick::Tensor;
using wick::cuda::GemmBackend;

struct Shape {
  int64_t M, N, K;
  bool ta, tb;  // A stored transposed ([K, M]), B stored transposed ([N, K])
  const char* what;
};

const Shape kShapes[] = {
    {4096, 4096, 4096, false, false, "square NN"},
    {8192, 2304, 768, false, true, "gpt2 qkv fwd NT"},
    {8192, 768, 768, false, true, "gpt2 attn proj fwd NT"},
    {8192, 3072, 768, false, true, "gpt2 fc fwd NT"},
    {8192, 768, 3072, false, true, "gpt2 fc proj fwd NT"},
    {8192, 768, 2304, false, false, "gpt2 qkv bwd dX NN"},
    {2304, 768, 8192, true, false, "gpt2 qkv bwd dW TN"},
    {768, 768, 8192, true, false, "gpt2 attn proj bwd dW TN"},
    {3072, 768, 8192, true, false, "gpt2 fc bwd dW TN"},
    {768, 3072, 8192, true, false, "gpt2 fc proj bwd dW TN"},
    {64, 200704, 576, false, false, "resnet50 layer1 3x3 fwd (64 images) NN"},
};

// The card and its datasheet dense peaks (TFLOP/s).
struct Card {
  std::string name;
  double bf16_tflops = 0, f32_tflops = 0;
};

const Card& card() {
  static const Card c = [] {
    const cudaDeviceProp& p = wick::cuda::device_properties(wick::cuda::current_device());
    int khz = 0;
    cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, wick::cuda::current_device());
    const double ghz = khz * 1e-6;
    Card r;
    char buf[256];
    if (p.major == 9 && p.multiProcessorCount == 132) {  // the H200 has the H100 SXM's SMs and peaks
      r = {std::strstr(p.name, "H200") ? "H200 (H100 SXM peaks)" : "H100 SXM", 989.4, 66.9};
    } else if (p.major == 9 && p.multiProcessorCount == 114) {
      r = {"H100 PCIe", 756.5, 51.2};
    } else if (p.major == 8 && p.minor == 0 && p.multiProcessorCount == 108) {
      r = {"A100", 312.0, 19.5};
    } else {
      // Per SM and clock: fp32 FMA lanes x 2, dense 16-bit tensor FLOPs.
      const double f32_per_clk = (p.major >= 9 || (p.major == 8 && p.minor > 0) ? 128 : 64) * 2.0;
      const double tc_per_clk = p.major >= 9 ? 4096 : p.major == 8 ? (p.minor == 0 ? 2048 : 1024) : 512;
      r = {"unlisted card (peaks estimated from SMs x clock)", p.multiProcessorCount * tc_per_clk * ghz * 1e-3,
           p.multiProcessorCount * f32_per_clk * ghz * 1e-3};
    }
    std::snprintf(buf, sizeof buf, "%s [%s, sm_%d%d, %d SMs, %.2f GHz max clock]", r.name.c_str(), p.name, p.major,
                  p.minor, p.multiProcessorCount, ghz);
    r.name = buf;
    return r;
  }();
  return c;
}

double peak(DType dt) { return dt == wick::kFloat32 ? card().f32_tflops : card().bf16_tflops; }

// Device operands of one shape and dtype (random normal values) and the
// GemmArgs that multiply them.
struct Operands {
  Tensor a, b, c;
  wick::cuda::GemmArgs g;
  Operands(const Shape& s, DType dt) {
    const wick::Device dev("cuda");
    a = wick::randn(s.ta ? wick::Shape{s.K, s.M} : wick::Shape{s.M, s.K}).to(dev).to(dt);
    b = wick::randn(s.tb ? wick::Shape{s.N, s.K} : wick::Shape{s.K, s.N}).to(dev).to(dt);
    c = wick::empty({s.M, s.N}, wick::TensorOptions(dt).device(dev));
    g.M = s.M, g.N = s.N, g.K = s.K;
    g.trans_a = s.ta, g.trans_b = s.tb;
    g.A = a.data_ptr_raw(), g.lda = s.ta ? s.M : s.K;
    g.B = b.data_ptr_raw(), g.ldb = s.tb ? s.K : s.N;
    g.C = c.data_ptr_raw(), g.ldc = s.N;
    g.ab_dtype = dt, g.c_dtype = dt;
  }
};

// Switch settings for a timed batch (cuda/kernels/gemm.h): -1 leaves a switch as configured (the
// defaults, or the environment's), 0 turns it off, 1 on.
struct Switches {
  int stream_k = -1, narrow = -1, persistent = -1, store = -1, rows64 = -1;  // the bf16 wgmma TMA kernel's
  int simt_async = -1, simt_rows64 = -1, simt_tk = -1;  // the float32 cp.async kernel, its 64-row tiles, copies
  int simt_sk = -1;                                      // the float32 cp.async kernel's hybrid stream-K
  int simt_kv = -1;  // the float32 cp.async kernel's 16-byte k-contiguous copies moved in shared memory
  int cluster_k = -1;                                    // bf16 cluster split-K
  int sk_l2 = -1;                                        // bf16 stream-K's partials kept in L2
  int sk_fused = -1;                                     // bf16 stream-K's fixup fused into the GEMM kernel
};

// Sets the switches `s` names for its lifetime, then restores them.
class SwitchesScope {
 public:
  explicit SwitchesScope(const Switches& s) {
    namespace c = wick::cuda;
    set(c::wgmma_stream_k, c::set_wgmma_stream_k, s.stream_k);
    set(c::wgmma_narrow_tiles, c::set_wgmma_narrow_tiles, s.narrow);
    set(c::wgmma_persistent, c::set_wgmma_persistent, s.persistent);
    set(c::wgmma_tma_store, c::set_wgmma_tma_store, s.store);
    set(c::wgmma_rows64, c::set_wgmma_rows64, s.rows64);
    set(c::gemm_simt_async, c::set_gemm_simt_async, s.simt_async);
    set(c::gemm_simt_rows64, c::set_gemm_simt_rows64, s.simt_rows64);
    set(c::gemm_simt_transpose_k, c::set_gemm_simt_transpose_k, s.simt_tk);
    set(c::gemm_simt_stream_k, c::set_gemm_simt_stream_k, s.simt_sk);
    set(c::gemm_simt_kvec, c::set_gemm_simt_kvec, s.simt_kv);
    set(c::wgmma_cluster_k, c::set_wgmma_cluster_k, s.cluster_k);
    set(c::wgmma_stream_k_l2, c::set_wgmma_stream_k_l2, s.sk_l2);
    set(c::wgmma_stream_k_fused, c::set_wgmma_stream_k_fused, s.sk_fused);
  }
  ~SwitchesScope() {
    for (const Saved& v : saved_) v.set(v.was);
  }
  SwitchesScope(const SwitchesScope&) = delete;
  SwitchesScope& operator=(const SwitchesScope&) = delete;

 private:
  struct Saved {
    void (*set)(bool);
    bool was;
  };
  void set(bool (*get)(), void (*setter)(bool), int want) {
    if (want < 0) return;
    saved_.push_back({setter, get()});
    setter(want == 1);
  }
  std::vector<Saved> saved_;
};

// The opt-in paths of the pending columns with their launch counters (cuda/kernels/gemm.h, gemm_sm90.h):
// a column that turns one on but leaves its counter where it was timed the default for that row.
struct OptInCounter {
  int Switches::*field;
  int64_t (*products)();
  const char* column;
  const char* path;
};
const OptInCounter kOptInCounters[] = {
    {&Switches::cluster_k, wick::cuda::wgmma_cluster_k_products, "ck", "cluster split-K"},
    {&Switches::sk_l2, wick::cuda::wgmma_stream_k_l2_products, "l2", "stream-K"},
    {&Switches::sk_fused, wick::cuda::wgmma_stream_k_fused_products, "fx", "fused stream-K"},
    {&Switches::simt_sk, wick::cuda::gemm_simt_stream_k_products, "sk", "hybrid stream-K"},
    {&Switches::simt_kv, wick::cuda::gemm_simt_kvec_products, "kv", "16-byte k-contiguous copy"},
};

// Seconds per call of `calls` back-to-back launches (host clock around a
// synchronized batch; a batch is tens of ms, so the sync costs nothing), with
// the switches `sw` sets for the batch. `queued`, if given: seconds per call
// the host took to queue them (the loop before the closing sync). Where that
// is most of a call's time, the host, not the GPU, sets the pace: a product of
// tens of microseconds can be, with its per-call planning, tensor maps,
// workspace and launches. (Only for a batch shorter than the launch queue: a
// longer one waits for room in it at the GPU's pace.)
double time_calls(Operands& o, GemmBackend be, int calls, const Switches& sw = {}, double* queued = nullptr) {
  const SwitchesScope scope(sw);
  wick::cuda::synchronize();
  const double t0 = wick::bench::now_s();
  for (int i = 0; i < calls; ++i) wick::cuda::gemm(o.g, be);
  const double t1 = wick::bench::now_s();
  wick::cuda::synchronize();
  if (queued != nullptr) *queued = (t1 - t0) / calls;
  return (wick::bench::now_s() - t0) / calls;
}

std::string label(const Shape& s, DType dt) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "%s %ldx%ldx%ld %s", dt == wick::kFloat32 ? "fp32" : "bf16", static_cast<long>(s.M),
                static_cast<long>(s.N), static_cast<long>(s.K), s.what);
  return buf;
}

void bench_body(benchmark::State& state, const Shape& s, DType dt, GemmBackend be) {
  Operands o(s, dt);
  time_calls(o, be, 2);  // warm-up: module load, cuBLAS heuristics
  double total = 0;
  for (auto _ : state) {
    const double t = time_calls(o, be, 1);
    state.SetIterationTime(t);
    total += t;
  }
  const double tflops = 2.0 * s.M * s.N * s.K * state.iterations() / total * 1e-12;
  state.counters["TFLOP/s"] = tflops;
  state.counters["peak_frac"] = tflops / peak(dt);
}

void register_all() {
  for (DType dt : {wick::kBFloat16, wick::kFloat32})
    for (const Shape& s : kShapes)
      for (GemmBackend be : {GemmBackend::Default, GemmBackend::Wick, GemmBackend::Cublas, GemmBackend::CublasLt}) {
        // (default: what a tensor op takes; wick: the mma.sync / SIMT kernels, sm_90 included.)
        const char* who = be == GemmBackend::Default ? "default" : wick::cuda::gemm_backend_name(be);
        const std::string name = std::string(who) + " " + label(s, dt);
        benchmark::RegisterBenchmark(name.c_str(), [s, dt, be](benchmark::State& st) { bench_body(st, s, dt, be); })
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
      }
}

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

// --compare: wick (the defaults), wick's register-staged SIMT kernel (float32 rows, sm_80+: the default
// there is the cp.async one), wick's
// wgmma kernel (16-bit inputs on compute capability 9.0) as is, with stream-K, with 192-wide tiles where they are chosen, with
// persistent tiles (and 192-wide ones where chosen), then the last two with
// the TMA store epilogue, cuBLAS and cuBLASLt alternately, one timed batch
// (~50 ms) each per round.
int compare(int rounds, const std::vector<DType>& dtypes, bool lean, bool pending, const std::string& only_rows) {
  const bool sm90 = wick::cuda::wgmma_supported(wick::cuda::current_device());
  struct Alt {
    GemmBackend be;
    Switches sw;  // time_calls' switch settings
    const char* name;
    bool pending = false;  // an opt-in path not yet decided on: timed in --lean too, where it applies
  };
  // The alternate columns. float32 rows: the register-staged SIMT kernel (sm_80+). bf16 rows, on
  // compute capability 9.0: the wgmma kernel with {stream-K, 192-wide, persistent, TMA store, 64-row tiles
  // where M <= 64}.
  // (-r64: the cp.async kernel without its 64 x 256 tiles, rows of M <= 64 only.)
  // (-tk: the cp.async kernel on k-contiguous operands as they are, rows where the defaults copy them.)
  // (sk: the defaults with the hybrid stream-K where its plan takes it: pending. kv: the defaults with the
  // k-contiguous operands copied 16 bytes at a time and moved in shared memory instead of copied first:
  // pending; sk+kv: both.)
  const Alt f32_alts[] = {{GemmBackend::Wick, {.simt_async = 0}, "regs"},
                          {GemmBackend::Wick, {.simt_async = 1, .simt_rows64 = 0}, "-r64"},
                          {GemmBackend::Wick, {.simt_async = 1, .simt_tk = 0}, "-tk"},
                          {GemmBackend::Default, {.simt_sk = 1}, "sk", true},
                          {GemmBackend::Default, {.simt_kv = 1}, "kv", true},
                          {GemmBackend::Default, {.simt_sk = 1, .simt_kv = 1}, "sk+kv", true}};
  // The wgmma kernel's {stream-K, 192-wide, persistent, TMA store, 64-row} switches per column.
  auto wg = [](int sk, int narrow, int persistent, int store, int rows64) {
    return Switches{.stream_k = sk, .narrow = narrow, .persistent = persistent, .store = store, .rows64 = rows64};
  };
  const Alt wgmma_alts[] = {
      {GemmBackend::Wgmma, wg(0, 0, 0, 0, 0), "wgmma"},  {GemmBackend::Wgmma, wg(1, 0, 0, 0, 0), "+sk"},
      {GemmBackend::Wgmma, wg(0, 1, 0, 0, 0), "+192"},   {GemmBackend::Wgmma, wg(0, 1, 1, 0, 0), "+p"},
      {GemmBackend::Wgmma, wg(1, 0, 0, 1, 0), "+sk+st"}, {GemmBackend::Wgmma, wg(0, 1, 1, 1, 0), "+p+st"},
      {GemmBackend::Wgmma, wg(0, 1, 1, 0, 1), "+p+64r"}};
  // (ck: the defaults with cluster split-K where its plan takes it; l2: with stream-K's partials kept in L2
  // where stream-K runs; fx: with stream-K's fixup fused into the GEMM kernel; bf16 on compute capability 9.0.)
  const Alt wgmma_pending[] = {{GemmBackend::Default, {.cluster_k = 1}, "ck", true},
                               {GemmBackend::Default, {.sk_l2 = 1}, "l2", true},
                               {GemmBackend::Default, {.sk_fused = 1}, "fx", true}};
  std::vector<Alt> cols;
  for (const Alt& a : f32_alts)
    if ((!lean || a.pending) && (pending || !a.pending)) cols.push_back(a);
  const int kF32 = static_cast<int>(cols.size());
  if (!lean) cols.insert(cols.end(), std::begin(wgmma_alts), std::end(wgmma_alts));
  if (pending) cols.insert(cols.end(), std::begin(wgmma_pending), std::end(wgmma_pending));
  const int kCols = static_cast<int>(cols.size());
  const bool sm80 = wick::cuda::device_properties(wick::cuda::current_device()).major >= 8;
  if (wick::cuda::default_gemm_backend() != GemmBackend::Default)
    std::printf("(WICK_CUDA_GEMM is set: the wick column times %s, not wick's own choice)\n",
                wick::cuda::gemm_backend_name(wick::cuda::default_gemm_backend()));
  std::printf("%-44s %9s", "shape (MxNxK)", "wick");
  for (const Alt& a : cols) std::printf(" %9s", a.name);
  std::printf(" %9s %9s %7s", "cublas", "cublasLt", "ratio");
  for (const Alt& a : cols) std::printf(" %7s", (std::string(a.name) + "/").c_str());
  std::printf(" %7s %9s %9s\n", "lt/", "best/pk", "cublas/pk");
  for (DType dt : dtypes)
    for (const Shape& s : kShapes) {
      if (!only_rows.empty() && label(s, dt).find(only_rows) == std::string::npos) continue;
      Operands o(s, dt);
      const double flops = 2.0 * s.M * s.N * s.K;
      // Which of `cols` this row times, and where in `alts` each one's times are (-1: not timed).
      // (wick: GemmBackend::Default, the path a tensor op takes: the wgmma kernels for 16-bit products on
      // sm_90. GemmBackend::Wick would name the mma.sync / SIMT kernels on every device.)
      std::vector<Alt> alts = {
          {GemmBackend::Default, {}, "wick"}, {GemmBackend::Cublas, {}, "cublas"}, {GemmBackend::CublasLt, {}, "cublasLt"}};
      std::vector<int> at(kCols, -1);
      for (int i = 0; i < kCols; ++i) {
        const Switches& sw = cols[i].sw;
        const bool applies = i < kF32 ? dt == wick::kFloat32 && sm80 && (sw.simt_rows64 != 0 || s.M <= 64) &&
                                            (sw.simt_tk != 0 || (!s.ta && s.N >= 512) || (s.tb && s.M >= 512))
                                      : dt == wick::kBFloat16 && sm90;
        if (applies) at[i] = static_cast<int>(alts.size()), alts.push_back(cols[i]);
      }
      auto run = [&](const Alt& a, int calls, double* queued = nullptr) {
        return time_calls(o, a.be, calls, a.sw, queued);
      };
      double one = 0;
      bool r64_fell_back = false;  // the default's 64-row kernel did not run (its launch counter): -r64 times the default
      bool tk_fell_back = false;   // likewise the default copied no operand: -tk times the default
      // Likewise an opt-in column whose path's counter did not move (its plan did not take the row).
      std::vector<bool> optin_fell_back(std::size(kOptInCounters), false);
      for (const Alt& a : alts) {
        const int64_t tk_before = wick::cuda::gemm_simt_transposed_operands();
        const int64_t r64_before = wick::cuda::gemm_simt_rows64_products();
        std::vector<int64_t> optin_before;
        for (const OptInCounter& c : kOptInCounters) optin_before.push_back(c.products());
        run(a, 2);
        // (The -r64 and -tk notes print only where those columns are timed, i.e. where the paths apply.)
        const bool f32_default = a.be == GemmBackend::Default && dt == wick::kFloat32;
        if (f32_default && wick::cuda::gemm_simt_rows64_products() == r64_before) r64_fell_back = true;
        if (f32_default && wick::cuda::gemm_simt_transposed_operands() == tk_before) tk_fell_back = true;
        for (size_t j = 0; j < std::size(kOptInCounters); ++j)
          if (a.sw.*kOptInCounters[j].field == 1 && kOptInCounters[j].products() == optin_before[j])
            optin_fell_back[j] = true;
      }
      for (const Alt& a : alts) one = std::max(one, run(a, 1));
      const int calls = std::max(1, static_cast<int>(0.05 / std::max(one, 1e-6)));
      std::vector<std::vector<double>> t(alts.size());
      for (int r = 0; r < rounds; ++r)
        for (size_t i = 0; i < alts.size(); ++i) t[i].push_back(flops / run(alts[i], calls) * 1e-12);
      const double mw = median(t[0]), mc = median(t[1]), ml = median(t[2]);
      double best = mw;
      std::string vals, rats;
      for (int i = 0; i < kCols; ++i) {
        char v[32] = "-", r[32] = "-";
        if (at[i] >= 0) {
          const double m = median(t[at[i]]);
          best = std::max(best, m);
          std::snprintf(v, sizeof v, "%.1f", m);
          std::snprintf(r, sizeof r, "%.3f", m / mc);
        }
        char col[48];
        std::snprintf(col, sizeof col, " %9s", v);
        vals += col;
        std::snprintf(col, sizeof col, " %7s", r);
        rats += col;
      }
      std::printf("%-44s %9.1f%s %9.1f %9.1f %7.3f%s %7.3f %9.3f %9.3f\n", label(s, dt).c_str(), mw, vals.c_str(), mc,
                  ml, mw / mc, rats.c_str(), ml / mc, best / peak(dt), mc / peak(dt));
      // (-r64 and -tk: only where the row times those columns: where they apply, not under --lean.)
      auto timed = [&](int Switches::*field) {
        return std::any_of(alts.begin(), alts.end(), [&](const Alt& a) { return a.sw.*field == 0; });
      };
      if (r64_fell_back && timed(&Switches::simt_rows64))
        std::printf("  (-r64: the defaults did not take the 64-row kernel for this row)\n");
      if (tk_fell_back && timed(&Switches::simt_tk))
        std::printf("  (-tk: the defaults copied no operand for this row)\n");
      // Columns whose host needs most of a call's time to queue it: their figure may be the host's pace
      // rather than the kernels'. The host's time per call from a batch of kHostCalls queued after a
      // sync (short of the launch queue's depth, so that no launch waits for room in it).
      // (Calls of 200 us and more: not measured, a host needs far less.)
      constexpr int kHostCalls = 32;
      std::string host_bound;
      for (size_t i = 0; i < alts.size(); ++i) {
        const double call = flops / (median(t[i]) * 1e12);
        if (call >= 200e-6) continue;
        double queued = 0;
        run(alts[i], kHostCalls, &queued);
        if (queued >= 0.9 * call) {
          char h[96];
          std::snprintf(h, sizeof h, "%s%s %.1f of %.1f us", host_bound.empty() ? "" : ", ", alts[i].name,
                        1e6 * queued, 1e6 * call);
          host_bound += h;
        }
      }
      if (!host_bound.empty())
        std::printf("  (host-bound? queueing a call takes most of its time: %s)\n", host_bound.c_str());
      for (size_t j = 0; j < std::size(kOptInCounters); ++j)
        if (optin_fell_back[j])
          std::printf("  (%s: no %s for this row; the columns that turn it on ran without it)\n",
                      kOptInCounters[j].column, kOptInCounters[j].path);
      std::fflush(stdout);
    }
  std::printf("(TFLOP/s, medians of %d interleaved rounds; ratio = wick / cublas; wick = the defaults (float32:\n"
              " the cp.async SIMT kernel with split-K on sm_80+, 64 x 256 tiles where M <= 64, k-contiguous\n"
              " operands copied m/n-contiguous first where the other dimension is >= 512, the copies timed;\n"
              " bf16 on sm_90: stream-K under one wave, else persistent tiles, 192-wide where chosen, the TMA\n"
              " store, 64-row tiles where M <= 64);\n"
              " ck = bf16 with cluster split-K where its plan takes it (opt-in WICK_CUDA_GEMM_CLUSTER_K);\n"
              " l2 = bf16 with stream-K's partials kept in L2 where stream-K runs (opt-in WICK_CUDA_GEMM_SK_L2);\n"
              " fx = bf16 with stream-K's fixup fused into the GEMM kernel (opt-in WICK_CUDA_GEMM_SK_FUSED);\n"
              " sk = float32 with the hybrid stream-K where its plan takes it (opt-in WICK_CUDA_SIMT_STREAMK);\n"
              " kv = float32 with k-contiguous operands copied 16 bytes at a time and moved in shared memory\n"
              " instead of copied first (opt-in WICK_CUDA_SIMT_KVEC); sk+kv = both;\n",
              rounds);
  if (!lean)
    std::printf(" regs = float32 on the register-staged SIMT kernel (WICK_CUDA_SIMT_ASYNC=0); wgmma = the TMA kernel\n"
                " with every option off, +sk = with stream-K (WICK_CUDA_GEMM_STREAMK), +192 = 192-wide tiles where\n"
                " chosen (WICK_CUDA_WGMMA_N192), +p = persistent tiles and 192-wide ones where chosen\n"
                " (WICK_CUDA_GEMM_PERSISTENT), +st = with the TMA store epilogue (WICK_CUDA_GEMM_TMA_STORE),\n"
                " +64r = 64-row tiles where M <= 64 (WICK_CUDA_GEMM_ROWS64); -r64 = float32 without its 64-row\n"
                " tiles (WICK_CUDA_SIMT_ROWS64=0), -tk = float32 on k-contiguous operands as they are\n"
                " (WICK_CUDA_SIMT_TRANSPOSE_K=0); name/ = that column / cublas;\n");
  std::printf(" lt/ = cublasLt / cublas; pk = datasheet dense peak)\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (!wick::cuda::is_available()) {
    std::printf("bench_cuda_gemm: no GPU, skipping (%s)\n",
                wick::cuda::is_built() ? "no usable CUDA device" : "wick built without CUDA");
    return 0;
  }
  bool cmp = false, lean = false, pending = true;
  int rounds = 7;
  std::string only_rows;
  std::vector<DType> dtypes = {wick::kBFloat16, wick::kFloat32};
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--compare") == 0) cmp = true;
    if (std::strcmp(argv[i], "--lean") == 0) lean = true;
    if (std::strcmp(argv[i], "--no-pending") == 0) pending = false;
    if (std::strncmp(argv[i], "--rows=", 7) == 0) only_rows = argv[i] + 7;
    if (std::strncmp(argv[i], "--rounds=", 9) == 0) rounds = std::max(1, std::atoi(argv[i] + 9));
    if (std::strcmp(argv[i], "--only=fp32") == 0) dtypes = {wick::kFloat32};
    if (std::strcmp(argv[i], "--only=bf16") == 0) dtypes = {wick::kBFloat16};
  }
  std::printf("device: %s\npeaks: bf16 %.1f TFLOP/s, fp32 %.1f TFLOP/s\n", card().name.c_str(), card().bf16_tflops,
              card().f32_tflops);
  if (cmp) return compare(rounds, dtypes, lean, pending, only_rows);
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
