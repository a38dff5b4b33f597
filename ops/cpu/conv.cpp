// CPU convolution: im2col + GEMM, one sample at a time (see ops/cpu/conv.h
// for the geometry and the three maps).
//
// im2col unrolls sample n of the image into a column matrix
//   col[(c, ki, kj), (oy, ox)] = image[c, oy*sh - ph + ki*dh, ox*sw - pw + kj*dw]   (0 outside)
// of shape [C_in*kh*kw, OH*OW], so that for each group g
//   map_n[g]        = W[g] [C_out/G, C_in/G*kh*kw] @ col[g]                    (forward)
//   col[g]          = W[g]^T @ map_n[g],  image_n = col2im(col)                (transpose)
//   weight_grad[g] += map_n[g] @ col[g]^T                                       (weight gradient)
// col2im is the adjoint of im2col: it adds every column entry back into the
// pixel it was read from. A 1x1 kernel with stride 1 and no padding needs no
// unrolling: the image itself is the column matrix.
//
// FLOPs: 2 * N * C_out * OH * OW * (C_in/groups) * kh * kw for each map.
// The time goes to cpu::gemm; im2col/col2im are one pass over the column
// buffer. Measured (float32, 64 -> 64 channels, 56x56, 3x3, one thread, Zen 3,
// shared machine): about 5 GFLOP/s forward, i.e. the GEMM's speed; a faster
// GEMM speeds convolution up directly.
// Parallelism: with at least as many samples as threads, samples are split
// across threads (one reused column buffer per thread, the GEMMs run serially
// inside); otherwise samples run one after another and each GEMM splits its
// rows across threads. The weight gradient sums per-thread partials in a
// fixed order, so results do not depend on scheduling.
#include "ops/cpu/conv.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "ops/cpu/gemm.h"
#include "tensor/parallel.h"

namespace wick::cpu {

namespace {

// Below this many multiply-adds in total the batch runs on one thread.
constexpr int64_t kMinParallelWork = 1 << 18;

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

int64_t channel_grain(const ConvGeometry& g) {
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, g.kh * g.kw * g.OH * g.OW));
}

