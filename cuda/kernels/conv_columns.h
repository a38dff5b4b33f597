// The index math of the convolution's column path (cuda/kernels/conv.cu,
// section 5), per element, shared by its CUDA kernels and a host test
// (tests/cuda/test_conv_columns.cpp checks it on the CPU against the CPU
// convolution, with products done on the host, in every column layout).
//
// The column matrix of an image batch, col [K = C_in*kh*kw, pixels]:
//   col[(ci, ki, kj), (n, oy, ox)] = image[n, ci, oy*sh - ph + ki*dh, ox*sw - pw + kj*dw]
// (zero outside the image), stored at n * image_stride + k * row_stride + p
// with p = oy*OW + ox: per image (image_stride = K*OP, row_stride = OP) or
// over all the pixels of a chunk (image_stride = OP, row_stride = ld).
//
// Plain C++ as well as CUDA, like fast_div.h.
#pragma once

#include <cstdint>

#include "cuda/kernels/fast_div.h"

namespace wick::cuda {

struct ColumnGeometry {
  int C_in = 0, H = 0, W = 0, kh = 0, kw = 0, OH = 0, OW = 0, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  FastDiv div_OW, div_W, div_sh, div_sw;

  ColumnGeometry() = default;
  ColumnGeometry(int C_in_, int H_, int W_, int kh_, int kw_, int OH_, int OW_, int sh_, int sw_, int ph_, int pw_,
                 int dh_, int dw_)
      : C_in(C_in_), H(H_), W(W_), kh(kh_), kw(kw_), OH(OH_), OW(OW_), sh(sh_), sw(sw_), ph(ph_), pw(pw_), dh(dh_),
        dw(dw_), div_OW(OW_), div_W(W_), div_sh(sh_), div_sw(sw_) {}
};

// The tap of column row k = (ci, ki, kj): the channel, and the offsets
// (ki*dh - ph, kj*dw - pw) from an output pixel's stride-scaled position.
struct ColumnRow {
  int64_t ci;
  int y0, x0;
};
WICK_FAST_DIV_FN ColumnRow column_row(const ColumnGeometry& g, int64_t k) {
  const int kj = static_cast<int>(k % g.kw), ki = static_cast<int>((k / g.kw) % g.kh);
  return {k / (static_cast<int64_t>(g.kw) * g.kh), ki * g.dh - g.ph, kj * g.dw - g.pw};
}

// Where col[k, (n, p)] comes from within channel row.ci of image n: the
// offset iy*W + ix, or -1 when the tap falls outside the image (a zero).
WICK_FAST_DIV_FN int column_source(const ColumnGeometry& g, const ColumnRow& row, int p) {
  int ox;
  const int oy = g.div_OW.divmod(p, ox);
  const int iy = oy * g.sh + row.y0, ix = ox * g.sw + row.x0;
  return iy >= 0 && iy < g.H && ix >= 0 && ix < g.W ? iy * g.W + ix : -1;
}

// column_source of the V consecutive pixels p0 .. p0 + V - 1 (im2col's
// packs), one division for the first and a step along the output row for
// the rest (ox + 1, or the next row's ox = 0).
template <int V>
WICK_FAST_DIV_FN void column_sources(const ColumnGeometry& g, const ColumnRow& row, int p0, int (&src)[V]) {
  int ox;
  int oy = g.div_OW.divmod(p0, ox);
  for (int j = 0; j < V; ++j) {
    const int iy = oy * g.sh + row.y0, ix = ox * g.sw + row.x0;
    src[j] = iy >= 0 && iy < g.H && ix >= 0 && ix < g.W ? iy * g.W + ix : -1;
    if (++ox == g.OW) ox = 0, ++oy;
  }
}

// The transpose's gather: init + the sum, over taps (ki, kj) in order, of
// dcol[(c, ki, kj), (n, oy, ox)] for the output pixels that read image
// pixel q = y*W + x of channel c through the tap: oy*sh = y + ph - ki*dh
// exactly, 0 <= oy < OH (likewise x). `rows` points at row (c, 0, 0) of
// image n (dcol + n * image_stride + c*kh*kw * row_stride).
template <typename In>
WICK_FAST_DIV_FN In column_gather(const ColumnGeometry& g, const In* rows, int64_t row_stride, int q, In init) {
  int x;
  const int y = g.div_W.divmod(q, x);
  In acc = init;
  for (int ki = 0; ki < g.kh; ++ki) {
    const int ty = y + g.ph - ki * g.dh;
    if (ty < 0) break;  // ty only falls with ki
    int ry;
    const int oy = g.div_sh.divmod(ty, ry);
    if (ry != 0 || oy >= g.OH) continue;
    for (int kj = 0; kj < g.kw; ++kj) {
      const int tx = x + g.pw - kj * g.dw;
      if (tx < 0) break;
      int rx;
      const int ox = g.div_sw.divmod(tx, rx);
      if (rx != 0 || ox >= g.OW) continue;
      acc += rows[static_cast<int64_t>(ki * g.kw + kj) * row_stride + oy * g.OW + ox];
    }
  }
  return acc;
}

}  // namespace wick::cuda
