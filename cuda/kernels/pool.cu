// CUDA pooling and resampling (contracts: cuda/kernels/pool.h and
// ops/cpu/pool.h). One thread per element written, grid-stride loops, every
// kernel memory-bound:
//   max_pool2d           reads kh*kw inputs per output (L1/L2 serve the
//                        overlap), writes the value and the int64 argmax;
//   max_pool2d_backward  per input element, the candidate outputs whose
//                        window covers it (about ceil(k d / s)^2 of them),
//                        reading their argmax and, on a match, the gradient;
//   window_avg           reads the window, one divide per output;
//   window_avg_adjoint   per input element, the contiguous ranges of output
//                        rows and columns whose window covers it (see below);
//   resample             2 (nearest: 1) taps per axis;
//   resample_adjoint     per input element, the output rows/columns that tap
//                        it, from transposed (CSR) tap lists built on the host.
// Writing every backward as a gather makes it deterministic and atomic-free;
// each gradient element is written once, so nothing needs zeroing first.
//
// Why the avg-window adjoint is two ranges: avg_pool2d's windows
// [max(o s - p, 0), min(o s - p + k, in)) and adaptive pooling's
// [floor(o in / out), ceil((o + 1) in / out)) have starts and ends that never
// decrease with o, so the windows containing input row i are exactly the o
// with r0[o] <= i < r1[o]: the run from the first o with r1[o] > i to the
// last with r0[o] <= i (found on the host by binary search; the monotonicity
// is checked there).
//
// Reads are not coalesced across a warp for strided pooling (stride s makes
// a warp's window starts s apart), which is the usual trade for the simple
// one-thread-per-output form; the planes are small enough that L1/L2 absorb it.
// Bandwidth and the fraction of peak are not measured yet: these kernels were
// written and compiled without a GPU (tests/cuda/test_pool.cpp checks them
// against the CPU kernels on a lent one).
#include "cuda/kernels/pool.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "autograd/grad_mode.h"
#include "cuda/kernels/device_types.cuh"
#include "cuda/kernels/strided.cuh"
#include "cuda/runtime.h"
#include "ops/creation.h"

namespace wick::cuda {

namespace {

constexpr unsigned kThreads = 256;

// ---- max pooling ------------------------------------------------------------

struct MaxGeo {
  int64_t H, W, OH, OW, kh, kw, sh, sw, ph, pw, dh, dw;
};
MaxGeo max_geo(const cpu::MaxPoolGeometry& g) {
  return {g.H, g.W, g.OH, g.OW, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw};
}

template <typename A>
__device__ __forceinline__ bool is_nan(A v) {
  return v != v;
}

template <typename T>
__global__ void max_pool2d_kernel(T* __restrict__ out, int64_t* __restrict__ idx, const T* __restrict__ x,
                                  MaxGeo g, int64_t total) {
  using A = compute_t<T>;
  const int64_t OHW = g.OH * g.OW;
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const int64_t p = t / OHW, r = t - p * OHW, oh = r / g.OW, ow = r - oh * g.OW;
    const T* in = x + p * g.H * g.W;
    // The first tap inside the input (the padding is skipped a dilation step
    // at a time, as on the CPU).
    int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
    const int64_t h1 = min(h0 + (g.kh - 1) * g.dh + 1, g.H), w1 = min(w0 + (g.kw - 1) * g.dw + 1, g.W);
    if (h0 < 0) h0 += ((-h0 + g.dh - 1) / g.dh) * g.dh;
    if (w0 < 0) w0 += ((-w0 + g.dw - 1) / g.dw) * g.dw;
    A best = -INFINITY;
    int64_t best_i = (h0 < h1 && w0 < w1) ? h0 * g.W + w0 : -1;
    for (int64_t h = h0; h < h1; h += g.dh)
      for (int64_t w = w0; w < w1; w += g.dw) {
        const A v = to_compute<A>(in[h * g.W + w]);
        if (v > best || is_nan(v)) {  // the first maximum; a NaN wins (the last one)
          best = v;
          best_i = h * g.W + w;
        }
      }
    out[t] = from_compute<T>(best);
    idx[t] = best_i;
  }
}

// gx[p, h, w] = sum of gy[p, oh, ow] over the outputs with idx == h W + w.
// Output row oh's window covers rows [oh sh - ph, oh sh - ph + (kh-1) dh], so
// the candidates for row h are oh in [ceil((h + ph - (kh-1) dh) / sh),
// floor((h + ph) / sh)] within [0, OH); the argmax test settles the dilation
// gaps and ties. Summed in output order, as the CPU's scatter.
template <typename T>
__global__ void max_pool2d_backward_kernel(T* __restrict__ gx, const T* __restrict__ gy,
                                           const int64_t* __restrict__ idx, MaxGeo g, int64_t total) {
  using A = compute_t<T>;
  const int64_t HW = g.H * g.W, OHW = g.OH * g.OW;
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const int64_t p = t / HW, r = t - p * HW, h = r / g.W, w = r - h * g.W;
    const int64_t hs = h + g.ph - (g.kh - 1) * g.dh, ws = w + g.pw - (g.kw - 1) * g.dw;
    const int64_t oh0 = hs <= 0 ? 0 : (hs + g.sh - 1) / g.sh, oh1 = min((h + g.ph) / g.sh + 1, g.OH);
    const int64_t ow0 = ws <= 0 ? 0 : (ws + g.sw - 1) / g.sw, ow1 = min((w + g.pw) / g.sw + 1, g.OW);
    const int64_t* ip = idx + p * OHW;
    const T* gp = gy + p * OHW;
    A s = 0;
    for (int64_t oh = oh0; oh < oh1; ++oh)
      for (int64_t ow = ow0; ow < ow1; ++ow) {
        const int64_t o = oh * g.OW + ow;
        if (ip[o] == r) s += to_compute<A>(gp[o]);
      }
    gx[t] = from_compute<T>(s);
  }
}

