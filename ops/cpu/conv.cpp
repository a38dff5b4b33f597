// CPU convolution (see ops/cpu/conv.h for the geometry and the three maps).
//
// Reference (conv2d_*_reference): the definition as seven nested loops,
//   map[n, co, oy, ox] = bias[co] + sum_{ci, ki, kj} W[co, ci, ki, kj] *
//                        image[n, g*Cg + ci, oy*sh - ph + ki*dh, ox*sw - pw + kj*dw]
// (g = co's group, Cg = C_in / groups, out-of-range pixels are zero), and its
// two adjoints written as the same loops with the roles of the arrays swapped.
//
// Implicit GEMM (ConvPath::kAuto, the general fast path). For each group g
// and block of nb samples the convolution is the product
//   map[g] [C_out/G, nb*OH*OW] = W[g] [C_out/G, C_in/G*kh*kw] @ col[g]
//   col[(c, ki, kj), (n, oy, ox)] = image[n, c, oy*sh - ph + ki*dh, ox*sw - pw + kj*dw]  (0 outside)
// and col is never stored: cpu::gemm_packer_b hands the GEMM a packing
// routine, and the GEMM's kc x NR B slivers are filled straight from a
// zero-padded copy of the block's image (padding once per block makes every
// tap read in bounds, so a sliver row is one NR-wide copy per run of pixels
// on one output row). The weight gradient is the same with the roles turned:
//   weight_grad[g] += map[g] [C_out/G, pixels] @ col[g]^T
// whose B (col^T, taps as columns) is packed from the padded image with
// 8 x 8 in-register transposes. The input gradient of a stride-1
// convolution is a forward convolution of the map with the flipped,
// transposed kernel (padding (k-1)*d - p), so it runs through the same
// implicit forward: no C_in*kh*kw-row product and no col2im. Strided
// transposes (and narrow ones, C_in/G < 16) keep GEMM + col2im below, and
// 1x1 kernels, whose column matrix repeats no pixel, keep the im2col path.
// Traffic per sample, float, stride 1 (B = C_in*kh*kw x OH*OW elements):
// im2col wrote B and pack_b read it back (2 passes over B outside the cache
// at 28x28 maps) and col2im read a product of the same size; the implicit
// packers write B once into the L1/L2-resident slivers and read the padded
// image (B / (kh*kw) elements) from cache.
//
// im2col + GEMM (ConvPath::kIm2col, the previous fast path, kept callable).
// im2col unrolls sample n of the image into the column matrix col above, of
// C_in*kh*kw rows, so that for each group g
//   map[g]          = W[g] [C_out/G, C_in/G*kh*kw] @ col[g]                    (forward)
//   col[g]          = W[g]^T @ map[g],  image = col2im(col)                    (transpose)
//   weight_grad[g] += map[g] @ col[g]^T                                         (weight gradient)
// col2im is the adjoint of im2col: it adds every column entry back into the
// pixel it was read from. The columns of nb consecutive samples sit side by
// side ([C_in*kh*kw, nb*OH*OW]), so one GEMM covers nb samples: a layer with a
// small feature map (512 channels at 4x4: 16 columns per sample) still gets a
// GEMM about kTargetCols wide, and the weight (the GEMM's A) is packed once
// per block instead of once per sample (the implicit path blocks samples the
// same way). The map side of a block is gathered into / scattered from a
// [C_out, nb*OH*OW] buffer (one pass, fused with the bias). A 1x1 kernel at
// stride 1 without padding needs no im2col (one sample's image is its own
// column matrix); a strided 1x1 kernel's im2col is a subsample. Column,
// padding and gather buffers are per thread and kept between calls (no
// allocation in a steady-state training loop).
//
// Direct depthwise kernels (C_in / groups == 1 and a channel multiplier of at
// most kMaxDirectMultiplier): a GEMM of depth kh*kw would spend its time packing, so
// each output plane is accumulated as kh*kw shifted, scaled rows of its input
// plane (contiguous, vectorized when the stride is 1); the input gradient
// scatters the same way, and the weight gradient is kh*kw dot products per
// output channel.
//
// Parallelism and determinism: with at least as many samples as threads the
// batch is split into one contiguous range per thread (GEMMs then run serially
// inside); otherwise blocks run one after another and im2col/col2im/padding
// split channels and the GEMM splits its output across threads. The GEMM weight gradient
// sums one partial per thread in a fixed order (the result depends on the
// thread count, never on scheduling); the depthwise weight gradient gives each
// output channel to one thread, so it does not even depend on the count.
//
// FLOPs: 2 * N * C_out * OH * OW * (C_in/groups) * kh * kw for each map.
// Measured (bench_conv, float32, AVX2 6 x 16 GEMM kernel, the 2-core Zen 3
// dev machine at load average ~12, so CPU time of 1 thread is the only
// stable clock; 2026-11-26): the bench_models resnet18 3x3 layers (batch 64;
// 32 ch 28x28, 64 ch 14x14, 128 ch 7x7, 256 ch 4x4) take, implicit / im2col,
// forward 0.87, 0.78, 0.55, 0.47; input gradient 0.96, 0.87, 0.64, 0.54;
// weight gradient 0.73, 0.88, 0.63, 0.51 of the im2col path's time, at
// 33-49 GFLOP/s per core of CPU time, i.e. 42-63% of the nominal 78 GFLOP/s
// AVX2 FMA peak of a core (cpu::gemm on large products: 45-80% of the
// peak measured on this machine, see gemm.cpp).
// Earlier (im2col path, lent idle Intel Xeon, AVX2 build, 2 threads): the
// ResNet-18-28x28 3x3 layers at 100-155 GFLOP/s forward and input gradient,
// 105-128 weight gradient; against the one-sample path equal at 28x28 maps,
// 1.3-1.6x at 7x7, 2.3-3.0x at 4x4; depthwise 3x3 2.5x / 4.4x / 1.6x (forward
// / input / weight grad).
#include "ops/cpu/conv.h"

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>

#ifdef __AVX2__
#include <immintrin.h>
#endif

#include "ops/cpu/gemm.h"
#include "tensor/parallel.h"

namespace wick::cpu {

// ---------------------------------------------------------------------------
// Reference: the definition, loop by loop.
// ---------------------------------------------------------------------------

// Visits every (output pixel, weight tap, input pixel) triple of the
// convolution that lies inside the image, as flat indices into map, weight and
// image. The three references below are this one loop nest with a different
// multiply-add.
template <typename F>
void for_each_tap(const ConvGeometry& g, F&& f) {
  const int64_t Cg = g.C_in / g.groups, Cog = g.C_out / g.groups;
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t co = 0; co < g.C_out; ++co)
      for (int64_t oy = 0; oy < g.OH; ++oy)
        for (int64_t ox = 0; ox < g.OW; ++ox) {
          const int64_t mi = ((n * g.C_out + co) * g.OH + oy) * g.OW + ox;
          for (int64_t ci = 0; ci < Cg; ++ci) {
            const int64_t c = co / Cog * Cg + ci;
            for (int64_t ki = 0; ki < g.kh; ++ki)
              for (int64_t kj = 0; kj < g.kw; ++kj) {
                const int64_t iy = oy * g.sh - g.ph + ki * g.dh, ix = ox * g.sw - g.pw + kj * g.dw;
                if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) continue;
                f(mi, ((co * Cg + ci) * g.kh + ki) * g.kw + kj, ((n * g.C_in + c) * g.H + iy) * g.W + ix);
              }
          }
        }
}

