// The fast elementwise paths: float32 transcendentals and activations on the
// vectorized vec_math kernels, the fused activation backward kernels, and
// the binary arithmetic loops. Each is compared with its readable reference
// (the same op in float64, which runs the scalar libm loops) on odd sizes
// (1, 7, 33, 257, and one large enough to be split across threads),
// non-contiguous and broadcast inputs and empty tensors; the fused backward
// (taken when the backward is not recorded) against the composed one (taken
// with create_graph), plus gradcheck and gradgradcheck in float64.
#include <cmath>
#include <functional>
#include <limits>

#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

namespace {

using Unary = std::function<Tensor(const Tensor&)>;

struct Act {
  const char* name;
  Unary f;
  bool positive;  // needs positive inputs (log)
};

std::vector<Act> forward_ops() {
  return {
      {"exp", [](const Tensor& t) { return exp(t); }, false},
      {"log", [](const Tensor& t) { return log(t); }, true},
      {"tanh", [](const Tensor& t) { return tanh(t); }, false},
      {"sigmoid", [](const Tensor& t) { return sigmoid(t); }, false},
      {"erf", [](const Tensor& t) { return erf(t); }, false},
      {"gelu", [](const Tensor& t) { return gelu(t); }, false},
      {"gelu_tanh", [](const Tensor& t) { return gelu(t, "tanh"); }, false},
      {"silu", [](const Tensor& t) { return silu(t); }, false},
      {"relu", [](const Tensor& t) { return relu(t); }, false},
      {"softplus", [](const Tensor& t) { return softplus(t); }, false},
      {"softplus_b2_t1", [](const Tensor& t) { return softplus(t, 2.0, 1.0); }, false},
      {"softplus_bneg", [](const Tensor& t) { return softplus(t, -0.5, 3.0); }, false},
  };
}

// float32 inputs with a spread of magnitudes (and a few special values when
// the tensor is big enough).
Tensor inputs(const Shape& shape, bool positive, uint64_t seed) {
  Generator gen(seed);
  NoGradGuard ng;
  Tensor x = mul(randn(shape, TensorOptions(kFloat32), &gen), 4.0);
  if (positive) x = add(abs(x), 1e-3);
  if (x.numel() >= 8) {
    Tensor flat = x.reshape({-1});
    const float inf = std::numeric_limits<float>::infinity();
    float specials[] = {0.f, positive ? 1e-30f : -30.f, 30.f, inf, positive ? 1e30f : -inf,
                        std::numeric_limits<float>::quiet_NaN(), 1e-40f, 88.f};
    float* p = flat.data_ptr<float>();
    for (int i = 0; i < 8; ++i) p[i] = specials[i];
  }
  return x;
}

// float32 fast result vs the float64 reference rounded to float32. The
// tolerance is relative to the result's scale (1 + |x|): gelu and silu of
// large negative x are tiny differences of O(|x|) terms in both.
::testing::AssertionResult close_to_reference(const Tensor& fast, const Tensor& ref64, const Tensor& x) {
  Tensor ref = ref64.to(kFloat32).contiguous();
  Tensor f = fast.contiguous(), xc = x.contiguous();
  if (f.sizes() != ref.sizes()) return ::testing::AssertionFailure() << "shape mismatch";
  const float* a = f.data_ptr<float>();
  const float* b = ref.data_ptr<float>();
  const float* xv = xc.data_ptr<float>();
  for (int64_t i = 0; i < f.numel(); ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) {
      if (std::isnan(a[i]) != std::isnan(b[i]))
        return ::testing::AssertionFailure() << "NaN mismatch at " << i << ": " << a[i] << " vs " << b[i];
      continue;
    }
    if (std::isinf(a[i]) || std::isinf(b[i])) {
      if (a[i] != b[i]) return ::testing::AssertionFailure() << "at " << i << ": " << a[i] << " vs " << b[i];
      continue;
    }
    const double scale = std::isinf(xv[i]) ? std::fabs(b[i]) : 1 + std::fabs(xv[i]);
    if (std::fabs(double(a[i]) - b[i]) > 2e-6 * std::max(scale, std::fabs(double(b[i]))) + 1e-37)
      return ::testing::AssertionFailure() << "at " << i << " x=" << xv[i] << ": " << a[i] << " vs " << b[i];
  }
  return ::testing::AssertionSuccess();
}

TEST(ElementwiseFast, ForwardMatchesReferenceOnOddSizes) {
  for (const Act& op : forward_ops()) {
    for (int64_t n : {0, 1, 7, 33, 257, 100003}) {
      SCOPED_TRACE(std::string(op.name) + " n=" + std::to_string(n));
      Tensor x = inputs({n}, op.positive, 10 + n);
      Tensor y = op.f(x);
      EXPECT_EQ(y.dtype(), kFloat32);
      EXPECT_TRUE(close_to_reference(y, op.f(x.to(kFloat64)), x));
    }
  }
}

