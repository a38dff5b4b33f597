// Elementwise ops: values and gradients against PyTorch fixtures
// (tests/fixtures/gen_elementwise.py), dtype promotion, gradcheck (first and
// second order) including broadcasting and non-contiguous inputs, in-place
// variants and autograd through them, empty and 0-d tensors, error messages.
#include <cmath>
#include <functional>
#include <limits>

#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

namespace {

Tensor fx(const std::string& name) { return fixture("elementwise/" + name); }

// float64 fixtures are compared tightly: the same formulas in libm and ATen
// differ only in the last bits.
constexpr double kAtol = 1e-12, kRtol = 1e-10;

using Unary = std::function<Tensor(const Tensor&)>;
using Fn = std::function<Tensor(const tensor_list&)>;

struct UnaryCase {
  const char* name;
  Unary f;
  const char* input;  // fixture holding the input
};

std::vector<UnaryCase> unary_cases() {
  return {
      {"exp", [](const Tensor& t) { return exp(t); }, "x"},
      {"expm1", [](const Tensor& t) { return expm1(t); }, "x"},
      {"abs", [](const Tensor& t) { return abs(t); }, "x"},
      {"sign", [](const Tensor& t) { return sign(t); }, "x"},
      {"sin", [](const Tensor& t) { return sin(t); }, "x"},
      {"cos", [](const Tensor& t) { return cos(t); }, "x"},
      {"tanh", [](const Tensor& t) { return tanh(t); }, "x"},
      {"sigmoid", [](const Tensor& t) { return sigmoid(t); }, "x"},
      {"erf", [](const Tensor& t) { return erf(t); }, "x"},
      {"floor", [](const Tensor& t) { return floor(t); }, "x"},
      {"round", [](const Tensor& t) { return round(t); }, "x"},
      {"square", [](const Tensor& t) { return square(t); }, "x"},
      {"reciprocal", [](const Tensor& t) { return reciprocal(t); }, "x"},
      {"relu", [](const Tensor& t) { return relu(t); }, "x"},
      {"neg", [](const Tensor& t) { return neg(t); }, "x"},
      {"leaky_relu", [](const Tensor& t) { return leaky_relu(t, 0.1); }, "x"},
      {"gelu", [](const Tensor& t) { return gelu(t); }, "x"},
      {"gelu_tanh", [](const Tensor& t) { return gelu(t, "tanh"); }, "x"},
      {"silu", [](const Tensor& t) { return silu(t); }, "x"},
      {"softplus", [](const Tensor& t) { return softplus(t); }, "x"},
      {"softplus_b2_t1", [](const Tensor& t) { return softplus(t, 2.0, 1.0); }, "x"},
      {"log", [](const Tensor& t) { return log(t); }, "xp"},
      {"log1p", [](const Tensor& t) { return log1p(t); }, "xp"},
      {"sqrt", [](const Tensor& t) { return sqrt(t); }, "xp"},
      {"rsqrt", [](const Tensor& t) { return rsqrt(t); }, "xp"},
      {"pow_s2_5", [](const Tensor& t) { return pow(t, 2.5); }, "xp"},
      {"pow_s3", [](const Tensor& t) { return pow(t, 3); }, "x"},
      {"pow_s0", [](const Tensor& t) { return pow(t, 0); }, "x"},
      {"pow_sneg1", [](const Tensor& t) { return pow(t, -1); }, "x"},
      {"rpow", [](const Tensor& t) { return pow(2.5, t); }, "x"},
      {"clamp_s", [](const Tensor& t) { return clamp(t, -0.5, 0.8); }, "x"},
      {"clamp_min_s", [](const Tensor& t) { return clamp_min(t, 0.2); }, "x"},
      {"clamp_max_s", [](const Tensor& t) { return clamp_max(t, -0.1); }, "x"},
      {"clamp_inv_s", [](const Tensor& t) { return clamp(t, 1.0, 0.0); }, "x"},
      {"masked_fill", [](const Tensor& t) { return masked_fill(t, fx("mask4"), -1.5); }, "x"},
  };
}

// Checks out = f(in) and d sum(out * g) / d in against the fixtures.
void check_fixture_grads(const std::string& name, const tensor_list& inputs, const Tensor& out,
                         const std::vector<std::string>& grad_names) {
  ASSERT_TRUE(all_close(out, fx(name + "_out"), kAtol, kRtol)) << name;
  tensor_list gs = autograd::grad({sum(mul(out, fx("g")))}, inputs);
  for (size_t i = 0; i < inputs.size(); ++i)
    EXPECT_TRUE(all_close(gs[i], fx(name + "_" + grad_names[i]), kAtol, kRtol)) << name << " d/d" << grad_names[i];
}

Tensor leaf(const Tensor& t) { return t.clone().requires_grad_(); }

// gradcheck/gradgradcheck throw on a mismatch; turn that into a failure that
// names the case (SCOPED_TRACE) and lets the loop go on.
::testing::AssertionResult grad_ok(const Fn& f, const tensor_list& in) {
  try {
    return gradcheck(f, in) ? ::testing::AssertionSuccess() : ::testing::AssertionFailure() << "gradcheck failed";
  } catch (const Error& e) {
    return ::testing::AssertionFailure() << e.what();
  }
}

::testing::AssertionResult gradgrad_ok(const Fn& f, const tensor_list& in) {
  try {
    return gradgradcheck(f, in) ? ::testing::AssertionSuccess()
                                : ::testing::AssertionFailure() << "gradgradcheck failed";
  } catch (const Error& e) {
    return ::testing::AssertionFailure() << e.what();
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// values and gradients against PyTorch

TEST(ElementwiseFixtures, UnaryValuesAndGradients) {
  for (const auto& c : unary_cases()) {
    SCOPED_TRACE(c.name);
    Tensor x = leaf(fx(c.input));
    check_fixture_grads(c.name, {x}, c.f(x), {"grad"});
  }
}

TEST(ElementwiseFixtures, RoundHalfToEven) {
  EXPECT_TRUE(all_equal(round(fx("round_halves_in")), fx("round_halves_out")));
}

TEST(ElementwiseFixtures, BinaryValuesAndGradients) {
  Tensor a = leaf(fx("xp")), e = leaf(fx("b4"));
  check_fixture_grads("pow", {a, e}, pow(a, e), {"ga", "ge"});

  Tensor ma = leaf(fx("mm_a")), mb = leaf(fx("mm_b"));  // with ties: the gradient is split
  check_fixture_grads("minimum", {ma, mb}, minimum(ma, mb), {"ga", "gb"});
  check_fixture_grads("maximum", {ma, mb}, maximum(ma, mb), {"ga", "gb"});

  Tensor y = leaf(fx("x")), x = leaf(fx("b4"));
  check_fixture_grads("atan2", {y, x}, atan2(y, x), {"gy", "gx"});

  for (auto [name, w] : {std::pair{"lerp_w03", 0.3}, std::pair{"lerp_w075", 0.75}}) {
    Tensor la = leaf(fx("x")), lb = leaf(fx("b4"));
    check_fixture_grads(name, {la, lb}, lerp(la, lb, w), {"ga", "gb"});
  }
  Tensor la = leaf(fx("x")), lb = leaf(fx("b4")), lw = leaf(fx("lerp_w"));
  check_fixture_grads("lerp_t", {la, lb, lw}, lerp(la, lb, lw), {"ga", "gb", "gw"});
}

TEST(ElementwiseFixtures, ClampTensorBounds) {
  // hi < lo in some rows: the output is hi there, and hi gets the gradient.
  Tensor x = leaf(fx("x")), lo = leaf(fx("clamp_lo")), hi = leaf(fx("clamp_hi"));
  check_fixture_grads("clamp_t", {x, lo, hi}, clamp(x, lo, hi), {"gx", "glo", "ghi"});
  Tensor x2 = leaf(fx("x")), lo2 = leaf(fx("clamp_lo"));
  check_fixture_grads("clamp_tmin", {x2, lo2}, clamp(x2, lo2, Tensor()), {"gx", "glo"});
}

TEST(ElementwiseFixtures, WhereAndMaskedFill) {
  Tensor a = leaf(fx("where_a")), b = leaf(fx("where_b"));  // [4] and [3,1] broadcast with cond [3,4]
  check_fixture_grads("where", {a, b}, where(fx("cond"), a, b), {"ga", "gb"});
}

TEST(ElementwiseFixtures, NanPropagation) {
  Tensor a = fx("minmax_nan_a"), b = fx("minmax_nan_b");
  EXPECT_TRUE(all_close(maximum(a, b), fx("maximum_nan_out")));
  EXPECT_TRUE(std::isnan(minimum(a, b)[0].item()));
  EXPECT_TRUE(std::isnan(minimum(a, b)[1].item()));
  Tensor n = tensor({std::numeric_limits<double>::quiet_NaN(), 0.5}, {}, kFloat64);
  EXPECT_TRUE(std::isnan(clamp(n, 0.0, 1.0)[0].item()));
  EXPECT_TRUE(std::isnan(relu(n)[0].item()));
  EXPECT_EQ(sign(n)[0].item(), 0.0);  // like torch.sign
}

TEST(ElementwiseFixtures, Comparisons) {
  Tensor a = fx("mm_a"), b = fx("mm_b");
  using Cmp = Tensor (*)(const Tensor&, const Tensor&);
  using CmpS = Tensor (*)(const Tensor&, const Scalar&);
  const std::vector<std::tuple<const char*, Cmp, CmpS>> ops = {
      {"eq", eq, eq}, {"ne", ne, ne}, {"lt", lt, lt}, {"le", le, le}, {"gt", gt, gt}, {"ge", ge, ge}};
  for (const auto& [name, f, fs] : ops) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(all_equal(f(a, b), fx(std::string(name) + "_out")));
    EXPECT_TRUE(all_equal(fs(a, 0.5), fx(std::string(name) + "_s_out")));
  }
  EXPECT_TRUE(all_equal(a == b, fx("eq_out")));
  EXPECT_TRUE(all_equal(a != b, fx("ne_out")));
  EXPECT_TRUE(all_equal(a < b, fx("lt_out")));
  EXPECT_TRUE(all_equal(a <= b, fx("le_out")));
  EXPECT_TRUE(all_equal(a > b, fx("gt_out")));
  EXPECT_TRUE(all_equal(a >= b, fx("ge_out")));
  EXPECT_TRUE(all_equal(a > 0.5, fx("gt_s_out")));
  EXPECT_TRUE(all_equal(a == 0.5, fx("eq_s_out")));
}

TEST(ElementwiseFixtures, LogicalAndSpecialValues) {
  Tensor a = fx("logic_a"), b = fx("logic_b");
  EXPECT_TRUE(all_equal(logical_and(a, b), fx("logical_and_out")));
  EXPECT_TRUE(all_equal(logical_or(a, b), fx("logical_or_out")));
  EXPECT_TRUE(all_equal(logical_xor(a, b), fx("logical_xor_out")));
  EXPECT_TRUE(all_equal(logical_not(a), fx("logical_not_out")));
  Tensor ba = ne(a, 0.0), bb = ne(b, 0.0);
  EXPECT_TRUE(all_equal(ba & bb, fx("logical_and_out")));
  EXPECT_TRUE(all_equal(ba | bb, fx("logical_or_out")));
  EXPECT_TRUE(all_equal(ba ^ bb, fx("logical_xor_out")));
  EXPECT_TRUE(all_equal(~ba, fx("logical_not_out")));
  Tensor s = fx("special");
  EXPECT_TRUE(all_equal(isnan(s), fx("isnan_out")));
  EXPECT_TRUE(all_equal(isinf(s), fx("isinf_out")));
  EXPECT_TRUE(all_equal(isfinite(s), fx("isfinite_out")));
  EXPECT_TRUE(all_equal(isinf(fx("p_i64")), zeros({3}, kBool)));
  EXPECT_TRUE(all_equal(isfinite(fx("p_i64")), ones({3}, kBool)));
}

// ---------------------------------------------------------------------------
// dtype promotion (exact values and dtypes from PyTorch)

TEST(ElementwisePromotion, ArithmeticAndComparisons) {
  Tensor i32 = fx("p_i32"), f32 = fx("p_f32"), i64 = fx("p_i64"), bl = fx("p_bool");
  ASSERT_EQ(i32.dtype(), kInt32);
  ASSERT_EQ(bl.dtype(), kBool);
  EXPECT_TRUE(all_equal(i32 + f32, fx("p_i32_add_f32")));
  EXPECT_TRUE(all_equal(i64 + 2.5, fx("p_i64_add_2_5")));
  EXPECT_TRUE(all_equal(bl + i64, fx("p_bool_add_i64")));
  EXPECT_TRUE(all_equal(scalar_tensor(2.0, kFloat64) + f32, fx("p_0d_f64_add_f32")));
  EXPECT_TRUE(all_equal(scalar_tensor(7, kInt64) + i32, fx("p_0d_i64_add_i32")));
  EXPECT_TRUE(all_equal(scalar_tensor(0.5, kFloat64) + i32, fx("p_0d_f64_add_i32")));
  // (common.py stores 0-d arrays as shape [1])
  Tensor zz = scalar_tensor(2, kInt32) * scalar_tensor(1.5, kFloat64);
  EXPECT_EQ(zz.dim(), 0);
  EXPECT_TRUE(all_equal(zz.reshape({1}), fx("p_0d_0d")));
  EXPECT_TRUE(all_equal(i32 < f32, fx("p_i32_lt_f32")));
  EXPECT_TRUE(all_equal(i64 == 4.0, fx("p_i64_eq_4_0")));
  EXPECT_TRUE(all_equal(i64 > 2.5, fx("p_i64_gt_2_5")));
  EXPECT_TRUE(all_equal(bl != i64, fx("p_ne_bool_i64")));
  EXPECT_TRUE(all_equal(logical_and(i64, f32), fx("p_logical_and_i64_f32")));
  EXPECT_TRUE(all_equal(minimum(i32, f32), fx("p_minimum_i32_f32")));
  EXPECT_TRUE(all_close(atan2(i32, tensor({2, 2, -1}, {}, kInt32)), fx("p_atan2_i32"), 1e-6, 1e-6));
  EXPECT_EQ(atan2(i32, tensor({2, 2, -1}, {}, kInt32)).dtype(), kFloat32);
}

TEST(ElementwisePromotion, UnaryDtypes) {
  Tensor i32 = fx("p_i32"), i64 = fx("p_i64"), bl = fx("p_bool");
  // Floating functions of integers compute in the default float dtype.
  EXPECT_EQ(exp(i32).dtype(), kFloat32);
  EXPECT_TRUE(all_close(exp(i32), fx("p_exp_i32"), 1e-6, 1e-6));
  EXPECT_TRUE(all_close(sqrt(i64), fx("p_sqrt_i64"), 1e-6, 1e-6));  // sqrt(-5) = nan in both
  EXPECT_TRUE(all_close(sigmoid(bl), fx("p_sigmoid_bool"), 1e-6, 1e-6));
  EXPECT_EQ(sqrt(i64).dtype(), kFloat32);
  // abs, sign, relu, neg, floor keep integer dtypes; square(bool) is int64 like pow(bool, 2).
  EXPECT_TRUE(all_equal(abs(i32), fx("p_abs_i32")));
  EXPECT_TRUE(all_equal(sign(i64), fx("p_sign_i64")));
  EXPECT_TRUE(all_equal(relu(i32), fx("p_relu_i32")));
  EXPECT_TRUE(all_equal(neg(i64), fx("p_neg_i64")));
  EXPECT_TRUE(all_equal(square(bl), fx("p_square_bool")));
  EXPECT_TRUE(all_equal(floor(i64), fx("p_floor_i64")));
  EXPECT_TRUE(all_equal(sign(bl), bl));
  // Large int64 values survive floor/round exactly (no trip through double).
  Tensor big = from_vector(std::vector<int64_t>{9007199254740993});
  EXPECT_EQ(floor(big).item<int64_t>(), int64_t{9007199254740993});
  EXPECT_EQ(round(big).item<int64_t>(), int64_t{9007199254740993});
  // Integer overflow wraps (two's complement) like PyTorch, with no undefined behavior.
  const int32_t imax = std::numeric_limits<int32_t>::max(), imin = std::numeric_limits<int32_t>::min();
  Tensor ext = from_vector(std::vector<int32_t>{imax, imin});
  EXPECT_TRUE(all_equal(ext + 1, from_vector(std::vector<int32_t>{imin, imin + 1})));
  EXPECT_TRUE(all_equal(neg(ext), from_vector(std::vector<int32_t>{-imax, imin})));
  EXPECT_TRUE(all_equal(abs(ext), from_vector(std::vector<int32_t>{imax, imin})));
  EXPECT_TRUE(all_equal(ext * 2, from_vector(std::vector<int32_t>{-2, 0})));
  EXPECT_TRUE(all_equal(square(ext), from_vector(std::vector<int32_t>{1, 0})));
}

TEST(ElementwisePromotion, PowWhereMaskedFillClamp) {
  Tensor i32 = fx("p_i32"), f32 = fx("p_f32"), i64 = fx("p_i64"), bl = fx("p_bool");
  EXPECT_TRUE(all_equal(pow(i64, 2), fx("p_pow_i64_2")));
  EXPECT_TRUE(all_equal(pow(2, abs(i64)), fx("p_pow_2_i64")));
  EXPECT_TRUE(all_close(pow(abs(i64), 0.5), fx("p_pow_i64_2_5"), 1e-6, 1e-6));
  EXPECT_EQ(pow(abs(i64), 0.5).dtype(), kFloat32);
  // Integer tensor ** negative integer tensor truncates like PyTorch.
  EXPECT_TRUE(all_equal(pow(fx("p_pow_int_neg_base"), fx("p_pow_int_neg_exp")), fx("p_pow_int_neg_out")));
  // Overflow wraps like PyTorch (two's complement), without UB.
  EXPECT_TRUE(all_equal(pow(tensor({3, -7}, {}, kInt32), tensor({21, 13}, {}, kInt32)), fx("p_pow_i32_big")));
  EXPECT_TRUE(all_equal(where(bl, i64, 0.5), fx("p_where_i64_0_5")));
  EXPECT_TRUE(all_equal(where(bl, f32, tensor({9.0, 8.0, 7.0}, {}, kFloat64)), fx("p_where_f32_f64")));
  EXPECT_TRUE(all_equal(where(bl, 3, f32), fx("p_where_3_f32")));
  EXPECT_TRUE(all_equal(masked_fill(i64, bl, 2.5), fx("p_masked_fill_i64_2_5")));
  EXPECT_TRUE(all_equal(clamp(i64, 0.5, std::nullopt), fx("p_clamp_i64_0_5")));
  EXPECT_TRUE(all_equal(clamp(i64, 0, 5), fx("p_clamp_i64_0_5i")));
  EXPECT_TRUE(all_equal(clamp(i32, zeros({3}, kFloat32), Tensor()), fx("p_clamp_i32_t_f32")));
}

// ---------------------------------------------------------------------------
// gradcheck (float64): every differentiable op, broadcasting, non-contiguous

namespace {

struct GradCase {
  const char* name;
  Fn f;
  int arity;
};

// Positive-domain ops get x + 2 (x in [-1, 1)), keeping them away from 0.
std::vector<GradCase> unary_grad_cases() {
  return {
      {"exp", [](const tensor_list& t) { return exp(t[0]); }, 1},
      {"log", [](const tensor_list& t) { return log(t[0] + 2.0); }, 1},
      {"log1p", [](const tensor_list& t) { return log1p(t[0] + 1.5); }, 1},
      {"expm1", [](const tensor_list& t) { return expm1(t[0]); }, 1},
      {"sqrt", [](const tensor_list& t) { return sqrt(t[0] + 2.0); }, 1},
      {"rsqrt", [](const tensor_list& t) { return rsqrt(t[0] + 2.0); }, 1},
      {"abs", [](const tensor_list& t) { return abs(t[0]); }, 1},
      {"sign", [](const tensor_list& t) { return sign(t[0]); }, 1},
      {"sin", [](const tensor_list& t) { return sin(t[0]); }, 1},
      {"cos", [](const tensor_list& t) { return cos(t[0]); }, 1},
      {"tanh", [](const tensor_list& t) { return tanh(t[0]); }, 1},
      {"sigmoid", [](const tensor_list& t) { return sigmoid(t[0]); }, 1},
      {"erf", [](const tensor_list& t) { return erf(t[0]); }, 1},
      {"floor", [](const tensor_list& t) { return floor(t[0] * 3.0); }, 1},
      {"round", [](const tensor_list& t) { return round(t[0] * 3.0); }, 1},
      {"square", [](const tensor_list& t) { return square(t[0]); }, 1},
      {"reciprocal", [](const tensor_list& t) { return reciprocal(t[0] + 2.0); }, 1},
      {"relu", [](const tensor_list& t) { return relu(t[0]); }, 1},
      {"leaky_relu", [](const tensor_list& t) { return leaky_relu(t[0], 0.2); }, 1},
      {"gelu", [](const tensor_list& t) { return gelu(t[0] * 2.0); }, 1},
      {"gelu_tanh", [](const tensor_list& t) { return gelu(t[0] * 2.0, "tanh"); }, 1},
      {"silu", [](const tensor_list& t) { return silu(t[0] * 2.0); }, 1},
      {"softplus", [](const tensor_list& t) { return softplus(t[0] * 3.0, 2.0, 2.0); }, 1},
      {"pow_scalar", [](const tensor_list& t) { return pow(t[0] + 2.0, 2.5); }, 1},
      {"pow_int_scalar", [](const tensor_list& t) { return pow(t[0], 3); }, 1},
      {"pow_zero", [](const tensor_list& t) { return pow(t[0], 0); }, 1},
      {"rpow", [](const tensor_list& t) { return pow(1.7, t[0]); }, 1},
      {"clamp", [](const tensor_list& t) { return clamp(t[0], -0.4, 0.3); }, 1},
      {"clamp_min", [](const tensor_list& t) { return clamp_min(t[0], 0.1); }, 1},
      {"clamp_max", [](const tensor_list& t) { return clamp_max(t[0], 0.1); }, 1},
      {"masked_fill", [](const tensor_list& t) { return masked_fill(t[0], gt(t[0].detach(), 0.2), 7.0); }, 1},
  };
}

std::vector<GradCase> binary_grad_cases() {
  return {
      {"pow", [](const tensor_list& t) { return pow(t[0] + 2.0, t[1]); }, 2},
      {"minimum", [](const tensor_list& t) { return minimum(t[0], t[1]); }, 2},
      {"maximum", [](const tensor_list& t) { return maximum(t[0], t[1]); }, 2},
      {"atan2", [](const tensor_list& t) { return atan2(t[0], t[1]); }, 2},
      {"lerp_scalar", [](const tensor_list& t) { return lerp(t[0], t[1], 0.3); }, 2},
      {"lerp_scalar_big", [](const tensor_list& t) { return lerp(t[0], t[1], 0.8); }, 2},
      {"where", [](const tensor_list& t) { return where(gt(t[0].detach() + t[1].detach(), 0.0), t[0], t[1]); }, 2},
      {"clamp_lo_tensor", [](const tensor_list& t) { return clamp(t[0], t[1], Tensor()); }, 2},
      {"clamp_hi_tensor", [](const tensor_list& t) { return clamp(t[0], Tensor(), t[1]); }, 2},
      {"mul", [](const tensor_list& t) { return mul(t[0], t[1]); }, 2},
  };
}

std::vector<GradCase> ternary_grad_cases() {
  return {
      {"lerp_tensor", [](const tensor_list& t) { return lerp(t[0], t[1], t[2]); }, 3},
      // lo and hi from [-1, 1) cross each other in places (hi < lo).
      {"clamp_tensor", [](const tensor_list& t) { return clamp(t[0], t[1], t[2]); }, 3},
  };
}

}  // namespace

TEST(ElementwiseGradcheck, Unary) {
  for (const auto& c : unary_grad_cases()) {
    SCOPED_TRACE(c.name);
    EXPECT_TRUE(grad_ok(c.f, {rand_f64({2, 3}, 1)}));
    EXPECT_TRUE(grad_ok(c.f, {noncontig_f64({3, 2}, 2)}));
    EXPECT_TRUE(grad_ok(c.f, {rand_f64({}, 3)}));  // 0-d
  }
}

TEST(ElementwiseGradcheck, BinaryWithBroadcasting) {
  for (const auto& c : binary_grad_cases()) {
    SCOPED_TRACE(c.name);
    EXPECT_TRUE(grad_ok(c.f, {rand_f64({2, 3}, 1), rand_f64({2, 3}, 2)}));
    EXPECT_TRUE(grad_ok(c.f, {rand_f64({2, 3}, 3), rand_f64({3}, 4)}));
    EXPECT_TRUE(grad_ok(c.f, {rand_f64({2, 1}, 5), noncontig_f64({2, 3}, 6)}));
    EXPECT_TRUE(grad_ok(c.f, {noncontig_f64({3, 2}, 7), rand_f64({}, 8)}));
  }
}

TEST(ElementwiseGradcheck, TernaryWithBroadcasting) {
  for (const auto& c : ternary_grad_cases()) {
    SCOPED_TRACE(c.name);
    // lerp's weight in [0, 1) through sigmoid is not needed: any weight is valid.
    EXPECT_TRUE(grad_ok(c.f, {rand_f64({2, 3}, 1), rand_f64({3}, 2), rand_f64({2, 1}, 3)}));
    EXPECT_TRUE(grad_ok(c.f, {noncontig_f64({2, 3}, 4), rand_f64({2, 3}, 5), rand_f64({}, 6)}));
  }
}

TEST(ElementwiseGradcheck, SecondOrder) {
  const std::vector<GradCase> cases = {
      {"tanh", [](const tensor_list& t) { return tanh(t[0]); }, 1},
      {"sigmoid", [](const tensor_list& t) { return sigmoid(t[0]); }, 1},
      {"exp", [](const tensor_list& t) { return exp(t[0]); }, 1},
      {"gelu", [](const tensor_list& t) { return gelu(t[0] * 2.0); }, 1},
      {"gelu_tanh", [](const tensor_list& t) { return gelu(t[0] * 2.0, "tanh"); }, 1},
      {"silu", [](const tensor_list& t) { return silu(t[0]); }, 1},
      {"softplus", [](const tensor_list& t) { return softplus(t[0], 1.5); }, 1},
      {"erf", [](const tensor_list& t) { return erf(t[0]); }, 1},
      {"log", [](const tensor_list& t) { return log(t[0] + 2.0); }, 1},
      {"sqrt", [](const tensor_list& t) { return sqrt(t[0] + 2.0); }, 1},
      {"rsqrt", [](const tensor_list& t) { return rsqrt(t[0] + 2.0); }, 1},
      {"reciprocal", [](const tensor_list& t) { return reciprocal(t[0] + 2.0); }, 1},
      {"sin", [](const tensor_list& t) { return sin(t[0]); }, 1},
      {"pow_scalar", [](const tensor_list& t) { return pow(t[0], 3); }, 1},
      {"mul", [](const tensor_list& t) { return mul(t[0], t[1]); }, 2},
      {"pow", [](const tensor_list& t) { return pow(t[0] + 2.0, t[1]); }, 2},
      {"atan2", [](const tensor_list& t) { return atan2(t[0], t[1]); }, 2},
      {"lerp", [](const tensor_list& t) { return lerp(t[0], t[1], sigmoid(t[1])); }, 2},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    tensor_list in = {rand_f64({2, 3}, 11)};
    if (c.arity == 2) in.push_back(rand_f64({3}, 12));
    EXPECT_TRUE(gradgrad_ok(c.f, in));
  }
}

// ---------------------------------------------------------------------------
// in-place variants

namespace {

struct InplaceCase {
  const char* name;
  std::function<void(Tensor&)> inplace;
  Unary out_of_place;
  double shift = 0;  // added to the inputs: relu_ and abs_ need both signs
};

// Inputs in [0.5, 1.5) + shift: valid for every op here.
std::vector<InplaceCase> inplace_cases() {
  return {
      {"pow_", [](Tensor& t) { pow_(t, 1.5); }, [](const Tensor& t) { return pow(t, 1.5); }},
      {"neg_", [](Tensor& t) { neg_(t); }, [](const Tensor& t) { return neg(t); }},
      {"exp_", [](Tensor& t) { exp_(t); }, [](const Tensor& t) { return exp(t); }},
      {"log_", [](Tensor& t) { log_(t); }, [](const Tensor& t) { return log(t); }},
      {"sqrt_", [](Tensor& t) { sqrt_(t); }, [](const Tensor& t) { return sqrt(t); }},
      {"abs_", [](Tensor& t) { abs_(t); }, [](const Tensor& t) { return abs(t); }, -1.0},
      {"tanh_", [](Tensor& t) { tanh_(t); }, [](const Tensor& t) { return tanh(t); }},
      {"sigmoid_", [](Tensor& t) { sigmoid_(t); }, [](const Tensor& t) { return sigmoid(t); }},
      {"relu_", [](Tensor& t) { relu_(t); }, [](const Tensor& t) { return relu(t); }, -1.0},
      {"clamp_", [](Tensor& t) { clamp_(t, 0.8, 1.2); }, [](const Tensor& t) { return clamp(t, 0.8, 1.2); }},
      {"masked_fill_", [](Tensor& t) { masked_fill_(t, tensor({true, false, true}), -2.0); },
       [](const Tensor& t) { return masked_fill(t, tensor({true, false, true}), -2.0); }},
  };
}

Tensor positive_f64(const Shape& shape, uint64_t seed) {
  NoGradGuard ng;
  return rand_f64(shape, seed, false) * 0.5 + 1.0;
}

}  // namespace

TEST(ElementwiseInplace, ValuesVersionAndNoncontiguous) {
  for (const auto& c : inplace_cases()) {
    SCOPED_TRACE(c.name);
    Tensor x = positive_f64({2, 3}, 1) + c.shift;
    Tensor expected = c.out_of_place(x);
    Tensor y = x.clone();
    const uint64_t v0 = y.version();
    c.inplace(y);
    EXPECT_EQ(y.version(), v0 + 1);
    EXPECT_TRUE(all_close(y, expected, 0, 0));
    // Through a transposed view: writes land in the base.
    Tensor base = x.clone().transpose(0, 1).contiguous();  // [3, 2]
    Tensor view = base.transpose(0, 1);                    // [2, 3], non-contiguous
    c.inplace(view);
    EXPECT_TRUE(all_close(base.transpose(0, 1), expected, 0, 0));
  }
}

TEST(ElementwiseInplace, AutogradThroughNonLeaf) {
  for (const auto& c : inplace_cases()) {
    SCOPED_TRACE(c.name);
    Fn via_inplace = [&](const tensor_list& t) {
      Tensor y = t[0] * 1.0 + (1.0 + c.shift);  // a non-leaf in [0.5, 1.5) + shift (x in [-0.5, 0.5))
      c.inplace(y);
      return y;
    };
    Tensor x = rand_f64({2, 3}, 3, false);
    {
      NoGradGuard ng;
      x = x * 0.5;
    }
    x.requires_grad_();
    EXPECT_TRUE(grad_ok(via_inplace, {x}));
    // Same gradient as the out-of-place op.
    Tensor g = positive_f64({2, 3}, 4);
    Tensor gi = autograd::grad({sum(via_inplace({x}) * g)}, {x})[0];
    Tensor go = autograd::grad({sum(c.out_of_place(x * 1.0 + (1.0 + c.shift)) * g)}, {x})[0];
    EXPECT_TRUE(all_close(gi, go, 1e-14, 1e-12));
  }
}

TEST(ElementwiseInplace, SecondOrderThroughInplace) {
  // pow_ and log_ save a differentiable clone of the old value.
  Fn f = [](const tensor_list& t) {
    Tensor y = t[0] + 2.0;
    pow_(y, 3);
    log_(y);
    tanh_(y);
    return y;
  };
  EXPECT_TRUE(gradgrad_ok(f, {rand_f64({2, 3}, 5)}));
}

TEST(ElementwiseInplace, LerpBroadcastAndGradients) {
  Tensor x = rand_f64({2, 3}, 1), b = rand_f64({3}, 2);
  Tensor expected = lerp(x.detach(), b.detach(), 0.7);
  Tensor a = x * 1.0;
  lerp_(a, b, 0.7);
  EXPECT_TRUE(all_close(a, expected, 0, 0));
  sum(a * 2.0).backward();
  EXPECT_TRUE(all_close(x.grad(), full({2, 3}, 0.6, kFloat64), 1e-15, 1e-15));  // 2 (1 - 0.7)
  EXPECT_TRUE(all_close(b.grad(), full({3}, 2.8, kFloat64), 1e-14, 1e-14));    // 2 * 0.7 * 2 rows
  EXPECT_TRUE(grad_ok(
      [](const tensor_list& t) {
        Tensor y = t[0] * 1.0;
        lerp_(y, t[1], 0.25);
        return y;
      },
      {rand_f64({2, 3}, 4), rand_f64({2, 1}, 5)}));
}

TEST(ElementwiseInplace, FillAndZero) {
  Tensor i = fx("p_i64").clone();
  fill_(i, 2.7);  // converted to the tensor's dtype, like PyTorch
  EXPECT_TRUE(all_equal(i, full({3}, 2, kInt64)));
  Tensor bl = zeros({2}, kBool);
  fill_(bl, 3);
  EXPECT_TRUE(all_equal(bl, ones({2}, kBool)));
  Tensor f = ones({2, 2}, kFloat32);
  Tensor col = f.select(1, 1);  // fill_ and zero_ work through views
  zero_(col);
  EXPECT_TRUE(all_equal(f, tensor({1.f, 0.f, 1.f, 0.f}, Shape{2, 2})));
  const uint64_t v = f.version();
  fill_(f, 5);
  EXPECT_EQ(f.version(), v + 1);
  EXPECT_TRUE(all_equal(f, full({2, 2}, 5.f, kFloat32)));

  // Under autograd: the previous value of a non-leaf gets a zero gradient.
  Tensor x = rand_f64({3}, 1);
  Tensor y = x * 2.0;
  fill_(y, 3.0);
  sum(y * x).backward();  // d/dx sum(3 x) = 3; nothing flows through the filled y
  EXPECT_TRUE(all_close(x.grad(), full({3}, 3.0, kFloat64)));
  Tensor z = x * 2.0;
  zero_(z);
  EXPECT_TRUE(all_equal(z.detach(), zeros({3}, kFloat64)));
  EXPECT_TRUE(z.requires_grad());
}

TEST(ElementwiseInplace, SavedTensorModifiedInPlaceIsDetected) {
  Tensor x = rand_f64({3}, 1);
  Tensor y = x * 1.0;
  Tensor out = tanh(y);  // saves its output
  exp_(out);
  EXPECT_WICK_ERROR(sum(out).backward(), "modified by an in-place operation");
}

TEST(ElementwiseInplace, Errors) {
  Tensor leafx = rand_f64({3}, 1);
  EXPECT_WICK_ERROR(exp_(leafx), "exp_");
  EXPECT_WICK_ERROR(relu_(leafx), "leaf");
  Tensor i = tensor({1, 2, 3}, {}, kInt64);
  EXPECT_WICK_ERROR(exp_(i), "exp_: result type float32 can't be cast to the desired output type int64");
  EXPECT_WICK_ERROR(div_(i, 2), "div_: result type float32 can't be cast to the desired output type int64");
  EXPECT_WICK_ERROR(sqrt_(i), "sqrt_");
  EXPECT_WICK_ERROR(clamp_(i, 0.5, std::nullopt), "clamp_: result type float32");
  EXPECT_WICK_ERROR(pow_(i, 0.5), "pow_");
  EXPECT_WICK_ERROR(pow_(i, -1), "pow_: integers to negative integer powers");
  Tensor bl = ones({2}, kBool);
  EXPECT_WICK_ERROR(neg_(bl), "neg_");
  EXPECT_WICK_ERROR(abs_(bl), "abs_");
  EXPECT_WICK_ERROR(clamp_(i, std::nullopt, std::nullopt), "clamp_");
  Tensor f = ones({2, 3}, kFloat64);
  EXPECT_WICK_ERROR(lerp_(f, ones({4, 2, 3}, kFloat64), 0.5), "lerp_");
  EXPECT_WICK_ERROR(masked_fill_(f, ones({3}, kInt64), 1.0), "masked_fill_: expected a bool mask");
  Tensor expanded = ones({3}, kFloat64).expand({2, 3});
  EXPECT_WICK_ERROR(fill_(expanded, 1.0), "fill_");
  EXPECT_WICK_ERROR(zero_(expanded), "zero_");
  // Integer in-place ops that keep the dtype work.
  Tensor j = tensor({-1, 2, -3}, {}, kInt64);
  abs_(j);
  pow_(j, 2);
  neg_(j);
  relu_(j);
  clamp_(j, 0, 5);
  EXPECT_TRUE(all_equal(j, zeros({3}, kInt64)));
}

// ---------------------------------------------------------------------------
// empty, 0-d and non-contiguous tensors

TEST(ElementwiseShapes, EmptyTensors) {
  Tensor e = empty({0, 3}, kFloat64);
  for (const auto& c : unary_cases()) {
    if (std::string(c.name) == "masked_fill") continue;  // its mask is [4]
    SCOPED_TRACE(c.name);
    Tensor out = c.f(e);
    EXPECT_EQ(out.sizes(), (Shape{0, 3}));
  }
  EXPECT_EQ(pow(e, ones({1}, kFloat64)).sizes(), (Shape{0, 3}));
  EXPECT_EQ(maximum(e, ones({3}, kFloat64)).sizes(), (Shape{0, 3}));
  EXPECT_EQ(atan2(ones({2, 1, 1}, kFloat64), e).sizes(), (Shape{2, 0, 3}));
  EXPECT_EQ(lt(e, 0.0).sizes(), (Shape{0, 3}));
  EXPECT_EQ(logical_or(e, e).dtype(), kBool);
  EXPECT_EQ(where(empty({0, 1}, kBool), e, 1.0).sizes(), (Shape{0, 3}));
  EXPECT_EQ(masked_fill(e, ones({3}, kBool), 1.0).sizes(), (Shape{0, 3}));
  EXPECT_EQ(lerp(e, e, e).sizes(), (Shape{0, 3}));
  EXPECT_EQ(clamp(e, zeros({3}, kFloat64), Tensor()).sizes(), (Shape{0, 3}));
  Tensor ee = e.clone();
  exp_(ee);
  fill_(ee, 1.0);
  EXPECT_EQ(ee.sizes(), (Shape{0, 3}));
  // Gradients of empty tensors are empty.
  Tensor x = empty({0, 2}, kFloat64).requires_grad_();
  sum(tanh(x)).backward();
  EXPECT_EQ(x.grad().sizes(), (Shape{0, 2}));
}

TEST(ElementwiseShapes, ZeroDim) {
  Tensor s = scalar_tensor(0.5, kFloat64);
  EXPECT_EQ(exp(s).dim(), 0);
  EXPECT_DOUBLE_EQ(exp(s).item(), std::exp(0.5));
  EXPECT_EQ(gelu(s).dim(), 0);
  EXPECT_EQ(maximum(s, ones({3}, kFloat64)).sizes(), (Shape{3}));
  EXPECT_EQ(where(scalar_tensor(true), s, 2.0).dim(), 0);
  EXPECT_DOUBLE_EQ(clamp(s, 0.0, 0.25).item(), 0.25);
  EXPECT_DOUBLE_EQ(lerp(s, scalar_tensor(1.5, kFloat64), 0.5).item(), 1.0);
  EXPECT_TRUE(all_equal(gt(scalar_tensor(1, kInt64), tensor({0.5, 1.5}, {}, kFloat64)), tensor({true, false})));
}

TEST(ElementwiseShapes, NonContiguousForward) {
  Tensor base = fx("x").clone();                  // [3, 4]
  Tensor v = base.transpose(0, 1);                // [4, 3]
  Tensor s = base.slice(1, 0, std::nullopt, 2);   // [3, 2], stride 2
  for (const auto& c : unary_cases()) {
    if (std::string(c.name) == "masked_fill") continue;
    SCOPED_TRACE(c.name);
    EXPECT_TRUE(all_close(c.f(v), c.f(v.contiguous()), 0, 0));
    EXPECT_TRUE(all_close(c.f(s), c.f(s.contiguous()), 0, 0));
  }
  Tensor b = fx("b4").slice(0, 0, 3);  // [3]
  EXPECT_TRUE(all_close(pow(abs(v), b), pow(abs(v.contiguous()), b.contiguous()), 0, 0));
  EXPECT_TRUE(all_close(minimum(v, b), minimum(v.contiguous(), b), 0, 0));
  EXPECT_TRUE(all_equal(lt(v, b), lt(v.contiguous(), b)));
  Tensor cond = gt(v, 0.0);
  EXPECT_TRUE(all_close(where(cond, v, b), where(cond.contiguous(), v.contiguous(), b), 0, 0));
  EXPECT_TRUE(all_close(lerp(v, b, v), lerp(v.contiguous(), b, v.contiguous()), 0, 0));
  EXPECT_TRUE(all_close(clamp(v, b, Tensor()), clamp(v.contiguous(), b, Tensor()), 0, 0));
}

TEST(ElementwiseShapes, LargeParallelMatchesSerialFormula) {
  // Big enough to be split across threads (and to take the vectorized paths).
  Tensor x = rand_f64({300, 257}, 9, false);
  Tensor y = sigmoid(x);
  Tensor ref = rdiv(exp(neg(x)) + 1.0, 1.0);
  EXPECT_TRUE(all_close(y, ref, 1e-15, 1e-14));
  Tensor t = x.t();  // strided
  EXPECT_TRUE(all_close(clamp(t, -0.5, 0.5), clamp(t.contiguous(), -0.5, 0.5), 0, 0));
  EXPECT_TRUE(all_close(lerp(t, t * 2.0, 0.3), lerp(t.contiguous(), t.contiguous() * 2.0, 0.3), 0, 0));
}

// ---------------------------------------------------------------------------
// error messages

TEST(ElementwiseErrors, ShapeMismatchNamesOpAndShapes) {
  Tensor a = ones({2, 3}, kFloat64), b = ones({4}, kFloat64);
  EXPECT_WICK_ERROR(pow(a, b), "pow: shapes [2,3] and [4] cannot be broadcast");
  EXPECT_WICK_ERROR(minimum(a, b), "minimum: shapes [2,3] and [4]");
  EXPECT_WICK_ERROR(maximum(a, b), "maximum: shapes [2,3] and [4]");
  EXPECT_WICK_ERROR(atan2(a, b), "atan2: shapes [2,3] and [4]");
  EXPECT_WICK_ERROR(lt(a, b), "lt: shapes [2,3] and [4]");
  EXPECT_WICK_ERROR(eq(a, b), "eq: shapes");
  EXPECT_WICK_ERROR(logical_and(a, b), "logical_and: shapes");
  EXPECT_WICK_ERROR(where(ones({2, 3}, kBool), a, b), "where: shapes [2,3] and [4]");
  EXPECT_WICK_ERROR(lerp(a, b, 0.5), "lerp: shapes [2,3] and [4]");
  EXPECT_WICK_ERROR(lerp(a, a, b), "lerp: shapes [2,3] and [4]");
  EXPECT_WICK_ERROR(clamp(a, b, Tensor()), "clamp: shapes [2,3] and [4]");
  EXPECT_WICK_ERROR(masked_fill(a, ones({2, 1, 3}, kBool), 0), "masked_fill: mask of shape [2,1,3] cannot be broadcast to "
                                                               "the input's shape [2,3]");
}

TEST(ElementwiseErrors, DtypesAndArguments) {
  Tensor bl = ones({2}, kBool), i = tensor({1, 2}, {}, kInt64), f = ones({2}, kFloat32);
  EXPECT_WICK_ERROR(neg(bl), "neg: negation of a bool tensor");
  EXPECT_WICK_ERROR(-bl, "neg");
  EXPECT_WICK_ERROR(abs(bl), "abs: not supported for bool");
  EXPECT_WICK_ERROR(relu(bl), "relu: bool");
  EXPECT_WICK_ERROR(leaky_relu(i), "leaky_relu: expected a floating-point tensor, got int64");
  EXPECT_WICK_ERROR(gelu(i), "gelu: expected a floating-point tensor");
  EXPECT_WICK_ERROR(silu(i), "silu");
  EXPECT_WICK_ERROR(softplus(i), "softplus");
  EXPECT_WICK_ERROR(softplus(f, 0.0), "softplus: beta");
  EXPECT_WICK_ERROR(gelu(f, "erf"), "gelu: approximate must be");
  EXPECT_WICK_ERROR(pow(i, -2), "pow: integers to negative integer powers are not allowed");
  EXPECT_WICK_ERROR(pow(bl, bl), "pow: not supported for two bool");
  EXPECT_WICK_ERROR(clamp(f, std::nullopt, std::nullopt), "clamp: at least one of lo and hi");
  EXPECT_WICK_ERROR(clamp(f, Tensor(), Tensor()), "clamp: at least one of lo and hi");
  EXPECT_WICK_ERROR(lerp(f, ones({2}, kFloat64), 0.5), "lerp: expected end of dtype float32");
  EXPECT_WICK_ERROR(lerp(f, f, ones({2}, kFloat64)), "lerp: expected weight of dtype float32");
  EXPECT_WICK_ERROR(lerp(i, i, 0.5), "lerp: expected a floating-point tensor");
  EXPECT_WICK_ERROR(where(i, f, f), "where: expected a bool condition, got int64");
  EXPECT_WICK_ERROR(masked_fill(f, i, 1.0), "masked_fill: expected a bool mask, got int64");
  EXPECT_WICK_ERROR(i & i, "operator&: expected bool tensors");
  EXPECT_WICK_ERROR(i | bl, "operator|");
  EXPECT_WICK_ERROR(i ^ bl, "operator^");
  EXPECT_WICK_ERROR(~i, "operator~: expected a bool tensor");
  EXPECT_WICK_ERROR(exp(Tensor()), "exp: undefined tensor");
  EXPECT_WICK_ERROR(where(bl, Tensor(), f), "where: undefined tensor");
}