template <typename T>
void conv2d_forward_reference(const ConvGeometry& g, const T* image, const T* weight, const T* bias, T* map) {
  const int64_t OHW = g.OH * g.OW;
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t co = 0; co < g.C_out; ++co) std::fill_n(map + (n * g.C_out + co) * OHW, OHW, bias ? bias[co] : T(0));
  for_each_tap(g, [&](int64_t mi, int64_t wi, int64_t ii) { map[mi] += weight[wi] * image[ii]; });
}

template <typename T>
void conv2d_transpose_reference(const ConvGeometry& g, const T* map, const T* weight, const T* bias, T* image) {
  const int64_t HW = g.H * g.W;
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t c = 0; c < g.C_in; ++c) std::fill_n(image + (n * g.C_in + c) * HW, HW, bias ? bias[c] : T(0));
  for_each_tap(g, [&](int64_t mi, int64_t wi, int64_t ii) { image[ii] += weight[wi] * map[mi]; });
}

template <typename T>
void conv2d_weight_grad_reference(const ConvGeometry& g, const T* image, const T* map, T* weight_grad) {
  std::fill_n(weight_grad, g.C_out * (g.C_in / g.groups) * g.kh * g.kw, T(0));
  for_each_tap(g, [&](int64_t mi, int64_t wi, int64_t ii) { weight_grad[wi] += map[mi] * image[ii]; });
}

namespace {

// Below this many multiply-adds in total the batch runs on one thread.
constexpr int64_t kMinParallelWork = 1 << 18;
// A GEMM block aims at this many columns (samples x OH*OW) ...
constexpr int64_t kTargetCols = 512;
// ... except in the weight gradient, where the columns are the GEMM's depth:
// folding samples helps only while a block fits one depth slice of the GEMM
// (cpu::gemm's KC = 256); deeper blocks measured 10-30% slower at 14x14 maps.
constexpr int64_t kTargetDepthCols = 256;
// ... with a column buffer of at most this many elements per thread (8 MiB float).
constexpr int64_t kMaxColElems = int64_t{1} << 21;

// Output positions o in [0, n) whose input coordinate o * s + off lies in [0, size).
inline void valid_range(int64_t off, int64_t s, int64_t size, int64_t n, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + s - 1) / s;
  hi = size - off <= 0 ? 0 : (size - off - 1) / s + 1;
  hi = std::min(hi, n);
  lo = std::min(lo, hi);
}

// A 1x1 kernel at stride 1 without padding reads the image as it is.
bool is_pointwise(const ConvGeometry& g) {
  return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0 && g.OH == g.H && g.OW == g.W;
}

// Above this channel multiplier the im2col GEMM wins: each column then feeds
// that many output rows from cache (a single-channel input with 32 filters,
// the first layer of a grayscale CNN, measured 2x faster as a GEMM).
constexpr int64_t kMaxDirectMultiplier = 4;

// One input channel per group (depthwise, multiplier C_out / C_in) with a small multiplier.
bool is_depthwise(const ConvGeometry& g) {
  return g.groups > 0 && g.C_in == g.groups && g.C_out <= kMaxDirectMultiplier * g.C_in;
}

int64_t channel_grain(const ConvGeometry& g) {
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, g.kh * g.kw * g.OH * g.OW));
}

// Multiply-adds per sample of any of the three maps.
int64_t work_per_sample(const ConvGeometry& g) {
  return g.C_out * g.OH * g.OW * (g.groups ? g.C_in / g.groups : 0) * g.kh * g.kw;
}

// A per-thread buffer of at least n elements, kept for the next call. slot
// tells the buffers of one call apart.
template <typename T>
T* thread_buffer(int slot, int64_t n) {
  thread_local std::vector<T> bufs[5];
  std::vector<T>& b = bufs[slot];
  if (static_cast<int64_t>(b.size()) < n) b.resize(static_cast<size_t>(n));
  return b.data();
}

// Writes im2col(img) into col, whose rows are ld elements apart (the sample's
// OH*OW columns start at col). Rows are independent per input channel.
template <typename T>
void im2col(const ConvGeometry& g, const T* img, T* col, int64_t ld) {
  parallel_for(0, g.C_in, channel_grain(g), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const T* plane = img + c * g.H * g.W;
      for (int64_t ki = 0; ki < g.kh; ++ki) {
        for (int64_t kj = 0; kj < g.kw; ++kj) {
          T* dst = col + ((c * g.kh + ki) * g.kw + kj) * ld;
          const int64_t off = kj * g.dw - g.pw;
          int64_t lo, hi;
          valid_range(off, g.sw, g.W, g.OW, lo, hi);
          for (int64_t oy = 0; oy < g.OH; ++oy) {
            T* __restrict d = dst + oy * g.OW;
            const int64_t iy = oy * g.sh - g.ph + ki * g.dh;
            if (iy < 0 || iy >= g.H) {
              std::fill(d, d + g.OW, T(0));
              continue;
            }
            const T* __restrict row = plane + iy * g.W;
            std::fill(d, d + lo, T(0));
            if (g.sw == 1) {
              std::copy(row + lo + off, row + hi + off, d + lo);
            } else {
              for (int64_t ox = lo; ox < hi; ++ox) d[ox] = row[ox * g.sw + off];
            }
            std::fill(d + hi, d + g.OW, T(0));
          }
        }
      }
    }
  });
}

// img += col2im(col): the adjoint of im2col (col rows ld apart). Each channel
// owns its plane, so channels run in parallel without races.
template <typename T>
void col2im_add(const ConvGeometry& g, const T* col, int64_t ld, T* img) {
  parallel_for(0, g.C_in, channel_grain(g), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      T* plane = img + c * g.H * g.W;
      for (int64_t ki = 0; ki < g.kh; ++ki) {
        for (int64_t kj = 0; kj < g.kw; ++kj) {
          const T* src = col + ((c * g.kh + ki) * g.kw + kj) * ld;
          const int64_t off = kj * g.dw - g.pw;
          int64_t lo, hi;
          valid_range(off, g.sw, g.W, g.OW, lo, hi);
          for (int64_t oy = 0; oy < g.OH; ++oy) {
            const int64_t iy = oy * g.sh - g.ph + ki * g.dh;
            if (iy < 0 || iy >= g.H) continue;
            T* __restrict row = plane + iy * g.W;
            const T* __restrict s = src + oy * g.OW;
            if (g.sw == 1) {
              for (int64_t ox = lo; ox < hi; ++ox) row[ox + off] += s[ox];
            } else {
              for (int64_t ox = lo; ox < hi; ++ox) row[ox * g.sw + off] += s[ox];
            }
          }
        }
      }
    }
  });
}

