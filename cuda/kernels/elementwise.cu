// CUDA elementwise kernels: one functor per op, run by the engine of
// cuda/kernels/loops.cuh (a 16-byte-vectorized kernel for dense operands, a
// strided/broadcast kernel for the rest). The math is the CPU reference's
// (ops/cpu/elementwise.cpp), formula for formula, so results agree to a few
// ulp: exp/log/tanh/erf are CUDA's accurate (non-fast-math) libdevice
// functions, GELU uses the same erf and tanh forms, softplus the same
// threshold, sigmoid 1 / (1 + exp(-x)).
//
// Semantics shared with the CPU: integer arithmetic wraps (done unsigned);
// NaN propagates through minimum/maximum/clamp/relu; integer pow is
// exponentiation by squaring with PyTorch's negative-exponent rule; round is
// half-to-even (rint); comparisons and logical ops write bool. float16 and
// bfloat16 compute in float32 (compute_t) and round once on store.
//
// Cost: memory-bound; a unary op moves sizeof(in) + sizeof(out) bytes per
// element, a binary op one more operand (nothing for a by-value scalar).
// The transcendental ones are still memory-bound on an H100 in float32
// (expf ~ 20 instructions vs ~ 1 byte/FLOP of bandwidth budget); in
// float64 the erf/tanh forms can become compute-bound on GPUs with slow FP64.
#include "cuda/kernels/elementwise.h"

#include <type_traits>

#include "cuda/kernels/device_types.cuh"
#include "cuda/kernels/loops.cuh"
#include "cuda/runtime.h"

