// CUDA convolution (cuda/kernels/conv.cu, cuda/vendor/cudnn.cpp) and the
// conv ops on CUDA tensors.
//
// Ops: conv2d / conv1d / conv_transpose2d on the device against the CPU ops
// in float64 on the very same (dtype-rounded) values: forward, input,
// weight and bias gradients through autograd, on odd shapes (stride 2,
// padding, dilation, groups, depthwise, 1x1, asymmetric and large kernels, a
// kernel as large as the padded input, tiles with ragged edges, a split-K
// weight gradient), non-contiguous inputs, empty batches; for float64,
// float32, float16 and bfloat16 with per-dtype tolerances. 16-bit results are
// rounded once from a float32 accumulation, so their tolerance is the
// output's rounding (values here are O(1..10)).
// Raw maps: wick's kernels against the reference kernels (and cuDNN when this
// build has it), bitwise determinism of the weight gradient and transpose,
// the geometry cuDNN cannot take (map smaller than the image implies).
// Also: gradcheck / gradgradcheck in float64 with every conv on the device,
// backend selection (per call, WICK_CUDA_CONV), device/dtype errors.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "support/cuda_util.h"
#include "support/test_util.h"
#include "wick.h"

#ifdef WICK_WITH_CUDA
#include "cuda/kernels/conv.h"
#include "cuda/vendor/cudnn.h"
#endif

namespace wick {
namespace {

const Device kCuda("cuda");

#ifdef WICK_WITH_CUDA

using cuda::ConvBackend;
using cuda::ConvGeometry;
using Pair = std::array<int64_t, 2>;

struct Tol {
  double atol, rtol;
};
Tol tol_for(DType dt) {
  switch (dt) {
    case DType::Float64: return {1e-10, 1e-10};
    case DType::Float32: return {1e-4, 1e-4};
    case DType::Float16: return {5e-3, 5e-3};
    default: return {2e-2, 1e-2};  // bfloat16: 8 mantissa bits
  }
}

const std::vector<DType> kDtypes = {kFloat64, kFloat32, kFloat16, kBFloat16};

// Uniform [-1, 1) values of dtype dt on the device (leaf, no grad).
Tensor dev_rand(const Shape& shape, DType dt, uint64_t seed) {
  return test::rand_f64(shape, seed, false).to(kCuda).to(dt);
}
// The float64 CPU copy of a device tensor (exactly its values).
Tensor host64(const Tensor& t) { return t.detach().to(kFloat64).to(kCPU); }

::testing::AssertionResult close_to(const Tensor& dev, const Tensor& ref, DType dt) {
  const Tol t = tol_for(dt);
  return test::all_close(host64(dev), ref, t.atol, t.rtol);
}

struct Conv2dCase {
  Shape x, w;
  Pair stride{1, 1}, padding{0, 0}, dilation{1, 1};
  int64_t groups = 1;
  bool bias = true;
};

std::string describe(const Conv2dCase& c, DType dt) {
  return str("x ", shape_str(c.x), " w ", shape_str(c.w), " stride ", shape_str(std::vector<int64_t>(c.stride.begin(), c.stride.end())),
             " padding ", shape_str(std::vector<int64_t>(c.padding.begin(), c.padding.end())), " dilation ",
             shape_str(std::vector<int64_t>(c.dilation.begin(), c.dilation.end())), " groups ", c.groups, " ", dt);
}

const std::vector<Conv2dCase> kConv2dCases = {
    {{2, 3, 7, 9}, {4, 3, 3, 3}, {1, 1}, {1, 1}},                       // plain 3x3, same padding
    {{2, 4, 9, 8}, {6, 4, 3, 3}, {2, 2}, {1, 1}},                       // stride 2
    {{1, 3, 11, 10}, {5, 3, 3, 3}, {1, 1}, {2, 2}, {2, 2}},             // dilation 2
    {{2, 6, 8, 7}, {4, 3, 3, 3}, {1, 2}, {1, 0}, {1, 1}, 2},            // groups, mixed stride/padding
    {{2, 5, 9, 9}, {5, 1, 3, 3}, {2, 2}, {1, 1}, {1, 1}, 5},            // depthwise, strided
    {{1, 3, 6, 7}, {6, 1, 5, 5}, {1, 1}, {2, 2}, {1, 1}, 3, false},     // depthwise, multiplier 2
    {{3, 7, 5, 5}, {9, 7, 1, 1}},                                       // 1x1
    {{2, 8, 7, 7}, {4, 8, 1, 1}, {2, 2}},                               // strided 1x1
    {{1, 3, 19, 17}, {8, 3, 7, 7}, {2, 2}, {3, 3}},                     // 7x7 stem
    {{2, 4, 6, 11}, {3, 4, 1, 5}, {1, 1}, {0, 2}, {1, 2}},              // 1x5, dilated along W only
    {{2, 3, 3, 3}, {2, 3, 5, 5}, {1, 1}, {1, 1}},                       // kernel = padded input: 1x1 map
    {{4, 70, 12, 12}, {80, 70, 3, 3}, {1, 1}, {1, 1}},                  // 2 M tiles, long K, split-K weight grad
    {{2, 6, 10, 9}, {6, 2, 3, 2}, {2, 3}, {2, 1}, {2, 1}, 3},           // everything at once
};

// conv2d on the device with autograd vs the CPU op in float64 on the same values.
void check_conv2d(const Conv2dCase& c, DType dt, uint64_t seed) {
  SCOPED_TRACE(describe(c, dt));
  Tensor x = dev_rand(c.x, dt, seed).requires_grad_();
  Tensor w = dev_rand(c.w, dt, seed + 1).requires_grad_();
  Tensor b = c.bias ? dev_rand({c.w[0]}, dt, seed + 2).requires_grad_() : Tensor();
  Tensor y = conv2d(x, w, b, c.stride, c.padding, c.dilation, c.groups);
  ASSERT_TRUE(y.is_cuda());
  ASSERT_EQ(y.dtype(), dt);
  Tensor r = dev_rand(y.sizes(), dt, seed + 3);  // upstream gradient (exact in dt)
  sum(y * r).backward();

  Tensor xr = host64(x).requires_grad_(), wr = host64(w).requires_grad_();
  Tensor br = c.bias ? host64(b).requires_grad_() : Tensor();
  Tensor yr = conv2d(xr, wr, br, c.stride, c.padding, c.dilation, c.groups);
  sum(yr * host64(r)).backward();

  ASSERT_EQ(y.sizes(), yr.sizes());
  EXPECT_TRUE(close_to(y, yr, dt)) << "forward";
  EXPECT_TRUE(close_to(x.grad(), xr.grad(), dt)) << "input gradient";
  EXPECT_TRUE(close_to(w.grad(), wr.grad(), dt)) << "weight gradient";
  if (c.bias) EXPECT_TRUE(close_to(b.grad(), br.grad(), dt)) << "bias gradient";
}

TEST(CudaConv2d, ForwardAndGradientsAllDtypes) {
  WICK_SKIP_WITHOUT_CUDA();
  uint64_t seed = 100;
  for (const Conv2dCase& c : kConv2dCases)
    for (DType dt : kDtypes) check_conv2d(c, dt, seed += 10);
}

TEST(CudaConv2d, NonContiguousInput) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : {kFloat32, kFloat16}) {
    // [2, 9, 7, 5] stored as [2, 5, 7, 9] permuted: no stride is 1 along W.
    Tensor base = dev_rand({2, 5, 7, 9}, dt, 7).requires_grad_();
    Tensor x = base.permute({0, 3, 2, 1});
    ASSERT_FALSE(x.is_contiguous());
    Tensor w = dev_rand({4, 9, 3, 3}, dt, 8).requires_grad_();
    Tensor y = conv2d(x, w, {}, {2, 1}, {1, 1});
    // The CPU holds no float16: compare bit for bit after a (lossless) widening to float32.
    EXPECT_TRUE(test::all_equal(y.detach().to(kFloat32).cpu(),
                                conv2d(x.detach().contiguous(), w.detach(), {}, {2, 1}, {1, 1}).to(kFloat32).cpu()));
    sum(y).backward();

    Tensor br = host64(base).requires_grad_(), wr = host64(w).requires_grad_();
    Tensor yr = conv2d(br.permute({0, 3, 2, 1}), wr, {}, {2, 1}, {1, 1});
    sum(yr).backward();
    EXPECT_TRUE(close_to(y, yr, dt));
    EXPECT_TRUE(close_to(base.grad(), br.grad(), dt));
    EXPECT_TRUE(close_to(w.grad(), wr.grad(), dt));
  }
  // A sliced (offset, strided) weight.
  Tensor wbig = dev_rand({8, 3, 3, 3}, kFloat32, 9);
  Tensor w = wbig.narrow(0, 1, 4);
  Tensor ws = wbig.slice(0, 0, 8, 2);
  Tensor x = dev_rand({1, 3, 6, 6}, kFloat32, 10);
  EXPECT_TRUE(close_to(conv2d(x, w), conv2d(host64(x), host64(w)), kFloat32));
  EXPECT_TRUE(close_to(conv2d(x, ws), conv2d(host64(x), host64(ws)), kFloat32));
}

