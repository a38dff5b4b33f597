// Pooling and resampling: argument checks, output sizes (PyTorch's rules),
// the index/weight plans the kernels follow, and the backward formulas.
//
// Output size of a pooling window along one dim (k kernel, s stride, p
// padding, d dilation):
//   out = floor((in + 2p - d(k-1) - 1 + (ceil_mode ? s-1 : 0)) / s) + 1,
//   and with ceil_mode the last window must start inside the input or the
//   left padding: if (out-1) s >= in + p then out -= 1.
//
// Gradients, written as ops that are adjoint pairs (so every gradient is
// differentiable again):
//   max_pool2d          dx = scatter_add(g, argmax)   whose backward is gather(gg, argmax)
//   avg_pool2d,         dx = window_avg_adjoint(g)    whose backward is window_avg(gg)
//   adaptive_avg_pool2d      (one window-average op serves both)
//   interpolate         dx = resample_adjoint(g)      whose backward is resample(gg)
// The kernels (ops/cpu/pool.cpp, cuda/kernels/pool.cu) work on planes:
// [..., H, W] is numel/(H W) independent H x W planes, so batched and
// unbatched inputs are the same case. Both backends follow the plans built
// here (MaxPoolGeometry, AvgWindows, Resample); for a CUDA input the window
// and resample plans are uploaded once per call (cuda::PoolTables) and shared
// by the forward and all the backward nodes the call records.
#include "ops/pool.h"

#include <cmath>
#include <memory>

#include "autograd/function.h"
#include "ops/cpu/pool.h"
#include "ops/creation.h"
#ifdef WICK_WITH_CUDA
#include "cuda/kernels/pool.h"
#endif

namespace wick {

using autograd::Ctx;
using autograd::SavedTensor;

namespace {

using Pair = std::array<int64_t, 2>;

std::string pair_str(Pair a) { return shape_str({a[0], a[1]}); }

// [C, H, W] or [N, C, H, W], floating, non-empty except for the batch.
void check_plane_input(const char* op, const Tensor& x) {
  WICK_CHECK(x.defined(), op, ": undefined input");
  WICK_CHECK(x.dim() == 3 || x.dim() == 4, op, ": expected a 3-D [C, H, W] or 4-D [N, C, H, W] input, got ",
             shape_str(x.sizes()));
  for (int64_t d = x.dim() - 3; d < x.dim(); ++d)
    WICK_CHECK(x.size(d) > 0, op, ": expected non-zero channel and spatial sizes (only the batch may be empty), got ",
               shape_str(x.sizes()));
#ifdef WICK_WITH_CUDA
  if (x.is_cuda()) {  // float16 and bfloat16 too (computed in float32)
    WICK_CHECK(is_floating(x.dtype()), op, ": expected a floating input, got ", x.dtype());
    return;
  }
#endif
  WICK_CHECK(x.dtype() == kFloat32 || x.dtype() == kFloat64, op, ": expected a float32 or float64 input, got ",
             x.dtype());
  WICK_CHECK(x.is_cpu(), op, ": no kernel for device ", x.device(), " in this build");
}

// x's leading dims followed by [h, w].
Shape plane_shape(const Shape& x, int64_t h, int64_t w) {
  Shape s(x.begin(), x.end() - 2);
  s.push_back(h);
  s.push_back(w);
  return s;
}

int64_t num_planes(const Shape& s) { return numel_of(Shape(s.begin(), s.end() - 2)); }

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

int64_t pool_out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
  int64_t out = floor_div(in + 2 * p - d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0), s) + 1;
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return out;
}

struct PoolArgs {
  Pair k, s, p, d, out;
};