namespace wick::cuda {

namespace {

using loops::launch;

constexpr double kSqrt2 = 1.41421356237309504880;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

// ---- math overloads (float -> the *f function, double -> the double one) ----

#define WICK_CUDA_MATH1(name)                                           \
  __device__ __forceinline__ float m_##name(float x) { return name##f(x); } \
  __device__ __forceinline__ double m_##name(double x) { return name(x); }
WICK_CUDA_MATH1(exp)
WICK_CUDA_MATH1(log)
WICK_CUDA_MATH1(log1p)
WICK_CUDA_MATH1(expm1)
WICK_CUDA_MATH1(sqrt)
WICK_CUDA_MATH1(sin)
WICK_CUDA_MATH1(cos)
WICK_CUDA_MATH1(tanh)
WICK_CUDA_MATH1(erf)
WICK_CUDA_MATH1(floor)
WICK_CUDA_MATH1(rint)
WICK_CUDA_MATH1(fabs)
#undef WICK_CUDA_MATH1
__device__ __forceinline__ float m_pow(float x, float y) { return powf(x, y); }
__device__ __forceinline__ double m_pow(double x, double y) { return pow(x, y); }
__device__ __forceinline__ float m_atan2(float y, float x) { return atan2f(y, x); }
__device__ __forceinline__ double m_atan2(double y, double x) { return atan2(y, x); }

template <typename C>
__device__ __forceinline__ bool is_nan(C v) {
  if constexpr (std::is_floating_point_v<C>) return v != v;
  else return false;
}
// v < 0, without "pointless comparison" warnings for unsigned types.
template <typename C>
__device__ __forceinline__ bool is_neg(C v) {
  if constexpr (std::is_unsigned_v<C> || std::is_same_v<C, bool>) return false;
  else return v < C(0);
}
template <typename C>
__device__ __forceinline__ bool is_inf(C v) {
  if constexpr (std::is_floating_point_v<C>) return v == C(INFINITY) || v == C(-INFINITY);
  else return false;
}

// Integer arithmetic wraps (two's complement) like PyTorch, instead of being
// undefined behaviour: it is done in the unsigned type W<C>.
template <typename C, bool = std::is_integral_v<C> && !std::is_same_v<C, bool>>
struct wrapping {
  using type = C;
};
template <typename C>
struct wrapping<C, true> {
  using type = std::make_unsigned_t<C>;
};
template <typename C>
using W = typename wrapping<C>::type;

// Lifts an op on the compute type C to storage types: converts the inputs to
// C, the result to O.
template <typename O, typename C, typename Op>
struct Lift {
  Op op;
  template <typename... A>
  __device__ __forceinline__ O operator()(A... a) const {
    return from_compute<O>(op(to_compute<C>(a)...));
  }
};

// ---- unary ----------------------------------------------------------------

// Ops defined for every dtype (integers included); the rest are floating only.
constexpr bool any_dtype(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: case UnaryOp::Abs: case UnaryOp::Sign: case UnaryOp::Square: case UnaryOp::Relu:
    case UnaryOp::Floor: case UnaryOp::Round: case UnaryOp::IsNan: case UnaryOp::IsInf: case UnaryOp::IsFinite:
    case UnaryOp::LogicalNot:
      return true;
    default:
      return false;
  }
}
constexpr bool bool_result(UnaryOp op) {
  return op == UnaryOp::IsNan || op == UnaryOp::IsInf || op == UnaryOp::IsFinite || op == UnaryOp::LogicalNot;
}

template <UnaryOp OP, typename C>
struct UnaryF {
  C p0, p1;  // LeakyRelu: p0 = slope; Softplus: p0 = beta, p1 = threshold
  __device__ __forceinline__ auto operator()(C v) const {
    if constexpr (OP == UnaryOp::IsNan) return is_nan(v);
    else if constexpr (OP == UnaryOp::IsInf) return is_inf(v);
    else if constexpr (OP == UnaryOp::IsFinite) return !is_nan(v) && !is_inf(v);
    else if constexpr (OP == UnaryOp::LogicalNot) return v == C(0);
    else if constexpr (OP == UnaryOp::Neg) return static_cast<C>(W<C>(0) - W<C>(v));
    else if constexpr (OP == UnaryOp::Abs) {
      if constexpr (std::is_unsigned_v<C> || std::is_same_v<C, bool>) return v;
      else if constexpr (std::is_floating_point_v<C>) return m_fabs(v);  // abs(-0.0) = +0.0
      else return v < 0 ? static_cast<C>(W<C>(0) - W<C>(v)) : v;       // abs(INT_MIN) = INT_MIN
    } else if constexpr (OP == UnaryOp::Sign) return static_cast<C>((C(0) < v) - is_neg(v));
    else if constexpr (OP == UnaryOp::Square) return static_cast<C>(W<C>(v) * W<C>(v));
    else if constexpr (OP == UnaryOp::Relu) return is_neg(v) ? C(0) : v;  // NaN propagates
    else if constexpr (OP == UnaryOp::Floor) {
      if constexpr (std::is_floating_point_v<C>) return m_floor(v); else return v;
    } else if constexpr (OP == UnaryOp::Round) {
      if constexpr (std::is_floating_point_v<C>) return m_rint(v); else return v;  // half to even
    } else if constexpr (OP == UnaryOp::Exp) return m_exp(v);
    else if constexpr (OP == UnaryOp::Log) return m_log(v);
    else if constexpr (OP == UnaryOp::Log1p) return m_log1p(v);
    else if constexpr (OP == UnaryOp::Expm1) return m_expm1(v);
    else if constexpr (OP == UnaryOp::Sqrt) return m_sqrt(v);
    else if constexpr (OP == UnaryOp::Rsqrt) return C(1) / m_sqrt(v);
    else if constexpr (OP == UnaryOp::Reciprocal) return C(1) / v;
    else if constexpr (OP == UnaryOp::Sin) return m_sin(v);
    else if constexpr (OP == UnaryOp::Cos) return m_cos(v);
    else if constexpr (OP == UnaryOp::Tanh) return m_tanh(v);
    else if constexpr (OP == UnaryOp::Sigmoid) return C(1) / (C(1) + m_exp(-v));
    else if constexpr (OP == UnaryOp::Erf) return m_erf(v);
    else if constexpr (OP == UnaryOp::LeakyRelu) return v > C(0) ? v : v * p0;
    else if constexpr (OP == UnaryOp::Gelu) return C(0.5) * v * (C(1) + m_erf(v / C(kSqrt2)));
    else if constexpr (OP == UnaryOp::GeluTanh)
      return C(0.5) * v * (C(1) + m_tanh(C(kSqrt2OverPi) * (v + C(0.044715) * v * v * v)));
    else if constexpr (OP == UnaryOp::Silu) return v / (C(1) + m_exp(-v));
    else if constexpr (OP == UnaryOp::Softplus) return v * p0 > p1 ? v : m_log1p(m_exp(v * p0)) / p0;
    else if constexpr (OP == UnaryOp::NormalPdf) return C(kInvSqrt2Pi) * m_exp(C(-0.5) * v * v);
    else static_assert(OP == UnaryOp::Neg, "unhandled UnaryOp");
  }
};

template <UnaryOp OP, typename T>
void unary_typed(const Tensor& out, const Tensor& x, double p0, double p1) {
  using C = compute_t<T>;
  if constexpr (!any_dtype(OP) && !is_float_v<T>) {
    WICK_FAIL("elementwise: unary op ", static_cast<int>(OP), " not supported for dtype ", x.dtype());
  } else {
    UnaryF<OP, C> f{static_cast<C>(p0), static_cast<C>(p1)};
    if constexpr (bool_result(OP)) launch<bool, T>(out, Lift<bool, C, UnaryF<OP, C>>{f}, x);
    else launch<T, T>(out, Lift<T, C, UnaryF<OP, C>>{f}, x);
  }
}

// The runtime op -> template parameter switch.
#define WICK_UNARY_CASE(NAME) \
  case UnaryOp::NAME:         \
    return unary_typed<UnaryOp::NAME, T>(out, x, p0, p1);

template <typename T>
void unary_dispatch(UnaryOp op, const Tensor& out, const Tensor& x, double p0, double p1) {
  switch (op) {
    WICK_UNARY_CASE(Neg) WICK_UNARY_CASE(Exp) WICK_UNARY_CASE(Log) WICK_UNARY_CASE(Log1p)
    WICK_UNARY_CASE(Expm1) WICK_UNARY_CASE(Sqrt) WICK_UNARY_CASE(Rsqrt) WICK_UNARY_CASE(Abs)
    WICK_UNARY_CASE(Sign) WICK_UNARY_CASE(Sin) WICK_UNARY_CASE(Cos) WICK_UNARY_CASE(Tanh)
    WICK_UNARY_CASE(Sigmoid) WICK_UNARY_CASE(Erf) WICK_UNARY_CASE(Floor) WICK_UNARY_CASE(Round)
    WICK_UNARY_CASE(Square) WICK_UNARY_CASE(Reciprocal) WICK_UNARY_CASE(Relu) WICK_UNARY_CASE(LeakyRelu)
    WICK_UNARY_CASE(Gelu) WICK_UNARY_CASE(GeluTanh) WICK_UNARY_CASE(Silu) WICK_UNARY_CASE(Softplus)
    WICK_UNARY_CASE(IsNan) WICK_UNARY_CASE(IsInf) WICK_UNARY_CASE(IsFinite) WICK_UNARY_CASE(LogicalNot)
    WICK_UNARY_CASE(NormalPdf)
  }
  WICK_FAIL("elementwise: unknown unary op ", static_cast<int>(op));
}
#undef WICK_UNARY_CASE

// ---- unary backward (fused activation derivatives) -------------------------

template <UnaryGradOp OP, typename C>
struct UnaryGradF {
  C p0, p1;  // Softplus: beta, threshold
  __device__ __forceinline__ C operator()(C g, C s) const {
    if constexpr (OP == UnaryGradOp::Tanh) return g * (C(1) - s * s);  // s = y
    else if constexpr (OP == UnaryGradOp::Sigmoid) return g * (s * (C(1) - s));
    else if constexpr (OP == UnaryGradOp::Relu) return s > C(0) ? g : C(0);
    else if constexpr (OP == UnaryGradOp::Gelu) {  // s = x
      const C cdf = C(0.5) * (C(1) + m_erf(s * C(0.5 * kSqrt2)));
      const C pdf = C(kInvSqrt2Pi) * m_exp(C(-0.5) * s * s);
      return g * (cdf + s * pdf);
    } else if constexpr (OP == UnaryGradOp::GeluTanh) {
      const C k = C(kSqrt2OverPi), a = C(0.044715);
      const C x2 = s * s;
      const C t = m_tanh(k * s * (C(1) + a * x2));
      const C du = k * (C(1) + C(3) * a * x2);
      return g * (C(0.5) * ((C(1) + t) + s * (C(1) - t * t) * du));
    } else if constexpr (OP == UnaryGradOp::Silu) {
      const C sg = C(1) / (C(1) + m_exp(-s));
      return g * (sg * (C(1) + s * (C(1) - sg)));
    } else {
      static_assert(OP == UnaryGradOp::Softplus, "unhandled UnaryGradOp");
      const C z = s * p0;
      return z > p1 ? g : g / (C(1) + m_exp(-z));
    }
  }
};

template <UnaryGradOp OP, typename T>
void unary_backward_typed(const Tensor& out, const Tensor& grad, const Tensor& saved, double p0, double p1) {
  using C = compute_t<T>;
  UnaryGradF<OP, C> f{static_cast<C>(p0), static_cast<C>(p1)};
  launch<T, T, T>(out, Lift<T, C, UnaryGradF<OP, C>>{f}, grad, saved);
}

// ---- binary -----------------------------------------------------------------

constexpr bool bool_result(BinaryOp op) {
  return op == BinaryOp::Eq || op == BinaryOp::Ne || op == BinaryOp::Lt || op == BinaryOp::Le ||
         op == BinaryOp::Gt || op == BinaryOp::Ge || op == BinaryOp::LogicalAnd || op == BinaryOp::LogicalOr ||
         op == BinaryOp::LogicalXor;
}

template <BinaryOp OP, typename C>
struct BinaryF {
  __device__ __forceinline__ auto operator()(C x, C y) const {
    if constexpr (OP == BinaryOp::Add) return static_cast<C>(W<C>(x) + W<C>(y));
    else if constexpr (OP == BinaryOp::Sub) return static_cast<C>(W<C>(x) - W<C>(y));
    else if constexpr (OP == BinaryOp::Mul) return static_cast<C>(W<C>(x) * W<C>(y));
    else if constexpr (OP == BinaryOp::Div) return x / y;
    else if constexpr (OP == BinaryOp::Pow) {
      if constexpr (std::is_floating_point_v<C>) {
        return m_pow(x, y);
      } else if constexpr (std::is_same_v<C, bool>) {
        return y ? x : true;
      } else {
        // Negative exponents truncate 1/x^|y| toward zero, as PyTorch does.
        if constexpr (std::is_signed_v<C>) {
          if (y < 0) return static_cast<C>(x == 1 ? 1 : x == -1 ? ((y & 1) ? -1 : 1) : 0);
        }
        // Exponentiation by squaring in unsigned arithmetic (overflow wraps).
        using U = std::make_unsigned_t<C>;
        U r = 1, base = static_cast<U>(x);
        for (U e = static_cast<U>(y); e > 0; e >>= 1, base = static_cast<U>(base * base))
          if (e & 1) r = static_cast<U>(r * base);
        return static_cast<C>(r);
      }
    } else if constexpr (OP == BinaryOp::Minimum) {
      if (is_nan(x) || is_nan(y)) return static_cast<C>(x + y);
      return x < y ? x : y;
    } else if constexpr (OP == BinaryOp::Maximum) {
      if (is_nan(x) || is_nan(y)) return static_cast<C>(x + y);
      return x > y ? x : y;
    } else if constexpr (OP == BinaryOp::Atan2) return m_atan2(x, y);  // atan2(y = x, x = y)
    else if constexpr (OP == BinaryOp::Eq) return x == y;
    else if constexpr (OP == BinaryOp::Ne) return x != y;
    else if constexpr (OP == BinaryOp::Lt) return x < y;
    else if constexpr (OP == BinaryOp::Le) return x <= y;
    else if constexpr (OP == BinaryOp::Gt) return x > y;
    else if constexpr (OP == BinaryOp::Ge) return x >= y;
    else if constexpr (OP == BinaryOp::LogicalAnd) return x != C(0) && y != C(0);
    else if constexpr (OP == BinaryOp::LogicalOr) return x != C(0) || y != C(0);
    else {
      static_assert(OP == BinaryOp::LogicalXor, "unhandled BinaryOp");
      return (x != C(0)) != (y != C(0));
    }
  }
};

template <BinaryOp OP, typename T>
void binary_typed(const Tensor& out, const Tensor& a, const Tensor& b) {
  using C = compute_t<T>;
  constexpr bool float_only = OP == BinaryOp::Div || OP == BinaryOp::Atan2;
  if constexpr (float_only && !is_float_v<T>) {
    WICK_FAIL("elementwise: binary op ", static_cast<int>(OP), " not supported for dtype ", a.dtype());
  } else if constexpr (bool_result(OP)) {
    launch<bool, T, T>(out, Lift<bool, C, BinaryF<OP, C>>{}, a, b);
  } else {
    launch<T, T, T>(out, Lift<T, C, BinaryF<OP, C>>{}, a, b);
  }
}

#define WICK_BINARY_CASE(NAME) \
  case BinaryOp::NAME:         \
    return binary_typed<BinaryOp::NAME, T>(out, a, b);

template <typename T>
void binary_dispatch(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  switch (op) {
    WICK_BINARY_CASE(Add) WICK_BINARY_CASE(Sub) WICK_BINARY_CASE(Mul) WICK_BINARY_CASE(Div)
    WICK_BINARY_CASE(Pow) WICK_BINARY_CASE(Minimum) WICK_BINARY_CASE(Maximum) WICK_BINARY_CASE(Atan2)
    WICK_BINARY_CASE(Eq) WICK_BINARY_CASE(Ne) WICK_BINARY_CASE(Lt) WICK_BINARY_CASE(Le)
    WICK_BINARY_CASE(Gt) WICK_BINARY_CASE(Ge) WICK_BINARY_CASE(LogicalAnd) WICK_BINARY_CASE(LogicalOr)
    WICK_BINARY_CASE(LogicalXor)
  }
  WICK_FAIL("elementwise: unknown binary op ", static_cast<int>(op));
}
#undef WICK_BINARY_CASE

// ---- where, clamp, lerp -----------------------------------------------------

// Storage types straight through: a select needs no conversion.
struct WhereF {
  template <typename T>
  __device__ __forceinline__ T operator()(bool c, T x, T y) const {
    return c ? x : y;
  }
};

// Scalar bounds; `v < lo ? lo : v` keeps a NaN v (the comparison is false).
template <typename C>
struct ClampScalarF {
  C lo, hi;
  bool has_lo, has_hi;
  __device__ __forceinline__ C operator()(C v) const {
    C r = has_lo && v < lo ? lo : v;
    return has_hi && r > hi ? hi : r;
  }
};

// Tensor bounds: a NaN bound gives NaN.
template <typename C>
struct ClampBothF {
  __device__ __forceinline__ C operator()(C v, C l, C h) const {
    if constexpr (std::is_floating_point_v<C>)
      if (is_nan(l) || is_nan(h)) return static_cast<C>(NAN);
    C r = v < l ? l : v;
    return r > h ? h : r;
  }
};
template <typename C>
struct ClampLoF {
  __device__ __forceinline__ C operator()(C v, C l) const { return is_nan(l) ? l : v < l ? l : v; }
};
template <typename C>
struct ClampHiF {
  __device__ __forceinline__ C operator()(C v, C h) const { return is_nan(h) ? h : v > h ? h : v; }
};

// a + w (b - a), or b - (b - a)(1 - w) when |w| >= 1/2 (exact at w = 1).
template <typename C>
struct LerpF {
  __device__ __forceinline__ C operator()(C x, C y, C t) const {
    return m_fabs(t) < C(0.5) ? x + t * (y - x) : y - (y - x) * (C(1) - t);
  }
};

// A bound converted to x's dtype (as the CPU kernel does), then to the compute type.
template <typename T>
compute_t<T> bound_as(const Scalar& s) {
  if constexpr (is_reduced_float_v<T>) return to_compute<float>(from_compute<T>(s.to<float>()));
  else return static_cast<compute_t<T>>(s.to<T>());
}

}  // namespace