template <typename T>
__global__ void plane_gather_kernel(T* __restrict__ out, const T* __restrict__ x, const int64_t* __restrict__ idx,
                                    int64_t L, int64_t HW, int64_t total) {
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const int64_t p = t / L, i = idx[t];
    out[t] = i >= 0 ? x[p * HW + i] : from_compute<T>(0.0f);
  }
}

// ---- window averages ----------------------------------------------------------

// window_tables layout (int64): r0, r1, rdiv [OH] | c0, c1, cdiv [OW] |
// rlo, rhi [H] | clo, chi [W]: output rows [rlo[i], rhi[i]) cover input row i.
struct WinPtrs {
  const int64_t *r0, *r1, *rdiv, *c0, *c1, *cdiv, *rlo, *rhi, *clo, *chi;
};
WinPtrs win_ptrs(const cpu::AvgWindows& w, const PoolTables& t) {
  const int64_t* b = static_cast<const int64_t*>(t.idx.data_ptr_raw());
  WinPtrs p{};
  p.r0 = b;
  p.r1 = p.r0 + w.OH;
  p.rdiv = p.r1 + w.OH;
  p.c0 = p.rdiv + w.OH;
  p.c1 = p.c0 + w.OW;
  p.cdiv = p.c1 + w.OW;
  p.rlo = p.cdiv + w.OW;
  p.rhi = p.rlo + w.H;
  p.clo = p.rhi + w.H;
  p.chi = p.clo + w.W;
  return p;
}

template <typename T>
__global__ void window_avg_kernel(T* __restrict__ out, const T* __restrict__ x, WinPtrs t, int64_t H, int64_t W,
                                  int64_t OH, int64_t OW, int64_t total) {
  using A = compute_t<T>;
  const int64_t OHW = OH * OW;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t p = i / OHW, r = i - p * OHW, oh = r / OW, ow = r - oh * OW;
    const T* in = x + p * H * W;
    const int64_t h0 = t.r0[oh], h1 = t.r1[oh], c0 = t.c0[ow], c1 = t.c1[ow];
    A s = 0;
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t c = c0; c < c1; ++c) s += to_compute<A>(in[h * W + c]);
    const bool empty = h0 >= h1 || c0 >= c1;
    out[i] = from_compute<T>(empty ? A(0) : s / static_cast<A>(t.rdiv[oh] * t.cdiv[ow]));
  }
}

template <typename T>
__global__ void window_avg_adjoint_kernel(T* __restrict__ gx, const T* __restrict__ g, WinPtrs t, int64_t H,
                                          int64_t W, int64_t OH, int64_t OW, int64_t total) {
  using A = compute_t<T>;
  const int64_t HW = H * W;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t p = i / HW, r = i - p * HW, h = r / W, c = r - h * W;
    const T* go = g + p * OH * OW;
    const int64_t ow0 = t.clo[c], ow1 = t.chi[c];
    A s = 0;
    for (int64_t oh = t.rlo[h]; oh < t.rhi[h]; ++oh) {
      const A rd = static_cast<A>(t.rdiv[oh]);
      for (int64_t ow = ow0; ow < ow1; ++ow)
        s += to_compute<A>(go[oh * OW + ow]) / (rd * static_cast<A>(t.cdiv[ow]));
    }
    gx[i] = from_compute<T>(s);
  }
}

