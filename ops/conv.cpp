// Convolutions: argument checks, output shapes, dispatch to the im2col+GEMM
// kernels (ops/cpu/conv.cpp) and the backward formulas.
//
// Output size along a spatial dim (k kernel, s stride, p padding, d dilation):
//   conv:            out = (in + 2p - d(k-1) - 1) / s + 1
//   conv_transpose:  out = (in - 1) s - 2p + d(k-1) + output_padding + 1
//
// Gradients, all written with ops so that they are differentiable again
// (gradgradcheck passes):
//   conv2d(x, w):           dx = conv_transpose2d(g, w) with the output_padding that recovers x's size
//                           dw = conv2d_weight(x, g)
//   conv_transpose2d(x, w): dx = conv2d(g, w) (cropped to x's size)
//                           dw = conv2d_weight(g, x)   (the transposed conv is conv2d's adjoint)
//   bias:                   db = sum of g over N and the spatial dims
// conv2d_weight(image, map) = d<map, conv2d(image, W)>/dW is its own op (an
// im2col + GEMM kernel); it is bilinear, so its backward is
//   d image = conv_transpose2d(map, GW),  d map = conv2d(image, GW).
// conv1d is conv2d over [N, C, 1, L]; unbatched inputs gain a batch dim of 1.
// CUDA tensors run the same three maps with cuda/kernels/conv.h (wick's
// implicit-GEMM kernels or cuDNN, see WICK_CUDA_CONV), also in float16 and
// bfloat16; the backward formulas are shared.
#include "ops/conv.h"

#include <vector>

#include "autograd/autocast.h"
#include "autograd/function.h"
#include "ops/cpu/conv.h"
#ifdef WICK_WITH_CUDA
#include "cuda/kernels/conv.h"
#endif
#include "ops/creation.h"
#include "ops/reduction.h"
#include "ops/view.h"