void unary(UnaryOp op, const Tensor& out, const Tensor& x, double p0, double p1) {
  WICK_DEVICE_DISPATCH_ALL(x.dtype(), "elementwise", [&]<typename T>() { unary_dispatch<T>(op, out, x, p0, p1); });
}

void unary_backward(UnaryGradOp op, const Tensor& out, const Tensor& grad, const Tensor& saved, double p0,
                    double p1) {
  WICK_DEVICE_DISPATCH_FLOAT(saved.dtype(), "unary_backward", [&]<typename T>() {
    switch (op) {
      case UnaryGradOp::Tanh: return unary_backward_typed<UnaryGradOp::Tanh, T>(out, grad, saved, p0, p1);
      case UnaryGradOp::Sigmoid: return unary_backward_typed<UnaryGradOp::Sigmoid, T>(out, grad, saved, p0, p1);
      case UnaryGradOp::Relu: return unary_backward_typed<UnaryGradOp::Relu, T>(out, grad, saved, p0, p1);
      case UnaryGradOp::Gelu: return unary_backward_typed<UnaryGradOp::Gelu, T>(out, grad, saved, p0, p1);
      case UnaryGradOp::GeluTanh: return unary_backward_typed<UnaryGradOp::GeluTanh, T>(out, grad, saved, p0, p1);
      case UnaryGradOp::Silu: return unary_backward_typed<UnaryGradOp::Silu, T>(out, grad, saved, p0, p1);
      case UnaryGradOp::Softplus: return unary_backward_typed<UnaryGradOp::Softplus, T>(out, grad, saved, p0, p1);
    }
    WICK_FAIL("unary_backward: unknown op ", static_cast<int>(op));
  });
}

