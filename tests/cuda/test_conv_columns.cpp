// The column path's index math (cuda/kernels/conv_columns.h), the same
// functions the CUDA kernels of cuda/kernels/conv.cu (section 5) run, on
// the host: the three maps rebuilt the way that path computes them (column
// matrices in both layouts, zero rows padding K, chunks of images, products
// as plain loops in double) against the CPU convolution's reference
// kernels, on strided, padded, dilated, asymmetric geometries and a map
// smaller than the geometry implies. Runs without a GPU; the kernels'
// launches and products are checked on one (test_cuda_conv,
// CudaConvIm2col.*).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <type_traits>
#include <vector>

#include "cuda/kernels/conv_columns.h"
#include "ops/cpu/conv.h"

namespace wick {
namespace {

using cpu::ConvGeometry;
using cuda::ColumnGeometry;
using Vec = std::vector<double>;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

ConvGeometry geometry(int64_t N, int64_t C_in, int64_t H, int64_t W, int64_t C_out, int64_t kh, int64_t kw,
                      int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw, int64_t OH = -1,
                      int64_t OW = -1) {
  ConvGeometry g;
  g.N = N, g.C_in = C_in, g.H = H, g.W = W, g.C_out = C_out, g.kh = kh, g.kw = kw;
  g.sh = sh, g.sw = sw, g.ph = ph, g.pw = pw, g.dh = dh, g.dw = dw, g.groups = 1;
  g.OH = OH >= 0 ? OH : (H + 2 * ph - dh * (kh - 1) - 1) / sh + 1;
  g.OW = OW >= 0 ? OW : (W + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
  return g;
}

ColumnGeometry columns_of(const ConvGeometry& g) {
  auto i = [](int64_t v) { return static_cast<int>(v); };
  return ColumnGeometry(i(g.C_in), i(g.H), i(g.W), i(g.kh), i(g.kw), i(g.OH), i(g.OW), i(g.sh), i(g.sw), i(g.ph),
                        i(g.pw), i(g.dh), i(g.dw));
}

Vec random_vec(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  Vec v(n);
  for (double& x : v) x = u(rng);
  return v;
}

::testing::AssertionResult near(const Vec& got, const Vec& want) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "sizes " << got.size() << " vs " << want.size();
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::abs(got[i] - want[i]) <= 1e-12 * (1 + std::abs(want[i]))))
      return ::testing::AssertionFailure() << "element " << i << ": " << got[i] << " vs " << want[i];
  return ::testing::AssertionSuccess();
}

// One of the column layouts: per image (image_stride = Kp*OP, row_stride =
// OP) or over the chunk's pixels (image_stride = OP, row_stride = ld, ld
// the chunk's pixels rounded up to 8), for chunks of `nb` images.
struct Layout {
  bool per_image;
  int64_t nb;
};

struct Strides {
  int64_t image, row, size;  // element strides and the buffer's size
};
Strides strides_for(const Layout& l, int64_t cnt, int64_t rows, int64_t OP) {
  if (l.per_image) return {rows * OP, OP, cnt * rows * OP};
  const int64_t ld = (cnt * OP + 7) / 8 * 8;
  return {OP, ld, rows * ld};
}

// The chunk's column matrix as im2col_kernel writes it (rows Kp, zero past
// K); untouched elements (the padding of ld) stay NaN.
Vec im2col(const ConvGeometry& g, const ColumnGeometry& cg, const Vec& image, int64_t n0, int64_t cnt, int64_t K,
           int64_t Kp, const Strides& st) {
  const int64_t OP = g.OH * g.OW;
  Vec cols(st.size, kNaN);
  for (int64_t r = 0; r < cnt * Kp; ++r) {
    const int64_t n = r / Kp, k = r % Kp;
    double* dst = cols.data() + n * st.image + k * st.row;
    if (k >= K) {
      for (int64_t p = 0; p < OP; ++p) dst[p] = 0;
      continue;
    }
    const cuda::ColumnRow row = cuda::column_row(cg, k);
    const double* src = image.data() + ((n0 + n) * g.C_in + row.ci) * g.H * g.W;
    for (int p = 0; p < OP; ++p) {
      const int o = cuda::column_source(cg, row, p);
      dst[p] = o >= 0 ? src[o] : 0.0;
    }
  }
  return cols;
}

// The three maps the column path's way, chunk by chunk.
Vec forward(const ConvGeometry& g, const Layout& l, const Vec& image, const Vec& weight, const Vec& bias) {
  const ColumnGeometry cg = columns_of(g);
  const int64_t K = g.C_in * g.kh * g.kw, Kp = (K + 7) / 8 * 8, OP = g.OH * g.OW;
  Vec map(g.N * g.C_out * OP, kNaN);
  for (int64_t n0 = 0; n0 < g.N; n0 += l.nb) {
    const int64_t cnt = std::min(l.nb, g.N - n0);
    const Strides st = strides_for(l, cnt, Kp, OP);
    const Vec cols = im2col(g, cg, image, n0, cnt, K, Kp, st);
    for (int64_t n = 0; n < cnt; ++n)
      for (int64_t co = 0; co < g.C_out; ++co)
        for (int64_t p = 0; p < OP; ++p) {
          double s = bias[co];
          for (int64_t k = 0; k < Kp; ++k)  // the padded weight's zero columns meet the zero rows
            s += (k < K ? weight[co * K + k] : 0.0) * cols[n * st.image + k * st.row + p];
          map[((n0 + n) * g.C_out + co) * OP + p] = s;
        }
  }
  return map;
}

