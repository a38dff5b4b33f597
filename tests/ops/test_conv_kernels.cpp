// The CPU convolution kernels (ops/cpu/conv.h) against their readable
// reference, the direct 7-loop convolution: the fast path (implicit GEMM,
// stride-1 input gradients as flipped-kernel convolutions, depthwise direct
// kernels), the batched im2col path and the one-sample im2col path, for all
// three maps, in float and double, on 1 and 2 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "ops/cpu/conv.h"
#include "tensor/parallel.h"

namespace wick {
namespace {

using cpu::ConvGeometry;
using cpu::ConvPath;

struct Case {
  std::string name;
  int64_t N, C_in, H, W, C_out, kh, kw;
  int64_t sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1, groups = 1;
  int64_t crop_h = 0, crop_w = 0;  // map smaller than the geometry implies (conv_transpose2d output_padding)
};

ConvGeometry geometry(const Case& c) {
  ConvGeometry g;
  g.N = c.N, g.C_in = c.C_in, g.H = c.H, g.W = c.W, g.C_out = c.C_out, g.kh = c.kh, g.kw = c.kw;
  g.sh = c.sh, g.sw = c.sw, g.ph = c.ph, g.pw = c.pw, g.dh = c.dh, g.dw = c.dw, g.groups = c.groups;
  g.OH = (c.H + 2 * c.ph - c.dh * (c.kh - 1) - 1) / c.sh + 1 - c.crop_h;
  g.OW = (c.W + 2 * c.pw - c.dw * (c.kw - 1) - 1) / c.sw + 1 - c.crop_w;
  return g;
}

template <typename T>
std::vector<T> random_vec(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<T> v(static_cast<size_t>(n));
  for (T& x : v) x = static_cast<T>(u(rng));
  return v;
}

// |a - b| <= tol * (1 + |b|) elementwise, tol scaled by the dot-product length.
template <typename T>
::testing::AssertionResult close(const std::vector<T>& a, const std::vector<T>& b, double tol, const std::string& what) {
  if (a.size() != b.size()) return ::testing::AssertionFailure() << what << ": sizes differ";
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(double(a[i]) - double(b[i]));
    if (!(d <= tol * (1 + std::abs(double(b[i])))))
      return ::testing::AssertionFailure() << what << ": element " << i << ": " << a[i] << " vs reference " << b[i];
  }
  return ::testing::AssertionSuccess();
}

// A sentinel fill: every output element must be written (or, for the weight
// gradient, overwritten), whatever the buffer held before.
template <typename T>
std::vector<T> poisoned(int64_t n) {
  return std::vector<T>(static_cast<size_t>(n), T(NAN));
}

template <typename T>
void check_case(const Case& c, ConvPath path, int threads) {
  const ConvGeometry g = geometry(c);
  const int64_t Cg = c.C_in / c.groups;
  const int64_t image_n = g.N * g.C_in * g.H * g.W, map_n = g.N * g.C_out * g.OH * g.OW;
  const int64_t w_n = g.C_out * Cg * g.kh * g.kw;
  const auto image = random_vec<T>(image_n, 1), map_in = random_vec<T>(map_n, 2), weight = random_vec<T>(w_n, 3);
  const auto bias_out = random_vec<T>(g.C_out, 4), bias_in = random_vec<T>(g.C_in, 5);
  const double tol = (sizeof(T) == 4 ? 2e-6 : 1e-13) * double(Cg * g.kh * g.kw + g.N * g.OH * g.OW + g.C_out);
  const char* path_name = path == ConvPath::kAuto ? " auto" : path == ConvPath::kIm2col ? " im2col" : " per-sample";
  const std::string tag = c.name + path_name + " threads " +
                          std::to_string(threads) + (sizeof(T) == 4 ? " float" : " double");

  const int saved = get_num_threads();
  set_num_threads(threads);
  for (const bool with_bias : {false, true}) {
    auto ref = poisoned<T>(map_n), got = poisoned<T>(map_n);
    cpu::conv2d_forward_reference<T>(g, image.data(), weight.data(), with_bias ? bias_out.data() : nullptr, ref.data());
    cpu::conv2d_forward<T>(g, image.data(), weight.data(), with_bias ? bias_out.data() : nullptr, got.data(), path);
    EXPECT_TRUE(close(got, ref, tol, tag + " forward"));

    auto iref = poisoned<T>(image_n), igot = poisoned<T>(image_n);
    cpu::conv2d_transpose_reference<T>(g, map_in.data(), weight.data(), with_bias ? bias_in.data() : nullptr,
                                       iref.data());
    cpu::conv2d_transpose<T>(g, map_in.data(), weight.data(), with_bias ? bias_in.data() : nullptr, igot.data(), path);
    EXPECT_TRUE(close(igot, iref, tol, tag + " transpose"));
  }
  auto wref = poisoned<T>(w_n), wgot = poisoned<T>(w_n);
  cpu::conv2d_weight_grad_reference<T>(g, image.data(), map_in.data(), wref.data());
  cpu::conv2d_weight_grad<T>(g, image.data(), map_in.data(), wgot.data(), path);
  EXPECT_TRUE(close(wgot, wref, tol, tag + " weight grad"));
  set_num_threads(saved);
}

std::vector<Case> cases() {
  std::vector<Case> v;
  auto add = [&](Case c) { v.push_back(std::move(c)); };
  // name, N, C_in, H, W, C_out, kh, kw, sh, sw, ph, pw, dh, dw, groups, crop_h, crop_w
  add({"3x3 pad 1", 4, 5, 9, 7, 6, 3, 3, 1, 1, 1, 1});
  add({"3x3 odd batch", 7, 3, 11, 13, 5, 3, 3, 1, 1, 1, 1});
  add({"batch 1", 1, 4, 8, 8, 7, 3, 3, 1, 1, 1, 1});
  add({"empty batch", 0, 4, 8, 8, 7, 3, 3, 1, 1, 1, 1});
  add({"stride 2 pad 1", 5, 6, 10, 9, 8, 3, 3, 2, 2, 1, 1});
  add({"stride 2x3 pad 2x0", 3, 4, 12, 11, 5, 3, 2, 2, 3, 2, 0});
  add({"dilation 2", 3, 4, 12, 11, 6, 3, 3, 1, 1, 2, 2, 2, 2});
  add({"dilation 2x1 stride 2", 5, 3, 13, 9, 4, 3, 3, 2, 1, 1, 1, 2, 1});
  add({"groups 2", 4, 6, 9, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1, 2});
  add({"groups 3 stride 2", 5, 6, 9, 10, 9, 2, 3, 2, 2, 0, 1, 1, 1, 3});
  add({"1x1", 6, 7, 5, 6, 9, 1, 1});
  add({"1x1 batch 1", 1, 7, 5, 6, 9, 1, 1});
  add({"1x1 stride 2", 5, 8, 7, 9, 6, 1, 1, 2, 2});
  add({"1x1 stride 2 groups 2", 3, 8, 7, 9, 6, 1, 1, 2, 2, 0, 0, 1, 1, 2});
  add({"1x1 pad 1", 3, 4, 5, 5, 3, 1, 1, 1, 1, 1, 1});
  add({"5x5 larger than feature map side", 3, 2, 4, 6, 3, 5, 5, 1, 1, 2, 2});
  add({"depthwise", 4, 6, 9, 7, 6, 3, 3, 1, 1, 1, 1, 1, 1, 6});
  add({"depthwise multiplier 3", 3, 4, 8, 9, 12, 3, 3, 1, 1, 1, 1, 1, 1, 4});
  add({"depthwise stride 2 dilation 2", 5, 5, 13, 11, 5, 3, 3, 2, 2, 2, 2, 2, 2, 5});
  add({"depthwise 5x2 stride 2x1", 2, 3, 9, 8, 6, 5, 2, 2, 1, 1, 0, 1, 1, 3});
  add({"depthwise batch 1", 1, 8, 7, 7, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8});
  add({"depthwise multiplier 4 (direct)", 3, 2, 9, 9, 8, 3, 3, 1, 1, 1, 1, 1, 1, 2});
  add({"depthwise multiplier 5 (GEMM)", 3, 2, 9, 9, 10, 3, 3, 1, 1, 1, 1, 1, 1, 2});
  add({"single input channel", 6, 1, 10, 9, 8, 3, 3});
  add({"cropped map (output_padding)", 3, 4, 9, 9, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1});
  add({"cropped depthwise map", 3, 4, 9, 9, 4, 3, 3, 2, 2, 1, 1, 1, 1, 4, 1, 0});
  // Small feature maps, many samples: blocks of many samples per GEMM.
  add({"4x4 maps, 33 samples", 33, 16, 4, 4, 24, 3, 3, 1, 1, 1, 1});
  add({"1x1 maps, 17 samples", 17, 8, 1, 1, 7, 1, 1});
  // Odd channel counts and map widths against the GEMM's NR-wide slivers
  // (pixel runs that straddle rows and samples, partial slivers, the
  // interior fast copy) and padding beyond the kernel's reach (the stride-1
  // input gradient then runs with negative padding).
  add({"1 channel to 33, 3x3 pad 1", 5, 1, 17, 19, 33, 3, 3, 1, 1, 1, 1});
  add({"33 channels to 7, 3x3 pad 2", 1, 33, 11, 21, 7, 3, 3, 1, 1, 2, 2});
  add({"7 channels to 33, 3x3 pad 0", 5, 7, 20, 37, 33, 3, 3});
  add({"33 to 33, 3x3 stride 2 pad 1", 5, 33, 15, 14, 33, 3, 3, 2, 2, 1, 1});
  add({"7 to 7, 5x3 pad 2x1 dilation 2x3", 5, 7, 13, 17, 7, 5, 3, 1, 1, 2, 1, 2, 3});
  add({"33 to 33, 3x3 groups 3 non-square", 5, 33, 9, 40, 33, 3, 3, 1, 1, 1, 1, 1, 1, 3});
  add({"pad 2 with a 1x1 kernel", 5, 7, 6, 5, 7, 1, 1, 1, 1, 2, 2});
  add({"pad 2 with a 3x3 kernel, stride 1", 2, 7, 5, 9, 33, 3, 3, 1, 1, 2, 2});
  add({"7x7 maps, 33 samples, 33 channels", 33, 33, 7, 7, 33, 3, 3, 1, 1, 1, 1});
  add({"wide rows (W 70)", 2, 3, 5, 70, 7, 3, 3, 1, 1, 1, 1});
  add({"empty batch, odd channels", 0, 33, 7, 7, 7, 3, 3, 1, 1, 1, 1});
  // The stride-1 input gradient runs as a flipped-kernel convolution only
  // with >= 16 input channels per group: its groups, dilation, negative
  // (beyond-reach) padding and cropped maps with that many channels.
  add({"32 channels groups 2 dilation 2x1", 5, 32, 9, 11, 6, 3, 3, 1, 1, 2, 1, 2, 1, 2});
  add({"17 channels, pad 2 with a 1x1 kernel", 3, 17, 6, 5, 9, 1, 1, 1, 1, 2, 2});
  add({"17 channels, 2x3 kernel pad 3x1", 2, 17, 5, 8, 7, 2, 3, 1, 1, 3, 1});
  add({"17 channels, cropped stride-1 map", 3, 17, 9, 8, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 2, 1});
  return v;
}

class ConvKernels : public ::testing::TestWithParam<int> {};

TEST_P(ConvKernels, FastPathMatchesReferenceFloat) {
  for (const Case& c : cases()) check_case<float>(c, ConvPath::kAuto, GetParam());
}

TEST_P(ConvKernels, FastPathMatchesReferenceDouble) {
  for (const Case& c : cases()) check_case<double>(c, ConvPath::kAuto, GetParam());
}

TEST_P(ConvKernels, Im2colPathMatchesReference) {
  for (const Case& c : cases()) {
    check_case<double>(c, ConvPath::kIm2col, GetParam());
    check_case<float>(c, ConvPath::kIm2col, GetParam());
  }
}

TEST_P(ConvKernels, PerSamplePathMatchesReference) {
  for (const Case& c : cases()) {
    check_case<double>(c, ConvPath::kPerSample, GetParam());
    check_case<float>(c, ConvPath::kPerSample, GetParam());
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, ConvKernels, ::testing::Values(1, 2),
                         [](const ::testing::TestParamInfo<int>& i) { return std::to_string(i.param) + "threads"; });

// A batch large enough to split across threads and into several GEMM blocks
// per thread: the fast path agrees with the one-sample path, and the weight
// gradient does not depend on how often it runs (buffers reused between calls
// start clean).
TEST(ConvKernels, LargeBatchBlocksAndBufferReuse) {
  Case c{"large batch", 40, 12, 6, 6, 20, 3, 3, 1, 1, 1, 1};
  const ConvGeometry g = geometry(c);
  const auto image = random_vec<float>(g.N * g.C_in * g.H * g.W, 7);
  const auto map = random_vec<float>(g.N * g.C_out * g.OH * g.OW, 8);
  const int saved = get_num_threads();
  set_num_threads(2);
  std::vector<float> a(static_cast<size_t>(g.C_out * g.C_in * 9)), b(a.size()), ref(a.size());
  cpu::conv2d_weight_grad_reference<float>(g, image.data(), map.data(), ref.data());
  cpu::conv2d_weight_grad<float>(g, image.data(), map.data(), a.data());
  cpu::conv2d_weight_grad<float>(g, image.data(), map.data(), b.data());
  EXPECT_EQ(a, b);
  EXPECT_TRUE(close(a, ref, 1e-4, "large batch weight grad"));
  set_num_threads(saved);
  check_case<float>(c, ConvPath::kAuto, 2);
  check_case<double>(c, ConvPath::kAuto, 1);
}

}  // namespace
}  // namespace wick