PoolArgs check_pool_args(const char* op, const Tensor& x, Pair k, std::optional<Pair> stride, Pair p, Pair d,
                         bool ceil_mode) {
  check_plane_input(op, x);
  PoolArgs a{k, stride.value_or(k), p, d, {0, 0}};
  WICK_CHECK(k[0] > 0 && k[1] > 0, op, ": kernel_size must be positive, got ", pair_str(k));
  WICK_CHECK(a.s[0] > 0 && a.s[1] > 0, op, ": stride must be positive, got ", pair_str(a.s));
  WICK_CHECK(d[0] > 0 && d[1] > 0, op, ": dilation must be positive, got ", pair_str(d));
  WICK_CHECK(p[0] >= 0 && p[1] >= 0 && p[0] <= k[0] / 2 && p[1] <= k[1] / 2, op,
             ": padding must be non-negative and at most half the kernel size, got padding ", pair_str(p),
             " for kernel_size ", pair_str(k));
  const int64_t H = x.size(-2), W = x.size(-1);
  a.out = {pool_out_size(H, k[0], a.s[0], p[0], d[0], ceil_mode), pool_out_size(W, k[1], a.s[1], p[1], d[1], ceil_mode)};
  WICK_CHECK(a.out[0] >= 1 && a.out[1] >= 1, op, ": input ", shape_str(x.sizes()), " gives output size ",
             pair_str(a.out), " (kernel_size ", pair_str(k), ", stride ", pair_str(a.s), ", padding ", pair_str(p),
             ", dilation ", pair_str(d), "), which is too small");
  return a;
}

// Allocates the output (in's dtype and device) and runs, on a contiguous copy
// of `in`, f(in_ptr, out_ptr) for a CPU tensor or on_cuda(in, out) for a CUDA
// one (on_cuda is passed only in CUDA builds).
template <typename F, typename... G>
Tensor run_planes(const char* op, const Tensor& in, const Shape& out_shape, F f, G... on_cuda) {
  static_assert(sizeof...(G) <= 1);
  Tensor out = empty(out_shape, TensorOptions(in.dtype()).device(in.device()));
  NoGradGuard ng;
  Tensor ic = in.contiguous();
  if constexpr (sizeof...(G) == 1) {
    if (ic.is_cuda()) {
      (on_cuda(ic, out), ...);
      return out;
    }
  }
  WICK_DISPATCH_FLOAT(in.dtype(), op, [&]<typename T>() { f(ic.data_ptr<T>(), out.data_ptr<T>()); });
  return out;
}

// The plans, shared by a call's forward and backward nodes.
using GeometryPtr = std::shared_ptr<const cpu::MaxPoolGeometry>;
struct WindowsPlan {
  cpu::AvgWindows w;
#ifdef WICK_WITH_CUDA
  cuda::PoolTables dev;  // w's tables on the input's device (CUDA inputs only)
#endif
};
struct ResamplePlan {
  cpu::Resample r;
#ifdef WICK_WITH_CUDA
  cuda::PoolTables dev;
#endif
};

// ---- argmax scatter / gather: max pooling's backward and its backward ----

Tensor plane_scatter_add(const Tensor& src, const Tensor& idx, const Shape& out_shape, const GeometryPtr& g);

// out[..., l] = x[..., idx[..., l]] within each plane; x [..., H, W], idx [..., OH, OW]
// (the argmax of max pooling with geometry g).
Tensor plane_gather(const Tensor& x, const Tensor& idx, const GeometryPtr& g) {
  const int64_t P = num_planes(x.sizes()), HW = x.size(-1) * x.size(-2);
  const int64_t L = P ? idx.numel() / P : 0;
  Tensor out = run_planes(
      "max_pool2d", x, idx.sizes(),
      [&](auto* in, auto* o) { cpu::plane_gather(P, L, HW, in, idx.data_ptr<int64_t>(), o); }
#ifdef WICK_WITH_CUDA
      , [&](const Tensor& in, const Tensor& o) { cuda::plane_gather(P, L, HW, in, idx, o); }
#endif
  );
  if (autograd::needs_grad({x}))
    autograd::record("MaxPool2dGatherBackward", {x}, {out},
                     [si = SavedTensor(idx), xs = x.sizes(), g](const Ctx& c) {
                       return tensor_list{plane_scatter_add(c.grad(), si.unpack(), xs, g)};
                     });
  return out;
}

