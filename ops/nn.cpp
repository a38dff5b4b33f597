// Neural-network functions: checks, dispatch to the fused CPU kernels in
// ops/cpu/nn.cpp, and backward formulas written with ops (so second and
// higher derivatives work).
//
// The normalizations share one backward. With xhat = (x - mean) * rstd over
// the normalized dims D (|D| = n elements per statistic) and gh = dL/dxhat
// (= g * weight), differentiating through mean and rstd gives
//   dx = rstd * (gh - mean_D(gh) - xhat * mean_D(gh * xhat))
// and, for rms_norm (no centring, xhat = x * rstd),
//   dx = rstd * (gh - xhat * mean_D(gh * xhat)).
// For a first-order backward (GradMode off inside the node: nothing is
// recorded) softmax, log_softmax, layer_norm and rms_norm run the fused
// backward kernels of ops/cpu/nn.cpp, and batch_norm that of
// ops/cpu/batch_norm.cpp; they use the statistics the forward kernel saved. Under create_graph the formulas below are written with ops
// (xhat and rstd recomputed from x), so that they are themselves
// differentiable; they are also the readable reference the kernels are
// tested against. CUDA tensors run the kernels of cuda/kernels/nn.cu
// (softmax, layer/rms norm) and cuda/kernels/norm.cu (batch_norm,
// group_norm; there group_norm's first-order backward is fused too).
#include "ops/nn.h"

#include <algorithm>
#include <initializer_list>

#include "autograd/autocast.h"
#include "autograd/function.h"
#include "ops/copy.h"
#include "ops/cpu/batch_norm.h"
#include "ops/cpu/gemm.h"
#include "ops/cpu/nn.h"
#ifdef WICK_WITH_CUDA
#include "cuda/kernels/nn.h"
#include "cuda/kernels/norm.h"
#endif
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/linalg.h"
#include "ops/reduction.h"
#include "ops/view.h"

