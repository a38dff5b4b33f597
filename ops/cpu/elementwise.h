// CPU elementwise kernels, one entry point per arity, selected by an enum
// (the CUDA backend mirrors the same enums). The ops in ops/elementwise.cpp
// decide dtypes and shapes; these kernels only compute.
#pragma once

#include "tensor/tensor.h"

namespace wick::cpu {

enum class UnaryOp {
  Neg, Exp, Log, Log1p, Expm1, Sqrt, Rsqrt, Abs, Sign, Sin, Cos, Tanh, Sigmoid, Erf, Floor, Round,
  Square, Reciprocal, Relu, LeakyRelu /*p0 = slope*/, Gelu, GeluTanh, Silu,
  Softplus /*p0 = beta, p1 = threshold*/, IsNan, IsInf, IsFinite, LogicalNot,
  // derivative helpers used by backward formulas
  NormalPdf,  // exp(-x^2/2) / sqrt(2 pi)
};

enum class BinaryOp {
  Add, Sub, Mul, Div, Pow, Minimum, Maximum, Atan2,
  Eq, Ne, Lt, Le, Gt, Ge, LogicalAnd, LogicalOr, LogicalXor,
};

// out = op(x). out and x have the same dtype, except for ops with bool
// results (IsNan, IsInf, IsFinite, LogicalNot), where out is bool.
void unary(UnaryOp op, const Tensor& out, const Tensor& x, double p0 = 0, double p1 = 0);
// Fused activation backward, one pass: out = grad * f'(saved), where saved is
// the op's input x (Gelu, GeluTanh, Silu, Softplus) or its output y (Tanh:
// 1 - y^2, Sigmoid: y (1 - y), Relu: y > 0 ? grad : 0). grad is broadcast to
// out's shape; out, grad and saved share one floating dtype. The op layer uses
// it only when the backward is not recorded (see ops/elementwise.cpp).
enum class UnaryGradOp { Tanh, Sigmoid, Relu, Gelu, GeluTanh, Silu, Softplus /*p0 = beta, p1 = threshold*/ };
void unary_backward(UnaryGradOp op, const Tensor& out, const Tensor& grad, const Tensor& saved, double p0 = 0,
                    double p1 = 0);
// out = op(a, b); a and b share one dtype (broadcast to out's shape); out has
// that dtype, or bool for comparisons and logical ops.
void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b);
// out = cond ? a : b; cond bool, a/b/out one dtype.
void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b);
// out = min(max(x, lo), hi) with scalar bounds converted to x's dtype; an
// absent bound is not applied. NaN in x propagates; lo > hi gives hi.
void clamp(const Tensor& out, const Tensor& x, const std::optional<Scalar>& lo, const std::optional<Scalar>& hi);
// The same with tensor bounds (broadcast to out's shape; undefined = absent);
// a NaN bound gives NaN. x, lo, hi and out share one dtype.
void clamp(const Tensor& out, const Tensor& x, const Tensor& lo, const Tensor& hi);
// out = a + w (b - a), evaluated as b - (b - a)(1 - w) when |w| >= 1/2 so that
// w = 1 gives b exactly (PyTorch's formula). Floating dtypes; w broadcast.
void lerp(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& w);

}  // namespace wick::cpu
