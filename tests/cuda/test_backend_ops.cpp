// Every public op of wick (ops/*.h) on the CPU and on CUDA with the same
// random inputs: forward outputs and the gradients of every differentiable
// input must agree (in the spirit of ggml's tests/test-backend-ops.cpp and
// tinygrad's helper_test_op).
//
// How a case runs. Each row of the table names the op (as declared in
// ops/*.h), its inputs (a value generator, whether the input is
// differentiable, and its memory layout) and a lambda calling the op. The
// inputs are drawn once on the CPU from a seed (float64, then rounded to the
// case's dtype), so both devices see identical values. Per device, each input
// is copied over and, for a non-contiguous layout, viewed there (transposed,
// or every other element of the last dim, the gaps holding NaN so a kernel
// that ignores strides shows up). The lambda runs; when the output requires
// grad, sum(out * w) is differentiated with a fixed random w of out's shape.
// Outputs and gradients are compared: floating tensors within the case's
// tolerance (|got - want| <= tol + tol |want|), everything else exactly.
// Rows run in one test per family (elementwise, reduction, ...); a failure
// names the op, the row and the dtype. WICK_BACKEND_OPS=<op> runs one op's rows.
//
// Tolerances. float64: 1e-10 (the two backends differ only in summation
// order and libm, ~1e-15 relative). float32: 1e-5 for elementwise ops,
// 1e-4 for anything that sums (the GPU accumulates float32 reductions in
// float32 in a tree, the CPU in double; gemm/conv orders differ).
//
// Ops without a CUDA kernel are rows marked cpu_only: the test runs them on
// the CPU (they must work there) and asserts that on CUDA they throw
// wick::Error naming the device. When someone adds the kernel, that
// assertion fails: turn the row into a normal one.
//
// Random ops: dropout is checked by statistics (DropoutStatistics); in the
// table it runs only deterministically (eval mode, p = 0), and attention
// only with dropout_p = 0. The rand* family lives in tensor/random.h
// (tests/cuda/test_random.cpp).
//
// CudaBackendOpsCoverage lists every name declared in ops/*.h, checks that
// each has a row (or is excluded with a reason), and re-reads ops/*.h from
// the source tree so that a newly declared op without a row fails.
//
// Every test but the coverage one skips without a GPU; the file compiles and
// links in CPU-only builds (no cuda/ header is included). To check the table
// itself on a machine without a GPU, build a copy with kDev = Device("cpu"),
// the skips and the cpu_only EXPECT_WICK_ERROR removed: every row must pass.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "ops/attention.h"
#include "ops/conv.h"
#include "ops/copy.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/fft.h"
#include "ops/indexing.h"
#include "ops/linalg.h"
#include "ops/loss.h"
#include "ops/nn.h"
#include "ops/pool.h"
#include "ops/reduction.h"
#include "ops/shape.h"
#include "ops/sort.h"
#include "ops/view.h"
#include "support/cuda_util.h"
#include "support/test_util.h"
#include "tensor/random.h"

using namespace wick;

namespace {

// The device compared against the CPU.
const Device kDev("cuda");

using V = std::vector<Tensor>;
using OpFn = std::function<Tensor(const V&)>;
// The logical values of one input, on the CPU: (the case's dtype, a seeded generator).
using Gen = std::function<Tensor(DType, Generator&)>;

enum class Layout { Contiguous, Transposed, Strided };

struct In {
  Gen gen;
  bool grad = false;  // differentiable: its gradient is compared
  Layout layout = Layout::Contiguous;
};

struct OpCase {
  std::string op;     // the name declared in ops/*.h
  std::string label;  // what this row checks
  std::vector<In> in;
  OpFn fn;
  double tol64 = 1e-10, tol32 = 1e-5;
  std::vector<DType> dtypes = {kFloat64, kFloat32};
  bool cpu_only = false;  // no CUDA kernel: must throw on kDev
  std::string family;     // the group of rows it runs in (one test per group)