TEST(ElementwiseFast, ForwardNonContiguousAndBroadcast) {
  for (const Act& op : forward_ops()) {
    SCOPED_TRACE(op.name);
    Tensor base = inputs({33, 65}, op.positive, 5);
    Tensor t = base.transpose(0, 1);                  // strided rows
    Tensor s = slice(base, 1, 1, std::nullopt, 3);    // step-3 columns
    Tensor e = slice(base, 0, 0, 1).expand({40, 65});  // stride-0 rows
    for (const Tensor& x : {t, s, e}) {
      EXPECT_TRUE(close_to_reference(op.f(x), op.f(x.to(kFloat64)), x));
    }
    // Large and strided: parallel over rows and gathered through the block buffer.
    Tensor big = inputs({600, 300}, op.positive, 6).transpose(0, 1);
    EXPECT_TRUE(close_to_reference(op.f(big), op.f(big.to(kFloat64)), big));
  }
}

TEST(ElementwiseFast, InPlaceVariants) {
  Tensor x = inputs({257}, false, 3);
  Tensor xp = inputs({257}, true, 4);
  for (auto [name, inplace, ref, in] :
       std::vector<std::tuple<const char*, std::function<void(Tensor&)>, Unary, Tensor>>{
           {"exp_", [](Tensor& t) { exp_(t); }, [](const Tensor& t) { return exp(t); }, x},
           {"log_", [](Tensor& t) { log_(t); }, [](const Tensor& t) { return log(t); }, xp},
           {"tanh_", [](Tensor& t) { tanh_(t); }, [](const Tensor& t) { return tanh(t); }, x},
           {"sigmoid_", [](Tensor& t) { sigmoid_(t); }, [](const Tensor& t) { return sigmoid(t); }, x}}) {
    SCOPED_TRACE(name);
    Tensor y = in.clone();
    inplace(y);
    EXPECT_TRUE(close_to_reference(y, ref(in.to(kFloat64)), in));
    // In place on a strided view: only the view's elements change.
    Tensor base = in.clone();
    Tensor view = slice(base, 0, 0, std::nullopt, 2);
    inplace(view);
    Tensor untouched = slice(base, 0, 1, std::nullopt, 2);
    EXPECT_TRUE(all_equal(untouched, slice(in, 0, 1, std::nullopt, 2)));
    EXPECT_TRUE(close_to_reference(view, ref(slice(in, 0, 0, std::nullopt, 2).to(kFloat64)), slice(in, 0, 0, std::nullopt, 2)));
  }
}

// ---- backward ----

std::vector<Act> grad_ops() {
  return {
      {"tanh", [](const Tensor& t) { return tanh(t); }, false},
      {"sigmoid", [](const Tensor& t) { return sigmoid(t); }, false},
      {"relu", [](const Tensor& t) { return relu(t); }, false},
      {"gelu", [](const Tensor& t) { return gelu(t); }, false},
      {"gelu_tanh", [](const Tensor& t) { return gelu(t, "tanh"); }, false},
      {"silu", [](const Tensor& t) { return silu(t); }, false},
      {"softplus", [](const Tensor& t) { return softplus(t); }, false},
      {"softplus_b2_t1", [](const Tensor& t) { return softplus(t, 2.0, 1.0); }, false},
      {"tanh_", [](const Tensor& t) { Tensor u = t * 1.0; return tanh_(u); }, false},
      {"sigmoid_", [](const Tensor& t) { Tensor u = t * 1.0; return sigmoid_(u); }, false},
      {"relu_", [](const Tensor& t) { Tensor u = t * 1.0; return relu_(u); }, false},
  };
}

// d sum(f(x) * g) / dx, with the backward recorded (composed formula) or not (fused kernel).
Tensor input_grad(const Unary& f, const Tensor& x, const Tensor& g, bool create_graph) {
  Tensor leaf = x.detach().clone().requires_grad_();
  Tensor y = f(leaf);
  return autograd::grad({y}, {leaf}, {g}, std::nullopt, create_graph)[0].detach();
}

TEST(ElementwiseFast, FusedBackwardMatchesComposed) {
  for (const Act& op : grad_ops()) {
    for (DType dt : {kFloat32, kFloat64}) {
      for (int64_t n : {0, 1, 7, 33, 257, 40001}) {
        SCOPED_TRACE(std::string(op.name) + " " + dtype_name(dt) + " n=" + std::to_string(n));
        Generator gen(n);
        Tensor x = mul(randn({n}, TensorOptions(dt), &gen), 3.0);
        Tensor g = randn({n}, TensorOptions(dt), &gen);
        Tensor fused = input_grad(op.f, x, g, false);
        Tensor composed = input_grad(op.f, x, g, true);
        if (dt == kFloat64)
          EXPECT_TRUE(all_close(fused, composed, 1e-12, 1e-12));
        else
          EXPECT_TRUE(all_close(fused, composed, 2e-6, 2e-5));
      }
    }
  }
}