// Reference definition above; rows are independent per input channel.
template <typename T>
void im2col(const ConvGeometry& g, const T* img, T* col) {
  const int64_t OHW = g.OH * g.OW;
  parallel_for(0, g.C_in, channel_grain(g), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const T* plane = img + c * g.H * g.W;
      for (int64_t ki = 0; ki < g.kh; ++ki) {
        for (int64_t kj = 0; kj < g.kw; ++kj) {
          T* dst = col + ((c * g.kh + ki) * g.kw + kj) * OHW;
          const int64_t off = kj * g.dw - g.pw;
          int64_t lo, hi;
          valid_range(off, g.sw, g.W, g.OW, lo, hi);
          for (int64_t oy = 0; oy < g.OH; ++oy) {
            T* d = dst + oy * g.OW;
            const int64_t iy = oy * g.sh - g.ph + ki * g.dh;
            if (iy < 0 || iy >= g.H) {
              std::fill(d, d + g.OW, T(0));
              continue;
            }
            const T* row = plane + iy * g.W;
            std::fill(d, d + lo, T(0));
            if (g.sw == 1) {
              for (int64_t ox = lo; ox < hi; ++ox) d[ox] = row[ox + off];
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

// img += col2im(col): the adjoint of im2col. Each channel owns its plane, so
// channels run in parallel without races.
template <typename T>
void col2im_add(const ConvGeometry& g, const T* col, T* img) {
  const int64_t OHW = g.OH * g.OW;
  parallel_for(0, g.C_in, channel_grain(g), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      T* plane = img + c * g.H * g.W;
      for (int64_t ki = 0; ki < g.kh; ++ki) {
        for (int64_t kj = 0; kj < g.kw; ++kj) {
          const T* src = col + ((c * g.kh + ki) * g.kw + kj) * OHW;
          const int64_t off = kj * g.dw - g.pw;
          int64_t lo, hi;
          valid_range(off, g.sw, g.W, g.OW, lo, hi);
          for (int64_t oy = 0; oy < g.OH; ++oy) {
            const int64_t iy = oy * g.sh - g.ph + ki * g.dh;
            if (iy < 0 || iy >= g.H) continue;
            T* row = plane + iy * g.W;
            const T* s = src + oy * g.OW;
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

// An uninitialized scratch buffer (the column matrix), reused across samples.
template <typename T>
struct Scratch {
  explicit Scratch(int64_t n) : data(n > 0 ? new T[static_cast<size_t>(n)] : nullptr) {}
  T* get() const { return data.get(); }
  std::unique_ptr<T[]> data;
};

bool batch_parallel(int64_t N, int64_t work_per_sample) {
  const int64_t threads = get_num_threads();
  return threads > 1 && N >= threads && N * work_per_sample >= kMinParallelWork;
}

// f(n, scratch) for every sample n, split over threads when the batch is large.
template <typename T, typename F>
void for_each_sample(int64_t N, int64_t scratch_elems, int64_t work_per_sample, F&& f) {
  if (batch_parallel(N, work_per_sample)) {
    parallel_for(0, N, 1, [&](int64_t b, int64_t e) {
      Scratch<T> buf(scratch_elems);
      for (int64_t n = b; n < e; ++n) f(n, buf.get());
    });
  } else {
    Scratch<T> buf(scratch_elems);
    for (int64_t n = 0; n < N; ++n) f(n, buf.get());
  }
}

// Multiply-adds per sample of any of the three maps.
int64_t work_per_sample(const ConvGeometry& g) {
  return g.C_out * g.OH * g.OW * (g.groups ? g.C_in / g.groups : 0) * g.kh * g.kw;
}

}  // namespace

template <typename T>
void conv2d_forward(const ConvGeometry& g, const T* image, const T* weight, const T* bias, T* map) {
  const int64_t G = g.groups, Cog = g.C_out / G;
  const int64_t Kg = g.C_in / G * g.kh * g.kw;  // GEMM depth per group
  const int64_t OHW = g.OH * g.OW, HW = g.H * g.W;
  const bool direct = is_pointwise(g);
  for_each_sample<T>(g.N, direct ? 0 : g.C_in * g.kh * g.kw * OHW, work_per_sample(g), [&](int64_t n, T* col) {
    const T* x = image + n * g.C_in * HW;
    if (!direct) im2col(g, x, col);
    const T* cols = direct ? x : col;
    T* y = map + n * g.C_out * OHW;
    for (int64_t grp = 0; grp < G; ++grp) {
      T* yg = y + grp * Cog * OHW;
      if (bias)
        for (int64_t o = 0; o < Cog; ++o) std::fill(yg + o * OHW, yg + (o + 1) * OHW, bias[grp * Cog + o]);
      gemm<T>(Cog, OHW, Kg, T(1), MatRef<const T>{weight + grp * Cog * Kg, Kg, 1},
              MatRef<const T>{cols + grp * Kg * OHW, OHW, 1}, bias ? T(1) : T(0), yg, OHW);
    }
  });
}

template <typename T>
void conv2d_transpose(const ConvGeometry& g, const T* map, const T* weight, const T* bias, T* image) {
  const int64_t G = g.groups, Cog = g.C_out / G, Cg = g.C_in / G;
  const int64_t Kg = Cg * g.kh * g.kw;
  const int64_t OHW = g.OH * g.OW, HW = g.H * g.W;
  const bool direct = is_pointwise(g);
  for_each_sample<T>(g.N, direct ? 0 : g.C_in * g.kh * g.kw * OHW, work_per_sample(g), [&](int64_t n, T* col) {
    T* x = image + n * g.C_in * HW;
    for (int64_t c = 0; c < g.C_in; ++c) std::fill(x + c * HW, x + (c + 1) * HW, bias ? bias[c] : T(0));
    const T* y = map + n * g.C_out * OHW;
    for (int64_t grp = 0; grp < G; ++grp) {
      // col[g] = W[g]^T @ map_n[g]; W[g] is [Cog, Kg] row-major, read transposed.
      // In the pointwise case col[g] is the image's channel block: accumulate into it.
      T* dst = direct ? x + grp * Cg * HW : col + grp * Kg * OHW;
      gemm<T>(Kg, OHW, Cog, T(1), MatRef<const T>{weight + grp * Cog * Kg, 1, Kg},
              MatRef<const T>{y + grp * Cog * OHW, OHW, 1}, direct ? T(1) : T(0), dst, OHW);
    }
    if (!direct) col2im_add(g, col, x);
  });
}

template <typename T>
void conv2d_weight_grad(const ConvGeometry& g, const T* image, const T* map, T* weight_grad) {
  const int64_t G = g.groups, Cog = g.C_out / G;
  const int64_t Kg = g.C_in / G * g.kh * g.kw;
  const int64_t OHW = g.OH * g.OW, HW = g.H * g.W;
  const int64_t wsize = g.C_out * Kg;
  const bool direct = is_pointwise(g);
  std::fill(weight_grad, weight_grad + wsize, T(0));
  if (g.N == 0 || wsize == 0) return;
  const int64_t col_elems = direct ? 0 : g.C_in * g.kh * g.kw * OHW;

  // acc += sum over samples [n0, n1) of map_n[g] @ col[g]^T.
  auto accumulate = [&](int64_t n0, int64_t n1, T* acc, T* col) {
    for (int64_t n = n0; n < n1; ++n) {
      const T* x = image + n * g.C_in * HW;
      if (!direct) im2col(g, x, col);
      const T* cols = direct ? x : col;
      const T* y = map + n * g.C_out * OHW;
      for (int64_t grp = 0; grp < G; ++grp)
        gemm<T>(Cog, Kg, OHW, T(1), MatRef<const T>{y + grp * Cog * OHW, OHW, 1},
                MatRef<const T>{cols + grp * Kg * OHW, 1, OHW}, T(1), acc + grp * Cog * Kg, Kg);
    }
  };

  if (!batch_parallel(g.N, work_per_sample(g))) {
    Scratch<T> col(col_elems);
    accumulate(0, g.N, weight_grad, col.get());
    return;
  }
  // One partial sum per thread over a fixed split of the batch, added in order.
  const int64_t P = std::min<int64_t>(g.N, get_num_threads());
  std::vector<T> partial(static_cast<size_t>(P * wsize), T(0));
  parallel_for(0, P, 1, [&](int64_t p0, int64_t p1) {
    Scratch<T> col(col_elems);
    for (int64_t p = p0; p < p1; ++p) accumulate(p * g.N / P, (p + 1) * g.N / P, partial.data() + p * wsize, col.get());
  });
  for (int64_t p = 0; p < P; ++p) {
    const T* src = partial.data() + p * wsize;
    for (int64_t i = 0; i < wsize; ++i) weight_grad[i] += src[i];
  }
}

#define WICK_CONV_INSTANTIATE_(T)                                                              \
  template void conv2d_forward<T>(const ConvGeometry&, const T*, const T*, const T*, T*);     \
  template void conv2d_transpose<T>(const ConvGeometry&, const T*, const T*, const T*, T*);   \
  template void conv2d_weight_grad<T>(const ConvGeometry&, const T*, const T*, T*);
WICK_CONV_INSTANTIATE_(float)
WICK_CONV_INSTANTIATE_(double)
#undef WICK_CONV_INSTANTIATE_

}  // namespace wick::cpu