Vec transpose(const ConvGeometry& g, const Layout& l, const Vec& map, const Vec& weight, const Vec& bias) {
  const ColumnGeometry cg = columns_of(g);
  const int64_t K = g.C_in * g.kh * g.kw, OP = g.OH * g.OW, P = g.H * g.W;
  Vec image(g.N * g.C_in * P, kNaN);
  for (int64_t n0 = 0; n0 < g.N; n0 += l.nb) {
    const int64_t cnt = std::min(l.nb, g.N - n0);
    const Strides st = strides_for(l, cnt, K, OP);
    Vec dcol(st.size, kNaN);  // dcol = W^T . dY, K rows
    for (int64_t n = 0; n < cnt; ++n)
      for (int64_t k = 0; k < K; ++k)
        for (int64_t p = 0; p < OP; ++p) {
          double s = 0;
          for (int64_t co = 0; co < g.C_out; ++co) s += weight[co * K + k] * map[((n0 + n) * g.C_out + co) * OP + p];
          dcol[n * st.image + k * st.row + p] = s;
        }
    for (int64_t r = 0; r < cnt * g.C_in; ++r) {  // col2im_kernel's rows
      const int64_t n = r / g.C_in, c = r % g.C_in;
      const double* rows = dcol.data() + n * st.image + c * g.kh * g.kw * st.row;
      for (int q = 0; q < P; ++q)
        image[((n0 + n) * g.C_in + c) * P + q] = cuda::column_gather(cg, rows, st.row, q, bias[c]);
    }
  }
  return image;
}

Vec weight_grad(const ConvGeometry& g, int64_t nb, const Vec& image, const Vec& map) {
  const ColumnGeometry cg = columns_of(g);
  const int64_t K = g.C_in * g.kh * g.kw, OP = g.OH * g.OW;
  Vec dw(g.C_out * K, 0.0);
  for (int64_t n0 = 0; n0 < g.N; n0 += nb) {  // the chunks' partials, summed in order
    const int64_t cnt = std::min(nb, g.N - n0);
    const Strides st = strides_for({false, nb}, cnt, K, OP);
    const Vec cols = im2col(g, cg, image, n0, cnt, K, K, st);
    for (int64_t co = 0; co < g.C_out; ++co)
      for (int64_t k = 0; k < K; ++k) {
        double s = 0;
        for (int64_t n = 0; n < cnt; ++n)
          for (int64_t p = 0; p < OP; ++p)
            s += map[((n0 + n) * g.C_out + co) * OP + p] * cols[n * st.image + k * st.row + p];
        dw[co * K + k] += s;
      }
  }
  return dw;
}

std::string describe(const ConvGeometry& g) {
  std::string s = "N=" + std::to_string(g.N) + " C_in=" + std::to_string(g.C_in) + " " + std::to_string(g.H) + "x" +
                  std::to_string(g.W) + " C_out=" + std::to_string(g.C_out) + " k " + std::to_string(g.kh) + "x" +
                  std::to_string(g.kw) + " s " + std::to_string(g.sh) + "," + std::to_string(g.sw) + " p " +
                  std::to_string(g.ph) + "," + std::to_string(g.pw) + " d " + std::to_string(g.dh) + "," +
                  std::to_string(g.dw) + " map " + std::to_string(g.OH) + "x" + std::to_string(g.OW);
  return s;
}