// out[..., idx[..., l]] += src[..., l] within each plane; out has out_shape [..., H, W].
// (CUDA: the same sum as a gather over the windows of geometry g.)
Tensor plane_scatter_add(const Tensor& src, const Tensor& idx, const Shape& out_shape, const GeometryPtr& g) {
  const int64_t P = num_planes(out_shape), HW = out_shape.end()[-1] * out_shape.end()[-2];
  const int64_t L = P ? idx.numel() / P : 0;
  Tensor out = run_planes(
      "max_pool2d", src, out_shape,
      [&](auto* s, auto* o) { cpu::plane_scatter_add(P, L, HW, s, idx.data_ptr<int64_t>(), o); }
#ifdef WICK_WITH_CUDA
      , [&](const Tensor& s, const Tensor& o) { cuda::max_pool2d_backward(*g, s, idx, o); }
#endif
  );
  if (autograd::needs_grad({src}))
    autograd::record("MaxPool2dScatterBackward", {src}, {out}, [si = SavedTensor(idx), g](const Ctx& c) {
      return tensor_list{plane_gather(c.grad(), si.unpack(), g)};
    });
  return out;
}

// ---- window averages: avg_pool2d, adaptive_avg_pool2d ----

using WindowsPtr = std::shared_ptr<const WindowsPlan>;

Tensor window_avg_adjoint(const Tensor& g, const WindowsPtr& w);

Tensor window_avg(const Tensor& x, const WindowsPtr& wp, const char* op) {
  const int64_t P = num_planes(x.sizes());
  const cpu::AvgWindows* w = &wp->w;
  Tensor out = run_planes(
      op, x, plane_shape(x.sizes(), w->OH, w->OW), [&](auto* in, auto* o) { cpu::window_avg(P, *w, in, o); }
#ifdef WICK_WITH_CUDA
      , [&](const Tensor& in, const Tensor& o) { cuda::window_avg(P, *w, wp->dev, in, o); }
#endif
  );
  if (autograd::needs_grad({x}))
    autograd::record(std::string(op) == "adaptive_avg_pool2d" ? "AdaptiveAvgPool2dBackward" : "AvgPool2dBackward",
                     {x}, {out}, [wp](const Ctx& c) { return tensor_list{window_avg_adjoint(c.grad(), wp)}; });
  return out;
}

Tensor window_avg_adjoint(const Tensor& g, const WindowsPtr& wp) {
  const int64_t P = num_planes(g.sizes());
  const cpu::AvgWindows* w = &wp->w;
  Tensor gx = run_planes(
      "avg_pool2d_backward", g, plane_shape(g.sizes(), w->H, w->W),
      [&](auto* in, auto* o) { cpu::window_avg_adjoint(P, *w, in, o); }
#ifdef WICK_WITH_CUDA
      , [&](const Tensor& in, const Tensor& o) { cuda::window_avg_adjoint(P, *w, wp->dev, in, o); }
#endif
  );
  if (autograd::needs_grad({g}))
    autograd::record("AvgPool2dAdjointBackward", {g}, {gx},
                     [wp](const Ctx& c) { return tensor_list{window_avg(c.grad(), wp, "avg_pool2d")}; });
  return gx;
}

// ---- resampling: interpolate ----

using ResamplePtr = std::shared_ptr<const ResamplePlan>;

Tensor resample_adjoint(const Tensor& g, const ResamplePtr& r);

Tensor resample(const Tensor& x, const ResamplePtr& rp) {
  const int64_t P = num_planes(x.sizes());
  const cpu::Resample* r = &rp->r;
  Tensor out = run_planes(
      "interpolate", x, plane_shape(x.sizes(), r->OH, r->OW), [&](auto* in, auto* o) { cpu::resample(P, *r, in, o); }
#ifdef WICK_WITH_CUDA
      , [&](const Tensor& in, const Tensor& o) { cuda::resample(P, *r, rp->dev, in, o); }
#endif
  );
  if (autograd::needs_grad({x}))
    autograd::record(r->linear ? "UpsampleBilinear2dBackward" : "UpsampleNearest2dBackward", {x}, {out},
                     [rp](const Ctx& c) { return tensor_list{resample_adjoint(c.grad(), rp)}; });
  return out;
}

