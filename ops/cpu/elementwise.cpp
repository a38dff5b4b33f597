// CPU elementwise kernels: a functor per op, run by the strided loops of
// loops.h (contiguous rows become plain loops the compiler vectorizes).
// Every op here is memory-bound: a unary op moves 2 * sizeof(T) bytes per
// element, a binary op 3 * sizeof(T) (less with a broadcast operand); the
// arithmetic (even exp/erf/tanh from libm) is cheap next to that.
// Integer arithmetic wraps on overflow like PyTorch; NaN propagates through
// minimum/maximum/clamp/relu like PyTorch.
#include "ops/cpu/elementwise.h"

#include <cmath>
#include <limits>

#include "ops/cpu/loops.h"

namespace wick::cpu {

namespace {

constexpr double kSqrt2 = 1.41421356237309504880;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

// Integer arithmetic wraps on overflow (two's complement, like PyTorch)
// instead of being undefined behavior: it is done in the unsigned type W<T>.
template <typename T, bool = std::is_integral_v<T> && !std::is_same_v<T, bool>>
struct wrapping { using type = T; };
template <typename T>
struct wrapping<T, true> { using type = std::make_unsigned_t<T>; };
template <typename T>
using W = typename wrapping<T>::type;

template <typename T>
T round_half_even(T v) {
  if constexpr (std::is_floating_point_v<T>)
    return std::nearbyint(v);  // default rounding mode: to nearest, ties to even
  else
    return v;
}

template <typename T>
void unary_typed(UnaryOp op, const Tensor& out, const Tensor& x, double p0, double p1) {
  auto run = [&](auto f) { unary_loop<T, T>(out, x, f); };
  switch (op) {
    case UnaryOp::Neg: return run([](T v) { return static_cast<T>(W<T>(0) - W<T>(v)); });
    case UnaryOp::Abs:
      return run([](T v) {
        if constexpr (std::is_unsigned_v<T>) return v;
        else if constexpr (std::is_floating_point_v<T>) return std::abs(v);  // abs(-0.0) = +0.0
        else return v < 0 ? static_cast<T>(W<T>(0) - W<T>(v)) : v;  // abs(INT_MIN) = INT_MIN
      });
    case UnaryOp::Sign: return run([](T v) { return static_cast<T>((T(0) < v) - (v < T(0))); });
    case UnaryOp::Square: return run([](T v) { return static_cast<T>(W<T>(v) * W<T>(v)); });
    case UnaryOp::Relu: return run([](T v) { return v < T(0) ? T(0) : v; });  // NaN propagates
    case UnaryOp::Floor:
      return run([](T v) {
        if constexpr (std::is_floating_point_v<T>) return std::floor(v); else return v;  // ints: identity
      });
    case UnaryOp::Round: return run([](T v) { return round_half_even(v); });
    default: break;
  }
  if constexpr (std::is_floating_point_v<T>) {
    const T slope = static_cast<T>(p0), beta = static_cast<T>(p0), threshold = static_cast<T>(p1);
    switch (op) {
      case UnaryOp::Exp: return run([](T v) { return std::exp(v); });
      case UnaryOp::Log: return run([](T v) { return std::log(v); });
      case UnaryOp::Log1p: return run([](T v) { return std::log1p(v); });
      case UnaryOp::Expm1: return run([](T v) { return std::expm1(v); });
      case UnaryOp::Sqrt: return run([](T v) { return std::sqrt(v); });
      case UnaryOp::Rsqrt: return run([](T v) { return T(1) / std::sqrt(v); });
      case UnaryOp::Reciprocal: return run([](T v) { return T(1) / v; });
      case UnaryOp::Sin: return run([](T v) { return std::sin(v); });
      case UnaryOp::Cos: return run([](T v) { return std::cos(v); });
      case UnaryOp::Tanh: return run([](T v) { return std::tanh(v); });
      case UnaryOp::Sigmoid: return run([](T v) { return T(1) / (T(1) + std::exp(-v)); });
      case UnaryOp::Erf: return run([](T v) { return std::erf(v); });
      case UnaryOp::LeakyRelu: return run([slope](T v) { return v > T(0) ? v : v * slope; });
      case UnaryOp::Gelu: return run([](T v) { return T(0.5) * v * (T(1) + std::erf(v / T(kSqrt2))); });
      case UnaryOp::GeluTanh:
        return run([](T v) {
          return T(0.5) * v * (T(1) + std::tanh(T(kSqrt2OverPi) * (v + T(0.044715) * v * v * v)));
        });
      case UnaryOp::Silu: return run([](T v) { return v / (T(1) + std::exp(-v)); });
      case UnaryOp::Softplus:
        return run([beta, threshold](T v) {
          return v * beta > threshold ? v : std::log1p(std::exp(v * beta)) / beta;
        });
      case UnaryOp::NormalPdf: return run([](T v) { return T(kInvSqrt2Pi) * std::exp(T(-0.5) * v * v); });
      default: break;
    }
  }
  WICK_FAIL("elementwise: unary op ", static_cast<int>(op), " not supported for dtype ", x.dtype());
}

template <typename T>
void binary_typed(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  auto arith = [&](auto f) { binary_loop<T, T, T>(out, a, b, f); };
  auto cmp = [&](auto f) { binary_loop<bool, T, T>(out, a, b, f); };
  switch (op) {
    case BinaryOp::Add: return arith([](T x, T y) { return static_cast<T>(W<T>(x) + W<T>(y)); });
    case BinaryOp::Sub: return arith([](T x, T y) { return static_cast<T>(W<T>(x) - W<T>(y)); });
    case BinaryOp::Mul: return arith([](T x, T y) { return static_cast<T>(W<T>(x) * W<T>(y)); });
    case BinaryOp::Div:
      if constexpr (std::is_floating_point_v<T>) return arith([](T x, T y) { return x / y; });
      break;
    case BinaryOp::Pow:
      if constexpr (std::is_floating_point_v<T>) {
        return arith([](T x, T y) { return std::pow(x, y); });
      } else if constexpr (std::is_same_v<T, bool>) {
        return arith([](T x, T y) { return y ? x : true; });
      } else {
        return arith([](T x, T y) {
          // Negative exponents truncate 1/x^|y| toward zero, as PyTorch does
          // (the op layer rejects a negative *scalar* exponent up front).
          if constexpr (std::is_signed_v<T>) {
            if (y < 0) return static_cast<T>(x == 1 ? 1 : x == -1 ? ((y & 1) ? -1 : 1) : 0);
          }
          // Exponentiation by squaring, in unsigned arithmetic so overflow
          // wraps (like PyTorch) instead of being undefined behavior.
          using U = std::make_unsigned_t<T>;
          U r = 1, base = static_cast<U>(x);
          for (auto e = static_cast<U>(y); e > 0; e >>= 1, base = static_cast<U>(base * base))
            if (e & 1) r = static_cast<U>(r * base);
          return static_cast<T>(r);
        });
      }
    case BinaryOp::Minimum:
      return arith([](T x, T y) {
        if constexpr (std::is_floating_point_v<T>) if (std::isnan(x) || std::isnan(y)) return x + y;
        return x < y ? x : y;
      });
    case BinaryOp::Maximum:
      return arith([](T x, T y) {
        if constexpr (std::is_floating_point_v<T>) if (std::isnan(x) || std::isnan(y)) return x + y;
        return x > y ? x : y;
      });
    case BinaryOp::Atan2:
      if constexpr (std::is_floating_point_v<T>) return arith([](T y, T x) { return std::atan2(y, x); });
      break;
    case BinaryOp::Eq: return cmp([](T x, T y) { return x == y; });
    case BinaryOp::Ne: return cmp([](T x, T y) { return x != y; });
    case BinaryOp::Lt: return cmp([](T x, T y) { return x < y; });
    case BinaryOp::Le: return cmp([](T x, T y) { return x <= y; });
    case BinaryOp::Gt: return cmp([](T x, T y) { return x > y; });
    case BinaryOp::Ge: return cmp([](T x, T y) { return x >= y; });
    case BinaryOp::LogicalAnd: return cmp([](T x, T y) { return x != T(0) && y != T(0); });
    case BinaryOp::LogicalOr: return cmp([](T x, T y) { return x != T(0) || y != T(0); });
    case BinaryOp::LogicalXor: return cmp([](T x, T y) { return (x != T(0)) != (y != T(0)); });
  }
  WICK_FAIL("elementwise: binary op ", static_cast<int>(op), " not supported for dtype ", a.dtype());
}

}  // namespace

void unary(UnaryOp op, const Tensor& out, const Tensor& x, double p0, double p1) {
  if (op == UnaryOp::IsNan || op == UnaryOp::IsInf || op == UnaryOp::IsFinite || op == UnaryOp::LogicalNot) {
    WICK_DISPATCH_ALL(x.dtype(), "elementwise", [&]<typename T>() {
      unary_loop<bool, T>(out, x, [op](T v) -> bool {
        if (op == UnaryOp::LogicalNot) return v == T(0);
        if constexpr (std::is_floating_point_v<T>) {
          if (op == UnaryOp::IsNan) return std::isnan(v);
          if (op == UnaryOp::IsInf) return std::isinf(v);
          return std::isfinite(v);
        } else {
          return op == UnaryOp::IsFinite;
        }
      });
    });
    return;
  }
  WICK_DISPATCH_ALL(x.dtype(), "elementwise", [&]<typename T>() { unary_typed<T>(op, out, x, p0, p1); });
}

void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  WICK_DISPATCH_ALL(a.dtype(), "elementwise", [&]<typename T>() { binary_typed<T>(op, out, a, b); });
}