namespace wick {

using autograd::Ctx;
using autograd::SavedTensor;

namespace {

using Pair = std::array<int64_t, 2>;

struct ConvParams {
  Pair stride{1, 1}, padding{0, 0}, dilation{1, 1};
  int64_t groups = 1;
};

// "3x3" / "5"
std::string dims_str(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += 'x';
    s += std::to_string(v[i]);
  }
  return s;
}

// Checks the arguments of conv1d / conv2d / conv_transpose2d as the user gave
// them; `sd` = number of spatial dims = stride.size(). Returns nothing: every
// problem a user can cause is a wick::Error naming `op`.
void check_conv_args(const char* op, bool transposed, const Tensor& x, const Tensor& w, const Tensor& b,
                     const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                     const std::vector<int64_t>& dilation, const std::vector<int64_t>& output_padding,
                     int64_t groups) {
  const int64_t sd = static_cast<int64_t>(stride.size());
  WICK_CHECK(x.defined() && w.defined(), op, ": undefined input or weight");
  WICK_CHECK(x.dim() == sd + 1 || x.dim() == sd + 2, op, ": expected a ", sd + 1, "-D (unbatched) or ", sd + 2,
             "-D (batched) input, got ", shape_str(x.sizes()));
  WICK_CHECK(w.dim() == sd + 2, op, ": expected a ", sd + 2, "-D weight, got ", shape_str(w.sizes()));
#ifdef WICK_WITH_CUDA
  const bool has_kernel = x.is_cpu() || x.is_cuda();
#else
  const bool has_kernel = x.is_cpu();
#endif
  WICK_CHECK(has_kernel, op, ": no kernel for device ", x.device(), " in this build");
  const bool half = x.dtype() == kFloat16 || x.dtype() == kBFloat16;  // CUDA kernels only
  WICK_CHECK(x.dtype() == kFloat32 || x.dtype() == kFloat64 || (half && x.is_cuda()), op,
             ": expected a float32 or float64 input (or float16/bfloat16 on CUDA), got ", x.dtype(), " on ",
             x.device());
  WICK_CHECK(w.dtype() == x.dtype(), op, ": input (", x.dtype(), ") and weight (", w.dtype(),
             ") must have the same dtype");
  WICK_CHECK(w.device() == x.device(), op, ": input (", x.device(), ") and weight (", w.device(),
             ") must be on the same device");
  if (b.defined()) {
    WICK_CHECK(b.dtype() == x.dtype(), op, ": input (", x.dtype(), ") and bias (", b.dtype(),
               ") must have the same dtype");
    WICK_CHECK(b.device() == x.device(), op, ": input (", x.device(), ") and bias (", b.device(),
               ") must be on the same device");
  }
  WICK_CHECK(groups > 0, op, ": groups must be positive, got ", groups);
  for (int64_t i = 0; i < sd; ++i) {
    WICK_CHECK(stride[i] > 0, op, ": stride must be positive, got ", shape_str(stride));
    WICK_CHECK(padding[i] >= 0, op, ": padding must be non-negative, got ", shape_str(padding));
    WICK_CHECK(dilation[i] > 0, op, ": dilation must be positive, got ", shape_str(dilation));
  }
  const int64_t cdim = x.dim() - sd - 1;  // channel dim of x
  for (int64_t d = cdim; d < x.dim(); ++d)
    WICK_CHECK(x.size(d) > 0, op, ": expected an input with non-zero channel and spatial sizes, got ",
               shape_str(x.sizes()));
  const int64_t C_x = x.size(cdim);
  int64_t C_out;
  if (!transposed) {
    C_out = w.size(0);
    WICK_CHECK(C_out % groups == 0, op, ": groups ", groups, " does not divide the ", C_out,
               " output channels of weight ", shape_str(w.sizes()));
    WICK_CHECK(C_x % groups == 0, op, ": groups ", groups, " does not divide the ", C_x, " channels of input ",
               shape_str(x.sizes()));
    WICK_CHECK(C_x == w.size(1) * groups, op, ": expected input with ", w.size(1) * groups, " channels (weight ",
               shape_str(w.sizes()), ", groups ", groups, "), got ", shape_str(x.sizes()));
  } else {
    WICK_CHECK(C_x == w.size(0), op, ": expected input with ", w.size(0), " channels (weight ", shape_str(w.sizes()),
               ", groups ", groups, "), got ", shape_str(x.sizes()));
    WICK_CHECK(C_x % groups == 0, op, ": groups ", groups, " does not divide the ", C_x, " input channels of weight ",
               shape_str(w.sizes()));
    C_out = w.size(1) * groups;
  }
  if (b.defined())
    WICK_CHECK(b.dim() == 1 && b.size(0) == C_out, op, ": expected bias of shape [", C_out, "], got ",
               shape_str(b.sizes()));

  std::vector<int64_t> in(sd), k(sd), out(sd);
  for (int64_t i = 0; i < sd; ++i) {
    in[i] = x.size(cdim + 1 + i);
    k[i] = w.size(2 + i);
    WICK_CHECK(k[i] > 0, op, ": expected a non-empty kernel, got weight ", shape_str(w.sizes()));
  }
  if (!transposed) {
    std::vector<int64_t> padded(sd), eff(sd);
    bool fits = true;
    for (int64_t i = 0; i < sd; ++i) {
      padded[i] = in[i] + 2 * padding[i];
      eff[i] = dilation[i] * (k[i] - 1) + 1;
      fits = fits && eff[i] <= padded[i];
    }
    WICK_CHECK(fits, op, ": kernel ", dims_str(k), " (", dims_str(eff), " with dilation ", shape_str(dilation),
               ") is larger than the padded input ", dims_str(padded), " (input ", shape_str(x.sizes()),
               ", padding ", shape_str(padding), ")");
  } else {
    bool positive = true;
    for (int64_t i = 0; i < sd; ++i) {
      WICK_CHECK(output_padding[i] >= 0 && (output_padding[i] < stride[i] || output_padding[i] < dilation[i]), op,
                 ": output_padding must be non-negative and smaller than either stride or dilation, got "
                 "output_padding ",
                 shape_str(output_padding), ", stride ", shape_str(stride), ", dilation ", shape_str(dilation));
      out[i] = (in[i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (k[i] - 1) + output_padding[i] + 1;
      positive = positive && out[i] > 0;
    }
    WICK_CHECK(positive, op, ": output size ", shape_str(out), " is not positive (input ", shape_str(x.sizes()),
               ", weight ", shape_str(w.sizes()), ", stride ", shape_str(stride), ", padding ",
               shape_str(padding), ")");
  }
}

int64_t conv_out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
  return (in + 2 * p - d * (k - 1) - 1) / s + 1;
}

// The kernels' geometry for image [N, C_in, H, W] -> map [N, C_out, OH, OW].
cpu::ConvGeometry geometry(const Shape& image, const Shape& weight, int64_t OH, int64_t OW, const ConvParams& p) {
  cpu::ConvGeometry g;
  g.N = image[0];
  g.C_in = image[1];
  g.H = image[2];
  g.W = image[3];
  g.C_out = weight[0];
  g.kh = weight[2];
  g.kw = weight[3];
  g.OH = OH;
  g.OW = OW;
  g.sh = p.stride[0];
  g.sw = p.stride[1];
  g.ph = p.padding[0];
  g.pw = p.padding[1];
  g.dh = p.dilation[0];
  g.dw = p.dilation[1];
  g.groups = p.groups;
  return g;
}

template <typename T>
const T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

Tensor conv2d_batched(const Tensor& x, const Tensor& w, const Tensor& b, const ConvParams& p);
Tensor conv_transpose2d_batched(const Tensor& x, const Tensor& w, const Tensor& b, const ConvParams& p,
                                Pair output_padding);

// conv2d's input gradient: conv_transpose2d(gy, w) with the output_padding
// that makes its output in_hw. (conv2d's output size floors away up to
// stride - 1 trailing rows/cols of the padded input; they get zero gradient.)
Tensor conv2d_input_grad(const Tensor& gy, const Tensor& w, Pair in_hw, const ConvParams& p) {
  Pair op;
  for (int i = 0; i < 2; ++i)
    op[i] = in_hw[i] + 2 * p.padding[i] - p.dilation[i] * (w.size(2 + i) - 1) - 1 - (gy.size(2 + i) - 1) * p.stride[i];
  return conv_transpose2d_batched(gy, w, {}, p, op);
}

// conv2d(x, w) cropped to out_hw: conv_transpose2d's input gradient (when its
// output_padding >= stride, the plain conv2d has extra rows/cols).
Tensor conv2d_cropped(const Tensor& x, const Tensor& w, Pair out_hw, const ConvParams& p) {
  Tensor y = conv2d_batched(x, w, {}, p);
  if (y.size(2) != out_hw[0]) y = narrow(y, 2, 0, out_hw[0]);
  if (y.size(3) != out_hw[1]) y = narrow(y, 3, 0, out_hw[1]);
  return y;
}

// weight [C_out, C_in/groups, kh, kw] -> d<map, conv2d(image, W)>/dW, for
// image [N, C_in, H, W] and map [N, C_out, OH, OW].
Tensor conv2d_weight(const Tensor& image, const Tensor& map, const Shape& weight_sizes, const ConvParams& p) {
  Tensor gw = empty(weight_sizes, TensorOptions(image.dtype()).device(image.device()));
  {
    NoGradGuard ng;
    Tensor ic = image.contiguous(), mc = map.contiguous();
    const cpu::ConvGeometry g = geometry(ic.sizes(), weight_sizes, mc.size(2), mc.size(3), p);
#ifdef WICK_WITH_CUDA
    if (image.is_cuda()) {
      cuda::conv2d_weight_grad(g, ic, mc, gw);
    } else
#endif
    {
      WICK_DISPATCH_FLOAT(image.dtype(), "conv2d_weight", [&]<typename T>() {
        cpu::conv2d_weight_grad<T>(g, ic.data_ptr<T>(), mc.data_ptr<T>(), gw.data_ptr<T>(), cpu::default_conv_path());
      });
    }
  }
  if (autograd::needs_grad({image, map})) {
    autograd::record("Conv2dWeightBackward", {image, map}, {gw},
                     [si = SavedTensor(image), sm = SavedTensor(map), p](const Ctx& c) {
                       Tensor image = si.unpack(), map = sm.unpack();
                       Tensor gi, gm;
                       if (c.needs_input_grad(0)) gi = conv2d_input_grad(map, c.grad(), {image.size(2), image.size(3)}, p);
                       if (c.needs_input_grad(1)) gm = conv2d_cropped(image, c.grad(), {map.size(2), map.size(3)}, p);
                       return tensor_list{gi, gm};
                     });
  }
  return gw;
}

Tensor bias_grad(const Ctx& c) { return sum(c.grad(), {0, 2, 3}); }

// x [N, C_in, H, W] (arguments already checked).
Tensor conv2d_batched(const Tensor& x, const Tensor& w, const Tensor& b, const ConvParams& p) {
  const int64_t OH = conv_out_size(x.size(2), w.size(2), p.stride[0], p.padding[0], p.dilation[0]);
  const int64_t OW = conv_out_size(x.size(3), w.size(3), p.stride[1], p.padding[1], p.dilation[1]);
  Tensor y = empty({x.size(0), w.size(0), OH, OW}, TensorOptions(x.dtype()).device(x.device()));
  {
    NoGradGuard ng;
    Tensor xc = x.contiguous(), wc = w.contiguous(), bc = b.defined() ? b.contiguous() : Tensor();
    const cpu::ConvGeometry g = geometry(xc.sizes(), wc.sizes(), OH, OW, p);
#ifdef WICK_WITH_CUDA
    if (x.is_cuda()) {
      cuda::conv2d_forward(g, xc, wc, bc, y);
    } else
#endif
    {
      WICK_DISPATCH_FLOAT(x.dtype(), "conv2d", [&]<typename T>() {
        cpu::conv2d_forward<T>(g, xc.data_ptr<T>(), wc.data_ptr<T>(), ptr_or_null<T>(bc), y.data_ptr<T>(),
                               cpu::default_conv_path());
      });
    }
  }
  if (autograd::needs_grad({x, w, b})) {
    // x is needed only for the weight gradient, w only for the input gradient.
    autograd::record("Conv2dBackward", {x, w, b}, {y},
                     [sx = SavedTensor(w.requires_grad() ? x : Tensor()),
                      sw = SavedTensor(x.requires_grad() ? w : Tensor()), x_hw = Pair{x.size(2), x.size(3)},
                      w_sizes = w.sizes(), p](const Ctx& c) {
                       Tensor gx, gw, gb;
                       if (c.needs_input_grad(0)) gx = conv2d_input_grad(c.grad(), sw.unpack(), x_hw, p);
                       if (c.needs_input_grad(1)) gw = conv2d_weight(sx.unpack(), c.grad(), w_sizes, p);
                       if (c.needs_input_grad(2)) gb = bias_grad(c);
                       return tensor_list{gx, gw, gb};
                     });
  }
  return y;
}

// x [N, C_in, H, W], w [C_in, C_out/groups, kh, kw] (arguments already checked).
Tensor conv_transpose2d_batched(const Tensor& x, const Tensor& w, const Tensor& b, const ConvParams& p,
                                Pair output_padding) {
  Pair out;
  for (int i = 0; i < 2; ++i)
    out[i] = (x.size(2 + i) - 1) * p.stride[i] - 2 * p.padding[i] + p.dilation[i] * (w.size(2 + i) - 1) +
             output_padding[i] + 1;
  const int64_t C_out = w.size(1) * p.groups;
  Tensor y = empty({x.size(0), C_out, out[0], out[1]}, TensorOptions(x.dtype()).device(x.device()));
  {
    NoGradGuard ng;
    Tensor xc = x.contiguous(), wc = w.contiguous(), bc = b.defined() ? b.contiguous() : Tensor();
    // The geometry of the forward conv that maps y-shaped images to x-shaped maps.
    const cpu::ConvGeometry g = geometry(y.sizes(), wc.sizes(), x.size(2), x.size(3), p);
#ifdef WICK_WITH_CUDA
    if (x.is_cuda()) {
      cuda::conv2d_transpose(g, xc, wc, bc, y);
    } else
#endif
    {
      WICK_DISPATCH_FLOAT(x.dtype(), "conv_transpose2d", [&]<typename T>() {
        cpu::conv2d_transpose<T>(g, xc.data_ptr<T>(), wc.data_ptr<T>(), ptr_or_null<T>(bc), y.data_ptr<T>(),
                                 cpu::default_conv_path());
      });
    }
  }
  if (autograd::needs_grad({x, w, b})) {
    autograd::record("ConvTranspose2dBackward", {x, w, b}, {y},
                     [sx = SavedTensor(w.requires_grad() ? x : Tensor()),
                      sw = SavedTensor(x.requires_grad() ? w : Tensor()), x_hw = Pair{x.size(2), x.size(3)},
                      w_sizes = w.sizes(), p](const Ctx& c) {
                       Tensor gx, gw, gb;
                       if (c.needs_input_grad(0)) gx = conv2d_cropped(c.grad(), sw.unpack(), x_hw, p);
                       if (c.needs_input_grad(1)) gw = conv2d_weight(c.grad(), sx.unpack(), w_sizes, p);
                       if (c.needs_input_grad(2)) gb = bias_grad(c);
                       return tensor_list{gx, gw, gb};
                     });
  }
  return y;
}

std::vector<int64_t> vec(Pair a) { return {a[0], a[1]}; }

}  // namespace

Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding,
              int64_t dilation, int64_t groups) {
  if (autocast::Cast ac{x, weight, bias}; ac)
    return conv1d(ac.lower(x), ac.lower(weight), ac.lower(bias), stride, padding, dilation, groups);
  check_conv_args("conv1d", false, x, weight, bias, {stride}, {padding}, {dilation}, {0}, groups);
  const bool unbatched = x.dim() == 2;
  Tensor x4 = unsqueeze(unbatched ? unsqueeze(x, 0) : x, 2);  // [N, C, 1, L]
  ConvParams p{{1, stride}, {0, padding}, {1, dilation}, groups};
  Tensor y = squeeze(conv2d_batched(x4, unsqueeze(weight, 2), bias, p), 2);
  return unbatched ? squeeze(y, 0) : y;
}

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, std::array<int64_t, 2> stride,
              std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation, int64_t groups) {
  if (autocast::Cast ac{x, weight, bias}; ac)
    return conv2d(ac.lower(x), ac.lower(weight), ac.lower(bias), stride, padding, dilation, groups);
  check_conv_args("conv2d", false, x, weight, bias, vec(stride), vec(padding), vec(dilation), {0, 0}, groups);
  ConvParams p{stride, padding, dilation, groups};
  if (x.dim() == 3) return squeeze(conv2d_batched(unsqueeze(x, 0), weight, bias, p), 0);
  return conv2d_batched(x, weight, bias, p);
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias, std::array<int64_t, 2> stride,
                        std::array<int64_t, 2> padding, std::array<int64_t, 2> output_padding, int64_t groups,
                        std::array<int64_t, 2> dilation) {
  if (autocast::Cast ac{x, weight, bias}; ac)
    return conv_transpose2d(ac.lower(x), ac.lower(weight), ac.lower(bias), stride, padding, output_padding, groups,
                            dilation);
  check_conv_args("conv_transpose2d", true, x, weight, bias, vec(stride), vec(padding), vec(dilation),
                  vec(output_padding), groups);
  ConvParams p{stride, padding, dilation, groups};
  if (x.dim() == 3) return squeeze(conv_transpose2d_batched(unsqueeze(x, 0), weight, bias, p, output_padding), 0);
  return conv_transpose2d_batched(x, weight, bias, p, output_padding);
}

}  // namespace wick