TEST(CudaConv2d, EmptyBatch) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : {kFloat32, kBFloat16}) {
    Tensor e = zeros({0, 3, 5, 5}, TensorOptions(dt).device(kCuda)).requires_grad_();
    Tensor w = dev_rand({4, 3, 3, 3}, dt, 11).requires_grad_();
    Tensor b = dev_rand({4}, dt, 12).requires_grad_();
    Tensor y = conv2d(e, w, b, {2, 2});
    EXPECT_EQ(y.sizes(), (Shape{0, 4, 2, 2}));
    sum(y).backward();
    EXPECT_EQ(e.grad().sizes(), e.sizes());
    EXPECT_TRUE(test::all_close(host64(w.grad()), zeros({4, 3, 3, 3}, kFloat64), 0, 0));
    EXPECT_TRUE(test::all_close(host64(b.grad()), zeros({4}, kFloat64), 0, 0));
    EXPECT_EQ(conv_transpose2d(zeros({0, 4, 2, 2}, TensorOptions(dt).device(kCuda)), w).sizes(), (Shape{0, 3, 4, 4}));
  }
}

TEST(CudaConv1d, ForwardAndGradients) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : kDtypes) {
    SCOPED_TRACE(str(dt));
    Tensor x = dev_rand({2, 4, 13}, dt, 20).requires_grad_();
    Tensor w = dev_rand({6, 2, 3}, dt, 21).requires_grad_();
    Tensor b = dev_rand({6}, dt, 22).requires_grad_();
    Tensor y = conv1d(x, w, b, 2, 1, 2, 2);
    Tensor r = dev_rand(y.sizes(), dt, 23);
    sum(y * r).backward();
    Tensor xr = host64(x).requires_grad_(), wr = host64(w).requires_grad_(), br = host64(b).requires_grad_();
    Tensor yr = conv1d(xr, wr, br, 2, 1, 2, 2);
    sum(yr * host64(r)).backward();
    EXPECT_TRUE(close_to(y, yr, dt));
    EXPECT_TRUE(close_to(x.grad(), xr.grad(), dt));
    EXPECT_TRUE(close_to(w.grad(), wr.grad(), dt));
    EXPECT_TRUE(close_to(b.grad(), br.grad(), dt));
    // Unbatched.
    Tensor yu = conv1d(x.detach()[1], w.detach(), b.detach(), 2, 1, 2, 2);
    EXPECT_TRUE(close_to(yu, yr.detach()[1], dt));
  }
}

struct TransposeCase {
  Shape x, w;
  Pair stride, padding, output_padding, dilation;
  int64_t groups;
};

