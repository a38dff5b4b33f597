// Elementwise ops: dtype and shape rules, dispatch to the kernels, and the
// backward formulas (written with ops, so they are differentiable again).
// The activations (tanh, sigmoid, relu, gelu, silu, softplus) also have a
// fused backward kernel (cpu::unary_backward), used when the backward is not
// itself recorded; see fused_backward().
#include "ops/elementwise.h"

#include <cmath>
#include <numbers>
#include <optional>

#include "autograd/function.h"
#include "ops/copy.h"
#include "ops/cpu/elementwise.h"
#include "ops/cpu/fill.h"
#ifdef WICK_WITH_CUDA
#include "cuda/kernels/fill.h"
#endif
#include "ops/creation.h"
#include "ops/inplace.h"
#include "ops/reduction.h"
#ifdef WICK_WITH_CUDA
#include "cuda/kernels/copy.h"
#include "cuda/kernels/elementwise.h"
#include "cuda/kernels/fill.h"
#endif

namespace wick {

using autograd::Ctx;
using autograd::SavedTensor;
using cpu::BinaryOp;
using cpu::UnaryOp;

// ---------------------------------------------------------------------------
// dtype rules

namespace {
int category(DType d) { return d == kBool ? 0 : is_floating(d) ? 2 : 1; }

// PyTorch's combine_categories: `hi` comes from the higher-priority operands.
DType combine(DType hi, DType lo) {
  if (is_floating(hi)) return hi;
  if (hi == kBool || is_floating(lo)) return promote_types(hi, lo);
  return hi;
}
}  // namespace

DType result_type(const Tensor& a, const Tensor& b) {
  const bool az = a.dim() == 0, bz = b.dim() == 0;
  if (az == bz) return promote_types(a.dtype(), b.dtype());
  const Tensor& hi = az ? b : a;
  const Tensor& lo = az ? a : b;
  return category(lo.dtype()) > category(hi.dtype()) ? combine(hi.dtype(), lo.dtype()) : hi.dtype();
}

DType result_type(const Tensor& a, const Scalar& b) {
  DType lo = b.natural_dtype();
  return category(lo) > category(a.dtype()) ? combine(a.dtype(), lo) : a.dtype();
}

Tensor sum_to(const Tensor& grad, const Shape& shape) {
  if (grad.sizes() == shape) return grad;
  const int64_t lead = grad.dim() - static_cast<int64_t>(shape.size());
  WICK_CHECK(lead >= 0, "sum_to: cannot reduce shape ", shape_str(grad.sizes()), " to ", shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < grad.dim(); ++d)
    if (d < lead || (shape[d - lead] == 1 && grad.size(d) != 1)) dims.push_back(d);
  Tensor r = dims.empty() ? grad : sum(grad, dims, /*keepdim=*/true);
  return r.reshape(shape);
}

// ---------------------------------------------------------------------------
// kernel launch helpers (shared by every op in this file)

namespace detail {

// A 0-dim CPU tensor may be combined with tensors on another device (as in
// PyTorch: a wrapped number, or a CPU scalar such as a loss value): the
// device kernels take its value by value.
bool is_cpu_scalar(const Tensor& t) { return t.is_cpu() && t.dim() == 0; }

void check_same_device(const char* name, const Tensor& a, const Tensor& b) {
  if (a.device() == b.device() || (is_cpu_scalar(a) && !b.is_cpu()) || (is_cpu_scalar(b) && !a.is_cpu())) return;
  WICK_FAIL(name, ": expected all tensors on the same device, got ", a.device(), " and ", b.device());
}

// The device an op's result lives on: the device of its non-scalar operands.
Device common_device(std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts)
    if (t->defined() && !t->is_cpu()) return t->device();
  return Device(kCPU);
}

// An operand for a kernel that writes on `dev`, converted to `dt`. A CPU
// scalar feeding a device kernel stays as it is: the kernel converts its
// value (so a float16 operand needs no CPU float16 support).
Tensor operand(const Tensor& t, DType dt, Device dev) {
  if (t.is_cpu() && !dev.is_cpu()) return t;
  return t.to(dt);
}

void check_backend(const char* name, const Tensor& t) {
#ifdef WICK_WITH_CUDA
  if (t.is_cuda()) return;
#endif
  WICK_CHECK(t.is_cpu(), name, ": no kernel for device ", t.device(), " in this build");
}

// The kernels for out's device (the CPU ones, or the CUDA ones in a CUDA build).
namespace kern {
#ifdef WICK_WITH_CUDA
#define WICK_ON_DEVICE(t, cuda_call) \
  if ((t).is_cuda()) return cuda_call
#else
#define WICK_ON_DEVICE(t, cuda_call) (void)0
#endif
void unary(UnaryOp op, const Tensor& out, const Tensor& x, double p0 = 0, double p1 = 0) {
  WICK_ON_DEVICE(out, cuda::unary(op, out, x, p0, p1));
  cpu::unary(op, out, x, p0, p1);
}
void unary_backward(cpu::UnaryGradOp op, const Tensor& out, const Tensor& grad, const Tensor& saved, double p0,
                    double p1) {
  WICK_ON_DEVICE(out, cuda::unary_backward(op, out, grad, saved, p0, p1));
  cpu::unary_backward(op, out, grad, saved, p0, p1);
}
void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  WICK_ON_DEVICE(out, cuda::binary(op, out, a, b));
  cpu::binary(op, out, a, b);
}
void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  WICK_ON_DEVICE(out, cuda::where(out, cond, a, b));
  cpu::where(out, cond, a, b);
}
void clamp(const Tensor& out, const Tensor& x, const std::optional<Scalar>& lo, const std::optional<Scalar>& hi) {
  WICK_ON_DEVICE(out, cuda::clamp(out, x, lo, hi));
  cpu::clamp(out, x, lo, hi);
}
void clamp(const Tensor& out, const Tensor& x, const Tensor& lo, const Tensor& hi) {
  WICK_ON_DEVICE(out, cuda::clamp(out, x, lo, hi));
  cpu::clamp(out, x, lo, hi);
}
void lerp(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& w) {
  WICK_ON_DEVICE(out, cuda::lerp(out, a, b, w));
  cpu::lerp(out, a, b, w);
}
void copy(const Tensor& dst, const Tensor& src) {
  WICK_ON_DEVICE(dst, cuda::copy(dst, src));
  cpu::copy(dst, src);
}
void fill(const Tensor& t, const Scalar& v) {
  WICK_ON_DEVICE(t, cuda::fill(t, v));
  cpu::fill(t, v);
}
#undef WICK_ON_DEVICE
}  // namespace kern

// out = op(x) computed in dtype `compute`; out has dtype `out_dtype`.
Tensor run_unary(UnaryOp op, const char* name, const Tensor& x, DType compute, DType out_dtype, double p0 = 0,
                 double p1 = 0) {
  WICK_CHECK(x.defined(), name, ": undefined tensor");
  check_backend(name, x);
  NoGradGuard ng;
  Tensor xc = x.to(compute);
  Tensor out = empty(x.sizes(), TensorOptions(out_dtype).device(x.device()));
  kern::unary(op, out, xc, p0, p1);
  return out;
}

// Whether the device kernel reads a and b as they are into an out_dtype
// result computed in `compute` (a float32 operand beside a 16-bit one on
// CUDA, cuda::binary_reads_mixed), so neither needs a cast first.
bool reads_mixed(BinaryOp op, const Tensor& a, const Tensor& b, DType compute, DType out_dtype) {
#ifdef WICK_WITH_CUDA
  return a.is_cuda() && b.is_cuda() && compute == out_dtype &&
         cuda::binary_reads_mixed(op, out_dtype, a.dtype(), b.dtype());
#else
  (void)op, (void)a, (void)b, (void)compute, (void)out_dtype;
  return false;
#endif
}