TEST(ElementwiseFast, FusedBackwardNonContiguousGrad) {
  // The incoming gradient is a strided view, and the input a transposed one.
  for (const Act& op : grad_ops()) {
    SCOPED_TRACE(op.name);
    Generator gen(9);
    Tensor x = mul(randn({37, 29}, TensorOptions(kFloat32), &gen), 3.0).transpose(0, 1);
    Tensor g = randn({29, 74}, TensorOptions(kFloat32), &gen);
    Tensor gv = slice(g, 1, 0, std::nullopt, 2);
    Tensor fused = input_grad(op.f, x, gv, false);
    Tensor composed = input_grad(op.f, x, gv, true);
    Tensor ref = input_grad(op.f, x.to(kFloat64), gv.to(kFloat64), false);
    EXPECT_TRUE(all_close(fused, composed, 2e-6, 2e-5));
    EXPECT_TRUE(all_close(fused.to(kFloat64), ref, 2e-6, 2e-5));
  }
}

::testing::AssertionResult grad_ok(const std::function<Tensor(const tensor_list&)>& f, const tensor_list& in,
                                   bool second_order) {
  try {
    const bool ok = second_order ? gradgradcheck(f, in) : gradcheck(f, in);
    return ok ? ::testing::AssertionSuccess() : ::testing::AssertionFailure() << "check failed";
  } catch (const Error& e) {
    return ::testing::AssertionFailure() << e.what();
  }
}

TEST(ElementwiseFast, GradcheckAndGradgradcheck) {
  for (const Act& op : grad_ops()) {
    SCOPED_TRACE(op.name);
    auto f = [&](const tensor_list& in) { return op.f(in[0]); };
    Tensor x = mul(rand_f64({5, 7}, 1, false), 3.0).requires_grad_();
    Tensor nc = noncontig_f64({6, 5}, 2);
    EXPECT_TRUE(grad_ok(f, {x}, false));
    EXPECT_TRUE(grad_ok(f, {nc}, false));
    EXPECT_TRUE(grad_ok(f, {x}, true));
    EXPECT_TRUE(grad_ok(f, {nc}, true));
  }
}

TEST(ElementwiseFast, BackwardOfEmptyTensor) {
  for (const Act& op : grad_ops()) {
    Tensor x = empty({0, 3}, TensorOptions(kFloat32)).requires_grad_();
    Tensor y = op.f(x);
    Tensor g = autograd::grad({y}, {x}, {zeros({0, 3})})[0];
    EXPECT_EQ(g.sizes(), (Shape{0, 3})) << op.name;
  }
}

// ---- binary arithmetic ----

TEST(ElementwiseFast, BinaryArithmeticMatchesFloat64) {
  // + - * / of two floats rounded from float64 equal the float32 results
  // exactly (float64 holds the exact result to more than 2 * 24 + 2 bits).
  using Bin = std::function<Tensor(const Tensor&, const Tensor&)>;
  std::vector<std::pair<const char*, Bin>> ops = {
      {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); }},
      {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }},
      {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }},
      {"div", [](const Tensor& a, const Tensor& b) { return div(a, b); }},
  };
  Generator gen(11);
  auto r = [&](const Shape& s) { return randn(s, TensorOptions(kFloat32), &gen); };
  std::vector<std::tuple<const char*, Tensor, Tensor>> shapes = {
      {"same n=1", r({1}), r({1})},
      {"same n=7", r({7}), r({7})},
      {"same n=257", r({257}), r({257})},
      {"same big", r({300, 301}), r({300, 301})},
      {"tensor-scalar", r({33, 70001}), r({})},
      {"scalar-tensor", r({}), r({70001})},
      {"row broadcast", r({513, 257}), r({257})},
      {"column broadcast", r({257, 513}), r({257, 1})},
      {"outer", r({300, 1}), r({1, 301})},
      {"transposed", r({301, 300}).transpose(0, 1), r({300, 301})},
      {"empty", r({0, 5}), r({5})},
  };
  for (auto& [name, op] : ops) {
    for (auto& [sname, a, b] : shapes) {
      SCOPED_TRACE(std::string(name) + " " + sname);
      Tensor fast = op(a, b);
      Tensor ref = op(a.to(kFloat64), b.to(kFloat64)).to(kFloat32);
      EXPECT_TRUE(all_equal(fast, ref));
    }
  }
  // In place with a scalar and with a broadcast row (the optimizer pattern).
  Tensor p = r({1000, 100}), q = r({1000, 100});
  Tensor p64 = p.to(kFloat64), q64 = q.to(kFloat64);
  add_(mul_(p, 0.9f), q);
  add_(mul_(p64, 0.9f), q64);
  EXPECT_TRUE(all_close(p, p64.to(kFloat32), 1e-6, 1e-6));
}

}  // namespace