namespace wick {

using autograd::Ctx;
using autograd::SavedTensor;

namespace {

// `on_cuda`: the op has CUDA kernels (or is composed of ops that do); there
// float16 and bfloat16 are accepted too (computed in float32).
void check_float_input(const char* op, const Tensor& x, bool on_cuda = false) {
  WICK_CHECK(x.defined(), op, ": undefined input");
#ifdef WICK_WITH_CUDA
  if (on_cuda && x.is_cuda()) {
    WICK_CHECK(is_floating(x.dtype()), op, ": expected a floating input, got ", x.dtype());
    return;
  }
#endif
  WICK_CHECK(x.is_cpu(), op, ": no kernel for device ", x.device(), on_cuda ? " in this build" : " yet (CPU only)");
  WICK_CHECK(x.dtype() == kFloat32 || x.dtype() == kFloat64, op,
             ": expected a floating input (float32 or float64), got ", x.dtype());
}

// The fused kernels of x's device.
namespace kern {
void softmax(const Tensor& out, const Tensor& x, int64_t dim, bool log) {
#ifdef WICK_WITH_CUDA
  if (x.is_cuda()) return cuda::softmax(out, x, dim, log);
#endif
  cpu::softmax(out, x, dim, log);
}
void softmax_backward(const Tensor& gx, const Tensor& gy, const Tensor& y, int64_t dim, bool log) {
#ifdef WICK_WITH_CUDA
  if (y.is_cuda()) return cuda::softmax_backward(gx, gy, y, dim, log);
#endif
  cpu::softmax_backward(gx, gy, y, dim, log);
}
void layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& w,
                const Tensor& b, int64_t rows, int64_t cols, double eps, bool rms) {
#ifdef WICK_WITH_CUDA
  if (x.is_cuda()) return cuda::layer_norm(out, mean, rstd, x, w, b, rows, cols, eps, rms);
#endif
  cpu::layer_norm(out, mean, rstd, x, w, b, rows, cols, eps, rms);
}
void layer_norm_backward(const Tensor& gx, const Tensor& gw, const Tensor& gb, const Tensor& gy, const Tensor& x,
                         const Tensor& mean, const Tensor& rstd, const Tensor& w, int64_t rows, int64_t cols,
                         bool rms) {
#ifdef WICK_WITH_CUDA
  if (x.is_cuda()) return cuda::layer_norm_backward(gx, gw, gb, gy, x, mean, rstd, w, rows, cols, rms);
#endif
  cpu::layer_norm_backward(gx, gw, gb, gy, x, mean, rstd, w, rows, cols, rms);
}
void batch_norm_forward(const Tensor& out, const Tensor& save_mean, const Tensor& save_rstd,
                        const Tensor& running_mean, const Tensor& running_var, const Tensor& x, const Tensor& w,
                        const Tensor& b, int64_t N, int64_t C, int64_t S, bool training, double momentum,
                        double eps, const Tensor& residual, bool relu) {
#ifdef WICK_WITH_CUDA
  if (x.is_cuda())
    return cuda::batch_norm_forward(out, save_mean, save_rstd, running_mean, running_var, x, w, b, N, C, S, training,
                                    momentum, eps, residual, relu);
#endif
  cpu::batch_norm_forward(out, save_mean, save_rstd, running_mean, running_var, x, w, b, N, C, S, training, momentum,
                          eps, residual, relu);
}
// Whether the forward kernel takes batch_norm_relu's epilogue for x.
bool batch_norm_epilogue_fused(const Tensor& x) {
#ifdef WICK_WITH_CUDA
  if (x.is_cuda()) return cuda::batch_norm_relu_fused();
#endif
  (void)x;
  return true;
}
void batch_norm_backward(const Tensor& gx, const Tensor& gw, const Tensor& gb, const Tensor& gy, const Tensor& x,
                         const Tensor& mean, const Tensor& rstd, const Tensor& w, int64_t N, int64_t C, int64_t S,
                         bool training) {
#ifdef WICK_WITH_CUDA
  if (x.is_cuda()) return cuda::batch_norm_backward(gx, gw, gb, gy, x, mean, rstd, w, N, C, S, training);
#endif
  cpu::batch_norm_backward(gx, gw, gb, gy, x, mean, rstd, w, N, C, S, training);
}
void group_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& w,
                const Tensor& b, int64_t N, int64_t C, int64_t S, int64_t groups, double eps) {
#ifdef WICK_WITH_CUDA
  if (x.is_cuda()) return cuda::group_norm(out, mean, rstd, x, w, b, N, C, S, groups, eps);
#endif
  cpu::group_norm(out, mean, rstd, x, w, b, N, C, S, groups, eps);
}
// The saved statistics' options for input x: x's dtype, float32 for 16-bit
// floats (on CUDA, see cuda::layer_norm_stats_dtype).
TensorOptions stats_options(const Tensor& x) {
  TensorOptions o = TensorOptions(x.dtype()).device(x.device());
#ifdef WICK_WITH_CUDA
  if (x.is_cuda()) o = o.dtype(cuda::layer_norm_stats_dtype(x.dtype()));
#endif
  return o;
}
}  // namespace kern

// An optional per-feature parameter (weight/bias/running stat): undefined, or
// of `shape` and x's dtype and device.
// want: the dtype p must have (x's unless a mixed-precision kernel says otherwise).
void check_param(const char* op, const char* name, const Tensor& p, const Shape& shape, const Tensor& x,
                 DType want) {
  if (!p.defined()) return;
  WICK_CHECK(p.sizes() == shape, op, ": ", name, " has shape ", shape_str(p.sizes()), " but expected ",
             shape_str(shape), " for input of shape ", shape_str(x.sizes()));
  WICK_CHECK(p.dtype() == want, op, ": ", name, " has dtype ", p.dtype(), " but input has dtype ", x.dtype(),
             want != x.dtype() ? str(" (and the other parameters ", want, ")") : std::string());
  WICK_CHECK(p.device() == x.device(), op, ": ", name, " is on ", p.device(), " but input is on ", x.device());
}
void check_param(const char* op, const char* name, const Tensor& p, const Shape& shape, const Tensor& x) {
  check_param(op, name, p, shape, x, x.dtype());
}

// batch_norm's parameter dtype: x's, or, on CUDA with the mixed kernels on
// (cuda::batch_norm_mixed: x, out and gx stay 16-bit), the kernels' rule.
DType batch_norm_param_dtype(const Tensor& x, std::initializer_list<Tensor> params) {
#ifdef WICK_WITH_CUDA
  if (x.is_cuda() && cuda::batch_norm_mixed()) return cuda::batch_norm_param_dtype(x, params);
#else
  (void)params;
#endif
  return x.dtype();
}