  OpCase& tol(double t32) { tol32 = t32; return *this; }
  OpCase& dts(std::vector<DType> d) { dtypes = std::move(d); return *this; }
  OpCase& no_cuda() { cpu_only = true; return *this; }
};

// ---- input generators ----

Tensor normal64(const Shape& s, Generator& g) { return randn(s, TensorOptions(kFloat64), &g); }
Tensor uniform64(const Shape& s, double lo, double hi, Generator& g) {
  return add(mul(rand(s, TensorOptions(kFloat64), &g), hi - lo), lo);
}

// Standard normal * sd + mean for floating dtypes; integers in [-5, 5]; bool half true.
In F(Shape s, double sd = 1.0, double mean = 0.0, bool grad = true) {
  return {[=](DType dt, Generator& g) -> Tensor {
            if (dt == kBool) return lt(rand(s, TensorOptions(kFloat64), &g), 0.5);
            if (!is_floating(dt)) return randint(-5, 6, s, TensorOptions(dt), &g);
            return add(mul(normal64(s, g), sd), mean).to(dt);
          },
          grad};
}
// A constant (non-differentiable) normal operand.
In C(Shape s) { return F(std::move(s), 1.0, 0.0, false); }
// Uniform in [lo, hi) (integers: [1, 5] so they can divide and take logs).
In U(Shape s, double lo, double hi, bool grad = true) {
  return {[=](DType dt, Generator& g) -> Tensor {
            if (!is_floating(dt)) return randint(1, 6, s, TensorOptions(dt), &g);
            return uniform64(s, lo, hi, g).to(dt);
          },
          grad};
}
In Pos(Shape s, bool grad = true) { return U(std::move(s), 0.5, 2.0, grad); }
// Values on a grid of halves (float) so that comparisons see ties.
In Grid(Shape s) {
  return {[=](DType dt, Generator& g) -> Tensor {
            if (!is_floating(dt)) return randint(-3, 4, s, TensorOptions(dt), &g);
            return div(round(mul(normal64(s, g), 2.0)), 2.0).to(dt);
          }};
}
// int64 in [0, hi).
In Idx(Shape s, int64_t hi) {
  return {[=](DType, Generator& g) { return randint(0, hi, s, TensorOptions(kInt64), &g); }};
}
// int64 indices along `dim` without repeats within a slice (scatter, index_put): a prefix of a
// random permutation of [0, n) per slice.
In Perm(Shape s, int64_t dim, int64_t n) {
  return {[=](DType, Generator& g) {
            Shape big = s;
            big[dim] = n;
            return argsort(rand(big, TensorOptions(kFloat64), &g), dim).narrow(dim, 0, s[dim]).contiguous();
          }};
}
In Mask(Shape s, double p_true = 0.5) {
  return {[=](DType, Generator& g) { return lt(rand(s, TensorOptions(kFloat64), &g), p_true); }};
}
// Rows of probabilities along dim (softmax of a normal).
In Prob(Shape s, int64_t dim, bool grad = false) {
  return {[=](DType dt, Generator& g) { return softmax(normal64(s, g), dim).to(dt); }, grad};
}
// Normal values with NaN, +inf and -inf planted (floating dtypes only).
In Special(Shape s) {
  return {[=](DType dt, Generator& g) {
            Tensor t = normal64(s, g);
            const int64_t n = t.numel();
            Tensor flat = t.view({n});
            const double inf = std::numeric_limits<double>::infinity();
            const double vals[] = {std::nan(""), inf, -inf, 0.0};
            for (int64_t i = 0; i < n; i += 3) flat.select(0, i).fill_(vals[(i / 3) % 4]);
            return t.to(dt);
          }};
}
In Custom(Gen g, bool grad = false) { return {std::move(g), grad}; }
// The same input, non-contiguous on the device.
In T(In i) { i.layout = Layout::Transposed; return i; }
In S(In i) { i.layout = Layout::Strided; return i; }

// ---- the table ----

struct Table {
  std::vector<OpCase> rows;
  std::string family;  // of the rows added next
  OpCase& add(std::string op, std::string label, std::vector<In> in, OpFn fn) {
    OpCase& c = rows.emplace_back();
    c.op = std::move(op);
    c.label = std::move(label);
    c.in = std::move(in);
    c.fn = std::move(fn);
    c.family = family;
    return c;
  }
};

const std::vector<DType> kInts = {kInt64, kInt32};
const std::vector<DType> kOnce = {kFloat64};  // inputs of fixed dtypes: one run

// Options for a tensor created on `like`'s device with `like`'s dtype.
TensorOptions opts(const Tensor& like) { return TensorOptions(like.dtype()).device(like.device()); }

void elementwise_rows(Table& t) {
  // arithmetic
  t.add("add", "broadcast, alpha", {F({3, 1, 5}), F({4, 5})}, [](const V& x) { return add(x[0], x[1], 0.5); });
  t.add("add", "scalar", {F({3, 4})}, [](const V& x) { return add(x[0], 1.5); });
  t.add("add", "integers", {F({3, 4}), F({4})}, [](const V& x) { return add(x[0], x[1], 2); }).dts(kInts);
  t.add("add", "transposed + strided", {T(F({4, 5})), S(F({4, 5}))}, [](const V& x) { return add(x[0], x[1]); });
  t.add("add", "0-d CPU tensor operand", {F({3, 4})},
        [](const V& x) { return add(x[0], scalar_tensor(2.5, TensorOptions(x[0].dtype()))); });
  t.add("add", "empty", {F({0, 3}), F({3})}, [](const V& x) { return add(x[0], x[1]); });
  t.add("add", "odd size 1-d", {F({1031}), F({1031})}, [](const V& x) { return add(x[0], x[1]); });
  t.add("sub", "broadcast, alpha", {F({2, 3, 4}), F({3, 1})}, [](const V& x) { return sub(x[0], x[1], 2); });
  t.add("sub", "scalar", {F({3, 4})}, [](const V& x) { return sub(x[0], 0.5); });
  t.add("rsub", "scalar - x", {F({3, 4})}, [](const V& x) { return rsub(x[0], 2.0); });
  t.add("mul", "broadcast", {F({3, 1, 5}), T(F({4, 5}))}, [](const V& x) { return mul(x[0], x[1]); });
  t.add("mul", "scalar", {S(F({3, 4}))}, [](const V& x) { return mul(x[0], -1.5); });
  t.add("mul", "integers", {F({3, 4}), F({3, 4})}, [](const V& x) { return mul(x[0], x[1]); }).dts(kInts);
  t.add("div", "broadcast", {F({3, 4}), Pos({4})}, [](const V& x) { return div(x[0], x[1]); });
  t.add("div", "scalar", {F({3, 4})}, [](const V& x) { return div(x[0], 3.0); });
  t.add("div", "integers (true division)", {F({3, 4}), Pos({3, 4})}, [](const V& x) { return div(x[0], x[1]); })
      .dts(kInts);
  t.add("rdiv", "scalar / x", {Pos({3, 4})}, [](const V& x) { return rdiv(x[0], 2.0); });
  t.add("neg", "", {F({3, 4})}, [](const V& x) { return neg(x[0]); });
  t.add("neg", "integers", {F({3, 4})}, [](const V& x) { return neg(x[0]); }).dts(kInts);
  t.add("pow", "tensor ^ tensor", {Pos({3, 4}), F({4})}, [](const V& x) { return wick::pow(x[0], x[1]); });
  t.add("pow", "tensor ^ 2.5", {Pos({3, 4})}, [](const V& x) { return wick::pow(x[0], 2.5); });
  t.add("pow", "tensor ^ 3 (negative bases)", {F({3, 4})}, [](const V& x) { return wick::pow(x[0], 3); });
  t.add("pow", "2 ^ tensor", {F({3, 4})}, [](const V& x) { return wick::pow(Scalar(2.0), x[0]); });
  t.add("minimum", "broadcast", {F({3, 4}), F({4})}, [](const V& x) { return minimum(x[0], x[1]); });
  t.add("minimum", "NaN propagates", {Special({3, 4}), C({3, 4})}, [](const V& x) { return minimum(x[0], x[1]); });
  t.add("maximum", "broadcast", {F({3, 4}), F({3, 1})}, [](const V& x) { return maximum(x[0], x[1]); });
  t.add("maximum", "NaN propagates", {Special({3, 4}), C({3, 4})}, [](const V& x) { return maximum(x[0], x[1]); });
  t.add("maximum", "integers", {F({3, 4}), F({4})}, [](const V& x) { return maximum(x[0], x[1]); }).dts(kInts);
  t.add("atan2", "broadcast", {F({3, 4}), F({4})}, [](const V& x) { return atan2(x[0], x[1]); });
  t.add("clamp", "scalar bounds", {F({3, 5})}, [](const V& x) { return clamp(x[0], Scalar(-0.5), Scalar(0.7)); });
  t.add("clamp", "upper only", {F({3, 5})}, [](const V& x) { return clamp(x[0], std::nullopt, Scalar(0.3)); });
  t.add("clamp", "tensor bounds", {F({3, 5}), F({5}, 0.3, -1.0), F({3, 1}, 0.3, 1.0)},
        [](const V& x) { return clamp(x[0], x[1], x[2]); });
  t.add("clamp_min", "", {F({3, 5})}, [](const V& x) { return clamp_min(x[0], -0.2); });
  t.add("clamp_max", "", {S(F({3, 5}))}, [](const V& x) { return clamp_max(x[0], 0.4); });
  t.add("lerp", "scalar weight", {F({3, 4}), F({4})}, [](const V& x) { return lerp(x[0], x[1], 0.3); });
  t.add("lerp", "tensor weight", {F({3, 4}), F({3, 4}), U({4}, 0.0, 1.0)},
        [](const V& x) { return lerp(x[0], x[1], x[2]); });

  // unary math
  t.add("exp", "", {F({3, 5})}, [](const V& x) { return exp(x[0]); });
  t.add("exp", "integer input -> float", {F({3, 5})}, [](const V& x) { return exp(x[0]); }).dts({kInt64});
  t.add("log", "", {Pos({3, 5})}, [](const V& x) { return log(x[0]); });
  t.add("log1p", "", {U({3, 5}, -0.5, 2.0)}, [](const V& x) { return log1p(x[0]); });
  t.add("expm1", "", {S(F({3, 5}))}, [](const V& x) { return expm1(x[0]); });
  t.add("sqrt", "", {T(Pos({3, 5}))}, [](const V& x) { return sqrt(x[0]); });
  t.add("rsqrt", "", {Pos({3, 5})}, [](const V& x) { return rsqrt(x[0]); });
  t.add("abs", "", {F({3, 5})}, [](const V& x) { return abs(x[0]); });
  t.add("abs", "integers", {F({3, 5})}, [](const V& x) { return abs(x[0]); }).dts(kInts);
  t.add("sign", "", {Grid({3, 5})}, [](const V& x) { return sign(x[0]); });
  t.add("sign", "integers", {F({3, 5})}, [](const V& x) { return sign(x[0]); }).dts(kInts);
  t.add("sin", "", {F({3, 5}, 3.0)}, [](const V& x) { return sin(x[0]); });
  t.add("cos", "", {T(F({3, 5}, 3.0))}, [](const V& x) { return cos(x[0]); });
  t.add("tanh", "", {F({3, 5}, 2.0)}, [](const V& x) { return tanh(x[0]); });
  t.add("sigmoid", "", {F({3, 5}, 3.0)}, [](const V& x) { return sigmoid(x[0]); });
  t.add("erf", "", {F({3, 5})}, [](const V& x) { return erf(x[0]); });
  t.add("floor", "", {F({3, 5}, 3.0)}, [](const V& x) { return floor(x[0]); });
  t.add("round", "half to even", {Grid({4, 5})}, [](const V& x) { return round(x[0]); });
  t.add("square", "", {F({3, 5})}, [](const V& x) { return square(x[0]); });
  t.add("reciprocal", "", {Pos({3, 5})}, [](const V& x) { return reciprocal(x[0]); });

  // activations
  t.add("relu", "", {F({3, 5})}, [](const V& x) { return relu(x[0]); });
  // (y only selects: no gradient reaches it, as in PyTorch's threshold_backward.)
  t.add("relu_backward", "grad where the output is positive", {F({3, 5}), F({3, 5}, 1.0, 0.0, false)},
        [](const V& x) { return relu_backward(x[0], relu(x[1])); });
  t.add("leaky_relu", "", {S(F({3, 5}))}, [](const V& x) { return leaky_relu(x[0], 0.2); });
  t.add("gelu", "exact", {F({3, 5}, 2.0)}, [](const V& x) { return gelu(x[0]); });
  t.add("gelu", "tanh", {F({3, 5}, 2.0)}, [](const V& x) { return gelu(x[0], "tanh"); });
  t.add("silu", "", {F({3, 5}, 2.0)}, [](const V& x) { return silu(x[0]); });
  t.add("softplus", "beta 2, threshold 1.5", {F({4, 5}, 2.0)}, [](const V& x) { return softplus(x[0], 2.0, 1.5); });

  // comparisons and logic
  struct Comparison {
    std::string name;
    Tensor (*f)(const Tensor&, const Tensor&);
    Tensor (*fs)(const Tensor&, const Scalar&);
  };
  const std::vector<Comparison> cmps = {
      {"eq", &eq, &eq}, {"ne", &ne, &ne}, {"lt", &lt, &lt}, {"le", &le, &le}, {"gt", &gt, &gt}, {"ge", &ge, &ge}};
  for (const Comparison& cmp : cmps) {
    t.add(cmp.name, "tensors, broadcast", {Grid({3, 4}), Grid({4})}, [f = cmp.f](const V& x) { return f(x[0], x[1]); })
        .dts({kFloat64, kFloat32, kInt64, kInt32});
    t.add(cmp.name, "scalar", {Grid({3, 4})}, [fs = cmp.fs](const V& x) { return fs(x[0], Scalar(0.5)); });
  }
  t.add("logical_and", "", {Mask({3, 4}), Mask({4})}, [](const V& x) { return logical_and(x[0], x[1]); }).dts(kOnce);
  t.add("logical_or", "", {Mask({3, 4}), Mask({3, 4})}, [](const V& x) { return logical_or(x[0], x[1]); })
      .dts(kOnce);
  t.add("logical_xor", "", {Mask({3, 4}), Mask({3, 1})}, [](const V& x) { return logical_xor(x[0], x[1]); })
      .dts(kOnce);
  t.add("logical_xor", "numbers", {Grid({3, 4}), Grid({3, 4})}, [](const V& x) { return logical_xor(x[0], x[1]); });
  t.add("logical_not", "", {Mask({3, 4})}, [](const V& x) { return logical_not(x[0]); }).dts(kOnce);
  t.add("isnan", "", {Special({3, 5})}, [](const V& x) { return isnan(x[0]); });
  t.add("isinf", "", {Special({3, 5})}, [](const V& x) { return isinf(x[0]); });
  t.add("isfinite", "", {Special({3, 5})}, [](const V& x) { return isfinite(x[0]); });

  // selection
  t.add("where", "tensors, broadcast", {Mask({3, 4}), F({4}), F({3, 1})},
        [](const V& x) { return where(x[0], x[1], x[2]); });
  t.add("where", "scalar b", {Mask({3, 4}), F({3, 4})}, [](const V& x) { return where(x[0], x[1], Scalar(1.5)); });
  t.add("where", "scalar a", {Mask({3, 4}), T(F({3, 4}))}, [](const V& x) { return where(x[0], Scalar(-2.0), x[1]); });
  t.add("masked_fill", "broadcast mask", {F({3, 4}), Mask({4})},
        [](const V& x) { return masked_fill(x[0], x[1], 3.0); });

  // in-place variants, on a clone (the gradient flows through the rebased history)
  auto inplace = [&t](const std::string& name, std::vector<In> in, std::function<void(Tensor&, const V&)> f,
                      const std::string& label = "") -> OpCase& {
    return t.add(name, label, std::move(in), [f](const V& x) {
      Tensor y = clone(x[0]);
      f(y, x);
      return y;
    });
  };
  inplace("add_", {F({3, 4}), F({4})}, [](Tensor& y, const V& x) { add_(y, x[1], 2); });
  inplace("add_", {F({3, 4})}, [](Tensor& y, const V&) { add_(y, 0.5); }, "scalar");
  inplace("sub_", {F({3, 4}), F({3, 1})}, [](Tensor& y, const V& x) { sub_(y, x[1], 0.5); });
  inplace("sub_", {F({3, 4})}, [](Tensor& y, const V&) { sub_(y, 2); }, "scalar");
  inplace("mul_", {F({3, 4}), S(F({3, 4}))}, [](Tensor& y, const V& x) { mul_(y, x[1]); });
  inplace("mul_", {F({3, 4})}, [](Tensor& y, const V&) { mul_(y, -3.0); }, "scalar");
  inplace("mul_", {F({3, 4}), F({4})}, [](Tensor& y, const V& x) { mul_(y, x[1]); }, "integers").dts(kInts);
  inplace("div_", {F({3, 4}), Pos({4})}, [](Tensor& y, const V& x) { div_(y, x[1]); });
  inplace("div_", {F({3, 4})}, [](Tensor& y, const V&) { div_(y, 4.0); }, "scalar");
  inplace("pow_", {Pos({3, 4})}, [](Tensor& y, const V&) { pow_(y, 1.5); });
  inplace("neg_", {F({3, 4})}, [](Tensor& y, const V&) { neg_(y); });
  inplace("exp_", {F({3, 4})}, [](Tensor& y, const V&) { exp_(y); });
  inplace("log_", {Pos({3, 4})}, [](Tensor& y, const V&) { log_(y); });
  inplace("sqrt_", {Pos({3, 4})}, [](Tensor& y, const V&) { sqrt_(y); });
  inplace("abs_", {F({3, 4})}, [](Tensor& y, const V&) { abs_(y); });
  inplace("tanh_", {F({3, 4})}, [](Tensor& y, const V&) { tanh_(y); });
  inplace("sigmoid_", {F({3, 4})}, [](Tensor& y, const V&) { sigmoid_(y); });
  inplace("relu_", {F({3, 4})}, [](Tensor& y, const V&) { relu_(y); });
  inplace("clamp_", {F({3, 4})}, [](Tensor& y, const V&) { clamp_(y, Scalar(-0.5), Scalar(0.5)); });
  inplace("lerp_", {F({3, 4}), F({4})}, [](Tensor& y, const V& x) { lerp_(y, x[1], 0.25); });
  inplace("masked_fill_", {F({3, 4}), Mask({3, 1})}, [](Tensor& y, const V& x) { masked_fill_(y, x[1], -1.0); });
  inplace("fill_", {F({3, 4})}, [](Tensor& y, const V&) { fill_(y, 2.0); });
  inplace("zero_", {S(F({3, 4}))}, [](Tensor& y, const V&) { zero_(y); });

  // In-place writes through non-contiguous views (no autograd: views of
  // tensors in a graph cannot be modified in place).
  t.add("add_", "into a strided view", {C({3, 6}), C({3, 3})}, [](const V& x) {
    Tensor y = clone(x[0]);
    Tensor v = y.slice(1, 0, std::nullopt, 2);
    add_(v, x[1], -2);
    return y;
  });
  t.add("mul_", "into a transposed view", {C({4, 3}), C({4})}, [](const V& x) {
    Tensor y = clone(x[0]);
    Tensor v = y.t();
    mul_(v, x[1]);
    return y;
  });
  t.add("fill_", "a strided view", {C({3, 6})}, [](const V& x) {
    Tensor y = clone(x[0]);
    Tensor v = y.slice(1, 1, std::nullopt, 3);
    fill_(v, 7.0);
    return y;
  });
  t.add("copy_", "into a transposed view, converting", {C({3, 4})}, [](const V& x) {
    Tensor y = zeros({4, 3}, TensorOptions(kFloat64).device(x[0].device()));
    Tensor v = y.t();
    copy_(v, x[0]);
    return y;
  });

  // operators
  t.add("operator+", "tensors, scalar, scalar first", {F({3, 4}), F({4})},
        [](const V& x) { return (x[0] + x[1]) + 1.0 + (2.0 + x[0]); });
  t.add("operator-", "binary and unary", {F({3, 4}), F({4})},
        [](const V& x) { return (x[0] - x[1]) - 1.0 - (2.0 - x[0]) + (-x[1]); });
  t.add("operator*", "", {F({3, 4}), F({4})}, [](const V& x) { return (x[0] * x[1]) * 3.0 + (0.5 * x[0]); });
  t.add("operator/", "", {F({3, 4}), Pos({4})}, [](const V& x) { return (x[0] / x[1]) / 3.0 + (2.0 / x[1]); });
  t.add("operator==", "", {Grid({3, 4}), Grid({4})}, [](const V& x) { return (x[0] == x[1]) | (x[0] == 0.5); });
  t.add("operator!=", "", {Grid({3, 4}), Grid({4})}, [](const V& x) { return (x[0] != x[1]) & (x[0] != 0.5); });
  t.add("operator<", "", {Grid({3, 4}), Grid({4})}, [](const V& x) { return (x[0] < x[1]) ^ (x[0] < 0.5); });
  t.add("operator<=", "", {Grid({3, 4}), Grid({4})}, [](const V& x) { return (x[0] <= x[1]) | (x[0] <= 0.5); });
  t.add("operator>", "", {Grid({3, 4}), Grid({4})}, [](const V& x) { return ~(x[0] > x[1]) & (x[0] > 0.5); });
  t.add("operator>=", "", {Grid({3, 4}), Grid({4})}, [](const V& x) { return (x[0] >= x[1]) ^ (x[0] >= 0.5); });
  t.add("operator&", "", {Mask({3, 4}), Mask({4})}, [](const V& x) { return x[0] & x[1]; }).dts(kOnce);
  t.add("operator|", "", {Mask({3, 4}), Mask({4})}, [](const V& x) { return x[0] | x[1]; }).dts(kOnce);
  t.add("operator^", "", {Mask({3, 4}), Mask({4})}, [](const V& x) { return x[0] ^ x[1]; }).dts(kOnce);
  t.add("operator~", "", {Mask({3, 4})}, [](const V& x) { return ~x[0]; }).dts(kOnce);
  inplace("operator+=", {F({3, 4}), F({4})}, [](Tensor& y, const V& x) { y += x[1]; });
  inplace("operator+=", {F({3, 4})}, [](Tensor& y, const V&) { y += 1.0; }, "scalar");
  inplace("operator-=", {F({3, 4}), F({4})}, [](Tensor& y, const V& x) { y -= x[1]; });
  inplace("operator-=", {F({3, 4})}, [](Tensor& y, const V&) { y -= 1.0; }, "scalar");
  inplace("operator*=", {F({3, 4}), F({4})}, [](Tensor& y, const V& x) { y *= x[1]; });
  inplace("operator*=", {F({3, 4})}, [](Tensor& y, const V&) { y *= 2.0; }, "scalar");
  inplace("operator/=", {F({3, 4}), Pos({4})}, [](Tensor& y, const V& x) { y /= x[1]; });
  inplace("operator/=", {F({3, 4})}, [](Tensor& y, const V&) { y /= 2.0; }, "scalar");

  t.add("sum_to", "gradient of broadcasting", {F({3, 4, 5})}, [](const V& x) { return sum_to(x[0], {4, 1}); })
      .tol(1e-4);
}

void reduction_rows(Table& t) {
  t.add("sum", "all", {F({3, 7})}, [](const V& x) { return sum(x[0]); }).tol(1e-4);
  t.add("sum", "dims 0,2 keepdim", {F({3, 4, 5})}, [](const V& x) { return sum(x[0], {0, 2}, true); }).tol(1e-4);
  t.add("sum", "transposed, dim 0", {T(F({5, 7}))}, [](const V& x) { return sum(x[0], {0}); }).tol(1e-4);
  t.add("sum", "strided, odd long rows", {S(F({3, 257}))}, [](const V& x) { return sum(x[0], {-1}); }).tol(1e-4);
  t.add("sum", "empty dim", {F({0, 3})}, [](const V& x) { return sum(x[0], {0}); });
  t.add("sum", "integers -> int64", {F({3, 5})}, [](const V& x) { return sum(x[0], {1}); }).dts(kInts);
  t.add("sum", "bool -> int64", {Mask({3, 5})}, [](const V& x) { return sum(x[0]); }).dts(kOnce);
  t.add("sum", "dtype float64", {F({3, 5})}, [](const V& x) { return sum(x[0], {1}, false, kFloat64); }).tol(1e-4);
  t.add("mean", "dim 1", {F({3, 6})}, [](const V& x) { return mean(x[0], {1}); }).tol(1e-4);
  t.add("mean", "all, transposed", {T(F({4, 5}))}, [](const V& x) { return mean(x[0]); }).tol(1e-4);
  t.add("var", "correction 1, dim 1", {F({3, 6})}, [](const V& x) { return var(x[0], {1}); }).tol(1e-4);
  t.add("var", "correction 0, all, keepdim", {F({3, 6})}, [](const V& x) { return var(x[0], {}, 0, true); })
      .tol(1e-4);
  t.add("std", "dim 0", {F({5, 3})}, [](const V& x) { return wick::std(x[0], {0}); }).tol(1e-4);
  t.add("std", "strided, correction 0", {S(F({3, 6}))}, [](const V& x) { return wick::std(x[0], {1}, 0); })
      .tol(1e-4);
  t.add("prod", "dim 1", {Pos({3, 5})}, [](const V& x) { return prod(x[0], {1}); }).tol(1e-4);
  t.add("prod", "all", {U({7}, -1.5, 1.5)}, [](const V& x) { return prod(x[0]); }).tol(1e-4);
  t.add("prod", "integers", {Pos({3, 4})}, [](const V& x) { return prod(x[0], {0}); }).dts(kInts);
  t.add("logsumexp", "dim 1", {F({3, 6}, 3.0)}, [](const V& x) { return logsumexp(x[0], {1}); }).tol(1e-4);
  t.add("logsumexp", "dims 0,2 keepdim", {F({2, 3, 4})}, [](const V& x) { return logsumexp(x[0], {0, 2}, true); })
      .tol(1e-4);
  t.add("norm", "p 2 all", {F({3, 5})}, [](const V& x) { return norm(x[0]); }).tol(1e-4);
  t.add("norm", "p 1 dim 1", {F({3, 5})}, [](const V& x) { return norm(x[0], 1.0, {1}); }).tol(1e-4);
  t.add("norm", "p inf dim 0", {F({3, 5})}, [](const V& x) {
     return norm(x[0], std::numeric_limits<double>::infinity(), {0});
   }).tol(1e-4);
  t.add("norm", "p 3 keepdim, transposed", {T(F({3, 5}))}, [](const V& x) { return norm(x[0], 3.0, {1}, true); })
      .tol(1e-4);
  t.add("max", "all", {F({3, 5})}, [](const V& x) { return wick::max(x[0]); });
  t.add("max", "dim 1 values", {F({3, 5})}, [](const V& x) { return wick::max(x[0], 1).first; });
  t.add("max", "dim 0 indices keepdim", {T(C({3, 5}))}, [](const V& x) { return wick::max(x[0], 0, true).second; });
  t.add("max", "integers with ties: first index", {Grid({4, 6})}, [](const V& x) {
     return wick::max(x[0], 1).second;
   }).dts(kInts);
  t.add("min", "all", {F({3, 5})}, [](const V& x) { return wick::min(x[0]); });
  t.add("min", "dim 1 values", {S(F({3, 5}))}, [](const V& x) { return wick::min(x[0], 1).first; });
  t.add("min", "dim -1 indices", {C({3, 5})}, [](const V& x) { return wick::min(x[0], -1).second; });
  t.add("amax", "dims 0,2", {F({3, 4, 5})}, [](const V& x) { return amax(x[0], {0, 2}); });
  t.add("amin", "all keepdim", {F({3, 4})}, [](const V& x) { return amin(x[0], {}, true); });
  t.add("argmax", "flattened", {C({3, 5})}, [](const V& x) { return argmax(x[0]); });
  t.add("argmax", "dim 1 keepdim", {T(C({3, 5}))}, [](const V& x) { return argmax(x[0], 1, true); });
  t.add("argmin", "dim 0", {C({3, 5})}, [](const V& x) { return argmin(x[0], 0); });
  t.add("argmin", "integers with ties", {Grid({4, 6})}, [](const V& x) { return argmin(x[0], 1); }).dts(kInts);
  t.add("cumsum", "dim 1", {F({3, 6})}, [](const V& x) { return cumsum(x[0], 1); }).tol(1e-4);
  t.add("cumsum", "dim 0, transposed", {T(F({5, 4}))}, [](const V& x) { return cumsum(x[0], 0); }).tol(1e-4);
  t.add("cumsum", "integers", {F({3, 6})}, [](const V& x) { return cumsum(x[0], 1); }).dts(kInts);
  t.add("all", "dim 1", {Mask({3, 5}, 0.8)}, [](const V& x) { return all(x[0], {1}); }).dts(kOnce);
  t.add("all", "float input, all", {Grid({3, 5})}, [](const V& x) { return all(x[0]); });
  t.add("any", "dims 0 keepdim", {Mask({3, 5}, 0.2)}, [](const V& x) { return any(x[0], {0}, true); }).dts(kOnce);
}

void shape_view_copy_rows(Table& t) {
  t.add("cat", "dim 1, a transposed input", {F({3, 2}), T(F({3, 4})), F({3, 1})},
        [](const V& x) { return cat({x[0], x[1], x[2]}, 1); });
  t.add("cat", "dim 0 with an empty input", {F({2, 3}), F({0, 3}), S(F({1, 3}))},
        [](const V& x) { return cat({x[0], x[1], x[2]}, 0); });
  t.add("stack", "dim 1", {F({3, 4}), F({3, 4})}, [](const V& x) { return stack({x[0], x[1]}, 1); });
  t.add("stack", "dim -1", {F({3, 4}), T(F({3, 4}))}, [](const V& x) { return stack({x[0], x[1]}, -1); });
  t.add("split", "split_size 2 along dim 1", {F({3, 5})}, [](const V& x) {
    auto p = split(x[0], 2, 1);
    return cat({mul(p[2], 3.0), p[0]}, 1);
  });
  t.add("split", "sizes", {F({5, 3})}, [](const V& x) {
    auto p = split(x[0], std::vector<int64_t>{1, 3, 1}, 0);
    return cat({p[1], mul(p[2], 2.0)}, 0);
  });
  t.add("chunk", "7 rows in 3 chunks", {F({7, 4})}, [](const V& x) {
    auto c = chunk(x[0], 3, 0);
    return cat({c[2], mul(c[0], 2.0)}, 0);
  });
  t.add("repeat", "extra leading dim", {F({3, 2})}, [](const V& x) { return repeat(x[0], {2, 1, 3}); });
  t.add("repeat", "transposed", {T(F({3, 2}))}, [](const V& x) { return repeat(x[0], {2, 2}); });
  t.add("tile", "fewer reps than dims", {F({3, 2})}, [](const V& x) { return tile(x[0], {3}); });
  t.add("pad", "constant", {F({2, 3, 4})}, [](const V& x) { return pad(x[0], {1, 2, 0, 3}, "constant", 0.5); });
  t.add("pad", "constant, negative (crop)", {F({2, 3, 4})},
        [](const V& x) { return pad(x[0], {-1, 2, 1, -1}, "constant", -1.0); });
  t.add("pad", "reflect 2 dims", {F({2, 3, 5, 6})}, [](const V& x) { return pad(x[0], {2, 1, 4, 0}, "reflect"); });
  t.add("pad", "reflect, transposed", {T(F({2, 6, 5}))}, [](const V& x) { return pad(x[0], {3, 2}, "reflect"); });
  t.add("flip", "dims 0,2", {F({3, 4, 5})}, [](const V& x) { return flip(x[0], {0, 2}); });
  t.add("flip", "transposed", {T(F({3, 4}))}, [](const V& x) { return flip(x[0], {1}); });
  t.add("roll", "two dims", {F({3, 4, 5})}, [](const V& x) { return roll(x[0], {2, -1}, {2, 0}); });
  t.add("roll", "flattened", {S(F({3, 4}))}, [](const V& x) { return roll(x[0], {7}); });

  t.add("view", "", {F({3, 4})}, [](const V& x) { return view(x[0], {2, -1}); });
  t.add("reshape", "of a transposed input (copies)", {T(F({3, 4}))}, [](const V& x) { return reshape(x[0], {6, 2}); });
  t.add("permute", "", {F({2, 3, 4})}, [](const V& x) { return mul(permute(x[0], {2, 0, 1}), 2.0); });
  t.add("transpose", "", {F({2, 3, 4})}, [](const V& x) { return transpose(x[0], 0, 2); });
  t.add("slice", "negative start, step 2", {F({4, 9})}, [](const V& x) { return slice(x[0], 1, -8, std::nullopt, 2); });
  t.add("narrow", "", {F({5, 4})}, [](const V& x) { return narrow(x[0], 0, 1, 3); });
  t.add("select", "negative index", {F({3, 4, 5})}, [](const V& x) { return select(x[0], 1, -2); });
  t.add("expand", "new leading dim", {F({4, 1})}, [](const V& x) { return mul(expand(x[0], {2, 4, 5}), 1.5); });
  t.add("squeeze", "one dim", {F({3, 1, 4})}, [](const V& x) { return squeeze(x[0], 1); });
  t.add("squeeze", "all size-1 dims", {F({1, 3, 1})}, [](const V& x) { return squeeze(x[0]); });
  t.add("unsqueeze", "", {F({3, 4})}, [](const V& x) { return unsqueeze(x[0], -1); });
  t.add("flatten", "dims 1..2", {F({2, 3, 4, 2})}, [](const V& x) { return flatten(x[0], 1, 2); });
  t.add("unflatten", "", {F({2, 6})}, [](const V& x) { return unflatten(x[0], 1, {2, 3}); });
  t.add("diagonal", "offset 1, dims 1,2", {F({2, 4, 5})}, [](const V& x) { return diagonal(x[0], 1, 1, 2); });
  t.add("as_strided", "overlapping windows", {F({12})},
        [](const V& x) { return as_strided(x[0], {4, 3}, {2, 1}, 1); });

  t.add("copy_", "broadcast into a float64 tensor", {F({4, 1})}, [](const V& x) {
    Tensor d = zeros({3, 4, 5}, TensorOptions(kFloat64).device(x[0].device()));
    copy_(d, x[0]);
    return d;
  });
  t.add("clone", "", {S(F({3, 4}))}, [](const V& x) { return clone(x[0]); });
  t.add("contiguous", "", {T(F({3, 4}))}, [](const V& x) { return contiguous(x[0]); });
  t.add("to_dtype", "to float32", {F({3, 4})}, [](const V& x) { return to_dtype(x[0], kFloat32); });
  t.add("to_dtype", "to float64", {T(F({3, 4}))}, [](const V& x) { return to_dtype(x[0], kFloat64); });
  t.add("to_dtype", "float to int32 (truncates)", {F({3, 4}, 3.0, 0.0, false)},
        [](const V& x) { return to_dtype(x[0], kInt32); });
  t.add("to_device", "to the CPU and back", {F({3, 4})}, [](const V& x) {
    return mul(to_device(mul(to_device(x[0], Device(kCPU)), 2.0), x[0].device()), x[0]);
  });
}

void creation_rows(Table& t) {
  // The first input only gives the device and the dtype.
  const In like = C({3, 4});
  t.add("zeros", "", {like}, [](const V& x) { return zeros({2, 3}, opts(x[0])); });
  t.add("ones", "", {like}, [](const V& x) { return ones({2, 3}, opts(x[0])); });
  t.add("full", "", {like}, [](const V& x) { return full({2, 3}, -1.25, opts(x[0])); });
  t.add("empty", "then filled", {like}, [](const V& x) { return empty({2, 3}, opts(x[0])).fill_(0.75); });
  t.add("scalar_tensor", "", {like}, [](const V& x) { return scalar_tensor(3.5, opts(x[0])); });
  t.add("arange", "end", {like}, [](const V& x) { return arange(7, opts(x[0])); });
  t.add("arange", "start, end, negative step", {like}, [](const V& x) { return arange(2.5, -1.0, -0.5, opts(x[0])); });
  t.add("arange", "int64", {like}, [](const V& x) {
    return arange(1, 11, 3, TensorOptions(kInt64).device(x[0].device()));
  });
  t.add("linspace", "", {like}, [](const V& x) { return linspace(-1.0, 2.0, 7, opts(x[0])); });
  t.add("eye", "3 x 5", {like}, [](const V& x) { return eye(3, 5, opts(x[0])); });
  t.add("hann_window", "", {like}, [](const V& x) { return hann_window(9, true, opts(x[0])); });
  t.add("hamming_window", "symmetric", {like}, [](const V& x) { return hamming_window(8, false, opts(x[0])); });
  t.add("from_vector", "", {like}, [](const V& x) {
    return from_vector(std::vector<double>{1, -2, 3.5, 4, 0.25, -6}, Shape{2, 3}, opts(x[0]));
  });
  t.add("tensor", "", {like}, [](const V& x) { return tensor({1.0, 2.0, -3.0}, std::nullopt, opts(x[0])); });
  t.add("empty_like", "then filled", {C({3, 4})}, [](const V& x) { return empty_like(x[0]).fill_(2.0); });
  t.add("zeros_like", "", {T(C({3, 4}))}, [](const V& x) { return zeros_like(x[0]); });
  t.add("ones_like", "", {C({3, 4})}, [](const V& x) { return ones_like(x[0], TensorOptions(kInt64)); });
  t.add("full_like", "", {C({3, 4})}, [](const V& x) { return full_like(x[0], 0.5); });
}

void indexing_rows(Table& t) {
  t.add("index_select", "dim 0, repeated indices", {F({5, 4}), Idx({7}, 5)},
        [](const V& x) { return index_select(x[0], 0, x[1]); });
  t.add("index_select", "dim 1, transposed", {T(F({5, 4})), Idx({3}, 4)},
        [](const V& x) { return index_select(x[0], 1, x[1]); });
  t.add("index_add", "dim 0, duplicates, alpha 2", {F({5, 4}), Idx({6}, 5), F({6, 4})},
        [](const V& x) { return index_add(x[0], 0, x[1], x[2], 2.0); });
  t.add("gather", "dim 1", {F({4, 5}), Idx({4, 3}, 5)}, [](const V& x) { return gather(x[0], 1, x[1]); });
  t.add("gather", "dim 0, transposed", {T(F({4, 5})), Idx({2, 5}, 4)},
        [](const V& x) { return gather(x[0], 0, x[1]); });
  t.add("scatter", "src, unique indices", {F({4, 5}), Perm({4, 3}, 1, 5), F({4, 3})},
        [](const V& x) { return scatter(x[0], 1, x[1], x[2]); });
  t.add("scatter", "value", {F({4, 5}), Perm({2, 5}, 0, 4)}, [](const V& x) { return scatter(x[0], 0, x[1], 2.5); });
  t.add("scatter_add", "duplicates", {F({4, 5}), Idx({4, 6}, 5), F({4, 6})},
        [](const V& x) { return scatter_add(x[0], 1, x[1], x[2]); });
  t.add("masked_select", "broadcast mask", {F({3, 4}), Mask({4})},
        [](const V& x) { return masked_select(x[0], x[1]); });
  t.add("nonzero", "bool", {Mask({3, 5})}, [](const V& x) { return nonzero(x[0]); }).dts(kOnce);
  t.add("nonzero", "numbers", {Grid({2, 3, 4})}, [](const V& x) { return nonzero(x[0]); });
  t.add("index", "two index tensors around a ':'", {F({5, 4, 3}), Idx({2, 3}, 5), Idx({3}, 3)},
        [](const V& x) { return index(x[0], {x[1], Tensor(), x[2]}); });
  t.add("index", "bool mask", {F({5, 3}), Mask({5})}, [](const V& x) { return index(x[0], {x[1]}); });
  t.add("index_put", "unique indices", {F({5, 4}), Perm({3}, 0, 5), F({3, 4})},
        [](const V& x) { return index_put(x[0], {x[1]}, x[2]); });
  t.add("index_put", "accumulate duplicates", {F({5, 4}), Idx({6}, 5), F({6, 4})},
        [](const V& x) { return index_put(x[0], {x[1]}, x[2], true); });
  t.add("one_hot", "", {Idx({3, 4}, 6)}, [](const V& x) { return one_hot(x[0], 6); }).dts(kOnce);
  t.add("embedding", "padding_idx 2", {F({7, 3}), Idx({2, 5}, 7)},
        [](const V& x) { return embedding(x[0], x[1], 2); });
}

void sort_rows(Table& t) {
  t.add("sort", "values, dim -1", {F({3, 7})}, [](const V& x) { return sort(x[0]).first; });
  t.add("sort", "indices, dim 0 descending, transposed", {T(C({5, 4}))},
        [](const V& x) { return sort(x[0], 0, true).second; });
  t.add("sort", "stable with ties", {Grid({3, 9})}, [](const V& x) { return sort(x[0]).second; })
      .dts({kFloat32, kInt64, kInt32});
  t.add("argsort", "descending", {C({4, 6})}, [](const V& x) { return argsort(x[0], -1, true); });
  t.add("topk", "values, largest", {F({3, 8})}, [](const V& x) { return topk(x[0], 3).first; });
  t.add("topk", "indices, smallest along dim 0", {C({6, 4})},
        [](const V& x) { return topk(x[0], 2, 0, false).second; });
}

void linalg_rows(Table& t) {
  t.add("matmul", "1-d . 1-d", {F({7}), F({7})}, [](const V& x) { return matmul(x[0], x[1]); }).tol(1e-4);
  t.add("matmul", "2-d @ 1-d", {F({3, 7}), F({7})}, [](const V& x) { return matmul(x[0], x[1]); }).tol(1e-4);
  t.add("matmul", "1-d @ 3-d", {F({4}), F({2, 4, 3})}, [](const V& x) { return matmul(x[0], x[1]); }).tol(1e-4);
  t.add("matmul", "broadcast batch", {F({2, 1, 3, 5}), F({4, 5, 6})},
        [](const V& x) { return matmul(x[0], x[1]); }).tol(1e-4);
  t.add("matmul", "transposed operands", {T(F({3, 5})), T(F({5, 6}))},
        [](const V& x) { return matmul(x[0], x[1]); }).tol(1e-4);
  t.add("matmul", "strided operand", {S(F({4, 5})), F({5, 3})}, [](const V& x) { return matmul(x[0], x[1]); })
      .tol(1e-4);
  t.add("matmul", "inner size 0", {F({3, 0}), F({0, 4})}, [](const V& x) { return matmul(x[0], x[1]); });
  t.add("mm", "odd sizes", {F({17, 33}), F({33, 9})}, [](const V& x) { return mm(x[0], x[1]); }).tol(1e-4);
  t.add("bmm", "", {F({3, 4, 5}), T(F({3, 5, 6}))}, [](const V& x) { return bmm(x[0], x[1]); }).tol(1e-4);
  t.add("mv", "", {T(F({5, 6})), F({6})}, [](const V& x) { return mv(x[0], x[1]); }).tol(1e-4);
  t.add("dot", "", {F({9}), S(F({9}))}, [](const V& x) { return dot(x[0], x[1]); }).tol(1e-4);
  t.add("outer", "", {F({4}), F({5})}, [](const V& x) { return outer(x[0], x[1]); });
  t.add("addmm", "broadcast c, alpha, beta", {F({5}), F({3, 4}), F({4, 5})},
        [](const V& x) { return addmm(x[0], x[1], x[2], 0.5, 2.0); }).tol(1e-4);
  t.add("tril", "k -1", {F({2, 4, 5})}, [](const V& x) { return tril(x[0], -1); });
  t.add("triu", "k 1", {F({4, 5})}, [](const V& x) { return triu(x[0], 1); });
  t.add("eigh", "eigenvalues", {C({4, 4})}, [](const V& x) { return eigh(add(x[0], x[0].mT())).first; });
}

void nn_loss_rows(Table& t) {
  t.add("softmax", "dim -1", {F({3, 7}, 3.0)}, [](const V& x) { return softmax(x[0], -1); }).tol(1e-4);
  t.add("softmax", "dim 0, transposed", {T(F({5, 4}, 3.0))}, [](const V& x) { return softmax(x[0], 0); }).tol(1e-4);
  t.add("softmax", "middle dim, odd", {F({2, 33, 3})}, [](const V& x) { return softmax(x[0], 1); }).tol(1e-4);
  t.add("log_softmax", "dim -1", {F({3, 7}, 3.0)}, [](const V& x) { return log_softmax(x[0], -1); }).tol(1e-4);
  t.add("log_softmax", "dim 1, strided", {S(F({3, 5}, 3.0))}, [](const V& x) { return log_softmax(x[0], 1); })
      .tol(1e-4);
  t.add("layer_norm", "2 normalized dims, affine", {F({3, 4, 5}), F({4, 5}), F({4, 5})},
        [](const V& x) { return layer_norm(x[0], {4, 5}, x[1], x[2]); }).tol(1e-4);
  t.add("layer_norm", "no affine, transposed", {T(F({7, 4}))}, [](const V& x) { return layer_norm(x[0], {4}); })
      .tol(1e-4);
  t.add("rms_norm", "weight", {F({3, 6}), F({6})}, [](const V& x) { return rms_norm(x[0], {6}, x[1]); }).tol(1e-4);
  t.add("rms_norm", "no weight", {F({2, 3, 5})}, [](const V& x) { return rms_norm(x[0], {3, 5}); }).tol(1e-4);
  t.add("batch_norm", "training, affine, running stats", {F({4, 3, 5}), C({3}), Pos({3}, false), F({3}), F({3})},
        [](const V& x) { return batch_norm(x[0], x[1], x[2], x[3], x[4], true, 0.2); }).tol(1e-4);
  t.add("batch_norm", "training: updated running_var", {C({4, 3, 5}), C({3}), Pos({3}, false)}, [](const V& x) {
     batch_norm(x[0], x[1], x[2], Tensor(), Tensor(), true, 0.2);
     return x[2].clone();
   }).tol(1e-4);
  t.add("batch_norm", "eval, 4-d", {F({2, 3, 4, 5}), C({3}), Pos({3}, false), F({3}), F({3})},
        [](const V& x) { return batch_norm(x[0], x[1], x[2], x[3], x[4], false); }).tol(1e-4);
  t.add("batch_norm_relu", "training, residual", {F({4, 3, 5}), C({3}), Pos({3}, false), F({3}), F({3}), F({4, 3, 5})},
        [](const V& x) { return batch_norm_relu(x[0], x[1], x[2], x[3], x[4], true, 0.2, 1e-5, x[5]); }).tol(1e-4);
  t.add("batch_norm_relu", "eval, no residual", {F({2, 3, 4, 5}), C({3}), Pos({3}, false), F({3}), F({3})},
        [](const V& x) { return batch_norm_relu(x[0], x[1], x[2], x[3], x[4], false); }).tol(1e-4);
  t.add("group_norm", "affine", {F({2, 6, 5}), F({6}), F({6})},
        [](const V& x) { return group_norm(x[0], 3, x[1], x[2]); }).tol(1e-4);
  t.add("group_norm", "no affine, 4-d", {F({2, 4, 3, 3})}, [](const V& x) { return group_norm(x[0], 2); }).tol(1e-4);
  t.add("dropout", "eval mode (identity)", {F({3, 4})}, [](const V& x) { return dropout(x[0], 0.5, false); });
  t.add("dropout", "p = 0 (identity)", {F({3, 4})}, [](const V& x) { return dropout(x[0], 0.0, true); });
  t.add("linear", "bias, 3-d input", {F({2, 3, 5}), F({4, 5}), F({4})},
        [](const V& x) { return linear(x[0], x[1], x[2]); }).tol(1e-4);
  t.add("linear", "no bias", {T(F({3, 5})), F({4, 5})}, [](const V& x) { return linear(x[0], x[1]); }).tol(1e-4);

  // Targets with some ignored entries (-100) among classes [0, C).
  auto ignoring = [](Shape s, int64_t C) {
    return Custom([=](DType, Generator& g) {
      Tensor t = randint(0, C, s, TensorOptions(kInt64), &g);
      return where(lt(rand(s, TensorOptions(kFloat64), &g), 0.2), Scalar(int64_t{-100}), t);
    });
  };
  t.add("cross_entropy", "class indices", {F({5, 7}), Idx({5}, 7)},
        [](const V& x) { return cross_entropy(x[0], x[1]); }).tol(1e-4);
  t.add("cross_entropy", "weight, ignore_index, smoothing", {F({6, 5}), ignoring({6}, 5), Pos({5}, false)},
        [](const V& x) { return cross_entropy(x[0], x[1], x[2], -100, Reduction::Mean, 0.1); }).tol(1e-4);
  t.add("cross_entropy", "[N, C, d], reduction none", {F({3, 4, 5}), Idx({3, 5}, 4)},
        [](const V& x) { return cross_entropy(x[0], x[1], Tensor(), -100, Reduction::None); }).tol(1e-4);
  t.add("cross_entropy", "unbatched, sum", {F({6}), Idx({}, 6)},
        [](const V& x) { return cross_entropy(x[0], x[1], Tensor(), -100, Reduction::Sum); }).tol(1e-4);
  t.add("cross_entropy", "probabilities, smoothing", {F({4, 5}), Prob({4, 5}, 1, true)},
        [](const V& x) { return cross_entropy(x[0], x[1], Tensor(), -100, Reduction::Mean, 0.2); }).tol(1e-4);
  t.add("cross_entropy", "smoothing, class weight requiring grad (composed path)", {F({5, 4}), Idx({5}, 4), Pos({4})},
        [](const V& x) { return cross_entropy(x[0], x[1], x[2], -100, Reduction::Mean, 0.1); }).tol(1e-4);
  t.add("nll_loss", "", {F({5, 4}), Idx({5}, 4)}, [](const V& x) { return nll_loss(x[0], x[1]); }).tol(1e-4);
  t.add("binary_cross_entropy_with_logits", "", {F({4, 3}), U({4, 3}, 0.0, 1.0, false)},
        [](const V& x) { return binary_cross_entropy_with_logits(x[0], x[1]); }).tol(1e-4);
  t.add("binary_cross_entropy_with_logits", "weight and pos_weight", {F({4, 3}), U({4, 3}, 0.0, 1.0, false), Pos({3}),
        Pos({3})},
        [](const V& x) { return binary_cross_entropy_with_logits(x[0], x[1], x[2], x[3], Reduction::None); });
  t.add("mse_loss", "mean", {F({3, 5}), F({3, 5})}, [](const V& x) { return mse_loss(x[0], x[1]); }).tol(1e-4);
  t.add("mse_loss", "none, broadcast target", {F({3, 5}), F({5})},
        [](const V& x) { return mse_loss(x[0], x[1], Reduction::None); });
  t.add("l1_loss", "sum", {F({3, 5}), T(F({3, 5}))}, [](const V& x) { return l1_loss(x[0], x[1], Reduction::Sum); })
      .tol(1e-4);
  t.add("smooth_l1_loss", "beta 0.5", {F({3, 5}), F({3, 5})},
        [](const V& x) { return smooth_l1_loss(x[0], x[1], Reduction::Mean, 0.5); }).tol(1e-4);
  t.add("kl_div", "probability target", {F({3, 5}), Prob({3, 5}, 1, true)},
        [](const V& x) { return kl_div(log_softmax(x[0], 1), x[1]); }).tol(1e-4);
  t.add("kl_div", "log target, none", {F({3, 5}), F({3, 5})},
        [](const V& x) { return kl_div(x[0], x[1], Reduction::None, true); }).tol(1e-4);
  t.add("kl_div_batchmean", "", {F({4, 5}), Prob({4, 5}, 1)},
        [](const V& x) { return kl_div_batchmean(log_softmax(x[0], 1), x[1]); }).tol(1e-4);
  t.add("cosine_similarity", "broadcast, dim -1", {F({4, 1, 6}), F({3, 6})},
        [](const V& x) { return cosine_similarity(x[0], x[1], -1); }).tol(1e-4);
  t.add("normalize", "p 2 dim 1", {F({3, 5})}, [](const V& x) { return normalize(x[0]); }).tol(1e-4);
  t.add("normalize", "p 1 dim 0, transposed", {T(F({3, 5}))}, [](const V& x) { return normalize(x[0], 1.0, 0); })
      .tol(1e-4);
  t.add("cdist", "p 2, batched", {F({2, 4, 3}), F({2, 5, 3})}, [](const V& x) { return cdist(x[0], x[1]); })
      .tol(1e-4);
  t.add("cdist", "p 1", {F({4, 3}), F({5, 3})}, [](const V& x) { return cdist(x[0], x[1], 1.0); }).tol(1e-4);
  t.add("cdist", "p 3", {F({4, 3}), T(F({5, 3}))}, [](const V& x) { return cdist(x[0], x[1], 3.0); }).tol(1e-4);
}

void conv_pool_attention_rows(Table& t) {
  t.add("conv1d", "stride 2, padding 1, dilation 2, groups 2, bias", {F({2, 4, 11}), F({6, 2, 3}), F({6})},
        [](const V& x) { return conv1d(x[0], x[1], x[2], 2, 1, 2, 2); }).tol(1e-4);
  t.add("conv1d", "unbatched, no bias", {F({3, 9}), F({4, 3, 2})}, [](const V& x) { return conv1d(x[0], x[1]); })
      .tol(1e-4);
  t.add("conv2d", "stride, padding, dilation, bias", {F({2, 3, 7, 6}), F({4, 3, 3, 2}), F({4})},
        [](const V& x) { return conv2d(x[0], x[1], x[2], {2, 1}, {1, 0}, {1, 2}); }).tol(1e-4);
  t.add("conv2d", "groups 2", {F({1, 4, 5, 5}), F({6, 2, 3, 3})},
        [](const V& x) { return conv2d(x[0], x[1], Tensor(), {1, 1}, {1, 1}, {1, 1}, 2); }).tol(1e-4);
  t.add("conv2d", "depthwise, transposed input", {T(F({2, 3, 6, 5})), F({3, 1, 3, 3}), F({3})},
        [](const V& x) { return conv2d(x[0], x[1], x[2], {1, 1}, {1, 1}, {1, 1}, 3); }).tol(1e-4);
  t.add("conv2d", "1x1, unbatched", {F({3, 5, 4}), F({2, 3, 1, 1})}, [](const V& x) { return conv2d(x[0], x[1]); })
      .tol(1e-4);
  t.add("conv_transpose2d", "stride 2, padding 1, output_padding 1, bias", {F({2, 4, 5, 4}), F({4, 3, 3, 3}), F({3})},
        [](const V& x) { return conv_transpose2d(x[0], x[1], x[2], {2, 2}, {1, 1}, {1, 1}); }).tol(1e-4);
  t.add("conv_transpose2d", "groups 2, dilation 2", {F({1, 4, 4, 5}), F({4, 2, 2, 3})},
        [](const V& x) { return conv_transpose2d(x[0], x[1], Tensor(), {1, 2}, {0, 1}, {0, 1}, 2, {2, 2}); })
      .tol(1e-4);

  t.add("max_pool2d", "padding, dilation, ceil_mode", {F({2, 3, 7, 8})},
        [](const V& x) { return max_pool2d(x[0], {3, 2}, std::array<int64_t, 2>{2, 2}, {1, 1}, {1, 2}, true); });
  t.add("max_pool2d", "unbatched, transposed", {T(F({3, 7, 6}))}, [](const V& x) { return max_pool2d(x[0], {2, 2}); });
  t.add("max_pool2d_with_indices", "values", {F({2, 2, 7, 7})},
        [](const V& x) { return max_pool2d_with_indices(x[0], {3, 3}, std::array<int64_t, 2>{2, 2}, {1, 1}).first; });
  t.add("max_pool2d_with_indices", "indices", {C({2, 2, 7, 7})},
        [](const V& x) { return max_pool2d_with_indices(x[0], {3, 3}, std::array<int64_t, 2>{2, 2}, {1, 1}).second; });
  t.add("avg_pool2d", "padding, ceil_mode, count_include_pad false", {F({2, 3, 7, 8})}, [](const V& x) {
     return avg_pool2d(x[0], {3, 3}, std::array<int64_t, 2>{2, 2}, {1, 1}, true, false);
   }).tol(1e-4);
  t.add("avg_pool2d", "default stride", {F({2, 3, 6, 6})}, [](const V& x) { return avg_pool2d(x[0], {2, 3}); })
      .tol(1e-4);
  t.add("adaptive_avg_pool2d", "7x8 -> 3x5", {F({2, 3, 7, 8})},
        [](const V& x) { return adaptive_avg_pool2d(x[0], {3, 5}); }).tol(1e-4);
  t.add("interpolate", "nearest, size", {F({2, 3, 4, 5})},
        [](const V& x) { return interpolate(x[0], std::array<int64_t, 2>{7, 11}); });
  t.add("interpolate", "bilinear, scale factor", {F({2, 3, 4, 6})}, [](const V& x) {
     return interpolate(x[0], std::nullopt, std::array<double, 2>{1.5, 0.75}, "bilinear");
   }).tol(1e-4);
  t.add("interpolate", "bilinear, align_corners", {F({1, 2, 5, 4})}, [](const V& x) {
     return interpolate(x[0], std::array<int64_t, 2>{8, 7}, std::nullopt, "bilinear", true);
   }).tol(1e-4);

  // Boolean masks with column 0 always attended (no fully masked row).
  auto attend_mask = [](Shape s) {
    return Custom([=](DType, Generator& g) {
      Tensor m = lt(rand(s, TensorOptions(kFloat64), &g), 0.7);
      m.select(-1, 0).fill_(true);
      return m;
    });
  };
  using Sdpa = Tensor (*)(const Tensor&, const Tensor&, const Tensor&, const Tensor&, double, bool,
                          std::optional<double>, Generator*);
  for (const auto& impl : std::vector<std::pair<std::string, Sdpa>>{
           {"scaled_dot_product_attention", &scaled_dot_product_attention},
           {"scaled_dot_product_attention_math", &scaled_dot_product_attention_math}}) {
    const std::string& name = impl.first;
    const Sdpa f = impl.second;
    t.add(name, "L != S, head dims 8 -> 6", {F({2, 3, 5, 8}), F({2, 3, 7, 8}), F({2, 3, 7, 6})},
          [f](const V& x) { return f(x[0], x[1], x[2], Tensor(), 0.0, false, std::nullopt, nullptr); }).tol(1e-4);
    t.add(name, "causal, scale", {F({1, 2, 9, 5}), F({1, 2, 9, 5}), F({1, 2, 9, 5})},
          [f](const V& x) { return f(x[0], x[1], x[2], Tensor(), 0.0, true, 0.3, nullptr); }).tol(1e-4);
    t.add(name, "bool mask broadcast", {F({2, 3, 5, 4}), F({2, 3, 6, 4}), F({2, 3, 6, 4}), attend_mask({5, 6})},
          [f](const V& x) { return f(x[0], x[1], x[2], x[3], 0.0, false, std::nullopt, nullptr); }).tol(1e-4);
    t.add(name, "float mask, 3-d, transposed q", {T(F({2, 5, 4})), F({2, 6, 4}), F({2, 6, 3}), C({1, 5, 6})},
          [f](const V& x) { return f(x[0], x[1], x[2], x[3], 0.0, false, std::nullopt, nullptr); }).tol(1e-4);
  }
  t.add("scaled_dot_product_attention", "head dim 130 (math fallback on CUDA)",
        {F({1, 2, 3, 130}, 0.2), F({1, 2, 4, 130}, 0.2), F({1, 2, 4, 130})},
        [](const V& x) { return scaled_dot_product_attention(x[0], x[1], x[2]); }).tol(1e-4);

}

void fft_unique_rows(Table& t) {
  // FFT (complex tensors are [..., 2]): the CUDA kernels when cuda::set_fft_kernels is on, else a host round trip.
  t.add("fft", "", {F({3, 8, 2})}, [](const V& x) { return fft(x[0]); });
  t.add("ifft", "", {F({3, 8, 2})}, [](const V& x) { return ifft(x[0]); });
  t.add("rfft", "", {F({3, 8})}, [](const V& x) { return rfft(x[0]); });
  t.add("irfft", "", {F({3, 5, 2})}, [](const V& x) { return irfft(x[0]); });
  t.add("complex_abs", "", {F({3, 4, 2})}, [](const V& x) { return complex_abs(x[0]); });
  t.add("stft", "hann window", {F({2, 64})},
        [](const V& x) { return stft(x[0], 16, 4, std::nullopt, hann_window(16, true, opts(x[0]))); });
  t.add("istft", "of a hann stft", {F({2, 64})}, [](const V& x) {
     Tensor w = hann_window(16, true, opts(x[0]));
     return istft(stft(x[0], 16, 4, std::nullopt, w), 16, 4, std::nullopt, w, true, false, true, 64);
   });
  t.add("unique", "values", {Grid({4, 5})}, [](const V& x) { return unique(x[0]).values; });
  t.add("unique", "inverse", {Grid({4, 5})}, [](const V& x) { return unique(x[0]).inverse; });
  t.add("unique", "counts", {Grid({33})}, [](const V& x) { return unique(x[0]).counts; });
}

const std::vector<OpCase>& cases() {
  static const std::vector<OpCase> rows = [] {
    Table t;
    const std::vector<std::pair<std::string, void (*)(Table&)>> families = {
        {"elementwise", &elementwise_rows},  {"reduction", &reduction_rows},
        {"shape_view_copy", &shape_view_copy_rows}, {"creation", &creation_rows},
        {"indexing", &indexing_rows},        {"sort", &sort_rows},
        {"linalg", &linalg_rows},            {"nn_loss", &nn_loss_rows},
        {"conv_pool_attention", &conv_pool_attention_rows}, {"fft_unique", &fft_unique_rows}};
    for (const auto& [name, rows_of] : families) {
      t.family = name;
      rows_of(t);
    }
    return t.rows;
  }();
  return rows;
}

// ---- the runner ----

// One input's CPU data, arranged so that view_on_device() of its copy gives the logical values.
Tensor arrange(const Tensor& logical, Layout layout) {
  switch (layout) {
    case Layout::Contiguous: return logical.contiguous();
    case Layout::Transposed: return logical.transpose(-1, -2).contiguous();
    case Layout::Strided: {
      Shape big = logical.sizes();
      big.back() *= 2;
      const Scalar poison = is_floating(logical.dtype()) ? Scalar(std::nan("")) : Scalar(int64_t{77});
      Tensor t = full(big, poison, TensorOptions(logical.dtype()));
      Tensor every_other = t.slice(-1, 0, std::nullopt, 2);
      every_other.copy_(logical);
      return t;
    }
  }
  return logical;
}

Tensor view_on_device(const Tensor& t, Layout layout) {
  switch (layout) {
    case Layout::Contiguous: return t;
    case Layout::Transposed: return t.transpose(-1, -2);
    case Layout::Strided: return t.slice(-1, 0, std::nullopt, 2);
  }
  return t;
}

uint64_t case_seed(size_t index, DType dt) { return 1000003ULL * (index + 1) + static_cast<uint64_t>(dt); }

std::vector<Tensor> make_inputs(const OpCase& c, DType dt, uint64_t seed) {
  std::vector<Tensor> data;
  for (size_t i = 0; i < c.in.size(); ++i) {
    Generator g(seed + 7919 * i);
    Tensor v;
    {
      NoGradGuard ng;
      v = c.in[i].gen(dt, g);
    }
    data.push_back(arrange(v, c.in[i].layout));
  }
  return data;
}

struct Result {
  Tensor out;                 // on the CPU
  std::vector<Tensor> grads;  // per input (undefined where none)
};

Result run_on(const OpCase& c, const std::vector<Tensor>& data, Device dev, uint64_t seed) {
  V ins;
  for (size_t i = 0; i < data.size(); ++i) {
    // A copy even on the CPU: ops such as batch_norm update an input in place.
    Tensor t = view_on_device(dev.is_cpu() ? data[i].clone() : data[i].to(dev), c.in[i].layout);
    if (c.in[i].grad && is_floating(t.dtype())) {
      t = t.detach();  // a non-contiguous leaf
      t.requires_grad_();
    }
    ins.push_back(t);
  }
  Tensor out = c.fn(ins);
  Result r;
  r.out = out.detach().to(Device(kCPU));
  if (out.requires_grad()) {
    Generator g(seed ^ 0x5eedULL);
    Tensor w = randn(out.sizes(), TensorOptions(kFloat64), &g).to(out.dtype()).to(out.device());
    sum(mul(out, w)).backward();
  }
  for (const Tensor& t : ins) r.grads.push_back(t.grad().defined() ? t.grad().to(Device(kCPU)) : Tensor());
  return r;
}

::testing::AssertionResult same(const Tensor& got, const Tensor& want, double tol) {
  if (!got.defined() && !want.defined()) return ::testing::AssertionSuccess();
  if (got.defined() != want.defined())
    return ::testing::AssertionFailure() << (got.defined() ? "unexpected" : "missing") << " tensor on " << kDev;
  if (got.dtype() != want.dtype())
    return ::testing::AssertionFailure() << "dtype " << got.dtype() << " vs " << want.dtype();
  if (got.sizes() != want.sizes())
    return ::testing::AssertionFailure() << "shape " << shape_str(got.sizes()) << " vs " << shape_str(want.sizes());
  if (is_floating(got.dtype())) return wick::test::all_close(got, want, tol, tol);
  return wick::test::all_equal(got, want);
}

// Runs one row in each of its dtypes: the CPU, then kDev, then the comparisons.
void run_row(const OpCase& c, size_t index) {
  for (DType dt : c.dtypes) {
    SCOPED_TRACE(str("op ", c.op, " [", c.label, "] ", dt, c.cpu_only ? " (CPU-only op)" : ""));
    const uint64_t seed = case_seed(index, dt);
    try {
      const std::vector<Tensor> data = make_inputs(c, dt, seed);
      const Result want = run_on(c, data, Device(kCPU), seed);
      for (size_t i = 0; i < c.in.size(); ++i)  // a row that marks an input differentiable must exercise a backward
        EXPECT_TRUE(!c.in[i].grad || !is_floating(dt) || want.grads[i].defined())
            << "table bug: input " << i << " is marked differentiable but gets no gradient on the CPU";
      if (c.cpu_only) {
        // No kernel on kDev yet: a clear error naming the device. When one is
        // added this fails: make the row a normal one (drop no_cuda()).
        EXPECT_WICK_ERROR(run_on(c, data, kDev, seed), kDev.str());
        continue;
      }
      const Result got = run_on(c, data, kDev, seed);
      // By the output's dtype too: an integer input can give a float32 result (exp of int64).
      const double tol = dt == kFloat32 || want.out.dtype() == kFloat32 ? c.tol32 : c.tol64;
      EXPECT_TRUE(same(got.out, want.out, tol)) << "forward output";
      for (size_t i = 0; i < got.grads.size(); ++i)
        EXPECT_TRUE(same(got.grads[i], want.grads[i], tol)) << "gradient of input " << i;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "threw: " << e.what();
    }
  }
}

std::vector<std::string> families() {
  std::vector<std::string> f;
  for (const OpCase& c : cases())
    if (std::find(f.begin(), f.end(), c.family) == f.end()) f.push_back(c.family);
  return f;
}

// One test per family of rows (a test per row would start ~350 processes
// under ctest). WICK_BACKEND_OPS=<op name> runs only that op's rows.
class CudaBackendOps : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaBackendOps, MatchesTheCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  const char* only = std::getenv("WICK_BACKEND_OPS");
  size_t ran = 0;
  for (size_t index = 0; index < cases().size(); ++index) {
    const OpCase& c = cases()[index];
    if (c.family != GetParam() || (only && c.op != only)) continue;
    ++ran;
    run_row(c, index);
  }
  if (only && ran == 0) GTEST_SKIP() << "no row of this family for op " << only;
}