// How the batch is cut: P contiguous sample ranges (one per thread, or one
// range run with parallel GEMMs), each walked in blocks of at most nb samples.
struct Plan {
  int64_t P = 1, nb = 1;
};

Plan make_plan(const ConvGeometry& g, ConvPath path, int64_t target_cols = kTargetCols) {
  Plan plan;
  const int64_t threads = available_threads();
  if (threads > 1 && g.N >= threads && g.N * work_per_sample(g) >= kMinParallelWork) plan.P = threads;
  if (path == ConvPath::kPerSample) return plan;
  const int64_t ohw = std::max<int64_t>(1, g.OH * g.OW);
  const int64_t rows = std::max<int64_t>(1, std::max(g.C_in * g.kh * g.kw, g.C_out));
  int64_t nb = std::max<int64_t>(1, target_cols / ohw);
  nb = std::max<int64_t>(1, std::min(nb, kMaxColElems / (rows * ohw)));
  // Even blocks within a range: 32 samples at nb = 28 become 16 + 16.
  const int64_t range = (g.N + plan.P - 1) / plan.P;
  if (range > 0) {
    nb = std::min(nb, range);
    const int64_t blocks = (range + nb - 1) / nb;
    nb = (range + blocks - 1) / blocks;
  }
  plan.nb = nb;
  return plan;
}

// f(p, n0, n1) for every block [n0, n1) of every range p; ranges in parallel
// when the plan has several.
template <typename F>
void for_each_block(const ConvGeometry& g, const Plan& plan, F&& f) {
  auto range = [&](int64_t p) {
    const int64_t b = p * g.N / plan.P, e = (p + 1) * g.N / plan.P;
    for (int64_t n0 = b; n0 < e; n0 += plan.nb) f(p, n0, std::min(e, n0 + plan.nb));
  };
  if (plan.P == 1) return range(0);
  parallel_for(0, plan.P, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) range(p);
  });
}

// dst[c, i*OHW + q] = src[i, c, q] for the nb samples of a block (and back):
// the map side of a block as one [C, nb*OHW] matrix.
template <typename T>
void gather_block(const T* src, int64_t nb, int64_t C, int64_t OHW, T* dst) {
  parallel_for(0, C, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, nb * OHW)), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t i = 0; i < nb; ++i) std::copy_n(src + (i * C + c) * OHW, OHW, dst + (c * nb + i) * OHW);
  });
}

// dst[i, c, q] = src[c, i*OHW + q] + bias[c] (bias may be null).
template <typename T>
void scatter_block(const T* src, int64_t nb, int64_t C, int64_t OHW, const T* bias, T* dst) {
  parallel_for(0, C, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, nb * OHW)), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const T b = bias ? bias[c] : T(0);
      for (int64_t i = 0; i < nb; ++i) {
        const T* __restrict s = src + (c * nb + i) * OHW;
        T* __restrict d = dst + (i * C + c) * OHW;
        for (int64_t q = 0; q < OHW; ++q) d[q] = s[q] + b;
      }
    }
  });
}

template <typename T>
void add_bias_planes(T* x, int64_t C, int64_t HW, const T* bias) {
  if (!bias) return;
  for (int64_t c = 0; c < C; ++c) {
    T* __restrict p = x + c * HW;
    const T b = bias[c];
    for (int64_t q = 0; q < HW; ++q) p[q] += b;
  }
}

// ---------------------------------------------------------------------------
// Depthwise: direct kernels (C_in / groups == 1, multiplier M = C_out / C_in).
// Each works on a zero-padded copy of one input plane (or of its gradient),
// so the inner loops run over whole output rows with no bounds tests: a row
// of the output (in L1) takes kh*kw scaled, shifted rows of the padded plane.
// ---------------------------------------------------------------------------

// Padded plane extents: every tap of every output position lands inside.
struct Padded {
  int64_t PH, PW;
};
Padded padded_size(const ConvGeometry& g) {
  return {std::max(g.H + 2 * g.ph, (g.OH - 1) * g.sh + (g.kh - 1) * g.dh + 1),
          std::max(g.W + 2 * g.pw, (g.OW - 1) * g.sw + (g.kw - 1) * g.dw + 1)};
}

// dst [PH, PW] = the plane [H, W] placed at (ph, pw), zeros around it.
template <typename T>
void pad_plane(const ConvGeometry& g, const Padded& P, const T* src, T* dst) {
  std::fill_n(dst, P.PH * P.PW, T(0));
  for (int64_t y = 0; y < g.H; ++y) std::copy_n(src + y * g.W, g.W, dst + (y + g.ph) * P.PW + g.pw);
}

// The depthwise kernels keep one 256-bit vector of outputs (8 floats, 4
// doubles) in a register across all kernel taps (GCC vector extension: AVX2
// with -march=native, two SSE registers otherwise). A row's last, partial
// vector reads up to kLanes - 1 elements past the row inside the padded
// plane, which has that much slack at its end, and stores only its lanes.
template <typename T>
struct DwVec {
  typedef T V __attribute__((vector_size(32)));
  static constexpr int64_t kLanes = 32 / static_cast<int64_t>(sizeof(T));
  // acc += a * p[0 .. kLanes) and acc += p[..] * q[..]; vectors never cross a
  // function boundary by value (no ABI dependence on -march).
  static void fma(V& acc, T a, const T* p) {
    V v;
    std::memcpy(&v, p, sizeof(V));
    acc += a * v;
  }
  static void fma(V& acc, const T* p, const T* q) {
    V u, v;
    std::memcpy(&u, p, sizeof(V));
    std::memcpy(&v, q, sizeof(V));
    acc += u * v;
  }
  static void store(T* p, const V& v, int64_t n) {
    if (n == kLanes)
      std::memcpy(p, &v, sizeof(V));
    else
      for (int64_t u = 0; u < n; ++u) p[u] = v[u];
  }
};

// out [OH, OW] = b + conv(padded plane, w [kh, kw]), reading the plane at
// (oy*sh + ki*dh, ox*sw + kj*dw). Strided rows take the scalar loop.
template <typename T>
void depthwise_plane_forward(const ConvGeometry& g, const Padded& P, const T* pad, const T* w, T b, T* out) {
  using D = DwVec<T>;
  for (int64_t oy = 0; oy < g.OH; ++oy) {
    T* o = out + oy * g.OW;
    const T* prow0 = pad + oy * g.sh * P.PW;
    if (g.sw == 1) {
      for (int64_t ox = 0; ox < g.OW; ox += D::kLanes) {
        typename D::V acc = typename D::V{} + b;
        for (int64_t ki = 0; ki < g.kh; ++ki)
          for (int64_t kj = 0; kj < g.kw; ++kj)
            D::fma(acc, w[ki * g.kw + kj], prow0 + ki * g.dh * P.PW + kj * g.dw + ox);
        D::store(o + ox, acc, std::min(D::kLanes, g.OW - ox));
      }
      continue;
    }
    for (int64_t ox = 0; ox < g.OW; ++ox) {
      T acc = b;
      for (int64_t ki = 0; ki < g.kh; ++ki)
        for (int64_t kj = 0; kj < g.kw; ++kj) acc += w[ki * g.kw + kj] * prow0[ki * g.dh * P.PW + ox * g.sw + kj * g.dw];
      o[ox] = acc;
    }
  }
}