// ---- resampling -------------------------------------------------------------

// resample_tables layout. int64: r0, r1 [OH] | c0, c1 [OW] | rptr [H + 1] |
// cptr [W + 1] | rout [ER] | cout [EC]; float64: rw0, rw1 [OH] | cw0, cw1 [OW]
// | rwt [ER] | cwt [EC]. Input row i is tapped by the (output row, weight)
// pairs (rout[e], rwt[e]) for e in [rptr[i], rptr[i+1]), in output order;
// ER = OH taps per row (2 OH for bilinear), likewise columns.
struct ResPtrs {
  const int64_t *r0, *r1, *c0, *c1, *rptr, *cptr, *rout, *cout;
  const double *rw0, *rw1, *cw0, *cw1, *rwt, *cwt;
};
int64_t taps(const cpu::Resample& r, int64_t n) { return r.linear ? 2 * n : n; }
ResPtrs res_ptrs(const cpu::Resample& r, const PoolTables& t) {
  const int64_t* b = static_cast<const int64_t*>(t.idx.data_ptr_raw());
  const double* d = static_cast<const double*>(t.wts.data_ptr_raw());
  ResPtrs p{};
  p.r0 = b;
  p.r1 = p.r0 + r.OH;
  p.c0 = p.r1 + r.OH;
  p.c1 = p.c0 + r.OW;
  p.rptr = p.c1 + r.OW;
  p.cptr = p.rptr + r.H + 1;
  p.rout = p.cptr + r.W + 1;
  p.cout = p.rout + taps(r, r.OH);
  p.rw0 = d;
  p.rw1 = p.rw0 + r.OH;
  p.cw0 = p.rw1 + r.OH;
  p.cw1 = p.cw0 + r.OW;
  p.rwt = p.cw1 + r.OW;
  p.cwt = p.rwt + taps(r, r.OH);
  return p;
}

// out = rw0 (cw0 x[r0,c0] + cw1 x[r0,c1]) + rw1 (cw0 x[r1,c0] + cw1 x[r1,c1]),
// the CPU's evaluation order; nearest: out = x[r0, c0].
template <typename T>
__global__ void resample_kernel(T* __restrict__ out, const T* __restrict__ x, ResPtrs t, int64_t H, int64_t W,
                                int64_t OH, int64_t OW, bool linear, int64_t total) {
  using A = compute_t<T>;
  const int64_t OHW = OH * OW;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t p = i / OHW, r = i - p * OHW, oh = r / OW, ow = r - oh * OW;
    const T* row0 = x + p * H * W + t.r0[oh] * W;
    if (!linear) {
      out[i] = row0[t.c0[ow]];
      continue;
    }
    const T* row1 = x + p * H * W + t.r1[oh] * W;
    const int64_t j0 = t.c0[ow], j1 = t.c1[ow];
    const A a0 = static_cast<A>(t.rw0[oh]), a1 = static_cast<A>(t.rw1[oh]);
    const A b0 = static_cast<A>(t.cw0[ow]), b1 = static_cast<A>(t.cw1[ow]);
    const A t0 = to_compute<A>(row0[j0]) * b0 + to_compute<A>(row0[j1]) * b1;
    const A t1 = to_compute<A>(row1[j0]) * b0 + to_compute<A>(row1[j1]) * b1;
    out[i] = from_compute<T>(t0 * a0 + t1 * a1);
  }
}

// gx[i, j] = sum over the row taps (oh, a) of i and column taps (ow, b) of j
// of a b g[oh, ow] (the transpose of resample_kernel's map).
template <typename T>
__global__ void resample_adjoint_kernel(T* __restrict__ gx, const T* __restrict__ g, ResPtrs t, int64_t H,
                                        int64_t W, int64_t OH, int64_t OW, int64_t total) {
  using A = compute_t<T>;
  const int64_t HW = H * W;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t p = i / HW, r = i - p * HW, h = r / W, c = r - h * W;
    const T* go = g + p * OH * OW;
    const int64_t e0 = t.cptr[c], e1 = t.cptr[c + 1];
    A s = 0;
    for (int64_t a = t.rptr[h]; a < t.rptr[h + 1]; ++a) {
      const T* grow = go + t.rout[a] * OW;
      A row = 0;
      for (int64_t e = e0; e < e1; ++e) row += static_cast<A>(t.cwt[e]) * to_compute<A>(grow[t.cout[e]]);
      s += static_cast<A>(t.rwt[a]) * row;
    }
    gx[i] = from_compute<T>(s);
  }
}