TEST(CudaConvTranspose2d, ForwardAndGradients) {
  WICK_SKIP_WITHOUT_CUDA();
  const std::vector<TransposeCase> cases = {
      {{2, 4, 5, 6}, {4, 3, 3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, 1},  // the usual 2x upsampling
      {{1, 4, 4, 5}, {4, 2, 3, 3}, {2, 1}, {0, 1}, {1, 0}, {1, 1}, 2},  // groups
      // output_padding >= stride (allowed by dilation): the map is smaller
      // than the image implies, which cuDNN cannot take (wick kernels run).
      {{2, 3, 4, 4}, {3, 5, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {2, 2}, 1},
  };
  uint64_t seed = 300;
  for (const TransposeCase& c : cases)
    for (DType dt : kDtypes) {
      SCOPED_TRACE(str("x ", shape_str(c.x), " w ", shape_str(c.w), " ", dt));
      seed += 10;
      Tensor x = dev_rand(c.x, dt, seed).requires_grad_();
      Tensor w = dev_rand(c.w, dt, seed + 1).requires_grad_();
      Tensor b = dev_rand({c.w[1] * c.groups}, dt, seed + 2).requires_grad_();
      Tensor y = conv_transpose2d(x, w, b, c.stride, c.padding, c.output_padding, c.groups, c.dilation);
      Tensor r = dev_rand(y.sizes(), dt, seed + 3);
      sum(y * r).backward();
      Tensor xr = host64(x).requires_grad_(), wr = host64(w).requires_grad_(), br = host64(b).requires_grad_();
      Tensor yr = conv_transpose2d(xr, wr, br, c.stride, c.padding, c.output_padding, c.groups, c.dilation);
      sum(yr * host64(r)).backward();
      ASSERT_EQ(y.sizes(), yr.sizes());
      EXPECT_TRUE(close_to(y, yr, dt)) << "forward";
      EXPECT_TRUE(close_to(x.grad(), xr.grad(), dt)) << "input gradient";
      EXPECT_TRUE(close_to(w.grad(), wr.grad(), dt)) << "weight gradient";
      EXPECT_TRUE(close_to(b.grad(), br.grad(), dt)) << "bias gradient";
    }
}

// Every conv on the device, finite differences on the host (the inputs move
// to the device and the result back, both differentiable).
TEST(CudaConv, GradcheckFloat64OnDevice) {
  WICK_SKIP_WITHOUT_CUDA();
  auto on_gpu = [](auto f) {
    return [f](const tensor_list& x) {
      tensor_list d;
      for (const Tensor& t : x) d.push_back(t.to(kCuda));
      return f(d).to(kCPU);
    };
  };
  const auto c2 = on_gpu([](const tensor_list& x) { return conv2d(x[0], x[1], x[2], {2, 1}, {1, 1}, {1, 2}, 2); });
  EXPECT_TRUE(gradcheck(c2, {test::rand_f64({2, 4, 5, 6}, 1), test::rand_f64({4, 2, 3, 2}, 2), test::rand_f64({4}, 3)}));
  EXPECT_TRUE(gradgradcheck(c2, {test::rand_f64({1, 4, 4, 5}, 4), test::rand_f64({4, 2, 3, 2}, 5), test::rand_f64({4}, 6)}));
  const auto ct = on_gpu([](const tensor_list& x) {
    return conv_transpose2d(x[0], x[1], x[2], {2, 2}, {1, 0}, {1, 1}, 1, {1, 1});
  });
  EXPECT_TRUE(gradcheck(ct, {test::rand_f64({1, 3, 3, 4}, 7), test::rand_f64({3, 2, 3, 3}, 8), test::rand_f64({2}, 9)}));
  const auto c1 = on_gpu([](const tensor_list& x) { return conv1d(x[0], x[1], {}, 1, 2, 1, 1); });
  EXPECT_TRUE(gradcheck(c1, {test::noncontig_f64({2, 3, 7}, 10), test::rand_f64({2, 3, 3}, 11)}));
}

// ---- raw maps: wick kernels vs reference kernels vs cuDNN -------------------

ConvGeometry geometry(int64_t N, int64_t C_in, int64_t H, int64_t W, int64_t C_out, int64_t kh, int64_t kw,
                      Pair s, Pair p, Pair d, int64_t groups, int64_t OH = -1, int64_t OW = -1) {
  ConvGeometry g;
  g.N = N, g.C_in = C_in, g.H = H, g.W = W, g.C_out = C_out, g.kh = kh, g.kw = kw;
  g.sh = s[0], g.sw = s[1], g.ph = p[0], g.pw = p[1], g.dh = d[0], g.dw = d[1], g.groups = groups;
  g.OH = OH >= 0 ? OH : (H + 2 * p[0] - d[0] * (kh - 1) - 1) / s[0] + 1;
  g.OW = OW >= 0 ? OW : (W + 2 * p[1] - d[1] * (kw - 1) - 1) / s[1] + 1;
  return g;
}

std::string describe(const ConvGeometry& g) {
  return str("N=", g.N, " C_in=", g.C_in, " ", g.H, "x", g.W, " C_out=", g.C_out, " k ", g.kh, "x", g.kw, " s ", g.sh,
             ",", g.sw, " p ", g.ph, ",", g.pw, " d ", g.dh, ",", g.dw, " groups ", g.groups, " map ", g.OH, "x",
             g.OW);
}

// Output tensors start as NaN: every element must be written.
Tensor nan_out(const Shape& s, DType dt) {
  return full(s, std::numeric_limits<double>::quiet_NaN(), TensorOptions(dt).device(kCuda));
}

// wick (and cuDNN) vs the reference kernel on one geometry and dtype; cuDNN
// may pick FFT/Winograd algorithms, hence its looser float32 tolerance.
void check_raw(const ConvGeometry& g, DType dt, uint64_t seed) {
  SCOPED_TRACE(str(describe(g), " ", dt));
  const Shape is{g.N, g.C_in, g.H, g.W}, ws{g.C_out, g.C_in / g.groups, g.kh, g.kw}, ms{g.N, g.C_out, g.OH, g.OW};
  const Tensor image = dev_rand(is, dt, seed), weight = dev_rand(ws, dt, seed + 1), map = dev_rand(ms, dt, seed + 2);
  const Tensor bias_out = dev_rand({g.C_out}, dt, seed + 3), bias_in = dev_rand({g.C_in}, dt, seed + 4);
  const Tol t = tol_for(dt);
  const Tol tv = dt == kFloat32 ? Tol{1e-3, 1e-3} : dt == kFloat64 ? t : Tol{4 * t.atol, 4 * t.rtol};  // cuDNN

  std::vector<ConvBackend> backends = {ConvBackend::Wick};
  if (cuda::cudnn_available()) backends.push_back(ConvBackend::Cudnn);

  Tensor ref = nan_out(ms, dt);
  cuda::conv2d_forward_reference(g, image, weight, bias_out, ref);
  // The reference kernel is itself checked against the CPU kernel.
  {
    Tensor cpu_map = zeros(ms, kFloat64);
    cpu::conv2d_forward_reference<double>(g, host64(image).data_ptr<double>(), host64(weight).data_ptr<double>(),
                                          host64(bias_out).data_ptr<double>(), cpu_map.data_ptr<double>());
    EXPECT_TRUE(test::all_close(host64(ref), cpu_map, t.atol, t.rtol)) << "reference forward vs CPU";
  }
  for (ConvBackend be : backends) {
    SCOPED_TRACE(cuda::conv_backend_name(be));
    const Tol tb = be == ConvBackend::Wick ? t : tv;
    Tensor out = nan_out(ms, dt);
    cuda::conv2d_forward(g, image, weight, bias_out, out, be);
    EXPECT_TRUE(test::all_close(host64(out), host64(ref), tb.atol, tb.rtol)) << "forward";
    out = nan_out(ms, dt);
    cuda::conv2d_forward(g, image, weight, Tensor(), out, be);
    Tensor ref_nb = nan_out(ms, dt);
    cuda::conv2d_forward_reference(g, image, weight, Tensor(), ref_nb);
    EXPECT_TRUE(test::all_close(host64(out), host64(ref_nb), tb.atol, tb.rtol)) << "forward without bias";
  }

  ref = nan_out(is, dt);
  cuda::conv2d_transpose_reference(g, map, weight, bias_in, ref);
  {
    Tensor cpu_img = zeros(is, kFloat64);
    cpu::conv2d_transpose_reference<double>(g, host64(map).data_ptr<double>(), host64(weight).data_ptr<double>(),
                                            host64(bias_in).data_ptr<double>(), cpu_img.data_ptr<double>());
    EXPECT_TRUE(test::all_close(host64(ref), cpu_img, t.atol, t.rtol)) << "reference transpose vs CPU";
  }
  for (ConvBackend be : backends) {
    SCOPED_TRACE(cuda::conv_backend_name(be));
    const Tol tb = be == ConvBackend::Wick ? t : tv;
    Tensor out = nan_out(is, dt);
    cuda::conv2d_transpose(g, map, weight, bias_in, out, be);
    EXPECT_TRUE(test::all_close(host64(out), host64(ref), tb.atol, tb.rtol)) << "transpose";
  }

  ref = nan_out(ws, dt);
  cuda::conv2d_weight_grad_reference(g, image, map, ref);
  {
    Tensor cpu_w = zeros(ws, kFloat64);
    cpu::conv2d_weight_grad_reference<double>(g, host64(image).data_ptr<double>(), host64(map).data_ptr<double>(),
                                              cpu_w.data_ptr<double>());
    EXPECT_TRUE(test::all_close(host64(ref), cpu_w, t.atol, t.rtol)) << "reference weight grad vs CPU";
  }
  for (ConvBackend be : backends) {
    SCOPED_TRACE(cuda::conv_backend_name(be));
    const Tol tb = be == ConvBackend::Wick ? t : tv;
    Tensor out = nan_out(ws, dt);
    cuda::conv2d_weight_grad(g, image, map, out, be);
    EXPECT_TRUE(test::all_close(host64(out), host64(ref), tb.atol, tb.rtol)) << "weight grad";
  }
}

TEST(CudaConvKernels, WickReferenceAndCudnn) {
  WICK_SKIP_WITHOUT_CUDA();
  const std::vector<ConvGeometry> geos = {
      geometry(2, 3, 9, 7, 5, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1),
      geometry(3, 8, 11, 13, 6, 3, 3, {2, 2}, {1, 1}, {1, 1}, 2),
      geometry(1, 6, 10, 10, 6, 3, 3, {1, 2}, {2, 1}, {2, 1}, 6),    // depthwise
      geometry(2, 65, 5, 9, 67, 1, 1, {1, 1}, {0, 0}, {1, 1}, 1),    // 1x1, ragged 64-tiles in M and K
      geometry(5, 16, 15, 15, 32, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1),  // split-K weight grad
      geometry(1, 4, 12, 12, 4, 5, 4, {3, 2}, {2, 1}, {1, 2}, 1),
      // Stride phases of the transpose: phases that no tap reaches (bias
      // only), dilation sharing a factor with the stride, a 1x1 kernel at stride 5.
      geometry(2, 4, 13, 11, 6, 3, 3, {4, 3}, {1, 2}, {2, 3}, 2),
      geometry(1, 3, 17, 16, 5, 5, 4, {2, 2}, {2, 1}, {2, 2}, 1),
      geometry(1, 3, 6, 6, 2, 1, 1, {5, 5}, {0, 0}, {1, 1}, 1),
      // Map smaller than the geometry implies (conv_transpose2d with
      // output_padding >= stride): cuDNN requests run wick's kernels.
      geometry(2, 3, 9, 8, 4, 3, 3, {1, 1}, {1, 1}, {2, 2}, 1, 6, 5),
  };
  uint64_t seed = 500;
  for (const ConvGeometry& g : geos)
    for (DType dt : kDtypes) check_raw(g, dt, seed += 10);
}

TEST(CudaConvKernels, Deterministic) {
  WICK_SKIP_WITHOUT_CUDA();
  // Long K: the weight gradient splits it over blocks and sums in fixed order.
  const ConvGeometry g = geometry(16, 32, 20, 20, 32, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1);
  const Tensor image = dev_rand({g.N, g.C_in, g.H, g.W}, kFloat32, 1);
  const Tensor weight = dev_rand({g.C_out, g.C_in, g.kh, g.kw}, kFloat32, 2);
  const Tensor map = dev_rand({g.N, g.C_out, g.OH, g.OW}, kFloat32, 3);
  Tensor w1 = nan_out(weight.sizes(), kFloat32), w2 = nan_out(weight.sizes(), kFloat32);
  cuda::conv2d_weight_grad(g, image, map, w1, ConvBackend::Wick);
  cuda::conv2d_weight_grad(g, image, map, w2, ConvBackend::Wick);
  EXPECT_TRUE(test::all_equal(w1.cpu(), w2.cpu()));
  Tensor i1 = nan_out(image.sizes(), kFloat32), i2 = nan_out(image.sizes(), kFloat32);
  cuda::conv2d_transpose(g, map, weight, Tensor(), i1, ConvBackend::Wick);
  cuda::conv2d_transpose(g, map, weight, Tensor(), i2, ConvBackend::Wick);
  EXPECT_TRUE(test::all_equal(i1.cpu(), i2.cpu()));
  // ...and the split sums are right.
  Tensor wr = nan_out(weight.sizes(), kFloat32);
  cuda::conv2d_weight_grad_reference(g, image, map, wr);
  EXPECT_TRUE(test::all_close(w1.cpu(), wr.cpu(), 1e-3, 1e-4));
}

TEST(CudaConvKernels, BackendSelection) {
  WICK_SKIP_WITHOUT_CUDA();
  EXPECT_STREQ(cuda::conv_backend_name(ConvBackend::Wick), "wick");
  EXPECT_STREQ(cuda::conv_backend_name(ConvBackend::Cudnn), "cudnn");
  // Default follows WICK_CUDA_CONV (read once; run this binary with
  // WICK_CUDA_CONV=cudnn to send every op test above through cuDNN).
  const char* env = std::getenv("WICK_CUDA_CONV");
  const bool cudnn_env = env != nullptr && std::strcmp(env, "cudnn") == 0;
  EXPECT_EQ(cuda::default_conv_backend(), cudnn_env ? ConvBackend::Cudnn : ConvBackend::Wick);

  const ConvGeometry g = geometry(1, 2, 5, 5, 3, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1);
  const Tensor image = dev_rand({1, 2, 5, 5}, kFloat32, 1), weight = dev_rand({3, 2, 3, 3}, kFloat32, 2);
  Tensor a = nan_out({1, 3, 5, 5}, kFloat32), ref = nan_out({1, 3, 5, 5}, kFloat32);
  cuda::conv2d_forward_reference(g, image, weight, Tensor(), ref);
  cuda::conv2d_forward(g, image, weight, Tensor(), a, ConvBackend::Wick);
  EXPECT_TRUE(test::all_close(a.cpu(), ref.cpu(), 1e-5, 1e-5));
  if (cuda::cudnn_available()) {
    Tensor c = nan_out({1, 3, 5, 5}, kFloat32);
    cuda::conv2d_forward(g, image, weight, Tensor(), c, ConvBackend::Cudnn);
    EXPECT_TRUE(test::all_close(c.cpu(), ref.cpu(), 1e-4, 1e-4));
  } else {
    EXPECT_WICK_ERROR(cuda::conv2d_forward(g, image, weight, Tensor(), a, ConvBackend::Cudnn), "has no cuDNN");
  }
}

TEST(CudaConv, Errors) {
  WICK_SKIP_WITHOUT_CUDA();
  const TensorOptions f32c = TensorOptions(kFloat32).device(kCuda);
  Tensor x = zeros({1, 3, 5, 5}, f32c), w = zeros({4, 3, 3, 3}, f32c);
  EXPECT_WICK_ERROR(conv2d(x, zeros({4, 3, 3, 3})), "conv2d: input (cuda:0) and weight (cpu) must be on the same device");
  EXPECT_WICK_ERROR(conv2d(x, w, zeros({4})), "conv2d: input (cuda:0) and bias (cpu) must be on the same device");
  EXPECT_WICK_ERROR(conv2d(x, zeros({4, 3, 3, 3}, TensorOptions(kFloat16).device(kCuda))),
                    "conv2d: input (float32) and weight (float16) must have the same dtype");
  const TensorOptions f16c = TensorOptions(kFloat16).device(kCuda);  // 16-bit CPU tensors, copied from the device
  EXPECT_WICK_ERROR(conv2d(zeros({1, 3, 5, 5}, f16c).cpu(), zeros({4, 3, 3, 3}, f16c).cpu()),
                    "conv2d: expected a float32 or float64 input (or float16/bfloat16 on CUDA)");
  EXPECT_WICK_ERROR(conv_transpose2d(zeros({1, 4, 5, 5}, f32c), zeros({4, 2, 3, 3})), "must be on the same device");
  // The raw API checks its tensors.
  const ConvGeometry g = geometry(1, 3, 5, 5, 4, 3, 3, {1, 1}, {0, 0}, {1, 1}, 1);
  EXPECT_WICK_ERROR(cuda::conv2d_forward(g, x, w, Tensor(), zeros({1, 4, 4, 4}, f32c)),
                    "cuda conv2d_forward: map has shape [1,4,4,4], expected [1,4,3,3]");
  EXPECT_WICK_ERROR(cuda::conv2d_forward(g, x, w, Tensor(), zeros({1, 4, 3, 3})), "map is on cpu");
  EXPECT_WICK_ERROR(cuda::conv2d_forward(g, x, w.transpose(2, 3), Tensor(), zeros({1, 4, 3, 3}, f32c)),
                    "weight must be contiguous");
}

#else

TEST(CudaConv, SkippedWithoutCuda) { WICK_SKIP_WITHOUT_CUDA(); }

#endif  // WICK_WITH_CUDA

#ifdef WICK_WITH_CUDA
// cuDNN's algorithm choice (cuda/vendor/cudnn.cpp) is made once per
// direction, dtype and geometry (measured, or with WICK_CUDNN_FIND=0 cuDNN's
// heuristic: run this binary both ways) and then reused from a cache, with
// results right on every call, the first (measuring) one included.
TEST(CudaConvKernels, CudnnAlgorithmCache) {
  WICK_SKIP_WITHOUT_CUDA();
  const char* env = std::getenv("WICK_CUDNN_FIND");
  EXPECT_EQ(cuda::vendor::cudnn_find_enabled(), !(env != nullptr && std::strcmp(env, "0") == 0));
  if (!cuda::cudnn_available()) {
    EXPECT_EQ(cuda::vendor::cudnn_conv_algorithm_cache_size(), 0u);
    GTEST_SKIP() << "this build has no cuDNN";
  }
  // A geometry no other test runs, so that its first call of each direction is a miss.
  const ConvGeometry g = geometry(3, 7, 19, 17, 9, 3, 5, {2, 1}, {1, 2}, {1, 1}, 1);
  SCOPED_TRACE(describe(g));
  const Shape is{g.N, g.C_in, g.H, g.W}, ws{g.C_out, g.C_in, g.kh, g.kw}, ms{g.N, g.C_out, g.OH, g.OW};
  uint64_t seed = 900;
  for (DType dt : {kFloat32, kBFloat16}) {
    SCOPED_TRACE(str(dt));
    const Tol t = dt == kFloat32 ? Tol{1e-3, 1e-3} : Tol{8e-2, 4e-2};  // check_raw's cuDNN tolerances
    const Tensor image = dev_rand(is, dt, seed += 10), weight = dev_rand(ws, dt, seed + 1);
    const Tensor map = dev_rand(ms, dt, seed + 2);
    Tensor ref_map = nan_out(ms, dt), ref_image = nan_out(is, dt), ref_weight = nan_out(ws, dt);
    cuda::conv2d_forward_reference(g, image, weight, Tensor(), ref_map);
    cuda::conv2d_transpose_reference(g, map, weight, Tensor(), ref_image);
    cuda::conv2d_weight_grad_reference(g, image, map, ref_weight);
    for (int dir = 0; dir < 3; ++dir) {
      SCOPED_TRACE(dir == 0 ? "forward" : dir == 1 ? "transpose" : "weight grad");
      const size_t entries = cuda::vendor::cudnn_conv_algorithm_cache_size();
      const size_t selections = cuda::vendor::cudnn_conv_algorithm_selections();
      for (int call = 0; call < 3; ++call) {
        Tensor out = nan_out(dir == 0 ? ms : dir == 1 ? is : ws, dt);
        if (dir == 0) cuda::conv2d_forward(g, image, weight, Tensor(), out, ConvBackend::Cudnn);
        if (dir == 1) cuda::conv2d_transpose(g, map, weight, Tensor(), out, ConvBackend::Cudnn);
        if (dir == 2) cuda::conv2d_weight_grad(g, image, map, out, ConvBackend::Cudnn);
        const Tensor& ref = dir == 0 ? ref_map : dir == 1 ? ref_image : ref_weight;
        EXPECT_TRUE(test::all_close(host64(out), host64(ref), t.atol, t.rtol)) << "call " << call;
        // One selection and one new entry at the first call, none after: the later calls hit the cache.
        EXPECT_EQ(cuda::vendor::cudnn_conv_algorithm_selections(), selections + 1) << "call " << call;
        EXPECT_EQ(cuda::vendor::cudnn_conv_algorithm_cache_size(), entries + 1) << "call " << call;
      }
    }
  }
}
#endif  // WICK_WITH_CUDA

}  // namespace
}  // namespace wick