// One task per (sample, input channel): pad its plane once, then its M outputs.
template <typename T>
void depthwise_forward(const ConvGeometry& g, const T* image, const T* weight, const T* bias, T* map) {
  const int64_t M = g.C_out / g.C_in, HW = g.H * g.W, OHW = g.OH * g.OW, K = g.kh * g.kw;
  const Padded P = padded_size(g);
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, M * OHW * K));
  parallel_for(0, g.N * g.C_in, grain, [&](int64_t p0, int64_t p1) {
    T* pad = thread_buffer<T>(3, P.PH * P.PW + DwVec<T>::kLanes);
    for (int64_t p = p0; p < p1; ++p) {
      pad_plane(g, P, image + p * HW, pad);
      const int64_t n = p / g.C_in, c = p % g.C_in;
      for (int64_t m = 0; m < M; ++m) {
        const int64_t co = c * M + m;
        depthwise_plane_forward(g, P, pad, weight + co * K, bias ? bias[co] : T(0),
                                map + (n * g.C_out + co) * OHW);
      }
    }
  });
}

// image[n, c] = bias[c] + the M output planes of c taken back through the
// kernel taps. At stride 1 this is a correlation with the flipped kernel:
//   image[iy, ix] = sum_(ki, kj) w[kh-1-ki, kw-1-kj] * mp[iy + ph + ki*dh, ix + pw + kj*dw]
// where mp is the map plane placed at ((kh-1)*dh, (kw-1)*dw) in a zero plane,
// so it runs as the forward kernel does (outputs in registers). Strided
// convolutions scatter each map row into a padded image plane instead.
template <typename T>
void depthwise_transpose(const ConvGeometry& g, const T* map, const T* weight, const T* bias, T* image) {
  const int64_t M = g.C_out / g.C_in, HW = g.H * g.W, OHW = g.OH * g.OW, K = g.kh * g.kw;
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, M * OHW * K));
  if (g.sh == 1 && g.sw == 1) {
    const int64_t ah = (g.kh - 1) * g.dh, aw = (g.kw - 1) * g.dw;
    const int64_t MH = std::max(g.H + g.ph + ah, ah + g.OH), MW = std::max(g.W + g.pw + aw, aw + g.OW);
    parallel_for(0, g.N * g.C_in, grain, [&](int64_t p0, int64_t p1) {
      using D = DwVec<T>;
      T* mp = thread_buffer<T>(3, MH * MW + D::kLanes);
      T* wf = thread_buffer<T>(4, K);
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t n = p / g.C_in, c = p % g.C_in;
        T* plane = image + p * HW;
        for (int64_t m = 0; m < M; ++m) {
          const int64_t co = c * M + m;
          const T* src = map + (n * g.C_out + co) * OHW;
          std::fill_n(mp, MH * MW + D::kLanes, T(0));
          for (int64_t y = 0; y < g.OH; ++y) std::copy_n(src + y * g.OW, g.OW, mp + (y + ah) * MW + aw);
          for (int64_t k = 0; k < K; ++k) wf[k] = weight[co * K + K - 1 - k];
          const T* base = mp + g.ph * MW + g.pw;
          for (int64_t iy = 0; iy < g.H; ++iy) {
            T* d = plane + iy * g.W;
            const T* row0 = base + iy * MW;
            for (int64_t ix = 0; ix < g.W; ix += D::kLanes) {
              const int64_t cnt = std::min(D::kLanes, g.W - ix);
              // The first multiplier starts from the bias, later ones from the partial sum.
              typename D::V acc = typename D::V{} + (bias ? bias[c] : T(0));
              if (m > 0)
                for (int64_t u = 0; u < cnt; ++u) acc[u] = d[ix + u];
              for (int64_t ki = 0; ki < g.kh; ++ki)
                for (int64_t kj = 0; kj < g.kw; ++kj)
                  D::fma(acc, wf[ki * g.kw + kj], row0 + ki * g.dh * MW + kj * g.dw + ix);
              D::store(d + ix, acc, cnt);
            }
          }
        }
      }
    });
    return;
  }
  const Padded P = padded_size(g);
  parallel_for(0, g.N * g.C_in, grain, [&](int64_t p0, int64_t p1) {
    T* pad = thread_buffer<T>(3, P.PH * P.PW);
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / g.C_in, c = p % g.C_in;
      std::fill_n(pad, P.PH * P.PW, T(0));
      for (int64_t m = 0; m < M; ++m) {
        const int64_t co = c * M + m;
        const T* src = map + (n * g.C_out + co) * OHW;
        const T* w = weight + co * K;
        for (int64_t oy = 0; oy < g.OH; ++oy) {
          const T* __restrict s = src + oy * g.OW;
          for (int64_t ki = 0; ki < g.kh; ++ki) {
            T* prow = pad + (oy * g.sh + ki * g.dh) * P.PW;
            for (int64_t kj = 0; kj < g.kw; ++kj) {
              T* __restrict r = prow + kj * g.dw;
              const T wv = w[ki * g.kw + kj];
              if (g.sw == 1)
                for (int64_t ox = 0; ox < g.OW; ++ox) r[ox] += wv * s[ox];
              else
                for (int64_t ox = 0; ox < g.OW; ++ox) r[ox * g.sw] += wv * s[ox];
            }
          }
        }
      }
      T* plane = image + p * HW;
      const T b = bias ? bias[c] : T(0);
      for (int64_t y = 0; y < g.H; ++y) {
        const T* __restrict r = pad + (y + g.ph) * P.PW + g.pw;
        T* __restrict d = plane + y * g.W;
        for (int64_t x = 0; x < g.W; ++x) d[x] = r[x] + b;
      }
    }
  });
}