// ---- host side ----------------------------------------------------------------

void check_plane(const char* op, const char* name, const Tensor& t, DType dt, int64_t numel, Device device) {
  WICK_CHECK(t.device() == device && t.dtype() == dt && t.numel() == numel && t.is_contiguous(), "cuda::", op, ": ",
             name, " must be a contiguous ", dt, " tensor of ", numel, " values on ", device);
}

Tensor upload(const std::vector<int64_t>& v, Device device) {
  return from_vector(v, Shape{static_cast<int64_t>(v.size())}).to(device);
}
Tensor upload(const std::vector<double>& v, Device device) {
  return from_vector(v, Shape{static_cast<int64_t>(v.size())}).to(device);
}

// [lo[i], hi[i]): the windows [b[o], e[o]) (b, e non-decreasing) that contain i.
void covering(const std::vector<int64_t>& b, const std::vector<int64_t>& e, int64_t in, std::vector<int64_t>& out) {
  WICK_CHECK(std::is_sorted(b.begin(), b.end()) && std::is_sorted(e.begin(), e.end()),
             "cuda::window_avg: internal error: window bounds are not monotone");
  for (int64_t i = 0; i < in; ++i)
    out.push_back(std::upper_bound(e.begin(), e.end(), i) - e.begin());  // first o with e[o] > i
  for (int64_t i = 0; i < in; ++i)
    out.push_back(std::upper_bound(b.begin(), b.end(), i) - b.begin());  // first o with b[o] > i
}

// Transposed taps: ptr[in + 1], then (out index, weight) lists per input index.
void transpose_taps(int64_t in, const std::vector<int64_t>& i0, const std::vector<int64_t>& i1,
                    const std::vector<double>& w0, const std::vector<double>& w1, bool linear,
                    std::vector<int64_t>& ptr, std::vector<int64_t>& outs, std::vector<double>& wts) {
  const int64_t n = static_cast<int64_t>(i0.size());
  std::vector<std::vector<std::pair<int64_t, double>>> lists(static_cast<size_t>(in));
  for (int64_t o = 0; o < n; ++o) {
    lists[i0[o]].push_back({o, linear ? w0[o] : 1.0});
    if (linear) lists[i1[o]].push_back({o, w1[o]});
  }
  const int64_t base = static_cast<int64_t>(outs.size());
  ptr.push_back(0);
  for (const auto& l : lists) {
    for (const auto& [o, w] : l) {
      outs.push_back(o);
      wts.push_back(w);
    }
    ptr.push_back(static_cast<int64_t>(outs.size()) - base);
  }
}

}  // namespace

PoolTables window_tables(const cpu::AvgWindows& w, Device device) {
  std::vector<int64_t> v;
  for (const auto* part : {&w.r0, &w.r1, &w.rdiv, &w.c0, &w.c1, &w.cdiv}) v.insert(v.end(), part->begin(), part->end());
  covering(w.r0, w.r1, w.H, v);
  covering(w.c0, w.c1, w.W, v);
  NoGradGuard ng;
  return {upload(v, device), Tensor()};
}

PoolTables resample_tables(const cpu::Resample& r, Device device) {
  std::vector<int64_t> v;
  const std::vector<int64_t>& r1 = r.linear ? r.r1 : r.r0;
  const std::vector<int64_t>& c1 = r.linear ? r.c1 : r.c0;
  for (const auto* part : {&r.r0, &r1, &r.c0, &c1}) v.insert(v.end(), part->begin(), part->end());
  std::vector<double> d;
  if (r.linear) {
    for (const auto* part : {&r.rw0, &r.rw1, &r.cw0, &r.cw1}) d.insert(d.end(), part->begin(), part->end());
  } else {
    d.assign(static_cast<size_t>(2 * (r.OH + r.OW)), 0.0);  // unused by nearest, kept for the fixed layout
  }
  // The two CSR maps: pointers first, then the lists (see ResPtrs).
  std::vector<int64_t> rptr, cptr, rout, cout;
  std::vector<double> rwt, cwt;
  transpose_taps(r.H, r.r0, r1, r.rw0, r.rw1, r.linear, rptr, rout, rwt);
  transpose_taps(r.W, r.c0, c1, r.cw0, r.cw1, r.linear, cptr, cout, cwt);
  for (const auto* part : {&rptr, &cptr, &rout, &cout}) v.insert(v.end(), part->begin(), part->end());
  d.insert(d.end(), rwt.begin(), rwt.end());
  d.insert(d.end(), cwt.begin(), cwt.end());
  NoGradGuard ng;
  return {upload(v, device), upload(d, device)};
}

