// Elementwise ops with NumPy broadcasting, PyTorch type promotion and scalar
// operands. In-place variants (name_) write into their first argument.
//
// Dtypes: arithmetic ops promote their operands (int32 + float32 -> float32;
// a float scalar with an int tensor -> the default float dtype); floating
// functions (exp, sigmoid, ...) turn integer inputs into the default float
// dtype; comparisons and logical ops return bool.
#pragma once

#include "tensor/tensor.h"

namespace wick {

// Result dtype of a binary op (torch.result_type): dimensioned tensors take
// precedence over 0-d tensors, which take precedence over bare scalars,
// unless the lower-priority operand is of a higher category (bool < int < float).
DType result_type(const Tensor& a, const Tensor& b);
DType result_type(const Tensor& a, const Scalar& b);

// Sums `grad` over broadcast dims so it has `shape` (the backward of broadcasting).
Tensor sum_to(const Tensor& grad, const Shape& shape);

// ---- arithmetic ----
Tensor add(const Tensor& a, const Tensor& b, const Scalar& alpha = 1);  // a + alpha * b
Tensor add(const Tensor& a, const Scalar& b);
Tensor sub(const Tensor& a, const Tensor& b, const Scalar& alpha = 1);  // a - alpha * b
Tensor sub(const Tensor& a, const Scalar& b);
Tensor rsub(const Tensor& a, const Scalar& b);  // b - a
Tensor mul(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Scalar& b);
Tensor div(const Tensor& a, const Tensor& b);  // true division (ints -> float)
Tensor div(const Tensor& a, const Scalar& b);
Tensor rdiv(const Tensor& a, const Scalar& b);  // b / a
Tensor neg(const Tensor& a);
Tensor pow(const Tensor& a, const Tensor& e);
Tensor pow(const Tensor& a, const Scalar& e);
Tensor pow(const Scalar& a, const Tensor& e);
Tensor minimum(const Tensor& a, const Tensor& b);  // NaN-propagating
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor atan2(const Tensor& y, const Tensor& x);
// clamp(x, lo, hi); either bound may be omitted.
Tensor clamp(const Tensor& x, std::optional<Scalar> lo, std::optional<Scalar> hi);
Tensor clamp(const Tensor& x, const Tensor& lo, const Tensor& hi);
Tensor clamp_min(const Tensor& x, const Scalar& lo);
Tensor clamp_max(const Tensor& x, const Scalar& hi);
// a + w * (b - a)
Tensor lerp(const Tensor& a, const Tensor& b, const Scalar& w);
Tensor lerp(const Tensor& a, const Tensor& b, const Tensor& w);

// ---- unary math (integer inputs promote to the default float dtype) ----
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor log1p(const Tensor& x);  // log(1 + x)
Tensor expm1(const Tensor& x);  // exp(x) - 1
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);  // 1 / sqrt(x)
Tensor abs(const Tensor& x);    // keeps integer dtypes
Tensor sign(const Tensor& x);   // keeps integer dtypes; gradient 0
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);  // 1 / (1 + exp(-x))
Tensor erf(const Tensor& x);
Tensor floor(const Tensor& x);  // gradient 0
Tensor round(const Tensor& x);  // half to even, like torch.round; gradient 0
Tensor square(const Tensor& x);
Tensor reciprocal(const Tensor& x);

// ---- activations ----
Tensor relu(const Tensor& x);
// relu's backward from its output y: grad where y > 0, else 0 (PyTorch's
// threshold_backward). One fused pass when the backward is not recorded;
// differentiable in grad (where(y > 0, grad, 0)) under create_graph.
Tensor relu_backward(const Tensor& grad, const Tensor& y);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
// approximate: "none" (x * Phi(x)) or "tanh" (0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))))
Tensor gelu(const Tensor& x, const std::string& approximate = "none");
Tensor silu(const Tensor& x);  // x * sigmoid(x)
// (1/beta) log(1 + exp(beta x)); linear above threshold like torch
Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0);