Tensor softmax_impl(const Tensor& x, int64_t dim, bool log) {
  const char* op = log ? "log_softmax" : "softmax";
  check_float_input(op, x, /*on_cuda=*/true);
  const int64_t d = wrap_dim(dim, x.dim(), op);
  Tensor out = empty(x.sizes(), TensorOptions(x.dtype()).device(x.device()));
  {
    NoGradGuard ng;
    kern::softmax(out, x.contiguous(), x.dim() == 0 ? 0 : d, log);
  }
  if (autograd::needs_grad({x})) {
    // A 0-d tensor normalizes over its single element: reduce over all dims.
    const Dims rd = x.dim() == 0 ? Dims{} : Dims{d};
    const int64_t kd = x.dim() == 0 ? 0 : d;
    // A first-order backward (not recorded) runs the fused kernel; under
    // create_graph the formula is written with ops so it can be differentiated.
    auto fused = [kd, log](const Ctx& c) {
      Tensor y = c.output();
      Tensor gx = empty(y.sizes(), TensorOptions(y.dtype()).device(y.device()));
      kern::softmax_backward(gx, c.grad().to(y.dtype()).contiguous(), y.contiguous(), kd, log);
      return tensor_list{gx};
    };
    if (log) {
      // y = x - logsumexp(x):  dx = g - exp(y) * sum(g)
      autograd::record("LogSoftmaxBackward", {x}, {out}, [rd, fused](const Ctx& c) {
        if (!autograd::GradMode::is_enabled()) return fused(c);
        return tensor_list{sub(c.grad(), mul(exp(c.output()), sum(c.grad(), rd, /*keepdim=*/true)))};
      }, /*save_outputs=*/true);
    } else {
      // dx = y * (g - sum(g * y))
      autograd::record("SoftmaxBackward", {x}, {out}, [rd, fused](const Ctx& c) {
        if (!autograd::GradMode::is_enabled()) return fused(c);
        Tensor y = c.output();
        return tensor_list{mul(y, sub(c.grad(), sum(mul(c.grad(), y), rd, /*keepdim=*/true)))};
      }, /*save_outputs=*/true);
    }
  }
  return out;
}

// xhat and rstd for the backward (see the file comment). `mean`/`rstd` are
// the forward's statistics in keepdim shape (mean undefined for rms).
std::pair<Tensor, Tensor> norm_stats_for_backward(const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                                  const Dims& dims, double eps, bool center) {
  if (!autograd::GradMode::is_enabled()) {
    Tensor xc = center ? sub(x, mean) : x;
    return {mul(xc, rstd), rstd};
  }
  Tensor xc = center ? sub(x, wick::mean(x, dims, /*keepdim=*/true)) : x;
  Tensor r = rsqrt(add(wick::mean(mul(xc, xc), dims, /*keepdim=*/true), eps));
  return {mul(xc, r), r};
}

// dx for normalized xhat given gh = dL/dxhat (see the file comment).
Tensor norm_input_grad(const Tensor& gh, const Tensor& xhat, const Tensor& rstd, const Dims& dims, bool center) {
  Tensor proj = mul(xhat, wick::mean(mul(gh, xhat), dims, /*keepdim=*/true));
  Tensor inner = center ? sub(sub(gh, wick::mean(gh, dims, /*keepdim=*/true)), proj) : sub(gh, proj);
  return mul(rstd, inner);
}

// Shape [1, C, 1, ...] for broadcasting a per-channel [C] tensor against x.
Shape channel_shape(const Tensor& x) {
  Shape s(x.dim(), 1);
  s[1] = x.size(1);
  return s;
}

// Dims 0, 2, 3, ... (everything but the channel dim).
Dims non_channel_dims(int64_t nd) {
  Dims d{0};
  for (int64_t i = 2; i < nd; ++i) d.push_back(i);
  return d;
}