// ---- plain 1x1 convolutions through cuda::gemm (conv.cu, section 4) --------
// Both of wick's paths for 1x1 / stride 1 / no padding / one group (the
// batched GEMM and the implicit GEMM, chosen with cuda::set_conv1x1_path)
// against the float64 CPU kernels on the same values: forward (with and
// without bias), transpose (input gradient, bias[C_in]) and weight gradient
// in both GEMM forms (per-image partials; K over the batch: one image
// without a copy, copies with one chunk or several); through the ops with
// autograd (odd shapes, non-contiguous input, empty batch); strided and
// padded 1x1s, which must stay on the implicit GEMM and be right.
#ifdef WICK_WITH_CUDA
namespace wick {
namespace {

using cuda::Conv1x1Path;

// Sets the process-wide 1x1 path for a scope.
class Conv1x1PathScope {
 public:
  explicit Conv1x1PathScope(Conv1x1Path p) : prev_(cuda::conv1x1_path()) { cuda::set_conv1x1_path(p); }
  ~Conv1x1PathScope() { cuda::set_conv1x1_path(prev_); }
  Conv1x1PathScope(const Conv1x1PathScope&) = delete;
  Conv1x1PathScope& operator=(const Conv1x1PathScope&) = delete;

 private:
  Conv1x1Path prev_;
};

const char* path_name(Conv1x1Path p) {
  return p == Conv1x1Path::Gemm ? "gemm" : p == Conv1x1Path::Igemm ? "igemm" : "auto";
}

// The raw maps selected by `maps` ("ftw": forward, transpose, weight grad)
// with ConvBackend::Wick on NaN-filled outputs vs the CPU reference kernels
// (any geometry; the weight gradient twice, bit for bit).
void check_maps(const ConvGeometry& g, DType dt, uint64_t seed, const std::string& maps = "ftw") {
  SCOPED_TRACE(str(describe(g), " ", dt, " 1x1 path ", path_name(cuda::conv1x1_path()), " im2col ",
                   cuda::conv_im2col() ? "on" : "off"));
  const Shape is{g.N, g.C_in, g.H, g.W}, ws{g.C_out, g.C_in / g.groups, g.kh, g.kw}, ms{g.N, g.C_out, g.OH, g.OW};
  const bool ft = maps.find_first_of("ft") != std::string::npos;  // the weight is an input
  const Tensor image = dev_rand(is, dt, seed), map = dev_rand(ms, dt, seed + 2);
  const Tensor weight = ft ? dev_rand(ws, dt, seed + 1) : Tensor();
  const Tensor bias_out = dev_rand({g.C_out}, dt, seed + 3), bias_in = dev_rand({g.C_in}, dt, seed + 4);
  const Tensor image64 = host64(image), weight64 = ft ? host64(weight) : Tensor(), map64 = host64(map);
  const Tensor bias_out64 = host64(bias_out), bias_in64 = host64(bias_in);
  for (bool with_bias : {true, false}) {
    SCOPED_TRACE(with_bias ? "with bias" : "without bias");
    if (maps.find('f') != std::string::npos) {
      Tensor ref = zeros(ms, kFloat64), out = nan_out(ms, dt);
      cpu::conv2d_forward_reference<double>(g, image64.data_ptr<double>(), weight64.data_ptr<double>(),
                                            with_bias ? bias_out64.data_ptr<double>() : nullptr,
                                            ref.data_ptr<double>());
      cuda::conv2d_forward(g, image, weight, with_bias ? bias_out : Tensor(), out, ConvBackend::Wick);
      EXPECT_TRUE(close_to(out, ref, dt)) << "forward";
    }
    if (maps.find('t') != std::string::npos) {
      Tensor ref = zeros(is, kFloat64), out = nan_out(is, dt);
      cpu::conv2d_transpose_reference<double>(g, map64.data_ptr<double>(), weight64.data_ptr<double>(),
                                              with_bias ? bias_in64.data_ptr<double>() : nullptr,
                                              ref.data_ptr<double>());
      cuda::conv2d_transpose(g, map, weight, with_bias ? bias_in : Tensor(), out, ConvBackend::Wick);
      EXPECT_TRUE(close_to(out, ref, dt)) << "transpose";
    }
  }
  if (maps.find('w') != std::string::npos) {
    Tensor ref = zeros(ws, kFloat64), out = nan_out(ws, dt), again = nan_out(ws, dt);
    cpu::conv2d_weight_grad_reference<double>(g, image64.data_ptr<double>(), map64.data_ptr<double>(),
                                              ref.data_ptr<double>());
    cuda::conv2d_weight_grad(g, image, map, out, ConvBackend::Wick);
    EXPECT_TRUE(close_to(out, ref, dt)) << "weight grad";
    cuda::conv2d_weight_grad(g, image, map, again, ConvBackend::Wick);
    EXPECT_TRUE(test::all_equal(host64(out), host64(again))) << "weight grad, deterministic";
  }
}

TEST(CudaConv1x1, GemmAndImplicitGemmMaps) {
  WICK_SKIP_WITHOUT_CUDA();
  const std::vector<ConvGeometry> geos = {
      geometry(3, 3, 7, 9, 5, 1, 1, {1, 1}, {0, 0}, {1, 1}, 1),     // odd shapes
      geometry(1, 3, 7, 9, 5, 1, 1, {1, 1}, {0, 0}, {1, 1}, 1),     // one image: weight grad without the sum
      // Small or odd images run as one product over the batch's pixels
      // (channels-first copies), images of >= 256 aligned pixels batched
      // per image: both, with ragged 128-tiles in M, N and K.
      geometry(2, 130, 13, 13, 70, 1, 1, {1, 1}, {0, 0}, {1, 1}, 1),
      geometry(2, 130, 12, 22, 70, 1, 1, {1, 1}, {0, 0}, {1, 1}, 1),
      geometry(3, 3, 16, 16, 5, 1, 1, {1, 1}, {0, 0}, {1, 1}, 1),  // also per-image weight-grad partials
      geometry(2, 8, 1, 1, 6, 1, 1, {1, 1}, {0, 0}, {1, 1}, 1),     // P = 1
      geometry(3, 3, 7, 9, 5, 1, 1, {1, 1}, {0, 0}, {2, 2}, 1),     // dilation means nothing for 1x1: GEMM too
      // Not plain 1x1s: the implicit GEMM runs whatever the path says.
      geometry(3, 3, 7, 9, 5, 1, 1, {2, 2}, {0, 0}, {1, 1}, 1),     // stride 2
      geometry(3, 3, 7, 9, 5, 1, 1, {1, 1}, {1, 1}, {1, 1}, 1),     // padding 1
      geometry(2, 6, 5, 7, 4, 1, 1, {1, 1}, {0, 0}, {1, 1}, 2),     // groups
  };
  uint64_t seed = 900;
  for (Conv1x1Path path : {Conv1x1Path::Gemm, Conv1x1Path::Igemm, Conv1x1Path::Auto}) {
    const Conv1x1PathScope scope(path);
    for (const ConvGeometry& g : geos)
      for (DType dt : kDtypes) check_maps(g, dt, seed += 10);
  }
}

TEST(CudaConv1x1, WeightGradSplitK) {
  WICK_SKIP_WITHOUT_CUDA();
  // Many channels, small images: the GEMM path copies the batch to
  // [C, N*P] and runs K = N*P = 1575 in 3 chunks (576, 576, 423) on a
  // 132-SM H100 (fewer chunks on a smaller device), in every dtype.
  const ConvGeometry g = geometry(25, 150, 7, 9, 140, 1, 1, {1, 1}, {0, 0}, {1, 1}, 1);
  uint64_t seed = 1200;
  for (Conv1x1Path path : {Conv1x1Path::Gemm, Conv1x1Path::Auto}) {
    const Conv1x1PathScope scope(path);
    for (DType dt : kDtypes) check_maps(g, dt, seed += 10, "w");
  }
}

TEST(CudaConv1x1, OpsWithAutograd) {
  WICK_SKIP_WITHOUT_CUDA();
  const std::vector<Conv2dCase> cases = {
      {{3, 3, 7, 9}, {5, 3, 1, 1}},                                  // with bias
      {{3, 3, 7, 9}, {5, 3, 1, 1}, {1, 1}, {0, 0}, {1, 1}, 1, false},  // without
      {{1, 3, 7, 9}, {5, 3, 1, 1}},                                  // one image
      {{2, 3, 16, 16}, {5, 3, 1, 1}},                                // 256 pixels: batched per image
      {{3, 3, 7, 9}, {5, 3, 1, 1}, {2, 2}},                          // stride 2: implicit GEMM
      {{3, 3, 7, 9}, {5, 3, 1, 1}, {1, 1}, {1, 1}},                  // padding 1: implicit GEMM
  };
  uint64_t seed = 1300;
  for (Conv1x1Path path : {Conv1x1Path::Gemm, Conv1x1Path::Igemm}) {
    const Conv1x1PathScope scope(path);
    SCOPED_TRACE(path_name(path));
    for (const Conv2dCase& c : cases)
      for (DType dt : kDtypes) check_conv2d(c, dt, seed += 10);
    // conv_transpose2d with a 1x1 kernel at stride 1: the transpose map is its forward.
    for (DType dt : kDtypes) {
      SCOPED_TRACE(str("conv_transpose2d ", dt));
      seed += 10;
      Tensor x = dev_rand({3, 5, 7, 9}, dt, seed).requires_grad_();
      Tensor w = dev_rand({5, 3, 1, 1}, dt, seed + 1).requires_grad_();
      Tensor b = dev_rand({3}, dt, seed + 2).requires_grad_();
      Tensor y = conv_transpose2d(x, w, b);
      Tensor r = dev_rand(y.sizes(), dt, seed + 3);
      sum(y * r).backward();
      Tensor xr = host64(x).requires_grad_(), wr = host64(w).requires_grad_(), br = host64(b).requires_grad_();
      Tensor yr = conv_transpose2d(xr, wr, br);
      sum(yr * host64(r)).backward();
      ASSERT_EQ(y.sizes(), yr.sizes());
      EXPECT_TRUE(close_to(y, yr, dt)) << "forward";
      EXPECT_TRUE(close_to(x.grad(), xr.grad(), dt)) << "input gradient";
      EXPECT_TRUE(close_to(w.grad(), wr.grad(), dt)) << "weight gradient";
      EXPECT_TRUE(close_to(b.grad(), br.grad(), dt)) << "bias gradient";
    }
  }
}

TEST(CudaConv1x1, NonContiguousInputAndEmptyBatch) {
  WICK_SKIP_WITHOUT_CUDA();
  const Conv1x1PathScope scope(Conv1x1Path::Gemm);
  for (DType dt : kDtypes) {
    SCOPED_TRACE(str(dt));
    // [3, 9, 7, 5] stored as [3, 5, 7, 9] permuted.
    Tensor base = dev_rand({3, 5, 7, 9}, dt, 1400).requires_grad_();
    Tensor x = base.permute({0, 3, 2, 1});
    ASSERT_FALSE(x.is_contiguous());
    Tensor w = dev_rand({4, 9, 1, 1}, dt, 1401).requires_grad_();
    Tensor b = dev_rand({4}, dt, 1402).requires_grad_();
    Tensor y = conv2d(x, w, b);
    Tensor r = dev_rand(y.sizes(), dt, 1403);
    sum(y * r).backward();
    Tensor baser = host64(base).requires_grad_(), wr = host64(w).requires_grad_(), br = host64(b).requires_grad_();
    Tensor yr = conv2d(baser.permute({0, 3, 2, 1}), wr, br);
    sum(yr * host64(r)).backward();
    EXPECT_TRUE(close_to(y, yr, dt)) << "forward";
    EXPECT_TRUE(close_to(base.grad(), baser.grad(), dt)) << "input gradient";
    EXPECT_TRUE(close_to(w.grad(), wr.grad(), dt)) << "weight gradient";
    EXPECT_TRUE(close_to(b.grad(), br.grad(), dt)) << "bias gradient";

    // An empty batch: an empty map, an empty input gradient, zero weight and bias gradients.
    Tensor e = zeros({0, 3, 7, 9}, TensorOptions(dt).device(kCuda)).requires_grad_();
    Tensor we = dev_rand({5, 3, 1, 1}, dt, 1404).requires_grad_();
    Tensor be = dev_rand({5}, dt, 1405).requires_grad_();
    Tensor ye = conv2d(e, we, be);
    EXPECT_EQ(ye.sizes(), (Shape{0, 5, 7, 9}));
    sum(ye).backward();
    EXPECT_EQ(e.grad().sizes(), e.sizes());
    EXPECT_TRUE(test::all_close(host64(we.grad()), zeros({5, 3, 1, 1}, kFloat64), 0, 0));
    EXPECT_TRUE(test::all_close(host64(be.grad()), zeros({5}, kFloat64), 0, 0));
    // The raw weight gradient of no images overwrites its output with zeros.
    const ConvGeometry g0 = geometry(0, 3, 7, 9, 5, 1, 1, {1, 1}, {0, 0}, {1, 1}, 1);
    Tensor wg = nan_out({5, 3, 1, 1}, dt);
    cuda::conv2d_weight_grad(g0, zeros({0, 3, 7, 9}, TensorOptions(dt).device(kCuda)),
                             zeros({0, 5, 7, 9}, TensorOptions(dt).device(kCuda)), wg, ConvBackend::Wick);
    EXPECT_TRUE(test::all_close(host64(wg), zeros({5, 3, 1, 1}, kFloat64), 0, 0));
  }
}


// ---- the column path (conv.cu, section 5) ----------------------------------
// Convolutions of one group as explicit column matrices and cuda::gemm
// (cuda::set_conv_im2col): every map against the float64 CPU kernels in
// both column layouts (per image for >= 256 aligned map pixels, one matrix
// over the chunk's pixels otherwise), K padded to 16 bytes (the 7x7 stem's
// 147), strides, dilation, asymmetric kernels, a map smaller than the
// geometry implies, one image; chunks of images (a workspace too small for
// two); grouped and plain 1x1 convolutions, which take the other paths with
// the switch on; the ops with autograd.

// Sets the column path (and optionally its workspace) for a scope.
class Im2colScope {
 public:
  explicit Im2colScope(bool on, int64_t workspace = 0) : prev_(cuda::conv_im2col()) {
    cuda::set_conv_im2col(on);
    if (workspace > 0) prev_ws_ = cuda::set_conv_im2col_workspace(workspace);
  }
  ~Im2colScope() {
    cuda::set_conv_im2col(prev_);
    if (prev_ws_ > 0) cuda::set_conv_im2col_workspace(prev_ws_);
  }
  Im2colScope(const Im2colScope&) = delete;
  Im2colScope& operator=(const Im2colScope&) = delete;