namespace {

// On since CudaElementwiseOps.MixedFloat32And16BitOperands passed on an H200 (2026-11-28);
// WICK_CUDA_MIXED_BINARY=0 casts the 16-bit operand first.
OptInSwitch& mixed_switch() {
  static OptInSwitch s("WICK_CUDA_MIXED_BINARY", /*default_on=*/true);
  return s;
}

// float32 = op(a, b), a and b of storage types A and B (float32 and a 16-bit one), computed in float32.
template <BinaryOp OP, typename A, typename B>
void binary_mixed_typed(const Tensor& out, const Tensor& a, const Tensor& b) {
  launch<float, A, B>(out, Lift<float, float, BinaryF<OP, float>>{}, a, b);
}
template <BinaryOp OP>
void binary_mixed_op(const Tensor& out, const Tensor& a, const Tensor& b) {
  const DType da = a.dtype(), db = b.dtype();
  if (da == kFloat32 && db == kBFloat16) return binary_mixed_typed<OP, float, __nv_bfloat16>(out, a, b);
  if (da == kBFloat16 && db == kFloat32) return binary_mixed_typed<OP, __nv_bfloat16, float>(out, a, b);
  if (da == kFloat32 && db == kFloat16) return binary_mixed_typed<OP, float, __half>(out, a, b);
  if (da == kFloat16 && db == kFloat32) return binary_mixed_typed<OP, __half, float>(out, a, b);
  WICK_FAIL("elementwise: no mixed kernel for ", da, " and ", db);
}

// Two device operands of different dtypes: the mixed kernels above (the op layer asks binary_reads_mixed first).
void launch_binary_mixed(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  WICK_CHECK(binary_reads_mixed(op, out.dtype(), a.dtype(), b.dtype()), "cuda elementwise: operands of dtypes ",
             a.dtype(), " and ", b.dtype(), " into ", out.dtype(),
             " (expected one dtype, or float32 beside float16/bfloat16 into float32 for add/sub/mul/div)");
  switch (op) {
    case BinaryOp::Add: return binary_mixed_op<BinaryOp::Add>(out, a, b);
    case BinaryOp::Sub: return binary_mixed_op<BinaryOp::Sub>(out, a, b);
    case BinaryOp::Mul: return binary_mixed_op<BinaryOp::Mul>(out, a, b);
    default: return binary_mixed_op<BinaryOp::Div>(out, a, b);  // binary_reads_mixed admits these four only
  }
}

}  // namespace