// ---- comparisons and logic (bool results) ----
Tensor eq(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, const Scalar& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Scalar& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Scalar& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Scalar& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Scalar& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Scalar& b);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_xor(const Tensor& a, const Tensor& b);
Tensor logical_not(const Tensor& a);
Tensor isnan(const Tensor& x);
Tensor isinf(const Tensor& x);
Tensor isfinite(const Tensor& x);

// ---- selection ----
// cond ? a : b, broadcast over all three; cond must be bool.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, const Scalar& b);
Tensor where(const Tensor& cond, const Scalar& a, const Tensor& b);
// x with v where mask (bool, broadcast to x) is true.
Tensor masked_fill(const Tensor& x, const Tensor& mask, const Scalar& v);

// ---- in-place variants ----
Tensor& add_(Tensor& a, const Tensor& b, const Scalar& alpha = 1);
Tensor& add_(Tensor& a, const Scalar& b);
Tensor& sub_(Tensor& a, const Tensor& b, const Scalar& alpha = 1);
Tensor& sub_(Tensor& a, const Scalar& b);
Tensor& mul_(Tensor& a, const Tensor& b);
Tensor& mul_(Tensor& a, const Scalar& b);
Tensor& div_(Tensor& a, const Tensor& b);
Tensor& div_(Tensor& a, const Scalar& b);
Tensor& pow_(Tensor& a, const Scalar& e);
Tensor& neg_(Tensor& a);
Tensor& exp_(Tensor& a);
Tensor& log_(Tensor& a);
Tensor& sqrt_(Tensor& a);
Tensor& abs_(Tensor& a);
Tensor& tanh_(Tensor& a);
Tensor& sigmoid_(Tensor& a);
Tensor& relu_(Tensor& a);
Tensor& clamp_(Tensor& x, std::optional<Scalar> lo, std::optional<Scalar> hi);
Tensor& lerp_(Tensor& a, const Tensor& b, const Scalar& w);
Tensor& masked_fill_(Tensor& x, const Tensor& mask, const Scalar& v);
Tensor& fill_(Tensor& x, const Scalar& v);
Tensor& zero_(Tensor& x);

// ---- operators ----
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, const Scalar& b);
Tensor operator+(const Scalar& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Scalar& b);
Tensor operator-(const Scalar& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Scalar& b);
Tensor operator*(const Scalar& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Scalar& b);
Tensor operator/(const Scalar& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator==(const Tensor& a, const Tensor& b);
Tensor operator==(const Tensor& a, const Scalar& b);
Tensor operator!=(const Tensor& a, const Tensor& b);
Tensor operator!=(const Tensor& a, const Scalar& b);
Tensor operator<(const Tensor& a, const Tensor& b);
Tensor operator<(const Tensor& a, const Scalar& b);
Tensor operator<=(const Tensor& a, const Tensor& b);
Tensor operator<=(const Tensor& a, const Scalar& b);
Tensor operator>(const Tensor& a, const Tensor& b);
Tensor operator>(const Tensor& a, const Scalar& b);
Tensor operator>=(const Tensor& a, const Tensor& b);
Tensor operator>=(const Tensor& a, const Scalar& b);
// Logical for bool tensors (like torch's &, |, ^, ~ on bool tensors).
Tensor operator&(const Tensor& a, const Tensor& b);
Tensor operator|(const Tensor& a, const Tensor& b);
Tensor operator^(const Tensor& a, const Tensor& b);
Tensor operator~(const Tensor& a);
Tensor& operator+=(Tensor& a, const Tensor& b);
Tensor& operator+=(Tensor& a, const Scalar& b);
Tensor& operator-=(Tensor& a, const Tensor& b);
Tensor& operator-=(Tensor& a, const Scalar& b);
Tensor& operator*=(Tensor& a, const Tensor& b);
Tensor& operator*=(Tensor& a, const Scalar& b);
Tensor& operator/=(Tensor& a, const Tensor& b);
Tensor& operator/=(Tensor& a, const Scalar& b);

}  // namespace wick