// weight_grad[co, ki, kj] = sum_n sum_(oy, ox) map[n, co, oy, ox] * padded image[n, c] at the tap:
// one output channel per task. Each tap keeps kLanes lane sums over all
// rows and samples (reduced once at the end), so the row loop vectorizes; the
// order is fixed, so the result does not depend on the thread count.
template <typename T>
void depthwise_weight_grad(const ConvGeometry& g, const T* image, const T* map, T* weight_grad) {
  const int64_t M = g.C_out / g.C_in, HW = g.H * g.W, OHW = g.OH * g.OW, K = g.kh * g.kw;
  const Padded P = padded_size(g);
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, g.N * OHW * K));
  parallel_for(0, g.C_out, grain, [&](int64_t c0, int64_t c1) {
    using D = DwVec<T>;
    constexpr int64_t L = D::kLanes;
    T* pad = thread_buffer<T>(3, P.PH * P.PW);
    T* lanes = thread_buffer<T>(4, K * (L + 1));  // per tap: L lane sums + the tail sum
    for (int64_t co = c0; co < c1; ++co) {
      std::fill_n(lanes, K * (L + 1), T(0));
      for (int64_t n = 0; n < g.N; ++n) {
        pad_plane(g, P, image + (n * g.C_in + co / M) * HW, pad);
        const T* src = map + (n * g.C_out + co) * OHW;
        for (int64_t ki = 0; ki < g.kh; ++ki)
          for (int64_t kj = 0; kj < g.kw; ++kj) {
            T* a = lanes + (ki * g.kw + kj) * (L + 1);
            typename D::V acc;
            std::memcpy(&acc, a, sizeof(acc));
            T tail = a[L];
            for (int64_t oy = 0; oy < g.OH; ++oy) {
              const T* s = src + oy * g.OW;
              const T* r = pad + (oy * g.sh + ki * g.dh) * P.PW + kj * g.dw;
              int64_t ox = 0;
              if (g.sw == 1)
                for (; ox + L <= g.OW; ox += L) D::fma(acc, s + ox, r + ox);
              for (; ox < g.OW; ++ox) tail += s[ox] * r[ox * g.sw];
            }
            D::store(a, acc, L);
            a[L] = tail;
          }
      }
      T* gw = weight_grad + co * K;
      for (int64_t k = 0; k < K; ++k) {
        const T* a = lanes + k * (L + 1);
        T sum = 0;
        for (int u = 0; u <= L; ++u) sum += a[u];
        gw[k] = sum;
      }
    }
  });
}

// ---------------------------------------------------------------------------
// Implicit GEMM: the GEMM's B operand is the column matrix of a block of
// samples, packed straight from the image into the GEMM's kc x NR slivers
// (cpu::gemm_packer_b), so im2col's buffer is never written or read back.
// The block's image is first copied once into a zero-padded buffer (C_in
// planes PH x PW, 1/(kh*kw) of the column matrix at stride 1), so that every
// tap of every output pixel reads inside it: the packers have no bounds tests.
// ---------------------------------------------------------------------------

// The zero-padded copy of a block: the image at (top, left) of PH x PW
// planes, large enough for every tap, plus slack so a packer may copy a
// whole sliver row (up to 32 elements) from any tap's start.
struct PadLayout {
  int64_t top, left, PH, PW;
  int64_t plane() const { return PH * PW; }
};

PadLayout pad_layout(const ConvGeometry& g) {
  PadLayout p;
  // Padding may be negative (the stride-1 transpose of a conv padded beyond
  // its kernel's reach): such rows are simply never read.
  p.top = std::max<int64_t>(g.ph, 0), p.left = std::max<int64_t>(g.pw, 0);
  p.PH = std::max(p.top + g.H, (g.OH - 1) * g.sh - g.ph + (g.kh - 1) * g.dh + 1 + p.top);
  p.PW = std::max(p.left + g.W, (g.OW - 1) * g.sw - g.pw + (g.kw - 1) * g.dw + 1 + p.left);
  return p;
}

constexpr int64_t kPadSlack = 32;

// Below this many input channels per group the stride-1 transpose keeps the
// GEMM + col2im path (see conv2d_transpose).
constexpr int64_t kMinImplicitTransposeRows = 16;

// A 1x1 kernel's column matrix repeats no pixel (it is the image, or a
// subsample of it at stride 2), so there is no im2col traffic to remove and
// the padded copy would be an extra pass: 1x1 convolutions keep the im2col
// path (which reads a stride-1 image in place). The ResNet 1x1 stride-2
// shortcuts measured 0.7-0.85x slower through the implicit path.
bool uses_implicit(const ConvGeometry& g) { return g.kh * g.kw > 1; }

// dst = the nb samples of img, each [C_in, PH, PW], zero outside the image.
template <typename T>
void pad_block(const ConvGeometry& g, const PadLayout& L, const T* img, int64_t nb, T* dst) {
  const int64_t HW = g.H * g.W, P = L.plane();
  parallel_for(0, nb * g.C_in, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, P)), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* src = img + p * HW;
      T* d = dst + p * P;
      std::fill_n(d, L.top * L.PW, T(0));
      for (int64_t y = 0; y < g.H; ++y) {
        T* row = d + (L.top + y) * L.PW;
        std::fill_n(row, L.left, T(0));
        std::copy_n(src + y * g.W, g.W, row + L.left);
        std::fill(row + L.left + g.W, row + L.PW, T(0));
      }
      std::fill(d + (L.top + g.H) * L.PW, d + P, T(0));
    }
  });
  std::fill_n(dst + nb * g.C_in * P, kPadSlack, T(0));
}

// The operand of one GEMM: the padded block, offset to the group's first channel.
template <typename T>
struct ImplicitCols {
  const ConvGeometry* g;
  const PadLayout* L;
  const T* pad;
  int64_t sample_stride;  // C_in * PH * PW
};

// Map pixels [j, j + cnt) of a block, cut into runs that share a sample and an
// output row: f(t, len, base) with t the run's first pixel relative to j and
// base the padded-buffer offset of its tap (0, 0) input pixel. Along a run the
// input pixels of any tap are sw apart.
template <typename T, typename F>
void for_each_run(const ImplicitCols<T>& s, int64_t j, int64_t cnt, F&& f) {
  const ConvGeometry& g = *s.g;
  const int64_t OHW = g.OH * g.OW;
  int64_t i = j / OHW, q = j % OHW, oy = q / g.OW, ox = q % g.OW;
  for (int64_t t = 0; t < cnt;) {
    const int64_t len = std::min(g.OW - ox, cnt - t);
    f(t, len,
      i * s.sample_stride + (oy * g.sh - g.ph + s.L->top) * s.L->PW + ox * g.sw - g.pw + s.L->left);
    t += len;
    ox += len;
    if (ox == g.OW) {
      ox = 0;
      if (++oy == g.OH) oy = 0, ++i;
    }
  }
}

// Forward (and stride-1 transpose): B = col[(c, ki, kj), pixel], the GEMM's
// columns are map pixels. Per sliver, its pixels are cut into runs once
// (1-2 at 28x28, 4 at 4x4 with NR = 16); each k row is then one copy per run
// from the padded image at the tap's offset. At stride 1 that copy is a whole
// NR-wide vector copy (a fixed-size memcpy the compiler inlines): a run's
// extra elements land where the next run (or the next row, or the zeroing
// of a partial sliver) overwrites them, and the packed buffer and the padded
// image both have slack for the last one.
template <typename T, int kNR>
void pack_cols_nr(const ImplicitCols<T>& s, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int64_t nr_rt, T* dst) {
  const ConvGeometry& g = *s.g;
  const int64_t nr = kNR ? kNR : nr_rt;
  const int64_t khw = g.kh * g.kw, P = s.L->plane(), PW = s.L->PW;
  int64_t rt[32], rlen[32];
  const T* rsrc[32];
  assert(nr <= 32);
  for (int64_t j = 0; j < nc; j += nr, dst += kc * nr) {
    const int64_t cnt = std::min(nr, nc - j);
    int nrun = 0;
    for_each_run(s, j0 + j, cnt, [&](int64_t t, int64_t len, int64_t base) {
      rt[nrun] = t, rlen[nrun] = len, rsrc[nrun] = s.pad + base;
      ++nrun;
    });
    int64_t c = k0 / khw, ki = k0 % khw / g.kw, kj = k0 % g.kw;
    for (int64_t k = 0; k < kc; ++k) {
      T* d = dst + k * nr;
      const int64_t tap = c * P + ki * g.dh * PW + kj * g.dw;
      if (kNR && g.sw == 1) {
        for (int r = 0; r < nrun; ++r) std::memcpy(d + rt[r], rsrc[r] + tap, kNR * sizeof(T));
      } else {
        for (int r = 0; r < nrun; ++r) {
          const T* src = rsrc[r] + tap;
          T* dr = d + rt[r];
          for (int64_t u = 0; u < rlen[r]; ++u) dr[u] = src[u * g.sw];
        }
      }
      for (int64_t u = cnt; u < nr; ++u) d[u] = T(0);
      if (++kj == g.kw) {
        kj = 0;
        if (++ki == g.kh) ki = 0, ++c;
      }
    }
  }
}