void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  WICK_DISPATCH_ALL(a.dtype(), "where", [&]<typename T>() {
    ternary_loop<T, bool, T, T>(out, cond, a, b, [](bool c, T x, T y) { return c ? x : y; });
  });
}

void clamp(const Tensor& out, const Tensor& x, const std::optional<Scalar>& lo, const std::optional<Scalar>& hi) {
  WICK_DISPATCH_NUMERIC(x.dtype(), "clamp", [&]<typename T>() {
    // The bounds are fixed, so each case is a one-operand loop that vectorizes.
    // `v < l ? l : v` keeps v when v is NaN (the comparison is false).
    if (lo && hi) {
      const T l = lo->to<T>(), h = hi->to<T>();
      unary_loop<T, T>(out, x, [l, h](T v) {
        T r = v < l ? l : v;
        return r > h ? h : r;
      });
    } else if (lo) {
      const T l = lo->to<T>();
      unary_loop<T, T>(out, x, [l](T v) { return v < l ? l : v; });
    } else if (hi) {
      const T h = hi->to<T>();
      unary_loop<T, T>(out, x, [h](T v) { return v > h ? h : v; });
    } else {
      unary_loop<T, T>(out, x, [](T v) { return v; });
    }
  });
}

namespace {
template <typename T>
bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::isnan(v); else return false;
}
}  // namespace