void set_binary_mixed(bool on) { mixed_switch().set(on); }
bool binary_mixed() { return mixed_switch().on(); }

bool binary_reads_mixed(BinaryOp op, DType out, DType a, DType b) {
  if (!mixed_switch().on()) return false;
  const bool arith = op == BinaryOp::Add || op == BinaryOp::Sub || op == BinaryOp::Mul || op == BinaryOp::Div;
  auto half = [](DType d) { return d == kFloat16 || d == kBFloat16; };
  return arith && out == kFloat32 && a != b && ((a == kFloat32 && half(b)) || (half(a) && b == kFloat32));
}

// The operands' dtype is that of the device operand: a CPU scalar (either
// side, e.g. 1 - x) is taken by value and converted, whatever its dtype.
void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  if (!a.is_cpu() && !b.is_cpu() && a.dtype() != b.dtype()) return launch_binary_mixed(op, out, a, b);
  const DType dt = a.is_cpu() ? b.dtype() : a.dtype();
  WICK_DEVICE_DISPATCH_ALL(dt, "elementwise", [&]<typename T>() { binary_dispatch<T>(op, out, a, b); });
}

// The values' dtype is out's (a or b may be a CPU scalar, as in masked_fill_).
void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  WICK_DEVICE_DISPATCH_ALL(out.dtype(), "where", [&]<typename T>() { launch<T, bool, T, T>(out, WhereF{}, cond, a, b); });
}