Tensor run_binary(BinaryOp op, const char* name, const Tensor& a, const Tensor& b, DType compute, DType out_dtype) {
  WICK_CHECK(a.defined() && b.defined(), name, ": undefined tensor");
  check_same_device(name, a, b);
  check_backend(name, a);
  Shape shape = broadcast_shapes(a.sizes(), b.sizes(), name);
  NoGradGuard ng;
  const Device dev = common_device({&a, &b});
  const bool as_they_are = reads_mixed(op, a, b, compute, out_dtype);
  Tensor ac = as_they_are ? a : operand(a, compute, dev), bc = as_they_are ? b : operand(b, compute, dev);
  Tensor out = empty(shape, TensorOptions(out_dtype).device(dev));
  kern::binary(op, out, ac, bc);
  return out;
}

// In place: self = op(self, b). The result dtype must be storable in self.
void run_binary_into(BinaryOp op, const char* name, const Tensor& self, const Tensor& b, DType compute) {
  check_same_device(name, self, b);
  check_backend(name, self);
  WICK_CHECK(broadcast_shapes(self.sizes(), b.sizes(), name) == self.sizes(), name, ": output with shape ",
             shape_str(self.sizes()), " doesn't match the broadcast shape ",
             shape_str(broadcast_shapes(self.sizes(), b.sizes(), name)));
  WICK_CHECK(category(compute) <= category(self.dtype()), name, ": result type ", compute,
             " can't be cast to the desired output type ", self.dtype());
  NoGradGuard ng;
  if (compute == self.dtype()) {
    kern::binary(op, self, self, reads_mixed(op, self, b, compute, compute) ? b : operand(b, compute, self.device()));
  } else {
    Tensor tmp = run_binary(op, name, self, b, compute, compute);
    kern::copy(self, tmp);
  }
}

// A bare number as a 0-dim tensor of dtype dt for an op with `like`. For a
// device op it is a CPU scalar, which the device kernels take by value (no
// host-to-device copy); float16/bfloat16 values are held in float32 there
// (the CPU has no 16-bit float kernels) and rounded by the kernel.
Tensor wrap(const Scalar& s, DType dt, const Tensor& like) {
  if (!like.is_cpu()) return scalar_tensor(s, TensorOptions(dt == kFloat16 || dt == kBFloat16 ? kFloat32 : dt));
  return scalar_tensor(s, TensorOptions(dt).device(like.device()));
}

DType float_result(DType d) { return is_floating(d) ? d : default_dtype(); }

}  // namespace detail

using namespace detail;

// ---------------------------------------------------------------------------
// arithmetic

Tensor add(const Tensor& a, const Tensor& b, const Scalar& alpha) {
  if (!(alpha.is_integral() && alpha.to_int() == 1)) return add(a, mul(b, alpha));
  DType dt = result_type(a, b);
  Tensor out = run_binary(BinaryOp::Add, "add", a, b, dt, dt);
  if (autograd::needs_grad({a, b})) {
    autograd::record("AddBackward", {a, b}, {out}, [sa = a.sizes(), sb = b.sizes()](const Ctx& c) {
      return tensor_list{c.needs_input_grad(0) ? sum_to(c.grad(), sa) : Tensor(),
                         c.needs_input_grad(1) ? sum_to(c.grad(), sb) : Tensor()};
    });
  }
  return out;
}

Tensor add(const Tensor& a, const Scalar& b) { return add(a, wrap(b, result_type(a, b), a)); }

Tensor sub(const Tensor& a, const Tensor& b, const Scalar& alpha) {
  WICK_CHECK(!(a.dtype() == kBool && b.dtype() == kBool), "sub: subtraction of two bool tensors is not supported; "
             "use logical_xor");
  if (!(alpha.is_integral() && alpha.to_int() == 1)) return sub(a, mul(b, alpha));
  DType dt = result_type(a, b);
  Tensor out = run_binary(BinaryOp::Sub, "sub", a, b, dt, dt);
  if (autograd::needs_grad({a, b})) {
    autograd::record("SubBackward", {a, b}, {out}, [sa = a.sizes(), sb = b.sizes()](const Ctx& c) {
      return tensor_list{c.needs_input_grad(0) ? sum_to(c.grad(), sa) : Tensor(),
                         c.needs_input_grad(1) ? sum_to(neg(c.grad()), sb) : Tensor()};
    });
  }
  return out;
}

Tensor sub(const Tensor& a, const Scalar& b) { return sub(a, wrap(b, result_type(a, b), a)); }
Tensor rsub(const Tensor& a, const Scalar& b) { return sub(wrap(b, result_type(a, b), a), a); }

Tensor mul(const Tensor& a, const Tensor& b) {
  DType dt = result_type(a, b);
  Tensor out = run_binary(BinaryOp::Mul, "mul", a, b, dt, dt);
  if (autograd::needs_grad({a, b})) {
    autograd::record("MulBackward", {a, b}, {out}, [sa = SavedTensor(a), sb = SavedTensor(b)](const Ctx& c) {
      Tensor ga, gb;
      if (c.needs_input_grad(0)) ga = sum_to(mul(c.grad(), sb.unpack()), sa.unpack().sizes());
      if (c.needs_input_grad(1)) gb = sum_to(mul(c.grad(), sa.unpack()), sb.unpack().sizes());
      return tensor_list{ga, gb};
    });
  }
  return out;
}

Tensor mul(const Tensor& a, const Scalar& b) { return mul(a, wrap(b, result_type(a, b), a)); }

Tensor div(const Tensor& a, const Tensor& b) {
  DType dt = float_result(result_type(a, b));
  Tensor out = run_binary(BinaryOp::Div, "div", a, b, dt, dt);
  if (autograd::needs_grad({a, b})) {
    autograd::record("DivBackward", {a, b}, {out}, [sa = SavedTensor(a), sb = SavedTensor(b)](const Ctx& c) {
      Tensor ga, gb;
      Tensor bv = sb.unpack();
      if (c.needs_input_grad(0)) ga = sum_to(div(c.grad(), bv), sa.unpack().sizes());
      if (c.needs_input_grad(1)) gb = sum_to(neg(div(mul(c.grad(), sa.unpack()), mul(bv, bv))), bv.sizes());
      return tensor_list{ga, gb};
    });
  }
  return out;
}

Tensor div(const Tensor& a, const Scalar& b) { return div(a, wrap(b, result_type(a, b), a)); }
Tensor rdiv(const Tensor& a, const Scalar& b) { return div(wrap(b, result_type(a, b), a), a); }

Tensor neg(const Tensor& a) {
  WICK_CHECK(a.dtype() != kBool, "neg: negation of a bool tensor is not supported; use logical_not");
  Tensor out = run_unary(UnaryOp::Neg, "neg", a, a.dtype(), a.dtype());
  if (autograd::needs_grad({a}))
    autograd::record("NegBackward", {a}, {out}, [](const Ctx& c) { return tensor_list{neg(c.grad())}; });
  return out;
}

Tensor isnan(const Tensor& x) { return run_unary(UnaryOp::IsNan, "isnan", x, x.dtype(), kBool); }

// ---------------------------------------------------------------------------
// helpers for the ops below