Tensor layer_or_rms_norm(const char* op, const Tensor& x, const Shape& ns, const Tensor& weight,
                         const Tensor& bias, double eps, bool rms) {
  check_float_input(op, x, /*on_cuda=*/true);
  const int64_t nd = static_cast<int64_t>(ns.size());
  WICK_CHECK(nd >= 1, op, ": normalized_shape must have at least one dim, got []");
  bool match = x.dim() >= nd;
  for (int64_t i = 0; match && i < nd; ++i) match = x.size(x.dim() - nd + i) == ns[i];
  WICK_CHECK(match, op, ": normalized_shape ", shape_str(ns), " does not match the trailing dims of input of shape ",
             shape_str(x.sizes()));
  check_param(op, "weight", weight, ns, x);
  check_param(op, "bias", bias, ns, x);

  const int64_t cols = numel_of(ns);
  Shape lead(x.sizes().begin(), x.sizes().end() - nd);
  const int64_t rows = numel_of(lead);
  Shape stat_shape = lead;  // keepdim layout: [..., 1, 1]
  stat_shape.insert(stat_shape.end(), nd, 1);

  const TensorOptions opt = TensorOptions(x.dtype()).device(x.device());
  Tensor out = empty(x.sizes(), opt);
  // The saved statistics: x's dtype, float32 for 16-bit floats (on CUDA).
  TensorOptions stat_opt = opt;
#ifdef WICK_WITH_CUDA
  if (x.is_cuda()) stat_opt = stat_opt.dtype(cuda::layer_norm_stats_dtype(x.dtype()));
#endif
  Tensor mean = rms ? Tensor() : empty(stat_shape, stat_opt);
  Tensor rstd = empty(stat_shape, stat_opt);
  {
    NoGradGuard ng;
    kern::layer_norm(out, mean, rstd, x.contiguous(), weight.defined() ? weight.contiguous() : Tensor(),
                    bias.defined() ? bias.contiguous() : Tensor(), rows, cols, eps, rms);
  }

  if (autograd::needs_grad({x, weight, bias})) {
    Dims norm_dims, lead_dims;
    for (int64_t d = 0; d < x.dim(); ++d) (d < x.dim() - nd ? lead_dims : norm_dims).push_back(d);
    autograd::record(
        rms ? "RmsNormBackward" : "LayerNormBackward", {x, weight, bias}, {out},
        [sx = SavedTensor(x), sw = SavedTensor(weight), mean, rstd, norm_dims, lead_dims, eps, rms, rows,
         cols, ns](const Ctx& c) {
          const Tensor& g = c.grad();
          Tensor xv = sx.unpack(), w = sw.unpack();
          if (!autograd::GradMode::is_enabled()) {
            // First-order backward, not recorded: one fused kernel.
            const TensorOptions o = TensorOptions(xv.dtype()).device(xv.device());
            Tensor gx = c.needs_input_grad(0) ? empty(xv.sizes(), o) : Tensor();
            Tensor gw = c.needs_input_grad(1) ? empty(ns, o) : Tensor();
            Tensor gb = c.needs_input_grad(2) ? empty(ns, o) : Tensor();
            kern::layer_norm_backward(gx, gw, gb, g.to(xv.dtype()).contiguous(), xv.contiguous(), mean, rstd,
                                     w.defined() ? w.contiguous() : Tensor(), rows, cols, rms);
            return tensor_list{gx, gw, gb};
          }
          auto [xhat, r] = norm_stats_for_backward(xv, mean, rstd, norm_dims, eps, !rms);
          Tensor gx, gw, gb;
          if (c.needs_input_grad(0))
            gx = norm_input_grad(w.defined() ? mul(g, w) : g, xhat, r, norm_dims, !rms);
          if (c.needs_input_grad(1)) gw = lead_dims.empty() ? mul(g, xhat) : sum(mul(g, xhat), lead_dims);
          if (c.needs_input_grad(2)) gb = lead_dims.empty() ? g : sum(g, lead_dims);
          return tensor_list{gx, gw, gb};
        });
  }
  return out;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) {
  if (autocast::Cast ac{x}; ac) return softmax(ac.fp32(x), dim);
  return softmax_impl(x, dim, /*log=*/false);
}
Tensor log_softmax(const Tensor& x, int64_t dim) {
  if (autocast::Cast ac{x}; ac) return log_softmax(ac.fp32(x), dim);
  return softmax_impl(x, dim, /*log=*/true);
}

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  if (autocast::Cast ac{x, weight, bias}; ac)
    return layer_norm(ac.fp32(x), normalized_shape, ac.fp32(weight), ac.fp32(bias), eps);
  return layer_or_rms_norm("layer_norm", x, normalized_shape, weight, bias, eps, /*rms=*/false);
}