 private:
  bool prev_;
  int64_t prev_ws_ = 0;
};

const std::vector<ConvGeometry>& im2col_geometries() {
  static const std::vector<ConvGeometry> geos = {
      geometry(2, 3, 9, 7, 5, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1),       // small map: one product over the pixels
      geometry(3, 8, 11, 13, 6, 3, 3, {2, 2}, {1, 1}, {1, 1}, 1),     // stride 2
      geometry(2, 5, 16, 16, 7, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1),     // 256 map pixels: per image
      geometry(1, 5, 16, 16, 7, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1),     // one image (weight grad without a dY copy)
      geometry(2, 3, 35, 33, 10, 7, 7, {2, 2}, {3, 3}, {1, 1}, 1),    // 7x7 stem, K = 147 padded; 18x17 map
      geometry(1, 4, 12, 12, 4, 5, 4, {3, 2}, {2, 1}, {1, 2}, 1),     // asymmetric, dilated along W
      geometry(1, 3, 17, 16, 5, 5, 4, {2, 2}, {2, 1}, {2, 2}, 1),     // stride phases sharing a factor
      geometry(2, 3, 11, 10, 5, 3, 3, {1, 1}, {2, 2}, {2, 2}, 1),     // dilation 2
      geometry(3, 8, 7, 9, 6, 1, 1, {2, 2}, {0, 0}, {1, 1}, 1),       // strided 1x1 (ResNet's downsample)
      geometry(2, 3, 9, 8, 4, 3, 3, {1, 1}, {1, 1}, {2, 2}, 1, 6, 5),  // map smaller than the geometry implies
      geometry(2, 130, 6, 7, 70, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1),    // ragged 128-tiles, K = 1170
      // Not for the column path: grouped (implicit GEMM) and a plain 1x1 (the 1x1 GEMM path).
      geometry(2, 6, 8, 7, 4, 3, 3, {1, 2}, {1, 0}, {1, 1}, 2),
      geometry(3, 7, 5, 5, 9, 1, 1, {1, 1}, {0, 0}, {1, 1}, 1),
  };
  return geos;
}

TEST(CudaConvIm2col, SwitchAndWorkspace) {
  // No GPU needed: the switch and the workspace setting are host state.
  const bool was = cuda::conv_im2col();
  cuda::set_conv_im2col(!was);
  EXPECT_EQ(cuda::conv_im2col(), !was);
  cuda::set_conv_im2col(was);
  const int64_t prev = cuda::set_conv_im2col_workspace(12345);
  EXPECT_EQ(prev, 256LL << 20);
  EXPECT_EQ(cuda::set_conv_im2col_workspace(prev), 12345);
  EXPECT_WICK_ERROR(cuda::set_conv_im2col_workspace(0), "positive byte count");
}

TEST(CudaConvIm2col, MapsAgainstCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  const Im2colScope scope(true);
  uint64_t seed = 1500;
  for (const ConvGeometry& g : im2col_geometries())
    for (DType dt : kDtypes) check_maps(g, dt, seed += 10);
}

TEST(CudaConvIm2col, ChunksOfImages) {
  WICK_SKIP_WITHOUT_CUDA();
  // A 1-byte workspace: one image per chunk in every map, the weight
  // gradient summed over the chunks' partials.
  const Im2colScope scope(true, 1);
  const std::vector<ConvGeometry> geos = {
      geometry(3, 3, 9, 7, 5, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1),     // one product per chunk's pixels
      geometry(3, 5, 16, 16, 7, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1),   // per image
      geometry(4, 3, 35, 33, 10, 7, 7, {2, 2}, {3, 3}, {1, 1}, 1),  // padded K
  };
  uint64_t seed = 1700;
  for (const ConvGeometry& g : geos)
    for (DType dt : kDtypes) check_maps(g, dt, seed += 10);
  // Room for two float64 images' weight-gradient columns ((K + C_out) *
  // pixels * 8 bytes): chunks of 2 to 8 images by dtype and map, a short
  // last chunk where that does not divide 5.
  cuda::set_conv_im2col_workspace(2 * (5 * 9 + 7) * 256 * 8);
  for (DType dt : kDtypes) check_maps(geometry(5, 5, 16, 16, 7, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1), dt, seed += 10);
}

TEST(CudaConvIm2col, OpsWithAutograd) {
  WICK_SKIP_WITHOUT_CUDA();
  const Im2colScope scope(true);
  uint64_t seed = 1900;
  for (const Conv2dCase& c : kConv2dCases)
    for (DType dt : kDtypes) check_conv2d(c, dt, seed += 10);
}

// The column path's copies on packs of up to 16 bytes (set_conv_copy_packs):
// the im2col geometries, 1x1 layers whose channels-first copies take packs
// of 8, 4, 2 and 1 (P = 64, 196, 14 and 49), chunks of one image, every
// dtype, against the float64 CPU; with and without a bias (the copy back
// from a float32 product, or the product in the input's dtype).
TEST(CudaConvIm2col, Packs) {
  WICK_SKIP_WITHOUT_CUDA();
  const test::SwitchScope restore(cuda::conv_copy_packs, cuda::set_conv_copy_packs);
  cuda::set_conv_copy_packs(true);
  const int64_t packed_before = cuda::conv_copy_packed_launches();
  {
    const Im2colScope scope(true);
    const Conv1x1PathScope gemm(Conv1x1Path::Gemm);
    uint64_t seed = 2600;
    for (const ConvGeometry& g : im2col_geometries())
      for (DType dt : kDtypes) check_maps(g, dt, seed += 10);
    for (const ConvGeometry& g : {geometry(3, 5, 8, 8, 7, 1, 1, {1, 1}, {0, 0}, {1, 1}, 1),
                                  geometry(2, 6, 14, 14, 4, 1, 1, {1, 1}, {0, 0}, {1, 1}, 1),
                                  geometry(3, 4, 2, 7, 5, 1, 1, {1, 1}, {0, 0}, {1, 1}, 1),
                                  geometry(2, 6, 7, 7, 4, 1, 1, {1, 1}, {0, 0}, {1, 1}, 1),
                                  geometry(2, 6, 28, 28, 4, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1)})
      for (DType dt : kDtypes) check_maps(g, dt, seed += 10);
  }
  {
    const Im2colScope chunked(true, 1);
    uint64_t seed = 2800;
    for (DType dt : kDtypes) check_maps(geometry(3, 5, 16, 16, 7, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1), dt, seed += 10);
  }
  EXPECT_GT(cuda::conv_copy_packed_launches(), packed_before) << "no copy took packs wider than one value";
}

TEST(CudaConvIm2col, Deterministic) {
  WICK_SKIP_WITHOUT_CUDA();
  const Im2colScope scope(true);
  const ConvGeometry g = geometry(16, 32, 20, 20, 32, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1);
  const Tensor image = dev_rand({g.N, g.C_in, g.H, g.W}, kFloat32, 1);
  const Tensor weight = dev_rand({g.C_out, g.C_in, g.kh, g.kw}, kFloat32, 2);
  const Tensor map = dev_rand({g.N, g.C_out, g.OH, g.OW}, kFloat32, 3);
  Tensor i1 = nan_out(image.sizes(), kFloat32), i2 = nan_out(image.sizes(), kFloat32);
  cuda::conv2d_transpose(g, map, weight, Tensor(), i1, ConvBackend::Wick);
  cuda::conv2d_transpose(g, map, weight, Tensor(), i2, ConvBackend::Wick);
  EXPECT_TRUE(test::all_equal(i1.cpu(), i2.cpu()));
  Tensor w1 = nan_out(weight.sizes(), kFloat32), w2 = nan_out(weight.sizes(), kFloat32);
  cuda::conv2d_weight_grad(g, image, map, w1, ConvBackend::Wick);
  cuda::conv2d_weight_grad(g, image, map, w2, ConvBackend::Wick);
  EXPECT_TRUE(test::all_equal(w1.cpu(), w2.cpu()));
  Tensor wr = nan_out(weight.sizes(), kFloat32);
  cuda::conv2d_weight_grad_reference(g, image, map, wr);
  EXPECT_TRUE(test::all_close(w1.cpu(), wr.cpu(), 1e-3, 1e-4));
}


// ---- the stride-1 input gradient as a forward convolution ------------------

class TransposeAsForwardScope {
 public:
  explicit TransposeAsForwardScope(bool on) : prev_(cuda::conv_transpose_as_forward()) {
    cuda::set_conv_transpose_as_forward(on);
  }
  ~TransposeAsForwardScope() { cuda::set_conv_transpose_as_forward(prev_); }
  TransposeAsForwardScope(const TransposeAsForwardScope&) = delete;
  TransposeAsForwardScope& operator=(const TransposeAsForwardScope&) = delete;