namespace {

// Result dtype over several tensors (undefined ones skipped), with
// torch.result_type's priorities: dimensioned tensors over 0-d tensors.
DType result_type_of(const tensor_list& ts) {
  std::optional<DType> dimd, zerod;
  for (const Tensor& t : ts) {
    if (!t.defined()) continue;
    auto& slot = t.dim() > 0 ? dimd : zerod;
    slot = slot ? promote_types(*slot, t.dtype()) : t.dtype();
  }
  if (!dimd) return *zerod;
  if (!zerod) return *dimd;
  return category(*zerod) > category(*dimd) ? combine(*dimd, *zerod) : *dimd;
}

// The dtype of (tensor of dtype t) op (bare scalar s).
DType with_scalar(DType t, const Scalar& s) {
  DType lo = s.natural_dtype();
  return category(lo) > category(t) ? combine(t, lo) : t;
}

void check_defined(const char* name, const Tensor& t) { WICK_CHECK(t.defined(), name, ": undefined tensor"); }

void check_floating(const char* name, const Tensor& x) {
  check_defined(name, x);
  WICK_CHECK(is_floating(x.dtype()), name, ": expected a floating-point tensor, got ", x.dtype());
}

// A floating function of x: integer and bool inputs compute in the default float dtype.
Tensor float_unary(UnaryOp op, const char* name, const Tensor& x, double p0 = 0, double p1 = 0) {
  check_defined(name, x);
  const DType dt = float_result(x.dtype());
  return run_unary(op, name, x, dt, dt, p0, p1);
}

// Records `backward` for a one-input op when x needs a gradient; returns out.
template <typename F>
Tensor with_grad(Tensor out, const Tensor& x, const char* node, F&& backward, bool save_output = false) {
  if (autograd::needs_grad({x})) autograd::record(node, {x}, {out}, std::forward<F>(backward), save_output);
  return out;
}

// The fused activation backward: grad * f'(saved) in one kernel pass
// instead of the 3-8 ops (and temporaries) of the composed formula. Only
// when the backward itself is not being recorded (GradMode off: the engine
// enables it only for create_graph), since the kernel has no backward of its
// own; otherwise, or for other devices and dtype mixes, the caller keeps the
// composed formula, which stays differentiable.
std::optional<Tensor> fused_backward(cpu::UnaryGradOp op, const Tensor& grad, const Tensor& saved, double p0 = 0,
                                     double p1 = 0) {
  bool has_kernel = saved.is_cpu();
#ifdef WICK_WITH_CUDA
  has_kernel = has_kernel || saved.is_cuda();
#endif
  if (autograd::GradMode::is_enabled() || !has_kernel || grad.device() != saved.device() ||
      !is_floating(saved.dtype()) || grad.dtype() != saved.dtype() || grad.sizes() != saved.sizes())
    return std::nullopt;
  Tensor out = empty(saved.sizes(), TensorOptions(saved.dtype()).device(saved.device()));
  kern::unary_backward(op, out, grad, saved, p0, p1);
  return out;
}

// The backward of piecewise-constant functions (sign, floor, round).
tensor_list zero_grad(const Ctx& c) { return tensor_list{zeros_like(c.grad())}; }

// In place: self = op(self). `floating` ops need a floating self.
void run_unary_into(UnaryOp op, const char* name, const Tensor& self, bool floating) {
  check_backend(name, self);
  WICK_CHECK(!floating || is_floating(self.dtype()), name, ": result type ", default_dtype(),
             " can't be cast to the desired output type ", self.dtype());
  NoGradGuard ng;
  kern::unary(op, self, self);
}

Scalar scalar_minus_one(const Scalar& e) {
  return e.is_floating() ? Scalar(e.to_double() - 1.0) : Scalar(e.to_int() - 1);
}

// d/da a^e = e a^(e-1), and 0 where e == 0 (so that 0^0 does not give 0 * inf).
Tensor pow_grad_base(const Tensor& g, const Tensor& a, const Tensor& e) {
  return where(eq(e, 0), 0, mul(g, mul(e, pow(a, sub(e, 1)))));
}

// d/de a^e = a^e log(a), and 0 where a == 0 and e >= 0 (the limit PyTorch uses).
Tensor pow_grad_exponent(const Tensor& g, const Tensor& a, const Tensor& e, const Tensor& out) {
  return where(logical_and(eq(a, 0), ge(e, 0)), 0, mul(g, mul(out, log(a))));
}

// Which elements of x lie inside [lo, hi] (an absent bound does not restrict):
// the elements through which clamp passes the gradient.
Tensor clamp_inside(const Tensor& x, const std::optional<Scalar>& lo, const std::optional<Scalar>& hi) {
  if (lo && hi) return logical_and(ge(x, *lo), le(x, *hi));
  return lo ? ge(x, *lo) : le(x, *hi);
}

// phi(x) = exp(-x^2/2) / sqrt(2 pi), the standard normal density (gelu's
// derivative); differentiable: phi'(x) = -x phi(x).
Tensor normal_pdf(const Tensor& x) {
  Tensor out = float_unary(UnaryOp::NormalPdf, "normal_pdf", x);
  return with_grad(out, x, "NormalPdfBackward", [sx = SavedTensor(x)](const Ctx& c) {
    return tensor_list{neg(mul(c.grad(), mul(sx.unpack(), c.output())))};
  }, true);
}

// minimum/maximum: the gradient goes to the selected operand; ties split it
// in half between both (like PyTorch).
Tensor min_max(BinaryOp op, const char* name, const Tensor& a, const Tensor& b) {
  const DType dt = result_type(a, b);
  Tensor out = run_binary(op, name, a, b, dt, dt);
  if (autograd::needs_grad({a, b})) {
    const bool is_max = op == BinaryOp::Maximum;
    autograd::record(is_max ? "MaximumBackward" : "MinimumBackward", {a, b}, {out},
                     [sa = SavedTensor(a), sb = SavedTensor(b), is_max](const Ctx& c) {
                       Tensor av = sa.unpack(), bv = sb.unpack();
                       Tensor g = where(eq(av, bv), mul(c.grad(), 0.5), c.grad());
                       Tensor ga, gb;
                       if (c.needs_input_grad(0))
                         ga = sum_to(where(is_max ? lt(av, bv) : gt(av, bv), 0, g), av.sizes());
                       if (c.needs_input_grad(1))
                         gb = sum_to(where(is_max ? gt(av, bv) : lt(av, bv), 0, g), bv.sizes());
                       return tensor_list{ga, gb};
                     });
  }
  return out;
}

void check_lerp(const char* name, const Tensor& a, const Tensor& b, const Tensor& w) {
  check_defined(name, a);
  check_defined(name, b);
  check_floating(name, a);
  WICK_CHECK(b.dtype() == a.dtype(), name, ": expected end of dtype ", a.dtype(), " (like start), got ", b.dtype());
  check_same_device(name, a, b);
  check_backend(name, a);
  if (w.defined()) {
    WICK_CHECK(w.dtype() == a.dtype(), name, ": expected weight of dtype ", a.dtype(), " (like start), got ",
               w.dtype());
    check_same_device(name, a, w);
  }
}

Tensor compare(BinaryOp op, const char* name, const Tensor& a, const Tensor& b) {
  return run_binary(op, name, a, b, result_type(a, b), kBool);
}

Tensor compare(BinaryOp op, const char* name, const Tensor& a, const Scalar& b) {
  check_defined(name, a);
  const DType dt = result_type(a, b);
  return run_binary(op, name, a, wrap(b, dt, a), dt, kBool);
}

// where() with the value dtype decided by the caller (the scalar overloads
// give a bare number lower priority than a tensor).
Tensor where_impl(const Tensor& cond, const Tensor& a, const Tensor& b, DType dt) {
  check_defined("where", cond);
  check_defined("where", a);
  check_defined("where", b);
  WICK_CHECK(cond.dtype() == kBool, "where: expected a bool condition, got ", cond.dtype());
  check_same_device("where", cond, a);
  check_same_device("where", cond, b);
  check_same_device("where", a, b);
  const Device dev = common_device({&cond, &a, &b});
  for (const Tensor* t : {&cond, &a, &b}) check_backend("where", *t);
  const Shape shape = broadcast_shapes({cond.sizes(), a.sizes(), b.sizes()}, "where");
  Tensor out;
  {
    NoGradGuard ng;
    out = empty(shape, TensorOptions(dt).device(dev));
    kern::where(out, cond, operand(a, dt, dev), operand(b, dt, dev));
  }
  if (autograd::needs_grad({a, b})) {
    autograd::record("WhereBackward", {a, b}, {out},
                     [sc = SavedTensor(cond), sa = a.sizes(), sb = b.sizes()](const Ctx& c) {
                       Tensor cv = sc.unpack(), ga, gb;
                       if (c.needs_input_grad(0)) ga = sum_to(where(cv, c.grad(), 0), sa);
                       if (c.needs_input_grad(1)) gb = sum_to(where(cv, 0, c.grad()), sb);
                       return tensor_list{ga, gb};
                     });
  }
  return out;
}

void check_mask(const char* name, const Tensor& x, const Tensor& mask) {
  check_defined(name, x);
  check_defined(name, mask);
  WICK_CHECK(mask.dtype() == kBool, name, ": expected a bool mask, got ", mask.dtype());
  check_same_device(name, x, mask);
  check_backend(name, x);
  WICK_CHECK(broadcast_shapes(x.sizes(), mask.sizes(), name) == x.sizes(), name, ": mask of shape ",
             shape_str(mask.sizes()), " cannot be broadcast to the input's shape ", shape_str(x.sizes()));
}

}  // namespace