INSTANTIATE_TEST_SUITE_P(AllOps, CudaBackendOps, ::testing::ValuesIn(families()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// dropout is random: compare statistics, not values. On kDev, p = 0.3 over
// 20000 elements zeroes a fraction within 0.02 of 0.3 (6 standard
// deviations), keeps the rest scaled by 1/(1-p), and its gradient is the
// same mask and scale.
TEST(CudaBackendOpsRandom, DropoutStatistics) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : {kFloat64, kFloat32}) {
    SCOPED_TRACE(str("dropout ", dt));
    Generator g(5);
    Tensor x = add(rand({20000}, TensorOptions(dt), &g), 0.5).to(kDev).requires_grad_();
    Generator dg(11);
    Tensor y = dropout(x, 0.3, true, &dg);
    ASSERT_EQ(y.device(), kDev);
    Tensor kept = ne(y, 0.0);
    const double dropped = 1.0 - sum(kept).item() / 20000.0;
    EXPECT_NEAR(dropped, 0.3, 0.02);
    Tensor expect = where(kept, div(x.detach(), 0.7), Scalar(0.0));
    EXPECT_TRUE(wick::test::all_close(y.detach().cpu(), expect.cpu(), 1e-6, 1e-6));
    sum(y).backward();
    EXPECT_TRUE(wick::test::all_close(x.grad().cpu(), mul(kept.to(dt), 1.0 / 0.7).cpu(), 1e-6, 1e-6));
  }
}