void max_pool2d(const cpu::MaxPoolGeometry& g, const Tensor& x, const Tensor& out, const Tensor& idx) {
  check_plane("max_pool2d", "x", x, x.dtype(), g.P * g.H * g.W, x.device());
  check_plane("max_pool2d", "out", out, x.dtype(), g.P * g.OH * g.OW, x.device());
  check_plane("max_pool2d", "indices", idx, kInt64, g.P * g.OH * g.OW, x.device());
  const int64_t total = g.P * g.OH * g.OW;
  if (total == 0) return;
  DeviceGuard guard(x.device().index);
  WICK_DEVICE_DISPATCH_FLOAT(x.dtype(), "max_pool2d", [&]<typename T>() {
    max_pool2d_kernel<T><<<grid_for(total, kThreads), kThreads, 0, current_stream()>>>(
        static_cast<T*>(out.data_ptr_raw()), static_cast<int64_t*>(idx.data_ptr_raw()),
        static_cast<const T*>(x.data_ptr_raw()), max_geo(g), total);
    WICK_CUDA_CHECK_LAUNCH();
  });
}

void max_pool2d_backward(const cpu::MaxPoolGeometry& g, const Tensor& gy, const Tensor& idx, const Tensor& gx) {
  check_plane("max_pool2d_backward", "grad_output", gy, gx.dtype(), g.P * g.OH * g.OW, gx.device());
  check_plane("max_pool2d_backward", "indices", idx, kInt64, g.P * g.OH * g.OW, gx.device());
  check_plane("max_pool2d_backward", "grad_input", gx, gx.dtype(), g.P * g.H * g.W, gx.device());
  const int64_t total = g.P * g.H * g.W;
  if (total == 0) return;
  DeviceGuard guard(gx.device().index);
  WICK_DEVICE_DISPATCH_FLOAT(gx.dtype(), "max_pool2d_backward", [&]<typename T>() {
    max_pool2d_backward_kernel<T><<<grid_for(total, kThreads), kThreads, 0, current_stream()>>>(
        static_cast<T*>(gx.data_ptr_raw()), static_cast<const T*>(gy.data_ptr_raw()),
        static_cast<const int64_t*>(idx.data_ptr_raw()), max_geo(g), total);
    WICK_CUDA_CHECK_LAUNCH();
  });
}

void plane_gather(int64_t P, int64_t L, int64_t HW, const Tensor& x, const Tensor& idx, const Tensor& out) {
  check_plane("max_pool2d_gather", "x", x, x.dtype(), P * HW, x.device());
  check_plane("max_pool2d_gather", "indices", idx, kInt64, P * L, x.device());
  check_plane("max_pool2d_gather", "out", out, x.dtype(), P * L, x.device());
  const int64_t total = P * L;
  if (total == 0) return;
  DeviceGuard guard(x.device().index);
  WICK_DEVICE_DISPATCH_FLOAT(x.dtype(), "max_pool2d", [&]<typename T>() {
    plane_gather_kernel<T><<<grid_for(total, kThreads), kThreads, 0, current_stream()>>>(
        static_cast<T*>(out.data_ptr_raw()), static_cast<const T*>(x.data_ptr_raw()),
        static_cast<const int64_t*>(idx.data_ptr_raw()), L, HW, total);
    WICK_CUDA_CHECK_LAUNCH();
  });
}