Tensor rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, double eps) {
  if (autocast::Cast ac{x, weight}; ac) return rms_norm(ac.fp32(x), normalized_shape, ac.fp32(weight), eps);
  return layer_or_rms_norm("rms_norm", x, normalized_shape, weight, Tensor(), eps, /*rms=*/true);
}

namespace {
Tensor batch_norm_impl(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                       const Tensor& bias, bool training, double momentum, double eps, const Tensor& residual,
                       bool relu);
}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  // Autocast: float32; or, with the mixed CUDA kernels on (cuda::batch_norm_mixed), a 16-bit CUDA input as it
  // is beside float32 parameters, as cuDNN runs it under PyTorch's autocast. The running statistics are updated
  // in place, never cast.
  if (autocast::Cast ac{x, weight, bias}; ac) {
    const Tensor w32 = ac.fp32(weight), b32 = ac.fp32(bias);
    if (batch_norm_param_dtype(x, {w32, b32, running_mean, running_var}) == kFloat32 && x.dtype() != kFloat32)
      return batch_norm(x, running_mean, running_var, w32, b32, training, momentum, eps);
    return batch_norm(ac.fp32(x), running_mean, running_var, w32, b32, training, momentum, eps);
  }
  return batch_norm_impl(x, running_mean, running_var, weight, bias, training, momentum, eps, Tensor(), false);
}

namespace {

// batch_norm, or with residual / relu batch_norm_relu's fused form (the
// kernel applies relu(y + residual) in its output pass; residual contiguous,
// of x's shape, dtype and device).
Tensor batch_norm_impl(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                       const Tensor& bias, bool training, double momentum, double eps, const Tensor& residual,
                       bool relu) {
  const char* op = relu ? "batch_norm_relu" : "batch_norm";
  check_float_input(op, x, /*on_cuda=*/true);
  WICK_CHECK(x.dim() >= 2, op, ": expected input of shape [N, C, ...] with at least 2 dims, got ",
             shape_str(x.sizes()));
  const int64_t N = x.size(0), C = x.size(1), S = C && N ? x.numel() / (N * C) : 0;
  const DType pd = batch_norm_param_dtype(x, {weight, bias, running_mean, running_var});
  check_param(op, "weight", weight, {C}, x, pd);
  check_param(op, "bias", bias, {C}, x, pd);
  check_param(op, "running_mean", running_mean, {C}, x, pd);
  check_param(op, "running_var", running_var, {C}, x, pd);
  const int64_t count = N * S;  // values per channel
  if (training) {
    WICK_CHECK(count > 1 || x.numel() == 0, op, ": expected more than 1 value per channel when training, got input of shape ",
               shape_str(x.sizes()));
  } else {
    WICK_CHECK(running_mean.defined() && running_var.defined(), op,
               ": running_mean and running_var must be defined in evaluation mode");
  }

  const TensorOptions opt = TensorOptions(x.dtype()).device(x.device());
  const Shape cs = channel_shape(x);
  const Dims red = non_channel_dims(x.dim());
  Tensor out = empty(x.sizes(), opt);
  // [C]: the batch statistics (training) or those of the running ones (eval),
  // as the forward kernel used them; the backward reuses them.
  Tensor mean = empty({C}, kern::stats_options(x)), rstd = empty({C}, kern::stats_options(x));
  {
    NoGradGuard ng;
    // The running statistics are buffers, updated in place by the kernel
    // (outside autograd); a non-contiguous one goes through a copy.
    auto staged = [&](const Tensor& r) { return r.defined() && !r.is_contiguous() ? r.contiguous() : r; };
    Tensor rm = staged(running_mean), rv = staged(running_var);
    kern::batch_norm_forward(out, mean, rstd, rm, rv, x.contiguous(), weight.defined() ? weight.contiguous() : Tensor(),
                            bias.defined() ? bias.contiguous() : Tensor(), N, C, S, training, momentum, eps, residual,
                            relu);
    if (training && count > 0) {
      for (auto [buf, staged_buf] : {std::pair{running_mean, rm}, std::pair{running_var, rv}}) {
        if (!buf.defined()) continue;
        if (staged_buf.is_same(buf)) buf.bump_version();  // written in place by the kernel
        else Tensor(buf).copy_(staged_buf);
      }
    }
  }

  const bool epilogue = relu || residual.defined();
  const tensor_list inputs = epilogue ? tensor_list{x, weight, bias, residual} : tensor_list{x, weight, bias};
  if (autograd::needs_grad(inputs)) {
    autograd::record(
        epilogue ? "BatchNormReluBackward" : "BatchNormBackward", inputs, {out},
        [sx = SavedTensor(x), sw = SavedTensor(weight), mean, rstd, cs, red, training, eps, N, C, S, pd, relu,
         epilogue](const Ctx& c) {
          // Through the epilogue first: the gradient of bn(x) + residual.
          const Tensor g = relu ? relu_backward(c.grad(), c.output()) : c.grad();
          const Tensor g_residual = epilogue && c.needs_input_grad(3) ? g : Tensor();
          Tensor xv = sx.unpack(), w = sw.unpack();
          if (!autograd::GradMode::is_enabled()) {
            // First-order backward, not recorded: one fused kernel (two passes).
            const TensorOptions o = TensorOptions(xv.dtype()).device(xv.device());
            const TensorOptions po = TensorOptions(pd).device(xv.device());  // the parameters' gradients
            Tensor gx = c.needs_input_grad(0) ? empty(xv.sizes(), o) : Tensor();
            Tensor gw = c.needs_input_grad(1) ? empty({C}, po) : Tensor();
            Tensor gb = c.needs_input_grad(2) ? empty({C}, po) : Tensor();
            kern::batch_norm_backward(gx, gw, gb, g.to(xv.dtype()).contiguous(), xv.contiguous(), mean, rstd,
                                     w.defined() ? w.contiguous() : Tensor(), N, C, S, training);
            return epilogue ? tensor_list{gx, gw, gb, g_residual} : tensor_list{gx, gw, gb};
          }
          // Under create_graph: the formula written with ops, differentiable again.
          // (16-bit inputs on CUDA saved float32 statistics: back to x's dtype; float32 parameters of a
          // 16-bit x, the mixed kernels, likewise, and their gradients back to float32 at the end.)
          Tensor wb = w.defined() ? w.to(xv.dtype()).reshape(cs) : Tensor();
          Tensor mc = mean.to(xv.dtype()).reshape(cs), rc = rstd.to(xv.dtype()).reshape(cs);
          Tensor xhat, r;
          if (training) {
            std::tie(xhat, r) = norm_stats_for_backward(xv, mc, rc, red, eps, /*center=*/true);
          } else {
            // Eval: the statistics are constants, y is affine in x.
            r = rc;
            xhat = mul(sub(xv, mc), r);
          }
          Tensor gx, gw, gb;
          if (c.needs_input_grad(0)) {
            Tensor gh = wb.defined() ? mul(g, wb) : g;
            gx = training ? norm_input_grad(gh, xhat, r, red, /*center=*/true) : mul(gh, r);
          }
          if (c.needs_input_grad(1)) gw = sum(mul(g, xhat), red).to(pd);
          if (c.needs_input_grad(2)) gb = sum(g, red).to(pd);
          return epilogue ? tensor_list{gx, gw, gb, g_residual} : tensor_list{gx, gw, gb};
        },
        /*save_outputs=*/relu);
  }
  return out;
}

}  // namespace