 private:
  bool prev_;
};

// Stride-1 geometries the rule takes (and two it does not, run by the
// column path's transpose as before).
const std::vector<ConvGeometry>& transpose_as_forward_geometries() {
  static const std::vector<ConvGeometry> geos = {
      geometry(2, 5, 16, 16, 7, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1),     // "same" 3x3, per image (256 pixels)
      geometry(2, 3, 9, 7, 5, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1),       // small map: one product over the pixels
      geometry(2, 4, 10, 9, 6, 3, 3, {1, 1}, {0, 0}, {1, 1}, 1),      // "valid": the forward pads 2
      geometry(2, 3, 11, 10, 5, 3, 3, {1, 1}, {1, 2}, {2, 1}, 1),     // dilation and padding per axis
      geometry(1, 4, 12, 12, 6, 5, 3, {1, 1}, {2, 0}, {1, 2}, 1),     // kh != kw
      geometry(2, 130, 6, 7, 70, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1),    // ragged 128-tiles, K' = 630
      geometry(2, 3, 19, 17, 4, 7, 7, {1, 1}, {3, 3}, {1, 1}, 1),     // 7x7, K' = 196 padded
      geometry(2, 3, 9, 8, 4, 3, 3, {1, 1}, {1, 1}, {2, 2}, 1, 6, 5),  // map smaller than the full output: not taken
      geometry(2, 3, 8, 8, 4, 3, 3, {1, 1}, {3, 3}, {1, 1}, 1),       // padding past d (k - 1): not taken
  };
  return geos;
}

TEST(CudaConvTransposeAsForward, GeometryRuleAndItsIdentityOnTheCpu) {
  // No GPU needed: the rule is host code, and the identity it rests on is
  // checked with the float64 CPU references (transpose of cg = forward of
  // the returned geometry with the flipped, channel-swapped weight).
  const ConvGeometry same = geometry(2, 5, 16, 16, 7, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1);
  const std::optional<ConvGeometry> f = cuda::conv_transpose_as_forward_geometry(same);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->C_in, 7);
  EXPECT_EQ(f->C_out, 5);
  EXPECT_EQ(f->ph, 1);
  EXPECT_EQ(f->H, 16);
  EXPECT_EQ(f->OH, 16);
  EXPECT_EQ(cuda::conv_transpose_as_forward_geometry(geometry(2, 4, 10, 9, 6, 3, 3, {1, 1}, {0, 0}, {1, 1}, 1))->pw,
            2);
  EXPECT_FALSE(cuda::conv_transpose_as_forward_geometry(geometry(2, 4, 9, 9, 6, 3, 3, {2, 2}, {1, 1}, {1, 1}, 1)))
      << "stride 2";
  EXPECT_FALSE(cuda::conv_transpose_as_forward_geometry(geometry(2, 4, 9, 9, 6, 3, 3, {1, 1}, {1, 1}, {1, 1}, 2)))
      << "groups";
  uint64_t seed = 2100;
  int taken = 0;
  for (const ConvGeometry& g : transpose_as_forward_geometries()) {
    SCOPED_TRACE(describe(g));
    const std::optional<ConvGeometry> fg = cuda::conv_transpose_as_forward_geometry(g);
    if (!fg) continue;
    ++taken;
    Generator gen(seed++);
    const Tensor map = randn({g.N, g.C_out, g.OH, g.OW}, TensorOptions(kFloat64), &gen);
    const Tensor weight = randn({g.C_out, g.C_in, g.kh, g.kw}, TensorOptions(kFloat64), &gen);
    const Tensor bias = randn({g.C_in}, TensorOptions(kFloat64), &gen);
    Tensor want = zeros({g.N, g.C_in, g.H, g.W}, kFloat64), got = zeros({g.N, g.C_in, g.H, g.W}, kFloat64);
    cpu::conv2d_transpose_reference<double>(g, map.data_ptr<double>(), weight.data_ptr<double>(),
                                            bias.data_ptr<double>(), want.data_ptr<double>());
    const Tensor flipped = flip(weight.transpose(0, 1), {2, 3}).contiguous();
    cpu::conv2d_forward_reference<double>(*fg, map.data_ptr<double>(), flipped.data_ptr<double>(),
                                          bias.data_ptr<double>(), got.data_ptr<double>());
    EXPECT_TRUE(test::all_close(got, want, 1e-12, 1e-12));
  }
  EXPECT_EQ(taken, 7);
}

TEST(CudaConvTransposeAsForward, MapsAgainstCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  const Im2colScope im2col(true);
  const TransposeAsForwardScope on(true);
  uint64_t seed = 2200;
  const int64_t before = cuda::conv_transpose_as_forward_products();
  for (const ConvGeometry& g : transpose_as_forward_geometries())
    for (DType dt : kDtypes) check_maps(g, dt, seed += 10, "t");
  EXPECT_GT(cuda::conv_transpose_as_forward_products(), before) << "no input gradient ran as a forward";
  // Chunks of one image.
  const Im2colScope chunked(true, 1);
  for (DType dt : kDtypes) check_maps(transpose_as_forward_geometries()[0], dt, seed += 10, "t");
}

TEST(CudaConvTransposeAsForward, OpsWithAutograd) {
  WICK_SKIP_WITHOUT_CUDA();
  const Im2colScope im2col(true);
  const TransposeAsForwardScope on(true);
  uint64_t seed = 2400;
  for (const Conv2dCase& c : kConv2dCases)
    for (DType dt : kDtypes) check_conv2d(c, dt, seed += 10);
}

}  // namespace
}  // namespace wick
#endif  // WICK_WITH_CUDA
