// Reductions: argument checks, result shapes and dtypes (PyTorch's rules),
// dispatch to the CPU kernels (ops/cpu/reduction.cpp) and the backward
// formulas, written with ops so they are differentiable again.
//
// Backward of a reduction over `dims`: the incoming gradient has the reduced
// shape; it is viewed with the reduced dims kept as size 1 (keepdim layout)
// and broadcast back over x, times the op's local derivative:
//   sum        g
//   mean       g / N
//   var        g * 2 (x - mean) / (N - correction)
//   std        var's with g / (2 std) (0 where std == 0)
//   prod       g * prod(others), computed from the nonzero product so zeros work
//   logsumexp  g * exp(x - out)
//   norm       p=1: g sign(x); p=2: g x / out; inf: split among the |x| == out;
//              else g sign(x) |x|^(p-1) / out^(p-1)
//   amax/amin  g split evenly among the elements equal to the result
//   max(dim)   g to the returned index
//   cumsum     the suffix sum of g (its transpose)
#include "ops/reduction.h"

#include <cmath>

#include "autograd/autocast.h"
#include "autograd/function.h"
#include "ops/copy.h"
#include "ops/cpu/reduction.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#ifdef WICK_WITH_CUDA
#include "cuda/kernels/reduce.h"
#endif