Tensor resample_adjoint(const Tensor& g, const ResamplePtr& rp) {
  const int64_t P = num_planes(g.sizes());
  const cpu::Resample* r = &rp->r;
  Tensor gx = run_planes(
      "interpolate_backward", g, plane_shape(g.sizes(), r->H, r->W),
      [&](auto* in, auto* o) { cpu::resample_adjoint(P, *r, in, o); }
#ifdef WICK_WITH_CUDA
      , [&](const Tensor& in, const Tensor& o) { cuda::resample_adjoint(P, *r, rp->dev, in, o); }
#endif
  );
  if (autograd::needs_grad({g}))
    autograd::record("UpsampleAdjointBackward", {g}, {gx},
                     [rp](const Ctx& c) { return tensor_list{resample(c.grad(), rp)}; });
  return gx;
}

// PyTorch's scale (input pixels per output pixel) for one dim
// (area_pixel_compute_scale / compute_scales_value in ATen/native/UpSample.h):
// a user scale_factor s is used as 1/s, otherwise in/out; align_corners uses
// (in-1)/(out-1). Computed in S, the tensor's type, like PyTorch.
template <typename S>
S source_scale(int64_t in, int64_t out, bool align_corners, std::optional<double> scale) {
  if (align_corners) return out > 1 ? static_cast<S>(in - 1) / static_cast<S>(out - 1) : S(0);
  return scale && *scale > 0 ? static_cast<S>(1.0 / *scale) : static_cast<S>(in) / static_cast<S>(out);
}

// Legacy nearest: src = min(floor(dst * scale), in - 1) in float arithmetic,
// with exact shortcuts for out == in and out == 2 in (PyTorch's nearest_idx).
void nearest_taps(int64_t in, int64_t out, std::optional<double> scale, std::vector<int64_t>& i0) {
  i0.resize(out);
  const float sc = source_scale<float>(in, out, false, scale);
  for (int64_t o = 0; o < out; ++o) {
    if (out == in)
      i0[o] = o;
    else if (out == 2 * in)
      i0[o] = o >> 1;
    else
      i0[o] = std::min(static_cast<int64_t>(std::floor(static_cast<float>(o) * sc)), in - 1);
  }
}

// Linear taps: the source coordinate (o + 0.5) scale - 0.5 clamped at 0 (or
// o * scale with align_corners), computed in double like PyTorch's
// accumulate type; the weights are rounded to S.
template <typename S>
void linear_taps(int64_t in, int64_t out, bool align_corners, std::optional<double> scale, std::vector<int64_t>& i0,
                 std::vector<int64_t>& i1, std::vector<double>& w0, std::vector<double>& w1) {
  i0.resize(out);
  i1.resize(out);
  w0.resize(out);
  w1.resize(out);
  const double ratio = source_scale<S>(in, out, align_corners, scale);
  for (int64_t o = 0; o < out; ++o) {
    if (out == in) {
      i0[o] = i1[o] = o;
      w0[o] = 1;
      w1[o] = 0;
      continue;
    }
    double src = align_corners ? ratio * static_cast<double>(o) : ratio * (static_cast<double>(o) + 0.5) - 0.5;
    if (!align_corners && src < 0) src = 0;
    i0[o] = static_cast<int64_t>(src);
    i1[o] = i0[o] + (i0[o] < in - 1 ? 1 : 0);
    const S l1 = static_cast<S>(src - static_cast<double>(i0[o]));
    w1[o] = l1;
    w0[o] = S(1) - l1;
  }
}

}  // namespace