Tensor batch_norm_relu(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                       const Tensor& bias, bool training, double momentum, double eps, const Tensor& residual) {
  if (autocast::Cast ac{x, weight, bias, residual}; ac) {  // batch_norm's rule for x and the parameters
    const Tensor w32 = ac.fp32(weight), b32 = ac.fp32(bias);
    const bool mixed =
        batch_norm_param_dtype(x, {w32, b32, running_mean, running_var}) == kFloat32 && x.dtype() != kFloat32;
    return batch_norm_relu(mixed ? x : ac.fp32(x), running_mean, running_var, w32, b32, training, momentum, eps,
                           residual);
  }
  WICK_CHECK(x.defined(), "batch_norm_relu: undefined input");
  WICK_CHECK(!residual.defined() || residual.sizes() == x.sizes(), "batch_norm_relu: the residual must have the "
             "input's shape ", shape_str(x.sizes()), ", got ", shape_str(residual.sizes()));
  // The fused epilogue takes a residual of x's dtype and device; anything
  // else (type promotion, a device mismatch's error) is the composition's.
  const bool fused = kern::batch_norm_epilogue_fused(x) &&
                     (!residual.defined() || (residual.dtype() == x.dtype() && residual.device() == x.device()));
  if (!fused) {
    const Tensor y = batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps);
    return relu(residual.defined() ? add(y, residual) : y);
  }
  return batch_norm_impl(x, running_mean, running_var, weight, bias, training, momentum, eps,
                         residual.defined() ? residual.contiguous() : Tensor(), true);
}

