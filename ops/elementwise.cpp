// Elementwise ops: dtype and shape rules, dispatch to the kernels, and the
// backward formulas (written with ops, so they are differentiable again).
#include "ops/elementwise.h"

#include <cmath>

#include "autograd/function.h"
#include "ops/copy.h"
#include "ops/cpu/elementwise.h"
#include "ops/cpu/fill.h"
#include "ops/creation.h"
#include "ops/inplace.h"
#include "ops/reduction.h"

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

void check_same_device(const char* name, const Tensor& a, const Tensor& b) {
  WICK_CHECK(a.device() == b.device(), name, ": expected all tensors on the same device, got ", a.device(), " and ",
             b.device());
}

void check_backend(const char* name, const Tensor& t) {
  WICK_CHECK(t.is_cpu(), name, ": no kernel for device ", t.device(), " in this build");
}

// out = op(x) computed in dtype `compute`; out has dtype `out_dtype`.
Tensor run_unary(UnaryOp op, const char* name, const Tensor& x, DType compute, DType out_dtype, double p0 = 0,
                 double p1 = 0) {
  WICK_CHECK(x.defined(), name, ": undefined tensor");
  check_backend(name, x);
  NoGradGuard ng;
  Tensor xc = x.to(compute);
  Tensor out = empty(x.sizes(), TensorOptions(out_dtype).device(x.device()));
  cpu::unary(op, out, xc, p0, p1);
  return out;
}

Tensor run_binary(BinaryOp op, const char* name, const Tensor& a, const Tensor& b, DType compute, DType out_dtype) {
  WICK_CHECK(a.defined() && b.defined(), name, ": undefined tensor");
  check_same_device(name, a, b);
  check_backend(name, a);
  Shape shape = broadcast_shapes(a.sizes(), b.sizes(), name);
  NoGradGuard ng;
  Tensor ac = a.to(compute), bc = b.to(compute);
  Tensor out = empty(shape, TensorOptions(out_dtype).device(a.device()));
  cpu::binary(op, out, ac, bc);
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
    cpu::binary(op, self, self, b.to(compute));
  } else {
    Tensor tmp = run_binary(op, name, self, b, compute, compute);
    cpu::copy(self, tmp);
  }
}

Tensor wrap(const Scalar& s, DType dt, const Tensor& like) {
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
  WICK_CHECK(is_floating(a.dtype()), "div_: true division of an integer tensor (", a.dtype(),
             ") in place is not possible; use div()");
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
Tensor& operator+=(Tensor& a, const Tensor& b) { return add_(a, b); }
Tensor& operator+=(Tensor& a, const Scalar& b) { return add_(a, b); }
Tensor& operator-=(Tensor& a, const Tensor& b) { return sub_(a, b); }
Tensor& operator-=(Tensor& a, const Scalar& b) { return sub_(a, b); }
Tensor& operator*=(Tensor& a, const Tensor& b) { return mul_(a, b); }
Tensor& operator*=(Tensor& a, const Scalar& b) { return mul_(a, b); }
Tensor& operator/=(Tensor& a, const Tensor& b) { return div_(a, b); }
Tensor& operator/=(Tensor& a, const Scalar& b) { return div_(a, b); }

}  // namespace wick