std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, std::array<int64_t, 2> kernel_size,
                                                  std::optional<std::array<int64_t, 2>> stride,
                                                  std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation,
                                                  bool ceil_mode) {
  const PoolArgs a = check_pool_args("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode);
  auto gp = std::make_shared<cpu::MaxPoolGeometry>();
  cpu::MaxPoolGeometry& g = *gp;
  g.P = num_planes(x.sizes());
  g.H = x.size(-2);
  g.W = x.size(-1);
  g.OH = a.out[0];
  g.OW = a.out[1];
  g.kh = a.k[0];
  g.kw = a.k[1];
  g.sh = a.s[0];
  g.sw = a.s[1];
  g.ph = a.p[0];
  g.pw = a.p[1];
  g.dh = a.d[0];
  g.dw = a.d[1];
  const Shape out_shape = plane_shape(x.sizes(), g.OH, g.OW);
  Tensor indices = empty(out_shape, TensorOptions(kInt64).device(x.device()));
  Tensor values = run_planes(
      "max_pool2d", x, out_shape, [&](auto* in, auto* o) { cpu::max_pool2d(g, in, o, indices.data_ptr<int64_t>()); }
#ifdef WICK_WITH_CUDA
      , [&](const Tensor& in, const Tensor& o) { cuda::max_pool2d(g, in, o, indices); }
#endif
  );
  if (autograd::needs_grad({x}))
    autograd::record("MaxPool2dBackward", {x}, {values},
                     [si = SavedTensor(indices), xs = x.sizes(), g = GeometryPtr(gp)](const Ctx& c) {
                       return tensor_list{plane_scatter_add(c.grad(), si.unpack(), xs, g)};
                     });
  return {values, indices};
}

Tensor max_pool2d(const Tensor& x, std::array<int64_t, 2> kernel_size, std::optional<std::array<int64_t, 2>> stride,
                  std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation, bool ceil_mode) {
  return max_pool2d_with_indices(x, kernel_size, stride, padding, dilation, ceil_mode).first;
}

Tensor avg_pool2d(const Tensor& x, std::array<int64_t, 2> kernel_size, std::optional<std::array<int64_t, 2>> stride,
                  std::array<int64_t, 2> padding, bool ceil_mode, bool count_include_pad) {
  const PoolArgs a = check_pool_args("avg_pool2d", x, kernel_size, stride, padding, {1, 1}, ceil_mode);
  auto plan = std::make_shared<WindowsPlan>();
  cpu::AvgWindows* w = &plan->w;
  w->H = x.size(-2);
  w->W = x.size(-1);
  w->OH = a.out[0];
  w->OW = a.out[1];
  // Window [start, start + k) clipped to the padded input; the divisor counts
  // the padding (count_include_pad) or only the elements inside the input.
  auto axis = [&](int i, int64_t in, int64_t out, std::vector<int64_t>& b, std::vector<int64_t>& e,
                  std::vector<int64_t>& div) {
    b.resize(out);
    e.resize(out);
    div.resize(out);
    for (int64_t o = 0; o < out; ++o) {
      int64_t start = o * a.s[i] - a.p[i];
      int64_t end = std::min(start + a.k[i], in + a.p[i]);
      const int64_t padded_len = end - start;
      start = std::max<int64_t>(start, 0);
      end = std::min(end, in);
      b[o] = start;
      e[o] = end;
      div[o] = count_include_pad ? padded_len : end - start;
    }
  };
  axis(0, w->H, w->OH, w->r0, w->r1, w->rdiv);
  axis(1, w->W, w->OW, w->c0, w->c1, w->cdiv);
#ifdef WICK_WITH_CUDA
  if (x.is_cuda()) plan->dev = cuda::window_tables(*w, x.device());
#endif
  return window_avg(x, plan, "avg_pool2d");
}

Tensor adaptive_avg_pool2d(const Tensor& x, std::array<int64_t, 2> output_size) {
  check_plane_input("adaptive_avg_pool2d", x);
  WICK_CHECK(output_size[0] > 0 && output_size[1] > 0, "adaptive_avg_pool2d: output_size must be positive, got ",
             pair_str(output_size));
  auto plan = std::make_shared<WindowsPlan>();
  cpu::AvgWindows* w = &plan->w;
  w->H = x.size(-2);
  w->W = x.size(-1);
  w->OH = output_size[0];
  w->OW = output_size[1];
  // Bin o covers [floor(o in / out), ceil((o + 1) in / out)).
  auto axis = [](int64_t in, int64_t out, std::vector<int64_t>& b, std::vector<int64_t>& e,
                 std::vector<int64_t>& div) {
    b.resize(out);
    e.resize(out);
    div.resize(out);
    for (int64_t o = 0; o < out; ++o) {
      b[o] = (o * in) / out;
      e[o] = ((o + 1) * in + out - 1) / out;
      div[o] = e[o] - b[o];
    }
  };
  axis(w->H, w->OH, w->r0, w->r1, w->rdiv);
  axis(w->W, w->OW, w->c0, w->c1, w->cdiv);
#ifdef WICK_WITH_CUDA
  if (x.is_cuda()) plan->dev = cuda::window_tables(*w, x.device());
#endif
  return window_avg(x, plan, "adaptive_avg_pool2d");
}

Tensor interpolate(const Tensor& x, std::optional<std::array<int64_t, 2>> size,
                   std::optional<std::array<double, 2>> scale_factor, const std::string& mode, bool align_corners) {
  check_plane_input("interpolate", x);
  WICK_CHECK(mode == "nearest" || mode == "bilinear", "interpolate: unsupported mode '", mode,
             "' (expected 'nearest' or 'bilinear')");
  WICK_CHECK(!(align_corners && mode == "nearest"),
             "interpolate: align_corners can only be set with mode 'bilinear', not 'nearest'");
  WICK_CHECK(size.has_value() != scale_factor.has_value(),
             size ? "interpolate: only one of size or scale_factor should be given"
                  : "interpolate: either size or scale_factor should be given");
  const int64_t H = x.size(-2), W = x.size(-1);
  Pair out;
  std::optional<double> sh, sw;  // the user's scale factors, used as given (recompute_scale_factor=False)
  if (size) {
    out = *size;
  } else {
    const auto& sf = *scale_factor;
    WICK_CHECK(std::isfinite(sf[0]) && std::isfinite(sf[1]) && sf[0] > 0 && sf[1] > 0,
               "interpolate: scale_factor must be positive and finite, got [", sf[0], ",", sf[1], "]");
    out = {static_cast<int64_t>(std::floor(static_cast<double>(H) * sf[0])),
           static_cast<int64_t>(std::floor(static_cast<double>(W) * sf[1]))};
    sh = sf[0];
    sw = sf[1];
  }
  WICK_CHECK(out[0] > 0 && out[1] > 0, "interpolate: output size must be positive, got ", pair_str(out),
             " for input ", shape_str(x.sizes()));
  auto plan = std::make_shared<ResamplePlan>();
  cpu::Resample* r = &plan->r;
  r->H = H;
  r->W = W;
  r->OH = out[0];
  r->OW = out[1];
  r->linear = mode == "bilinear";
  if (!r->linear) {
    nearest_taps(H, out[0], sh, r->r0);
    nearest_taps(W, out[1], sw, r->c0);
    r->r1 = r->r0;
    r->c1 = r->c0;
  } else if (x.dtype() != kFloat64) {  // float32, and 16-bit on CUDA (computed in float32)
    linear_taps<float>(H, out[0], align_corners, sh, r->r0, r->r1, r->rw0, r->rw1);
    linear_taps<float>(W, out[1], align_corners, sw, r->c0, r->c1, r->cw0, r->cw1);
  } else {
    linear_taps<double>(H, out[0], align_corners, sh, r->r0, r->r1, r->rw0, r->rw1);
    linear_taps<double>(W, out[1], align_corners, sw, r->c0, r->c1, r->cw0, r->cw1);
  }
#ifdef WICK_WITH_CUDA
  if (x.is_cuda()) plan->dev = cuda::resample_tables(*r, x.device());
#endif
  return resample(x, plan);
}

}  // namespace wick