// Every name declared in ops/*.h, enumerated on 2026-11-27 with
//   grep -h '^Tensor\|^std::pair\|^std::vector<Tensor>\|^UniqueResult\|^DType\|^Shape\|^void\|^bool' ops/*.h
// (the return types of every function declared at column 0), overloads merged
// (216 names). EveryDeclaredOpHasARow re-reads the headers and fails on any difference.
const std::vector<std::string> kDeclared = {
    // attention.h
    "scaled_dot_product_attention", "scaled_dot_product_attention_math", "scaled_dot_product_attention_uses_flash",
    // conv.h
    "conv1d", "conv2d", "conv_transpose2d",
    // copy.h
    "copy_", "clone", "contiguous", "to_dtype", "to_device", "check_writable",
    // creation.h
    "empty", "zeros", "ones", "full", "scalar_tensor", "arange", "linspace", "eye", "empty_like", "zeros_like",
    "ones_like", "full_like", "from_vector", "tensor", "from_blob",
    // elementwise.h
    "result_type", "sum_to", "add", "sub", "rsub", "mul", "div", "rdiv", "neg", "pow", "minimum", "maximum", "atan2",
    "clamp", "clamp_min", "clamp_max", "lerp", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "abs", "sign", "sin",
    "cos", "tanh", "sigmoid", "erf", "floor", "round", "square", "reciprocal", "relu", "relu_backward", "leaky_relu", "gelu", "silu",
    "softplus", "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor", "logical_not",
    "isnan", "isinf", "isfinite", "where", "masked_fill", "add_", "sub_", "mul_", "div_", "pow_", "neg_", "exp_",
    "log_", "sqrt_", "abs_", "tanh_", "sigmoid_", "relu_", "clamp_", "lerp_", "masked_fill_", "fill_", "zero_",
    "operator+", "operator-", "operator*", "operator/", "operator==", "operator!=", "operator<", "operator<=",
    "operator>", "operator>=", "operator&", "operator|", "operator^", "operator~", "operator+=", "operator-=",
    "operator*=", "operator/=",
    // fft.h
    "fft", "ifft", "rfft", "irfft", "complex_abs", "hann_window", "hamming_window", "stft", "istft",
    // indexing.h
    "index_select", "index_add", "gather", "scatter", "scatter_add", "masked_select", "nonzero", "index", "index_put",
    "one_hot", "embedding",
    // inplace.h
    "apply_inplace",
    // linalg.h
    "matmul", "mm", "bmm", "mv", "dot", "outer", "addmm", "tril", "triu", "eigh",
    // loss.h
    "cross_entropy", "nll_loss", "binary_cross_entropy_with_logits", "mse_loss", "l1_loss", "smooth_l1_loss",
    "kl_div", "kl_div_batchmean", "cosine_similarity", "normalize", "cdist",
    // nn.h
    "softmax", "log_softmax", "layer_norm", "rms_norm", "batch_norm", "batch_norm_relu", "group_norm", "dropout", "linear",
    // pool.h
    "max_pool2d", "max_pool2d_with_indices", "avg_pool2d", "adaptive_avg_pool2d", "interpolate",
    // reduction.h
    "sum", "mean", "var", "std", "prod", "logsumexp", "norm", "max", "min", "amax", "amin", "argmax", "argmin",
    "cumsum", "all", "any", "reduced_shape",
    // shape.h
    "cat", "stack", "split", "chunk", "repeat", "tile", "pad", "flip", "roll",
    // sort.h
    "sort", "argsort", "topk", "unique",
    // view.h
    "view", "reshape", "permute", "transpose", "slice", "narrow", "select", "expand", "squeeze", "unsqueeze",
    "flatten", "unflatten", "diagonal", "as_strided",
};

