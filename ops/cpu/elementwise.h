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
// out = op(a, b); a and b share one dtype (broadcast to out's shape); out has
// that dtype, or bool for comparisons and logical ops.
void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b);
// out = cond ? a : b; cond bool, a/b/out one dtype.
void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b);

}  // namespace wick::cpu