// ---------------------------------------------------------------------------
// binary math

Tensor pow(const Tensor& a, const Tensor& e) {
  check_defined("pow", a);
  check_defined("pow", e);
  const DType dt = result_type(a, e);
  WICK_CHECK(dt != kBool, "pow: not supported for two bool operands");
  Tensor out = run_binary(BinaryOp::Pow, "pow", a, e, dt, dt);
  if (autograd::needs_grad({a, e})) {
    autograd::record("PowBackward", {a, e}, {out}, [sa = SavedTensor(a), se = SavedTensor(e)](const Ctx& c) {
      Tensor av = sa.unpack(), ev = se.unpack(), ga, ge_;
      if (c.needs_input_grad(0)) ga = sum_to(pow_grad_base(c.grad(), av, ev), av.sizes());
      if (c.needs_input_grad(1)) ge_ = sum_to(pow_grad_exponent(c.grad(), av, ev, c.output()), ev.sizes());
      return tensor_list{ga, ge_};
    }, /*save_outputs=*/true);
  }
  return out;
}

Tensor pow(const Tensor& a, const Scalar& e) {
  check_defined("pow", a);
  const DType dt = result_type(a, e);
  WICK_CHECK(dt != kBool, "pow: not supported for two bool operands");
  WICK_CHECK(!(is_integral(dt) && e.to_int() < 0), "pow: integers to negative integer powers are not allowed (",
             a.dtype(), " tensor ** ", e.to_int(), ")");
  Tensor out = run_binary(BinaryOp::Pow, "pow", a, wrap(e, dt, a), dt, dt);
  return with_grad(out, a, "PowBackward", [sa = SavedTensor(a), e](const Ctx& c) {
    if (e.to_double() == 0.0) return tensor_list{zeros_like(c.grad())};
    return tensor_list{mul(c.grad(), mul(pow(sa.unpack(), scalar_minus_one(e)), e))};
  });
}

Tensor pow(const Scalar& a, const Tensor& e) {
  check_defined("pow", e);
  return pow(wrap(a, result_type(e, a), e), e);
}

Tensor minimum(const Tensor& a, const Tensor& b) { return min_max(BinaryOp::Minimum, "minimum", a, b); }
Tensor maximum(const Tensor& a, const Tensor& b) { return min_max(BinaryOp::Maximum, "maximum", a, b); }

Tensor atan2(const Tensor& y, const Tensor& x) {
  check_defined("atan2", y);
  check_defined("atan2", x);
  const DType dt = float_result(result_type(y, x));
  Tensor out = run_binary(BinaryOp::Atan2, "atan2", y, x, dt, dt);
  if (autograd::needs_grad({y, x})) {
    // d/dy atan2(y, x) = x / (x^2 + y^2),  d/dx = -y / (x^2 + y^2)
    autograd::record("Atan2Backward", {y, x}, {out}, [sy = SavedTensor(y), sx = SavedTensor(x)](const Ctx& c) {
      Tensor yv = sy.unpack(), xv = sx.unpack(), gy, gx;
      Tensor g = div(c.grad(), add(mul(xv, xv), mul(yv, yv)));
      if (c.needs_input_grad(0)) gy = sum_to(mul(g, xv), yv.sizes());
      if (c.needs_input_grad(1)) gx = sum_to(neg(mul(g, yv)), xv.sizes());
      return tensor_list{gy, gx};
    });
  }
  return out;
}

Tensor clamp(const Tensor& x, std::optional<Scalar> lo, std::optional<Scalar> hi) {
  check_defined("clamp", x);
  WICK_CHECK(lo || hi, "clamp: at least one of lo and hi must be given");
  WICK_CHECK(x.dtype() != kBool || (lo && !lo->is_bool()) || (hi && !hi->is_bool()),
             "clamp: not supported for bool tensors with bool bounds");
  check_backend("clamp", x);
  DType dt = x.dtype();
  if (lo) dt = with_scalar(dt, *lo);
  if (hi) dt = with_scalar(dt, *hi);
  Tensor out;
  {
    NoGradGuard ng;
    out = empty(x.sizes(), TensorOptions(dt).device(x.device()));
    kern::clamp(out, x.to(dt), lo, hi);
  }
  return with_grad(out, x, "ClampBackward", [sx = SavedTensor(x), lo, hi](const Ctx& c) {
    return tensor_list{where(clamp_inside(sx.unpack(), lo, hi), c.grad(), 0)};
  });
}

Tensor clamp(const Tensor& x, const Tensor& lo, const Tensor& hi) {
  check_defined("clamp", x);
  WICK_CHECK(lo.defined() || hi.defined(), "clamp: at least one of lo and hi must be given");
  for (const Tensor* b : {&lo, &hi})
    if (b->defined()) check_same_device("clamp", x, *b);
  if (lo.defined() && hi.defined()) check_same_device("clamp", lo, hi);
  const Device dev = common_device({&x, &lo, &hi});
  for (const Tensor* t : {&x, &lo, &hi})
    if (t->defined()) check_backend("clamp", *t);
  const DType dt = result_type_of({x, lo, hi});
  WICK_CHECK(dt != kBool, "clamp: not supported for bool tensors with bool bounds");
  std::vector<Shape> shapes{x.sizes()};
  for (const Tensor* b : {&lo, &hi})
    if (b->defined()) shapes.push_back(b->sizes());
  const Shape shape = broadcast_shapes(shapes, "clamp");
  Tensor out;
  {
    NoGradGuard ng;
    out = empty(shape, TensorOptions(dt).device(dev));
    kern::clamp(out, operand(x, dt, dev), lo.defined() ? operand(lo, dt, dev) : Tensor(),
                hi.defined() ? operand(hi, dt, dev) : Tensor());
  }
  if (autograd::needs_grad({x, lo, hi})) {
    // x gets the gradient where lo <= x <= hi; lo where x < lo (and lo < hi);
    // hi where x > hi, or everywhere hi < lo (then the output is hi).
    autograd::record("ClampBackward", {x, lo, hi}, {out},
                     [sx = SavedTensor(x), sl = SavedTensor(lo), sh = SavedTensor(hi)](const Ctx& c) {
                       Tensor xv = sx.unpack(), lv = sl.unpack(), hv = sh.unpack(), g = c.grad();
                       Tensor inside, below, above;
                       if (lv.defined() && hv.defined()) {
                         inside = logical_and(ge(xv, lv), le(xv, hv));
                         below = logical_and(lt(xv, lv), lt(lv, hv));
                         above = logical_or(gt(xv, hv), lt(hv, lv));
                       } else if (lv.defined()) {
                         inside = ge(xv, lv);
                         below = lt(xv, lv);
                       } else {
                         inside = le(xv, hv);
                         above = gt(xv, hv);
                       }
                       tensor_list r(3);
                       if (c.needs_input_grad(0)) r[0] = sum_to(where(inside, g, 0), xv.sizes());
                       if (c.needs_input_grad(1)) r[1] = sum_to(where(below, g, 0), lv.sizes());
                       if (c.needs_input_grad(2)) r[2] = sum_to(where(above, g, 0), hv.sizes());
                       return r;
                     });
  }
  return out;
}