void window_avg(int64_t P, const cpu::AvgWindows& w, const PoolTables& t, const Tensor& x, const Tensor& out) {
  check_plane("avg_pool2d", "x", x, x.dtype(), P * w.H * w.W, x.device());
  check_plane("avg_pool2d", "out", out, x.dtype(), P * w.OH * w.OW, x.device());
  check_plane("avg_pool2d", "tables", t.idx, kInt64, 3 * (w.OH + w.OW) + 2 * (w.H + w.W), x.device());
  const int64_t total = P * w.OH * w.OW;
  if (total == 0) return;
  DeviceGuard guard(x.device().index);
  WICK_DEVICE_DISPATCH_FLOAT(x.dtype(), "avg_pool2d", [&]<typename T>() {
    window_avg_kernel<T><<<grid_for(total, kThreads), kThreads, 0, current_stream()>>>(
        static_cast<T*>(out.data_ptr_raw()), static_cast<const T*>(x.data_ptr_raw()), win_ptrs(w, t), w.H, w.W,
        w.OH, w.OW, total);
    WICK_CUDA_CHECK_LAUNCH();
  });
}

void window_avg_adjoint(int64_t P, const cpu::AvgWindows& w, const PoolTables& t, const Tensor& g, const Tensor& gx) {
  check_plane("avg_pool2d_backward", "grad_output", g, gx.dtype(), P * w.OH * w.OW, gx.device());
  check_plane("avg_pool2d_backward", "grad_input", gx, gx.dtype(), P * w.H * w.W, gx.device());
  check_plane("avg_pool2d_backward", "tables", t.idx, kInt64, 3 * (w.OH + w.OW) + 2 * (w.H + w.W), gx.device());
  const int64_t total = P * w.H * w.W;
  if (total == 0) return;
  DeviceGuard guard(gx.device().index);
  WICK_DEVICE_DISPATCH_FLOAT(gx.dtype(), "avg_pool2d_backward", [&]<typename T>() {
    window_avg_adjoint_kernel<T><<<grid_for(total, kThreads), kThreads, 0, current_stream()>>>(
        static_cast<T*>(gx.data_ptr_raw()), static_cast<const T*>(g.data_ptr_raw()), win_ptrs(w, t), w.H, w.W,
        w.OH, w.OW, total);
    WICK_CUDA_CHECK_LAUNCH();
  });
}

namespace {
void check_resample_tables(const char* op, const cpu::Resample& r, const PoolTables& t, Device device) {
  const int64_t ni = 2 * (r.OH + r.OW) + (r.H + 1) + (r.W + 1) + taps(r, r.OH) + taps(r, r.OW);
  const int64_t nw = 2 * (r.OH + r.OW) + taps(r, r.OH) + taps(r, r.OW);
  check_plane(op, "index table", t.idx, kInt64, ni, device);
  check_plane(op, "weight table", t.wts, kFloat64, nw, device);
}
}  // namespace

void resample(int64_t P, const cpu::Resample& r, const PoolTables& t, const Tensor& x, const Tensor& out) {
  check_plane("interpolate", "x", x, x.dtype(), P * r.H * r.W, x.device());
  check_plane("interpolate", "out", out, x.dtype(), P * r.OH * r.OW, x.device());
  check_resample_tables("interpolate", r, t, x.device());
  const int64_t total = P * r.OH * r.OW;
  if (total == 0) return;
  DeviceGuard guard(x.device().index);
  WICK_DEVICE_DISPATCH_FLOAT(x.dtype(), "interpolate", [&]<typename T>() {
    resample_kernel<T><<<grid_for(total, kThreads), kThreads, 0, current_stream()>>>(
        static_cast<T*>(out.data_ptr_raw()), static_cast<const T*>(x.data_ptr_raw()), res_ptrs(r, t), r.H, r.W,
        r.OH, r.OW, r.linear, total);
    WICK_CUDA_CHECK_LAUNCH();
  });
}

void resample_adjoint(int64_t P, const cpu::Resample& r, const PoolTables& t, const Tensor& g, const Tensor& gx) {
  check_plane("interpolate_backward", "grad_output", g, gx.dtype(), P * r.OH * r.OW, gx.device());
  check_plane("interpolate_backward", "grad_input", gx, gx.dtype(), P * r.H * r.W, gx.device());
  check_resample_tables("interpolate_backward", r, t, gx.device());
  const int64_t total = P * r.H * r.W;
  if (total == 0) return;
  DeviceGuard guard(gx.device().index);
  WICK_DEVICE_DISPATCH_FLOAT(gx.dtype(), "interpolate_backward", [&]<typename T>() {
    resample_adjoint_kernel<T><<<grid_for(total, kThreads), kThreads, 0, current_stream()>>>(
        static_cast<T*>(gx.data_ptr_raw()), static_cast<const T*>(g.data_ptr_raw()), res_ptrs(r, t), r.H, r.W,
        r.OH, r.OW, total);
    WICK_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace wick::cuda