Tensor group_norm(const Tensor& x, int64_t num_groups, const Tensor& weight, const Tensor& bias, double eps) {
  if (autocast::Cast ac{x, weight, bias}; ac) return group_norm(ac.fp32(x), num_groups, ac.fp32(weight), ac.fp32(bias), eps);
  const char* op = "group_norm";
  check_float_input(op, x, /*on_cuda=*/true);
  WICK_CHECK(x.dim() >= 2, op, ": expected input of shape [N, C, ...] with at least 2 dims, got ",
             shape_str(x.sizes()));
  const int64_t N = x.size(0), C = x.size(1);
  WICK_CHECK(num_groups > 0 && C % num_groups == 0, op, ": expected the number of channels (", C,
             ") to be divisible by num_groups (", num_groups, ") for input of shape ", shape_str(x.sizes()));
  check_param(op, "weight", weight, {C}, x);
  check_param(op, "bias", bias, {C}, x);
  const int64_t S = N && C ? x.numel() / (N * C) : 0;

  const TensorOptions opt = TensorOptions(x.dtype()).device(x.device());
  Tensor out = empty(x.sizes(), opt);
  Tensor mean = empty({N, num_groups, 1}, kern::stats_options(x));
  Tensor rstd = empty({N, num_groups, 1}, kern::stats_options(x));
  {
    NoGradGuard ng;
    kern::group_norm(out, mean, rstd, x.contiguous(), weight.defined() ? weight.contiguous() : Tensor(),
                    bias.defined() ? bias.contiguous() : Tensor(), N, C, S, num_groups, eps);
  }

  if (autograd::needs_grad({x, weight, bias})) {
    autograd::record(
        "GroupNormBackward", {x, weight, bias}, {out},
        [sx = SavedTensor(x), sw = SavedTensor(weight), mean, rstd, num_groups, eps](const Ctx& c) {
          const Tensor& g = c.grad();
          Tensor xv = sx.unpack(), w = sw.unpack();
          const Shape xs = xv.sizes();
#ifdef WICK_WITH_CUDA
          if (xv.is_cuda() && !autograd::GradMode::is_enabled()) {
            // First-order backward, not recorded: the fused kernels.
            const TensorOptions o = TensorOptions(xv.dtype()).device(xv.device());
            const int64_t N = xs[0], C = xs[1], S = N && C ? numel_of(xs) / (N * C) : 0;
            Tensor gx = c.needs_input_grad(0) ? empty(xs, o) : Tensor();
            Tensor gw = c.needs_input_grad(1) ? empty({C}, o) : Tensor();
            Tensor gb = c.needs_input_grad(2) ? empty({C}, o) : Tensor();
            cuda::group_norm_backward(gx, gw, gb, g.to(xv.dtype()).contiguous(), xv.contiguous(), mean, rstd,
                                      w.defined() ? w.contiguous() : Tensor(), N, C, S, num_groups);
            return tensor_list{gx, gw, gb};
          }
#endif
          const Shape gs{xs[0], num_groups, numel_of(xs) / std::max<int64_t>(xs[0] * num_groups, 1)};  // [N, G, C/G * S]
          auto [xhat, r] = norm_stats_for_backward(xv.reshape(gs), mean, rstd, {2}, eps, /*center=*/true);
          const Dims red = non_channel_dims(xv.dim());
          Tensor gx, gw, gb;
          if (c.needs_input_grad(0)) {
            Tensor gh = w.defined() ? mul(g, w.reshape(channel_shape(xv))) : g;
            gx = norm_input_grad(gh.reshape(gs), xhat, r, {2}, /*center=*/true).reshape(xs);
          }
          if (c.needs_input_grad(1)) gw = sum(mul(g, xhat.reshape(xs)), red);
          if (c.needs_input_grad(2)) gb = sum(g, red);
          return tensor_list{gx, gw, gb};
        });
  }
  return out;
}

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  WICK_CHECK(x.defined(), "dropout: undefined input");
  WICK_CHECK(p >= 0.0 && p <= 1.0, "dropout: probability has to be between 0 and 1, but got ", p);
  if (!training || p == 0.0 || x.numel() == 0) return x;
  check_float_input("dropout", x, /*on_cuda=*/true);
  // mask = bernoulli(1 - p) / (1 - p), a constant; the product carries the
  // gradient. p = 1 keeps nothing: x * 0 (like PyTorch, NaN stays NaN).
  Tensor mask;
  {
    NoGradGuard ng;
    mask = bernoulli(x.sizes(), 1.0 - p, TensorOptions(x.dtype()).device(x.device()), gen);
    if (p < 1.0) mask = mul(mask, 1.0 / (1.0 - p));
  }
  return mul(x, mask);
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  if (autocast::Cast ac{x, weight, bias}; ac) return linear(ac.lower(x), ac.lower(weight), ac.lower(bias));
  WICK_CHECK(x.defined() && weight.defined(), "linear: undefined input or weight");
  WICK_CHECK(weight.dim() == 2, "linear: weight must be 2-D [out_features, in_features], got shape ",
             shape_str(weight.sizes()));
  WICK_CHECK(x.dim() >= 1, "linear: input must have at least 1 dim, got a 0-d tensor");
  WICK_CHECK(x.size(-1) == weight.size(1), "linear: input of shape ", shape_str(x.sizes()),
             " has ", x.size(-1), " features but weight of shape ", shape_str(weight.sizes()), " expects ",
             weight.size(1));
  WICK_CHECK(!bias.defined() || bias.sizes() == Shape{weight.size(0)}, "linear: bias has shape ",
             shape_str(bias.sizes()), " but expected [", weight.size(0), "] for weight of shape ",
             shape_str(weight.sizes()));
  // Fold the leading dims into one so the product is a single GEMM.
  Shape out_shape = x.sizes();
  out_shape.back() = weight.size(0);
  const Tensor x2 = x.dim() == 2 ? x : x.reshape({numel_of(Shape(x.sizes().begin(), x.sizes().end() - 1)), x.size(-1)});
  const bool fused = x.is_cpu() && weight.is_cpu() && (x.dtype() == kFloat32 || x.dtype() == kFloat64) &&
                     weight.dtype() == x.dtype() && (!bias.defined() || (bias.is_cpu() && bias.dtype() == x.dtype()));
  if (!fused) {  // other devices and mixed dtypes: the composed ops (and their error messages)
    const Tensor wt = weight.t();
    Tensor y = bias.defined() ? addmm(bias, x2, wt) : mm(x2, wt);
    return x.dim() == 2 ? y : y.reshape(out_shape);
  }
  // y = x2 W^T + b as one GEMM, the bias added in its epilogue while each tile
  // of y is in cache; W^T is read through W's strides (no copy).
  const int64_t rows = x2.size(0), in = x2.size(1), out = weight.size(0);
  Tensor y = empty({rows, out}, TensorOptions(x.dtype()).device(x.device()));
  const Tensor b = bias.defined() ? bias.contiguous() : Tensor();
  WICK_DISPATCH_FLOAT(x.dtype(), "linear", [&]<typename T>() {
    cpu::Epilogue<T> ep;
    if (b.defined()) ep.bias = b.data_ptr<T>();
    cpu::gemm_ex<T>(rows, out, in, T(1), cpu::MatRef<const T>{x2.data_ptr<T>(), x2.stride(0), x2.stride(1)},
                    cpu::MatRef<const T>{weight.data_ptr<T>(), weight.stride(1), weight.stride(0)}, T(0),
                    y.data_ptr<T>(), out, ep);
  });
  if (autograd::needs_grad({x2, weight, bias})) {
    // dx = g W, dW = g^T x, db = sum_rows g: written with ops, so higher
    // derivatives work (the same formulas addmm's backward gave).
    autograd::record("LinearBackward", {x2, weight, bias}, {y},
                     [sx = SavedTensor(x2), sw = SavedTensor(weight)](const Ctx& ctx) {
                       const Tensor& g = ctx.grad();
                       Tensor gx, gw, gb;
                       if (ctx.needs_input_grad(0)) gx = mm(g, sw.unpack());
                       if (ctx.needs_input_grad(1)) gw = mm(g.t(), sx.unpack());
                       if (ctx.needs_input_grad(2)) gb = sum(g, {0});
                       return tensor_list{gx, gw, gb};
                     });
  }
  return x.dim() == 2 ? y : y.reshape(out_shape);
}

}  // namespace wick