namespace wick {

using autograd::Ctx;
using autograd::SavedTensor;

Shape reduced_shape(const Shape& in, const std::vector<int64_t>& dims, bool keepdim) {
  Shape out;
  size_t k = 0;
  for (int64_t d = 0; d < static_cast<int64_t>(in.size()); ++d) {
    bool r = k < dims.size() && dims[k] == d;
    if (r) ++k;
    if (!r) out.push_back(in[d]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

namespace {

void check_backend(const Tensor& x, const char* op) {
#ifdef WICK_WITH_CUDA
  if (x.is_cuda()) return;
#endif
  WICK_CHECK(x.is_cpu(), op, ": no kernel for device ", x.device(), " in this build");
}

// The kernels of x's device: kern::f(x, ...) runs cuda::f for a CUDA x (in a
// CUDA build), cpu::f otherwise; both share one contract (ops/cpu/reduction.h).
namespace kern {
#ifdef WICK_WITH_CUDA
#define WICK_REDUCTION_KERNEL(f)                          \
  template <typename... Args>                             \
  void f(const Tensor& x, Args&&... args) {               \
    if (x.is_cuda()) return cuda::f(x, args...);          \
    cpu::f(x, args...);                                   \
  }
#else
#define WICK_REDUCTION_KERNEL(f)            \
  template <typename... Args>               \
  void f(const Tensor& x, Args&&... args) { \
    cpu::f(x, args...);                     \
  }
#endif
WICK_REDUCTION_KERNEL(sum)
WICK_REDUCTION_KERNEL(prod)
WICK_REDUCTION_KERNEL(mean)
WICK_REDUCTION_KERNEL(var)
WICK_REDUCTION_KERNEL(logsumexp)
WICK_REDUCTION_KERNEL(norm)
WICK_REDUCTION_KERNEL(extremum)
WICK_REDUCTION_KERNEL(arg_extremum)
WICK_REDUCTION_KERNEL(all)
WICK_REDUCTION_KERNEL(any)
WICK_REDUCTION_KERNEL(cumsum)
#undef WICK_REDUCTION_KERNEL
}  // namespace kern

// The checked, wrapped dims of one reduction and its output shape.
struct Plan {
  std::vector<int64_t> dims;  // sorted, wrapped; empty for a 0-d input
  Shape out_shape;
  int64_t n = 1;  // reduced elements per output
};

Plan plan(const Tensor& x, const Dims& dims_in, bool keepdim, const char* op) {
  WICK_CHECK(x.defined(), op, ": undefined tensor");
  check_backend(x, op);
  Plan p;
  p.dims = reduction_dims(dims_in, x.dim(), op);
  p.out_shape = reduced_shape(x.sizes(), p.dims, keepdim);
  for (int64_t d : p.dims) p.n *= x.size(d);
  return p;
}

void check_floating(const Tensor& x, const char* op) {
  WICK_CHECK(is_floating(x.dtype()), op, ": expected a floating point input, got ", x.dtype(),
             " (convert it with .to(kFloat32) first)");
}

// max/min have no identity: reducing over an empty dim is an error (PyTorch
// checks this whenever x is empty, even if the output is empty too).
void check_nonempty(const Tensor& x, const std::vector<int64_t>& dims, const char* op) {
  if (x.numel() != 0) return;
  for (int64_t d : dims)
    WICK_CHECK(x.size(d) != 0, op, ": cannot reduce over dim ", d, " of size 0 (input shape ", shape_str(x.sizes()),
               "): the operation has no identity");
}

Tensor new_output(const Shape& shape, DType dt, const Tensor& like) {
  return empty(shape, TensorOptions(dt).device(like.device()));
}

// The gradient (reduced shape) as a keepdim-shaped tensor, ready to broadcast against x.
Tensor keep(const Tensor& g, const Shape& in, const std::vector<int64_t>& dims, bool keepdim) {
  return keepdim ? g : g.reshape(reduced_shape(in, dims, true));
}

// Gradient of a reduction (shape `out`) broadcast back to the input's shape.
Tensor expand_grad(const Tensor& g, const Shape& in, const std::vector<int64_t>& dims, bool keepdim) {
  return keep(g, in, dims, keepdim).expand(in);
}

// amax/amin/max/min backward: g split evenly among the elements equal to the
// result (PyTorch's amax backward), so ties share the gradient.
Tensor extremum_backward(const Tensor& g, const Tensor& x, const Tensor& out, const std::vector<int64_t>& dims,
                         bool keepdim) {
  Tensor mask = eq(x, keep(out, x.sizes(), dims, keepdim));
  Tensor count = sum(mask, dims, /*keepdim=*/true);
  return where(mask, div(keep(g, x.sizes(), dims, keepdim), count), 0.0);
}

// var backward (also used by std): g * 2 (x - mean) / max(0, N - correction).
Tensor var_backward(const Tensor& g, const Tensor& x, const std::vector<int64_t>& dims, int64_t n,
                    int64_t correction, bool keepdim) {
  const double dof = std::max(0.0, static_cast<double>(n) - static_cast<double>(correction));
  Tensor centered = sub(x, mean(x, dims, /*keepdim=*/true));
  return mul(mul(keep(g, x.sizes(), dims, keepdim), centered), 2.0 / dof);
}

Tensor reverse_cumsum(const Tensor& x, int64_t dim);

// cumsum in either direction; the backward of one is the other.
Tensor scan(const Tensor& x, int64_t dim, bool reverse) {
  const char* op = "cumsum";
  WICK_CHECK(x.defined(), op, ": undefined tensor");
  check_backend(x, op);
  dim = wrap_dim(dim, x.dim(), op);
  DType dt = is_floating(x.dtype()) ? x.dtype() : kInt64;
  Tensor out = new_output(x.sizes(), dt, x);
  {
    NoGradGuard ng;
    kern::cumsum(x.to(dt), dim, reverse, out);
  }
  if (autograd::needs_grad({x})) {
    autograd::record(reverse ? "ReverseCumsumBackward" : "CumsumBackward", {x}, {out},
                     [dim, reverse](const Ctx& c) {
                       return tensor_list{reverse ? cumsum(c.grad(), dim) : reverse_cumsum(c.grad(), dim)};
                     });
  }
  return out;
}

// out[i] = sum_{j >= i} x[j] along dim: cumsum's transpose, computed by the
// same kernel walking the dim backwards (no flip, no cancellation).
Tensor reverse_cumsum(const Tensor& x, int64_t dim) { return scan(x, dim, /*reverse=*/true); }

// max/min/argmax/argmin over one dim: values (optional) and int64 indices.
std::pair<Tensor, Tensor> arg_reduce(const Tensor& x, int64_t dim, bool keepdim, bool is_max, bool want_values,
                                     const char* op) {
  Plan p = plan(x, {dim}, keepdim, op);
  check_nonempty(x, p.dims, op);
  Tensor values = want_values ? new_output(p.out_shape, x.dtype(), x) : Tensor();
  Tensor indices = new_output(p.out_shape, kInt64, x);
  kern::arg_extremum(x, p.dims, is_max, values, indices);
  return {values, indices};
}

std::pair<Tensor, Tensor> max_min_dim(const Tensor& x, int64_t dim, bool keepdim, bool is_max) {
  const char* op = is_max ? "max" : "min";
  auto [values, indices] = arg_reduce(x, dim, keepdim, is_max, /*want_values=*/true, op);
  if (autograd::needs_grad({x})) {
    // The gradient goes to the returned (first) index: a mask comparing an
    // arange along dim with the indices broadcast over it.
    const int64_t d = x.dim() ? wrap_dim(dim, x.dim(), op) : -1;
    autograd::record(is_max ? "MaxBackward" : "MinBackward", {x}, {values},
                     [in = x.sizes(), d, keepdim, si = SavedTensor(indices)](const Ctx& c) {
                       if (d < 0) return tensor_list{c.grad()};  // 0-d input: the identity
                       Shape pos_shape(in.size(), 1);
                       pos_shape[d] = in[d];
                       Tensor pos = arange(in[d], TensorOptions(kInt64).device(c.grad().device())).view(pos_shape);
                       Tensor mask = eq(pos, keep(si.unpack(), in, {d}, keepdim));
                       return tensor_list{where(mask, keep(c.grad(), in, {d}, keepdim), 0.0)};
                     });
  }
  return {values, indices};
}

Tensor extremum(const Tensor& x, const Dims& dims_in, bool keepdim, bool is_max, const char* op) {
  Plan p = plan(x, dims_in, keepdim, op);
  check_nonempty(x, p.dims, op);
  Tensor out = new_output(p.out_shape, x.dtype(), x);
  kern::extremum(x, p.dims, is_max, out);
  if (autograd::needs_grad({x})) {
    autograd::record(
        is_max ? "AmaxBackward" : "AminBackward", {x}, {out},
        [sx = SavedTensor(x), dims = p.dims, keepdim](const Ctx& c) {
          return tensor_list{extremum_backward(c.grad(), sx.unpack(), c.output(), dims, keepdim)};
        },
        /*save_outputs=*/true);
  }
  return out;
}

// max()/min() over every element.
Tensor extremum_all(const Tensor& x, bool is_max) {
  const char* op = is_max ? "max" : "min";
  WICK_CHECK(x.defined(), op, ": undefined tensor");
  WICK_CHECK(x.numel() != 0, op, ": cannot reduce an empty tensor (shape ", shape_str(x.sizes()),
             ") over all elements; pass a dim");
  return extremum(x, {}, /*keepdim=*/false, is_max, op);
}

Tensor arg_all_or_dim(const Tensor& x, std::optional<int64_t> dim, bool keepdim, bool is_max) {
  const char* op = is_max ? "argmax" : "argmin";
  if (dim) return arg_reduce(x, *dim, keepdim, is_max, /*want_values=*/false, op).second;
  // No dim: the index into the flattened tensor (the row-major index over all dims).
  Plan p = plan(x, {}, keepdim, op);
  WICK_CHECK(x.numel() != 0, op, ": cannot reduce an empty tensor (shape ", shape_str(x.sizes()),
             ") over all elements; pass a dim");
  Tensor indices = new_output(p.out_shape, kInt64, x);
  kern::arg_extremum(x, p.dims, is_max, Tensor(), indices);
  return indices;
}

}  // namespace

// ---------------------------------------------------------------------------
// sum, mean, prod

Tensor sum(const Tensor& x, const Dims& dims_in, bool keepdim, std::optional<DType> dtype) {
  if (autocast::Cast ac{x}; ac) return sum(ac.fp32(x), dims_in, keepdim, dtype);
  Plan p = plan(x, dims_in, keepdim, "sum");
  DType out_dt = dtype.value_or(is_floating(x.dtype()) ? x.dtype() : kInt64);
  WICK_CHECK(!x.is_cpu() || (out_dt != kFloat16 && out_dt != kBFloat16), "sum: dtype ", out_dt,
             " is not supported on the CPU");
  Tensor out = new_output(p.out_shape, out_dt, x);
  {
    NoGradGuard ng;
    // Integers sum straight into int64; other dtype requests convert first
    // (float32 still accumulates in double, acc_t).
    const bool direct = x.dtype() == out_dt || (is_integral(x.dtype(), true) && out_dt == kInt64);
    kern::sum(direct ? x : x.to(out_dt), p.dims, out);
  }
  if (is_floating(out_dt) && autograd::needs_grad({x})) {
    autograd::record("SumBackward", {x}, {out}, [in = x.sizes(), dims = p.dims, keepdim](const Ctx& c) {
      return tensor_list{expand_grad(c.grad(), in, dims, keepdim)};
    });
  }
  return out;
}

Tensor mean(const Tensor& x, const Dims& dims_in, bool keepdim) {
  Plan p = plan(x, dims_in, keepdim, "mean");
  check_floating(x, "mean");
  Tensor out = new_output(p.out_shape, x.dtype(), x);
  kern::mean(x, p.dims, out);
  if (autograd::needs_grad({x})) {
    autograd::record("MeanBackward", {x}, {out}, [in = x.sizes(), dims = p.dims, keepdim, n = p.n](const Ctx& c) {
      return tensor_list{div(expand_grad(c.grad(), in, dims, keepdim), static_cast<double>(n))};
    });
  }
  return out;
}

Tensor prod(const Tensor& x, const Dims& dims_in, bool keepdim) {
  if (autocast::Cast ac{x}; ac) return prod(ac.fp32(x), dims_in, keepdim);
  Plan p = plan(x, dims_in, keepdim, "prod");
  DType out_dt = is_floating(x.dtype()) ? x.dtype() : kInt64;
  Tensor out = new_output(p.out_shape, out_dt, x);
  kern::prod(x, p.dims, out);
  if (is_floating(out_dt) && autograd::needs_grad({x})) {
    autograd::record(
        "ProdBackward", {x}, {out},
        [sx = SavedTensor(x), dims = p.dims, keepdim](const Ctx& c) {
          Tensor xv = sx.unpack();
          Tensor g = keep(c.grad(), xv.sizes(), dims, keepdim);
          Tensor zero = eq(xv, 0.0);
          bool has_zero;
          {
            NoGradGuard ng;
            has_zero = any(zero).item<bool>();
          }
          // No zeros: d out / d x_i = out / x_i.
          if (!has_zero) return tensor_list{mul(g, div(keep(c.output(), xv.sizes(), dims, keepdim), xv))};
          // With zeros, from P = the product of the nonzero elements of the slice and
          // Z = the number of zeros in it: Z == 0: P / x_i; Z == 1: P at the zero and 0
          // elsewhere; Z >= 2: 0 everywhere. x_safe (zeros replaced by 1) keeps every
          // intermediate finite, so the formula is differentiable again.
          Tensor x_safe = where(zero, 1.0, xv);
          Tensor nz = sum(zero, dims, /*keepdim=*/true);
          Tensor P = prod(x_safe, dims, /*keepdim=*/true);
          Tensor at_zero = where(eq(nz, 1), P, 0.0);
          Tensor at_nonzero = where(eq(nz, 0), div(P, x_safe), 0.0);
          return tensor_list{mul(g, where(zero, at_zero, at_nonzero))};
        },
        /*save_outputs=*/true);
  }
  return out;
}

// ---------------------------------------------------------------------------
// var, std

Tensor var(const Tensor& x, const Dims& dims_in, int64_t correction, bool keepdim) {
  Plan p = plan(x, dims_in, keepdim, "var");
  check_floating(x, "var");
  Tensor out = new_output(p.out_shape, x.dtype(), x);
  kern::var(x, p.dims, correction, /*take_sqrt=*/false, out);
  if (autograd::needs_grad({x})) {
    autograd::record("VarBackward", {x}, {out},
                     [sx = SavedTensor(x), dims = p.dims, n = p.n, correction, keepdim](const Ctx& c) {
                       return tensor_list{var_backward(c.grad(), sx.unpack(), dims, n, correction, keepdim)};
                     });
  }
  return out;
}

Tensor std(const Tensor& x, const Dims& dims_in, int64_t correction, bool keepdim) {
  Plan p = plan(x, dims_in, keepdim, "std");
  check_floating(x, "std");
  Tensor out = new_output(p.out_shape, x.dtype(), x);
  kern::var(x, p.dims, correction, /*take_sqrt=*/true, out);
  if (autograd::needs_grad({x})) {
    autograd::record(
        "StdBackward", {x}, {out},
        [sx = SavedTensor(x), dims = p.dims, n = p.n, correction, keepdim](const Ctx& c) {
          // d std = d var / (2 std); PyTorch masks std == 0 (a constant slice) to 0.
          Tensor s = c.output();
          Tensor g_var = where(eq(s, 0.0), 0.0, div(c.grad(), mul(s, 2.0)));
          return tensor_list{var_backward(g_var, sx.unpack(), dims, n, correction, keepdim)};
        },
        /*save_outputs=*/true);
  }
  return out;
}

// ---------------------------------------------------------------------------
// logsumexp, norm

Tensor logsumexp(const Tensor& x_in, const Dims& dims_in, bool keepdim) {
  if (autocast::Cast ac{x_in}; ac) return logsumexp(ac.fp32(x_in), dims_in, keepdim);
  Plan p = plan(x_in, dims_in, keepdim, "logsumexp");
  // Integer inputs compute in the default float dtype, like PyTorch.
  Tensor x = x_in;
  if (!is_floating(x.dtype())) {
    NoGradGuard ng;
    x = x_in.to(default_dtype());
  }
  Tensor out = new_output(p.out_shape, x.dtype(), x);
  kern::logsumexp(x, p.dims, out);
  if (autograd::needs_grad({x_in})) {
    autograd::record(
        "LogsumexpBackward", {x_in}, {out},
        [sx = SavedTensor(x_in), dims = p.dims, keepdim](const Ctx& c) {
          Tensor xv = sx.unpack();
          Tensor outk = keep(c.output(), xv.sizes(), dims, keepdim);
          return tensor_list{mul(keep(c.grad(), xv.sizes(), dims, keepdim), exp(sub(xv, outk)))};
        },
        /*save_outputs=*/true);
  }
  return out;
}

Tensor norm(const Tensor& x, double p_norm, const Dims& dims_in, bool keepdim) {
  if (autocast::Cast ac{x}; ac) return norm(ac.fp32(x), p_norm, dims_in, keepdim);
  Plan p = plan(x, dims_in, keepdim, "norm");
  check_floating(x, "norm");
  WICK_CHECK(p_norm > 0, "norm: expected p > 0 (or inf), got ", p_norm);
  Tensor out = new_output(p.out_shape, x.dtype(), x);
  kern::norm(x, p_norm, p.dims, out);
  if (autograd::needs_grad({x})) {
    autograd::record(
        "NormBackward", {x}, {out},
        [sx = SavedTensor(x), p_norm, dims = p.dims, keepdim](const Ctx& c) {
          Tensor xv = sx.unpack();
          Tensor g = keep(c.grad(), xv.sizes(), dims, keepdim);
          Tensor nk = keep(c.output(), xv.sizes(), dims, keepdim);
          if (p_norm == 1) return tensor_list{mul(g, sign(xv))};
          if (p_norm == 2)  // x / ||x||, with the subgradient 0 at x = 0
            return tensor_list{mul(xv, where(eq(nk, 0.0), 0.0, div(g, nk)))};
          if (std::isinf(p_norm)) {  // like amax of |x|: ties share the gradient
            Tensor mask = eq(abs(xv), nk);
            Tensor count = sum(mask, dims, /*keepdim=*/true);
            return tensor_list{where(mask, div(mul(g, sign(xv)), count), 0.0)};
          }
          // sign(x) |x|^(p-1) / ||x||^(p-1); for p >= 2 as x |x|^(p-2) (finite at 0).
          Tensor ax = abs(xv);
          Tensor scaled = p_norm < 2 ? mul(sign(xv), pow(ax, p_norm - 1)) : mul(xv, pow(ax, p_norm - 2));
          Tensor scale = where(eq(nk, 0.0), 0.0, div(g, pow(nk, p_norm - 1)));
          return tensor_list{mul(scaled, scale)};
        },
        /*save_outputs=*/true);
  }
  return out;
}

// ---------------------------------------------------------------------------
// max, min, amax, amin, argmax, argmin

Tensor max(const Tensor& x) { return extremum_all(x, /*is_max=*/true); }
Tensor min(const Tensor& x) { return extremum_all(x, /*is_max=*/false); }
std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) { return max_min_dim(x, dim, keepdim, true); }
std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) { return max_min_dim(x, dim, keepdim, false); }
Tensor amax(const Tensor& x, const Dims& dims, bool keepdim) { return extremum(x, dims, keepdim, true, "amax"); }
Tensor amin(const Tensor& x, const Dims& dims, bool keepdim) { return extremum(x, dims, keepdim, false, "amin"); }
Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) { return arg_all_or_dim(x, dim, keepdim, true); }
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  return arg_all_or_dim(x, dim, keepdim, false);
}

// ---------------------------------------------------------------------------
// cumsum, all, any

Tensor cumsum(const Tensor& x, int64_t dim) {
  if (autocast::Cast ac{x}; ac) return cumsum(ac.fp32(x), dim);
  return scan(x, dim, /*reverse=*/false);
}

Tensor all(const Tensor& x, const Dims& dims_in, bool keepdim) {
  Plan p = plan(x, dims_in, keepdim, "all");
  Tensor out = new_output(p.out_shape, kBool, x);
  kern::all(x, p.dims, out);
  return out;
}

Tensor any(const Tensor& x, const Dims& dims_in, bool keepdim) {
  Plan p = plan(x, dims_in, keepdim, "any");
  Tensor out = new_output(p.out_shape, kBool, x);
  kern::any(x, p.dims, out);
  return out;
}

}  // namespace wick