TEST(CudaConvColumns, MapsMatchTheCpuReference) {
  const std::vector<ConvGeometry> geos = {
      geometry(2, 3, 9, 7, 5, 3, 3, 1, 1, 1, 1, 1, 1),
      geometry(3, 4, 11, 13, 6, 3, 3, 2, 2, 1, 1, 1, 1),     // stride 2
      geometry(2, 3, 35, 33, 4, 7, 7, 2, 2, 3, 3, 1, 1),     // the 7x7 stem: K = 147, padded to 152
      geometry(1, 4, 12, 12, 4, 5, 4, 3, 2, 2, 1, 1, 2),     // asymmetric, dilated along W
      geometry(2, 3, 17, 16, 5, 5, 4, 2, 2, 2, 1, 2, 2),     // stride phases sharing a factor with dilation
      geometry(2, 3, 11, 10, 5, 3, 3, 1, 1, 2, 2, 2, 2),     // dilation 2
      geometry(3, 5, 7, 9, 6, 1, 1, 2, 2, 0, 0, 1, 1),       // strided 1x1
      geometry(2, 3, 13, 11, 6, 3, 3, 4, 3, 1, 2, 2, 3),     // image pixels that no tap reaches
      geometry(2, 3, 9, 8, 4, 3, 3, 1, 1, 1, 1, 2, 2, 6, 5), // map smaller than the geometry implies
      geometry(2, 2, 3, 3, 3, 5, 5, 1, 1, 1, 1, 1, 1),       // kernel = the padded image: a 1x1 map
  };
  uint64_t seed = 1;
  for (const ConvGeometry& g : geos) {
    SCOPED_TRACE(describe(g));
    const int64_t K = g.C_in * g.kh * g.kw, OP = g.OH * g.OW, P = g.H * g.W;
    const Vec image = random_vec(g.N * g.C_in * P, seed++), weight = random_vec(g.C_out * K, seed++);
    const Vec map = random_vec(g.N * g.C_out * OP, seed++);
    const Vec bias_out = random_vec(g.C_out, seed++), bias_in = random_vec(g.C_in, seed++);
    Vec ref_map(map.size()), ref_image(image.size()), ref_dw(weight.size());
    cpu::conv2d_forward_reference<double>(g, image.data(), weight.data(), bias_out.data(), ref_map.data());
    cpu::conv2d_transpose_reference<double>(g, map.data(), weight.data(), bias_in.data(), ref_image.data());
    cpu::conv2d_weight_grad_reference<double>(g, image.data(), map.data(), ref_dw.data());
    for (const Layout& l :
         {Layout{true, g.N}, Layout{false, g.N}, Layout{true, 1}, Layout{false, 1}, Layout{false, 2}}) {
      SCOPED_TRACE(std::string(l.per_image ? "per image" : "over the pixels") + ", chunks of " + std::to_string(l.nb));
      EXPECT_TRUE(near(forward(g, l, image, weight, bias_out), ref_map)) << "forward";
      EXPECT_TRUE(near(transpose(g, l, map, weight, bias_in), ref_image)) << "transpose";
      EXPECT_TRUE(near(weight_grad(g, l.nb, image, map), ref_dw)) << "weight grad";
    }
  }
}

TEST(CudaConvColumns, ColumnRowDecoding) {
  // k = (ci, ki, kj) row-major, as the weight [C_out, C_in, kh, kw] is stored.
  const ColumnGeometry cg(3, 10, 10, 2, 5, 8, 8, 1, 1, 1, 2, 3, 2);
  for (int64_t ci = 0; ci < 3; ++ci)
    for (int ki = 0; ki < 2; ++ki)
      for (int kj = 0; kj < 5; ++kj) {
        const cuda::ColumnRow row = cuda::column_row(cg, (ci * 2 + ki) * 5 + kj);
        EXPECT_EQ(row.ci, ci);
        EXPECT_EQ(row.y0, ki * 3 - 1);
        EXPECT_EQ(row.x0, kj * 2 - 2);
      }
}

TEST(CudaConvColumns, PackSourcesStepLikeThePerPixelDecoding) {
  // column_sources (im2col's packs of V pixels) against column_source for
  // every pixel, at every pack start, over row wraps, padding, strides and
  // dilation, for the pack widths the kernel takes.
  const std::vector<ConvGeometry> geos = {
      geometry(1, 2, 56, 56, 1, 3, 3, 1, 1, 1, 1, 1, 1),   // ResNet's 3x3, 56x56
      geometry(1, 2, 14, 14, 1, 3, 3, 1, 1, 1, 1, 1, 1),   // 14x14: packs cross the rows
      geometry(1, 2, 11, 13, 1, 3, 3, 2, 2, 1, 1, 1, 1),   // stride 2
      geometry(1, 2, 12, 12, 1, 5, 4, 3, 2, 2, 1, 1, 2),   // asymmetric, dilated
      geometry(1, 2, 3, 3, 1, 5, 5, 1, 1, 1, 1, 1, 1),     // a 1x1 map
  };
  auto check = [](const ConvGeometry& g, auto width) {
    constexpr int V = decltype(width)::value;
    const ColumnGeometry cg = columns_of(g);
    const int OP = static_cast<int>(g.OH * g.OW);
    for (int64_t k = 0; k < g.C_in * g.kh * g.kw; ++k) {
      const cuda::ColumnRow row = cuda::column_row(cg, k);
      for (int p0 = 0; p0 + V <= OP; p0 += V) {
        int at[V];
        cuda::column_sources<V>(cg, row, p0, at);
        for (int j = 0; j < V; ++j) ASSERT_EQ(at[j], cuda::column_source(cg, row, p0 + j)) << "k " << k << " p " << p0 + j;
      }
    }
  };
  for (const ConvGeometry& g : geos) {
    SCOPED_TRACE(describe(g));
    check(g, std::integral_constant<int, 8>{});
    check(g, std::integral_constant<int, 4>{});
    check(g, std::integral_constant<int, 2>{});
  }
}

}  // namespace
}  // namespace wick