Tensor clamp_min(const Tensor& x, const Scalar& lo) { return clamp(x, lo, std::nullopt); }
Tensor clamp_max(const Tensor& x, const Scalar& hi) { return clamp(x, std::nullopt, hi); }

Tensor lerp(const Tensor& a, const Tensor& b, const Scalar& w) {
  check_lerp("lerp", a, b, Tensor());
  const Shape shape = broadcast_shapes(a.sizes(), b.sizes(), "lerp");
  Tensor out;
  {
    NoGradGuard ng;
    out = empty(shape, TensorOptions(a.dtype()).device(a.device()));
    kern::lerp(out, a, b, wrap(w, a.dtype(), a));
  }
  if (autograd::needs_grad({a, b})) {
    autograd::record("LerpBackward", {a, b}, {out}, [sa = a.sizes(), sb = b.sizes(), w](const Ctx& c) {
      Tensor ga, gb;
      if (c.needs_input_grad(0)) ga = sum_to(mul(c.grad(), 1.0 - w.to_double()), sa);
      if (c.needs_input_grad(1)) gb = sum_to(mul(c.grad(), w), sb);
      return tensor_list{ga, gb};
    });
  }
  return out;
}

Tensor lerp(const Tensor& a, const Tensor& b, const Tensor& w) {
  check_defined("lerp", w);
  check_lerp("lerp", a, b, w);
  const Shape shape = broadcast_shapes({a.sizes(), b.sizes(), w.sizes()}, "lerp");
  Tensor out;
  {
    NoGradGuard ng;
    out = empty(shape, TensorOptions(a.dtype()).device(common_device({&a, &b, &w})));
    // A 0-d weight takes the kernel's two-operand path; a 1-element one is as good.
    kern::lerp(out, a, b, w.numel() == 1 && w.dim() > 0 ? w.reshape({}) : w);
  }
  if (autograd::needs_grad({a, b, w})) {
    autograd::record("LerpBackward", {a, b, w}, {out},
                     [sa = SavedTensor(a), sb = SavedTensor(b), sw = SavedTensor(w)](const Ctx& c) {
                       Tensor g = c.grad(), wv = sw.unpack();
                       tensor_list r(3);
                       Tensor gw = c.needs_input_grad(0) || c.needs_input_grad(1) ? mul(g, wv) : Tensor();
                       if (c.needs_input_grad(0)) r[0] = sum_to(sub(g, gw), sa.unpack().sizes());
                       if (c.needs_input_grad(1)) r[1] = sum_to(gw, sb.unpack().sizes());
                       if (c.needs_input_grad(2)) {
                         Tensor av = sa.unpack(), bv = sb.unpack();
                         r[2] = sum_to(mul(g, sub(bv, av)), wv.sizes());
                       }
                       return r;
                     });
  }
  return out;
}

// ---------------------------------------------------------------------------
// unary math

Tensor exp(const Tensor& x) {
  return with_grad(float_unary(UnaryOp::Exp, "exp", x), x, "ExpBackward",
                   [](const Ctx& c) { return tensor_list{mul(c.grad(), c.output())}; }, true);
}

Tensor log(const Tensor& x) {
  return with_grad(float_unary(UnaryOp::Log, "log", x), x, "LogBackward",
                   [sx = SavedTensor(x)](const Ctx& c) { return tensor_list{div(c.grad(), sx.unpack())}; });
}

Tensor log1p(const Tensor& x) {
  return with_grad(float_unary(UnaryOp::Log1p, "log1p", x), x, "Log1pBackward", [sx = SavedTensor(x)](const Ctx& c) {
    return tensor_list{div(c.grad(), add(sx.unpack(), 1))};
  });
}

Tensor expm1(const Tensor& x) {
  return with_grad(float_unary(UnaryOp::Expm1, "expm1", x), x, "Expm1Backward",
                   [](const Ctx& c) { return tensor_list{mul(c.grad(), add(c.output(), 1))}; }, true);
}

Tensor sqrt(const Tensor& x) {
  return with_grad(float_unary(UnaryOp::Sqrt, "sqrt", x), x, "SqrtBackward",
                   [](const Ctx& c) { return tensor_list{div(c.grad(), mul(c.output(), 2))}; }, true);
}

Tensor rsqrt(const Tensor& x) {
  // d/dx x^(-1/2) = -1/2 x^(-3/2) = -1/2 y^3
  return with_grad(float_unary(UnaryOp::Rsqrt, "rsqrt", x), x, "RsqrtBackward", [](const Ctx& c) {
    Tensor y = c.output();
    return tensor_list{mul(c.grad(), mul(mul(y, mul(y, y)), -0.5))};
  }, true);
}

Tensor abs(const Tensor& x) {
  check_defined("abs", x);
  WICK_CHECK(x.dtype() != kBool, "abs: not supported for bool tensors");
  Tensor out = run_unary(UnaryOp::Abs, "abs", x, x.dtype(), x.dtype());
  return with_grad(out, x, "AbsBackward",
                   [sx = SavedTensor(x)](const Ctx& c) { return tensor_list{mul(c.grad(), sign(sx.unpack()))}; });
}

Tensor sign(const Tensor& x) {
  check_defined("sign", x);
  return with_grad(run_unary(UnaryOp::Sign, "sign", x, x.dtype(), x.dtype()), x, "SignBackward", zero_grad);
}

Tensor sin(const Tensor& x) {
  return with_grad(float_unary(UnaryOp::Sin, "sin", x), x, "SinBackward",
                   [sx = SavedTensor(x)](const Ctx& c) { return tensor_list{mul(c.grad(), cos(sx.unpack()))}; });
}

Tensor cos(const Tensor& x) {
  return with_grad(float_unary(UnaryOp::Cos, "cos", x), x, "CosBackward", [sx = SavedTensor(x)](const Ctx& c) {
    return tensor_list{neg(mul(c.grad(), sin(sx.unpack())))};
  });
}

Tensor tanh(const Tensor& x) {
  return with_grad(float_unary(UnaryOp::Tanh, "tanh", x), x, "TanhBackward", [](const Ctx& c) {
    Tensor y = c.output();
    if (auto f = fused_backward(cpu::UnaryGradOp::Tanh, c.grad(), y)) return tensor_list{*f};
    return tensor_list{mul(c.grad(), rsub(mul(y, y), 1))};  // g (1 - y^2)
  }, true);
}

Tensor sigmoid(const Tensor& x) {
  return with_grad(float_unary(UnaryOp::Sigmoid, "sigmoid", x), x, "SigmoidBackward", [](const Ctx& c) {
    Tensor y = c.output();
    if (auto f = fused_backward(cpu::UnaryGradOp::Sigmoid, c.grad(), y)) return tensor_list{*f};
    return tensor_list{mul(c.grad(), mul(y, rsub(y, 1)))};  // g y (1 - y)
  }, true);
}

Tensor erf(const Tensor& x) {
  // d/dx erf(x) = 2/sqrt(pi) exp(-x^2)
  return with_grad(float_unary(UnaryOp::Erf, "erf", x), x, "ErfBackward", [sx = SavedTensor(x)](const Ctx& c) {
    Tensor xv = sx.unpack();
    return tensor_list{mul(c.grad(), mul(exp(neg(mul(xv, xv))), 2.0 * std::numbers::inv_sqrtpi))};
  });
}

Tensor floor(const Tensor& x) {
  check_defined("floor", x);
  return with_grad(run_unary(UnaryOp::Floor, "floor", x, x.dtype(), x.dtype()), x, "FloorBackward", zero_grad);
}

Tensor round(const Tensor& x) {
  check_defined("round", x);
  return with_grad(run_unary(UnaryOp::Round, "round", x, x.dtype(), x.dtype()), x, "RoundBackward", zero_grad);
}