// Declared names that are not ops on tensors of a device, and why.
const std::map<std::string, std::string> kExcluded = {
    {"result_type", "dtype rule, no tensor computed"},
    {"reduced_shape", "shape arithmetic"},
    {"check_writable", "argument check used by in-place ops"},
    {"apply_inplace", "autograd plumbing of the in-place ops (covered through them)"},
    {"scaled_dot_product_attention_uses_flash", "a predicate on the arguments"},
    {"from_blob", "wraps host memory: CPU by definition"},
};

// The function names declared at column 0 of a header's text.
std::set<std::string> declared_in(const std::string& text) {
  static const std::regex decl(
      R"(^(?:Tensor&?|std::pair<Tensor, Tensor>|std::vector<Tensor>|UniqueResult|DType|Shape|void|bool) &?)"
      R"((operator[^(]+|[A-Za-z_][A-Za-z0-9_]*)\()");
  std::set<std::string> names;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::smatch m;
    if (std::regex_search(line, m, decl)) names.insert(m[1].str());
  }
  return names;
}

TEST(CudaBackendOpsCoverage, EveryDeclaredOpHasARow) {
  const std::set<std::string> declared(kDeclared.begin(), kDeclared.end());
  EXPECT_EQ(declared.size(), kDeclared.size()) << "kDeclared lists a name twice";
  std::set<std::string> on_device, cpu_only;
  for (const OpCase& c : cases()) {
    EXPECT_TRUE(declared.count(c.op)) << "table row for \"" << c.op << "\", which no ops/*.h declares";
    EXPECT_FALSE(c.dtypes.empty()) << c.op;
    (c.cpu_only ? cpu_only : on_device).insert(c.op);
  }
  for (const auto& [name, why] : kExcluded)
    EXPECT_TRUE(declared.count(name)) << "excluded \"" << name << "\" (" << why << ") is not declared";
  size_t missing = 0;
  for (const std::string& name : kDeclared) {
    if (on_device.count(name) || cpu_only.count(name) || kExcluded.count(name)) continue;
    ADD_FAILURE() << "ops/*.h declares \"" << name << "\" but no row of tests/cuda/test_backend_ops.cpp covers it";
    ++missing;
  }
  std::set<std::string> only_cpu;
  for (const std::string& name : cpu_only)
    if (!on_device.count(name)) only_cpu.insert(name);
  std::string cpu_list;
  for (const std::string& name : only_cpu) cpu_list += " " + name;
  std::cout << "[ops] " << declared.size() << " declared names: " << on_device.size() << " compared on " << kDev
            << ", " << only_cpu.size() << " CPU-only (" << cpu_list << " ), " << kExcluded.size()
            << " excluded (not device ops), " << missing << " uncovered; " << cases().size() << " table rows\n";

  // The headers themselves, when the source tree is present: a new op needs a row (and a kDeclared entry).
  const std::filesystem::path ops_dir = std::filesystem::path(WICK_FIXTURES_DIR) / ".." / ".." / "ops";
  if (!std::filesystem::is_directory(ops_dir)) {  // a binary moved to another machine: the list checks above stand
    std::cout << "[ops] no source tree at " << ops_dir << ": headers not re-read\n";
    return;
  }
  std::set<std::string> in_headers;
  for (const auto& entry : std::filesystem::directory_iterator(ops_dir)) {
    if (entry.path().extension() != ".h") continue;
    std::ifstream f(entry.path());
    std::stringstream ss;
    ss << f.rdbuf();
    for (const std::string& n : declared_in(ss.str())) in_headers.insert(n);
  }
  for (const std::string& n : in_headers)
    EXPECT_TRUE(declared.count(n)) << "ops/*.h declares \"" << n << "\": add it to kDeclared and a table row";
  for (const std::string& n : declared)
    EXPECT_TRUE(in_headers.count(n)) << "kDeclared lists \"" << n << "\", which ops/*.h no longer declares";
}

}  // namespace