void clamp(const Tensor& out, const Tensor& x, const std::optional<Scalar>& lo, const std::optional<Scalar>& hi) {
  WICK_DEVICE_DISPATCH_NUMERIC(x.dtype(), "clamp", [&]<typename T>() {
    using C = compute_t<T>;
    ClampScalarF<C> f{lo ? bound_as<T>(*lo) : C(0), hi ? bound_as<T>(*hi) : C(0), lo.has_value(), hi.has_value()};
    launch<T, T>(out, Lift<T, C, ClampScalarF<C>>{f}, x);
  });
}

void clamp(const Tensor& out, const Tensor& x, const Tensor& lo, const Tensor& hi) {
  WICK_DEVICE_DISPATCH_NUMERIC(x.dtype(), "clamp", [&]<typename T>() {
    using C = compute_t<T>;
    if (lo.defined() && hi.defined()) launch<T, T, T, T>(out, Lift<T, C, ClampBothF<C>>{}, x, lo, hi);
    else if (lo.defined()) launch<T, T, T>(out, Lift<T, C, ClampLoF<C>>{}, x, lo);
    else launch<T, T, T>(out, Lift<T, C, ClampHiF<C>>{}, x, hi);
  });
}

void lerp(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& w) {
  WICK_DEVICE_DISPATCH_FLOAT(a.dtype(), "lerp", [&]<typename T>() {
    using C = compute_t<T>;
    launch<T, T, T, T>(out, Lift<T, C, LerpF<C>>{}, a, b, w);
  });
}

}  // namespace wick::cuda