Tensor square(const Tensor& x) {
  check_defined("square", x);
  const DType dt = x.dtype() == kBool ? kInt64 : x.dtype();  // like pow(x, 2)
  return with_grad(run_unary(UnaryOp::Square, "square", x, dt, dt), x, "SquareBackward",
                   [sx = SavedTensor(x)](const Ctx& c) { return tensor_list{mul(c.grad(), mul(sx.unpack(), 2))}; });
}

Tensor reciprocal(const Tensor& x) {
  return with_grad(float_unary(UnaryOp::Reciprocal, "reciprocal", x), x, "ReciprocalBackward", [](const Ctx& c) {
    Tensor y = c.output();
    return tensor_list{neg(mul(c.grad(), mul(y, y)))};
  }, true);
}

// ---------------------------------------------------------------------------
// activations

Tensor relu(const Tensor& x) {
  check_defined("relu", x);
  WICK_CHECK(x.dtype() != kBool, "relu: bool inputs are not supported");
  return with_grad(run_unary(UnaryOp::Relu, "relu", x, x.dtype(), x.dtype()), x, "ReluBackward",
                   [](const Ctx& c) { return tensor_list{relu_backward(c.grad(), c.output())}; }, true);
}

Tensor relu_backward(const Tensor& grad, const Tensor& y) {
  if (auto f = fused_backward(cpu::UnaryGradOp::Relu, grad, y)) return *f;
  return where(gt(y, 0), grad, 0);
}

Tensor leaky_relu(const Tensor& x, double negative_slope) {
  check_floating("leaky_relu", x);
  Tensor out = run_unary(UnaryOp::LeakyRelu, "leaky_relu", x, x.dtype(), x.dtype(), negative_slope);
  return with_grad(out, x, "LeakyReluBackward", [sx = SavedTensor(x), negative_slope](const Ctx& c) {
    return tensor_list{where(gt(sx.unpack(), 0), c.grad(), mul(c.grad(), negative_slope))};
  });
}

Tensor gelu(const Tensor& x, const std::string& approximate) {
  check_floating("gelu", x);
  WICK_CHECK(approximate == "none" || approximate == "tanh", "gelu: approximate must be \"none\" or \"tanh\", got \"",
             approximate, "\"");
  if (approximate == "none") {
    Tensor out = run_unary(UnaryOp::Gelu, "gelu", x, x.dtype(), x.dtype());
    // d/dx x Phi(x) = Phi(x) + x phi(x)
    return with_grad(out, x, "GeluBackward", [sx = SavedTensor(x)](const Ctx& c) {
      Tensor xv = sx.unpack();
      if (auto f = fused_backward(cpu::UnaryGradOp::Gelu, c.grad(), xv)) return tensor_list{*f};
      Tensor cdf = mul(add(erf(mul(xv, 0.5 * std::numbers::sqrt2)), 1), 0.5);
      return tensor_list{mul(c.grad(), add(cdf, mul(xv, normal_pdf(xv))))};
    });
  }
  Tensor out = run_unary(UnaryOp::GeluTanh, "gelu", x, x.dtype(), x.dtype());
  // With u = k (x + 0.044715 x^3), k = sqrt(2/pi), t = tanh(u):
  // d/dx 0.5 x (1 + t) = 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 * 0.044715 x^2)
  return with_grad(out, x, "GeluBackward", [sx = SavedTensor(x)](const Ctx& c) {
    constexpr double k = 0.79788456080286535588, a = 0.044715;
    Tensor xv = sx.unpack();
    if (auto f = fused_backward(cpu::UnaryGradOp::GeluTanh, c.grad(), xv)) return tensor_list{*f};
    Tensor x2 = mul(xv, xv);
    Tensor t = tanh(mul(mul(add(mul(x2, a), 1), xv), k));
    Tensor du = mul(add(mul(x2, 3 * a), 1), k);
    Tensor d = mul(add(add(t, 1), mul(mul(xv, rsub(mul(t, t), 1)), du)), 0.5);
    return tensor_list{mul(c.grad(), d)};
  });
}

Tensor silu(const Tensor& x) {
  check_floating("silu", x);
  Tensor out = run_unary(UnaryOp::Silu, "silu", x, x.dtype(), x.dtype());
  // d/dx x s(x) = s (1 + x (1 - s))
  return with_grad(out, x, "SiluBackward", [sx = SavedTensor(x)](const Ctx& c) {
    Tensor xv = sx.unpack();
    if (auto f = fused_backward(cpu::UnaryGradOp::Silu, c.grad(), xv)) return tensor_list{*f};
    Tensor s = sigmoid(xv);
    return tensor_list{mul(c.grad(), mul(s, add(mul(xv, rsub(s, 1)), 1)))};
  });
}

Tensor softplus(const Tensor& x, double beta, double threshold) {
  check_floating("softplus", x);
  WICK_CHECK(beta != 0, "softplus: beta must be nonzero");
  Tensor out = run_unary(UnaryOp::Softplus, "softplus", x, x.dtype(), x.dtype(), beta, threshold);
  // d/dx log(1 + exp(beta x)) / beta = sigmoid(beta x); 1 in the linear region
  return with_grad(out, x, "SoftplusBackward", [sx = SavedTensor(x), beta, threshold](const Ctx& c) {
    if (auto f = fused_backward(cpu::UnaryGradOp::Softplus, c.grad(), sx.unpack(), beta, threshold))
      return tensor_list{*f};
    Tensor z = mul(sx.unpack(), beta);
    return tensor_list{where(gt(z, threshold), c.grad(), mul(c.grad(), sigmoid(z)))};
  });
}

// ---------------------------------------------------------------------------
// comparisons and logic