template <typename T>
void pack_cols(const void* ctx, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int64_t nr, T* dst) {
  const auto& s = *static_cast<const ImplicitCols<T>*>(ctx);
  if (nr == 8) return pack_cols_nr<T, 8>(s, k0, kc, j0, nc, nr, dst);
  if (nr == 16) return pack_cols_nr<T, 16>(s, k0, kc, j0, nc, nr, dst);
  if (nr == 32) return pack_cols_nr<T, 32>(s, k0, kc, j0, nc, nr, dst);
  pack_cols_nr<T, 0>(s, k0, kc, j0, nc, nr, dst);
}

#ifdef __AVX2__
// out[p * ld + q] = src[off[q] + p] for p, q in [0, 8): rows of 8 pixels from
// 8 taps, stored as 8 pixels' rows of 8 taps.
inline void transpose8_store(const float* src, const int64_t* off, float* out, int64_t ld) {
  const __m256 r0 = _mm256_loadu_ps(src + off[0]), r1 = _mm256_loadu_ps(src + off[1]);
  const __m256 r2 = _mm256_loadu_ps(src + off[2]), r3 = _mm256_loadu_ps(src + off[3]);
  const __m256 r4 = _mm256_loadu_ps(src + off[4]), r5 = _mm256_loadu_ps(src + off[5]);
  const __m256 r6 = _mm256_loadu_ps(src + off[6]), r7 = _mm256_loadu_ps(src + off[7]);
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  _mm256_storeu_ps(out + 0 * ld, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_storeu_ps(out + 1 * ld, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_storeu_ps(out + 2 * ld, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_storeu_ps(out + 3 * ld, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_storeu_ps(out + 4 * ld, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_storeu_ps(out + 5 * ld, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_storeu_ps(out + 6 * ld, _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_storeu_ps(out + 7 * ld, _mm256_permute2f128_ps(u3, u7, 0x31));
}
#endif

// Weight gradient: B = col^T[pixel, (c, ki, kj)], the GEMM's columns are taps.
// Sliver by sliver (kc x NR, 16 KiB: stays in L1): each of its NR taps copies,
// run by run, a padded-image row segment into its column of the sliver
// (stride NR); the taps of one channel reread the same rows from L1.
template <typename T>
void pack_cols_t(const void* ctx, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int64_t nr, T* dst) {
  const auto& s = *static_cast<const ImplicitCols<T>*>(ctx);
  const ConvGeometry& g = *s.g;
  const int64_t khw = g.kh * g.kw, P = s.L->plane(), PW = s.L->PW, sw = g.sw;
  for (int64_t j = 0; j < nc; j += nr, dst += kc * nr) {
    const int64_t cnt = std::min(nr, nc - j);
    int64_t taps[32];
    assert(nr <= 32);
    for (int64_t t = 0; t < cnt; ++t) {
      const int64_t tap = j0 + j + t, c = tap / khw, ki = tap % khw / g.kw, kj = tap % g.kw;
      taps[t] = c * P + ki * g.dh * PW + kj * g.dw;
    }
    for_each_run(s, k0, kc, [&](int64_t t0, int64_t len, int64_t base) {
      const T* src = s.pad + base;
      T* d = dst + t0 * nr;
#ifdef __AVX2__
      if constexpr (std::is_same_v<T, float>) {
        // 8 taps x 8 pixels at a time: 8 row loads, an in-register 8 x 8
        // transpose, 8 stores of 8 taps (the scalar loop below does one
        // element per load/store pair; this measured ~2x faster).
        if (sw == 1 && cnt == nr && nr % 8 == 0 && len >= 8) {
          const int64_t len8 = len / 8 * 8;
          for (int64_t tg = 0; tg < nr; tg += 8)
            for (int64_t u = 0; u < len8; u += 8) transpose8_store(src + u, taps + tg, d + u * nr + tg, nr);
          for (int64_t t = 0; t < cnt; ++t)
            for (int64_t u = len8; u < len; ++u) d[u * nr + t] = src[taps[t] + u];
          return;
        }
      }
#endif
      for (int64_t t = 0; t < cnt; ++t) {
        const T* __restrict in = src + taps[t];
        T* __restrict out = d + t;
        if (sw == 1)
          for (int64_t u = 0; u < len; ++u) out[u * nr] = in[u];
        else
          for (int64_t u = 0; u < len; ++u) out[u * nr] = in[u * sw];
      }
      for (int64_t u = 0; u < len; ++u)
        for (int64_t t = cnt; t < nr; ++t) d[u * nr + t] = T(0);
    });
  }
}

// map = conv(image, weight) + bias by implicit GEMM, any stride, padding,
// dilation and groups: per block of samples and group,
//   C[Cog, nb*OHW] = W[g] @ col[g]   (col packed from the padded block on the fly)
// One sample writes straight into the map (bias fused in the GEMM epilogue);
// a block goes through a [C_out, nb*OHW] buffer and scatter_block.
template <typename T>
void implicit_forward(const ConvGeometry& g, const T* image, const T* weight, const T* bias, T* map) {
  const int64_t G = g.groups, Cog = g.C_out / G, Cg = g.C_in / G;
  const int64_t Kg = Cg * g.kh * g.kw;
  const int64_t OHW = g.OH * g.OW, HW = g.H * g.W;
  const PadLayout L = pad_layout(g);
  const Plan plan = make_plan(g, ConvPath::kAuto);
  for_each_block(g, plan, [&](int64_t, int64_t n0, int64_t n1) {
    const int64_t nb = n1 - n0, cols = nb * OHW;
    T* pad = thread_buffer<T>(0, nb * g.C_in * L.plane() + kPadSlack);
    pad_block(g, L, image + n0 * g.C_in * HW, nb, pad);
    T* y = map + n0 * g.C_out * OHW;
    T* C = nb == 1 ? y : thread_buffer<T>(1, g.C_out * cols);
    for (int64_t grp = 0; grp < G; ++grp) {
      const ImplicitCols<T> src{&g, &L, pad + grp * Cg * L.plane(), g.C_in * L.plane()};
      Epilogue<T> ep;
      if (nb == 1 && bias) ep.bias = bias + grp * Cog, ep.bias_per_row = true;
      gemm_packer_b<T>(Cog, cols, Kg, T(1), MatRef<const T>{weight + grp * Cog * Kg, Kg, 1},
                       BPacker<T>{&pack_cols<T>, &src}, T(0), C + grp * Cog * cols, cols, ep);
    }
    if (nb > 1) scatter_block(C, nb, g.C_out, OHW, bias, y);
  });
}

// The input gradient of a stride-1 convolution is itself a stride-1
// convolution of the map: with ki' = kh-1-ki,
//   image[c, iy, ix] = sum_{co, ki', kj'} W[co, c, kh-1-ki', kw-1-kj'] *
//                      map[co, iy - ((kh-1)*dh - ph) + ki'*dh, ix - ((kw-1)*dw - pw) + kj'*dw]
// i.e. conv(map, flip(W)^T) with padding (k-1)*d - p (negative when the
// padding exceeds the kernel's reach), the same dilation and groups. It runs
// through implicit_forward: no [C_in*kh*kw, pixels] product, no col2im.
template <typename T>
void implicit_transpose_stride1(const ConvGeometry& g, const T* map, const T* weight, const T* bias, T* image) {
  const int64_t G = g.groups, Cog = g.C_out / G, Cg = g.C_in / G, khw = g.kh * g.kw;
  ConvGeometry t;
  t.N = g.N, t.C_in = g.C_out, t.H = g.OH, t.W = g.OW;
  t.C_out = g.C_in, t.kh = g.kh, t.kw = g.kw, t.OH = g.H, t.OW = g.W;
  t.sh = t.sw = 1, t.dh = g.dh, t.dw = g.dw, t.groups = G;
  t.ph = (g.kh - 1) * g.dh - g.ph, t.pw = (g.kw - 1) * g.dw - g.pw;
  // flipped[grp*Cg + ci, co, r'] = W[grp*Cog + co, ci, khw-1-r']: [C_in, Cog, kh, kw].
  T* flipped = thread_buffer<T>(2, g.C_out * Cg * khw);
  for (int64_t grp = 0; grp < G; ++grp)
    for (int64_t co = 0; co < Cog; ++co)
      for (int64_t ci = 0; ci < Cg; ++ci) {
        const T* w = weight + ((grp * Cog + co) * Cg + ci) * khw;
        T* f = flipped + ((grp * Cg + ci) * Cog + co) * khw;
        for (int64_t r = 0; r < khw; ++r) f[r] = w[khw - 1 - r];
      }
  implicit_forward(t, map, flipped, bias, image);
}

// weight_grad = sum over blocks of map[Cog, pixels] @ col[g]^T, col^T packed
// from the padded block (the map side of a multi-sample block is still
// gathered: it is kh*kw*C_in/C_out times smaller than the columns).
template <typename T>
void implicit_weight_grad(const ConvGeometry& g, const T* image, const T* map, T* weight_grad) {
  const int64_t G = g.groups, Cog = g.C_out / G, Cg = g.C_in / G;
  const int64_t Kg = Cg * g.kh * g.kw, OHW = g.OH * g.OW, HW = g.H * g.W, wsize = g.C_out * Kg;
  const PadLayout L = pad_layout(g);
  const Plan plan = make_plan(g, ConvPath::kAuto, kTargetDepthCols);
  T* partial = plan.P > 1 ? thread_buffer<T>(2, (plan.P - 1) * wsize) : nullptr;
  auto acc_of = [&](int64_t p) { return p == 0 ? weight_grad : partial + (p - 1) * wsize; };
  for_each_block(g, plan, [&](int64_t p, int64_t n0, int64_t n1) {
    T* acc = acc_of(p);
    const T beta = n0 == p * g.N / plan.P ? T(0) : T(1);  // the range's first block overwrites
    const int64_t nb = n1 - n0, cols = nb * OHW;
    T* pad = thread_buffer<T>(0, nb * g.C_in * L.plane() + kPadSlack);
    pad_block(g, L, image + n0 * g.C_in * HW, nb, pad);
    const T* A = map + n0 * g.C_out * OHW;
    if (nb > 1) {
      T* buf = thread_buffer<T>(1, g.C_out * cols);
      gather_block(A, nb, g.C_out, OHW, buf);
      A = buf;
    }
    for (int64_t grp = 0; grp < G; ++grp) {
      const ImplicitCols<T> src{&g, &L, pad + grp * Cg * L.plane(), g.C_in * L.plane()};
      gemm_packer_b<T>(Cog, Kg, cols, T(1), MatRef<const T>{A + grp * Cog * cols, cols, 1},
                       BPacker<T>{&pack_cols_t<T>, &src}, beta, acc + grp * Cog * Kg, Kg);
    }
  });
  for (int64_t p = 1; p < plan.P; ++p) {
    const T* __restrict src = acc_of(p);
    for (int64_t i = 0; i < wsize; ++i) weight_grad[i] += src[i];
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// The three maps: dispatch between the depthwise kernels and im2col + GEMM.
// ---------------------------------------------------------------------------

template <typename T>
void conv2d_forward(const ConvGeometry& g, const T* image, const T* weight, const T* bias, T* map, ConvPath path) {
  if (g.N == 0 || g.C_out == 0) return;
  if (path != ConvPath::kPerSample && is_depthwise(g)) return depthwise_forward(g, image, weight, bias, map);
  if (path == ConvPath::kAuto && uses_implicit(g)) return implicit_forward(g, image, weight, bias, map);
  const int64_t G = g.groups, Cog = g.C_out / G;
  const int64_t Kg = g.C_in / G * g.kh * g.kw;  // GEMM depth per group
  const int64_t Kcol = g.C_in * g.kh * g.kw;    // rows of the column matrix
  const int64_t OHW = g.OH * g.OW, HW = g.H * g.W;
  const bool pointwise = is_pointwise(g);
  const Plan plan = make_plan(g, path);
  for_each_block(g, plan, [&](int64_t, int64_t n0, int64_t n1) {
    const int64_t nb = n1 - n0, cols = nb * OHW;
    const T* x = image + n0 * g.C_in * HW;
    const T* B = x;  // column matrix [Kcol, cols]
    if (!pointwise || nb > 1) {
      T* col = thread_buffer<T>(0, Kcol * cols);
      for (int64_t i = 0; i < nb; ++i) im2col(g, x + i * g.C_in * HW, col + i * OHW, cols);
      B = col;
    }
    // One sample writes straight into the map; a block goes through a buffer.
    T* y = map + n0 * g.C_out * OHW;
    T* C = nb == 1 ? y : thread_buffer<T>(1, g.C_out * cols);
    for (int64_t grp = 0; grp < G; ++grp)
      gemm<T>(Cog, cols, Kg, T(1), MatRef<const T>{weight + grp * Cog * Kg, Kg, 1},
              MatRef<const T>{B + grp * Kg * cols, cols, 1}, T(0), C + grp * Cog * cols, cols);
    if (nb == 1)
      add_bias_planes(y, g.C_out, OHW, bias);
    else
      scatter_block(C, nb, g.C_out, OHW, bias, y);
  });
}

template <typename T>
void conv2d_transpose(const ConvGeometry& g, const T* map, const T* weight, const T* bias, T* image, ConvPath path) {
  if (g.N == 0 || g.C_in == 0) return;
  if (path != ConvPath::kPerSample && is_depthwise(g)) return depthwise_transpose(g, map, weight, bias, image);
  // The flipped convolution's GEMM has C_in / groups rows: below ~16 most of
  // the micro-kernel's MR-row tile is padding (a single input channel measured
  // 4x slower than GEMM + col2im), so narrow outputs keep the im2col path.
  if (path == ConvPath::kAuto && uses_implicit(g) && g.sh == 1 && g.sw == 1 &&
      g.C_in / g.groups >= kMinImplicitTransposeRows)
    return implicit_transpose_stride1(g, map, weight, bias, image);
  const int64_t G = g.groups, Cog = g.C_out / G, Cg = g.C_in / G;
  const int64_t Kg = Cg * g.kh * g.kw, Kcol = g.C_in * g.kh * g.kw;
  const int64_t OHW = g.OH * g.OW, HW = g.H * g.W;
  const bool pointwise = is_pointwise(g);
  const Plan plan = make_plan(g, path);
  for_each_block(g, plan, [&](int64_t, int64_t n0, int64_t n1) {
    const int64_t nb = n1 - n0, cols = nb * OHW;
    T* x = image + n0 * g.C_in * HW;
    const T* y = map + n0 * g.C_out * OHW;
    const T* A = y;  // the block's map as [C_out, cols]
    if (nb > 1) {
      T* buf = thread_buffer<T>(1, g.C_out * cols);
      gather_block(y, nb, g.C_out, OHW, buf);
      A = buf;
    }
    // col[g] = W[g]^T @ map[g]; W[g] is [Cog, Kg] row-major, read transposed.
    // One pointwise sample: col is the image itself.
    const bool direct = pointwise && nb == 1;
    T* col = direct ? x : thread_buffer<T>(0, Kcol * cols);
    for (int64_t grp = 0; grp < G; ++grp)
      gemm<T>(Kg, cols, Cog, T(1), MatRef<const T>{weight + grp * Cog * Kg, 1, Kg},
              MatRef<const T>{A + grp * Cog * cols, cols, 1}, T(0), col + grp * Kg * cols, cols);
    if (direct) {
      add_bias_planes(x, g.C_in, HW, bias);
      return;
    }
    for (int64_t i = 0; i < nb; ++i) {
      T* xi = x + i * g.C_in * HW;
      for (int64_t c = 0; c < g.C_in; ++c) std::fill_n(xi + c * HW, HW, bias ? bias[c] : T(0));
      col2im_add(g, col + i * OHW, cols, xi);
    }
  });
}

template <typename T>
void conv2d_weight_grad(const ConvGeometry& g, const T* image, const T* map, T* weight_grad, ConvPath path) {
  const int64_t G = g.groups, Cog = g.C_out / G;
  const int64_t Kg = g.C_in / G * g.kh * g.kw, Kcol = g.C_in * g.kh * g.kw;
  const int64_t OHW = g.OH * g.OW, HW = g.H * g.W;
  const int64_t wsize = g.C_out * Kg;
  if (wsize == 0) return;
  if (g.N == 0) {
    std::fill_n(weight_grad, wsize, T(0));
    return;
  }
  if (path != ConvPath::kPerSample && is_depthwise(g)) return depthwise_weight_grad(g, image, map, weight_grad);
  if (path == ConvPath::kAuto && uses_implicit(g)) return implicit_weight_grad(g, image, map, weight_grad);
  const bool pointwise = is_pointwise(g);
  const Plan plan = make_plan(g, path, kTargetDepthCols);
  // One accumulator per range: range 0 sums into the output, range p > 0 into
  // slice p - 1 of the calling thread's buffer (kept between calls); they are
  // added in range order afterwards.
  T* partial = plan.P > 1 ? thread_buffer<T>(2, (plan.P - 1) * wsize) : nullptr;
  auto acc_of = [&](int64_t p) { return p == 0 ? weight_grad : partial + (p - 1) * wsize; };
  for_each_block(g, plan, [&](int64_t p, int64_t n0, int64_t n1) {
    T* acc = acc_of(p);
    if (n0 == p * g.N / plan.P) std::fill_n(acc, wsize, T(0));  // the range's first block
    const int64_t nb = n1 - n0, cols = nb * OHW;
    const T* x = image + n0 * g.C_in * HW;
    const T* y = map + n0 * g.C_out * OHW;
    const T* B = x;
    if (!pointwise || nb > 1) {
      T* col = thread_buffer<T>(0, Kcol * cols);
      for (int64_t i = 0; i < nb; ++i) im2col(g, x + i * g.C_in * HW, col + i * OHW, cols);
      B = col;
    }
    const T* A = y;
    if (nb > 1) {
      T* buf = thread_buffer<T>(1, g.C_out * cols);
      gather_block(y, nb, g.C_out, OHW, buf);
      A = buf;
    }
    for (int64_t grp = 0; grp < G; ++grp)
      gemm<T>(Cog, Kg, cols, T(1), MatRef<const T>{A + grp * Cog * cols, cols, 1},
              MatRef<const T>{B + grp * Kg * cols, 1, cols}, T(1), acc + grp * Cog * Kg, Kg);
  });
  for (int64_t p = 1; p < plan.P; ++p) {
    const T* __restrict src = acc_of(p);
    for (int64_t i = 0; i < wsize; ++i) weight_grad[i] += src[i];
  }
}

ConvPath default_conv_path() {
  static const ConvPath path = [] {
    const char* v = std::getenv("WICK_CONV_PATH");
    if (v && std::strcmp(v, "im2col") == 0) return ConvPath::kIm2col;
    if (v && std::strcmp(v, "per_sample") == 0) return ConvPath::kPerSample;
    return ConvPath::kAuto;
  }();
  return path;
}

#define WICK_CONV_INSTANTIATE_(T)                                                                        \
  template void conv2d_forward<T>(const ConvGeometry&, const T*, const T*, const T*, T*, ConvPath);     \
  template void conv2d_transpose<T>(const ConvGeometry&, const T*, const T*, const T*, T*, ConvPath);   \
  template void conv2d_weight_grad<T>(const ConvGeometry&, const T*, const T*, T*, ConvPath);           \
  template void conv2d_forward_reference<T>(const ConvGeometry&, const T*, const T*, const T*, T*);     \
  template void conv2d_transpose_reference<T>(const ConvGeometry&, const T*, const T*, const T*, T*);   \
  template void conv2d_weight_grad_reference<T>(const ConvGeometry&, const T*, const T*, T*);
WICK_CONV_INSTANTIATE_(float)
WICK_CONV_INSTANTIATE_(double)
#undef WICK_CONV_INSTANTIATE_

}  // namespace wick::cpu