void clamp(const Tensor& out, const Tensor& x, const Tensor& lo, const Tensor& hi) {
  WICK_DISPATCH_NUMERIC(x.dtype(), "clamp", [&]<typename T>() {
    if (lo.defined() && hi.defined()) {
      ternary_loop<T, T, T, T>(out, x, lo, hi, [](T v, T l, T h) {
        if (is_nan(l) || is_nan(h)) return std::numeric_limits<T>::quiet_NaN();
        T r = v < l ? l : v;
        return r > h ? h : r;
      });
    } else if (lo.defined()) {
      binary_loop<T, T, T>(out, x, lo, [](T v, T l) { return is_nan(l) ? l : v < l ? l : v; });
    } else {
      binary_loop<T, T, T>(out, x, hi, [](T v, T h) { return is_nan(h) ? h : v > h ? h : v; });
    }
  });
}

void lerp(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& w) {
  WICK_DISPATCH_FLOAT(a.dtype(), "lerp", [&]<typename T>() {
    auto f = [](T x, T y, T t) { return std::abs(t) < T(0.5) ? x + t * (y - x) : y - (y - x) * (T(1) - t); };
    if (w.dim() == 0) {  // scalar weight: a two-operand loop with fast contiguous paths
      const T t = *w.data_ptr<T>();
      binary_loop<T, T, T>(out, a, b, [t, f](T x, T y) { return f(x, y, t); });
    } else {
      ternary_loop<T, T, T, T>(out, a, b, w, f);
    }
  });
}

}  // namespace wick::cpu