Tensor eq(const Tensor& a, const Tensor& b) { return compare(BinaryOp::Eq, "eq", a, b); }
Tensor eq(const Tensor& a, const Scalar& b) { return compare(BinaryOp::Eq, "eq", a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare(BinaryOp::Ne, "ne", a, b); }
Tensor ne(const Tensor& a, const Scalar& b) { return compare(BinaryOp::Ne, "ne", a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare(BinaryOp::Lt, "lt", a, b); }
Tensor lt(const Tensor& a, const Scalar& b) { return compare(BinaryOp::Lt, "lt", a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return compare(BinaryOp::Le, "le", a, b); }
Tensor le(const Tensor& a, const Scalar& b) { return compare(BinaryOp::Le, "le", a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare(BinaryOp::Gt, "gt", a, b); }
Tensor gt(const Tensor& a, const Scalar& b) { return compare(BinaryOp::Gt, "gt", a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare(BinaryOp::Ge, "ge", a, b); }
Tensor ge(const Tensor& a, const Scalar& b) { return compare(BinaryOp::Ge, "ge", a, b); }

// Logical ops test "nonzero" in the common dtype (promotion keeps zero and nonzero apart).
Tensor logical_and(const Tensor& a, const Tensor& b) { return compare(BinaryOp::LogicalAnd, "logical_and", a, b); }
Tensor logical_or(const Tensor& a, const Tensor& b) { return compare(BinaryOp::LogicalOr, "logical_or", a, b); }
Tensor logical_xor(const Tensor& a, const Tensor& b) { return compare(BinaryOp::LogicalXor, "logical_xor", a, b); }
Tensor logical_not(const Tensor& a) {
  check_defined("logical_not", a);
  return run_unary(UnaryOp::LogicalNot, "logical_not", a, a.dtype(), kBool);
}

Tensor isinf(const Tensor& x) {
  check_defined("isinf", x);
  return run_unary(UnaryOp::IsInf, "isinf", x, x.dtype(), kBool);
}
Tensor isfinite(const Tensor& x) {
  check_defined("isfinite", x);
  return run_unary(UnaryOp::IsFinite, "isfinite", x, x.dtype(), kBool);
}

// ---------------------------------------------------------------------------
// selection

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_defined("where", a);
  check_defined("where", b);
  return where_impl(cond, a, b, result_type(a, b));
}

Tensor where(const Tensor& cond, const Tensor& a, const Scalar& b) {
  check_defined("where", a);
  const DType dt = result_type(a, b);
  return where_impl(cond, a, wrap(b, dt, a), dt);
}

Tensor where(const Tensor& cond, const Scalar& a, const Tensor& b) {
  check_defined("where", b);
  const DType dt = result_type(b, a);
  return where_impl(cond, wrap(a, dt, b), b, dt);
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, const Scalar& v) {
  check_mask("masked_fill", x, mask);
  Tensor out;
  {
    NoGradGuard ng;
    out = empty(x.sizes(), TensorOptions(x.dtype()).device(x.device()));
    kern::where(out, mask, wrap(v, x.dtype(), x), x);  // v converted to x's dtype, like PyTorch
  }
  return with_grad(out, x, "MaskedFillBackward",
                   [sm = SavedTensor(mask)](const Ctx& c) { return tensor_list{where(sm.unpack(), 0, c.grad())}; });
}

// ---------------------------------------------------------------------------
// more in-place variants (the node takes the op's name, so that
// apply_inplace's errors name the op the user called)

Tensor& pow_(Tensor& a, const Scalar& e) {
  check_defined("pow_", a);
  const DType dt = result_type(a, e);
  WICK_CHECK(dt != kBool, "pow_: not supported for two bool operands");
  WICK_CHECK(!(is_integral(dt) && e.to_int() < 0), "pow_: integers to negative integer powers are not allowed (",
             a.dtype(), " tensor ** ", e.to_int(), ")");
  // The gradient needs a's old value: a differentiable clone keeps it connected.
  SavedTensor old(autograd::needs_grad({a}) ? a.clone() : Tensor());
  apply_inplace(a, {}, "pow_", [&] { run_binary_into(BinaryOp::Pow, "pow_", a, wrap(e, dt, a), dt); },
                [old, e](const Ctx& c) {
                  if (e.to_double() == 0.0) return tensor_list{zeros_like(c.grad())};
                  return tensor_list{mul(c.grad(), mul(pow(old.unpack(), scalar_minus_one(e)), e))};
                });
  return a;
}

Tensor& neg_(Tensor& a) {
  check_defined("neg_", a);
  WICK_CHECK(a.dtype() != kBool, "neg_: negation of a bool tensor is not supported; use logical_not");
  apply_inplace(a, {}, "neg_", [&] { run_unary_into(UnaryOp::Neg, "neg_", a, false); },
                [](const Ctx& c) { return tensor_list{neg(c.grad())}; });
  return a;
}

Tensor& exp_(Tensor& a) {
  check_defined("exp_", a);
  apply_inplace(a, {}, "exp_", [&] { run_unary_into(UnaryOp::Exp, "exp_", a, true); },
                [](const Ctx& c) { return tensor_list{mul(c.grad(), c.output())}; }, true);
  return a;
}

Tensor& log_(Tensor& a) {
  check_defined("log_", a);
  SavedTensor old(autograd::needs_grad({a}) ? a.clone() : Tensor());
  apply_inplace(a, {}, "log_", [&] { run_unary_into(UnaryOp::Log, "log_", a, true); },
                [old](const Ctx& c) { return tensor_list{div(c.grad(), old.unpack())}; });
  return a;
}

Tensor& sqrt_(Tensor& a) {
  check_defined("sqrt_", a);
  apply_inplace(a, {}, "sqrt_", [&] { run_unary_into(UnaryOp::Sqrt, "sqrt_", a, true); },
                [](const Ctx& c) { return tensor_list{div(c.grad(), mul(c.output(), 2))}; }, true);
  return a;
}

Tensor& abs_(Tensor& a) {
  check_defined("abs_", a);
  WICK_CHECK(a.dtype() != kBool, "abs_: not supported for bool tensors");
  SavedTensor old(autograd::needs_grad({a}) ? a.clone() : Tensor());
  apply_inplace(a, {}, "abs_", [&] { run_unary_into(UnaryOp::Abs, "abs_", a, false); },
                [old](const Ctx& c) { return tensor_list{mul(c.grad(), sign(old.unpack()))}; });
  return a;
}

Tensor& tanh_(Tensor& a) {
  check_defined("tanh_", a);
  apply_inplace(a, {}, "tanh_", [&] { run_unary_into(UnaryOp::Tanh, "tanh_", a, true); },
                [](const Ctx& c) {
                  Tensor y = c.output();
                  if (auto f = fused_backward(cpu::UnaryGradOp::Tanh, c.grad(), y)) return tensor_list{*f};
                  return tensor_list{mul(c.grad(), rsub(mul(y, y), 1))};
                }, true);
  return a;
}

Tensor& sigmoid_(Tensor& a) {
  check_defined("sigmoid_", a);
  apply_inplace(a, {}, "sigmoid_", [&] { run_unary_into(UnaryOp::Sigmoid, "sigmoid_", a, true); },
                [](const Ctx& c) {
                  Tensor y = c.output();
                  if (auto f = fused_backward(cpu::UnaryGradOp::Sigmoid, c.grad(), y)) return tensor_list{*f};
                  return tensor_list{mul(c.grad(), mul(y, rsub(y, 1)))};
                }, true);
  return a;
}

Tensor& relu_(Tensor& a) {
  check_defined("relu_", a);
  WICK_CHECK(a.dtype() != kBool, "relu_: bool inputs are not supported");
  apply_inplace(a, {}, "relu_", [&] { run_unary_into(UnaryOp::Relu, "relu_", a, false); },
                [](const Ctx& c) {
                  if (auto f = fused_backward(cpu::UnaryGradOp::Relu, c.grad(), c.output())) return tensor_list{*f};
                  return tensor_list{where(gt(c.output(), 0), c.grad(), 0)};
                }, true);
  return a;
}

Tensor& clamp_(Tensor& x, std::optional<Scalar> lo, std::optional<Scalar> hi) {
  check_defined("clamp_", x);
  WICK_CHECK(lo || hi, "clamp_: at least one of lo and hi must be given");
  check_backend("clamp_", x);
  DType dt = x.dtype();
  if (lo) dt = with_scalar(dt, *lo);
  if (hi) dt = with_scalar(dt, *hi);
  WICK_CHECK(dt == x.dtype(), "clamp_: result type ", dt, " can't be cast to the desired output type ", x.dtype());
  WICK_CHECK(dt != kBool, "clamp_: not supported for bool tensors with bool bounds");
  // Which elements pass the gradient depends on the old values: keep that mask (1 byte each).
  Tensor inside;
  if (autograd::needs_grad({x})) {
    NoGradGuard ng;
    inside = clamp_inside(x, lo, hi);
  }
  apply_inplace(x, {}, "clamp_",
                [&] {
                  NoGradGuard ng;
                  kern::clamp(x, x, lo, hi);
                },
                [inside](const Ctx& c) { return tensor_list{where(inside, c.grad(), 0)}; });
  return x;
}

Tensor& lerp_(Tensor& a, const Tensor& b, const Scalar& w) {
  check_lerp("lerp_", a, b, Tensor());
  WICK_CHECK(broadcast_shapes(a.sizes(), b.sizes(), "lerp_") == a.sizes(), "lerp_: output with shape ",
             shape_str(a.sizes()), " doesn't match the broadcast shape ",
             shape_str(broadcast_shapes(a.sizes(), b.sizes(), "lerp_")));
  apply_inplace(a, {b}, "lerp_",
                [&] {
                  NoGradGuard ng;
                  kern::lerp(a, a, b, wrap(w, a.dtype(), a));
                },
                [sb = b.sizes(), w](const Ctx& c) {
                  Tensor gb = c.needs_input_grad(1) ? sum_to(mul(c.grad(), w), sb) : Tensor();
                  return tensor_list{mul(c.grad(), 1.0 - w.to_double()), gb};
                });
  return a;
}

Tensor& masked_fill_(Tensor& x, const Tensor& mask, const Scalar& v) {
  check_mask("masked_fill_", x, mask);
  apply_inplace(x, {}, "masked_fill_",
                [&] {
                  NoGradGuard ng;
                  kern::where(x, mask, wrap(v, x.dtype(), x), x);
                },
                [sm = SavedTensor(mask)](const Ctx& c) { return tensor_list{where(sm.unpack(), 0, c.grad())}; });
  return x;
}

namespace {
Tensor& fill_named(Tensor& x, const Scalar& v, const char* name) {
  check_defined(name, x);
#ifdef WICK_WITH_CUDA
  if (x.is_cuda()) {
    apply_inplace(x, {}, name, [&] { cuda::fill(x, v); }, zero_grad);
    return x;
  }
#endif
  check_backend(name, x);
  // The old value does not influence the result: its gradient is zero.
  apply_inplace(x, {}, name, [&] { kern::fill(x, v); }, zero_grad);
  return x;
}
}  // namespace

Tensor& fill_(Tensor& x, const Scalar& v) { return fill_named(x, v, "fill_"); }
Tensor& zero_(Tensor& x) { return fill_named(x, 0, "zero_"); }

// ---------------------------------------------------------------------------
// in place

Tensor& add_(Tensor& a, const Tensor& b, const Scalar& alpha) {
  if (!(alpha.is_integral() && alpha.to_int() == 1)) return add_(a, mul(b, alpha));
  Shape sb = b.sizes();
  apply_inplace(a, {b}, "AddBackward", [&] { run_binary_into(BinaryOp::Add, "add_", a, b, result_type(a, b)); },
                [sb](const Ctx& c) { return tensor_list{c.grad(), sum_to(c.grad(), sb)}; });
  return a;
}
Tensor& add_(Tensor& a, const Scalar& b) { return add_(a, wrap(b, result_type(a, b), a)); }

Tensor& sub_(Tensor& a, const Tensor& b, const Scalar& alpha) {
  if (!(alpha.is_integral() && alpha.to_int() == 1)) return sub_(a, mul(b, alpha));
  Shape sb = b.sizes();
  apply_inplace(a, {b}, "SubBackward", [&] { run_binary_into(BinaryOp::Sub, "sub_", a, b, result_type(a, b)); },
                [sb](const Ctx& c) { return tensor_list{c.grad(), sum_to(neg(c.grad()), sb)}; });
  return a;
}
Tensor& sub_(Tensor& a, const Scalar& b) { return sub_(a, wrap(b, result_type(a, b), a)); }

Tensor& mul_(Tensor& a, const Tensor& b) {
  // The gradient w.r.t. b needs a's old value.
  SavedTensor old_a(autograd::needs_grad({b}) ? a.detach().clone() : Tensor());
  SavedTensor sb(b);
  Shape shape_b = b.sizes();
  apply_inplace(a, {b}, "MulBackward", [&] { run_binary_into(BinaryOp::Mul, "mul_", a, b, result_type(a, b)); },
                [old_a, sb, shape_b](const Ctx& c) {
                  Tensor gb = c.needs_input_grad(1) ? sum_to(mul(c.grad(), old_a.unpack()), shape_b) : Tensor();
                  return tensor_list{mul(c.grad(), sb.unpack()), gb};
                });
  return a;
}
Tensor& mul_(Tensor& a, const Scalar& b) { return mul_(a, wrap(b, result_type(a, b), a)); }

Tensor& div_(Tensor& a, const Tensor& b) {
  WICK_CHECK(is_floating(a.dtype()), "div_: result type ", float_result(result_type(a, b)),
             " can't be cast to the desired output type ", a.dtype(), " (true division of an integer tensor in place; use div())");
  SavedTensor sb(b);
  Shape shape_b = b.sizes();
  apply_inplace(
      a, {b}, "DivBackward", [&] { run_binary_into(BinaryOp::Div, "div_", a, b, float_result(result_type(a, b))); },
      [sb, shape_b](const Ctx& c) {
        Tensor bv = sb.unpack();
        Tensor ga = div(c.grad(), bv);
        // out = old_a / b  =>  d/db = -out / b
        Tensor gb = c.needs_input_grad(1) ? sum_to(neg(div(mul(c.grad(), c.output()), bv)), shape_b) : Tensor();
        return tensor_list{ga, gb};
      },
      /*save_output=*/true);
  return a;
}
Tensor& div_(Tensor& a, const Scalar& b) { return div_(a, wrap(b, result_type(a, b), a)); }

// ---------------------------------------------------------------------------
// operators

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator+(const Tensor& a, const Scalar& b) { return add(a, b); }
Tensor operator+(const Scalar& a, const Tensor& b) { return add(b, a); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator-(const Tensor& a, const Scalar& b) { return sub(a, b); }
Tensor operator-(const Scalar& a, const Tensor& b) { return rsub(b, a); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator*(const Tensor& a, const Scalar& b) { return mul(a, b); }
Tensor operator*(const Scalar& a, const Tensor& b) { return mul(b, a); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator/(const Tensor& a, const Scalar& b) { return div(a, b); }
Tensor operator/(const Scalar& a, const Tensor& b) { return rdiv(b, a); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator==(const Tensor& a, const Tensor& b) { return eq(a, b); }
Tensor operator==(const Tensor& a, const Scalar& b) { return eq(a, b); }
Tensor operator!=(const Tensor& a, const Tensor& b) { return ne(a, b); }
Tensor operator!=(const Tensor& a, const Scalar& b) { return ne(a, b); }
Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
Tensor operator<(const Tensor& a, const Scalar& b) { return lt(a, b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
Tensor operator<=(const Tensor& a, const Scalar& b) { return le(a, b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
Tensor operator>(const Tensor& a, const Scalar& b) { return gt(a, b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
Tensor operator>=(const Tensor& a, const Scalar& b) { return ge(a, b); }

// &, |, ^, ~ are the logical ops on bool tensors; on integers PyTorch makes
// them bitwise, which wick does not implement, so those are rejected.
namespace {
void check_bool_operands(const char* op, const Tensor& a, const Tensor& b) {
  check_defined(op, a);
  check_defined(op, b);
  WICK_CHECK(a.dtype() == kBool && b.dtype() == kBool, op, ": expected bool tensors, got ", a.dtype(), " and ",
             b.dtype(), " (bitwise ops on integers are not supported; use logical_and/or/xor)");
}
}  // namespace

Tensor operator&(const Tensor& a, const Tensor& b) {
  check_bool_operands("operator&", a, b);
  return logical_and(a, b);
}
Tensor operator|(const Tensor& a, const Tensor& b) {
  check_bool_operands("operator|", a, b);
  return logical_or(a, b);
}
Tensor operator^(const Tensor& a, const Tensor& b) {
  check_bool_operands("operator^", a, b);
  return logical_xor(a, b);
}
Tensor operator~(const Tensor& a) {
  check_defined("operator~", a);
  WICK_CHECK(a.dtype() == kBool, "operator~: expected a bool tensor, got ", a.dtype(),
             " (bitwise not on integers is not supported; use logical_not)");
  return logical_not(a);
}
Tensor& operator+=(Tensor& a, const Tensor& b) { return add_(a, b); }
Tensor& operator+=(Tensor& a, const Scalar& b) { return add_(a, b); }
Tensor& operator-=(Tensor& a, const Tensor& b) { return sub_(a, b); }
Tensor& operator-=(Tensor& a, const Scalar& b) { return sub_(a, b); }
Tensor& operator*=(Tensor& a, const Tensor& b) { return mul_(a, b); }
Tensor& operator*=(Tensor& a, const Scalar& b) { return mul_(a, b); }
Tensor& operator/=(Tensor& a, const Tensor& b) { return div_(a, b); }
Tensor& operator/=(Tensor& a, const Scalar& b) { return div_(a, b); }

}  // namespace wick
